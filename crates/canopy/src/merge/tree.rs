//! Three-way merge of trees, path by path.
//!
//! Structure is merged here; values are merged by a resolver the caller supplies (the drivers
//! chosen by `.gitattributes`). The rules, per name:
//! - the same entry on both sides, or a side that kept the base → the other side's entry, with no
//!   look inside (identical subtrees are skipped by id, so the cost follows the change) — except
//!   that a value both sides changed identically goes to the resolver when it counts equal changes
//!   twice ([`Resolve::counts_twice`]: two increments of a counter are two), and identical
//!   subtrees that differ from the base are then walked to find such values;
//! - directories on both sides (or a directory on one side and nothing on the other where the
//!   base was a directory or nothing) → merged recursively;
//! - a value on one side and a directory on the other → a conflict;
//! - values (or absence) on both sides, changed differently → the resolver.

use crate::backend::ContentAddressable;
use crate::object::{IdMap, ObjectId, ObjectKind};
use crate::path::Path;
use crate::tree::{is_empty_dir, Entry, Item, Listing, Name, Result, Tree};

/// A path that could not be merged, and why.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct PathConflict {
    pub path: String,
    pub reason: String,
}

/// What a value-level resolver decided for one path.
pub enum Resolution {
    /// The merged entry (`None`: the path is absent in the result).
    Merged(Option<Entry>),
    /// The values cannot be reconciled; the reason is reported.
    Conflict(String),
}

/// Which side a conflicting path takes in the result tree.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConflictSide {
    Ours,
    Theirs,
    /// The merge base's entry (what Git does inside a virtual-base merge).
    Base,
}

/// Merges value-level changes at one path.
pub trait Resolve {
    /// Merges the entries at `path` (values, gitlinks or absent; never two directories).
    fn resolve(
        &mut self,
        path: &Path,
        base: Option<&Entry>,
        ours: Option<&Entry>,
        theirs: Option<&Entry>,
    ) -> Result<Resolution>;

    /// Whether equal changes to the value at `path` are two changes, so that
    /// [`resolve`](Resolve::resolve) must see them. `None` asks about any path at all: the tree
    /// merge then walks identical changed subtrees only if some path may count twice.
    fn counts_twice(&self, _path: Option<&Path>) -> bool {
        false
    }
}

impl<F> Resolve for F
where
    F: FnMut(&Path, Option<&Entry>, Option<&Entry>, Option<&Entry>) -> Result<Resolution>,
{
    fn resolve(
        &mut self,
        path: &Path,
        base: Option<&Entry>,
        ours: Option<&Entry>,
        theirs: Option<&Entry>,
    ) -> Result<Resolution> {
        self(path, base, ours, theirs)
    }
}

/// A resolver as a trait object.
pub type Resolver<'r> = dyn Resolve + 'r;

/// The result of a tree merge: the merged tree (conflicting paths hold the chosen side) and
/// every conflict, in path order.
pub struct TreeMerge {
    pub tree: Tree,
    pub conflicts: Vec<PathConflict>,
}

/// Merges `ours` and `theirs` against `base`.
pub fn merge_trees(
    store: &dyn ContentAddressable,
    base: &Tree,
    ours: &Tree,
    theirs: &Tree,
    side: ConflictSide,
    resolve: &mut Resolver<'_>,
) -> Result<TreeMerge> {
    let mut conflicts = Vec::new();
    let mut walk = Walk {
        store,
        side,
        resolve,
        conflicts: &mut conflicts,
        ahead: IdMap::default(),
    };
    let tree = walk.merge_dir(&Path::root(), Some(base), ours, theirs, 0)?;
    Ok(TreeMerge { tree, conflicts })
}

/// One tree merge in progress.
struct Walk<'a, 'r> {
    store: &'a dyn ContentAddressable,
    side: ConflictSide,
    resolve: &'a mut Resolver<'r>,
    conflicts: &'a mut Vec<PathConflict>,
    /// Stored directories read ahead (on a second thread) for the walk to come.
    ahead: IdMap<Vec<u8>>,
}

/// How many directories a merge reads ahead at once, on two threads.
const READ_AHEAD: usize = 96;

