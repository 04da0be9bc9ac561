//! An immutable in-memory tree over the object store, loaded lazily and shared between versions.
//!
//! A [`Tree`] is a cheap handle (`Arc`). A tree read from the store starts as just its id; its
//! entries are parsed the first time something looks inside it, so reading one path loads only the
//! nodes on that path. Changing a path returns a new tree that rebuilds only the spine from the
//! root to that path; every other subtree is shared with the old version, and [`Tree::write`]
//! stores only the nodes that have no id yet.
//!
//! Every entry name read from the store is checked like a user's path ([`crate::path`]), so a
//! tree holding `..`, `.git` or a name with `/` (which Git refuses to check out) is refused here
//! with an error naming the tree, instead of being walked.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, OnceLock};

use crate::backend::{self, ContentAddressable};
use crate::object::{escape_bytes, Mode, ObjectId, ObjectKind, TreeEntry};
use crate::path::{check_step, Path, Steps};

/// Git's default `core.maxTreeDepth`: deeper trees are refused rather than walked.
pub const MAX_DEPTH: usize = 2048;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Backend(#[from] backend::Error),
    #[error("tree {tree} holds an entry Canopy refuses to read through: '{name}' ({reason})")]
    InvalidEntry {
        tree: ObjectId,
        name: String,
        reason: String,
    },
    #[error("'{path}' is a value, not a directory")]
    NotADirectory { path: Path },
    #[error("tree is deeper than {MAX_DEPTH} levels")]
    TooDeep,
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What a name in a tree stands for.
#[derive(Clone, Debug)]
pub enum Entry {
    /// A value: a blob, with its mode (file, executable or symlink).
    Value { id: ObjectId, mode: Mode },
    /// A directory.
    Tree(Tree),
    /// A submodule commit (not stored in this repository).
    Gitlink(ObjectId),
}

impl Entry {
    /// A plain value entry.
    pub fn value(id: ObjectId) -> Entry {
        Entry::Value { id, mode: Mode::File }
    }

    /// The entry a stored tree gives for `mode` and `id`.
    pub fn stored(mode: Mode, id: ObjectId) -> Entry {
        match mode {
            Mode::Tree => Entry::Tree(Tree::from_id(id)),
            Mode::Gitlink => Entry::Gitlink(id),
            mode => Entry::Value { id, mode },
        }
    }

    pub fn kind(&self) -> EntryKind {
        match self {
            Entry::Value { .. } => EntryKind::Value,
            Entry::Tree(_) => EntryKind::Tree,
            Entry::Gitlink(_) => EntryKind::Gitlink,
        }
    }

    fn mode(&self) -> Mode {
        match self {
            Entry::Value { mode, .. } => *mode,
            Entry::Tree(_) => Mode::Tree,
            Entry::Gitlink(_) => Mode::Gitlink,
        }
    }
}

/// The kind of an entry, without its content.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum EntryKind {
    Value,
    Tree,
    Gitlink,
}

/// The name of a directory entry. Names of up to 16 bytes are held inline, so that a lookup
/// compares names stored in the map's own nodes rather than following a pointer per name.
pub type Name = smallvec::SmallVec<[u8; 16]>;

/// The entries of one directory, keyed by name.
pub type Entries = BTreeMap<Name, Entry>;

/// The entries of one directory in name order.
pub type EntriesIter<'a> = std::collections::btree_map::Iter<'a, Name, Entry>;

/// An immutable directory; cloning is cheap.
#[derive(Clone)]
pub struct Tree(Arc<Node>);

struct Node {
    /// Known when the node is stored (read from the store, or written).
    id: OnceLock<ObjectId>,
    /// Known when the node was built in memory, or once it has been loaded.
    entries: OnceLock<Arc<Entries>>,
    /// Lookups by name through this node so far, until it is indexed.
    finds: AtomicU32,
    /// The entries again, by name hash: built for a large directory once it has served
    /// [`INDEX_AFTER`] lookups, as a tree map's search costs a cache miss per level.
    index: OnceLock<NameIndex>,
}

/// A directory of at least this many entries is indexed by name hash for lookups...
const INDEX_ENTRIES: usize = 32;
/// ...once this many lookups have gone through it (a directory looked into once or twice,
/// as a write does, is not worth the index).
const INDEX_AFTER: u32 = 16;

type NameIndex = hashbrown::HashMap<Name, Entry>;

