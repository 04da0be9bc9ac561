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
    /// Largest request body other than a value's (a commit's JSON, …); larger ones get 413.
    pub max_body_bytes: usize,
    /// Largest value a `PUT` may store; larger ones get 413. Values over [`SPOOL_BYTES`] go
    /// through a temporary file, so this bounds disk, not memory.
    pub max_value_bytes: u64,
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
            max_value_bytes: 4 << 30,
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
        let too_large = || too_large("the request body", max as u64);
        if declared_length(&req).is_some_and(|n| n > max as u64) {
            return Err(too_large());
        }
        match Bytes::from_request(req, state).await {
            Ok(bytes) => Ok(Body(bytes)),
            Err(rejection) if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE => Err(too_large()),
            Err(rejection) => Err(ApiError::bad_request("bad_body", rejection.body_text())),
        }
    }
}

/// 413: `what` is over `max` bytes.
fn too_large(what: &str, max: u64) -> ApiError {
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        "too_large",
        format!("{what} is larger than {max} bytes"),
    )
}

/// The body's length as its `Content-Length` declares it, if it does.
fn declared_length(req: &Request) -> Option<u64> {
    req.headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
}

/// Values up to this size are received in memory; larger ones are spooled to a temporary file
/// as they arrive, then streamed into the store, so a server's memory does not grow with them.
pub const SPOOL_BYTES: usize = 8 << 20;

/// A value's bytes as a `PUT` sends them: in memory up to [`SPOOL_BYTES`], else in a temporary
/// file beside the store (deleted when dropped). Refused with 413 over
/// [`Limits::max_value_bytes`], by its declared length before anything is read, else while
/// reading.
pub enum ValueBody {
    Bytes(Vec<u8>),
    File(std::fs::File, u64),
}

impl FromRequest<AppState> for ValueBody {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &AppState) -> Result<ValueBody, ApiError> {
        use futures_util::StreamExt;
        let max = state.limits().max_value_bytes;
        let too_large = || too_large("the value", max);
        let declared = declared_length(&req);
        if declared.is_some_and(|n| n > max) {
            return Err(too_large());
        }
        let dir = state
            .repo()
            .layout()
            .map_or_else(std::env::temp_dir, |l| l.git_dir.clone());
        let mut chunks = req.into_body().into_data_stream();
        let mut held = Vec::with_capacity(declared.map_or(0, |n| n.min(SPOOL_BYTES as u64 + 1) as usize));
        let mut spool: Option<(std::fs::File, u64)> = None;
        while let Some(chunk) = chunks.next().await {
            let chunk =
                chunk.map_err(|e| ApiError::bad_request("bad_body", format!("cannot read the body: {e}")))?;
            let total = spool.as_ref().map_or(0, |(_, n)| *n) + (held.len() + chunk.len()) as u64;
            if total > max {
                return Err(too_large());
            }
            held.extend_from_slice(&chunk);
            // Once spooling, in pieces of 1 MiB.
            if held.len() >= SPOOL_BYTES || (spool.is_some() && held.len() >= 1 << 20) {
                // Write what is held to the file, off the async threads.
                let taken = std::mem::take(&mut held);
                let dir = dir.clone();
                let previous = spool.take();
                let written =
                    tokio::task::spawn_blocking(move || -> std::io::Result<(std::fs::File, u64)> {
                        use std::io::Write;
                        let (mut file, n) = match previous {
                            Some(p) => p,
                            None => (tempfile::tempfile_in(&dir)?, 0),
                        };
                        file.write_all(&taken)?;
                        Ok((file, n + taken.len() as u64))
                    })
                    .await
                    .map_err(|e| ApiError::internal(e.to_string()))?
                    .map_err(|e| ApiError::internal(format!("cannot spool the value: {e}")))?;
                spool = Some(written);
            }
        }
        match spool {
            None => Ok(ValueBody::Bytes(held)),
            Some((file, n)) => {
                let size = n + held.len() as u64;
                let file = tokio::task::spawn_blocking(move || -> std::io::Result<std::fs::File> {
                    use std::io::{Seek, Write};
                    let mut file = file;
                    file.write_all(&held)?;
                    file.rewind()?;
                    Ok(file)
                })
                .await
                .map_err(|e| ApiError::internal(e.to_string()))?
                .map_err(|e| ApiError::internal(format!("cannot spool the value: {e}")))?;
                Ok(ValueBody::File(file, size))
            }
        }
    }
}
