//! The REST API's requests and answers (`/api/v1/…`, `/healthz`). Ids are lowercase hex
//! strings; times are Unix seconds. Every error answer is an [`ErrorBody`].
//!
//! A field documented with `value_type` carries a string of one of the [`grammar`](crate::grammar)
//! kinds (`Hash`, `Rev`, `PathName`, …); the OpenAPI document states its pattern.

use canopy::merge::tree::PathConflict;
use canopy::object::Signature as LibSignature;
use canopy::store::{CommitInfo, PathChange as LibPathChange, Side};
use serde::{Deserialize, Serialize};

#[cfg(feature = "openapi")]
use crate::grammar::{BranchName, Hash, Identity, Rev};
use crate::Content;

// ---- errors and health ----

/// What went wrong: a stable, machine-readable `code` and a one-line `message`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ErrorDetail {
    /// `bad_path`, `no_such_branch`, `conflict`, … (the document lists them per status).
    pub code: String,
    pub message: String,
}

/// Every error answer: `{"error": {"code", "message"}}`, with the conflicting paths on a 409
/// `conflict`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ErrorBody {
    pub error: ErrorDetail,
    /// The paths that could not be merged (409 `conflict` only).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conflicts: Vec<Conflict>,
}

/// A path that could not be merged, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Conflict {
    pub path: String,
    pub reason: String,
}

impl From<&PathConflict> for Conflict {
    fn from(c: &PathConflict) -> Conflict {
        Conflict {
            path: c.path.clone(),
            reason: c.reason.clone(),
        }
    }
}

/// `GET /healthz` when a write could proceed: `{"status": "ok"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Health {
    /// `ok`.
    pub status: String,
}

/// `GET /healthz` when writes cannot proceed (503).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Unhealthy {
    /// `unavailable`.
    pub status: String,
    /// `disk_full`, `read_only`, `objects_not_writable`, `refs_not_writable` or `branch_locked`.
    pub error: ErrorDetail,
}

// ---- branches ----

/// A branch and its head (`None`: the default branch of an empty store, not born yet).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct BranchInfo {
    #[cfg_attr(feature = "openapi", schema(value_type = BranchName))]
    pub name: String,
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Hash>))]
    pub head: Option<String>,
}

/// `POST /branches`: a new branch at `from` (default: the head of the default branch).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct CreateBranch {
    #[cfg_attr(feature = "openapi", schema(value_type = BranchName))]
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Rev>))]
    pub from: Option<String>,
}

// ---- values and trees ----

/// What a write of one value made: the new head (the head itself when nothing changed).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Written {
    #[cfg_attr(feature = "openapi", schema(value_type = Hash))]
    pub commit: String,
}

/// The kind of a tree entry: `value`, `tree` or `gitlink`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum EntryKind {
    Value,
    Tree,
    Gitlink,
}

impl From<canopy::tree::EntryKind> for EntryKind {
    fn from(kind: canopy::tree::EntryKind) -> EntryKind {
        match kind {
            canopy::tree::EntryKind::Value => EntryKind::Value,
            canopy::tree::EntryKind::Tree => EntryKind::Tree,
            canopy::tree::EntryKind::Gitlink => EntryKind::Gitlink,
        }
    }
}

impl EntryKind {
    /// `value`, `tree` or `gitlink`.
    pub fn name(kind: canopy::tree::EntryKind) -> String {
        EntryKind::from(kind).as_str().to_string()
    }

    pub fn as_str(self) -> &'static str {
        match self {
            EntryKind::Value => "value",
            EntryKind::Tree => "tree",
            EntryKind::Gitlink => "gitlink",
        }
    }
}

/// One entry of a tree listing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TreeEntry {
    /// The last step of `path`.
    pub name: String,
    /// The full path.
    pub path: String,
    /// `value`, `tree` or `gitlink`.
    #[cfg_attr(feature = "openapi", schema(value_type = EntryKind))]
    pub kind: String,
    /// The object id (`None` for an empty tree not written yet).
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Hash>))]
    pub hash: Option<String>,
    /// The Git mode (`100644`, `40000`, …).
    pub mode: String,
}

