//! Bisection: find the commit that introduced a change, by testing as few commits as possible.
//!
//! The rules are Git's (`bisect.c`), so that a bisection here tests the same commits as
//! `git bisect run` on the same history:
//!
//! - the candidates are the ancestors of the bad commit that are not ancestors of any good one,
//!   in `git rev-list` order (newest first by committer date);
//! - each candidate's weight is the number of candidates it reaches (itself included); the next
//!   commit to test is the one whose weight best halves the candidates (the first one found at
//!   exactly half way, else the best in reverse `rev-list` order);
//! - after a skip, candidates are ranked by how well they halve the set and a skipped best is
//!   replaced by a commit chosen with Git's pseudo-random "skip away" rule, so the next test lands
//!   near it rather than next to it;
//! - a good commit that is not an ancestor of the bad one makes the merge bases be tested first;
//! - with a path, commits that do not change it (with respect to a parent) are never tested nor
//!   counted.
//!
//! Nothing here runs anything or changes the store: [`Bisect::next_step`] says what to test and
//! [`Bisect::mark`] records the verdict; [`Bisect::run`] loops over both with a callback.

use std::collections::{BinaryHeap, HashMap, HashSet};

use super::{Error, Repo, Result};
use crate::object::ObjectId;
use crate::path::Path;
use crate::tree::{Entry, Tree};

/// What a test said about a commit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    Good,
    Bad,
    /// The commit cannot be tested; try another near it.
    Skip,
    /// Stop the bisection.
    Abort,
}

impl Verdict {
    /// The meaning `git bisect run` gives an exit status: 0 good, 125 skip, 1–127 bad, anything
    /// else (128 and above, or death by a signal: `None`) aborts.
    pub fn from_exit_code(code: Option<i32>) -> Verdict {
        match code {
            Some(0) => Verdict::Good,
            Some(125) => Verdict::Skip,
            Some(1..=127) => Verdict::Bad,
            _ => Verdict::Abort,
        }
    }
}

/// The commit to test next.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BisectStep {
    pub commit: ObjectId,
    /// Revisions left to test after this one (Git's estimate).
    pub remaining: usize,
    /// Roughly how many more tests after this one.
    pub steps: usize,
    /// This is a merge base of the bad commit and a good commit that is not its ancestor: it
    /// must be good for the bisection to make sense.
    pub merge_base: bool,
}

/// How a bisection ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BisectOutcome {
    /// The first bad commit.
    FirstBad(ObjectId),
    /// Only skipped commits are left: the first bad commit is one of these.
    OnlySkipped(Vec<ObjectId>),
    /// A merge base of the bad commit and a good one is bad: the change was undone between it
    /// and the good commit, so there is no first bad commit to find.
    MergeBaseBad(ObjectId),
    /// No candidate changes the path (or the bad commit is an ancestor of a good one).
    NoTestableCommit,
    /// The test asked to stop while testing this commit.
    Aborted(ObjectId),
}

/// What to do next.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Next {
    Test(BisectStep),
    Done(BisectOutcome),
}

/// A bisection in progress: the current bad commit, the good ones, the skipped ones.
pub struct Bisect {
    repo: Repo,
    bad: ObjectId,
    good: Vec<ObjectId>,
    skipped: HashSet<ObjectId>,
    path: Option<Path>,
    /// Git checks once, at the start, that the good commits are ancestors of the bad one.
    ancestors_ok: bool,
    graph: HashMap<ObjectId, Node>,
    treesame: HashMap<ObjectId, bool>,
}

#[derive(Clone)]
struct Node {
    time: i64,
    parents: Vec<ObjectId>,
    tree: ObjectId,
}

impl Bisect {
    /// Starts a bisection between a bad commit and good ones, optionally only over commits that
    /// change `path`.
    pub fn new(repo: &Repo, bad: ObjectId, good: &[ObjectId], path: Option<Path>) -> Result<Bisect> {
        let mut b = Bisect {
            repo: repo.clone(),
            bad,
            good: Vec::new(),
            skipped: HashSet::new(),
            path: path.filter(|p| !p.is_root()),
            ancestors_ok: false,
            graph: HashMap::new(),
            treesame: HashMap::new(),
        };
        b.node(bad)?;
        for &g in good {
            b.node(g)?;
            if !b.good.contains(&g) {
                b.good.push(g);
            }
        }
        if b.good.is_empty() {
            return Err(Error::InvalidRev {
                rev: String::new(),
                reason: "a bisection needs at least one good commit".into(),
            });
        }
        Ok(b)
    }

