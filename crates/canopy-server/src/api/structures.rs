//! The ready-made structures of `canopy::data` over HTTP, each operation one transaction on the
//! branch (queued behind this server's other writes to it): counters, queues (a pop hands each
//! item to exactly one client), logs and ropes.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use canopy::data::{Counter, Log, LogCursor, Queue, Rope};
use canopy::store::CommitOptions;
use canopy::{Path, Repo};
use canopy_wire::api::{
    CounterAdd, CounterAdded, CounterValue, DoubleDelivery, ErrorBody, ItemRequest, LogAppended, LogPage,
    PopRequest, Queue as QueueAnswer, QueueItem, QueueKey, RopeCreated, SpliceRequest, Spliced,
};
#[allow(unused_imports)] // named by the OpenAPI annotations
use canopy_wire::grammar::{BranchName, LogCursor as Cursor, PathName};
use serde::Deserialize;
use serde_json::Value;

use super::{ok_json, open_branch, parse_author, Caller, Json, Params, Query, Writer};
use crate::auth::Access;
use crate::error::{blocking, ApiError};
use crate::AppState;

#[derive(Deserialize)]
pub(crate) struct BranchPath {
    branch: String,
    path: String,
}

fn structure_path(path: &str) -> Result<Path, ApiError> {
    let path = Path::parse(path)?;
    if path.is_root() {
        return Err(ApiError::bad_request(
            "bad_path",
            "a structure needs a path below the root",
        ));
    }
    Ok(path)
}

/// The message and author a request gives (none: the structure's default message and the
/// store's identity).
fn commit_options(
    repo: &Repo,
    message: Option<String>,
    author: Option<&str>,
) -> Result<CommitOptions, ApiError> {
    let mut opts = CommitOptions::message(message.unwrap_or_default());
    if let Some(a) = author {
        opts.author = Some(parse_author(repo, a)?);
    }
    Ok(opts)
}

/// `GET /branches/{b}/counters/{path}`: `{"value"}` (0 when absent).
#[utoipa::path(get, path = "/api/v1/branches/{branch}/counters/{path}", operation_id = "getCounter", tag = "structures",
    summary = "A counter's value (0 when absent)",
    params(("branch" = BranchName, Path), ("path" = PathName, Path)),
    responses((status = 200, description = "The value", body = CounterValue),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 503, body = ErrorBody)))]
pub(crate) async fn get_counter(
    State(state): State<AppState>,
    Caller(who): Caller,
    Params(p): Params<BranchPath>,
) -> Result<Response, ApiError> {
    let body = read_op(&state, who, p, |branch, path| {
        Ok(CounterValue {
            value: Counter::open(branch, path).get()?,
        })
    })
    .await?;
    Ok(ok_json(StatusCode::OK, body))
}

/// `POST /branches/{b}/counters/{path}` with `{"add": N}`: one commit; `{"value", "commit"}`.
#[utoipa::path(post, path = "/api/v1/branches/{branch}/counters/{path}", operation_id = "addToCounter", tag = "structures",
    summary = "Add to a counter in one commit; concurrent additions anywhere all count when merged",
    params(("branch" = BranchName, Path), ("path" = PathName, Path)),
    request_body = CounterAdd,
    responses((status = 200, description = "The value in the new commit", body = CounterAdded),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 413, body = ErrorBody), (status = 415, body = ErrorBody), (status = 503, body = ErrorBody)))]
pub(crate) async fn add_counter(
    State(state): State<AppState>,
    Writer(who): Writer,
    Params(p): Params<BranchPath>,
    Json(req): Json<CounterAdd>,
) -> Result<Response, ApiError> {
    write_op(
        state,
        who,
        p,
        req.message,
        req.author,
        move |branch, path, opts| {
            let counted = Counter::open(branch, path).with_commit(opts).add(req.add)?;
            Ok(CounterAdded {
                value: counted.value,
                commit: counted.commit.to_hex(),
            })
        },
    )
    .await
}

