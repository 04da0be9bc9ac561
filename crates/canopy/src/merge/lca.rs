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

use std::collections::BinaryHeap;
use std::sync::Arc;

use crate::backend::git::commit_graph::Graph;
use crate::backend::{self, ContentAddressable};
use crate::object::{CommitHeader, IdMap, ObjectId, ObjectKind};

const PARENT1: u8 = 1;
const PARENT2: u8 = 2;
const STALE: u8 = 4;
const RESULT: u8 = 8;

/// A commit in a walk: its position in the commit-graph, or (past the graph's commits) an entry
/// of the commits read from their objects. Walks index flags by it instead of hashing ids.
type Idx = u32;

/// A commit the graph does not list, read from its object.
struct Extra {
    id: ObjectId,
    time: i64,
    parents: Vec<ObjectId>,
}

/// Parents, committer date and generation of commits: from the store's commit-graph file when
/// it lists the commit (without building ids), else from the commit object, read once.
pub struct CommitGraph<'a> {
    store: &'a dyn ContentAddressable,
    graph: Option<Arc<Graph>>,
    /// How many commits the graph lists: the first `Idx` of the others.
    base: u32,
    extra_index: IdMap<Idx>,
    extras: Vec<Extra>,
    scratch: Vec<Idx>,
}

/// Queue order: generation, then date (Git's `compare_commits_by_gen_then_commit_date`).
/// Commits the graph does not list have the highest generation ("could be anything"), as Git's
/// `GENERATION_NUMBER_INFINITY`.
type Queued = (u64, i64, Idx);

/// The paint walk's queue, counting its entries of commits not yet stale so that the walk can
/// tell when to stop without looking at every entry (a commit may be queued more than once).
#[derive(Default)]
struct PaintQueue {
    heap: BinaryHeap<Queued>,
    entries: Vec<u32>,
    nonstale: usize,
}

impl PaintQueue {
    fn push(&mut self, q: Queued, stale: bool) {
        self.heap.push(q);
        let i = q.2 as usize;
        if self.entries.len() <= i {
            self.entries.resize(i + 1, 0);
        }
        self.entries[i] += 1;
        if !stale {
            self.nonstale += 1;
        }
    }

    fn pop(&mut self, flags: &[u8]) -> Option<Idx> {
        let (_, _, idx) = self.heap.pop()?;
        self.entries[idx as usize] -= 1;
        if flags.get(idx as usize).is_none_or(|f| f & STALE == 0) {
            self.nonstale -= 1;
        }
        Some(idx)
    }

    /// `idx` was marked stale: so are its entries still queued.
    fn became_stale(&mut self, idx: Idx) {
        self.nonstale -= self.entries.get(idx as usize).copied().unwrap_or(0) as usize;
    }
}

/// Flags by `Idx`, growing as commits outside the graph are met.
fn flag_mut(flags: &mut Vec<u8>, idx: Idx) -> &mut u8 {
    let i = idx as usize;
    if flags.len() <= i {
        flags.resize(i + 1, 0);
    }
    &mut flags[i]
}

fn flag(flags: &[u8], idx: Idx) -> u8 {
    flags.get(idx as usize).copied().unwrap_or(0)
}

