//! The JSON shapes of the REST API, as Rust types: what the server answers, and the options
//! and bodies of requests.

use serde::Serialize;

pub use canopy_wire::api::{
    BranchInfo, ChangeSide, Commit, CommitDetails, CommitResult, Diff, MergeResult, PathChange, Signature,
    Tree, TreeEntry,
};

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

/// Options of [`Client::tree`](crate::Client::tree).
#[derive(Debug, Clone, Default)]
pub struct TreeOptions {
    /// Every value and directory below, not only the direct children.
    pub recursive: bool,
    /// List at this revision instead of the branch head.
    pub at: Option<String>,
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
        let body = canopy_wire::api::CommitRequest {
            message: self.message.clone(),
            author: self.author.clone(),
            parent: self.parent.clone(),
            changes: self
                .changes
                .iter()
                .map(|c| match c {
                    Change::Set { path, value } => canopy_wire::api::ChangeRequest::set(path.clone(), value),
                    Change::Delete { path } => canopy_wire::api::ChangeRequest::delete(path.clone()),
                })
                .collect(),
        };
        serde_json::to_value(body).unwrap_or_default()
    }
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
