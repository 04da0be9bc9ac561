//! Branches: list, show, create, delete.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use canopy::backend::{Expected, RefLog};
use serde::Deserialize;
use serde_json::json;

use super::{ok_json, open_branch, resolve_rev, Caller, Json, Params};
use crate::auth::Access;
use crate::error::{blocking, ApiError};
use crate::AppState;

#[derive(Deserialize)]
pub(crate) struct BranchOnly {
    branch: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct CreateBranch {
    name: String,
    /// Where the branch starts (a REV); default: the head of the branch `HEAD` names.
    from: Option<String>,
}

/// `GET /branches`: the branches the caller may read, with their heads.
pub(crate) async fn list(State(state): State<AppState>, Caller(who): Caller) -> Result<Response, ApiError> {
    let repo = state.repo().clone();
    let list = blocking(move || {
        Ok(repo
            .branches()?
            .into_iter()
            .filter(|(name, _)| who.can(name, Access::Read))
            .map(|(name, head)| json!({ "name": name, "head": head.to_hex() }))
            .collect::<Vec<_>>())
    })
    .await?;
    Ok(ok_json(StatusCode::OK, json!(list)))
}

pub(crate) async fn show(
    State(state): State<AppState>,
    Caller(who): Caller,
    Params(p): Params<BranchOnly>,
) -> Result<Response, ApiError> {
    let repo = state.repo().clone();
    let body = blocking(move || {
        let branch = open_branch(&repo, &who, &p.branch, Access::Read)?;
        Ok(json!({ "name": branch.name(), "head": branch.head()?.map(|h| h.to_hex()) }))
    })
    .await?;
    Ok(ok_json(StatusCode::OK, body))
}

pub(crate) async fn create(
    State(state): State<AppState>,
    Caller(who): Caller,
    Json(req): Json<CreateBranch>,
) -> Result<Response, ApiError> {
    let repo = state.repo().clone();
    let name = req.name.clone();
    let _writing = state.lock_branch(&name).await;
    let body = blocking(move || {
        who.require(&req.name, Access::Write)?;
        let from = match &req.from {
            Some(rev) => resolve_rev(&repo, &who, rev)?,
            None => {
                let default = repo.head_branch()?;
                who.require(default.name(), Access::Read)?;
                default.head()?.ok_or_else(|| {
                    ApiError::bad_request("bad_rev", "the default branch has no commit yet; give 'from'")
                })?
            }
        };
        let branch = repo.create_branch(&req.name, from)?;
        Ok(json!({ "name": branch.name(), "head": from.to_hex() }))
    })
    .await?;
    state.notify(&name);
    Ok(ok_json(StatusCode::CREATED, body))
}

pub(crate) async fn delete(
    State(state): State<AppState>,
    Caller(who): Caller,
    Params(p): Params<BranchOnly>,
) -> Result<Response, ApiError> {
    let repo = state.repo().clone();
    let name = p.branch.clone();
    let _writing = state.lock_branch(&name).await;
    let body = blocking(move || {
        let branch = open_branch(&repo, &who, &p.branch, Access::Write)?;
        if repo
            .head_branch()
            .map(|b| b.name() == branch.name())
            .unwrap_or(false)
        {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                "default_branch",
                format!(
                    "'{}' is the default branch (HEAD); it cannot be deleted",
                    branch.name()
                ),
            ));
        }
        let Some(head) = branch.head()? else {
            return Err(ApiError::not_found(
                "no_such_branch",
                format!("branch '{}' does not exist", p.branch),
            ));
        };
        let log = RefLog {
            who: repo.default_signature(),
            message: "branch: deleted".into(),
        };
        let deleted = repo
            .refs()
            .update(branch.ref_name(), Expected::Value(head), None, &log)?;
        if !deleted {
            return Err(ApiError::precondition_failed(format!(
                "branch '{}' moved while being deleted; nothing was deleted",
                p.branch
            )));
        }
        Ok(json!({ "name": branch.name(), "head": head.to_hex() }))
    })
    .await?;
    state.notify(&name);
    Ok(ok_json(StatusCode::OK, body))
}
