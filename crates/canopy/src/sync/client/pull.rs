//! Pull, push of a branch, and sync, as `canopy pull/push/sync` run them, for any caller.
//!
//! - [`pull`]: fetch the branch's remote, adopt a squash the remote made, then merge the
//!   remote-tracking branch into the branch with its merge drivers (in a shallow replica, a
//!   fast-forward is decided from the history it has). A conflict changes nothing and is
//!   returned in the outcome.
//! - [`push_branch`]: push one branch to the same name on its remote.
//! - [`sync`]: pull, then push; when another node pushed in between (the push is refused as
//!   stale), pull and push again, with the crate's one retry policy ([`crate::retry`]).
//! - [`with_missing`]: run a read or a merge in a partial clone, fetching the values it needs
//!   that were left out.

use super::{
    fetch, fetch_missing, open_remote, push, remote, Direction, FetchOptions, FetchOutcome, Progress,
};
use super::{PushSpec, RefResult};
use crate::backend::{Error as BackendError, Expected, RefLog};
use crate::retry::Retry;
use crate::store::{Branch, CommitOptions, Error as StoreError, MergeOptions, MergeOutcome, SquashOutcome};
use crate::sync::{shallow, Error, Result};
use crate::Repo;

/// How many times [`sync`] pulls and pushes again while the remote keeps moving.
pub const SYNC_ATTEMPTS: u32 = 10;

/// How to pull (and sync).
#[derive(Default)]
pub struct PullOptions<'a> {
    /// The remote; default `branch.<name>.remote` from the configuration, else `origin`.
    pub remote: Option<String>,
    /// The remote's progress messages, as they arrive.
    pub progress: Option<Progress<'a>>,
}

/// What a pull did.
#[derive(Debug, Clone)]
pub struct PullOutcome {
    /// The remote pulled from.
    pub remote: String,
    pub fetched: FetchOutcome,
    /// The remote's squash, adopted here before merging.
    pub squash: Option<SquashOutcome>,
    /// The merge of the remote branch into the local one ([`MergeOutcome::Conflicts`]: the
    /// branch is unchanged).
    pub merge: MergeOutcome,
}

/// What a sync did.
#[derive(Debug, Clone)]
pub struct SyncOutcome {
    /// Every pull, in order (more than one when the remote moved during a push).
    pub pulls: Vec<PullOutcome>,
    /// The last push: (remote reference, result). `None` when the last pull had conflicts.
    pub push: Option<(String, RefResult)>,
}

impl SyncOutcome {
    /// The last pull.
    pub fn pull(&self) -> &PullOutcome {
        self.pulls.last().expect("a sync pulls at least once")
    }

    /// Whether the branch and its remote now agree.
    pub fn in_sync(&self) -> bool {
        matches!(self.push, Some((_, RefResult::Ok { .. } | RefResult::UpToDate)))
    }
}

/// The remote of `branch`: `given`, else `branch.<branch>.remote`, else `origin`.
pub fn remote_for(repo: &Repo, branch: &str, given: Option<&str>) -> Result<String> {
    if let Some(g) = given {
        return Ok(g.to_string());
    }
    let config = remote::load_config(repo)?;
    Ok(config
        .get(&format!("branch.{branch}.remote"))
        .unwrap_or("origin")
        .to_string())
}

/// Fetches the remote of `branch`, then merges its remote-tracking branch into `branch`.
pub fn pull(repo: &Repo, branch: &Branch, opts: &mut PullOptions<'_>) -> Result<PullOutcome> {
    let name = remote_for(repo, branch.name(), opts.remote.as_deref())?;
    let fetched = {
        let mut fetch_opts = FetchOptions {
            progress: opts.progress.as_mut().map(|p| &mut **p as &mut dyn FnMut(&str)),
            ..FetchOptions::default()
        };
        fetch(repo, &name, &mut fetch_opts)?
    };
    // A remote that squashed its history: squash here at the same point first, so that this
    // branch continues on the same (identical) squashed history.
    let squash = super::adopt_remote_squash(repo, &name)?;
    let merge = merge_tracking(repo, branch, &name)?;
    Ok(PullOutcome {
        remote: name,
        fetched,
        squash,
        merge,
    })
}