impl TreeEntry {
    /// An entry of the library's tree, named `name`, at `path`.
    pub fn new(path: String, name: String, e: &canopy::tree::Entry) -> TreeEntry {
        use canopy::tree::Entry;
        let (kind, hash, mode) = match e {
            Entry::Value { id, mode } => (EntryKind::Value, Some(*id), mode.display()),
            Entry::Tree(t) => (EntryKind::Tree, t.id(), "40000"),
            Entry::Gitlink(id) => (EntryKind::Gitlink, Some(*id), "160000"),
        };
        TreeEntry {
            name,
            path,
            kind: kind.as_str().to_string(),
            hash: hash.map(|h| h.to_hex()),
            mode: mode.to_string(),
        }
    }

    pub fn is_tree(&self) -> bool {
        self.kind == "tree"
    }
}

/// A tree listing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Tree {
    /// The commit listed (`None` for an unborn branch).
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Hash>))]
    pub commit: Option<String>,
    pub path: String,
    pub entries: Vec<TreeEntry>,
}

// ---- commits and history ----

/// Who made a commit, and when.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Signature {
    pub name: String,
    pub email: String,
    /// Seconds since the Unix epoch.
    pub time: i64,
    pub offset_minutes: i32,
}

impl From<&LibSignature> for Signature {
    fn from(s: &LibSignature) -> Signature {
        Signature {
            name: s.name.clone(),
            email: s.email.clone(),
            time: s.time,
            offset_minutes: s.offset_minutes,
        }
    }
}

/// A commit's metadata.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Commit {
    #[cfg_attr(feature = "openapi", schema(value_type = Hash))]
    pub id: String,
    #[cfg_attr(feature = "openapi", schema(value_type = Hash))]
    pub tree: String,
    #[cfg_attr(feature = "openapi", schema(value_type = Vec<Hash>))]
    pub parents: Vec<String>,
    pub author: Signature,
    pub committer: Signature,
    pub message: String,
    /// The first line of the message.
    pub summary: String,
}

impl From<&CommitInfo> for Commit {
    fn from(info: &CommitInfo) -> Commit {
        let c = &info.commit;
        Commit {
            id: info.id.to_hex(),
            tree: c.tree.to_hex(),
            parents: c.parents.iter().map(|p| p.to_hex()).collect(),
            author: (&c.author).into(),
            committer: (&c.committer).into(),
            message: String::from_utf8_lossy(&c.message).into_owned(),
            summary: info.summary(),
        }
    }
}

/// One side of a change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ChangeSide {
    #[cfg_attr(feature = "openapi", schema(value_type = Hash))]
    pub hash: String,
    pub mode: String,
}

impl From<&Side> for ChangeSide {
    fn from(s: &Side) -> ChangeSide {
        ChangeSide {
            hash: s.id.to_hex(),
            mode: s.mode.display().to_string(),
        }
    }
}

/// How a path changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum ChangeKind {
    Added,
    Removed,
    Changed,
}

/// A change's status letter, as `git diff --name-status` shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum ChangeStatus {
    A,
    D,
    M,
    T,
}

/// A path that changed between two commits.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PathChange {
    pub path: String,
    /// `added`, `removed` or `changed`.
    #[cfg_attr(feature = "openapi", schema(value_type = ChangeKind))]
    pub kind: String,
    /// `A`, `D`, `M`, `T`.
    #[cfg_attr(feature = "openapi", schema(value_type = ChangeStatus))]
    pub status: String,
    pub old: Option<ChangeSide>,
    pub new: Option<ChangeSide>,
    /// With `patch=true` (diffs only): whether a side is not text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub binary: Option<bool>,
    /// With `patch=true` (diffs only): the unified line diff (`@@` hunks); `null` for binary
    /// values, values over 1 MiB, or submodules.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "crate::nullable::deserialize"
    )]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    pub patch: Option<Option<String>>,
}