/// Runs `op` on the branch (for writing) and the structure's path, with the commit options the
/// request gives; queued behind this server's other writes to the branch, and waking its
/// watchers after.
async fn write_op<T: serde::Serialize + Send + 'static>(
    state: AppState,
    who: crate::auth::Identity,
    p: BranchPath,
    message: Option<String>,
    author: Option<String>,
    op: impl FnOnce(canopy::Branch, Path, CommitOptions) -> Result<T, ApiError> + Send + 'static,
) -> Result<Response, ApiError> {
    let repo = state.repo().clone();
    let _writing = state.lock_branch(&p.branch).await;
    let name = p.branch.clone();
    let body = blocking(move || {
        let branch = open_branch(&repo, &who, &p.branch, Access::Write)?;
        let opts = commit_options(&repo, message, author.as_deref())?;
        op(branch, structure_path(&p.path)?, opts)
    })
    .await?;
    state.notify(&name);
    Ok(ok_json(StatusCode::OK, body))
}

/// Runs `op` on the branch (for reading) and the structure's path.
async fn read_op<T: Send + 'static>(
    state: &AppState,
    who: crate::auth::Identity,
    p: BranchPath,
    op: impl FnOnce(canopy::Branch, Path) -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    let repo = state.repo().clone();
    blocking(move || {
        let branch = open_branch(&repo, &who, &p.branch, Access::Read)?;
        op(branch, structure_path(&p.path)?)
    })
    .await
}

/// `GET /branches/{b}/queues/{path}`: `{"items": [{key, value}], "double_deliveries": […]}`.
#[utoipa::path(get, path = "/api/v1/branches/{branch}/queues/{path}", operation_id = "listQueue", tag = "structures",
    summary = "A queue's items in order, and the items replicas delivered twice",
    params(("branch" = BranchName, Path), ("path" = PathName, Path)),
    responses((status = 200, description = "The queue", body = QueueAnswer),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 503, body = ErrorBody)))]
pub(crate) async fn list_queue(
    State(state): State<AppState>,
    Caller(who): Caller,
    Params(p): Params<BranchPath>,
) -> Result<Response, ApiError> {
    let body = read_op(&state, who, p, |branch, path| {
        let q = Queue::<Value>::open(branch, path);
        let double_deliveries = q
            .double_deliveries()?
            .into_iter()
            .map(DoubleDelivery::from)
            .collect();
        let items = q.items()?.into_iter().map(QueueItem::from).collect();
        Ok(QueueAnswer {
            items,
            double_deliveries,
        })
    })
    .await?;
    Ok(ok_json(StatusCode::OK, body))
}

/// `POST /branches/{b}/queues/{path}` with `{"item"}`: `{"key"}`.
#[utoipa::path(post, path = "/api/v1/branches/{branch}/queues/{path}", operation_id = "pushQueue", tag = "structures",
    summary = "Append an item, in one commit",
    params(("branch" = BranchName, Path), ("path" = PathName, Path)),
    request_body = ItemRequest,
    responses((status = 200, description = "The item's key", body = QueueKey),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 413, body = ErrorBody), (status = 415, body = ErrorBody), (status = 503, body = ErrorBody)))]
pub(crate) async fn push_queue(
    State(state): State<AppState>,
    Writer(who): Writer,
    Params(p): Params<BranchPath>,
    Json(req): Json<ItemRequest>,
) -> Result<Response, ApiError> {
    write_op(
        state,
        who,
        p,
        req.message,
        req.author,
        move |branch, path, opts| {
            let key = Queue::<Value>::open(branch, path)
                .with_commit(opts)
                .push(&req.item)?;
            Ok(QueueKey { key })
        },
    )
    .await
}

/// `POST /branches/{b}/pop/{path}`: the first item, taken in one commit (`{"key", "value"}`),
/// or 404 `queue_empty`. Every item goes to exactly one caller.
#[utoipa::path(post, path = "/api/v1/branches/{branch}/pop/{path}", operation_id = "popQueue", tag = "structures",
    summary = "Take the first item of a queue, in one commit; each item goes to exactly one caller (404 queue_empty)",
    params(("branch" = BranchName, Path), ("path" = PathName, Path)),
    request_body(content = Option<PopRequest>, description = "May be empty or null"),
    responses((status = 200, description = "The item taken", body = QueueItem),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 413, body = ErrorBody), (status = 415, body = ErrorBody), (status = 503, body = ErrorBody)))]
