//! Commit metadata and history walks.

use std::collections::{BinaryHeap, HashMap, HashSet};

use super::{Repo, Result};
use crate::object::{Commit, ObjectId};
use crate::path::Path;
use crate::tree::{Entry, Tree};

/// A commit and its id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommitInfo {
    pub id: ObjectId,
    pub commit: Commit,
}

impl CommitInfo {
    /// The first line of the message.
    pub fn summary(&self) -> String {
        self.commit.summary()
    }
}

/// Commits reachable from a set of starting points, newest first by committer date (ties in
/// the order they were reached), each once: the order of `git log`.
pub struct History {
    repo: Repo,
    queue: BinaryHeap<(i64, u64, ObjectId)>,
    seen: HashSet<ObjectId>,
    /// Parents already read (to learn their dates), waiting for their turn.
    pending: HashMap<ObjectId, CommitInfo>,
    counter: u64,
    failed: bool,
}

impl History {
    pub(super) fn new(repo: Repo, starts: &[ObjectId]) -> History {
        let mut h = History {
            repo,
            queue: BinaryHeap::new(),
            seen: HashSet::new(),
            pending: HashMap::new(),
            counter: 0,
            failed: false,
        };
        for &id in starts {
            h.push(id, i64::MAX);
        }
        h
    }

    fn push(&mut self, id: ObjectId, time: i64) {
        if self.seen.insert(id) {
            self.counter += 1;
            // Later-reached commits sort after earlier ones at the same time.
            self.queue.push((time, u64::MAX - self.counter, id));
        }
    }

    /// Only the commits that changed `path` (its value or anything below it) with respect to
    /// every parent, as `git log -- PATH` shows them.
    pub fn touching(self, path: Path) -> impl Iterator<Item = Result<CommitInfo>> {
        let repo = self.repo.clone();
        self.filter_map(move |item| match item {
            Err(e) => Some(Err(e)),
            Ok(info) => match changes_path(&repo, &info, &path) {
                Ok(true) => Some(Ok(info)),
                Ok(false) => None,
                Err(e) => Some(Err(e)),
            },
        })
    }
}

fn entry_id(repo: &Repo, tree: ObjectId, path: &Path) -> Result<Option<ObjectId>> {
    Ok(match Tree::from_id(tree).find(repo.objects(), path)? {
        None => None,
        Some(Entry::Value { id, .. }) | Some(Entry::Gitlink(id)) => Some(id),
        Some(Entry::Tree(t)) => t.id(),
    })
}

fn changes_path(repo: &Repo, info: &CommitInfo, path: &Path) -> Result<bool> {
    let mine = entry_id(repo, info.commit.tree, path)?;
    if info.commit.parents.is_empty() {
        return Ok(mine.is_some());
    }
    for parent in &info.commit.parents {
        let ptree = repo.commit_info(*parent)?.commit.tree;
        if entry_id(repo, ptree, path)? == mine {
            return Ok(false);
        }
    }
    Ok(true)
}

impl Iterator for History {
    type Item = Result<CommitInfo>;

    fn next(&mut self) -> Option<Result<CommitInfo>> {
        if self.failed {
            return None;
        }
        let (_, _, id) = self.queue.pop()?;
        let info = match self
            .pending
            .remove(&id)
            .map(Ok)
            .unwrap_or_else(|| self.repo.commit_info(id))
        {
            Ok(info) => info,
            Err(e) => {
                self.failed = true;
                return Some(Err(e));
            }
        };
        for &p in &info.commit.parents {
            if self.seen.contains(&p) {
                continue;
            }
            match self.repo.commit_info(p) {
                Ok(pi) => {
                    self.push(p, pi.commit.committer.time);
                    self.pending.insert(p, pi);
                }
                Err(e) => {
                    self.failed = true;
                    return Some(Err(e));
                }
            }
        }
        Some(Ok(info))
    }
}
