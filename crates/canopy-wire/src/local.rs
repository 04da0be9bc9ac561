//! What `canopy … --json` prints, where it is not an [`api`](crate::api) shape. These forms
//! came before the REST API and scripts rely on them, so they keep their own names: a
//! signature has a Git `zone` (`+0530`) where the API has `offset_minutes`, a change its
//! `change` kind and flat `old`/`new` ids with `old_mode`/`new_mode`. The same command prints
//! the same shape whether it acts on a local store or, with `--remote`, on a server.

use canopy::object::Signature as LibSignature;
use canopy::store::{CommitInfo, PathChange as LibPathChange};
use serde::{Deserialize, Serialize};

use crate::{api, Content};

/// Who made a commit, and when, with the zone as Git writes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Signature {
    pub name: String,
    pub email: String,
    /// Seconds since the Unix epoch.
    pub time: i64,
    /// `+0100`, `-0530`.
    pub zone: String,
}

/// `+HHMM` / `-HHMM` for an offset in minutes.
pub fn zone(offset_minutes: i32) -> String {
    let sign = if offset_minutes < 0 { '-' } else { '+' };
    let m = offset_minutes.unsigned_abs();
    format!("{sign}{:02}{:02}", m / 60, m % 60)
}

impl From<&LibSignature> for Signature {
    fn from(s: &LibSignature) -> Signature {
        Signature::from(&api::Signature::from(s))
    }
}

impl From<&api::Signature> for Signature {
    fn from(s: &api::Signature) -> Signature {
        Signature {
            name: s.name.clone(),
            email: s.email.clone(),
            time: s.time,
            zone: zone(s.offset_minutes),
        }
    }
}

/// A commit as `canopy log --json` prints it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Commit {
    pub id: String,
    pub parents: Vec<String>,
    pub tree: String,
    pub author: Signature,
    pub committer: Signature,
    pub summary: String,
    pub message: String,
}

impl From<&api::Commit> for Commit {
    fn from(c: &api::Commit) -> Commit {
        Commit {
            id: c.id.clone(),
            parents: c.parents.clone(),
            tree: c.tree.clone(),
            author: (&c.author).into(),
            committer: (&c.committer).into(),
            summary: c.summary.clone(),
            message: c.message.clone(),
        }
    }
}

impl From<&CommitInfo> for Commit {
    fn from(info: &CommitInfo) -> Commit {
        Commit::from(&api::Commit::from(info))
    }
}

/// `canopy show --json`: a commit and the paths it changed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CommitWithChanges {
    #[serde(flatten)]
    pub commit: Commit,
    pub changes: Vec<Change>,
}

/// A changed path as `canopy diff --json`, `show --json` and `watch --json` print it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Change {
    pub path: String,
    /// `added`, `removed`, `changed`.
    pub change: String,
    /// `A`, `D`, `M`, `T`.
    pub status: String,
    pub old: Option<String>,
    pub new: Option<String>,
    pub old_mode: Option<String>,
    pub new_mode: Option<String>,
    /// With `--patch`: the unified diff, `null` when there is none to show.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "crate::nullable::deserialize"
    )]
    pub patch: Option<Option<String>>,
}

impl From<&LibPathChange> for Change {
    fn from(c: &LibPathChange) -> Change {
        Change {
            path: c.path.to_string(),
            change: c.kind.as_str().to_string(),
            status: c.status_letter().to_string(),
            old: c.old.map(|s| s.id.to_hex()),
            new: c.new.map(|s| s.id.to_hex()),
            old_mode: c.old.map(|s| s.mode.display().to_string()),
            new_mode: c.new.map(|s| s.mode.display().to_string()),
            patch: None,
        }
    }
}

/// `canopy watch --json`: one line per new head.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HeadMoved {
    pub old: Option<String>,
    pub new: Option<String>,
    pub changes: Vec<Change>,
}

/// `canopy get --json`: the value at a path, and the commit it was read at.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ValueAt {
    pub path: String,
    #[serde(flatten)]
    pub content: Content,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub commit: Option<String>,
}

/// One entry of `canopy list --json`; `commit` for a submodule whose commit is known.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ListEntry {
    pub name: String,
    /// `value`, `tree` or `gitlink`.
    pub kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub commit: Option<String>,
}

/// One branch of `canopy branch --json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BranchListed {
    pub name: String,
    pub head: String,
    /// Whether it is the branch commands act on.
    pub current: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zones_are_written_as_git_does() {
        assert_eq!(zone(0), "+0000");
        assert_eq!(zone(330), "+0530");
        assert_eq!(zone(-90), "-0130");
    }

    #[test]
    fn a_patch_is_absent_unless_asked_and_null_when_there_is_none() {
        let mut c = Change {
            path: "a".into(),
            change: "added".into(),
            status: "A".into(),
            old: None,
            new: Some("x".into()),
            old_mode: None,
            new_mode: Some("100644".into()),
            patch: None,
        };
        let v = serde_json::to_value(&c).unwrap();
        assert!(v.get("patch").is_none());
        c.patch = Some(None);
        let v = serde_json::to_value(&c).unwrap();
        assert!(v["patch"].is_null() && v.get("patch").is_some());
        assert_eq!(serde_json::from_value::<Change>(v).unwrap().patch, Some(None));
    }
}
