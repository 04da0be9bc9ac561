//! Request limits, and the middleware and body extractor that enforce them.

use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{FromRequest, Request, State};
use axum::http::{header, StatusCode};
use axum::middleware::Next;
use axum::response::Response;

use crate::error::ApiError;
use crate::AppState;

/// Bounds on what clients may ask of the server. The defaults suit a server shared by a few
/// hundred clients on a small machine.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Largest request body (a value, a commit's JSON); larger ones get 413.
    pub max_body_bytes: usize,
    /// Time a client has to send a request's headers before the connection is closed.
    pub header_read_timeout: Duration,
    /// Time a request (reading its body included) may take before it is answered 408.
    pub request_timeout: Duration,
    /// Requests handled at once; more get 503 with `Retry-After`.
    pub max_concurrent_requests: usize,
    /// Open connections; more wait to be accepted.
    pub max_connections: usize,
    /// Open watch streams; more get 503.
    pub max_watch_connections: usize,
    /// How often a watched branch's head is read to notice writes by other processes (writes
    /// through this server are seen at once).
    pub watch_poll_interval: Duration,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            max_body_bytes: 16 << 20,
            header_read_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(60),
            max_concurrent_requests: 512,
            max_connections: 2048,
            max_watch_connections: 256,
            watch_poll_interval: Duration::from_millis(100),
        }
    }
}

/// Takes a request slot (503 if none is free) and bounds the request's time (408).
pub async fn limit_requests(State(state): State<AppState>, request: Request, next: Next) -> Response {
    use axum::response::IntoResponse;
    let Ok(_permit) = state.request_slots().clone().try_acquire_owned() else {
        return ApiError::unavailable(
            "busy",
            format!(
                "the server is handling {} requests already; retry shortly",
                state.limits().max_concurrent_requests
            ),
        )
        .into_response();
    };
    match tokio::time::timeout(state.limits().request_timeout, next.run(request)).await {
        Ok(response) => response,
        Err(_) => ApiError::new(
            StatusCode::REQUEST_TIMEOUT,
            "timeout",
            format!(
                "the request took longer than {:?}",
                state.limits().request_timeout
            ),
        )
        .into_response(),
    }
}

/// A request body, refused with 413 when over [`Limits::max_body_bytes`] (by its declared
/// length before reading anything, else while reading).
pub struct Body(pub Bytes);

impl FromRequest<AppState> for Body {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &AppState) -> Result<Body, ApiError> {
        let max = state.limits().max_body_bytes;
        let too_large = || {
            ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "too_large",
                format!("the request body is larger than {max} bytes"),
            )
        };
        let declared = req
            .headers()
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        if declared.is_some_and(|n| n > max as u64) {
            return Err(too_large());
        }
        match Bytes::from_request(req, state).await {
            Ok(bytes) => Ok(Body(bytes)),
            Err(rejection) if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE => Err(too_large()),
            Err(rejection) => Err(ApiError::bad_request("bad_body", rejection.body_text())),
        }
    }
}