impl From<&LibPathChange> for PathChange {
    fn from(c: &LibPathChange) -> PathChange {
        PathChange {
            path: c.path.to_string(),
            kind: c.kind.as_str().to_string(),
            status: c.status_letter().to_string(),
            old: c.old.as_ref().map(ChangeSide::from),
            new: c.new.as_ref().map(ChangeSide::from),
            binary: None,
            patch: None,
        }
    }
}

/// The changes of a list of the library's changes.
pub fn changes(list: &[LibPathChange]) -> Vec<PathChange> {
    list.iter().map(PathChange::from).collect()
}

/// A commit with the paths it changed against its first parent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CommitDetails {
    #[serde(flatten)]
    pub commit: Commit,
    pub changes: Vec<PathChange>,
}

/// The changes between two commits, in path order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Diff {
    #[cfg_attr(feature = "openapi", schema(value_type = Hash))]
    pub from: String,
    #[cfg_attr(feature = "openapi", schema(value_type = Hash))]
    pub to: String,
    pub changes: Vec<PathChange>,
}

/// One change of a [`CommitRequest`]: exactly one of `value`, `value_base64` or
/// `delete: true`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChangeRequest {
    pub path: String,
    /// The new value as UTF-8 text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    /// The new value as base64 (any bytes).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value_base64: Option<String>,
    /// `true`: remove the value or directory at `path`.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub delete: bool,
}

impl ChangeRequest {
    /// Sets `path` to `bytes` (as text when they are UTF-8, else base64).
    pub fn set(path: impl Into<String>, bytes: &[u8]) -> ChangeRequest {
        let Content { value, value_base64 } = Content::of(bytes);
        ChangeRequest {
            path: path.into(),
            value,
            value_base64,
            delete: false,
        }
    }

    /// Removes what is at `path`.
    pub fn delete(path: impl Into<String>) -> ChangeRequest {
        ChangeRequest {
            path: path.into(),
            delete: true,
            ..ChangeRequest::default()
        }
    }
}

/// `POST /branches/{b}/commits`: several changes in one commit.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct CommitRequest {
    pub message: String,
    /// `Name <email>`; default: the store's identity.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Identity>))]
    pub author: Option<String>,
    /// The commit the changes were made against; if the branch has moved on since, they are
    /// merged onto its head with the per-path drivers (409 `parent_not_in_history` when it is
    /// not in the branch's history).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Rev>))]
    pub parent: Option<String>,
    #[cfg_attr(feature = "openapi", schema(value_type = Vec<ChangeRequest>))]
    pub changes: Vec<ChangeRequest>,
}

/// What `POST /branches/{b}/commits` made.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CommitResult {
    /// The new head of the branch.
    #[cfg_attr(feature = "openapi", schema(value_type = Hash))]
    pub commit: String,
    /// Whether the changes were merged onto a head that had moved past `parent`.
    pub merged: bool,
}

// ---- merges ----

/// Which side of a conflict to take as it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum Take {
    Base,
    Ours,
    Theirs,
}

/// How to settle one conflicting path: exactly one of `value`, `value_base64`,
/// `delete: true` or `take`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Resolution {
    pub path: String,
    /// The path's new value as UTF-8 text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    /// The path's new value as base64.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value_base64: Option<String>,
    /// `true`: nothing at the path.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub delete: bool,
    /// Take one side's entry as it is (a value, a directory or nothing).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub take: Option<Take>,
}

/// What one change of a commit, or one resolution of a merge, asks for at its path, once its
/// fields are checked: exactly one of them is given.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Wanted {
    /// This value (from `value` or `value_base64`).
    Set(Vec<u8>),
    /// No value (`"delete": true`).
    Delete,
    /// One side's value as it stands (`"take"`, resolutions only).
    Take(Take),
}

