//! What can go wrong: the server's answers (`{"error": {"code", "message"}}` with a status),
//! typed for the ones a program reacts to, and failures to reach or understand the server.

/// A path the server could not merge (in a 409 `conflict` answer), and why.
pub use canopy_wire::api::Conflict;

/// An error from [`Client`](crate::Client).
///
/// Server answers carry the server's stable `code` (`no_such_path`, `no_such_branch`,
/// `bad_path`, `conflict`, …) and its one-line `message`; [`Error::status`] gives the HTTP
/// status. The statuses a program usually handles have variants of their own.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// 404: no such branch, path, commit or endpoint.
    #[error("{message}")]
    NotFound { code: String, message: String },
    /// 409: a merge conflict (`conflicts` lists the paths), or another conflict with the
    /// store's state (`branch_exists`, `not_a_value`, `parent_not_in_history`, …; `conflicts`
    /// is then empty).
    #[error("{message}")]
    Conflict {
        code: String,
        message: String,
        conflicts: Vec<Conflict>,
    },
    /// 412: the branch moved away from the `If-Match` commit (or a create-only write found a
    /// value). Nothing was written.
    #[error("{message}")]
    PreconditionFailed { code: String, message: String },
    /// 401: a token is required, or the one given is not valid.
    #[error("{message}")]
    Unauthorized { message: String },
    /// 403: the token may not read or write this branch.
    #[error("{message}")]
    Forbidden { message: String },
    /// 400 from the server (`bad_path`, `bad_rev`, `bad_json`, …), or a path or argument the
    /// client refused before sending anything (code `bad_path`, status 400).
    #[error("{message}")]
    BadRequest { code: String, message: String },
    /// Any other error answer (413 too large, 503 busy, 500, …).
    #[error("{message} ({status} {code})")]
    Api {
        status: u16,
        code: String,
        message: String,
    },
    /// The server could not be reached, or the connection failed.
    #[error("cannot reach {url}: {message}")]
    Transport { url: String, message: String },
    /// The server answered something this client does not understand.
    #[error("unexpected answer from {url}: {message}")]
    InvalidResponse { url: String, message: String },
}

impl Error {
    /// The HTTP status of a server answer (400 for a request refused client-side); `None` for
    /// transport failures and unreadable answers.
    pub fn status(&self) -> Option<u16> {
        Some(match self {
            Error::NotFound { .. } => 404,
            Error::Conflict { .. } => 409,
            Error::PreconditionFailed { .. } => 412,
            Error::Unauthorized { .. } => 401,
            Error::Forbidden { .. } => 403,
            Error::BadRequest { .. } => 400,
            Error::Api { status, .. } => *status,
            Error::Transport { .. } | Error::InvalidResponse { .. } => return None,
        })
    }

    /// The server's error code (`no_such_path`, `bad_path`, `conflict`, …).
    pub fn code(&self) -> Option<&str> {
        match self {
            Error::NotFound { code, .. }
            | Error::Conflict { code, .. }
            | Error::PreconditionFailed { code, .. }
            | Error::BadRequest { code, .. }
            | Error::Api { code, .. } => Some(code),
            Error::Unauthorized { .. } => Some("unauthorized"),
            Error::Forbidden { .. } => Some("forbidden"),
            Error::Transport { .. } | Error::InvalidResponse { .. } => None,
        }
    }

    /// The human-readable message.
    pub fn message(&self) -> String {
        match self {
            Error::NotFound { message, .. }
            | Error::Conflict { message, .. }
            | Error::PreconditionFailed { message, .. }
            | Error::BadRequest { message, .. }
            | Error::Api { message, .. }
            | Error::Unauthorized { message }
            | Error::Forbidden { message } => message.clone(),
            other => other.to_string(),
        }
    }

    /// Builds the error for an answer with `status` and JSON `body` (the standard error
    /// shape; anything else is described by the status alone).
    pub(crate) fn from_answer(status: u16, body: &[u8]) -> Error {
        let (code, message, conflicts) = match serde_json::from_slice::<canopy_wire::api::ErrorBody>(body) {
            Ok(b) => (b.error.code, b.error.message, b.conflicts),
            Err(_) => {
                let text = String::from_utf8_lossy(body);
                let text = text.trim();
                let message = if text.is_empty() || text.len() > 500 {
                    format!("the server answered {status}")
                } else {
                    format!("the server answered {status}: {text}")
                };
                (format!("http_{status}"), message, Vec::new())
            }
        };
        match status {
            400 => Error::BadRequest { code, message },
            401 => Error::Unauthorized { message },
            403 => Error::Forbidden { message },
            404 => Error::NotFound { code, message },
            409 => Error::Conflict {
                code,
                message,
                conflicts,
            },
            412 => Error::PreconditionFailed { code, message },
            _ => Error::Api {
                status,
                code,
                message,
            },
        }
    }
}

impl From<canopy::path::PathError> for Error {
    fn from(e: canopy::path::PathError) -> Error {
        Error::BadRequest {
            code: "bad_path".into(),
            message: e.to_string(),
        }
    }
}

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
