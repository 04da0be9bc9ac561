//! The API users meet: a [`Repo`] holds branches; a [`Branch`] reads and writes values by path,
//! every write a commit; a [`View`] is a read-only snapshot at one commit.
//!
//! Branches move only by compare-and-swap on their reference. A write that loses the race to
//! another writer (thread or process) re-applies its changes on the new head and tries again, a
//! bounded number of times, so concurrent writers never lose an update.
//! Everything here is synchronous and `Send + Sync`.

mod bisect;
mod blame;
mod branch;
mod date;
mod diff;
mod health;
mod history;
mod identity;
mod import;
mod lane;
mod merge;
mod patch;
mod rename;
mod repo;
mod rev;
mod squash;
mod undo;
pub(crate) mod view;
mod watch;

pub use bisect::{Bisect, BisectOutcome, BisectStep, Next as BisectNext, Verdict};
pub use blame::BlameLine;
pub(crate) use branch::again_or_give_up;
pub use branch::{Branch, Change, TestAndSet, Transaction};
pub use date::parse_git_date;
pub use diff::{diff_trees, ChangeKind, PathChange, Side};
pub use health::NotWritable;
pub use history::{CommitInfo, History};
pub use identity::{local_offset_minutes, Role, FALLBACK_EMAIL, FALLBACK_NAME};
pub use import::{export, Exported, ImportMode, ImportOutcome, Importer};
pub use merge::{Favor, MergeOptions, MergeOutcome, MergeSides};
pub use patch::{is_binary, line_hunks, split_lines, unified_diff, LineHunk};
pub use rename::{detect_renames, RenamePair};
pub use repo::{CommitOptions, InitOptions, Repo};
pub use squash::{SquashOutcome, SQUASH_REF};
pub use undo::RevertOutcome;
pub use view::View;
pub use watch::{Watch, WatchEvent, WatchOptions};

use crate::backend;
use crate::object::{ObjectError, ObjectId};
use crate::path::{Path, PathError};
use crate::tree;

/// Errors from the store. [`Error::is_user_error`] separates bad input from store failures.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Backend(#[from] backend::Error),
    #[error(transparent)]
    Tree(#[from] tree::Error),
    #[error(transparent)]
    Path(#[from] PathError),
    #[error("invalid revision '{rev}': {reason}")]
    InvalidRev { rev: String, reason: String },
    #[error("invalid branch name '{0}'")]
    InvalidBranchName(String),
    #[error("branch '{0}' already exists")]
    BranchExists(String),
    #[error("branch '{0}' does not exist")]
    NoSuchBranch(String),
    #[error("'{path}' is not a value")]
    NotAValue { path: Path },
    /// A gitlink (tree entry mode 160000): a submodule's commit, whose content lives in another
    /// repository.
    #[error("'{path}' is a submodule (gitlink) at commit {commit}, not a value")]
    Submodule { path: Path, commit: ObjectId },
    #[error("'{path}' is a value, not a directory")]
    NotADirectory { path: Path },
    #[error("invalid identity '{0}': expected 'Name <email>'")]
    InvalidIdentity(String),
    #[error("invalid date '{0}'")]
    InvalidDate(String),
    #[error("branch '{branch}' kept moving: gave up after {attempts} attempts to commit")]
    TooManyRetries { branch: String, attempts: u32 },
    #[error("value at '{path}' is not valid JSON for this type: {source}")]
    Decode {
        path: Path,
        #[source]
        source: serde_json::Error,
    },
    #[error("cannot encode value for '{path}': {source}")]
    Encode {
        path: Path,
        #[source]
        source: serde_json::Error,
    },
    #[error("value at '{path}' is not a {type_name}: {reason}")]
    InvalidValue {
        path: Path,
        type_name: &'static str,
        reason: String,
    },
    #[error("'{path}' does not hold the expected value")]
    ExpectationFailed { path: Path },
    #[error("merge conflict on branch '{branch}': {}", conflicts.iter().map(|c| format!("{} ({})", c.path, c.reason)).collect::<Vec<_>>().join(", "))]
    Conflicts {
        branch: String,
        conflicts: Vec<crate::merge::tree::PathConflict>,
    },
    #[error("object {0} is not a commit")]
    NotACommit(ObjectId),
    /// A byte range beyond the end of a sequence (a [`crate::data::Rope`]).
    #[error("'{path}': range {start}..{end} is outside its {len} bytes")]
    OutOfRange {
        path: Path,
        start: u64,
        end: u64,
        len: u64,
    },
}

impl From<ObjectError> for Error {
    fn from(e: ObjectError) -> Error {
        Error::Backend(backend::Error::Malformed(e))
    }
}

impl Error {
    /// Whether the error comes from what the caller asked (a bad path, revision, name or
    /// identity), as opposed to a failure of the store (I/O, corruption).
    pub fn is_user_error(&self) -> bool {
        matches!(
            self,
            Error::Path(_)
                | Error::InvalidRev { .. }
                | Error::InvalidBranchName(_)
                | Error::BranchExists(_)
                | Error::NoSuchBranch(_)
                | Error::NotAValue { .. }
                | Error::Submodule { .. }
                | Error::NotADirectory { .. }
                | Error::InvalidIdentity(_)
                | Error::InvalidDate(_)
                | Error::NotACommit(_)
                | Error::OutOfRange { .. }
                | Error::ExpectationFailed { .. }
                | Error::Decode { .. }
                | Error::InvalidValue { .. }
                | Error::Encode { .. }
                | Error::Tree(tree::Error::NotADirectory { .. })
                | Error::Backend(backend::Error::NotARepository(_) | backend::Error::InvalidRefName(_))
        )
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