/// The one thing `fields` ask for; the error says which fields to give.
fn wanted(
    value: Option<String>,
    value_base64: Option<String>,
    delete: bool,
    take: Option<Take>,
    fields: &str,
) -> Result<Wanted, String> {
    let content = Content { value, value_base64 };
    let given = usize::from(content.value.is_some())
        + usize::from(content.value_base64.is_some())
        + usize::from(delete)
        + usize::from(take.is_some());
    match (given, delete, take) {
        (1, true, _) => Ok(Wanted::Delete),
        (1, _, Some(t)) => Ok(Wanted::Take(t)),
        (1, false, None) => content.bytes().map(Wanted::Set),
        _ => Err(format!("give exactly one of {fields}")),
    }
}

impl ChangeRequest {
    /// What this change asks for.
    pub fn wanted(self) -> Result<Wanted, String> {
        wanted(
            self.value,
            self.value_base64,
            self.delete,
            None,
            "'value', 'value_base64' or 'delete: true'",
        )
    }
}

impl Resolution {
    /// What this resolution asks for.
    pub fn wanted(self) -> Result<Wanted, String> {
        wanted(
            self.value,
            self.value_base64,
            self.delete,
            self.take,
            "'value', 'value_base64', 'delete: true' or 'take'",
        )
    }
}

/// `POST /branches/{b}/merge`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct MergeRequest {
    /// The branch or commit to merge in.
    #[cfg_attr(feature = "openapi", schema(value_type = Rev))]
    pub from: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Identity>))]
    pub author: Option<String>,
    /// Make a merge commit even when a fast-forward is possible.
    #[serde(default)]
    pub no_ff: bool,
    /// One per conflicting path (409 if one is missing, or names a path without conflict);
    /// the merge is then committed with them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[cfg_attr(feature = "openapi", schema(value_type = Vec<Resolution>))]
    pub resolutions: Vec<Resolution>,
}

/// What a merge did: `up_to_date`, `fast_forward` or `merged`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum MergeOutcome {
    UpToDate,
    FastForward,
    Merged,
}

impl MergeOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            MergeOutcome::UpToDate => "up_to_date",
            MergeOutcome::FastForward => "fast_forward",
            MergeOutcome::Merged => "merged",
        }
    }
}

/// What `POST /branches/{b}/merge` did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct MergeResult {
    /// The branch's head after the merge.
    #[cfg_attr(feature = "openapi", schema(value_type = Hash))]
    pub commit: String,
    /// `up_to_date`, `fast_forward` or `merged`.
    #[cfg_attr(feature = "openapi", schema(value_type = MergeOutcome))]
    pub outcome: String,
}

/// What a merge would do: `up_to_date`, `fast_forward`, `clean` or `conflicts`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum PreviewOutcome {
    UpToDate,
    FastForward,
    Clean,
    Conflicts,
}

/// What one side of a conflict holds: a directory, a submodule, or a value with its bytes
/// inline (as text when they are UTF-8, else base64) unless it is over 1 MiB.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ConflictSide {
    pub kind: EntryKind,
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Hash>))]
    pub hash: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<String>,
    /// The value's size in bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size: Option<u64>,
    #[serde(flatten)]
    pub content: Content,
}

/// A conflicting path with its three sides (`null`: nothing there).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PreviewConflict {
    pub path: String,
    pub reason: String,
    pub base: Option<ConflictSide>,
    pub ours: Option<ConflictSide>,
    pub theirs: Option<ConflictSide>,
}

/// `GET /branches/{b}/merge/preview`: what merging would do, writing nothing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct MergePreview {
    /// The branch head.
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Hash>))]
    pub ours: Option<String>,
    #[cfg_attr(feature = "openapi", schema(value_type = Hash))]
    pub theirs: String,
    pub outcome: PreviewOutcome,
    /// What the merge changes on the branch (conflicting paths as ours).
    pub changes: Vec<PathChange>,
    pub conflicts: Vec<PreviewConflict>,
}

