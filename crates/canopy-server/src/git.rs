//! Git's smart HTTP under `/git` (issue 7): `GET /git/info/refs?service=…`,
//! `POST /git/git-upload-pack`, `POST /git/git-receive-pack`, so that `git clone
//! http://HOST/git`, `git fetch` and `git push` work against `canopy serve`.
//!
//! The protocol lives in the library ([`canopy::sync::http`], sans-IO); this module only moves
//! bytes. Request bodies are streamed to the library on the blocking pool (chunked and gzip
//! bodies included: hyper removes the chunking, the library inflates gzip with a bound), and a
//! clone's pack is streamed back as it is written. These routes are outside the REST request
//! limits (a clone or a push may legitimately take minutes and exceed the REST body limit);
//! the pack size limit of receive-pack (`receive.maxInputSize`, default 8 GiB) applies instead.
//!
//! Access: callers authenticate with Basic credentials (the token as password; a 401 makes git
//! ask). Fetching needs read rights on every branch (the protocol lets a client ask for any
//! object a reference reaches; objects no reference reaches are never served); a push needs write rights on each branch it updates, other references need write
//! rights on every branch, and refused references get `ng <ref> permission denied`. Watchers
//! of a pushed branch are notified.

use std::io::{self, Read, Write};
use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::{Query, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use canopy::sync::http::{self as git_http, RequestHeaders};
use canopy::sync::receive::Policy;
use futures_util::StreamExt;

use crate::auth::{Access, Challenge, Identity};
use crate::error::ApiError;
use crate::AppState;

pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/git/info/refs", get(info_refs))
        .route("/git/git-upload-pack", post(upload_pack))
        .route("/git/git-receive-pack", post(receive_pack))
}

#[derive(serde::Deserialize)]
pub(crate) struct ServiceQuery {
    service: Option<String>,
}

fn request_headers(headers: &HeaderMap) -> RequestHeaders {
    let get = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    RequestHeaders {
        content_type: get("content-type"),
        content_encoding: get("content-encoding"),
        git_protocol: get("git-protocol"),
    }
}

/// Who may do what: fetching needs every branch readable.
fn authorize(state: &AppState, headers: &HeaderMap, service: &str) -> Result<Identity, ApiError> {
    let who = state.auth().authenticate(headers, Challenge::Basic)?;
    if service == "git-upload-pack" && !who.reads_everything() {
        return Err(ApiError::forbidden(format!(
            "token '{}' may not fetch: Git access needs read rights on every branch",
            who.name()
        )));
    }
    Ok(who)
}

async fn info_refs(
    State(state): State<AppState>,
    Query(q): Query<ServiceQuery>,
    headers: HeaderMap,
) -> Response {
    let service = q.service.unwrap_or_default();
    if let Err(e) = authorize(&state, &headers, &service) {
        return e.into_response();
    }
    let protocol = request_headers(&headers).git_protocol;
    let repo = state.repo().clone();
    let result = tokio::task::spawn_blocking(move || {
        let service = (!service.is_empty()).then_some(service);
        git_http::info_refs(&repo, service.as_deref(), protocol.as_deref())
    })
    .await;
    match result {
        Ok(r) => into_response(r),
        Err(e) => ApiError::from(e).into_response(),
    }
}

async fn upload_pack(State(state): State<AppState>, headers: HeaderMap, request: Request) -> Response {
    if let Err(e) = authorize(&state, &headers, "git-upload-pack") {
        return e.into_response();
    }
    let repo = state.repo().clone();
    let hdrs = request_headers(&headers);
    let reader = body_reader(request.into_body());
    let result = tokio::task::spawn_blocking(move || {
        let mut reader = reader;
        git_http::upload_pack(&repo, &mut reader, &hdrs)
    })
    .await;
    match result {
        Ok(r) => into_response(r),
        Err(e) => ApiError::from(e).into_response(),
    }
}