    /// The current bad commit.
    pub fn bad(&self) -> ObjectId {
        self.bad
    }

    /// The good commits so far.
    pub fn good(&self) -> &[ObjectId] {
        &self.good
    }

    /// Records what testing `commit` said.
    pub fn mark(&mut self, commit: ObjectId, verdict: Verdict) {
        match verdict {
            Verdict::Good => {
                if !self.good.contains(&commit) {
                    self.good.push(commit);
                }
            }
            Verdict::Bad => self.bad = commit,
            Verdict::Skip => {
                self.skipped.insert(commit);
            }
            Verdict::Abort => {}
        }
    }

    /// Tests commits with `test` until the first bad commit is known (or the test aborts).
    pub fn run(&mut self, mut test: impl FnMut(&BisectStep) -> Verdict) -> Result<BisectOutcome> {
        loop {
            match self.next_step()? {
                Next::Done(outcome) => return Ok(outcome),
                Next::Test(step) => match test(&step) {
                    Verdict::Abort => return Ok(BisectOutcome::Aborted(step.commit)),
                    v => self.mark(step.commit, v),
                },
            }
        }
    }

    /// The next commit to test, or how the bisection ended.
    pub fn next_step(&mut self) -> Result<Next> {
        if !self.ancestors_ok {
            if let Some(next) = self.check_merge_bases()? {
                return Ok(next);
            }
            self.ancestors_ok = true;
        }
        let list = self.candidates()?;
        let find_all = !self.skipped.is_empty();
        let (best, reaches, all) = self.find_bisection(&list, find_all)?;
        if all == 0 {
            return Ok(Next::Done(BisectOutcome::NoTestableCommit));
        }
        let (best, tried) = self.managed_skipped(best);
        let Some(&first) = best.first() else {
            return Ok(Next::Done(BisectOutcome::OnlySkipped(tried)));
        };
        if first == self.bad {
            if tried.is_empty() {
                return Ok(Next::Done(BisectOutcome::FirstBad(first)));
            }
            let mut all = tried;
            all.push(first);
            return Ok(Next::Done(BisectOutcome::OnlySkipped(all)));
        }
        Ok(Next::Test(BisectStep {
            commit: first,
            remaining: all.saturating_sub(reaches + 1),
            steps: estimate_steps(all),
            merge_base: false,
        }))
    }

    fn node(&mut self, id: ObjectId) -> Result<&Node> {
        if !self.graph.contains_key(&id) {
            let info = self.repo.commit_info(id)?;
            let node = Node {
                time: info.commit.committer.time,
                parents: info.commit.parents,
                tree: info.commit.tree,
            };
            self.graph.insert(id, node);
        }
        self.graph.get(&id).ok_or(Error::NotACommit(id))
    }

    fn parents(&mut self, id: ObjectId) -> Result<Vec<ObjectId>> {
        Ok(self.node(id)?.parents.clone())
    }

    /// Every ancestor of `start` (itself included).
    fn ancestors(&mut self, start: ObjectId) -> Result<HashSet<ObjectId>> {
        let mut seen = HashSet::from([start]);
        let mut stack = vec![start];
        while let Some(id) = stack.pop() {
            for p in self.parents(id)? {
                if seen.insert(p) {
                    stack.push(p);
                }
            }
        }
        Ok(seen)
    }

