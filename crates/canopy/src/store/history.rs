//! History walks: the commits reachable from starting points, newest first by committer date,
//! in the order `git log` lists them; with a path, the commits `git log -- PATH` lists.
//!
//! The walk is `revision.c`'s: a queue ordered by committer date (ties in the order commits were
//! reached); a commit is taken from it, its parents not yet reached go in, and the commit is
//! shown. With a path it applies Git's default history simplification as it goes: a commit is
//! *TREESAME* to a parent whose path (the value, or the directory and everything below it) is
//! identical; at such a parent the walk follows only the first one and drops the others, so a
//! side branch whose merge brought nothing new for the path is never read. A commit is shown
//! when it is TREESAME to none of its parents (a root commit: when it has the path).
//!
//! Only parents, dates and trees are needed until a commit is shown. They come from the
//! commit-graph file when it lists the commit, else from the commit's headers; the whole commit
//! is parsed only when it is shown. When the graph has changed-path Bloom filters, a commit
//! whose filter says the path definitely did not change is TREESAME to its first parent without
//! reading a tree (Git consults the filter for the first parent only, and so does this walk). What it does not do: `--full-history`, parent rewriting
//! (`--parents`, `--graph`), `--follow`.

use std::collections::{BinaryHeap, HashMap};
use std::sync::Arc;

use super::{Error, Repo, Result};
use crate::backend::git::bloom;
use crate::backend::git::commit_graph::Graph;
use crate::backend::{self, ContentAddressable};
use crate::object::{
    Commit, CommitHeader, HashKind, IdHash, IdMap, IdSet, Mode, ObjectError, ObjectId, ObjectKind,
    TreeEntries,
};
use crate::path::Path;

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

/// What the walk knows of a commit before it is shown.
struct Node {
    tree: ObjectId,
    parents: Vec<ObjectId>,
    time: i64,
    /// The object, when it was read (no commit-graph entry), so that showing it reads it once.
    raw: Option<Vec<u8>>,
    /// Its position in the commit-graph, when the graph lists it.
    graph_pos: Option<usize>,
}

/// Commits reachable from a set of starting points, newest first by committer date (ties in
/// the order they were reached), each once: the order of `git log`. [`History::touching`]
/// narrows it to `git log -- PATH`.
pub struct History {
    repo: Repo,
    graph: Option<Arc<Graph>>,
    path: Option<PathLookup>,
    queue: BinaryHeap<(i64, u64, ObjectId)>,
    seen: IdSet,
    /// Commits read (parents, to learn their dates) and not yet taken from the queue.
    nodes: IdMap<Node>,
    counter: u64,
    /// An error met before the walk started (reading a starting commit).
    error: Option<Error>,
    failed: bool,
    /// The shallow boundary: commits whose parents this store does not have, walked as roots
    /// (as Git's shallow grafts make them).
    shallow: std::collections::BTreeSet<ObjectId>,
}

impl History {
    pub(super) fn new(repo: Repo, starts: &[ObjectId]) -> History {
        let graph = repo.objects().commit_graph();
        let (shallow, error) = match crate::sync::shallow::read(&repo) {
            Ok(s) => (s, None),
            Err(e) => (
                Default::default(),
                Some(Error::Backend(backend::Error::CorruptFile {
                    path: "shallow".into(),
                    reason: e.to_string(),
                })),
            ),
        };
        let mut h = History {
            repo,
            graph,
            path: None,
            queue: BinaryHeap::new(),
            seen: IdSet::default(),
            nodes: IdMap::default(),
            counter: 0,
            error,
            failed: false,
            shallow,
        };
        for &id in starts {
            if let Err(e) = h.reach(id) {
                h.error = Some(e);
                break;
            }
        }
        h
    }

    /// Only the commits `git log -- PATH` shows (`path` is a value, or a directory and
    /// everything below it), with Git's default history simplification (see the module
    /// documentation). Call it before walking.
    pub fn touching(mut self, path: Path) -> History {
        let keys = self.graph.as_ref().and_then(|g| g.path_keys(&path.to_bytes()));
        let mut lookup = PathLookup::new(self.repo.hash_kind(), path);
        lookup.keys = keys;
        self.path = Some(lookup);
        self
    }