impl std::fmt::Debug for Tree {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0.id.get() {
            Some(id) => write!(f, "Tree({id})"),
            None => write!(f, "Tree(<unwritten>)"),
        }
    }
}

impl Tree {
    /// The empty directory.
    pub fn empty() -> Tree {
        Tree::from_entries(Entries::new())
    }

    /// The stored tree with this id; nothing is read until it is looked into.
    pub fn from_id(id: ObjectId) -> Tree {
        let node = Node {
            id: OnceLock::new(),
            entries: OnceLock::new(),
            finds: AtomicU32::new(0),
            index: OnceLock::new(),
        };
        let _ = node.id.set(id);
        Tree(Arc::new(node))
    }

    /// A tree built in memory from entries.
    pub fn from_entries(entries: Entries) -> Tree {
        let node = Node {
            id: OnceLock::new(),
            entries: OnceLock::new(),
            finds: AtomicU32::new(0),
            index: OnceLock::new(),
        };
        let _ = node.entries.set(Arc::new(entries));
        Tree(Arc::new(node))
    }

    /// The id, if this tree is stored.
    pub fn id(&self) -> Option<ObjectId> {
        self.0.id.get().copied()
    }

    /// Whether both handles are known to hold the same content without loading anything.
    pub fn same_as(&self, other: &Tree) -> bool {
        Arc::ptr_eq(&self.0, &other.0) || matches!((self.id(), other.id()), (Some(a), Some(b)) if a == b)
    }

    /// This directory's entries, loading them on first use.
    pub fn entries(&self, store: &dyn ContentAddressable) -> Result<Arc<Entries>> {
        Ok(self.loaded(store)?.clone())
    }

    /// The entries, loaded on first use, borrowed from this node (set once, never replaced).
    fn loaded(&self, store: &dyn ContentAddressable) -> Result<&Arc<Entries>> {
        if let Some(e) = self.0.entries.get() {
            return Ok(e);
        }
        let id = self.id().expect("a tree node always has entries or an id");
        let loaded = Arc::new(load(store, &id)?);
        Ok(self.0.entries.get_or_init(|| loaded))
    }

    /// Whether the entries are in memory (built, or loaded already).
    pub(crate) fn is_loaded(&self) -> bool {
        self.0.entries.get().is_some()
    }

    /// Whether the directory has no entries.
    pub fn is_empty(&self, store: &dyn ContentAddressable) -> Result<bool> {
        Ok(self.entries(store)?.is_empty())
    }

    /// The entry at `path` (the root itself for the empty path).
    pub fn find(&self, store: &dyn ContentAddressable, path: &Path) -> Result<Option<Entry>> {
        // Borrowed all the way down: each directory's entries live in its node, which its
        // parent's entries keep alive; only the entry found is cloned.
        let mut steps = path.steps();
        let Some(mut name) = steps.next() else {
            return Ok(Some(Entry::Tree(self.clone())));
        };
        let mut dir = self;
        loop {
            let Some(entry) = dir.child(store, name)? else {
                return Ok(None);
            };
            match (steps.next(), entry) {
                (None, entry) => return Ok(Some(entry.clone())),
                (Some(next), Entry::Tree(child)) => (dir, name) = (child, next),
                (Some(_), _) => return Ok(None),
            }
        }
    }

    /// The entry named `name` in this directory, through the name index once the directory
    /// is large and looked into often.
    fn child(&self, store: &dyn ContentAddressable, name: &[u8]) -> Result<Option<&Entry>> {
        if let Some(index) = self.0.index.get() {
            return Ok(index.get(name));
        }
        let entries = self.loaded(store)?;
        if entries.len() >= INDEX_ENTRIES && self.0.finds.fetch_add(1, Ordering::Relaxed) >= INDEX_AFTER {
            let index = self.0.index.get_or_init(|| {
                let mut index = NameIndex::with_capacity(entries.len());
                index.extend(entries.iter().map(|(n, e)| (n.clone(), e.clone())));
                index
            });
            return Ok(index.get(name));
        }
        Ok(entries.get(name))
    }

    /// The directory at `path`, if there is one.
    pub fn subtree(&self, store: &dyn ContentAddressable, path: &Path) -> Result<Option<Tree>> {
        Ok(match self.find(store, path)? {
            Some(Entry::Tree(t)) => Some(t),
            _ => None,
        })
    }

