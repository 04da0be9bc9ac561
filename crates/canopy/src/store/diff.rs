//! Tree diff: which value paths were added, removed or changed between two trees.
//!
//! The walk goes down both trees side by side and never opens a subtree whose id is the same on
//! both sides, so its cost follows the size of the change (the nodes on the changed paths), not
//! the size of the store. Values are compared by id and mode only; nothing is read from a blob.
//! The result is in Git's path order (bytewise on the full path), the order of
//! `git diff --name-status`. There is no rename detection (as `git diff --no-renames`).

use super::{Repo, Result};
use crate::backend::ContentAddressable;
use std::cmp::Ordering;

use crate::object::{escape_bytes, git_name_cmp, Mode, ObjectId, ObjectKind, TreeEntries, TreeEntryRef};
use crate::path::Path;
use crate::tree::{self, Entry, Tree, MAX_DEPTH};

/// What happened to a path.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ChangeKind {
    Added,
    Removed,
    Changed,
}

impl ChangeKind {
    /// `added`, `removed`, `changed`.
    pub fn as_str(self) -> &'static str {
        match self {
            ChangeKind::Added => "added",
            ChangeKind::Removed => "removed",
            ChangeKind::Changed => "changed",
        }
    }
}

/// A value on one side of a diff: its id and mode (a gitlink has mode [`Mode::Gitlink`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Side {
    pub id: ObjectId,
    pub mode: Mode,
}

/// One changed value path.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PathChange {
    pub path: Path,
    pub kind: ChangeKind,
    /// The value before (`None` when added).
    pub old: Option<Side>,
    /// The value after (`None` when removed).
    pub new: Option<Side>,
}

impl PathChange {
    /// The status letter `git diff --name-status` prints: `A`, `D`, `M`, or `T` when the kind of
    /// entry changed (file ↔ symlink ↔ submodule).
    pub fn status_letter(&self) -> char {
        match (self.kind, self.old, self.new) {
            (ChangeKind::Added, ..) => 'A',
            (ChangeKind::Removed, ..) => 'D',
            (ChangeKind::Changed, Some(o), Some(n)) if kind_of(o.mode) != kind_of(n.mode) => 'T',
            (ChangeKind::Changed, ..) => 'M',
        }
    }
}

/// Git's type change: regular files (any permission), symlinks and gitlinks are different kinds.
fn kind_of(mode: Mode) -> u8 {
    match mode {
        Mode::File | Mode::Executable => 0,
        Mode::Symlink => 1,
        Mode::Gitlink => 2,
        Mode::Tree => 3,
    }
}

/// The changes that turn `old` into `new`, restricted to `prefix` (the root: everything), in
/// Git's path order.
///
/// ```
/// # use canopy::{Repo, HashKind, Path};
/// # use canopy::store::{diff_trees, ChangeKind, CommitOptions};
/// let repo = Repo::in_memory(HashKind::Sha1);
/// let main = repo.branch("main").unwrap();
/// let opts = CommitOptions::message("x");
/// main.set(&Path::parse("a/b").unwrap(), "1", &opts).unwrap();
/// let before = main.view().unwrap().tree().clone();
/// main.set(&Path::parse("a/c").unwrap(), "2", &opts).unwrap();
/// let after = main.view().unwrap().tree().clone();
/// let changes = diff_trees(repo.objects(), &before, &after, &Path::root()).unwrap();
/// assert_eq!(changes.len(), 1);
/// assert_eq!(changes[0].path.to_string(), "a/c");
/// assert_eq!(changes[0].kind, ChangeKind::Added);
/// ```
pub fn diff_trees(
    store: &dyn ContentAddressable,
    old: &Tree,
    new: &Tree,
    prefix: &Path,
) -> Result<Vec<PathChange>> {
    let mut out = Vec::new();
    if prefix.is_root() {
        diff_dirs(store, &Path::root(), Some(old), Some(new), &mut out, 0)?;
    } else {
        let o = old.find(store, prefix)?;
        let n = new.find(store, prefix)?;
        diff_entries(store, prefix, o.as_ref(), n.as_ref(), &mut out, 0)?;
    }
    // Trees are kept sorted by name, where Git sorts a directory as if its name ended in '/';
    // sorting on the whole path gives Git's order for the flat list.
    out.sort_by_cached_key(|c| c.path.to_bytes());
    Ok(out)
}