    /// Git's `check_good_are_ancestors_of_bad`: when a good commit is not an ancestor of the
    /// bad one, the merge bases of the bad commit and the good ones must be good; an untested
    /// one is tested first.
    fn check_merge_bases(&mut self) -> Result<Option<Next>> {
        // `git rev-list GOOD… --not BAD` is empty when every good commit is an ancestor of the
        // bad one: a walk as short as the difference, not the history.
        if self.walk(&self.good.clone(), &[self.bad])?.is_empty() {
            return Ok(None);
        }
        let bad_ancestors = self.ancestors(self.bad)?;
        let mut good_ancestors = HashSet::new();
        for g in self.good.clone() {
            good_ancestors.extend(self.ancestors(g)?);
        }
        let common: HashSet<ObjectId> = bad_ancestors.intersection(&good_ancestors).copied().collect();
        // The best common ancestors: those that no other common ancestor descends from.
        let mut below = HashSet::new();
        for &c in &common {
            for p in self.parents(c)? {
                below.extend(self.ancestors(p)?);
            }
        }
        let mut bases = Vec::new();
        for c in common.difference(&below) {
            bases.push((self.node(*c)?.time, *c));
        }
        bases.sort_by(|a, b| b.cmp(a));
        for (_, mb) in bases {
            if mb == self.bad {
                return Ok(Some(Next::Done(BisectOutcome::MergeBaseBad(mb))));
            }
            if self.good.contains(&mb) || self.skipped.contains(&mb) {
                continue;
            }
            return Ok(Some(Next::Test(BisectStep {
                commit: mb,
                remaining: 0,
                steps: 0,
                merge_base: true,
            })));
        }
        Ok(None)
    }

    /// `git rev-list BAD --not GOOD…`: newest first by committer date.
    fn candidates(&mut self) -> Result<Vec<ObjectId>> {
        self.walk(&[self.bad], &self.good.clone())
    }

    /// `git rev-list INCLUDE… --not EXCLUDE…` (without Git's clock-skew slop): the ancestors of
    /// `include` that are not ancestors of `exclude`, newest first by committer date. The walk
    /// stops once only excluded commits are left to visit.
    fn walk(&mut self, include: &[ObjectId], exclude: &[ObjectId]) -> Result<Vec<ObjectId>> {
        let mut uninteresting: HashSet<ObjectId> = exclude.iter().copied().collect();
        let mut seen: HashSet<ObjectId> = HashSet::new();
        let mut popped: HashSet<ObjectId> = HashSet::new();
        let mut queue: BinaryHeap<(i64, u64, ObjectId)> = BinaryHeap::new();
        let mut counter = 0u64;
        let mut order = Vec::new();
        for &id in include.iter().chain(exclude) {
            if seen.insert(id) {
                counter += 1;
                queue.push((self.node(id)?.time, u64::MAX - counter, id));
            }
        }
        while queue.iter().any(|(_, _, id)| !uninteresting.contains(id)) {
            let Some((_, _, id)) = queue.pop() else { break };
            popped.insert(id);
            let parents = self.parents(id)?;
            if uninteresting.contains(&id) {
                for &p in &parents {
                    self.mark_uninteresting(p, &mut uninteresting, &popped)?;
                }
            } else {
                order.push(id);
            }
            for p in parents {
                if seen.insert(p) {
                    counter += 1;
                    queue.push((self.node(p)?.time, u64::MAX - counter, p));
                }
            }
        }
        Ok(order
            .into_iter()
            .filter(|id| !uninteresting.contains(id))
            .collect())
    }

    /// Marks `id` and, through the commits already walked, its ancestors uninteresting.
    fn mark_uninteresting(
        &mut self,
        id: ObjectId,
        uninteresting: &mut HashSet<ObjectId>,
        popped: &HashSet<ObjectId>,
    ) -> Result<()> {
        let mut stack = vec![id];
        while let Some(c) = stack.pop() {
            if !uninteresting.insert(c) {
                continue;
            }
            if popped.contains(&c) {
                stack.extend(self.parents(c)?);
            }
        }
        Ok(())
    }

    /// Whether `id` leaves the bisection path as a parent had it (always false without a path).
    fn is_treesame(&mut self, id: ObjectId) -> Result<bool> {
        let Some(path) = self.path.clone() else {
            return Ok(false);
        };
        if let Some(&t) = self.treesame.get(&id) {
            return Ok(t);
        }
        let node = self.node(id)?.clone();
        let mine = entry_id(&self.repo, node.tree, &path)?;
        let same = if node.parents.is_empty() {
            mine.is_none()
        } else {
            let mut any = false;
            for p in node.parents {
                let ptree = self.node(p)?.tree;
                if entry_id(&self.repo, ptree, &path)? == mine {
                    any = true;
                    break;
                }
            }
            any
        };
        self.treesame.insert(id, same);
        Ok(same)
    }