impl Walk<'_, '_> {
    fn merge_dir(
        &mut self,
        here: &Path,
        base: Option<&Tree>,
        ours: &Tree,
        theirs: &Tree,
        depth: usize,
    ) -> Result<Tree> {
        if depth > crate::tree::MAX_DEPTH {
            return Err(crate::tree::Error::TooDeep);
        }
        let store = self.store;
        let twice_anywhere = self.resolve.counts_twice(None);
        if ours.same_as(theirs) && (!twice_anywhere || base.is_some_and(|b| b.same_as(ours))) {
            return Ok(ours.clone());
        }
        if let Some(b) = base {
            if b.same_as(ours) {
                return Ok(theirs.clone());
            }
            if b.same_as(theirs) {
                return Ok(ours.clone());
            }
        }
        // The three directories, each in name order (raw for stored ones: no map is built for
        // them), walked side by side; the result is built in the same order.
        let hash = store.hash_kind();
        let empty = Tree::empty();
        let listings = [
            self.listing(base.unwrap_or(&empty))?,
            self.listing(ours)?,
            self.listing(theirs)?,
        ];
        let [base_items, our_items, their_items] = [
            listings[0].items(hash)?,
            listings[1].items(hash)?,
            listings[2].items(hash)?,
        ];
        let mut result: Vec<(Name, Entry)> = Vec::with_capacity(our_items.len() + their_items.len() / 8);
        let mut sides = [
            base_items.iter().peekable(),
            our_items.iter().peekable(),
            their_items.iter().peekable(),
        ];
        while let Some((name, [b, o, t])) = next_name(&mut sides) {
            let both_same = Item::same(o, t);
            let path_of = |name: &[u8]| {
                here.join(name).map_err(|e| crate::tree::Error::InvalidEntry {
                    tree: ours.id().unwrap_or_else(|| hash.null_id()),
                    name: crate::object::escape_bytes(name),
                    reason: e.to_string(),
                })
            };
            // Equal changes on both sides still need a look when some value below counts them
            // twice.
            let look_inside = both_same
                && twice_anywhere
                && !Item::same(b, o)
                && match o {
                    Some(e) if e.is_tree() => true,
                    Some(e) if e.is_value() => self.resolve.counts_twice(Some(&path_of(name)?)),
                    _ => false,
                };
            let entry = |item: Option<Item<'_>>| item.map(|i| i.to_entry(hash));
            let merged = if both_same && !look_inside {
                entry(o)
            } else if Item::same(b, o) {
                entry(t)
            } else if Item::same(b, t) {
                entry(o)
            } else {
                self.read_ahead([b, o, t], &sides);
                let path = path_of(name)?;
                let (b, o, t) = (entry(b), entry(o), entry(t));
                self.merge_entry(&path, b.as_ref(), o.as_ref(), t.as_ref(), depth)?
            };
            match merged {
                Some(Entry::Tree(t)) if is_empty_dir(store, &t)? => {}
                Some(e) => result.push((Name::from_slice(name), e)),
                None => {}
            }
        }
        Ok(Tree::from_entries(result.into_iter().collect()))
    }

    /// A directory's listing, from what was read ahead when it was.
    fn listing(&mut self, tree: &Tree) -> Result<Listing> {
        if let Some(id) = tree.id().filter(|_| !tree.is_loaded()) {
            if let Some(data) = self.ahead.remove(&id) {
                return Ok(Listing::Raw { id, data });
            }
        }
        Listing::of(self.store, tree)
    }

