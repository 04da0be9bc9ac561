//! Lowest common ancestors over the commit graph, as `git merge-base --all` finds them.
//!
//! Both sides are painted down the graph newest first (Git's `paint_down_to_common`: by
//! generation number when the commit-graph gives one, then by committer date); a commit reached
//! from both is a candidate and its ancestors become stale; the walk ends when only stale
//! commits are queued. Candidates that are ancestors of other candidates are then dropped,
//! leaving the best common ancestors: with generation numbers in one walk from all candidates
//! that stops below the lowest candidate's generation, else with one paint per candidate
//! against the others (Git's `remove_redundant`). A criss-cross history has several best
//! common ancestors; the commit merge folds them into a virtual base.

use std::collections::{BinaryHeap, HashMap};
use std::sync::Arc;

use crate::backend::git::commit_graph::Graph;
use crate::backend::{self, ContentAddressable};
use crate::object::{CommitHeader, ObjectId, ObjectKind};

const PARENT1: u8 = 1;
const PARENT2: u8 = 2;
const STALE: u8 = 4;
const RESULT: u8 = 8;

/// What a walk needs of a commit.
#[derive(Clone)]
struct Node {
    time: i64,
    /// The graph's generation number; `u64::MAX` (unknown, "could be anything") when the graph
    /// does not list the commit, as Git's `GENERATION_NUMBER_INFINITY`.
    generation: u64,
    parents: Arc<[ObjectId]>,
}

/// Parents, committer date and generation of commits, read once: from the store's
/// commit-graph file when it lists the commit, else from the commit object.
pub struct CommitGraph<'a> {
    store: &'a dyn ContentAddressable,
    graph: Option<Arc<Graph>>,
    cache: HashMap<ObjectId, Node>,
}

/// Queue order: generation, then date, then id (Git's `compare_commits_by_gen_then_commit_date`).
type Queued = (u64, i64, ObjectId);

/// The paint walk's queue, counting its entries of commits not yet stale so that the walk can
/// tell when to stop without looking at every entry (a commit may be queued more than once).
#[derive(Default)]
struct PaintQueue {
    heap: BinaryHeap<Queued>,
    entries: HashMap<ObjectId, u32>,
    nonstale: usize,
}

impl PaintQueue {
    fn push(&mut self, q: Queued, stale: bool) {
        self.heap.push(q);
        *self.entries.entry(q.2).or_insert(0) += 1;
        if !stale {
            self.nonstale += 1;
        }
    }

    fn pop(&mut self, flags: &HashMap<ObjectId, u8>) -> Option<ObjectId> {
        let (_, _, id) = self.heap.pop()?;
        if let Some(n) = self.entries.get_mut(&id) {
            *n -= 1;
        }
        if flags.get(&id).is_none_or(|f| f & STALE == 0) {
            self.nonstale -= 1;
        }
        Some(id)
    }

    /// `id` was marked stale: so are its entries still queued.
    fn became_stale(&mut self, id: &ObjectId) {
        self.nonstale -= self.entries.get(id).copied().unwrap_or(0) as usize;
    }
}

