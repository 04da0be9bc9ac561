//! Writing several paths at once (`POST /branches/{b}/commits`).

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use canopy::store::CommitOptions;
use canopy_wire::api::Wanted;
use canopy_wire::api::{CommitRequest, CommitResult, ErrorBody};
use canopy_wire::grammar::BranchName;
use serde::Deserialize;

use super::{ok_json, open_branch, parse_author, resolve_rev, Json, Params, Writer};
use crate::auth::Access;
use crate::error::{blocking, ApiError};
use crate::AppState;

#[derive(Deserialize)]
pub(crate) struct BranchOnly {
    branch: String,
}

#[utoipa::path(post, path = "/api/v1/branches/{branch}/commits", operation_id = "commit", tag = "values",
    summary = "Several changes as one commit; with 'parent', merged onto a moved head by the drivers",
    params(("branch" = BranchName, Path)),
    request_body = CommitRequest,
    responses((status = 200, description = "The commit made", body = CommitResult),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 413, body = ErrorBody), (status = 415, body = ErrorBody), (status = 503, body = ErrorBody)))]
pub(crate) async fn commit(
    State(state): State<AppState>,
    Writer(who): Writer,
    Params(p): Params<BranchOnly>,
    Json(req): Json<CommitRequest>,
) -> Result<Response, ApiError> {
    let repo = state.repo().clone();
    let name = p.branch.clone();
    let _writing = state.lock_branch(&name).await;
    let body = blocking(move || {
        let branch = open_branch(&repo, &who, &p.branch, Access::Write)?;
        let mut opts = CommitOptions::message(req.message);
        if let Some(author) = &req.author {
            opts.author = Some(parse_author(&repo, author)?);
        }
        let start = match &req.parent {
            None => None,
            Some(rev) => {
                let parent = resolve_rev(&repo, &who, rev)?;
                let in_history = match branch.head()? {
                    Some(head) => repo.is_ancestor(parent, head)?,
                    None => false,
                };
                if !in_history {
                    return Err(ApiError::new(
                        StatusCode::CONFLICT,
                        "parent_not_in_history",
                        format!(
                            "parent {parent} is not in the history of branch '{}'",
                            branch.name()
                        ),
                    ));
                }
                Some(parent)
            }
        };
        let mut tx = match start {
            Some(parent) => branch.transaction_at(Some(parent)),
            None => branch.transaction(),
        };
        for (i, change) in req.changes.into_iter().enumerate() {
            let at = |m: String| {
                ApiError::bad_request("bad_json", format!("invalid JSON body at 'changes[{i}]': {m}"))
            };
            let path = super::value_path(&change.path).map_err(at)?;
            tx = match change.wanted().map_err(at)? {
                Wanted::Delete => tx.remove(path),
                Wanted::Set(bytes) => tx.set(path, bytes),
                Wanted::Take(_) => unreachable!("a change cannot take a side"),
            };
        }
        let commit = tx.commit(&opts)?;
        let parents = repo.commit_info(commit)?.commit.parents;
        Ok(CommitResult {
            commit: commit.to_hex(),
            merged: start.is_some_and(|s| !parents.contains(&s)),
        })
    })
    .await?;
    state.notify(&name);
    Ok(ok_json(StatusCode::OK, body))
}