fn side(e: &Entry) -> Option<Side> {
    match e {
        Entry::Value { id, mode } => Some(Side { id: *id, mode: *mode }),
        Entry::Gitlink(id) => Some(Side {
            id: *id,
            mode: Mode::Gitlink,
        }),
        Entry::Tree(_) => None,
    }
}

fn diff_entries(
    store: &dyn ContentAddressable,
    here: &Path,
    old: Option<&Entry>,
    new: Option<&Entry>,
    out: &mut Vec<PathChange>,
    depth: usize,
) -> Result<()> {
    let as_tree = |e: Option<&Entry>| match e {
        Some(Entry::Tree(t)) => Some(t.clone()),
        _ => None,
    };
    let (ot, nt) = (as_tree(old), as_tree(new));
    let (ov, nv) = (old.and_then(side), new.and_then(side));
    match (ov, nv) {
        (Some(o), Some(n)) if o == n => {}
        (Some(o), Some(n)) => out.push(PathChange {
            path: here.clone(),
            kind: ChangeKind::Changed,
            old: Some(o),
            new: Some(n),
        }),
        (Some(o), None) => out.push(PathChange {
            path: here.clone(),
            kind: ChangeKind::Removed,
            old: Some(o),
            new: None,
        }),
        (None, Some(n)) => out.push(PathChange {
            path: here.clone(),
            kind: ChangeKind::Added,
            old: None,
            new: Some(n),
        }),
        (None, None) => {}
    }
    if ot.is_some() || nt.is_some() {
        diff_dirs(store, here, ot.as_ref(), nt.as_ref(), out, depth + 1)?;
    }
    Ok(())
}

fn diff_dirs(
    store: &dyn ContentAddressable,
    here: &Path,
    old: Option<&Tree>,
    new: Option<&Tree>,
    out: &mut Vec<PathChange>,
    depth: usize,
) -> Result<()> {
    if depth > MAX_DEPTH {
        return Err(tree::Error::TooDeep.into());
    }
    if let (Some(o), Some(n)) = (old, new) {
        if o.same_as(n) {
            return Ok(());
        }
        if let (Some(o), Some(n)) = (o.id(), n.id()) {
            if diff_stored(store, here, o, n, out, depth)? {
                return Ok(());
            }
        }
    }
    let empty = tree::Entries::new();
    let old_entries = old.map(|t| t.entries(store)).transpose()?;
    let new_entries = new.map(|t| t.entries(store)).transpose()?;
    let oe = old_entries.as_deref().unwrap_or(&empty);
    let ne = new_entries.as_deref().unwrap_or(&empty);
    let mut oi = oe.iter().peekable();
    let mut ni = ne.iter().peekable();
    // Both maps are sorted by name: merge them.
    loop {
        let order = match (oi.peek(), ni.peek()) {
            (None, None) => break,
            (Some(_), None) => std::cmp::Ordering::Less,
            (None, Some(_)) => std::cmp::Ordering::Greater,
            (Some((a, _)), Some((b, _))) => a.cmp(b),
        };
        let (name, o, n) = match order {
            std::cmp::Ordering::Less => match oi.next() {
                Some((k, v)) => (k, Some(v), None),
                None => break,
            },
            std::cmp::Ordering::Greater => match ni.next() {
                Some((k, v)) => (k, None, Some(v)),
                None => break,
            },
            std::cmp::Ordering::Equal => match (oi.next(), ni.next()) {
                (Some((k, a)), Some((_, b))) => (k, Some(a), Some(b)),
                _ => break,
            },
        };
        if let (Some(Entry::Tree(a)), Some(Entry::Tree(b))) = (o, n) {
            if a.same_as(b) {
                continue;
            }
        }
        let tree_id = new
            .or(old)
            .and_then(Tree::id)
            .unwrap_or_else(|| store.hash_kind().null_id());
        let path = here.join(name).map_err(|e| tree::Error::InvalidEntry {
            tree: tree_id,
            name: escape_bytes(name),
            reason: e.to_string(),
        })?;
        diff_entries(store, &path, o, n, out, depth)?;
    }
    Ok(())
}

