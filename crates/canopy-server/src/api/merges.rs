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
use base64::Engine;
use canopy::backend::{Expected, RefLog};
use canopy::object::{ObjectId, ObjectKind};
use canopy::retry::{Retry, COMMIT_ATTEMPTS};
use canopy::store::{diff_trees, is_binary, CommitOptions, MergeOptions, MergeOutcome};
use canopy::tree::{Entry, Tree};
use canopy::{Path, Repo};
use serde::Deserialize;
use serde_json::{json, Value};

use super::values::if_match;
use super::{
    change_json, ok_json, open_branch, parse_author, resolve_rev, Caller, Json, Params, Query, Writer,
};
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
pub(crate) struct MergeRequest {
    /// The branch or commit to merge in (a REV).
    from: String,
    message: Option<String>,
    author: Option<String>,
    #[serde(default)]
    no_ff: bool,
    /// How to settle each conflicting path; the merge is then committed with them.
    #[serde(default)]
    resolutions: Vec<Resolution>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Resolution {
    path: String,
    /// The path's new value as UTF-8 text.
    value: Option<String>,
    /// The path's new value as base64.
    value_base64: Option<String>,
    /// `true`: nothing at the path.
    #[serde(default)]
    delete: bool,
    /// Take one side's entry as it is (a value, a directory or nothing).
    take: Option<Take>,
}

#[derive(Deserialize, Clone, Copy)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Take {
    Base,
    Ours,
    Theirs,
}

#[derive(Deserialize)]
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
    for (i, r) in list.into_iter().enumerate() {
        let at = |m: String| {
            ApiError::bad_request(
                "bad_json",
                format!("invalid JSON body at 'resolutions[{i}]': {m}"),
            )
        };
        let path = Path::parse(&r.path).map_err(|e| at(e.to_string()))?;
        if path.is_root() {
            return Err(at("the root is not a value".into()));
        }
        let settle = match (r.value, r.value_base64, r.delete, r.take) {
            (Some(v), None, false, None) => Settle::Value(v.into_bytes()),
            (None, Some(b), false, None) => Settle::Value(
                base64::engine::general_purpose::STANDARD
                    .decode(b.as_bytes())
                    .map_err(|e| at(format!("value_base64: {e}")))?,
            ),
            (None, None, true, None) => Settle::Delete,
            (None, None, false, Some(t)) => Settle::Take(t),
            _ => {
                return Err(at(
                    "give exactly one of 'value', 'value_base64', 'delete: true' or 'take'".into(),
                ))
            }
        };
        if out.insert(path.to_string(), settle).is_some() {
            return Err(at(format!("'{path}' is resolved twice")));
        }
    }
    Ok(out)
}

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
        let branch = open_branch(&repo, &who, &p.branch, Access::Write)?;
        let from = resolve_rev(&repo, &who, &req.from)?;
        let expected = if_match(&repo, &headers)?;
        let resolutions = parse_resolutions(req.resolutions)?;
        let mut commit = CommitOptions::message(
            req.message
                .unwrap_or_else(|| format!("Merge {} into {}", req.from, branch.name())),
        );
        if let Some(author) = &req.author {
            commit.author = Some(parse_author(&repo, author)?);
        }
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
                MergeOutcome::UpToDate(id) => (id, "up_to_date"),
                MergeOutcome::FastForward(id) => (id, "fast_forward"),
                MergeOutcome::Merged(id) => (id, "merged"),
                MergeOutcome::Conflicts(conflicts) => {
                    return Err(ApiError::conflicts(branch.name(), conflicts))
                }
            };
            return Ok(json!({ "commit": commit.to_hex(), "outcome": outcome }));
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
                return Ok(json!({ "commit": commit_id.to_hex(), "outcome": "merged" }));
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
        let answer = |outcome: &str, changes: Value, conflicts: Value| {
            json!({
                "ours": head.map(|h| h.to_hex()),
                "theirs": from.to_hex(),
                "outcome": outcome,
                "changes": changes,
                "conflicts": conflicts,
            })
        };
        let Some(head) = head else {
            let changes = diff_trees(store, &Tree::empty(), &theirs, &Path::root())?;
            return Ok(answer("fast_forward", changes_json(&changes), json!([])));
        };
        if repo.is_ancestor(from, head)? {
            return Ok(answer("up_to_date", json!([]), json!([])));
        }
        let ours = commit_tree(&repo, head)?;
        if repo.is_ancestor(head, from)? {
            let changes = diff_trees(store, &ours, &theirs, &Path::root())?;
            return Ok(answer("fast_forward", changes_json(&changes), json!([])));
        }
        let merged = repo.merge_commits(head, from, None)?;
        let changes = diff_trees(store, &ours, &merged.tree, &Path::root())?;
        if merged.conflicts.is_empty() {
            return Ok(answer("clean", changes_json(&changes), json!([])));
        }
        let base = repo.merge_base_tree_of(head, from)?;
        let mut conflicts = Vec::new();
        for c in &merged.conflicts {
            let path = Path::parse(&c.path)?;
            conflicts.push(json!({
                "path": c.path,
                "reason": c.reason,
                "base": side_json(&repo, &base, &path)?,
                "ours": side_json(&repo, &ours, &path)?,
                "theirs": side_json(&repo, &theirs, &path)?,
            }));
        }
        Ok(answer(
            "conflicts",
            changes_json(&changes),
            Value::Array(conflicts),
        ))
    })
    .await?;
    Ok(ok_json(StatusCode::OK, body))
}

fn commit_tree(repo: &Repo, id: ObjectId) -> Result<Tree, ApiError> {
    Ok(Tree::from_id(repo.commit_info(id)?.commit.tree))
}

fn changes_json(changes: &[canopy::store::PathChange]) -> Value {
    Value::Array(changes.iter().map(change_json).collect())
}

/// What one side of a conflict holds at `path`: nothing (`null`), a directory, or a value
/// with its bytes inline (as text when they are UTF-8, else base64) unless it is large.
fn side_json(repo: &Repo, tree: &Tree, path: &Path) -> Result<Value, ApiError> {
    let store = repo.objects();
    Ok(match tree.find(store, path)? {
        None => Value::Null,
        Some(Entry::Tree(t)) => json!({ "kind": "tree", "hash": t.id().map(|h| h.to_hex()) }),
        Some(Entry::Gitlink(id)) => json!({ "kind": "gitlink", "hash": id.to_hex() }),
        Some(Entry::Value { id, mode }) => {
            let bytes = store.read_kind(&id, ObjectKind::Blob)?;
            let mut side = json!({
                "kind": "value", "hash": id.to_hex(), "mode": mode.display(), "size": bytes.len(),
            });
            if bytes.len() <= MAX_INLINE {
                match std::str::from_utf8(&bytes) {
                    Ok(text) if !is_binary(&bytes) => side["value"] = json!(text),
                    _ => {
                        side["value_base64"] = json!(base64::engine::general_purpose::STANDARD.encode(&bytes))
                    }
                }
            }
            side
        }
    })
}