// ---- structures ----

/// A counter's value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CounterValue {
    pub value: i64,
}

/// `POST /branches/{b}/counters/{path}`: `{"add": N}`, and the commit's message and author.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct CounterAdd {
    /// The amount to add (negative subtracts).
    #[serde(deserialize_with = "crate::whole::i64")]
    pub add: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Identity>))]
    pub author: Option<String>,
}

/// A counter's value in the commit an addition made.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CounterAdded {
    pub value: i64,
    #[cfg_attr(feature = "openapi", schema(value_type = Hash))]
    pub commit: String,
}

/// The body of a queue push or a log append: the JSON item, and the commit's message and
/// author.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ItemRequest {
    /// Any JSON value.
    #[cfg_attr(feature = "openapi", schema(value_type = Value))]
    pub item: serde_json::Value,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Identity>))]
    pub author: Option<String>,
}

/// The body of a queue pop (it may also be empty).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct PopRequest {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Identity>))]
    pub author: Option<String>,
}

/// A queue item and its key (its place in the queue).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct QueueItem {
    pub key: String,
    /// The item.
    #[cfg_attr(feature = "openapi", schema(value_type = Value))]
    pub value: serde_json::Value,
}

/// The key a push gave its item.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct QueueKey {
    pub key: String,
}

/// One pop of an item delivered more than once: the popping replica and the time.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Pop {
    pub replica: String,
    pub time: String,
}

/// An item that replicas apart from each other popped more than once.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DoubleDelivery {
    pub key: String,
    pub pops: Vec<Pop>,
}

/// A queue's items in order, and the items delivered twice.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Queue {
    pub items: Vec<QueueItem>,
    pub double_deliveries: Vec<DoubleDelivery>,
}

/// One log entry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct LogEntry {
    #[cfg_attr(feature = "openapi", schema(value_type = crate::grammar::LogCursor))]
    pub cursor: String,
    /// The append time, `YYYY-MM-DDTHH:MM:SS.ffffffZ`.
    pub time: String,
    /// The replica that appended it.
    pub replica: String,
    /// The entry.
    #[cfg_attr(feature = "openapi", schema(value_type = Value))]
    pub value: serde_json::Value,
}

/// A page of a log, newest first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct LogPage {
    pub entries: Vec<LogEntry>,
    /// Pass as `before=` for the next page; `null` at the oldest.
    #[cfg_attr(feature = "openapi", schema(value_type = Option<crate::grammar::LogCursor>))]
    pub next: Option<String>,
}

/// Where an appended entry went.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct LogAppended {
    #[cfg_attr(feature = "openapi", schema(value_type = crate::grammar::LogCursor))]
    pub cursor: String,
}

/// A new rope.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RopeCreated {
    pub length: u64,
    pub chunks: u64,
}

/// `POST /branches/{b}/ropes/{path}`: replace `delete` bytes at `offset` by `insert`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct SpliceRequest {
    #[serde(deserialize_with = "crate::whole::u64")]
    pub offset: u64,
    #[serde(default, deserialize_with = "crate::whole::u64")]
    pub delete: u64,
    #[serde(default)]
    pub insert: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Identity>))]
    pub author: Option<String>,
}

/// What a splice did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Spliced {
    /// The new head (`null` when the edit changed nothing).
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Hash>))]
    pub commit: Option<String>,
    pub length: u64,
    pub chunks_written: u64,
    pub chunks_removed: u64,
}

impl From<canopy::data::Item<serde_json::Value>> for QueueItem {
    fn from(i: canopy::data::Item<serde_json::Value>) -> QueueItem {
        QueueItem {
            key: i.key,
            value: i.value,
        }
    }
}