pub(crate) async fn pop_queue(
    State(state): State<AppState>,
    Writer(who): Writer,
    Params(p): Params<BranchPath>,
    headers: axum::http::HeaderMap,
    body: crate::limits::Body,
) -> Result<Response, ApiError> {
    let req: PopRequest = if body.0.iter().all(u8::is_ascii_whitespace) || body.0.trim_ascii() == b"null" {
        PopRequest::default()
    } else {
        super::require_json(&headers)?;
        super::json_object(&body.0)?
    };
    write_op(
        state,
        who,
        p,
        req.message,
        req.author,
        move |branch, path, opts| {
            let empty = format!("queue '{path}' is empty");
            match Queue::<Value>::open(branch, path).with_commit(opts).pop_item()? {
                Some(item) => Ok(QueueItem::from(item)),
                None => Err(ApiError::not_found("queue_empty", empty)),
            }
        },
    )
    .await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct PageQuery {
    limit: Option<usize>,
    before: Option<String>,
}

/// `GET /branches/{b}/logs/{path}?limit=N&before=CURSOR`: entries newest first and the cursor
/// of the next page (`null` at the oldest).
#[utoipa::path(get, path = "/api/v1/branches/{branch}/logs/{path}", operation_id = "readLog", tag = "structures",
    summary = "A page of a log, newest first",
    params(("branch" = BranchName, Path), ("path" = PathName, Path),
        ("limit" = Option<canopy_wire::grammar::Limit>, Query),
        ("before" = Option<Cursor>, Query, description = "Only entries older than this cursor")),
    responses((status = 200, description = "Entries", body = LogPage),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 503, body = ErrorBody)))]
pub(crate) async fn read_log(
    State(state): State<AppState>,
    Caller(who): Caller,
    Params(p): Params<BranchPath>,
    Query(q): Query<PageQuery>,
) -> Result<Response, ApiError> {
    let body = read_op(&state, who, p, move |branch, path| {
        let before =
            match &q.before {
                Some(c) => Some(LogCursor::parse(c).ok_or_else(|| {
                    ApiError::bad_request("bad_query", format!("'{c}' is not a log cursor"))
                })?),
                None => None,
            };
        let limit = super::page_size(q.limit)?;
        let log = Log::<Value>::open(branch, path);
        let (entries, next) = log.page(before.as_ref(), limit)?;
        Ok(LogPage {
            entries: entries
                .into_iter()
                .map(canopy_wire::api::LogEntry::from)
                .collect(),
            next: next.map(|c| c.as_str().to_string()),
        })
    })
    .await?;
    Ok(ok_json(StatusCode::OK, body))
}

/// `POST /branches/{b}/logs/{path}` with `{"item"}`: `{"cursor"}`.
#[utoipa::path(post, path = "/api/v1/branches/{branch}/logs/{path}", operation_id = "appendLog", tag = "structures",
    summary = "Append an entry, in one commit",
    params(("branch" = BranchName, Path), ("path" = PathName, Path)),
    request_body = ItemRequest,
    responses((status = 200, description = "The entry's cursor", body = LogAppended),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 413, body = ErrorBody), (status = 415, body = ErrorBody), (status = 503, body = ErrorBody)))]
pub(crate) async fn append_log(
    State(state): State<AppState>,
    Writer(who): Writer,
    Params(p): Params<BranchPath>,
    Json(req): Json<ItemRequest>,
) -> Result<Response, ApiError> {
    write_op(
        state,
        who,
        p,
        req.message,
        req.author,
        move |branch, path, opts| {
            let cursor = Log::<Value>::open(branch, path)
                .with_commit(opts)
                .append(&req.item)?;
            Ok(LogAppended {
                cursor: cursor.as_str().to_string(),
            })
        },
    )
    .await
}