    /// A tree where `path` holds `entry` (or nothing, for `None`). Missing directories on the way
    /// are created; a value on the way is replaced by a directory; directories left empty by a
    /// removal disappear (Git cannot store them). Setting the root to a value is refused.
    pub fn with(&self, store: &dyn ContentAddressable, path: &Path, entry: Option<Entry>) -> Result<Tree> {
        let mut steps = path.steps();
        match steps.next() {
            None => match entry {
                Some(Entry::Tree(t)) => Ok(t),
                None => Ok(Tree::empty()),
                Some(_) => Err(Error::NotADirectory { path: Path::root() }),
            },
            Some(first) => self.with_steps(store, first, steps, entry),
        }
    }

    fn with_steps(
        &self,
        store: &dyn ContentAddressable,
        first: &[u8],
        mut rest: Steps<'_>,
        entry: Option<Entry>,
    ) -> Result<Tree> {
        let entries = self.entries(store)?;
        let new_child = match rest.next() {
            None => entry,
            Some(next) => {
                let child = match entries.get(first) {
                    Some(Entry::Tree(t)) => t.clone(),
                    // Nothing to remove below a value or an absent name.
                    _ if entry.is_none() => return Ok(self.clone()),
                    _ => Tree::empty(),
                };
                let updated = child.with_steps(store, next, rest, entry)?;
                if updated.same_as(&child) {
                    return Ok(self.clone());
                }
                if updated.is_empty(store)? {
                    None
                } else {
                    Some(Entry::Tree(updated))
                }
            }
        };
        let mut new_entries = (*entries).clone();
        match new_child {
            Some(Entry::Tree(t)) if t.is_empty(store)? => {
                new_entries.remove(first);
            }
            Some(e) => {
                new_entries.insert(Name::from_slice(first), e);
            }
            None => {
                if new_entries.remove(first).is_none() {
                    return Ok(self.clone());
                }
            }
        }
        Ok(Tree::from_entries(new_entries))
    }

    /// Stores every node without an id, bottom up, and returns the root's id.
    pub fn write(&self, store: &dyn ContentAddressable) -> Result<ObjectId> {
        self.write_to(store, &mut |kind, data| store.write(kind, data))
    }

    /// Like [`Tree::write`], with every new node handed to `sink` (a pack being written, say)
    /// instead of the store.
    pub fn write_to(
        &self,
        store: &dyn ContentAddressable,
        sink: &mut dyn FnMut(ObjectKind, &[u8]) -> backend::Result<ObjectId>,
    ) -> Result<ObjectId> {
        self.write_at(store, sink, 0)
    }

    /// How many nodes [`Tree::write`] would store (those built in memory and not yet written).
    pub fn unwritten(&self) -> usize {
        if self.id().is_some() {
            return 0;
        }
        let Some(entries) = self.0.entries.get() else {
            return 0;
        };
        1 + entries
            .values()
            .map(|e| match e {
                Entry::Tree(t) => t.unwritten(),
                _ => 0,
            })
            .sum::<usize>()
    }

    fn write_at(
        &self,
        store: &dyn ContentAddressable,
        sink: &mut dyn FnMut(ObjectKind, &[u8]) -> backend::Result<ObjectId>,
        depth: usize,
    ) -> Result<ObjectId> {
        if let Some(id) = self.id() {
            return Ok(id);
        }
        if depth > MAX_DEPTH {
            return Err(Error::TooDeep);
        }
        let entries = self.entries(store)?;
        let mut raw = Vec::with_capacity(entries.len());
        for (name, e) in entries.iter() {
            let id = match e {
                Entry::Value { id, .. } | Entry::Gitlink(id) => *id,
                Entry::Tree(t) => t.write_at(store, sink, depth + 1)?,
            };
            raw.push(TreeEntry {
                mode: e.mode(),
                name: name.to_vec(),
                id,
            });
        }
        let id = sink(ObjectKind::Tree, &TreeEntry::serialize(&mut raw))?;
        Ok(*self.0.id.get_or_init(|| id))
    }

    /// Calls `f` with every non-directory entry below `prefix`, in path order (bytewise by step).
    pub fn walk(
        &self,
        store: &dyn ContentAddressable,
        prefix: &Path,
        f: &mut dyn FnMut(&Path, &Entry) -> Result<()>,
    ) -> Result<()> {
        match self.find(store, prefix)? {
            None => Ok(()),
            Some(Entry::Tree(t)) => t.walk_at(store, prefix, 0, f),
            Some(e) => f(prefix, &e),
        }
    }