impl From<canopy::data::DoubleDelivery> for DoubleDelivery {
    fn from(d: canopy::data::DoubleDelivery) -> DoubleDelivery {
        DoubleDelivery {
            key: d.key,
            pops: d
                .pops
                .into_iter()
                .map(|(replica, time)| Pop { replica, time })
                .collect(),
        }
    }
}

impl From<canopy::data::LogEntry<serde_json::Value>> for LogEntry {
    fn from(e: canopy::data::LogEntry<serde_json::Value>) -> LogEntry {
        LogEntry {
            cursor: e.cursor.as_str().to_string(),
            time: e.time,
            replica: e.replica,
            value: e.value,
        }
    }
}

// ---- watches ----

/// The first event of a watch (`ready`): the branch and its head now.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct WatchReady {
    #[cfg_attr(feature = "openapi", schema(value_type = BranchName))]
    pub branch: String,
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Hash>))]
    pub head: Option<String>,
}

/// A `change` event: a commit that reached the watched branch, with the paths it changed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ChangeEvent {
    #[cfg_attr(feature = "openapi", schema(value_type = BranchName))]
    pub branch: String,
    #[serde(flatten)]
    pub commit: Commit,
    /// The paths it changed (below the watched path).
    pub changes: Vec<PathChange>,
    /// `true`: the commit to resume from was no longer in the branch's history (it was reset),
    /// and `changes` is the whole difference from it (`from`) to this head instead.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub reset: bool,
    /// With `reset`: the commit the changes start from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Hash>))]
    pub from: Option<String>,
}

/// A `deleted` event: the watched branch is gone.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct WatchDeleted {
    #[cfg_attr(feature = "openapi", schema(value_type = BranchName))]
    pub branch: String,
}

/// Schemas the derive cannot state: "exactly one of" for changes and resolutions.
#[cfg(feature = "openapi")]
mod one_of {
    use utoipa::openapi::schema::{ObjectBuilder, OneOfBuilder, Schema, Type};
    use utoipa::openapi::RefOr;
    use utoipa::{PartialSchema, ToSchema};

    use super::{ChangeRequest, Resolution, Take};
    use crate::grammar::{Base64, PathName};

    /// An object with `path` and exactly one of the `ways` (each a property name and schema):
    /// one branch per way, each with no other property.
    fn exactly_one(description: &str, ways: Vec<(&str, RefOr<Schema>)>) -> RefOr<Schema> {
        let mut one = OneOfBuilder::new();
        for (name, schema) in ways {
            one = one.item(
                ObjectBuilder::new()
                    .property("path", PathName::schema())
                    .required("path")
                    .property(name, schema)
                    .required(name)
                    .additional_properties(Some(utoipa::openapi::schema::AdditionalProperties::FreeForm(
                        false,
                    ))),
            );
        }
        one.description(Some(description)).into()
    }

    fn delete_true() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::Boolean)
            .enum_values(Some([true]))
            .into()
    }

    impl PartialSchema for ChangeRequest {
        fn schema() -> RefOr<Schema> {
            exactly_one(
                "A change: the path and exactly one of value (text), value_base64 or delete: true",
                vec![
                    ("value", String::schema()),
                    ("value_base64", Base64::schema()),
                    ("delete", delete_true()),
                ],
            )
        }
    }
    impl ToSchema for ChangeRequest {}

    impl PartialSchema for Resolution {
        fn schema() -> RefOr<Schema> {
            exactly_one(
                "How to settle a conflicting path: exactly one of value (text), value_base64, \
                 delete: true (nothing there) or take (that side's entry as it is)",
                vec![
                    ("value", String::schema()),
                    ("value_base64", Base64::schema()),
                    ("delete", delete_true()),
                    (
                        "take",
                        RefOr::Ref(utoipa::openapi::Ref::from_schema_name(Take::name())),
                    ),
                ],
            )
        }
    }
    impl ToSchema for Resolution {
        fn schemas(schemas: &mut Vec<(String, RefOr<Schema>)>) {
            schemas.push((Take::name().into(), Take::schema()));
        }
    }
}
