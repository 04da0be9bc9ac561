//! Merging branches: `POST /branches/{b}/merge` (with resolutions for conflicting paths) and
//! `GET /branches/{b}/merge/preview` (what a merge would do, with each conflict's three sides).
//!
//! A merge with conflicts changes nothing; a client shows the conflicts from the preview, lets
//! someone decide each path (a value, a removal, or one side's entry as it is), and posts the
//! merge again with those `resolutions`: the server merges again, replaces each conflicting
//! path with its resolution and writes the merge commit (parents: the head, then the merged
//! commit). Every conflict must be resolved and only conflicts may be (409 otherwise), so a
//! resolution cannot silently override a path that merged cleanly. `If-Match: "<commit>"`
//! makes the merge apply only if the head is still the one the resolutions were decided on.

use std::collections::BTreeMap;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use canopy::backend::{Expected, RefLog};
use canopy::object::{ObjectId, ObjectKind};
use canopy::retry::{Retry, COMMIT_ATTEMPTS};
use canopy::store::{diff_trees, is_binary, CommitOptions, MergeOptions, MergeOutcome};
use canopy::tree::{Entry, Tree};
use canopy::{Path, Repo};
use canopy_wire::api::Wanted;
use canopy_wire::api::{
    self as wire, ConflictSide, EntryKind, ErrorBody, MergePreview, MergeRequest, MergeResult,
    PreviewConflict, PreviewOutcome, Resolution, Take,
};
use canopy_wire::grammar::{BranchName, IfMatch, Rev};
use canopy_wire::Content;
use serde::Deserialize;

use super::values::if_match;
use super::{ok_json, open_branch, parse_author, resolve_rev, Caller, Json, Params, Query, Writer};
use crate::auth::Access;
use crate::error::{blocking, ApiError};
use crate::AppState;

/// Values up to this size are sent inline in a preview's conflicts.
const MAX_INLINE: usize = 1 << 20;

#[derive(Deserialize)]
pub(crate) struct BranchOnly {
    branch: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct PreviewQuery {
    from: String,
}

/// A resolution, checked: what to put at the path.
enum Settle {
    Value(Vec<u8>),
    Delete,
    Take(Take),
}

fn parse_resolutions(list: Vec<Resolution>) -> Result<BTreeMap<String, Settle>, ApiError> {
    let mut out = BTreeMap::new();
    let mut twice = None;
    for (i, r) in list.into_iter().enumerate() {
        let at = |m: String| {
            ApiError::bad_request(
                "bad_json",
                format!("invalid JSON body at 'resolutions[{i}]': {m}"),
            )
        };
        let path = super::value_path(&r.path).map_err(at)?;
        let settle = match r.wanted().map_err(at)? {
            Wanted::Delete => Settle::Delete,
            Wanted::Take(t) => Settle::Take(t),
            Wanted::Set(bytes) => Settle::Value(bytes),
        };
        if out.insert(path.to_string(), settle).is_some() {
            twice.get_or_insert(path.to_string());
        }
    }
    // Every resolution well-formed, but two for one path: the document cannot say that
    // (`uniqueItems` compares whole items), so it is a 422, not a schema violation's 400.
    if let Some(path) = twice {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "resolved_twice",
            format!("'{path}' is resolved twice; give one resolution per conflicting path"),
        ));
    }
    Ok(out)
}

#[utoipa::path(post, path = "/api/v1/branches/{branch}/merge", operation_id = "merge", tag = "history",
    summary = "Merge a branch or commit into this branch with the per-path drivers; with 'resolutions' (one per conflicting path, none for others), commit the merge with them",
    params(("branch" = BranchName, Path), ("If-Match" = Option<IfMatch>, Header)),
    request_body = MergeRequest,
    responses((status = 200, description = "What the merge did", body = MergeResult),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 412, body = ErrorBody), (status = 413, body = ErrorBody), (status = 415, body = ErrorBody), (status = 422, body = ErrorBody), (status = 503, body = ErrorBody)))]