    /// Git's `find_bisection`: the best commit to test (or, with `find_all`, every candidate
    /// ranked), how many candidates the first one reaches, and how many candidates count.
    fn find_bisection(
        &mut self,
        revlist: &[ObjectId],
        find_all: bool,
    ) -> Result<(Vec<ObjectId>, usize, usize)> {
        let list: Vec<ObjectId> = revlist.iter().rev().copied().collect();
        let pos: HashMap<ObjectId, usize> = list.iter().enumerate().map(|(i, id)| (*id, i)).collect();
        let mut treesame = Vec::with_capacity(list.len());
        let mut parents: Vec<Vec<usize>> = Vec::with_capacity(list.len());
        for &id in &list {
            treesame.push(self.is_treesame(id)?);
            parents.push(
                self.parents(id)?
                    .iter()
                    .filter_map(|p| pos.get(p).copied())
                    .collect(),
            );
        }
        let nr = treesame.iter().filter(|t| !**t).count();
        if nr == 0 {
            return Ok((Vec::new(), 0, 0));
        }
        let weights = weigh(&parents, &treesame, nr, find_all);
        let weights = match weights {
            Weights::Halfway(i, w) => return Ok((vec![list[i]], w as usize, nr)),
            Weights::All(w) => w,
        };
        let distance = |i: usize| -> i64 { weights[i].min(nr as i64 - weights[i]) };
        if !find_all {
            let mut best = 0;
            let mut best_distance = -1;
            for (i, _) in treesame.iter().enumerate().filter(|(_, t)| !**t) {
                if distance(i) > best_distance {
                    best = i;
                    best_distance = distance(i);
                }
            }
            return Ok((vec![list[best]], weights[best].max(0) as usize, nr));
        }
        let mut ranked: Vec<usize> = (0..list.len()).filter(|&i| !treesame[i]).collect();
        ranked.sort_by(|&a, &b| {
            distance(b)
                .cmp(&distance(a))
                .then_with(|| list[a].as_bytes().cmp(list[b].as_bytes()))
        });
        let reaches = ranked.first().map_or(0, |&i| weights[i].max(0) as usize);
        Ok((ranked.into_iter().map(|i| list[i]).collect(), reaches, nr))
    }

    /// Git's `managed_skipped`: the commit to test given the skipped ones, and the skipped
    /// candidates that were passed over.
    fn managed_skipped(&self, list: Vec<ObjectId>) -> (Vec<ObjectId>, Vec<ObjectId>) {
        if self.skipped.is_empty() {
            return (list, Vec::new());
        }
        let mut tried = Vec::new();
        let mut filtered = Vec::new();
        let mut skipped_first = false;
        for id in list {
            if self.skipped.contains(&id) {
                skipped_first = true;
                tried.push(id);
            } else {
                if !skipped_first {
                    return (vec![id], tried);
                }
                filtered.push(id);
            }
        }
        if filtered.is_empty() {
            return (filtered, tried);
        }
        let index = skip_away_index(filtered.len());
        let pick = match filtered.get(index) {
            Some(&c) if c != self.bad => c,
            Some(_) if index > 0 => filtered[index - 1],
            _ => filtered[0],
        };
        (vec![pick], tried)
    }
}

fn entry_id(repo: &Repo, tree: ObjectId, path: &Path) -> Result<Option<ObjectId>> {
    Ok(match Tree::from_id(tree).find(repo.objects(), path)? {
        None => None,
        Some(Entry::Value { id, .. }) | Some(Entry::Gitlink(id)) => Some(id),
        Some(Entry::Tree(t)) => t.id(),
    })
}

enum Weights {
    /// A commit at half way was found early: its index and weight.
    Halfway(usize, i64),
    All(Vec<i64>),
}

