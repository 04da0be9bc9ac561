//! History: `GET /branches/{b}/log`, `GET /commits/{REV}`, `GET /diff`.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use canopy::object::ObjectKind;
use canopy::store::{is_binary, unified_diff, PathChange, Side};
use canopy::{ObjectId, Path, Repo};
use canopy_wire::api::{self as wire, CommitDetails, Diff, ErrorBody};
use canopy_wire::grammar::{BranchName, PathOrRoot, Rev};
use serde::Deserialize;

use super::{ok_json, open_branch, resolve_rev, Caller, Params, Query};
use crate::auth::Access;
use crate::error::{blocking, ApiError};
use crate::AppState;

#[derive(Deserialize)]
pub(crate) struct BranchOnly {
    branch: String,
}

#[derive(Deserialize)]
pub(crate) struct RevOnly {
    rev: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct LogQuery {
    limit: Option<usize>,
    path: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct DiffQuery {
    from: String,
    to: String,
    path: Option<String>,
    /// Add each text value's unified line diff.
    #[serde(default)]
    patch: bool,
}

/// Values larger than this get no line diff (`patch: null`).
const MAX_PATCH_BYTES: usize = 1 << 20;

#[utoipa::path(get, path = "/api/v1/branches/{branch}/log", operation_id = "log", tag = "history",
    summary = "History, newest first",
    params(("branch" = BranchName, Path),
        ("limit" = Option<canopy_wire::grammar::Limit>, Query),
        ("path" = Option<PathOrRoot>, Query, description = "Only commits that changed this path")),
    responses((status = 200, description = "Commits", body = Vec<wire::Commit>),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 503, body = ErrorBody)))]
pub(crate) async fn log(
    State(state): State<AppState>,
    Caller(who): Caller,
    Params(p): Params<BranchOnly>,
    Query(q): Query<LogQuery>,
) -> Result<Response, ApiError> {
    let repo = state.repo().clone();
    let body = blocking(move || {
        let branch = open_branch(&repo, &who, &p.branch, Access::Read)?;
        let limit = super::page_size(q.limit)?;
        let history = branch.history()?;
        let commits: Vec<wire::Commit> = match &q.path {
            Some(path) => history
                .touching(Path::parse(path)?)
                .take(limit)
                .map(|c| c.map(|c| wire::Commit::from(&c)))
                .collect::<Result<_, _>>()?,
            None => history
                .take(limit)
                .map(|c| c.map(|c| wire::Commit::from(&c)))
                .collect::<Result<_, _>>()?,
        };
        Ok(commits)
    })
    .await?;
    Ok(ok_json(StatusCode::OK, body))
}

#[utoipa::path(get, path = "/api/v1/commits/{rev}", operation_id = "getCommit", tag = "history",
    summary = "A commit and the paths it changed (against its first parent)",
    params(("rev" = Rev, Path)),
    responses((status = 200, description = "The commit", body = CommitDetails),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 503, body = ErrorBody)))]
pub(crate) async fn show_commit(
    State(state): State<AppState>,
    Caller(who): Caller,
    Params(p): Params<RevOnly>,
) -> Result<Response, ApiError> {
    let repo = state.repo().clone();
    let body = blocking(move || {
        let id = resolve_rev(&repo, &who, &p.rev)?;
        let info = repo.commit_info(id)?;
        let parent = info.commit.parents.first().copied();
        Ok(CommitDetails {
            commit: wire::Commit::from(&info),
            changes: changes(&repo, parent, id, &Path::root())?,
        })
    })
    .await?;
    Ok(ok_json(StatusCode::OK, body))
}

#[utoipa::path(get, path = "/api/v1/diff", operation_id = "diff", tag = "history",
    summary = "The value paths that differ between two revisions",
    params(("from" = Rev, Query), ("to" = Rev, Query),
        ("path" = Option<PathOrRoot>, Query, description = "Only below this path"),
        ("patch" = Option<bool>, Query, description = "Add each change's unified line diff ('patch') and whether it is binary")),
    responses((status = 200, description = "The changes, in path order", body = Diff),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 503, body = ErrorBody)))]
pub(crate) async fn diff(
    State(state): State<AppState>,
    Caller(who): Caller,
    Query(q): Query<DiffQuery>,
) -> Result<Response, ApiError> {
    let repo = state.repo().clone();
    let body = blocking(move || {
        let from = resolve_rev(&repo, &who, &q.from)?;
        let to = resolve_rev(&repo, &who, &q.to)?;
        let prefix = Path::parse(q.path.as_deref().unwrap_or(""))?;
        let list = repo.diff_commits(Some(from), Some(to), &prefix)?;
        let mut out = Vec::with_capacity(list.len());
        for c in &list {
            let mut change = wire::PathChange::from(c);
            if q.patch {
                let (binary, patch) = patch(&repo, c)?;
                change.binary = Some(binary);
                change.patch = Some(patch);
            }
            out.push(change);
        }
        Ok(Diff {
            from: from.to_hex(),
            to: to.to_hex(),
            changes: out,
        })
    })
    .await?;
    Ok(ok_json(StatusCode::OK, body))
}

/// Whether a change is between binary values, and its unified diff (3 lines of context) when
/// both sides are text (absent counts as empty) of at most [`MAX_PATCH_BYTES`].
fn patch(repo: &Repo, c: &PathChange) -> Result<(bool, Option<String>), ApiError> {
    let read = |side: &Option<Side>| -> Result<Option<Vec<u8>>, ApiError> {
        match side {
            None => Ok(Some(Vec::new())),
            Some(s) if s.mode.is_blob() => Ok(Some(repo.objects().read_kind(&s.id, ObjectKind::Blob)?)),
            Some(_) => Ok(None),
        }
    };
    let (Some(old), Some(new)) = (read(&c.old)?, read(&c.new)?) else {
        return Ok((false, None));
    };
    let text = |b: &[u8]| !is_binary(b) && std::str::from_utf8(b).is_ok();
    if !text(&old) || !text(&new) {
        return Ok((true, None));
    }
    if old.len().max(new.len()) > MAX_PATCH_BYTES {
        return Ok((false, None));
    }
    Ok((false, Some(unified_diff(&old, &new, 3))))
}

/// The changes from commit `from` (`None`: the empty tree) to commit `to` below `prefix`.
pub(crate) fn changes(
    repo: &Repo,
    from: Option<ObjectId>,
    to: ObjectId,
    prefix: &Path,
) -> Result<Vec<wire::PathChange>, ApiError> {
    let list = repo.diff_commits(from, Some(to), prefix)?;
    Ok(wire::changes(&list))
}