    fn walk_at(
        &self,
        store: &dyn ContentAddressable,
        here: &Path,
        depth: usize,
        f: &mut dyn FnMut(&Path, &Entry) -> Result<()>,
    ) -> Result<()> {
        if depth > MAX_DEPTH {
            return Err(Error::TooDeep);
        }
        for (name, e) in self.entries(store)?.iter() {
            let path = here.join(name).map_err(|err| Error::InvalidEntry {
                tree: self.id().unwrap_or_else(|| store.hash_kind().null_id()),
                name: escape_bytes(name),
                reason: err.to_string(),
            })?;
            match e {
                Entry::Tree(t) => t.walk_at(store, &path, depth + 1, f)?,
                other => f(&path, other)?,
            }
        }
        Ok(())
    }
}

fn load(store: &dyn ContentAddressable, id: &ObjectId) -> Result<Entries> {
    let data = store.read_kind(id, ObjectKind::Tree)?;
    let raw =
        TreeEntry::parse_all(store.hash_kind(), &data).map_err(|e| backend::Error::from(e.with_id(*id)))?;
    let mut entries: Vec<(Name, Entry)> = Vec::with_capacity(raw.len());
    for e in raw {
        check_name(id, &e.name)?;
        entries.push((Name::from_vec(e.name), Entry::stored(e.mode, e.id)));
    }
    // Git's order puts a directory where its name with a '/' would go, so a stored tree is
    // sorted by name but for a few neighbours: the sort is one pass, and duplicates are next to
    // each other after it. The map is then built from sorted entries, without a search per name.
    entries.sort_by(|a, b| a.0.cmp(&b.0));
    check_unique(id, entries.iter().map(|(n, _)| n.as_slice()))?;
    Ok(entries.into_iter().collect())
}

/// Refuses a stored entry name Canopy will not read through, naming the tree.
fn check_name(tree: &ObjectId, name: &[u8]) -> Result<()> {
    check_step(name).map_err(|err| Error::InvalidEntry {
        tree: *tree,
        name: escape_bytes(name),
        reason: err.to_string(),
    })
}

/// Refuses a name that appears twice in sorted `names`.
fn check_unique<'a>(tree: &ObjectId, names: impl Iterator<Item = &'a [u8]>) -> Result<()> {
    let mut previous: Option<&[u8]> = None;
    for name in names {
        if previous == Some(name) {
            return Err(Error::InvalidEntry {
                tree: *tree,
                name: escape_bytes(name),
                reason: "duplicate entry".into(),
            });
        }
        previous = Some(name);
    }
    Ok(())
}

/// One directory's entries for a walk over several directories side by side (a merge): the
/// loaded map when the directory is in memory, else the raw object, read without building a
/// map. [`Listing::items`] gives both as borrowed views in name order.
pub(crate) enum Listing {
    Loaded(Arc<Entries>),
    Raw { id: ObjectId, data: Vec<u8> },
}