async fn receive_pack(State(state): State<AppState>, headers: HeaderMap, request: Request) -> Response {
    let who = match authorize(&state, &headers, "git-receive-pack") {
        Ok(w) => w,
        Err(e) => return e.into_response(),
    };
    let repo = state.repo().clone();
    let hdrs = request_headers(&headers);
    let reader = body_reader(request.into_body());
    let mut policy = Policy::from_repo(&repo);
    let who = Arc::new(who);
    policy.check_ref = Some(Arc::new(move |name: &str| {
        let allowed = match name.strip_prefix("refs/heads/") {
            Some(branch) => who.can(branch, Access::Write),
            None => who.can("*", Access::Write) && who.reads_everything(),
        };
        (!allowed).then(|| "permission denied".to_string())
    }));
    let result = tokio::task::spawn_blocking(move || {
        let mut reader = reader;
        git_http::receive_pack_with(&repo, &mut reader, &hdrs, &policy)
    })
    .await;
    match result {
        Ok((r, moved)) => {
            for name in moved {
                if let Some(branch) = name.strip_prefix("refs/heads/") {
                    state.notify(branch);
                }
            }
            into_response(r)
        }
        Err(e) => ApiError::from(e).into_response(),
    }
}

/// The request body as a blocking reader, fed by a task that pulls it from hyper.
fn body_reader(body: Body) -> ChannelReader {
    let (tx, rx) = tokio::sync::mpsc::channel::<io::Result<Bytes>>(8);
    tokio::spawn(async move {
        let mut stream = body.into_data_stream();
        while let Some(chunk) = stream.next().await {
            let item = chunk.map_err(io::Error::other);
            let failed = item.is_err();
            if tx.send(item).await.is_err() || failed {
                break;
            }
        }
    });
    ChannelReader {
        rx,
        current: Bytes::new(),
    }
}

struct ChannelReader {
    rx: tokio::sync::mpsc::Receiver<io::Result<Bytes>>,
    current: Bytes,
}

impl Read for ChannelReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.current.is_empty() {
            match self.rx.blocking_recv() {
                Some(Ok(b)) => self.current = b,
                Some(Err(e)) => return Err(e),
                None => return Ok(0),
            }
        }
        let n = buf.len().min(self.current.len());
        buf[..n].copy_from_slice(&self.current[..n]);
        self.current = self.current.slice(n..);
        Ok(n)
    }
}

/// Writes into a channel that becomes the response body.
struct ChannelWriter {
    tx: tokio::sync::mpsc::Sender<io::Result<Bytes>>,
    buf: Vec<u8>,
}

impl Write for ChannelWriter {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.buf.extend_from_slice(data);
        if self.buf.len() >= 64 << 10 {
            self.flush()?;
        }
        Ok(data.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let chunk = Bytes::from(std::mem::take(&mut self.buf));
        self.tx
            .blocking_send(Ok(chunk))
            .map_err(|_| io::Error::new(io::ErrorKind::BrokenPipe, "client went away"))
    }
}

fn into_response(r: git_http::Response) -> Response {
    let status = StatusCode::from_u16(r.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let body =
        match r.body {
            git_http::Body::Bytes(b) => Body::from(b),
            git_http::Body::Stream(write) => {
                let (tx, rx) = tokio::sync::mpsc::channel::<io::Result<Bytes>>(8);
                tokio::task::spawn_blocking(move || {
                    let mut w = ChannelWriter {
                        tx: tx.clone(),
                        buf: Vec::new(),
                    };
                    let result = write(&mut w).and_then(|_| w.flush());
                    if let Err(e) = result {
                        if e.kind() != io::ErrorKind::BrokenPipe {
                            tracing::warn!("git response stream failed: {e}");
                            let _ = tx.blocking_send(Err(e));
                        }
                    }
                });
                let stream = futures_util::stream::unfold(rx, |mut rx| async move {
                    rx.recv().await.map(|item| (item, rx))
                });
                Body::from_stream(stream)
            }
        };
    let mut response = Response::new(body);
    *response.status_mut() = status;
    let headers = response.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&r.content_type) {
        headers.insert(header::CONTENT_TYPE, v);
    }
    for (k, v) in r.headers {
        if let (Ok(k), Ok(v)) = (
            header::HeaderName::from_bytes(k.as_bytes()),
            HeaderValue::from_str(&v),
        ) {
            headers.insert(k, v);
        }
    }
    response
}
