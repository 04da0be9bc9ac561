//! Watches: who asked to hear about which paths, and the events sent when the branch moves.
//!
//! Events come from the branch, not from the requests: one thread follows the branch
//! ([`canopy::Branch::watch_with`]) and turns the files each move changed into the nodes they
//! belong to, so commits made by anyone (this daemon, `canopy set`, a `canopy pull` or `sync`
//! from another replica) fire the same events. Moves seen together are reported together (the
//! diff from the last head seen), so a node changed and changed back between two looks fires
//! nothing; no change is ever missed.

use std::collections::BTreeSet;
use std::sync::mpsc::Sender;

use crate::ops::Caller;
use crate::path::XsPath;
use crate::wire::{op, Message};

/// What a watch is on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Target {
    /// A node and everything below it.
    Node(XsPath),
    /// A special path: `@introduceDomain`, `@releaseDomain`.
    Special(String),
}

/// One registered watch.
#[derive(Clone, Debug)]
pub struct Watch {
    pub conn: u64,
    /// Who registered it: an unprivileged domain hears only of nodes it may read.
    pub caller: Caller,
    pub target: Target,
    /// The path as the client gave it: events for a relative watch name relative paths.
    pub relative_to: Option<String>,
    pub token: Vec<u8>,
    pub out: Sender<Message>,
}

impl Watch {
    /// The `XS_WATCH_EVENT` telling this watch that `path` changed.
    pub fn event(&self, path: &str) -> Message {
        let shown = match &self.relative_to {
            Some(prefix) => path
                .strip_prefix(prefix.as_str())
                .and_then(|rest| rest.strip_prefix('/'))
                .unwrap_or(path),
            None => path,
        };
        let mut payload = Vec::with_capacity(shown.len() + self.token.len() + 2);
        payload.extend_from_slice(shown.as_bytes());
        payload.push(0);
        payload.extend_from_slice(&self.token);
        payload.push(0);
        Message::new(op::WATCH_EVENT, 0, 0, payload)
    }

    fn matches(&self, node: &XsPath) -> bool {
        matches!(&self.target, Target::Node(w) if node.is_at_or_below(w))
    }
}

/// Every watch of every connection.
#[derive(Default)]
pub struct Registry {
    watches: Vec<Watch>,
}

impl Registry {
    /// Adds a watch; `false` if the connection already has one on the same path and token.
    pub fn add(&mut self, watch: Watch) -> bool {
        if self
            .watches
            .iter()
            .any(|w| w.conn == watch.conn && w.target == watch.target && w.token == watch.token)
        {
            return false;
        }
        self.watches.push(watch);
        true
    }

    /// Removes a watch; `false` if there was none.
    pub fn remove(&mut self, conn: u64, target: &Target, token: &[u8]) -> bool {
        let before = self.watches.len();
        self.watches
            .retain(|w| !(w.conn == conn && &w.target == target && w.token == token));
        self.watches.len() != before
    }

    /// Drops every watch of a connection (closed, or `XS_RESET_WATCHES`).
    pub fn remove_conn(&mut self, conn: u64) {
        self.watches.retain(|w| w.conn != conn);
    }

    pub fn count(&self, conn: u64) -> usize {
        self.watches.iter().filter(|w| w.conn == conn).count()
    }

    /// Sends an event to every watch on or above each changed node, those `may_see` allows.
    /// A watch whose connection is gone is dropped.
    pub fn fire(&mut self, changed: &BTreeSet<XsPath>, may_see: &mut dyn FnMut(&Watch, &XsPath) -> bool) {
        self.watches.retain(|w| {
            for node in changed {
                if w.matches(node) && may_see(w, node) && w.out.send(w.event(node.as_str())).is_err() {
                    return false;
                }
            }
            true
        });
    }

    /// Sends an event to every watch on a special path.
    pub fn fire_special(&mut self, name: &str) {
        self.watches.retain(|w| match &w.target {
            Target::Special(s) if s == name => w.out.send(w.event(name)).is_ok(),
            _ => true,
        });
    }
}