/// A byte count or offset from a request, as this machine's word.
fn offset(n: u64) -> Result<usize, ApiError> {
    usize::try_from(n).map_err(|_| ApiError::bad_request("out_of_range", format!("{n} is too large")))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RangeQuery {
    offset: Option<usize>,
    len: Option<usize>,
}

/// `GET /branches/{b}/ropes/{path}?offset=&len=`: the bytes (all, or a range).
#[utoipa::path(get, path = "/api/v1/branches/{branch}/ropes/{path}", operation_id = "readRope", tag = "structures",
    summary = "A rope's bytes, or a range of them",
    params(("branch" = BranchName, Path), ("path" = PathName, Path),
        ("offset" = Option<u64>, Query), ("len" = Option<u64>, Query)),
    responses((status = 200, description = "The bytes", content_type = "application/octet-stream", body = String),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 503, body = ErrorBody)))]
pub(crate) async fn read_rope(
    State(state): State<AppState>,
    Caller(who): Caller,
    Params(p): Params<BranchPath>,
    Query(q): Query<RangeQuery>,
) -> Result<Response, ApiError> {
    use axum::response::IntoResponse;
    let bytes = read_op(&state, who, p, move |branch, path| {
        let rope = Rope::open(branch, path);
        let offset = q.offset.unwrap_or(0);
        Ok(match q.len {
            Some(len) => rope.read_range(offset, len)?,
            None if offset == 0 => rope.read()?,
            None => rope.read_range(offset, rope.len()?.saturating_sub(offset))?,
        })
    })
    .await?;
    Ok((
        StatusCode::OK,
        [(axum::http::header::CONTENT_TYPE, "application/octet-stream")],
        bytes,
    )
        .into_response())
}

/// `PUT /branches/{b}/ropes/{path}` with the bytes: creates the rope (409 if one is there).
#[utoipa::path(put, path = "/api/v1/branches/{branch}/ropes/{path}", operation_id = "createRope", tag = "structures",
    summary = "Create a rope from the request body's bytes (409 if one exists)",
    params(("branch" = BranchName, Path), ("path" = PathName, Path)),
    request_body(content = Option<String>, content_type = "application/octet-stream", description = "The bytes (none: an empty rope)"),
    responses((status = 200, description = "The new rope", body = RopeCreated),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 413, body = ErrorBody), (status = 503, body = ErrorBody)))]
pub(crate) async fn create_rope(
    State(state): State<AppState>,
    Writer(who): Writer,
    Params(p): Params<BranchPath>,
    crate::limits::Body(body): crate::limits::Body,
) -> Result<Response, ApiError> {
    write_op(state, who, p, None, None, move |branch, path, opts| {
        let exists = format!("a rope already exists at '{path}'");
        let rope = Rope::open(branch, path).with_commit(opts);
        rope.write_new(&body).map_err(|e| match e {
            canopy::store::Error::ExpectationFailed { .. } => {
                ApiError::new(StatusCode::CONFLICT, "exists", exists)
            }
            other => other.into(),
        })?;
        Ok(RopeCreated {
            length: rope.len()? as u64,
            chunks: rope.chunk_count()? as u64,
        })
    })
    .await
}

/// `POST /branches/{b}/ropes/{path}` with `{"offset", "delete", "insert"}`: one commit.
#[utoipa::path(post, path = "/api/v1/branches/{branch}/ropes/{path}", operation_id = "spliceRope", tag = "structures",
    summary = "Replace `delete` bytes at `offset` by `insert`, in one commit; edits in different places merge",
    params(("branch" = BranchName, Path), ("path" = PathName, Path)),
    request_body = SpliceRequest,
    responses((status = 200, description = "What the edit did", body = Spliced),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 413, body = ErrorBody), (status = 415, body = ErrorBody), (status = 503, body = ErrorBody)))]
pub(crate) async fn splice_rope(
    State(state): State<AppState>,
    Writer(who): Writer,
    Params(p): Params<BranchPath>,
    Json(req): Json<SpliceRequest>,
) -> Result<Response, ApiError> {
    write_op(
        state,
        who,
        p,
        req.message,
        req.author,
        move |branch, path, opts| {
            let rope = Rope::open(branch, path).with_commit(opts);
            let stats = rope.splice(offset(req.offset)?, offset(req.delete)?, req.insert.as_bytes())?;
            Ok(Spliced {
                commit: stats.commit.map(|c| c.to_hex()),
                length: rope.len()? as u64,
                chunks_written: stats.chunks_written as u64,
                chunks_removed: stats.chunks_removed as u64,
            })
        },
    )
    .await
}