/// One entry of a [`Listing`].
#[derive(Clone, Copy)]
pub(crate) enum Item<'a> {
    Loaded(&'a Entry),
    Raw { mode: Mode, id: &'a [u8] },
}

impl Listing {
    pub(crate) fn of(store: &dyn ContentAddressable, tree: &Tree) -> Result<Listing> {
        match (tree.0.entries.get(), tree.id()) {
            (Some(entries), _) => Ok(Listing::Loaded(entries.clone())),
            (None, Some(id)) => Ok(Listing::Raw {
                id,
                data: store.read_kind(&id, ObjectKind::Tree)?,
            }),
            (None, None) => unreachable!("a tree node always has entries or an id"),
        }
    }

    /// The entries in name order; a stored name is checked as [`Tree::entries`] checks it.
    pub(crate) fn items(&self, hash: crate::object::HashKind) -> Result<Vec<(&[u8], Item<'_>)>> {
        match self {
            Listing::Loaded(entries) => Ok(entries
                .iter()
                .map(|(n, e)| (n.as_slice(), Item::Loaded(e)))
                .collect()),
            Listing::Raw { id, data } => {
                let mut items = Vec::with_capacity(data.len() / 40);
                for e in crate::object::TreeEntries::new(hash, data) {
                    let e = e.map_err(|e| backend::Error::from(e.with_id(*id)))?;
                    check_name(id, e.name)?;
                    items.push((
                        e.name,
                        Item::Raw {
                            mode: e.mode,
                            id: e.raw_id,
                        },
                    ));
                }
                items.sort_by(|a, b| a.0.cmp(b.0));
                check_unique(id, items.iter().map(|(n, _)| *n))?;
                Ok(items)
            }
        }
    }
}

impl Item<'_> {
    /// The entry, built (a stored directory becomes an unloaded [`Tree`]).
    pub(crate) fn to_entry(self, hash: crate::object::HashKind) -> Entry {
        match self {
            Item::Loaded(e) => e.clone(),
            Item::Raw { mode, id } => Entry::stored(
                mode,
                ObjectId::from_raw(hash, id).expect("the parser took exactly one id's bytes"),
            ),
        }
    }

    /// The id of a stored directory whose entries are not in memory.
    pub(crate) fn unread_tree(self, hash: crate::object::HashKind) -> Option<ObjectId> {
        match self {
            Item::Loaded(Entry::Tree(t)) if !t.is_loaded() => t.id(),
            Item::Raw { mode, id } if mode.is_tree() => ObjectId::from_raw(hash, id),
            _ => None,
        }
    }

    pub(crate) fn is_tree(self) -> bool {
        match self {
            Item::Loaded(e) => matches!(e, Entry::Tree(_)),
            Item::Raw { mode, .. } => mode.is_tree(),
        }
    }

    pub(crate) fn is_value(self) -> bool {
        match self {
            Item::Loaded(e) => matches!(e, Entry::Value { .. }),
            Item::Raw { mode, .. } => !mode.is_tree() && mode != Mode::Gitlink,
        }
    }

    /// Mode and raw id, when the entry has an id (an unwritten directory has none).
    fn stored(&self) -> Option<(Mode, &[u8])> {
        match self {
            Item::Loaded(e) => match e {
                Entry::Value { id, mode } => Some((*mode, id.as_bytes())),
                Entry::Gitlink(id) => Some((Mode::Gitlink, id.as_bytes())),
                Entry::Tree(t) => t.0.id.get().map(|id| (Mode::Tree, id.as_bytes())),
            },
            Item::Raw { mode, id } => Some((*mode, id)),
        }
    }

    /// Whether two optional entries are known to be identical (same kind, mode and id; two
    /// unwritten directories only when they are the same node).
    pub(crate) fn same(a: Option<Item<'_>>, b: Option<Item<'_>>) -> bool {
        match (a, b) {
            (None, None) => true,
            (Some(Item::Loaded(Entry::Tree(x))), Some(Item::Loaded(Entry::Tree(y)))) => x.same_as(y),
            (Some(x), Some(y)) => matches!((x.stored(), y.stored()), (Some(p), Some(q)) if p == q),
            _ => false,
        }
    }
}

