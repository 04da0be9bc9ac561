//! The JSON shapes of the REST API, as Rust types: what the server answers, and the options
//! and bodies of requests.

use serde::{Deserialize, Serialize};

/// A branch and its head (`None`: the default branch of an empty store, not born yet).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct BranchInfo {
    pub name: String,
    pub head: Option<String>,
}

/// A value read with [`Client::get`](crate::Client::get).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Value {
    /// The raw bytes.
    pub bytes: Vec<u8>,
    /// The commit it was read at (`X-Canopy-Commit`); use it as `if_match` to write back
    /// only if nothing moved in between.
    pub commit: Option<String>,
    /// The value's hash (the `ETag`, unquoted).
    pub hash: Option<String>,
}

impl Value {
    /// The bytes as UTF-8 text, if they are.
    pub fn as_str(&self) -> Option<&str> {
        std::str::from_utf8(&self.bytes).ok()
    }
}

/// How to write a value ([`Client::put_with`](crate::Client::put_with),
/// [`Client::delete_with`](crate::Client::delete_with)).
#[derive(Debug, Clone, Default)]
pub struct WriteOptions {
    /// The commit message (default: `set PATH` / `remove PATH`).
    pub message: Option<String>,
    /// The author, `Name <email>` (default: the server store's identity).
    pub author: Option<String>,
    /// Test-and-set: write only if the branch head still is this commit (`If-Match`);
    /// otherwise [`Error::PreconditionFailed`](crate::Error::PreconditionFailed) and nothing
    /// is written.
    pub if_match: Option<String>,
    /// Create only: write only if the path holds no value now (`If-None-Match: *`; puts only).
    pub if_absent: bool,
}

impl WriteOptions {
    /// Options with a commit message.
    pub fn message(message: impl Into<String>) -> WriteOptions {
        WriteOptions {
            message: Some(message.into()),
            ..WriteOptions::default()
        }
    }

    /// Adds a test-and-set on the branch head.
    pub fn if_match(mut self, commit: impl Into<String>) -> WriteOptions {
        self.if_match = Some(commit.into());
        self
    }
}

/// One entry of a tree listing.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct TreeEntry {
    /// The last step of `path`.
    pub name: String,
    /// The full path.
    pub path: String,
    /// `value`, `tree` or `gitlink`.
    pub kind: String,
    /// The object id (`None` for an empty tree not written yet).
    pub hash: Option<String>,
    /// The Git mode (`100644`, `40000`, …).
    pub mode: String,
}

impl TreeEntry {
    pub fn is_tree(&self) -> bool {
        self.kind == "tree"
    }
}

/// A tree listing ([`Client::tree`](crate::Client::tree)).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Tree {
    /// The commit listed (`None` for an unborn branch).
    pub commit: Option<String>,
    pub path: String,
    pub entries: Vec<TreeEntry>,
}

/// Options of [`Client::tree`](crate::Client::tree).
#[derive(Debug, Clone, Default)]
pub struct TreeOptions {
    /// Every value and directory below, not only the direct children.
    pub recursive: bool,
    /// List at this revision instead of the branch head.
    pub at: Option<String>,
}

/// Who made a commit, and when.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Signature {
    pub name: String,
    pub email: String,
    /// Seconds since the Unix epoch.
    pub time: i64,
    pub offset_minutes: i32,
}

/// A commit's metadata.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Commit {
    pub id: String,
    pub tree: String,
    pub parents: Vec<String>,
    pub author: Signature,
    pub committer: Signature,
    pub message: String,
    /// The first line of the message.
    pub summary: String,
}

/// One side of a change.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct ChangeSide {
    pub hash: String,
    pub mode: String,
}

/// A path that changed between two commits.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct PathChange {
    pub path: String,
    /// `added`, `removed`, `modified`, …
    pub kind: String,
    /// `A`, `D`, `M`, `T`.
    pub status: String,
    pub old: Option<ChangeSide>,
    pub new: Option<ChangeSide>,
}

