//! The ready-made structures of `canopy::data` over HTTP, each operation one transaction on the
//! branch (queued behind this server's other writes to it): counters.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use canopy::data::Counter;
use canopy::store::CommitOptions;
use canopy::{Path, Repo};
use serde::Deserialize;
use serde_json::json;

use super::{ok_json, open_branch, parse_author, Caller, Json, Params};
use crate::auth::Access;
use crate::error::{blocking, ApiError};
use crate::AppState;

#[derive(Deserialize)]
pub(crate) struct BranchPath {
    branch: String,
    path: String,
}

/// Message and author of a structure operation.
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

fn commit_options(
    repo: &Repo,
    message: Option<String>,
    author: Option<&str>,
    default: String,
) -> Result<CommitOptions, ApiError> {
    let mut opts = CommitOptions::message(message.unwrap_or(default));
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
    let repo = state.repo().clone();
    let body = blocking(move || {
        let branch = open_branch(&repo, &who, &p.branch, Access::Read)?;
        let value = Counter::open(branch, structure_path(&p.path)?).get()?;
        Ok(json!({ "value": value }))
    })
    .await?;
    Ok(ok_json(StatusCode::OK, body))
}

/// `POST /branches/{b}/counters/{path}` with `{"add": N}`: one commit; `{"value", "commit"}`.
pub(crate) async fn add_counter(
    State(state): State<AppState>,
    Caller(who): Caller,
    Params(p): Params<BranchPath>,
    Json(req): Json<CounterAdd>,
) -> Result<Response, ApiError> {
    let repo = state.repo().clone();
    let name = p.branch.clone();
    let _writing = state.lock_branch(&name).await;
    let body = blocking(move || {
        let branch = open_branch(&repo, &who, &p.branch, Access::Write)?;
        let path = structure_path(&p.path)?;
        let opts = commit_options(
            &repo,
            req.message,
            req.author.as_deref(),
            format!("counter {path} add {}", req.add),
        )?;
        let counted = Counter::open(branch, path).with_commit(opts).add(req.add)?;
        Ok(json!({ "value": counted.value, "commit": counted.commit.to_hex() }))
    })
    .await?;
    state.notify(&name);
    Ok(ok_json(StatusCode::OK, body))
}
