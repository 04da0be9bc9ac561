//! Lowest common ancestors over the commit graph, as `git merge-base --all` finds them.
//!
//! Both sides are painted down the graph newest first (by committer date); a commit reached from
//! both is a candidate and its ancestors become stale. Candidates that are ancestors of other
//! candidates are then dropped, leaving the best common ancestors. A criss-cross history has
//! several; the commit merge folds them into a virtual base.

use std::collections::{BinaryHeap, HashMap};
use std::sync::Arc;

use crate::backend::git::commit_graph::Graph;
use crate::backend::{self, ContentAddressable};
use crate::object::{CommitHeader, ObjectId, ObjectKind};

const PARENT1: u8 = 1;
const PARENT2: u8 = 2;
const STALE: u8 = 4;
const RESULT: u8 = 8;

/// Parents and committer date of commits, read once: from the store's commit-graph file when it
/// lists the commit, else from the commit object.
pub struct CommitGraph<'a> {
    store: &'a dyn ContentAddressable,
    graph: Option<Arc<Graph>>,
    cache: HashMap<ObjectId, (i64, Vec<ObjectId>)>,
}

impl<'a> CommitGraph<'a> {
    pub fn new(store: &'a dyn ContentAddressable) -> CommitGraph<'a> {
        CommitGraph {
            store,
            graph: store.commit_graph(),
            cache: HashMap::new(),
        }
    }

    /// The committer date and parents of `id`.
    pub fn node(&mut self, id: ObjectId) -> backend::Result<(i64, Vec<ObjectId>)> {
        if let Some(n) = self.cache.get(&id) {
            return Ok(n.clone());
        }
        let node = match self.graph.as_ref().and_then(|g| g.commit(&id)) {
            Some(c) => (c.time, c.parents),
            None => {
                let data = self.store.read_kind(&id, ObjectKind::Commit)?;
                let c = CommitHeader::parse(self.store.hash_kind(), &data).map_err(|e| e.with_id(id))?;
                (c.time, c.parents)
            }
        };
        self.cache.insert(id, node.clone());
        Ok(node)
    }

    /// Whether `ancestor` is reachable from `descendant` (a commit is its own ancestor).
    pub fn is_ancestor(&mut self, ancestor: ObjectId, descendant: ObjectId) -> backend::Result<bool> {
        if ancestor == descendant {
            return Ok(true);
        }
        Ok(self.paint(ancestor, descendant)?.contains(&ancestor))
    }

    /// The best common ancestors of `a` and `b`, newest first; empty if they share no history.
    pub fn merge_bases(&mut self, a: ObjectId, b: ObjectId) -> backend::Result<Vec<ObjectId>> {
        if a == b {
            return Ok(vec![a]);
        }
        let candidates = self.paint(a, b)?;
        // Drop candidates that are ancestors of other candidates.
        let mut keep = Vec::new();
        for (i, &c) in candidates.iter().enumerate() {
            let mut redundant = false;
            for (j, &other) in candidates.iter().enumerate() {
                if i != j && self.is_ancestor(c, other)? {
                    redundant = true;
                    break;
                }
            }
            if !redundant {
                keep.push(c);
            }
        }
        let mut dated = Vec::with_capacity(keep.len());
        for c in keep {
            dated.push((self.node(c)?.0, c));
        }
        dated.sort_by(|x, y| y.cmp(x));
        Ok(dated.into_iter().map(|(_, c)| c).collect())
    }

    /// Git's `paint_down_to_common`: the commits reached from both sides that are not below
    /// another such commit reached earlier.
    fn paint(&mut self, a: ObjectId, b: ObjectId) -> backend::Result<Vec<ObjectId>> {
        let mut flags: HashMap<ObjectId, u8> = HashMap::new();
        let mut queue: BinaryHeap<(i64, ObjectId)> = BinaryHeap::new();
        flags.insert(a, PARENT1);
        flags.insert(b, PARENT2);
        queue.push((self.node(a)?.0, a));
        queue.push((self.node(b)?.0, b));
        let mut results = Vec::new();
        while queue
            .iter()
            .any(|(_, id)| flags.get(id).is_some_and(|f| f & STALE == 0))
        {
            let Some((_, id)) = queue.pop() else { break };
            let mut f = flags.get(&id).copied().unwrap_or(0) & (PARENT1 | PARENT2 | STALE);
            if f & (PARENT1 | PARENT2) == PARENT1 | PARENT2 {
                let entry = flags.entry(id).or_insert(0);
                if *entry & RESULT == 0 {
                    *entry |= RESULT;
                    results.push(id);
                }
                f |= STALE;
            }
            for p in self.node(id)?.1 {
                let pf = flags.entry(p).or_insert(0);
                if *pf & f == f {
                    continue;
                }
                *pf |= f;
                let t = self.node(p)?.0;
                queue.push((t, p));
            }
        }
        Ok(results
            .into_iter()
            .filter(|id| flags.get(id).is_some_and(|f| f & STALE == 0))
            .collect())
    }
}
