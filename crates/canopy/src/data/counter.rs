//! A counter that merges by adding: increments made on different replicas all count.

use crate::object::ObjectId;
use crate::path::Path;
use crate::store::{Branch, CommitOptions, Error, Result};

/// A 64-bit integer counter at a path of a branch, stored as its decimal text and a newline
/// (`git show` shows the number), merged by the `counter` driver: both sides' increments are
/// added, `10 → 15` here and `10 → 13` there give `18`, and `10 → 11` on both sides gives `12`
/// (equal increments on two replicas are two increments). An absent counter reads as 0.
///
/// ```
/// use canopy::{data::Counter, HashKind, Path, Repo};
/// use canopy::store::{CommitOptions, MergeOptions};
///
/// let repo = Repo::in_memory(HashKind::Sha1);
/// let main = repo.branch("main")?;
/// let hits = Counter::open(main.clone(), Path::parse("stats/hits")?);
/// hits.add(10)?;
/// let other = repo.create_branch("other", main.head()?.unwrap())?;
/// hits.add(1)?;
/// Counter::open(other.clone(), Path::parse("stats/hits")?)
///     .with_commit(CommitOptions::message("one visit there"))
///     .add(1)?;
/// main.merge(other.head()?.unwrap(), &MergeOptions::default())?;
/// assert_eq!(hits.get()?, 12);
/// # Ok::<(), canopy::store::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct Counter {
    branch: Branch,
    path: Path,
    commit: CommitOptions,
}

impl Counter {
    /// The counter at `path` of `branch` (created by its first change).
    pub fn open(branch: Branch, path: Path) -> Counter {
        Counter {
            branch,
            path,
            commit: CommitOptions::default(),
        }
    }

    /// The same counter, committing with `opts`' identities and message (an empty message
    /// gets the default, `counter PATH: add N`).
    pub fn with_commit(mut self, opts: CommitOptions) -> Counter {
        self.commit = opts;
        self
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The current value (0 when absent).
    pub fn get(&self) -> Result<i64> {
        self.read(&self.branch.view()?)
    }

    fn read(&self, view: &crate::store::View) -> Result<i64> {
        match view.get(&self.path)? {
            None => Ok(0),
            Some(bytes) => parse(&self.path, &bytes),
        }
    }

    /// Adds `n` (negative to subtract) in one commit; returns that commit and the value in it
    /// (which includes any concurrent increments it was merged with).
    pub fn add(&self, n: i64) -> Result<Counted> {
        let view = self.branch.view()?;
        let current = self.read(&view)?;
        let next = current.checked_add(n).ok_or_else(|| Error::InvalidValue {
            path: self.path.clone(),
            type_name: "counter",
            reason: format!("{current} + {n} overflows a 64-bit integer"),
        })?;
        let tx = self.branch.transaction_at(view.commit());
        let line = format!("{} merge=counter", super::anchored_pattern(&self.path)?);
        let tx = super::with_attribute(tx, &view, &line)?;
        let opts = super::commit_options(&self.commit, || format!("counter {}: add {n}", self.path));
        let head = tx.set(self.path.clone(), format!("{next}\n")).commit(&opts)?;
        let value = self.read(&self.branch.repo().view_at(head)?)?;
        Ok(Counted { value, commit: head })
    }
}

/// What [`Counter::add`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Counted {
    /// The counter's value in `commit`.
    pub value: i64,
    pub commit: ObjectId,
}

fn parse(path: &Path, bytes: &[u8]) -> Result<i64> {
    std::str::from_utf8(bytes)
        .ok()
        .and_then(|s| s.trim().parse::<i64>().ok())
        .ok_or_else(|| Error::InvalidValue {
            path: path.clone(),
            type_name: "counter",
            reason: format!("{:?} is not a decimal integer", String::from_utf8_lossy(bytes)),
        })
}