/// Two stored directories compared on their raw entries, side by side in Git's tree order:
/// entries the same on both sides (most of them, in a large directory) are skipped without
/// building anything; the others become entries and are compared as such. Returns `false`,
/// having added nothing, when a side's entries are out of order (a tree Git would not write):
/// the caller then compares the loaded directories instead.
fn diff_stored(
    store: &dyn ContentAddressable,
    here: &Path,
    old: ObjectId,
    new: ObjectId,
    out: &mut Vec<PathChange>,
    depth: usize,
) -> Result<bool> {
    let hash = store.hash_kind();
    let (od, nd) = (
        store.read_kind(&old, ObjectKind::Tree)?,
        store.read_kind(&new, ObjectKind::Tree)?,
    );
    let (mut oi, mut ni) = (TreeEntries::new(hash, &od), TreeEntries::new(hash, &nd));
    let (mut o, mut n) = (next(&mut oi, old)?, next(&mut ni, new)?);
    let start = out.len();
    let in_order = |a: &TreeEntryRef<'_>, b: &TreeEntryRef<'_>| {
        git_name_cmp(a.name, a.mode.is_tree(), b.name, b.mode.is_tree()) == Ordering::Less
    };
    loop {
        let order = match (&o, &n) {
            (None, None) => break,
            (Some(_), None) => Ordering::Less,
            (None, Some(_)) => Ordering::Greater,
            (Some(a), Some(b)) => git_name_cmp(a.name, a.mode.is_tree(), b.name, b.mode.is_tree()),
        };
        let a = if order.is_le() { o.take() } else { None };
        let b = if order.is_ge() { n.take() } else { None };
        if let Some(a) = a {
            o = next(&mut oi, old)?;
            if o.as_ref().is_some_and(|following| !in_order(&a, following)) {
                out.truncate(start);
                return Ok(false);
            }
        }
        if let Some(b) = b {
            n = next(&mut ni, new)?;
            if n.as_ref().is_some_and(|following| !in_order(&b, following)) {
                out.truncate(start);
                return Ok(false);
            }
        }
        if let (Some(a), Some(b)) = (a, b) {
            if a.mode == b.mode && a.raw_id == b.raw_id {
                continue;
            }
        }
        let name = a.or(b).map(|e| e.name).unwrap_or_default();
        let path = here.join(name).map_err(|e| tree::Error::InvalidEntry {
            tree: if b.is_some() { new } else { old },
            name: escape_bytes(name),
            reason: e.to_string(),
        })?;
        let (a, b) = (
            a.map(|e| Entry::stored(e.mode, e.id())),
            b.map(|e| Entry::stored(e.mode, e.id())),
        );
        diff_entries(store, &path, a.as_ref(), b.as_ref(), out, depth)?;
    }
    Ok(true)
}

/// The next raw entry of the tree `id`; a syntax error names the tree.
fn next<'a>(entries: &mut TreeEntries<'a>, id: ObjectId) -> Result<Option<TreeEntryRef<'a>>> {
    Ok(entries
        .next()
        .transpose()
        .map_err(|e| crate::backend::Error::from(e.with_id(id)))?)
}