pub(crate) async fn merge(
    State(state): State<AppState>,
    Writer(who): Writer,
    Params(p): Params<BranchOnly>,
    headers: HeaderMap,
    Json(req): Json<MergeRequest>,
) -> Result<Response, ApiError> {
    let repo = state.repo().clone();
    let name = p.branch.clone();
    let _writing = state.lock_branch(&name).await;
    let body = blocking(move || {
        // The body's syntax before any state is weighed: a malformed resolution or author
        // is a 400 even when If-Match would fail as a precondition.
        let resolutions = parse_resolutions(req.resolutions)?;
        let author = req
            .author
            .as_deref()
            .map(|author| parse_author(&repo, author))
            .transpose()?;
        let branch = open_branch(&repo, &who, &p.branch, Access::Write)?;
        let from = resolve_rev(&repo, &who, &req.from)?;
        let expected = if_match(&repo, &headers)?;
        let mut commit = CommitOptions::message(
            req.message
                .unwrap_or_else(|| format!("Merge {} into {}", req.from, branch.name())),
        );
        commit.author = author;
        let moved = |head: Option<ObjectId>| {
            ApiError::precondition_failed(format!(
                "branch '{}' is at {}, not the commit in If-Match",
                branch.name(),
                head.map_or_else(|| "no commit".to_string(), |h| h.to_hex())
            ))
        };
        if resolutions.is_empty() {
            if let Some(expected) = expected {
                let head = branch.head()?;
                if head != Some(expected) {
                    return Err(moved(head));
                }
            }
            let opts = MergeOptions {
                commit,
                no_ff: req.no_ff,
                favor: None,
            };
            let (commit, outcome) = match branch.merge(from, &opts)? {
                MergeOutcome::UpToDate(id) => (id, wire::MergeOutcome::UpToDate),
                MergeOutcome::FastForward(id) => (id, wire::MergeOutcome::FastForward),
                MergeOutcome::Merged(id) => (id, wire::MergeOutcome::Merged),
                MergeOutcome::Conflicts(conflicts) => {
                    return Err(ApiError::conflicts(branch.name(), conflicts))
                }
            };
            return Ok(MergeResult {
                commit: commit.to_hex(),
                outcome: outcome.as_str().to_string(),
            });
        }
        let store = repo.objects();
        // Again while other writers keep moving the branch (the crate's one retry policy).
        let mut retry = Retry::attempts(COMMIT_ATTEMPTS);
        loop {
            let head = branch.head()?;
            if expected.is_some() && head != expected {
                return Err(moved(head));
            }
            let nothing_to_resolve = || {
                ApiError::new(
                    StatusCode::CONFLICT,
                    "not_in_conflict",
                    format!(
                        "merging {from} into '{}' has no conflicts to resolve",
                        branch.name()
                    ),
                )
            };
            let Some(head) = head else {
                return Err(nothing_to_resolve());
            };
            if repo.is_ancestor(from, head)? || repo.is_ancestor(head, from)? {
                return Err(nothing_to_resolve());
            }
            let merged = repo.merge_commits(head, from, None)?;
            let unresolved: Vec<_> = merged
                .conflicts
                .iter()
                .filter(|c| !resolutions.contains_key(&c.path))
                .cloned()
                .collect();
            if !unresolved.is_empty() {
                return Err(ApiError::conflicts(branch.name(), unresolved));
            }
            if let Some(extra) = resolutions
                .keys()
                .find(|path| !merged.conflicts.iter().any(|c| &&c.path == path))
            {
                return Err(ApiError::new(
                    StatusCode::CONFLICT,
                    "not_in_conflict",
                    format!("'{extra}' merges without conflict; only conflicting paths may be resolved"),
                ));
            }
            let base = repo.merge_base_tree_of(head, from)?;
            let ours = commit_tree(&repo, head)?;
            let theirs = commit_tree(&repo, from)?;
            let mut tree = merged.tree;
            for (path, settle) in &resolutions {
                let path = Path::parse(path)?;
                let entry = match settle {
                    Settle::Value(bytes) => Some(Entry::value(store.write(ObjectKind::Blob, bytes)?)),
                    Settle::Delete => None,
                    Settle::Take(Take::Base) => base.find(store, &path)?,
                    Settle::Take(Take::Ours) => ours.find(store, &path)?,
                    Settle::Take(Take::Theirs) => theirs.find(store, &path)?,
                };
                tree = tree.with(store, &path, entry)?;
            }
            let tree_id = repo.write_tree(&tree)?;
            let commit_id = repo.write_commit(tree_id, vec![head, from], &commit)?;
            store.flush()?;
            let log = RefLog {
                who: commit.author.clone().unwrap_or_else(|| repo.default_signature()),
                message: format!("merge {from}: conflicts resolved"),
            };
            if repo
                .refs()
                .update(branch.ref_name(), Expected::Value(head), Some(commit_id), &log)?
            {
                return Ok(MergeResult {
                    commit: commit_id.to_hex(),
                    outcome: wire::MergeOutcome::Merged.as_str().to_string(),
                });
            }
            if !retry.again() {
                break;
            }
        }
        Err(ApiError::unavailable(
            "contention",
            format!("branch '{}' kept moving during the merge; retry", branch.name()),
        ))
    })
    .await?;
    state.notify(&name);
    Ok(ok_json(StatusCode::OK, body))
}