    /// Queues `id` unless it was reached before.
    fn reach(&mut self, id: ObjectId) -> Result<()> {
        if self.seen.contains(&id) {
            return Ok(());
        }
        let time = match self.nodes.get(&id) {
            Some(n) => n.time,
            None => {
                let node = self.load(id)?;
                let time = node.time;
                self.nodes.insert(id, node);
                time
            }
        };
        self.seen.insert(id);
        self.counter += 1;
        // Later-reached commits sort after earlier ones at the same time.
        self.queue.push((time, u64::MAX - self.counter, id));
        Ok(())
    }

    /// Tree, parents and date of `id`: from the commit-graph if it lists it, else the object.
    fn load(&self, id: ObjectId) -> Result<Node> {
        let mut node = self.load_object(id)?;
        if self.shallow.contains(&id) {
            node.parents.clear();
        }
        Ok(node)
    }

    fn load_object(&self, id: ObjectId) -> Result<Node> {
        if let Some(g) = &self.graph {
            if let Some(pos) = g.position(&id) {
                if let Some(c) = g.commit_at(pos) {
                    return Ok(Node {
                        tree: c.tree,
                        parents: c.parents,
                        time: c.time,
                        raw: None,
                        graph_pos: Some(pos),
                    });
                }
            }
        }
        let obj = self
            .repo
            .objects()
            .read(&id)?
            .ok_or(backend::Error::MissingObject { id })?;
        if obj.kind != ObjectKind::Commit {
            return Err(Error::NotACommit(id));
        }
        let h = CommitHeader::parse(self.repo.hash_kind(), &obj.data).map_err(|e| e.with_id(id))?;
        Ok(Node {
            tree: h.tree,
            parents: h.parents,
            time: h.time,
            raw: Some(obj.data),
            graph_pos: None,
        })
    }

    /// The tree of `id`, keeping what was read for later if the walk may still reach it.
    fn tree_of(&mut self, id: ObjectId) -> Result<ObjectId> {
        if let Some(n) = self.nodes.get(&id) {
            return Ok(n.tree);
        }
        let node = self.load(id)?;
        let tree = node.tree;
        if !self.seen.contains(&id) {
            self.nodes.insert(id, node);
        }
        Ok(tree)
    }

    /// Takes `id` off the queue: queues the parents the walk follows, and returns what is known
    /// of the commit if it is shown.
    fn step(&mut self, id: ObjectId) -> Result<Option<Node>> {
        let node = match self.nodes.remove(&id) {
            Some(n) => n,
            None => self.load(id)?,
        };
        let (follow, shown) = match self.path.take() {
            None => (node.parents, true),
            Some(mut path) => {
                let result = self.simplify(&mut path, node.tree, node.parents, node.graph_pos);
                self.path = Some(path);
                result?
            }
        };
        for p in follow {
            self.reach(p)?;
        }
        Ok(shown.then_some(Node {
            parents: Vec::new(),
            ..node
        }))
    }

    /// The whole commit, read (once) only now that it is shown.
    fn show(&self, id: ObjectId, node: Node) -> Result<CommitInfo> {
        let hash = self.repo.hash_kind();
        let commit = match node.raw {
            Some(raw) => Commit::parse(hash, &raw),
            None => Commit::parse(hash, &self.repo.objects().read_kind(&id, ObjectKind::Commit)?),
        }
        .map_err(|e| e.with_id(id))?;
        Ok(CommitInfo { id, commit })
    }

    /// The next commit shown, and what the walk knows of it.
    fn next_shown(&mut self) -> Option<Result<(ObjectId, Node)>> {
        if let Some(e) = self.error.take() {
            self.failed = true;
            return Some(Err(e));
        }
        while !self.failed {
            let (_, _, id) = self.queue.pop()?;
            match self.step(id) {
                Ok(Some(node)) => return Some(Ok((id, node))),
                Ok(None) => {}
                Err(e) => {
                    self.failed = true;
                    return Some(Err(e));
                }
            }
        }
        None
    }

