//! History squashing for distributed garbage collection (the "rebase for distributed GC" of the
//! seed talk).
//!
//! `squash(S)` replaces all history up to commit `S` by one root commit `R` whose tree is `S`'s,
//! and rewrites every later commit of every branch that contains `S` on top of `R`. Everything is
//! a pure function of the old commits — `R` takes `S`'s tree, author, committer and dates, and
//! its message names `S`; a rewritten commit keeps its tree, identities, dates and message and
//! only has its parents mapped — so **replicas that squash at the same point get the same commit
//! ids** without exchanging anything, and converge.
//!
//! The squash is recorded in the reference `refs/canopy/squash` (pointing at `R`), which sync
//! carries like any reference. A replica that learns of `R` and still has `S` in its history
//! adopts the squash by squashing at `S` itself ([`Repo::adopt_squash`]); its own commits on top
//! of the old history are thereby rebased onto `R`, with the same ids the other replicas gave the
//! commits they share. The rewritten branches' reflogs are expired, so that `gc` can then free
//! the old history.
//!
//! Failure cases: a branch that does not contain `S` (behind it, or forked before it) is left as
//! it is and keeps the old history alive; signatures (`gpgsig`) cannot survive a rewrite and are
//! dropped; a branch that moves during the squash is retried, and if it keeps moving the squash
//! stops with an error after the branches already rewritten (running it again finishes the job,
//! as it is idempotent).

use std::collections::{HashMap, HashSet};

use super::again_or_give_up;
use super::{Repo, Result};
use crate::backend::{Expected, RefLog};
use crate::object::{Commit, ObjectId, ObjectKind};
use crate::retry::{Retry, COMMIT_ATTEMPTS};

/// The reference that records the latest squash (its root commit).
pub const SQUASH_REF: &str = "refs/canopy/squash";

const TRAILER: &str = "Canopy-Squash-Point: ";

/// What a squash did.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct SquashOutcome {
    /// The old commit the history was squashed at.
    pub point: ObjectId,
    /// The new root commit standing for all history up to `point`.
    pub root: ObjectId,
    /// Branches moved: (name, old head, new head).
    pub rewritten: Vec<(String, ObjectId, ObjectId)>,
}

impl Repo {
    /// The root commit that squashing at `point` makes (the same on every replica).
    pub fn squash_root(&self, point: ObjectId) -> Result<ObjectId> {
        let c = self.commit_info(point)?.commit;
        let root = Commit {
            tree: c.tree,
            parents: Vec::new(),
            author: c.author,
            committer: c.committer,
            extra_headers: Vec::new(),
            message: format!("Squashed history up to {point}\n\n{TRAILER}{point}\n").into_bytes(),
        };
        Ok(self.objects().write(ObjectKind::Commit, &root.serialize())?)
    }

    /// The squash point a squash root commit records, if `root` is one.
    pub fn squash_point_of(&self, root: ObjectId) -> Result<Option<ObjectId>> {
        let c = self.commit_info(root)?.commit;
        if !c.parents.is_empty() {
            return Ok(None);
        }
        let msg = String::from_utf8_lossy(&c.message);
        Ok(msg
            .lines()
            .find_map(|l| l.strip_prefix(TRAILER))
            .and_then(|hex| ObjectId::from_hex(hex.trim().as_bytes())))
    }

    /// Squashes all history up to `point` into one root commit, on every branch containing it.
    pub fn squash(&self, point: ObjectId) -> Result<SquashOutcome> {
        let root = self.squash_root(point)?;
        let ancestors = self.ancestors(point)?;
        let mut rewritten = Vec::new();
        for (name, _) in self.branches()? {
            let branch = self.branch(&name)?;
            let mut retry = Retry::attempts(COMMIT_ATTEMPTS);
            while let Some(head) = branch.head()? {
                if !self.is_ancestor(point, head)? {
                    break; // does not contain the squash point (behind it, or forked): left alone
                }
                let new_head = self.rewrite_onto(head, &ancestors, root)?;
                if new_head == head {
                    break;
                }
                self.objects().flush()?;
                let log = RefLog {
                    who: self.default_signature(),
                    message: format!("squash: history up to {point} squashed into {root}"),
                };
                if self
                    .refs()
                    .update(branch.ref_name(), Expected::Value(head), Some(new_head), &log)?
                {
                    self.refs().expire_reflog(branch.ref_name())?;
                    rewritten.push((name.clone(), head, new_head));
                    break;
                }
                again_or_give_up(&mut retry, &name)?;
            }
        }
        if !rewritten.is_empty() {
            self.refs().expire_reflog("HEAD")?;
        }
        self.objects().flush()?;
        let log = RefLog {
            who: self.default_signature(),
            message: format!("squash: at {point}"),
        };
        self.refs().update(SQUASH_REF, Expected::Any, Some(root), &log)?;
        Ok(SquashOutcome {
            point,
            root,
            rewritten,
        })
    }

    /// Adopts a squash made elsewhere, given its root commit (already fetched): if the local
    /// history still holds the squash point, squash there too. `None` when there is nothing to
    /// do (no point recorded, the point is unknown here, or already squashed).
    pub fn adopt_squash(&self, root: ObjectId) -> Result<Option<SquashOutcome>> {
        let Some(point) = self.squash_point_of(root)? else {
            return Ok(None);
        };
        if !self.objects().contains(&point)? {
            return Ok(None);
        }
        let outcome = self.squash(point)?;
        Ok((!outcome.rewritten.is_empty()).then_some(outcome))
    }

    /// `point` and everything in its history.
    fn ancestors(&self, point: ObjectId) -> Result<HashSet<ObjectId>> {
        let mut seen = HashSet::new();
        let mut stack = vec![point];
        while let Some(id) = stack.pop() {
            if seen.insert(id) {
                stack.extend(self.commit_info(id)?.commit.parents);
            }
        }
        Ok(seen)
    }

    /// Rewrites the commits of `head`'s history that are not in `old` on top of `root`.
    fn rewrite_onto(&self, head: ObjectId, old: &HashSet<ObjectId>, root: ObjectId) -> Result<ObjectId> {
        let mut mapped: HashMap<ObjectId, ObjectId> = HashMap::new();
        // Depth-first, parents before children, without recursion.
        let mut stack = vec![(head, false)];
        while let Some((id, ready)) = stack.pop() {
            if mapped.contains_key(&id) {
                continue;
            }
            if old.contains(&id) {
                mapped.insert(id, root);
                continue;
            }
            let commit = self.commit_info(id)?.commit;
            if !ready {
                stack.push((id, true));
                stack.extend(
                    commit
                        .parents
                        .iter()
                        .filter(|p| !mapped.contains_key(p))
                        .map(|p| (*p, false)),
                );
                continue;
            }
            let mut parents: Vec<ObjectId> = Vec::with_capacity(commit.parents.len());
            for p in &commit.parents {
                let np = mapped[p];
                if !parents.contains(&np) {
                    parents.push(np);
                }
            }
            let rewritten = Commit {
                parents,
                extra_headers: commit
                    .extra_headers
                    .into_iter()
                    .filter(|(k, _)| !k.starts_with("gpgsig") && k != "mergetag")
                    .collect(),
                ..commit
            };
            let new_id = self.objects().write(ObjectKind::Commit, &rewritten.serialize())?;
            mapped.insert(id, new_id);
        }
        Ok(mapped[&head])
    }
}
