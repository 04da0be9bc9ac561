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

/// One value path of `canopy tree --json`; `commit` for a submodule whose commit is known.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PathEntry {
    pub path: String,
    /// `value`, `tree` or `gitlink`.
    pub kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub commit: Option<String>,
}

/// `canopy log --count --json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CommitCount {
    /// How many commits `canopy log` would list with the same arguments.
    pub count: usize,
}

/// `canopy init --json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Initialized {
    pub path: String,
    /// `sha1` or `sha256`.
    pub object_format: String,
}

/// `canopy test-and-set --json` when the value found was not the one expected (exit 1).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TestAndSetLost {
    /// Always `false`.
    pub committed: bool,
    /// The value found: text, or base64 when it is not UTF-8; `null` when the path is absent.
    pub current: Option<String>,
}

/// `canopy branch NAME --json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BranchCreated {
    pub name: String,
    pub head: String,
}

/// `canopy reset --json`: the branch's head before and after.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reset {
    pub old: Option<String>,
    pub new: String,
}

/// One entry of `canopy reflog --json`, newest first (`index` 0).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReflogEntry {
    pub index: usize,
    pub old: Option<String>,
    pub new: Option<String>,
    pub who: Signature,
    pub message: String,
}

/// One test run of `canopy bisect run`: `verdict` is `good`, `bad`, `skip` or `abort`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BisectStep {
    pub commit: String,
    pub verdict: String,
    pub exit_code: Option<i32>,
}

/// `canopy bisect run --json`: the first bad commit when one was found, else the candidates.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Bisected {
    pub first_bad: Option<String>,
    pub candidates: Vec<String>,
    pub runs: usize,
    pub steps: Vec<BisectStep>,
}

/// One line of `canopy blame --json` (`line` and `original_line` count from 1).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlameLine {
    pub line: usize,
    pub commit: String,
    pub original_line: usize,
    pub path: String,
    pub author: Option<Signature>,
    #[serde(flatten)]
    pub content: Content,
}

/// What `canopy merge` and `canopy pull` did: `outcome` is `up-to-date`, `fast-forward` or
/// `merged`, `commit` the branch's head after it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Merged {
    pub outcome: String,
    pub commit: String,
}

/// `canopy merge` or `pull` that stopped on conflicts (exit 1, nothing changed); `outcome`
/// is `conflict`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MergeConflicts {
    pub outcome: String,
    pub conflicts: Vec<api::Conflict>,
}

impl MergeConflicts {
    pub fn of(conflicts: &[canopy::merge::tree::PathConflict]) -> MergeConflicts {
        MergeConflicts {
            outcome: "conflict".into(),
            conflicts: conflicts.iter().map(api::Conflict::from).collect(),
        }
    }
}

/// `canopy clone --json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cloned {
    pub dir: String,
    pub branch: String,
    pub head: Option<String>,
}

/// One remote of `canopy remote list --json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RemoteListed {
    pub name: String,
    pub url: String,
}

/// A reference a fetch moved.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RefUpdate {
    #[serde(rename = "ref")]
    pub reference: String,
    pub old: Option<String>,
    pub new: String,
}

/// `canopy fetch --json`: the objects received and the references moved.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Fetched {
    pub objects: usize,
    pub updated: Vec<RefUpdate>,
}

/// `canopy push --json`: `status` is `ok`, `up-to-date`, `rejected` (refused here) or
/// `remote-rejected`, with the reason for a refusal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pushed {
    #[serde(rename = "ref")]
    pub reference: String,
    pub status: String,
    pub reason: Option<String>,
}

/// `canopy sync --json` once the branch and its remote agree; `status` is `synced`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Synced {
    pub status: String,
    pub head: Option<String>,
}

/// `canopy import --json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Imported {
    pub commit: String,
    /// Whether a commit was made (false when nothing changed).
    pub committed: bool,
    pub paths: usize,
    pub trees: usize,
}

/// `canopy token create --json`: the secret, shown this once.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenCreated {
    pub name: String,
    pub token: String,
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