    /// The ids of the commits this walk shows, in the same order, without reading the commits
    /// themselves: with a commit-graph, a walk reads no commit object (`git rev-list`).
    pub fn ids(self) -> impl Iterator<Item = Result<ObjectId>> {
        let graph = match (&self.graph, &self.path, &self.error) {
            (Some(g), None, None) if self.shallow.is_empty() => Some(g.clone()),
            _ => None,
        };
        let (mut by_position, mut by_id) = match graph {
            Some(g) => (Some(GraphIds::new(self, g)), None),
            None => (None, Some(self)),
        };
        std::iter::from_fn(move || match (&mut by_position, &mut by_id) {
            (Some(walk), _) => walk.next(),
            (None, Some(history)) => history.next_shown().map(|r| r.map(|(id, _)| id)),
            (None, None) => None,
        })
    }

    /// `try_to_simplify_commit` of Git's default mode: the parents to follow, and whether the
    /// commit is shown.
    fn simplify(
        &mut self,
        path: &mut PathLookup,
        tree: ObjectId,
        parents: Vec<ObjectId>,
        graph_pos: Option<usize>,
    ) -> Result<(Vec<ObjectId>, bool)> {
        if let (Some(g), Some(pos), Some(keys), Some(&first)) =
            (&self.graph, graph_pos, &path.keys, parents.first())
        {
            if g.maybe_changed(pos, keys) == Some(false) {
                return Ok((vec![first], false));
            }
        }
        let mine = path.entry(self.repo.objects(), tree)?;
        if parents.is_empty() {
            return Ok((parents, mine.is_some()));
        }
        for &p in &parents {
            let tree = self.tree_of(p)?;
            if path.entry(self.repo.objects(), tree)? == mine {
                return Ok((vec![p], false));
            }
        }
        Ok((parents, true))
    }
}

impl Iterator for History {
    type Item = Result<CommitInfo>;

    fn next(&mut self) -> Option<Result<CommitInfo>> {
        let shown = self.next_shown()?.and_then(|(id, node)| self.show(id, node));
        if shown.is_err() {
            self.failed = true;
        }
        Some(shown)
    }
}

/// A queued commit of [`GraphIds`]: by its position when the commit-graph lists it, else by id.
#[derive(PartialEq, Eq, PartialOrd, Ord)]
enum Key {
    Pos(u32),
    Id(ObjectId),
}

/// [`History::ids`] without a path, on a commit-graph: the same walk and order, but commits the
/// graph lists are queued, marked and followed by their positions in it, as `git rev-list` does,
/// so a parent is never turned into an id and looked up again. Commits newer than the graph are
/// read as objects (through the [`History`] it was made from) until the walk enters the graph.
struct GraphIds {
    history: History,
    graph: Arc<Graph>,
    queue: BinaryHeap<(i64, u64, Key)>,
    /// One bit per position: reached.
    seen: Vec<u64>,
    parents: Vec<u32>,
}

impl GraphIds {
    fn new(mut history: History, graph: Arc<Graph>) -> GraphIds {
        let queued = std::mem::take(&mut history.queue).into_vec();
        let mut walk = GraphIds {
            history,
            seen: vec![0; graph.len().div_ceil(64)],
            graph,
            queue: BinaryHeap::with_capacity(queued.len()),
            parents: Vec::new(),
        };
        for (time, order, id) in queued {
            let key = match walk.graph.position(&id) {
                Some(pos) => {
                    walk.mark(pos);
                    walk.history.nodes.remove(&id);
                    Key::Pos(pos as u32)
                }
                None => Key::Id(id),
            };
            walk.queue.push((time, order, key));
        }
        walk
    }

    /// Marks `pos` reached; false if it was already.
    fn mark(&mut self, pos: usize) -> bool {
        let (word, bit) = (pos / 64, 1u64 << (pos % 64));
        let new = self.seen[word] & bit == 0;
        self.seen[word] |= bit;
        new
    }

    fn corrupt(reason: &str) -> Error {
        Error::Backend(backend::Error::CorruptFile {
            path: "objects/info/commit-graph".into(),
            reason: reason.into(),
        })
    }