impl<'a> CommitGraph<'a> {
    pub fn new(store: &'a dyn ContentAddressable) -> CommitGraph<'a> {
        let graph = store.commit_graph();
        let base = graph.as_ref().map_or(0, |g| g.len() as u32);
        CommitGraph {
            store,
            graph,
            base,
            extra_index: IdMap::default(),
            extras: Vec::new(),
            scratch: Vec::new(),
        }
    }

    /// The walk index of `id`, reading its object if the graph does not list it.
    fn index(&mut self, id: ObjectId) -> backend::Result<Idx> {
        if let Some(pos) = self.graph.as_ref().and_then(|g| g.position(&id)) {
            return Ok(pos as Idx);
        }
        if let Some(&i) = self.extra_index.get(&id) {
            return Ok(i);
        }
        let data = self.store.read_kind(&id, ObjectKind::Commit)?;
        let c = CommitHeader::parse(self.store.hash_kind(), &data).map_err(|e| e.with_id(id))?;
        let i = self.base + self.extras.len() as Idx;
        self.extras.push(Extra {
            id,
            time: c.time,
            parents: c.parents,
        });
        self.extra_index.insert(id, i);
        Ok(i)
    }

    fn id(&self, idx: Idx) -> ObjectId {
        match idx.checked_sub(self.base) {
            Some(e) => self.extras[e as usize].id,
            None => self
                .graph
                .as_ref()
                .and_then(|g| g.id_at(idx as usize))
                .expect("a position the graph gave"),
        }
    }

    fn queued(&self, idx: Idx) -> Queued {
        match idx.checked_sub(self.base) {
            Some(e) => (u64::MAX, self.extras[e as usize].time, idx),
            None => {
                let g = self.graph.as_ref().expect("a position the graph gave");
                let pos = idx as usize;
                (
                    g.generation_at(pos).unwrap_or(u64::MAX),
                    g.time_at(pos).unwrap_or(0),
                    idx,
                )
            }
        }
    }

    /// The parents of `idx`, into `out` (cleared first).
    fn parents(&mut self, idx: Idx, out: &mut Vec<Idx>) -> backend::Result<()> {
        out.clear();
        match idx.checked_sub(self.base) {
            Some(e) => {
                let parents = self.extras[e as usize].parents.clone();
                for p in parents {
                    out.push(self.index(p)?);
                }
            }
            None => {
                let g = self.graph.as_ref().expect("a position the graph gave");
                // In range when given: a position past the graph would name an extra.
                g.parent_positions(idx as usize, out)
                    .ok_or_else(|| backend::Error::CorruptFile {
                        path: "objects/info/commit-graph".into(),
                        reason: "truncated parent data or a parent position out of range".into(),
                    })?;
            }
        }
        Ok(())
    }

    /// The committer date and parents of `id`.
    pub fn node(&mut self, id: ObjectId) -> backend::Result<(i64, Vec<ObjectId>)> {
        let idx = self.index(id)?;
        let mut out = Vec::new();
        self.parents(idx, &mut out)?;
        Ok((self.queued(idx).1, out.into_iter().map(|p| self.id(p)).collect()))
    }

    /// Whether `ancestor` is reachable from `descendant` (a commit is its own ancestor).
    pub fn is_ancestor(&mut self, ancestor: ObjectId, descendant: ObjectId) -> backend::Result<bool> {
        if ancestor == descendant {
            return Ok(true);
        }
        let (a, d) = (self.index(ancestor)?, self.index(descendant)?);
        let (_, flags) = self.paint(a, &[d])?;
        Ok(flag(&flags, a) & PARENT2 != 0)
    }

    /// The best common ancestors of `a` and `b`, newest first; empty if they share no history.
    pub fn merge_bases(&mut self, a: ObjectId, b: ObjectId) -> backend::Result<Vec<ObjectId>> {
        if a == b {
            return Ok(vec![a]);
        }
        let (a, b) = (self.index(a)?, self.index(b)?);
        let (candidates, _) = self.paint(a, &[b])?;
        let keep = self.remove_redundant(&candidates)?;
        let mut dated: Vec<(i64, ObjectId)> = keep.iter().map(|&c| (self.queued(c).1, self.id(c))).collect();
        dated.sort_by(|x, y| y.cmp(x));
        Ok(dated.into_iter().map(|(_, c)| c).collect())
    }

    /// Git's `paint_down_to_common` of `one` against `others`: the commits reached from both
    /// sides that are not below another such commit, and every commit's flags.
    fn paint(&mut self, one: Idx, others: &[Idx]) -> backend::Result<(Vec<Idx>, Vec<u8>)> {
        let mut flags: Vec<u8> = vec![0; self.base as usize + self.extras.len()];
        let mut queue = PaintQueue::default();
        *flag_mut(&mut flags, one) |= PARENT1;
        queue.push(self.queued(one), false);
        for &o in others {
            *flag_mut(&mut flags, o) |= PARENT2;
            queue.push(self.queued(o), false);
        }
        let mut results = Vec::new();
        let mut parents = std::mem::take(&mut self.scratch);
        while queue.nonstale > 0 {
            let Some(idx) = queue.pop(&flags) else { break };
            let mut f = flag(&flags, idx) & (PARENT1 | PARENT2 | STALE);
            if f & (PARENT1 | PARENT2) == PARENT1 | PARENT2 {
                let entry = flag_mut(&mut flags, idx);
                if *entry & RESULT == 0 {
                    *entry |= RESULT;
                    results.push(idx);
                }
                // Its parents are stale (it stays a candidate unless reached stale later).
                f |= STALE;
            }
            self.parents(idx, &mut parents)?;
            for &p in &parents {
                let pf = flag_mut(&mut flags, p);
                if *pf & f == f {
                    continue;
                }
                let was_stale = *pf & STALE != 0;
                *pf |= f;
                let stale = *pf & STALE != 0;
                if stale && !was_stale {
                    queue.became_stale(p);
                }
                queue.push(self.queued(p), stale);
            }
        }
        self.scratch = parents;
        let results = results
            .into_iter()
            .filter(|&i| flag(&flags, i) & STALE == 0)
            .collect();
        Ok((results, flags))
    }

    /// The candidates that are not ancestors of other candidates, in their order.
    fn remove_redundant(&mut self, candidates: &[Idx]) -> backend::Result<Vec<Idx>> {
        if candidates.len() < 2 {
            return Ok(candidates.to_vec());
        }
        let min_generation = candidates
            .iter()
            .map(|&c| self.queued(c).0)
            .min()
            .unwrap_or(u64::MAX);
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
            let others: Vec<Idx> = candidates
                .iter()
                .enumerate()
                .filter(|&(j, _)| j != i && !redundant[j])
                .map(|(_, &c)| c)
                .collect();
            let (_, flags) = self.paint(candidates[i], &others)?;
            if flag(&flags, candidates[i]) & PARENT2 != 0 {
                redundant[i] = true;
            }
            for (j, &c) in candidates.iter().enumerate() {
                if j != i && flag(&flags, c) & PARENT1 != 0 {
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
        candidates: &[Idx],
        min_generation: u64,
    ) -> backend::Result<Vec<Idx>> {
        let mut reached: Vec<u8> = vec![0; self.base as usize + self.extras.len()];
        let mut queue: BinaryHeap<Queued> = BinaryHeap::new();
        let mut parents = std::mem::take(&mut self.scratch);
        let visit = |this: &mut Self, idx: Idx, queue: &mut BinaryHeap<Queued>, reached: &mut Vec<u8>| {
            let r = flag_mut(reached, idx);
            if *r == 0 {
                *r = 1;
                queue.push(this.queued(idx));
            }
        };
        for &c in candidates {
            self.parents(c, &mut parents)?;
            for &p in &parents {
                visit(self, p, &mut queue, &mut reached);
            }
        }
        while let Some((generation, _, idx)) = queue.pop() {
            if generation < min_generation {
                break;
            }
            self.parents(idx, &mut parents)?;
            for &p in &parents {
                visit(self, p, &mut queue, &mut reached);
            }
        }
        self.scratch = parents;
        Ok(candidates
            .iter()
            .filter(|&&c| flag(&reached, c) == 0)
            .copied()
            .collect())
    }
}
