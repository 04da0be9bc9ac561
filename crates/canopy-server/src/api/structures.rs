//! The ready-made structures of `canopy::data` over HTTP, each operation one transaction on the
//! branch (queued behind this server's other writes to it): counters, queues (a pop hands each
//! item to exactly one client), logs and ropes.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use canopy::data::{Counter, Log, LogCursor, Queue, Rope};
use canopy::store::CommitOptions;
use canopy::{Path, Repo};
use serde::Deserialize;
use serde_json::{json, Value};

use super::{ok_json, open_branch, parse_author, Caller, Json, Params, Query, Writer};
use crate::auth::Access;
use crate::error::{blocking, ApiError};
use crate::AppState;

#[derive(Deserialize)]
pub(crate) struct BranchPath {
    branch: String,
    path: String,
}

/// `{"add": N}` and the commit's message and author.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(crate) struct CounterAdd {
    /// The amount to add (negative subtracts).
    add: i64,
    message: Option<String>,
    author: Option<String>,
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
pub(crate) async fn get_counter(
    State(state): State<AppState>,
    Caller(who): Caller,
    Params(p): Params<BranchPath>,
) -> Result<Response, ApiError> {
    let body = read_op(&state, who, p, |branch, path| {
        Ok(json!({ "value": Counter::open(branch, path).get()? }))
    })
    .await?;
    Ok(ok_json(StatusCode::OK, body))
}

/// `POST /branches/{b}/counters/{path}` with `{"add": N}`: one commit; `{"value", "commit"}`.
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
            Ok(json!({ "value": counted.value, "commit": counted.commit.to_hex() }))
        },
    )
    .await
}

/// The body of a push or an append: the JSON item, and the commit's message and author.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ItemRequest {
    item: Value,
    message: Option<String>,
    author: Option<String>,
}

/// The body of a pop (may be empty).
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(crate) struct PopRequest {
    message: Option<String>,
    author: Option<String>,
}

/// Runs `op` on the branch (for writing) and the structure's path, with the commit options the
/// request gives; queued behind this server's other writes to the branch, and waking its
/// watchers after.
async fn write_op(
    state: AppState,
    who: crate::auth::Identity,
    p: BranchPath,
    message: Option<String>,
    author: Option<String>,
    op: impl FnOnce(canopy::Branch, Path, CommitOptions) -> Result<Value, ApiError> + Send + 'static,
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
pub(crate) async fn list_queue(
    State(state): State<AppState>,
    Caller(who): Caller,
    Params(p): Params<BranchPath>,
) -> Result<Response, ApiError> {
    let body = read_op(&state, who, p, |branch, path| {
        let q = Queue::<Value>::open(branch, path);
        let doubles: Vec<Value> = q
            .double_deliveries()?
            .into_iter()
            .map(|d| {
                let pops: Vec<Value> = d
                    .pops
                    .iter()
                    .map(|(r, t)| json!({ "replica": r, "time": t }))
                    .collect();
                json!({ "key": d.key, "pops": pops })
            })
            .collect();
        Ok(json!({ "items": q.items()?, "double_deliveries": doubles }))
    })
    .await?;
    Ok(ok_json(StatusCode::OK, body))
}

/// `POST /branches/{b}/queues/{path}` with `{"item"}`: `{"key"}`.
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
            Ok(json!({ "key": key }))
        },
    )
    .await
}

/// `POST /branches/{b}/pop/{path}`: the first item, taken in one commit (`{"key", "value"}`),
/// or 404 `queue_empty`. Every item goes to exactly one caller.
pub(crate) async fn pop_queue(
    State(state): State<AppState>,
    Writer(who): Writer,
    Params(p): Params<BranchPath>,
    headers: axum::http::HeaderMap,
    body: crate::limits::Body,
) -> Result<Response, ApiError> {
    let req: PopRequest = if body.0.iter().all(u8::is_ascii_whitespace) {
        PopRequest::default()
    } else {
        super::require_json(&headers)?;
        serde_json::from_slice(&body.0)
            .map_err(|e| ApiError::bad_request("bad_json", format!("invalid JSON body: {e}")))?
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
                Some(item) => Ok(json!(item)),
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
        let limit = q.limit.unwrap_or(100).min(10_000);
        let log = Log::<Value>::open(branch, path);
        let (entries, next) = log.page(before.as_ref(), limit)?;
        Ok(json!({ "entries": entries, "next": next }))
    })
    .await?;
    Ok(ok_json(StatusCode::OK, body))
}

/// `POST /branches/{b}/logs/{path}` with `{"item"}`: `{"cursor"}`.
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
            Ok(json!({ "cursor": cursor }))
        },
    )
    .await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RangeQuery {
    offset: Option<usize>,
    len: Option<usize>,
}

/// `GET /branches/{b}/ropes/{path}?offset=&len=`: the bytes (all, or a range).
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
        Ok(json!({ "length": rope.len()?, "chunks": rope.chunk_count()? }))
    })
    .await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct SpliceRequest {
    offset: usize,
    #[serde(default)]
    delete: usize,
    #[serde(default)]
    insert: String,
    message: Option<String>,
    author: Option<String>,
}

/// `POST /branches/{b}/ropes/{path}` with `{"offset", "delete", "insert"}`: one commit.
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
            let stats = rope.splice(req.offset, req.delete, req.insert.as_bytes())?;
            Ok(json!({
                "commit": stats.commit.map(|c| c.to_hex()),
                "length": rope.len()?,
                "chunks_written": stats.chunks_written,
                "chunks_removed": stats.chunks_removed,
            }))
        },
    )
    .await
}