impl Repo {
    /// The changes from commit `old` to commit `new` (`None`: the empty tree), below `prefix`.
    pub fn diff_commits(
        &self,
        old: Option<ObjectId>,
        new: Option<ObjectId>,
        prefix: &Path,
    ) -> Result<Vec<PathChange>> {
        let tree_of = |c: Option<ObjectId>| -> Result<Tree> {
            Ok(match c {
                Some(id) => Tree::from_id(self.commit_info(id)?.commit.tree),
                None => Tree::empty(),
            })
        };
        diff_trees(self.objects(), &tree_of(old)?, &tree_of(new)?, prefix)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;
    use crate::backend::mem::MemObjects;
    use crate::object::{HashKind, ObjectKind, RawObject};
    use crate::store::CommitOptions;

    fn p(s: &str) -> Path {
        Path::parse(s).unwrap()
    }

    /// An object store that counts reads, to check that the diff only opens changed nodes.
    struct Counting {
        inner: MemObjects,
        reads: AtomicUsize,
    }

    impl ContentAddressable for Counting {
        fn hash_kind(&self) -> HashKind {
            self.inner.hash_kind()
        }
        fn read(&self, id: &ObjectId) -> crate::backend::Result<Option<RawObject>> {
            self.reads.fetch_add(1, Ordering::SeqCst);
            self.inner.read(id)
        }
        fn contains(&self, id: &ObjectId) -> crate::backend::Result<bool> {
            self.inner.contains(id)
        }
        fn write(&self, kind: ObjectKind, data: &[u8]) -> crate::backend::Result<ObjectId> {
            self.inner.write(kind, data)
        }
        fn ids_with_prefix(&self, prefix: &str) -> crate::backend::Result<Vec<ObjectId>> {
            self.inner.ids_with_prefix(prefix)
        }
    }

    fn build(store: &dyn ContentAddressable, values: &BTreeMap<String, String>) -> Tree {
        let mut t = Tree::empty();
        for (k, v) in values {
            let id = store.write(ObjectKind::Blob, v.as_bytes()).unwrap();
            t = t.with(store, &p(k), Some(Entry::value(id))).unwrap();
        }
        Tree::from_id(t.write(store).unwrap())
    }

    fn summary(changes: &[PathChange]) -> Vec<(String, char)> {
        changes
            .iter()
            .map(|c| (c.path.to_string(), c.status_letter()))
            .collect()
    }

    #[test]
    fn reports_added_removed_changed_in_git_order() {
        let store = MemObjects::new(HashKind::Sha1);
        let a: BTreeMap<String, String> = [
            ("a", "1"),
            ("b/c", "2"),
            ("b/d", "3"),
            ("x", "dir-to-be"),
            ("a.b", "q"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let mut b = a.clone();
        b.insert("a".into(), "changed".into());
        b.remove("b/d");
        b.insert("b/e".into(), "new".into());
        b.remove("x");
        b.insert("x/y".into(), "now a dir".into());
        let (ta, tb) = (build(&store, &a), build(&store, &b));
        let changes = diff_trees(&store, &ta, &tb, &Path::root()).unwrap();
        assert_eq!(
            summary(&changes),
            vec![
                ("a".to_string(), 'M'),
                ("b/d".to_string(), 'D'),
                ("b/e".to_string(), 'A'),
                ("x".to_string(), 'D'),
                ("x/y".to_string(), 'A'),
            ]
        );
        let reverse = diff_trees(&store, &tb, &ta, &Path::root()).unwrap();
        assert_eq!(
            summary(&reverse),
            vec![
                ("a".to_string(), 'M'),
                ("b/d".to_string(), 'A'),
                ("b/e".to_string(), 'D'),
                ("x".to_string(), 'A'),
                ("x/y".to_string(), 'D'),
            ]
        );
        assert_eq!(
            changes[0].old.map(|s| s.id),
            Some(ObjectId::for_object(HashKind::Sha1, ObjectKind::Blob, b"1"))
        );
        // With a prefix, only what lies below it.
        assert_eq!(
            summary(&diff_trees(&store, &ta, &tb, &p("b")).unwrap()),
            vec![("b/d".to_string(), 'D'), ("b/e".to_string(), 'A')]
        );
        assert_eq!(
            summary(&diff_trees(&store, &ta, &tb, &p("x")).unwrap()),
            vec![("x".to_string(), 'D'), ("x/y".to_string(), 'A')]
        );
        assert!(diff_trees(&store, &ta, &ta, &Path::root()).unwrap().is_empty());
        // Against the empty tree: everything is added.
        assert_eq!(
            diff_trees(&store, &Tree::empty(), &ta, &Path::root())
                .unwrap()
                .len(),
            a.len()
        );
    }

    #[test]
    fn directory_and_file_names_sort_as_git_does() {
        let store = MemObjects::new(HashKind::Sha1);
        let a = build(&store, &BTreeMap::new());
        let values: BTreeMap<String, String> = [("a/x", "1"), ("a.b", "2"), ("a-", "3")]
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let b = build(&store, &values);
        let changes = diff_trees(&store, &a, &b, &Path::root()).unwrap();
        let paths: Vec<String> = changes.iter().map(|c| c.path.to_string()).collect();
        assert_eq!(paths, ["a-", "a.b", "a/x"]);
    }

    #[test]
    fn cost_follows_the_change_not_the_store() {
        let store = Counting {
            inner: MemObjects::new(HashKind::Sha1),
            reads: AtomicUsize::new(0),
        };
        let mut values = BTreeMap::new();
        for i in 0..2000 {
            values.insert(format!("d{}/e{}/k{i}", i % 10, i % 7), format!("v{i}"));
        }
        let a = build(&store, &values);
        values.insert("d3/e3/k3".into(), "changed".into());
        let b = build(&store, &values);
        store.reads.store(0, Ordering::SeqCst);
        let changes = diff_trees(
            &store,
            &Tree::from_id(a.id().unwrap()),
            &Tree::from_id(b.id().unwrap()),
            &Path::root(),
        )
        .unwrap();
        assert_eq!(summary(&changes), vec![("d3/e3/k3".to_string(), 'M')]);
        // Root, d3 and d3/e3 on each side: six tree reads, no blob.
        assert_eq!(store.reads.load(Ordering::SeqCst), 6);
    }

    /// Raw tree content with entries in the order given (Git sorts them; a hostile writer may not).
    fn raw_tree(store: &dyn ContentAddressable, entries: &[(&str, &str)]) -> Tree {
        let mut data = Vec::new();
        for (name, value) in entries {
            let id = store.write(ObjectKind::Blob, value.as_bytes()).unwrap();
            data.extend_from_slice(format!("100644 {name}\0").as_bytes());
            data.extend_from_slice(id.as_bytes());
        }
        Tree::from_id(store.write(ObjectKind::Tree, &data).unwrap())
    }

    #[test]
    fn trees_out_of_order_and_hostile_names() {
        let store = MemObjects::new(HashKind::Sha1);
        let sorted = raw_tree(&store, &[("a", "1"), ("b", "2"), ("c", "3")]);
        // Out of order: compared as loaded directories, with the same answer.
        let unsorted = raw_tree(&store, &[("c", "3"), ("b", "changed"), ("a", "1")]);
        let changes = diff_trees(&store, &sorted, &unsorted, &Path::root()).unwrap();
        assert_eq!(summary(&changes), vec![("b".to_string(), 'M')]);
        let changes = diff_trees(&store, &unsorted, &sorted, &Path::root()).unwrap();
        assert_eq!(summary(&changes), vec![("b".to_string(), 'M')]);
        // A hostile name that changed is refused, naming the tree.
        let hostile = raw_tree(&store, &[(".git", "x"), ("a", "1"), ("b", "2"), ("c", "3")]);
        let err = diff_trees(&store, &sorted, &hostile, &Path::root()).unwrap_err();
        assert!(err.to_string().contains(".git"), "{err}");
    }

    #[test]
    fn diff_commits_from_nothing() {
        let repo = Repo::in_memory(HashKind::Sha1);
        let main = repo.branch("main").unwrap();
        let c1 = main.set(&p("k"), "v", &CommitOptions::message("one")).unwrap();
        let changes = repo.diff_commits(None, Some(c1), &Path::root()).unwrap();
        assert_eq!(summary(&changes), vec![("k".to_string(), 'A')]);
        let c2 = main.set(&p("k"), "w", &CommitOptions::message("two")).unwrap();
        let changes = repo.diff_commits(Some(c1), Some(c2), &p("k")).unwrap();
        assert_eq!(changes[0].kind, ChangeKind::Changed);
    }
}
