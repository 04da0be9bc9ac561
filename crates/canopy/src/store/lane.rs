//! Commits to one branch from many threads of one process, pipelined.
//!
//! Without this, concurrent writers of a branch race for its reference: one wins each round of
//! compare-and-swap, the others rebuild and try again, and every commit pays its own round of
//! syncs. A [`Lane`] instead lets each writer build its commit on the newest commit built so
//! far — published or not — and append it to a chain. The first writer to publish moves the
//! reference over the whole chain at once (one compare-and-swap from the head the chain was
//! built on; the object store makes every commit of the chain durable in one batch first), and
//! every writer whose commit that covered is told "done" — each transaction is still its own
//! commit, in the order they were built.
//!
//! If the compare-and-swap fails (another process moved the branch), the chain was built on a
//! stale head: every commit in it is void, its writers build again on the new head (merging as
//! any writer does when the head moved), and the lane reads the reference from disk again.

use std::collections::HashMap;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};

use super::{Repo, Result};
use crate::backend::{Expected, RefLog};
use crate::object::ObjectId;

/// Every branch's lane in one store.
#[derive(Default)]
pub(crate) struct Lanes(Mutex<HashMap<String, Arc<Lane>>>);

impl Lanes {
    pub fn get(&self, ref_name: &str) -> Arc<Lane> {
        let mut lanes = self.0.lock().unwrap_or_else(|e| e.into_inner());
        lanes.entry(ref_name.to_string()).or_default().clone()
    }
}

#[derive(Default)]
pub(crate) struct Lane {
    state: Mutex<State>,
    changed: Condvar,
}

#[derive(Default)]
struct State {
    /// Commits built and not yet published, oldest first, each with its ticket.
    chain: Vec<(u64, ObjectId)>,
    /// What the reference holds under the chain, when known (it is read again whenever the
    /// chain is empty and nothing is being published).
    base: Option<Option<ObjectId>>,
    next_ticket: u64,
    /// Every ticket up to this one is published, unless voided.
    published: u64,
    /// Tickets voided by a failed compare-and-swap: `lo..=hi`.
    voided: Vec<(u64, u64)>,
    publishing: bool,
}

/// The lane locked for building one commit on its tip.
pub(crate) struct Building<'a> {
    state: MutexGuard<'a, State>,
}

/// What became of a commit appended to a lane.
pub(crate) enum Fate {
    Published,
    /// Built on a head that another process replaced: build again.
    Void,
}

impl Lane {
    /// Locks the lane for building; `read_ref` gives the reference's value on disk.
    pub fn begin(&self, read_ref: impl FnOnce() -> Result<Option<ObjectId>>) -> Result<Building<'_>> {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        if (state.chain.is_empty() && !state.publishing) || state.base.is_none() {
            state.base = Some(read_ref()?);
        }
        Ok(Building { state })
    }

    /// Waits until `ticket` is published (moving the reference as the leader if nobody is),
    /// or voided.
    pub fn publish(&self, ticket: u64, repo: &Repo, ref_name: &str, log: &RefLog) -> Result<Fate> {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        loop {
            if state.voided.iter().any(|&(lo, hi)| (lo..=hi).contains(&ticket)) {
                return Ok(Fate::Void);
            }
            if state.published >= ticket {
                return Ok(Fate::Published);
            }
            if state.publishing {
                state = self.changed.wait(state).unwrap_or_else(|e| e.into_inner());
                continue;
            }
            // Lead: move the reference over everything built so far.
            let Some(&(upto, target)) = state.chain.last() else {
                // Not voided, not published, not in the chain: cannot happen; be safe.
                return Ok(Fate::Void);
            };
            let expected = Expected::from_option(state.base.flatten());
            state.publishing = true;
            drop(state);
            let moved = repo
                .durable_before_ref(&target)
                .and_then(|()| Ok(repo.refs().update(ref_name, expected, Some(target), log)?));
            state = self.state.lock().unwrap_or_else(|e| e.into_inner());
            state.publishing = false;
            match moved {
                Ok(true) => {
                    state.base = Some(Some(target));
                    state.published = upto;
                    state.chain.retain(|&(t, _)| t > upto);
                }
                Ok(false) | Err(_) => {
                    // Built on a head that is gone (or the update failed): void the chain.
                    let lo = state.published + 1;
                    let hi = state.next_ticket;
                    state.voided.push((lo, hi));
                    state.chain.clear();
                    state.base = None;
                }
            }
            self.changed.notify_all();
            moved?;
        }
    }
}

impl Building<'_> {
    /// The commit to build on: the newest built (published or not), else the reference's.
    pub fn tip(&self) -> Option<ObjectId> {
        match self.state.chain.last() {
            Some(&(_, id)) => Some(id),
            None => self.state.base.flatten(),
        }
    }

    /// The ticket of the tip when it is not yet published (a caller that changes nothing
    /// must still wait for it).
    pub fn tip_ticket(&self) -> Option<u64> {
        self.state.chain.last().map(|&(t, _)| t)
    }

    /// Appends `commit` (built on [`tip`](Self::tip)); returns its ticket and unlocks the lane.
    pub fn push(mut self, commit: ObjectId) -> u64 {
        self.state.next_ticket += 1;
        let ticket = self.state.next_ticket;
        self.state.chain.push((ticket, commit));
        ticket
    }
}