    fn reach_position(&mut self, pos: u32) -> Result<()> {
        if pos as usize >= self.graph.len() {
            return Err(Self::corrupt("a parent position is out of range"));
        }
        if self.mark(pos as usize) {
            let time = self
                .graph
                .time_at(pos as usize)
                .ok_or_else(|| Self::corrupt("truncated commit data"))?;
            self.history.counter += 1;
            self.queue
                .push((time, u64::MAX - self.history.counter, Key::Pos(pos)));
        }
        Ok(())
    }

    fn reach_id(&mut self, id: ObjectId) -> Result<()> {
        if let Some(pos) = self.graph.position(&id) {
            return self.reach_position(pos as u32);
        }
        self.history.reach(id)?;
        if let Some((time, order, id)) = self.history.queue.pop() {
            self.queue.push((time, order, Key::Id(id)));
        }
        Ok(())
    }

    fn step(&mut self, key: Key) -> Result<ObjectId> {
        match key {
            Key::Pos(pos) => {
                let mut parents = std::mem::take(&mut self.parents);
                parents.clear();
                self.graph
                    .parent_positions(pos as usize, &mut parents)
                    .ok_or_else(|| Self::corrupt("truncated parent data"))?;
                for &p in &parents {
                    self.reach_position(p)?;
                }
                self.parents = parents;
                self.graph
                    .id_at(pos as usize)
                    .ok_or_else(|| Self::corrupt("truncated commit ids"))
            }
            Key::Id(id) => {
                let node = match self.history.nodes.remove(&id) {
                    Some(n) => n,
                    None => self.history.load(id)?,
                };
                for p in node.parents {
                    self.reach_id(p)?;
                }
                Ok(id)
            }
        }
    }

    fn next(&mut self) -> Option<Result<ObjectId>> {
        if self.history.failed {
            return None;
        }
        let (_, _, key) = self.queue.pop()?;
        let result = self.step(key);
        self.history.failed = result.is_err();
        Some(result)
    }
}

/// What a path holds in a tree, as far as `git log -- PATH` can tell: nothing, or an entry's
/// mode and id (an empty directory counts as nothing: it holds no file).
pub(super) type PathEntry = Option<(Mode, ObjectId)>;

/// Finds one path in many trees, remembering for every directory on the path what lies at the
/// end of it: commits that share a directory share the answer without reading below it.
pub(super) struct PathLookup {
    hash: HashKind,
    path: Path,
    /// (depth, id of the directory at that depth) → the entry at the end of the path.
    known: HashMap<(usize, ObjectId), PathEntry, IdHash>,
    /// The path's changed-path filter keys, when the commit-graph has filters.
    keys: Option<Vec<bloom::Key>>,
}

impl PathLookup {
    pub(super) fn new(hash: HashKind, path: Path) -> PathLookup {
        PathLookup {
            hash,
            path,
            known: HashMap::default(),
            keys: None,
        }
    }

    pub(super) fn entry(&mut self, store: &dyn ContentAddressable, root: ObjectId) -> Result<PathEntry> {
        let steps: Vec<&[u8]> = self.path.steps().collect();
        let mut visited = Vec::new();
        let (mut dir, mut depth) = (root, 0);
        let found = loop {
            if let Some(known) = self.known.get(&(depth, dir)) {
                break *known;
            }
            visited.push((depth, dir));
            if depth == steps.len() {
                break Some((Mode::Tree, dir));
            }
            let data = store.read_kind(&dir, ObjectKind::Tree)?;
            match find_entry(self.hash, &data, steps[depth]).map_err(|e| e.with_id(dir))? {
                Some((mode, id)) if depth + 1 == steps.len() => break Some((mode, id)),
                Some((Mode::Tree, id)) => {
                    dir = id;
                    depth += 1;
                }
                _ => break None,
            }
        };
        let found = found.filter(|&(mode, id)| !(mode == Mode::Tree && id == self.hash.empty_tree()));
        for key in visited {
            self.known.insert(key, found);
        }
        Ok(found)
    }
}

/// The entry called `name` in a tree object's content, found without building the entry list.
fn find_entry(hash: HashKind, data: &[u8], name: &[u8]) -> Result<Option<(Mode, ObjectId)>, ObjectError> {
    for entry in TreeEntries::new(hash, data) {
        let entry = entry?;
        if entry.name == name {
            return Ok(Some((entry.mode, entry.id())));
        }
    }
    Ok(None)
}