#[utoipa::path(get, path = "/api/v1/branches/{branch}/merge/preview", operation_id = "previewMerge", tag = "history",
    summary = "What merging a branch or commit into this branch would do, writing nothing: the outcome, the changes to the branch, and each conflict with its base, ours and theirs",
    params(("branch" = BranchName, Path), ("from" = Rev, Query, description = "The REV to merge in")),
    responses((status = 200, description = "The merge's preview", body = MergePreview),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 503, body = ErrorBody)))]
pub(crate) async fn preview(
    State(state): State<AppState>,
    Caller(who): Caller,
    Params(p): Params<BranchOnly>,
    Query(q): Query<PreviewQuery>,
) -> Result<Response, ApiError> {
    let repo = state.repo().clone();
    let body = blocking(move || {
        let branch = open_branch(&repo, &who, &p.branch, Access::Read)?;
        let from = resolve_rev(&repo, &who, &q.from)?;
        let store = repo.objects();
        let theirs = commit_tree(&repo, from)?;
        let head = branch.head()?;
        let answer = |outcome, changes: &[canopy::store::PathChange], conflicts| MergePreview {
            ours: head.map(|h| h.to_hex()),
            theirs: from.to_hex(),
            outcome,
            changes: wire::changes(changes),
            conflicts,
        };
        let Some(head) = head else {
            let changes = diff_trees(store, &Tree::empty(), &theirs, &Path::root())?;
            return Ok(answer(PreviewOutcome::FastForward, &changes, Vec::new()));
        };
        if repo.is_ancestor(from, head)? {
            return Ok(answer(PreviewOutcome::UpToDate, &[], Vec::new()));
        }
        let ours = commit_tree(&repo, head)?;
        if repo.is_ancestor(head, from)? {
            let changes = diff_trees(store, &ours, &theirs, &Path::root())?;
            return Ok(answer(PreviewOutcome::FastForward, &changes, Vec::new()));
        }
        let merged = repo.merge_commits(head, from, None)?;
        let changes = diff_trees(store, &ours, &merged.tree, &Path::root())?;
        if merged.conflicts.is_empty() {
            return Ok(answer(PreviewOutcome::Clean, &changes, Vec::new()));
        }
        let base = repo.merge_base_tree_of(head, from)?;
        let mut conflicts = Vec::new();
        for c in &merged.conflicts {
            let path = Path::parse(&c.path)?;
            conflicts.push(PreviewConflict {
                path: c.path.clone(),
                reason: c.reason.clone(),
                base: side(&repo, &base, &path)?,
                ours: side(&repo, &ours, &path)?,
                theirs: side(&repo, &theirs, &path)?,
            });
        }
        Ok(answer(PreviewOutcome::Conflicts, &changes, conflicts))
    })
    .await?;
    Ok(ok_json(StatusCode::OK, body))
}

fn commit_tree(repo: &Repo, id: ObjectId) -> Result<Tree, ApiError> {
    Ok(Tree::from_id(repo.commit_info(id)?.commit.tree))
}

/// What one side of a conflict holds at `path`: nothing (`None`), a directory, or a value
/// with its bytes inline (as text when they are UTF-8, else base64) unless it is large.
fn side(repo: &Repo, tree: &Tree, path: &Path) -> Result<Option<ConflictSide>, ApiError> {
    let store = repo.objects();
    let bare = |kind, hash: Option<ObjectId>| ConflictSide {
        kind,
        hash: hash.map(|h| h.to_hex()),
        mode: None,
        size: None,
        content: Content::default(),
    };
    Ok(match tree.find(store, path)? {
        None => None,
        Some(Entry::Tree(t)) => Some(bare(EntryKind::Tree, t.id())),
        Some(Entry::Gitlink(id)) => Some(bare(EntryKind::Gitlink, Some(id))),
        Some(Entry::Value { id, mode }) => {
            let bytes = store.read_kind(&id, ObjectKind::Blob)?;
            let content = if bytes.len() > MAX_INLINE {
                Content::default()
            } else if is_binary(&bytes) {
                Content {
                    value: None,
                    value_base64: Some(canopy_wire::base64_encode(&bytes)),
                }
            } else {
                Content::of(&bytes)
            };
            Some(ConflictSide {
                mode: Some(mode.display().to_string()),
                size: Some(bytes.len() as u64),
                content,
                ..bare(EntryKind::Value, Some(id))
            })
        }
    })
}
