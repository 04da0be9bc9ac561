//! Branches: list, show, create, delete.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use canopy::backend::{Expected, RefLog};
use canopy_wire::api::{BranchInfo, CreateBranch, ErrorBody};
use canopy_wire::grammar::BranchName;
use serde::Deserialize;

use super::{branch_named, ok_json, open_branch, resolve_rev, Caller, Json, Params};
use crate::auth::Access;
use crate::error::{blocking, ApiError};
use crate::AppState;

#[derive(Deserialize)]
pub(crate) struct BranchOnly {
    branch: String,
}

/// `GET /branches`: the branches the caller may read, with their heads.
#[utoipa::path(get, path = "/api/v1/branches", operation_id = "listBranches", tag = "branches",
    summary = "The branches the caller may read, with their heads",
    responses((status = 200, description = "Branches, sorted by name", body = Vec<BranchInfo>),
        (status = 401, body = ErrorBody), (status = 503, body = ErrorBody)))]
pub(crate) async fn list(State(state): State<AppState>, Caller(who): Caller) -> Result<Response, ApiError> {
    let repo = state.repo().clone();
    let list = blocking(move || {
        Ok(repo
            .branches()?
            .into_iter()
            .filter(|(name, _)| who.can(name, Access::Read))
            .map(|(name, head)| BranchInfo {
                name,
                head: Some(head.to_hex()),
            })
            .collect::<Vec<_>>())
    })
    .await?;
    Ok(ok_json(StatusCode::OK, list))
}

#[utoipa::path(get, path = "/api/v1/branches/{branch}", operation_id = "getBranch", tag = "branches",
    summary = "A branch and its head",
    params(("branch" = BranchName, Path)),
    responses((status = 200, description = "The branch", body = BranchInfo),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 503, body = ErrorBody)))]
pub(crate) async fn show(
    State(state): State<AppState>,
    Caller(who): Caller,
    Params(p): Params<BranchOnly>,
) -> Result<Response, ApiError> {
    let repo = state.repo().clone();
    let body = blocking(move || {
        let branch = open_branch(&repo, &who, &p.branch, Access::Read)?;
        Ok(BranchInfo {
            name: branch.name().to_string(),
            head: branch.head()?.map(|h| h.to_hex()),
        })
    })
    .await?;
    Ok(ok_json(StatusCode::OK, body))
}

#[utoipa::path(post, path = "/api/v1/branches", operation_id = "createBranch", tag = "branches",
    summary = "Create a branch at a revision (default: the head of the default branch)",
    request_body = CreateBranch,
    responses((status = 201, description = "The new branch", body = BranchInfo),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 413, body = ErrorBody),
        (status = 415, body = ErrorBody), (status = 503, body = ErrorBody)))]
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
                    ApiError::new(
                        StatusCode::CONFLICT,
                        "no_commit_yet",
                        "the default branch has no commit yet; give 'from'",
                    )
                })?
            }
        };
        branch_named(&repo, &req.name)?;
        let branch = repo.create_branch(&req.name, from)?;
        Ok(BranchInfo {
            name: branch.name().to_string(),
            head: Some(from.to_hex()),
        })
    })
    .await?;
    state.notify(&name);
    Ok(ok_json(StatusCode::CREATED, body))
}

#[utoipa::path(delete, path = "/api/v1/branches/{branch}", operation_id = "deleteBranch", tag = "branches",
    summary = "Delete a branch (not the default one)",
    params(("branch" = BranchName, Path)),
    responses((status = 200, description = "The deleted branch and its last head", body = BranchInfo),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 412, body = ErrorBody),
        (status = 503, body = ErrorBody)))]
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
        Ok(BranchInfo {
            name: branch.name().to_string(),
            head: Some(head.to_hex()),
        })
    })
    .await?;
    state.notify(&name);
    Ok(ok_json(StatusCode::OK, body))
}