impl<'a> CommitGraph<'a> {
    pub fn new(store: &'a dyn ContentAddressable) -> CommitGraph<'a> {
        CommitGraph {
            store,
            graph: store.commit_graph(),
            cache: HashMap::new(),
        }
    }

    fn load(&mut self, id: ObjectId) -> backend::Result<&Node> {
        if !self.cache.contains_key(&id) {
            let node = match self.graph.as_ref().and_then(|g| g.commit(&id)) {
                Some(c) => Node {
                    time: c.time,
                    generation: c.generation,
                    parents: c.parents.into(),
                },
                None => {
                    let data = self.store.read_kind(&id, ObjectKind::Commit)?;
                    let c = CommitHeader::parse(self.store.hash_kind(), &data).map_err(|e| e.with_id(id))?;
                    Node {
                        time: c.time,
                        generation: u64::MAX,
                        parents: c.parents.into(),
                    }
                }
            };
            self.cache.insert(id, node);
        }
        Ok(&self.cache[&id])
    }

    /// The committer date and parents of `id`.
    pub fn node(&mut self, id: ObjectId) -> backend::Result<(i64, Vec<ObjectId>)> {
        let n = self.load(id)?;
        Ok((n.time, n.parents.to_vec()))
    }

    fn queued(&mut self, id: ObjectId) -> backend::Result<Queued> {
        let n = self.load(id)?;
        Ok((n.generation, n.time, id))
    }

    /// Whether `ancestor` is reachable from `descendant` (a commit is its own ancestor).
    pub fn is_ancestor(&mut self, ancestor: ObjectId, descendant: ObjectId) -> backend::Result<bool> {
        if ancestor == descendant {
            return Ok(true);
        }
        let (_, flags) = self.paint(ancestor, &[descendant])?;
        Ok(flags.get(&ancestor).is_some_and(|f| f & PARENT2 != 0))
    }

    /// The best common ancestors of `a` and `b`, newest first; empty if they share no history.
    pub fn merge_bases(&mut self, a: ObjectId, b: ObjectId) -> backend::Result<Vec<ObjectId>> {
        if a == b {
            return Ok(vec![a]);
        }
        let (candidates, _) = self.paint(a, &[b])?;
        let keep = self.remove_redundant(&candidates)?;
        let mut dated = Vec::with_capacity(keep.len());
        for c in keep {
            dated.push((self.load(c)?.time, c));
        }
        dated.sort_by(|x, y| y.cmp(x));
        Ok(dated.into_iter().map(|(_, c)| c).collect())
    }

    /// Git's `paint_down_to_common` of `one` against `others`: the commits reached from both
    /// sides that are not below another such commit, and every reached commit's flags.
    fn paint(
        &mut self,
        one: ObjectId,
        others: &[ObjectId],
    ) -> backend::Result<(Vec<ObjectId>, HashMap<ObjectId, u8>)> {
        let mut flags: HashMap<ObjectId, u8> = HashMap::new();
        let mut queue = PaintQueue::default();
        flags.insert(one, PARENT1);
        let q = self.queued(one)?;
        queue.push(q, false);
        for &o in others {
            *flags.entry(o).or_insert(0) |= PARENT2;
            let q = self.queued(o)?;
            queue.push(q, false);
        }
        let mut results = Vec::new();
        while queue.nonstale > 0 {
            let Some(id) = queue.pop(&flags) else { break };
            let mut f = flags.get(&id).copied().unwrap_or(0) & (PARENT1 | PARENT2 | STALE);
            if f & (PARENT1 | PARENT2) == PARENT1 | PARENT2 {
                let entry = flags.entry(id).or_insert(0);
                if *entry & RESULT == 0 {
                    *entry |= RESULT;
                    results.push(id);
                }
                // Its parents are stale (it stays a candidate unless reached stale later).
                f |= STALE;
            }
            let parents = self.load(id)?.parents.clone();
            for &p in parents.iter() {
                let pf = flags.entry(p).or_insert(0);
                if *pf & f == f {
                    continue;
                }
                let was_stale = *pf & STALE != 0;
                *pf |= f;
                let stale = *pf & STALE != 0;
                if stale && !was_stale {
                    queue.became_stale(&p);
                }
                let q = self.queued(p)?;
                queue.push(q, stale);
            }
        }
        let results = results
            .into_iter()
            .filter(|id| flags.get(id).is_some_and(|f| f & STALE == 0))
            .collect();
        Ok((results, flags))
    }

    /// The candidates that are not ancestors of other candidates, in their order.
    fn remove_redundant(&mut self, candidates: &[ObjectId]) -> backend::Result<Vec<ObjectId>> {
        if candidates.len() < 2 {
            return Ok(candidates.to_vec());
        }
        let mut min_generation = u64::MAX;
        for &c in candidates {
            min_generation = min_generation.min(self.load(c)?.generation);
        }
        if min_generation != u64::MAX {
            return self.remove_redundant_by_generation(candidates, min_generation);
        }
        // No generation numbers: paint each candidate against the others (Git's
        // `remove_redundant_no_gen`).
        let mut redundant = vec![false; candidates.len()];
        for i in 0..candidates.len() {
            if redundant[i] {
                continue;
            }
            let others: Vec<ObjectId> = candidates
                .iter()
                .enumerate()
                .filter(|&(j, _)| j != i && !redundant[j])
                .map(|(_, &c)| c)
                .collect();
            let (_, flags) = self.paint(candidates[i], &others)?;
            if flags.get(&candidates[i]).is_some_and(|f| f & PARENT2 != 0) {
                redundant[i] = true;
            }
            for (j, c) in candidates.iter().enumerate() {
                if j != i && flags.get(c).is_some_and(|f| f & PARENT1 != 0) {
                    redundant[j] = true;
                }
            }
        }
        Ok(candidates
            .iter()
            .zip(redundant)
            .filter(|(_, r)| !r)
            .map(|(c, _)| *c)
            .collect())
    }

    /// One walk down from every candidate's parents, highest generation first, that stops below
    /// the lowest candidate's generation: a candidate it reaches is an ancestor of another.
    fn remove_redundant_by_generation(
        &mut self,
        candidates: &[ObjectId],
        min_generation: u64,
    ) -> backend::Result<Vec<ObjectId>> {
        let mut reached: std::collections::HashSet<ObjectId> = std::collections::HashSet::new();
        let mut queue: BinaryHeap<Queued> = BinaryHeap::new();
        for &c in candidates {
            let parents = self.load(c)?.parents.clone();
            for &p in parents.iter() {
                if reached.insert(p) {
                    let q = self.queued(p)?;
                    queue.push(q);
                }
            }
        }
        while let Some((generation, _, id)) = queue.pop() {
            if generation < min_generation {
                break;
            }
            let parents = self.load(id)?.parents.clone();
            for &p in parents.iter() {
                if reached.insert(p) {
                    let q = self.queued(p)?;
                    queue.push(q);
                }
            }
        }
        Ok(candidates
            .iter()
            .filter(|c| !reached.contains(c))
            .copied()
            .collect())
    }
}