fn merge_tracking(repo: &Repo, branch: &Branch, remote: &str) -> Result<MergeOutcome> {
    let tracking = format!("refs/remotes/{remote}/{}", branch.name());
    let Some(theirs) = repo.refs().resolve(&tracking)? else {
        let head = branch.head()?.unwrap_or(repo.hash_kind().null_id());
        return Ok(MergeOutcome::UpToDate(head));
    };
    // A shallow replica cannot walk below its boundary: decide fast-forwards from the history
    // it has (the merge-base search of a real merge needs that history too).
    if !shallow::read(repo)?.is_empty() {
        if let Some(head) = branch.head()? {
            if head == theirs || shallow::is_ancestor(repo, theirs, head)? {
                return Ok(MergeOutcome::UpToDate(head));
            }
            if shallow::is_ancestor(repo, head, theirs)? {
                let log = RefLog {
                    who: repo.default_signature(),
                    message: format!("pull: fast-forward to {theirs}"),
                };
                let moved =
                    repo.refs()
                        .update(branch.ref_name(), Expected::Value(head), Some(theirs), &log)?;
                if moved {
                    return Ok(MergeOutcome::FastForward(theirs));
                }
            }
        }
    }
    let opts = MergeOptions {
        commit: CommitOptions::message(format!(
            "Merge remote-tracking branch '{remote}/{}'",
            branch.name()
        )),
        ..MergeOptions::default()
    };
    with_missing(repo, || branch.merge(theirs, &opts))
}

/// Pushes `branch` to the branch of the same name on its remote (`remote`, else its
/// configured one); `force` allows a non-fast-forward update, `options` are push options (e.g.
/// `merge`, which asks a Canopy server to merge a stale push with its drivers).
pub fn push_branch(
    repo: &Repo,
    branch: &Branch,
    remote: Option<&str>,
    force: bool,
    options: &[String],
    progress: Option<Progress<'_>>,
) -> Result<(String, RefResult)> {
    let name = remote_for(repo, branch.name(), remote)?;
    let Some(head) = branch.head()? else {
        return Err(Error::Refused(format!(
            "branch '{}' has no commits to push",
            branch.name()
        )));
    };
    let mut transport = open_remote(repo, &name, Direction::Push)?;
    let spec = PushSpec {
        new: Some(head),
        remote_ref: format!("refs/heads/{}", branch.name()),
        force,
    };
    let outcome = push(repo, transport.as_mut(), &[spec], options, Some(&name), progress)?;
    outcome
        .refs
        .into_iter()
        .next()
        .ok_or_else(|| Error::Refused("nothing to push".into()))
}

/// Pulls, then pushes `branch`; while the push is refused because the remote moved meanwhile,
/// pulls and pushes again ([`SYNC_ATTEMPTS`] in all). Stops at a pull with conflicts.
pub fn sync(repo: &Repo, branch: &Branch, opts: &mut PullOptions<'_>) -> Result<SyncOutcome> {
    let mut outcome = SyncOutcome {
        pulls: Vec::new(),
        push: None,
    };
    let mut retry = Retry::attempts(SYNC_ATTEMPTS);
    loop {
        let pulled = pull(repo, branch, opts)?;
        let remote = pulled.remote.clone();
        let conflicts = matches!(pulled.merge, MergeOutcome::Conflicts(_));
        outcome.pulls.push(pulled);
        if conflicts {
            outcome.push = None;
            return Ok(outcome);
        }
        let progress = opts.progress.as_mut().map(|p| &mut **p as &mut dyn FnMut(&str));
        let pushed = push_branch(repo, branch, Some(&remote), false, &[], progress)?;
        let stale = is_stale(&pushed.1);
        outcome.push = Some(pushed);
        if !stale || !retry.again() {
            return Ok(outcome);
        }
    }
}

/// Whether a push was refused only because the remote branch moved since the last fetch.
fn is_stale(result: &RefResult) -> bool {
    match result {
        RefResult::RejectedLocally(m) => m == "fetch first" || m == "non-fast-forward",
        RefResult::Rejected(m) => {
            m.contains("incorrect old value") || m.contains("non-fast-forward") || m.contains("fetch first")
        }
        _ => false,
    }
}

/// Runs `f`; in a partial clone, a value it needs that was left out is fetched from the
/// promisor remote and `f` runs again (a merge reads the base and both sides of each path both
/// changed). `f` must change nothing when it fails, so that repeating it is safe.
pub fn with_missing<T>(repo: &Repo, mut f: impl FnMut() -> crate::store::Result<T>) -> Result<T> {
    const MAX_FETCHES: usize = 10_000;
    let mut partial: Option<bool> = None;
    for _ in 0..MAX_FETCHES {
        let id = match f() {
            Err(StoreError::Backend(BackendError::MissingObject { id }))
            | Err(StoreError::Tree(crate::tree::Error::Backend(BackendError::MissingObject { id }))) => id,
            other => return Ok(other?),
        };
        let is_partial = match partial {
            Some(p) => p,
            None => *partial.insert(remote::promisor(repo)?.is_some()),
        };
        if !is_partial || fetch_missing(repo, &[id])? == 0 {
            return Err(StoreError::Backend(BackendError::MissingObject { id }).into());
        }
    }
    Err(Error::Refused(
        "too many values had to be fetched one by one; fetch them with a full clone".into(),
    ))
}