/// Git's `do_find_bisection`: how many counted candidates each candidate reaches. `parents`
/// holds, per candidate, the indices of its parents that are candidates too; the list is in
/// reverse `rev-list` order (oldest first). Unless `find_all`, stops at the first commit found
/// at half way.
fn weigh(parents: &[Vec<usize>], treesame: &[bool], nr: usize, find_all: bool) -> Weights {
    let n = parents.len();
    let halfway = |i: usize, w: i64| !find_all && !treesame[i] && (-1..=1).contains(&(2 * w - nr as i64));
    let mut weights = vec![0i64; n];
    let mut counted = 0usize;
    for i in 0..n {
        match parents[i].len() {
            0 => {
                if !treesame[i] {
                    weights[i] = 1;
                    counted += 1;
                }
            }
            1 => weights[i] = -1,
            _ => weights[i] = -2,
        }
    }
    // Merges: count what they reach the expensive way (their parents' counts overlap).
    for i in (0..n).filter(|&i| parents[i].len() > 1) {
        weights[i] = count_distance(parents, treesame, i);
        if halfway(i, weights[i]) {
            return Weights::Halfway(i, weights[i]);
        }
        counted += 1;
    }
    // A single strand of pearls: one more than the parent.
    while counted < nr {
        let mut progress = false;
        for i in 0..n {
            if weights[i] >= 0 {
                continue;
            }
            let Some(&q) = parents[i].iter().find(|&&q| weights[q] >= 0) else {
                continue;
            };
            progress = true;
            if !treesame[i] {
                weights[i] = weights[q] + 1;
                counted += 1;
            } else {
                weights[i] = weights[q];
            }
            if halfway(i, weights[i]) {
                return Weights::Halfway(i, weights[i]);
            }
        }
        if !progress {
            break;
        }
    }
    Weights::All(weights)
}

/// How many counted candidates `start` reaches, itself included.
fn count_distance(parents: &[Vec<usize>], treesame: &[bool], start: usize) -> i64 {
    let mut seen = vec![false; parents.len()];
    let mut stack = vec![start];
    let mut count = 0;
    while let Some(i) = stack.pop() {
        if std::mem::replace(&mut seen[i], true) {
            continue;
        }
        if !treesame[i] {
            count += 1;
        }
        stack.extend(parents[i].iter().copied().filter(|&p| !seen[p]));
    }
    count
}

/// Git's `estimate_bisect_steps`.
fn estimate_steps(all: usize) -> usize {
    if all < 3 {
        return 0;
    }
    let n = usize::BITS - 1 - all.leading_zeros();
    let e = 1usize << n;
    let x = all - e;
    if e < 3 * x {
        n as usize
    } else {
        n as usize - 1
    }
}

const PRN_MODULO: u32 = 32768;

/// Git's `get_prn`, "based on man 3 rand", seeded with the count.
fn get_prn(count: u32) -> u32 {
    let c = count.wrapping_mul(1103515245).wrapping_add(12345);
    (c / 65536) % PRN_MODULO
}

/// Git's `sqrti`, in single precision as Git computes it.
fn sqrti(val: u32) -> u32 {
    if val == 0 {
        return 0;
    }
    let v = val as f32;
    let mut x = v;
    loop {
        let y = (x + v / x) / 2.0;
        let d = (y - x).abs();
        x = y;
        if d < 0.5 {
            break;
        }
    }
    x as u32
}