/// A commit with the paths it changed against its first parent
/// ([`Client::commit_info`](crate::Client::commit_info)).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct CommitDetails {
    #[serde(flatten)]
    pub commit: Commit,
    pub changes: Vec<PathChange>,
}

/// The changes between two commits ([`Client::diff`](crate::Client::diff)).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Diff {
    pub from: String,
    pub to: String,
    pub changes: Vec<PathChange>,
}

/// Options of [`Client::log`](crate::Client::log).
#[derive(Debug, Clone, Default)]
pub struct LogOptions {
    /// At most this many commits (the server's default is 100).
    pub limit: Option<usize>,
    /// Only commits that changed this path.
    pub path: Option<String>,
}

/// One change of a [`CommitRequest`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// Set the value at a path (sent as text when it is UTF-8, else as base64).
    Set { path: String, value: Vec<u8> },
    /// Remove the value or directory at a path.
    Delete { path: String },
}

impl Change {
    pub fn set(path: impl Into<String>, value: impl Into<Vec<u8>>) -> Change {
        Change::Set {
            path: path.into(),
            value: value.into(),
        }
    }

    pub fn delete(path: impl Into<String>) -> Change {
        Change::Delete { path: path.into() }
    }

    pub fn path(&self) -> &str {
        match self {
            Change::Set { path, .. } | Change::Delete { path } => path,
        }
    }
}

/// Several changes in one commit ([`Client::commit`](crate::Client::commit)).
#[derive(Debug, Clone, Default)]
pub struct CommitRequest {
    pub message: String,
    /// `Name <email>` (default: the server store's identity).
    pub author: Option<String>,
    /// The commit the changes were made against: if the branch has moved on since, the server
    /// merges them onto its head, or answers [`Error::Conflict`](crate::Error::Conflict) with
    /// the paths it could not merge.
    pub parent: Option<String>,
    pub changes: Vec<Change>,
}

impl CommitRequest {
    pub fn new(message: impl Into<String>) -> CommitRequest {
        CommitRequest {
            message: message.into(),
            ..CommitRequest::default()
        }
    }

    pub fn parent(mut self, commit: impl Into<String>) -> CommitRequest {
        self.parent = Some(commit.into());
        self
    }

    pub fn set(mut self, path: impl Into<String>, value: impl Into<Vec<u8>>) -> CommitRequest {
        self.changes.push(Change::set(path, value));
        self
    }

    pub fn delete(mut self, path: impl Into<String>) -> CommitRequest {
        self.changes.push(Change::delete(path));
        self
    }

    pub(crate) fn to_json(&self) -> serde_json::Value {
        use base64::Engine;
        let changes: Vec<serde_json::Value> = self
            .changes
            .iter()
            .map(|c| match c {
                Change::Set { path, value } => match std::str::from_utf8(value) {
                    Ok(text) => serde_json::json!({ "path": path, "value": text }),
                    Err(_) => serde_json::json!({
                        "path": path,
                        "value_base64": base64::engine::general_purpose::STANDARD.encode(value),
                    }),
                },
                Change::Delete { path } => serde_json::json!({ "path": path, "delete": true }),
            })
            .collect();
        let mut body = serde_json::json!({ "message": self.message, "changes": changes });
        if let Some(a) = &self.author {
            body["author"] = a.clone().into();
        }
        if let Some(p) = &self.parent {
            body["parent"] = p.clone().into();
        }
        body
    }
}

/// What a [`Client::commit`](crate::Client::commit) made.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct CommitResult {
    /// The new head of the branch.
    pub commit: String,
    /// Whether the changes were merged onto a head that had moved past `parent`.
    pub merged: bool,
}

/// Options of [`Client::merge`](crate::Client::merge).
#[derive(Debug, Clone, Default, Serialize)]
pub struct MergeOptions {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub author: Option<String>,
    /// Make a merge commit even when a fast-forward is possible.
    pub no_ff: bool,
}

/// What a [`Client::merge`](crate::Client::merge) did.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct MergeResult {
    /// The branch's head after the merge.
    pub commit: String,
    /// `up_to_date`, `fast_forward` or `merged`.
    pub outcome: String,
}