    /// Before the walk descends into the stored directories of `current`: unless they were
    /// read ahead, reads them and those of the next names that will be descended into, up to
    /// [`READ_AHEAD`], half of them on a second thread (inflating trees is most of a large
    /// merge's time). A directory that cannot be read is left for the walk to report.
    fn read_ahead(&mut self, current: [Option<Item<'_>>; 3], sides: &[Sides<'_, '_>; 3]) {
        let hash = self.store.hash_kind();
        let wanted = |items: [Option<Item<'_>>; 3], ids: &mut Vec<ObjectId>| {
            for item in items.into_iter().flatten() {
                if let Some(id) = item.unread_tree(hash) {
                    ids.push(id);
                }
            }
        };
        let mut ids = Vec::new();
        wanted(current, &mut ids);
        if ids.iter().all(|id| self.ahead.contains_key(id)) {
            return;
        }
        let mut rest = sides.clone();
        while ids.len() < READ_AHEAD {
            let Some((_, [b, o, t])) = next_name(&mut rest) else {
                break;
            };
            if !(Item::same(o, t) || Item::same(b, o) || Item::same(b, t)) {
                wanted([b, o, t], &mut ids);
            }
        }
        ids.retain(|id| !self.ahead.contains_key(id));
        if ids.len() < 4 {
            return;
        }
        let store = self.store;
        let read = |ids: &[ObjectId]| -> Vec<(ObjectId, Vec<u8>)> {
            ids.iter()
                .filter_map(|id| Some((*id, store.read_kind(id, ObjectKind::Tree).ok()?)))
                .collect()
        };
        let (mine, other) = ids.split_at(ids.len() / 2);
        #[cfg(not(target_arch = "wasm32"))]
        let read_both = std::thread::scope(|s| {
            let second = std::thread::Builder::new().spawn_scoped(s, || read(other));
            let mut all = read(mine);
            match second {
                Ok(thread) => all.extend(thread.join().unwrap_or_default()),
                Err(_) => all.extend(read(other)),
            }
            all
        });
        #[cfg(target_arch = "wasm32")]
        let read_both = [read(mine), read(other)].concat();
        self.ahead.extend(read_both);
    }

    fn merge_entry(
        &mut self,
        path: &Path,
        b: Option<&Entry>,
        o: Option<&Entry>,
        t: Option<&Entry>,
        depth: usize,
    ) -> Result<Option<Entry>> {
        let store = self.store;
        let as_dir = |e: Option<&Entry>| -> Option<Option<Tree>> {
            match e {
                Some(Entry::Tree(t)) => Some(Some(t.clone())),
                None => Some(None),
                _ => None,
            }
        };
        let is_dir = |e: Option<&Entry>| matches!(e, Some(Entry::Tree(_)));
        // Directories (possibly absent on one side) merge recursively.
        if (is_dir(o) || is_dir(t)) && !is_dir(b) || is_dir(b) {
            if let (Some(od), Some(td)) = (as_dir(o), as_dir(t)) {
                let bd = as_dir(b).flatten();
                let empty = Tree::empty();
                let merged = self.merge_dir(
                    path,
                    bd.as_ref(),
                    od.as_ref().unwrap_or(&empty),
                    td.as_ref().unwrap_or(&empty),
                    depth + 1,
                )?;
                return Ok(if merged.is_empty(store)? {
                    None
                } else {
                    Some(Entry::Tree(merged))
                });
            }
        }
        // A directory on one side and a value (or a gitlink) on the other: the value's side
        // removed the directory. If the directory's own changes merge away against that removal
        // (nothing is left in it), the value stands, as in Git; otherwise it is a conflict.
        let mut vanishes = |dir: Option<&Entry>| -> Result<bool> {
            let (Some(Entry::Tree(d)), bd) = (dir, as_dir(b).flatten()) else {
                return Ok(false);
            };
            let empty = Tree::empty();
            let outer = std::mem::take(self.conflicts);
            let merged = self.merge_dir(path, bd.as_ref(), d, &empty, depth + 1);
            let inner = std::mem::replace(self.conflicts, outer);
            Ok(inner.is_empty() && merged?.is_empty(store)?)
        };
        if is_dir(o) && t.is_some() && vanishes(o)? {
            return Ok(t.cloned());
        }
        if is_dir(t) && o.is_some() && vanishes(t)? {
            return Ok(o.cloned());
        }
        let reason = if is_dir(o) || is_dir(t) {
            Some("a value on one side and a directory on the other".to_string())
        } else {
            match self.resolve.resolve(path, b, o, t)? {
                Resolution::Merged(e) => return Ok(e),
                Resolution::Conflict(reason) => Some(reason),
            }
        };
        let reason = reason.unwrap_or_default();
        self.conflicts.push(PathConflict {
            path: path.to_string(),
            reason,
        });
        Ok(match self.side {
            ConflictSide::Ours => o.cloned(),
            ConflictSide::Theirs => t.cloned(),
            ConflictSide::Base => b.cloned(),
        })
    }
}

/// A directory's items, as the walk goes through them.
type Sides<'i, 'a> = std::iter::Peekable<std::slice::Iter<'i, (&'a [u8], Item<'a>)>>;

/// The next name of the three sorted directories (base, ours, theirs), and what each holds there.
fn next_name<'a>(sides: &mut [Sides<'_, 'a>; 3]) -> Option<(&'a [u8], [Option<Item<'a>>; 3])> {
    let name = sides.iter_mut().filter_map(|s| s.peek().map(|(n, _)| *n)).min()?;
    let take = |s: &mut Sides<'_, 'a>| s.next_if(|(n, _)| *n == name).map(|(_, e)| *e);
    let [b, o, t] = sides;
    Some((name, [take(b), take(o), take(t)]))
}