/// Git's `skip_away`: which of `count` ranked candidates to test instead of a skipped best one.
fn skip_away_index(count: usize) -> usize {
    let count = count as u32;
    let prn = get_prn(count);
    let index = (u64::from(count) * u64::from(prn) / u64::from(PRN_MODULO)) * u64::from(sqrti(prn))
        / u64::from(sqrti(PRN_MODULO));
    index as usize
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::object::{HashKind, Signature};
    use crate::store::CommitOptions;

    fn p(s: &str) -> Path {
        Path::parse(s).unwrap()
    }

    fn opts(msg: &str, t: i64) -> CommitOptions {
        let sig = Signature {
            name: "t".into(),
            email: "t@example.com".into(),
            time: t,
            offset_minutes: 0,
        };
        CommitOptions {
            message: msg.into(),
            author: Some(sig.clone()),
            committer: Some(sig),
        }
    }

    /// A linear history of `n` commits where `status` is `broken` from commit `from` on.
    fn linear(n: usize, from: usize) -> (Repo, Vec<ObjectId>) {
        let repo = Repo::in_memory(HashKind::Sha1);
        let main = repo.branch("main").unwrap();
        let mut ids = Vec::new();
        for i in 1..=n {
            let status = if i >= from { "broken" } else { "ok" };
            let tx = main
                .transaction()
                .set(p("status"), status)
                .set(p("n"), i.to_string());
            ids.push(
                tx.commit(&opts(&format!("c{i}"), 1_700_000_000 + i as i64))
                    .unwrap(),
            );
        }
        (repo, ids)
    }

    fn status_at(repo: &Repo, id: ObjectId) -> Vec<u8> {
        repo.view_at(id).unwrap().get(&p("status")).unwrap().unwrap()
    }

    #[test]
    fn finds_the_first_bad_commit_in_log_steps() {
        for from in [2, 3, 17, 27, 39, 40] {
            let (repo, ids) = linear(40, from);
            let mut b = Bisect::new(&repo, ids[39], &[ids[0]], None).unwrap();
            let mut runs = 0;
            let outcome = b
                .run(|step| {
                    runs += 1;
                    if status_at(&repo, step.commit) == b"broken" {
                        Verdict::Bad
                    } else {
                        Verdict::Good
                    }
                })
                .unwrap();
            assert_eq!(outcome, BisectOutcome::FirstBad(ids[from - 1]), "from {from}");
            assert!(runs <= 6, "{runs} runs for 39 candidates");
        }
    }

    #[test]
    fn skips_land_elsewhere_and_can_leave_only_skipped() {
        let (repo, ids) = linear(20, 11);
        // Commits 10 and 11 cannot be tested: the first bad one is 10, 11 or 12.
        let untestable = [ids[9], ids[10]];
        let mut b = Bisect::new(&repo, ids[19], &[ids[0]], None).unwrap();
        let outcome = b
            .run(|step| {
                if untestable.contains(&step.commit) {
                    Verdict::Skip
                } else if status_at(&repo, step.commit) == b"broken" {
                    Verdict::Bad
                } else {
                    Verdict::Good
                }
            })
            .unwrap();
        match outcome {
            BisectOutcome::OnlySkipped(mut c) => {
                c.sort();
                let mut want = vec![ids[9], ids[10], ids[11]];
                want.sort();
                assert_eq!(c, want);
            }
            other => panic!("unexpected {other:?}"),
        }
        // Skipping the first pick moves the next test away from it, and the answer is found.
        let (repo, ids) = linear(20, 15);
        let mut b = Bisect::new(&repo, ids[19], &[ids[0]], None).unwrap();
        let mut tested = Vec::new();
        let outcome = b
            .run(|step| {
                tested.push(step.commit);
                if tested.len() == 1 {
                    Verdict::Skip
                } else if status_at(&repo, step.commit) == b"broken" {
                    Verdict::Bad
                } else {
                    Verdict::Good
                }
            })
            .unwrap();
        assert_eq!(outcome, BisectOutcome::FirstBad(ids[14]), "tested {tested:?}");
        assert!(
            !tested[1..].contains(&tested[0]),
            "a skipped commit was tested again"
        );
    }

    #[test]
    fn abort_stops() {
        let (repo, ids) = linear(10, 5);
        let mut b = Bisect::new(&repo, ids[9], &[ids[0]], None).unwrap();
        let outcome = b.run(|_| Verdict::Abort).unwrap();
        assert!(matches!(outcome, BisectOutcome::Aborted(_)));
    }

    #[test]
    fn exit_codes_follow_git_bisect_run() {
        assert_eq!(Verdict::from_exit_code(Some(0)), Verdict::Good);
        assert_eq!(Verdict::from_exit_code(Some(1)), Verdict::Bad);
        assert_eq!(Verdict::from_exit_code(Some(127)), Verdict::Bad);
        assert_eq!(Verdict::from_exit_code(Some(125)), Verdict::Skip);
        assert_eq!(Verdict::from_exit_code(Some(128)), Verdict::Abort);
        assert_eq!(Verdict::from_exit_code(Some(255)), Verdict::Abort);
        assert_eq!(Verdict::from_exit_code(Some(-1)), Verdict::Abort);
        assert_eq!(Verdict::from_exit_code(None), Verdict::Abort);
    }

    #[test]
    fn git_helpers_match_git() {
        assert_eq!(estimate_steps(1), 0);
        assert_eq!(estimate_steps(39), 4);
        assert_eq!(estimate_steps(40), 4);
        assert_eq!(estimate_steps(1024), 9);
        assert_eq!(estimate_steps(1500), 10);
        assert_eq!(sqrti(32768), 181);
        assert_eq!(sqrti(0), 0);
        assert_eq!(sqrti(16), 4);
        assert!(skip_away_index(1) < 1);
        for c in 1..200 {
            assert!(skip_away_index(c) < c);
        }
    }

    #[test]
    fn with_a_path_only_commits_that_change_it_are_tested() {
        let repo = Repo::in_memory(HashKind::Sha1);
        let main = repo.branch("main").unwrap();
        let mut ids = Vec::new();
        for i in 1..=30i64 {
            // `status` changes every third commit; `noise` every commit.
            let mut tx = main.transaction().set(p("noise"), i.to_string());
            if i % 3 == 0 {
                let status = if i >= 15 {
                    "broken".to_string()
                } else {
                    format!("ok {i}")
                };
                tx = tx.set(p("status"), status);
            }
            ids.push(tx.commit(&opts("c", 1_700_000_000 + i)).unwrap());
        }
        let mut b = Bisect::new(&repo, ids[29], &[ids[0]], Some(p("status"))).unwrap();
        let mut tested = Vec::new();
        let outcome = b
            .run(|step| {
                tested.push(step.commit);
                let v = repo.view_at(step.commit).unwrap().get(&p("status")).unwrap();
                if v.as_deref() == Some(&b"broken"[..]) {
                    Verdict::Bad
                } else {
                    Verdict::Good
                }
            })
            .unwrap();
        assert_eq!(outcome, BisectOutcome::FirstBad(ids[14]));
        let changing: HashSet<ObjectId> = (0..30).filter(|i| (i + 1) % 3 == 0).map(|i| ids[i]).collect();
        assert!(
            tested.iter().all(|c| changing.contains(c)),
            "tested a commit that leaves the path alone"
        );
    }

    #[test]
    fn a_good_commit_off_the_bad_history_makes_the_merge_base_tested() {
        let repo = Repo::in_memory(HashKind::Sha1);
        let main = repo.branch("main").unwrap();
        let base = main
            .set(&p("status"), "ok", &opts("base", 1_700_000_000))
            .unwrap();
        let side = repo.create_branch("side", base).unwrap();
        let good = side.set(&p("side"), "x", &opts("side", 1_700_000_100)).unwrap();
        main.set(&p("a"), "1", &opts("a", 1_700_000_200)).unwrap();
        let broken = main
            .set(&p("status"), "broken", &opts("broken", 1_700_000_300))
            .unwrap();
        let bad = main.set(&p("b"), "2", &opts("b", 1_700_000_400)).unwrap();
        let mut b = Bisect::new(&repo, bad, &[good], None).unwrap();
        let Next::Test(first) = b.next_step().unwrap() else {
            panic!("expected a test")
        };
        assert!(first.merge_base);
        assert_eq!(first.commit, base);
        b.mark(base, Verdict::Good);
        let outcome = b
            .run(|s| {
                if status_at(&repo, s.commit) == b"broken" {
                    Verdict::Bad
                } else {
                    Verdict::Good
                }
            })
            .unwrap();
        assert_eq!(outcome, BisectOutcome::FirstBad(broken));
        // A bad merge base ends it.
        let mut b = Bisect::new(&repo, bad, &[good], None).unwrap();
        let outcome = b.run(|_| Verdict::Bad).unwrap();
        assert_eq!(outcome, BisectOutcome::MergeBaseBad(base));
    }
}