/// Whether `tree` holds nothing, without reading a stored one (only the empty tree's id is empty).
pub(crate) fn is_empty_dir(store: &dyn ContentAddressable, tree: &Tree) -> Result<bool> {
    match tree.id() {
        Some(id) => Ok(id == store.hash_kind().empty_tree()),
        None => tree.is_empty(store),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::mem::MemObjects;
    use crate::object::HashKind;

    fn p(s: &str) -> Path {
        Path::parse(s).unwrap()
    }

    #[test]
    fn set_find_remove_and_share() {
        let store = MemObjects::new(HashKind::Sha1);
        let blob = store.write(ObjectKind::Blob, b"v").unwrap();
        let t0 = Tree::empty();
        let t1 = t0.with(&store, &p("a/b/c"), Some(Entry::value(blob))).unwrap();
        let t2 = t1.with(&store, &p("x/y"), Some(Entry::value(blob))).unwrap();
        let root1 = t1.write(&store).unwrap();
        let root2 = t2.write(&store).unwrap();
        assert_ne!(root1, root2);
        // The untouched subtree 'a' is the same node in both versions.
        let a1 = t1.subtree(&store, &p("a")).unwrap().unwrap();
        let a2 = t2.subtree(&store, &p("a")).unwrap().unwrap();
        assert!(Arc::ptr_eq(&a1.0, &a2.0));

        let reread = Tree::from_id(root2);
        assert!(matches!(
            reread.find(&store, &p("x/y")).unwrap(),
            Some(Entry::Value { .. })
        ));
        let t3 = reread.with(&store, &p("x/y"), None).unwrap();
        assert!(
            t3.find(&store, &p("x")).unwrap().is_none(),
            "empty directory removed"
        );
        assert_eq!(t3.write(&store).unwrap(), root1);
        // Value replaced by a directory, and back.
        let t4 = t3.with(&store, &p("a/b/c/d"), Some(Entry::value(blob))).unwrap();
        assert!(matches!(
            t4.find(&store, &p("a/b/c")).unwrap(),
            Some(Entry::Tree(_))
        ));
        let t5 = t4.with(&store, &p("a/b/c"), Some(Entry::value(blob))).unwrap();
        assert_eq!(t5.write(&store).unwrap(), root1);
        // Removing below a value changes nothing.
        assert!(t5.with(&store, &p("a/b/c/z"), None).unwrap().same_as(&t5));
    }

    #[test]
    fn refuses_hostile_entries() {
        let store = MemObjects::new(HashKind::Sha1);
        let blob = store.write(ObjectKind::Blob, b"v").unwrap();
        for name in [&b".."[..], b".git", b".GIT", b"a/b"] {
            let mut raw = vec![TreeEntry {
                mode: Mode::File,
                name: name.to_vec(),
                id: blob,
            }];
            let id = store
                .write(ObjectKind::Tree, &TreeEntry::serialize(&mut raw))
                .unwrap();
            let err = Tree::from_id(id).entries(&store).unwrap_err();
            assert!(matches!(err, Error::InvalidEntry { .. }), "{err}");
        }
    }

    /// A merge walks stored directories raw, without loading them: it refuses the same names,
    /// and a name given twice, naming the tree.
    #[test]
    fn a_merge_refuses_hostile_and_duplicate_entries() {
        use crate::merge::tree::{merge_trees, ConflictSide, Resolution};
        let store = MemObjects::new(HashKind::Sha1);
        let v1 = store.write(ObjectKind::Blob, b"1").unwrap();
        let v2 = store.write(ObjectKind::Blob, b"2").unwrap();
        let stored = |entries: &[(&[u8], ObjectId)]| {
            let mut raw: Vec<TreeEntry> = entries
                .iter()
                .map(|(name, id)| TreeEntry {
                    mode: Mode::File,
                    name: name.to_vec(),
                    id: *id,
                })
                .collect();
            let id = store
                .write(ObjectKind::Tree, &TreeEntry::serialize(&mut raw))
                .unwrap();
            Tree::from_id(id)
        };
        let base = stored(&[(b"a", v1)]);
        let theirs = stored(&[(b"a", v2)]);
        let mut resolve = |_: &Path, _: Option<&Entry>, _: Option<&Entry>, _: Option<&Entry>| {
            Ok(Resolution::Conflict("changed on both sides".into()))
        };
        for ours in [
            stored(&[(b".git", v2), (b"a", v1), (b"b", v2)]),
            stored(&[(b"..", v2), (b"b", v2)]),
            stored(&[(b"a", v2), (b"a", v1), (b"b", v2)]),
        ] {
            let err = match merge_trees(&store, &base, &ours, &theirs, ConflictSide::Ours, &mut resolve) {
                Ok(_) => panic!("merged a tree holding a hostile or duplicate name"),
                Err(e) => e,
            };
            assert!(matches!(err, Error::InvalidEntry { .. }), "{err}");
            assert!(ours.entries(&store).is_err(), "loading refuses it too");
        }
        // An ordinary merge still goes through the raw walk.
        let ours = stored(&[(b"a", v1), (b"b", v2)]);
        let merged = merge_trees(&store, &base, &ours, &theirs, ConflictSide::Ours, &mut resolve).unwrap();
        assert!(merged.conflicts.is_empty());
        let names: Vec<Vec<u8>> = merged
            .tree
            .entries(&store)
            .unwrap()
            .keys()
            .map(|k| k.to_vec())
            .collect();
        assert_eq!(names, vec![b"a".to_vec(), b"b".to_vec()]);
        assert!(
            matches!(merged.tree.find(&store, &p("a")).unwrap(), Some(Entry::Value { id, .. }) if id == v2)
        );
    }
}
