//! Writing several paths at once (`POST /branches/{b}/commits`).

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use base64::Engine;
use canopy::store::CommitOptions;
use canopy::Path;
use serde::Deserialize;
use serde_json::json;

use super::{ok_json, open_branch, parse_author, resolve_rev, Json, Params, Writer};
use crate::auth::Access;
use crate::error::{blocking, ApiError};
use crate::AppState;

#[derive(Deserialize)]
pub(crate) struct BranchOnly {
    branch: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct CommitRequest {
    message: String,
    /// `Name <email>`; default: the store's identity.
    author: Option<String>,
    /// The commit the changes were made against; if the branch has moved on since, they are
    /// merged onto its head with the per-path drivers.
    parent: Option<String>,
    changes: Vec<ChangeRequest>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ChangeRequest {
    path: String,
    /// The new value as UTF-8 text.
    value: Option<String>,
    /// The new value as base64 (any bytes).
    value_base64: Option<String>,
    /// `true`: remove the value or directory at `path`.
    #[serde(default)]
    delete: bool,
}

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
            let path = Path::parse(&change.path).map_err(|e| at(e.to_string()))?;
            if path.is_root() {
                return Err(at("the root is not a value".into()));
            }
            tx = match (change.value, change.value_base64, change.delete) {
                (Some(v), None, false) => tx.set(path, v.into_bytes()),
                (None, Some(b), false) => {
                    let bytes = base64::engine::general_purpose::STANDARD
                        .decode(b.as_bytes())
                        .map_err(|e| at(format!("value_base64: {e}")))?;
                    tx.set(path, bytes)
                }
                (None, None, true) => tx.remove(path),
                _ => {
                    return Err(at(
                        "give exactly one of 'value', 'value_base64' or 'delete: true'".into(),
                    ))
                }
            };
        }
        let commit = tx.commit(&opts)?;
        let parents = repo.commit_info(commit)?.commit.parents;
        Ok(json!({
            "commit": commit.to_hex(),
            "merged": start.is_some_and(|s| !parents.contains(&s)),
        }))
    })
    .await?;
    state.notify(&name);
    Ok(ok_json(StatusCode::OK, body))
}
