//! The one error shape every endpoint answers with: `{"error": {"code", "message"}}` and the
//! HTTP status that tells a client what to do (400 fix the request, 401/403 credentials, 404
//! nothing there, 409 conflict, 412 precondition, 413 too large, 503 try again later).

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use canopy::merge::tree::PathConflict;
use canopy::store::Error as StoreError;
use canopy_wire::api::{Conflict, ErrorBody, ErrorDetail};

/// An error answer. Build one with the constructors; it renders as JSON.
#[derive(Debug, Clone)]
pub struct ApiError {
    pub status: StatusCode,
    /// A stable, machine-readable code (`bad_path`, `no_such_branch`, `conflict`, …).
    pub code: &'static str,
    pub message: String,
    /// Paths that could not be merged (409 `conflict` only).
    pub conflicts: Vec<PathConflict>,
    /// `WWW-Authenticate` challenge for 401 answers.
    pub challenge: Option<&'static str>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            code,
            message: message.into(),
            conflicts: Vec::new(),
            challenge: None,
        }
    }

    pub fn bad_request(code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, code, message)
    }

    pub fn not_found(code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, code, message)
    }

    pub fn unauthorized(message: impl Into<String>, challenge: &'static str) -> ApiError {
        ApiError {
            challenge: Some(challenge),
            ..ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized", message)
        }
    }

    pub fn forbidden(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::FORBIDDEN, "forbidden", message)
    }

    pub fn precondition_failed(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::PRECONDITION_FAILED, "precondition_failed", message)
    }

    pub fn conflicts(branch: &str, conflicts: Vec<PathConflict>) -> ApiError {
        let paths: Vec<&str> = conflicts.iter().map(|c| c.path.as_str()).collect();
        let message = format!("merge conflict on branch '{branch}': {}", paths.join(", "));
        ApiError {
            conflicts,
            ..ApiError::new(StatusCode::CONFLICT, "conflict", message)
        }
    }

    pub fn unavailable(code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::SERVICE_UNAVAILABLE, code, message)
    }

    /// An unexpected failure. Its message (which may name files of the server) goes to the
    /// server's log under an incident number; the caller sees only that number.
    pub fn internal(message: impl Into<String>) -> ApiError {
        static INCIDENTS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
        let incident = INCIDENTS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        tracing::error!(incident, "internal error: {}", message.into());
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            format!("internal error; the server logged it as incident {incident}"),
        )
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}: {}", self.status.as_u16(), self.code, self.message)
    }
}

impl std::error::Error for ApiError {}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if self.status.is_server_error() {
            tracing::warn!(
                status = self.status.as_u16(),
                code = self.code,
                "{}",
                self.message
            );
        }
        let body = ErrorBody {
            error: ErrorDetail {
                code: self.code.to_string(),
                message: self.message,
            },
            conflicts: self.conflicts.iter().map(Conflict::from).collect(),
        };
        let mut response = (self.status, axum::Json(body)).into_response();
        if let Some(challenge) = self.challenge {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static(challenge));
        }
        if self.status == StatusCode::SERVICE_UNAVAILABLE {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        }
        response
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> ApiError {
        use canopy::backend::Error as BackendError;
        let message = e.to_string();
        match e {
            StoreError::Path(_) => ApiError::bad_request("bad_path", message),
            StoreError::InvalidRev { .. } | StoreError::NotACommit(_) => {
                ApiError::bad_request("bad_rev", message)
            }
            StoreError::InvalidBranchName(_) => ApiError::bad_request("bad_branch_name", message),
            StoreError::InvalidIdentity(_) => ApiError::bad_request("bad_identity", message),
            StoreError::InvalidDate(_) => ApiError::bad_request("bad_date", message),
            // What is stored is not of the type asked for: the state, not the request, is at odds.
            StoreError::Decode { .. } => ApiError::new(StatusCode::CONFLICT, "wrong_type", message),
            StoreError::Encode { .. } => ApiError::bad_request("bad_value", message),
            StoreError::InvalidValue {
                type_name: "structure path",
                ..
            } => ApiError::bad_request("bad_path", message),
            StoreError::InvalidValue { .. } => ApiError::new(StatusCode::CONFLICT, "wrong_type", message),
            // A range outside the structure as it is now.
            StoreError::OutOfRange { .. } => ApiError::new(StatusCode::CONFLICT, "out_of_range", message),
            StoreError::NoSuchBranch(_) => ApiError::not_found("no_such_branch", message),
            StoreError::BranchExists(_) => ApiError::new(StatusCode::CONFLICT, "branch_exists", message),
            StoreError::NotAValue { .. } | StoreError::Submodule { .. } => {
                ApiError::new(StatusCode::CONFLICT, "not_a_value", message)
            }
            StoreError::NotADirectory { .. }
            | StoreError::Tree(canopy::tree::Error::NotADirectory { .. }) => {
                ApiError::new(StatusCode::CONFLICT, "not_a_directory", message)
            }
            StoreError::ExpectationFailed { .. } => ApiError::precondition_failed(message),
            StoreError::Conflicts { branch, conflicts } => ApiError::conflicts(&branch, conflicts),
            StoreError::TooManyRetries { .. } => ApiError::unavailable("contention", message),
            // Said without the lock file's path, which is the server's business.
            StoreError::Backend(BackendError::Locked { name, holder, .. }) => ApiError::unavailable(
                "locked",
                format!("'{name}' is locked by another writer ({holder}); retry"),
            ),
            StoreError::Backend(BackendError::NameConflict { .. }) => {
                ApiError::new(StatusCode::CONFLICT, "name_conflict", message)
            }
            StoreError::Backend(BackendError::InvalidRefName(_)) => {
                ApiError::bad_request("bad_branch_name", message)
            }
            _ => ApiError::internal(message),
        }
    }
}

impl From<canopy::tree::Error> for ApiError {
    fn from(e: canopy::tree::Error) -> ApiError {
        StoreError::from(e).into()
    }
}

impl From<canopy::backend::Error> for ApiError {
    fn from(e: canopy::backend::Error) -> ApiError {
        StoreError::from(e).into()
    }
}

impl From<canopy::path::PathError> for ApiError {
    fn from(e: canopy::path::PathError) -> ApiError {
        ApiError::bad_request("bad_path", e.to_string())
    }
}

impl From<tokio::task::JoinError> for ApiError {
    fn from(e: tokio::task::JoinError) -> ApiError {
        ApiError::internal(format!("request handler failed: {e}"))
    }
}

/// Runs blocking library code on the blocking pool.
pub async fn blocking<T, F>(f: F) -> Result<T, ApiError>
where
    F: FnOnce() -> Result<T, ApiError> + Send + 'static,
    T: Send + 'static,
{
    tokio::task::spawn_blocking(f).await?
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn internal_errors_do_not_show_their_details() {
        let io = StoreError::Backend(canopy::backend::Error::Io {
            path: "/srv/secret-store/objects/pack/x.pack".into(),
            source: std::io::Error::other("disk on fire"),
        });
        let e = ApiError::from(io);
        assert_eq!(
            (e.status, e.code),
            (StatusCode::INTERNAL_SERVER_ERROR, "internal")
        );
        assert!(
            !e.message.contains("secret-store") && !e.message.contains("fire"),
            "{}",
            e.message
        );
        assert!(e.message.contains("incident"), "{}", e.message);
    }
}
