//! Merging: commits, branches, and transactions that find their branch moved.
//!
//! A commit merge finds the best common ancestors ([`crate::merge::lca`]); several (a criss-cross
//! history) are folded oldest first into a virtual base, as Git's `ort` strategy does, where inner
//! conflicts take the base's version. The trees are then merged path by path
//! ([`crate::merge::tree`]); values changed on both sides go to the driver that the merged
//! `.gitattributes` names for their path (`text` for UTF-8 values, `binary` otherwise).
//!
//! Which `.gitattributes` governs: the root `.gitattributes` of the three trees is merged first,
//! as a text value; if that merge is clean its result governs, otherwise the one of *ours* does
//! (and the file itself is reported as a conflict like any other path).

use std::sync::Arc;

use super::again_or_give_up;
use super::{Branch, CommitOptions, Repo, Result};
use crate::backend::{Expected, RefLog};
use crate::merge::attributes::Attributes;
use crate::merge::drivers::{Driver, Drivers, MergeContext};
use crate::merge::lca::CommitGraph;
use crate::merge::tree::{merge_trees, ConflictSide, PathConflict, Resolution, Resolve, TreeMerge};
use crate::merge::{Conflict, EqualChanges};
use crate::object::{Mode, ObjectId, ObjectKind, Signature};
use crate::path::Path;
use crate::retry::{Retry, COMMIT_ATTEMPTS};
use crate::tree::{Entry, Tree};

/// Which side wins every conflict (`-X ours` / `-X theirs`); `None` reports conflicts.
pub use crate::merge::drivers::Favor;

/// How to merge into a branch.
#[derive(Debug, Clone, Default)]
pub struct MergeOptions {
    pub commit: CommitOptions,
    /// Make a merge commit even when a fast-forward is possible.
    pub no_ff: bool,
    pub favor: Option<Favor>,
}

/// What a merge into a branch did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MergeOutcome {
    /// The other commit is already in the branch's history; nothing changed.
    UpToDate(ObjectId),
    /// The branch moved forward to the other commit.
    FastForward(ObjectId),
    /// A merge commit was made.
    Merged(ObjectId),
    /// The merge has conflicts; the branch is unchanged.
    Conflicts(Vec<PathConflict>),
}

/// The commits being merged, for drivers that look at them (`lww`).
#[derive(Debug, Clone, Copy, Default)]
pub struct MergeSides {
    pub ours: Option<(ObjectId, i64)>,
    pub theirs: Option<(ObjectId, i64)>,
}

impl MergeSides {
    /// The context a driver gets for `path`.
    pub fn context(&self, path: impl Into<String>, favor: Option<Favor>) -> MergeContext {
        MergeContext {
            path: path.into(),
            ours: self.ours.map(|(id, time)| (time, id.to_hex())),
            theirs: self.theirs.map(|(id, time)| (time, id.to_hex())),
            favor,
        }
    }
}

/// Merges the root `.gitattributes` as text; when both sides only added lines where the text
/// merge conflicts (two structures set up concurrently, say), every added line is kept, ours
/// first. `None` when it cannot be merged.
fn merge_attributes_file(
    drivers: &Drivers,
    ctx: &MergeContext,
    base: Option<&[u8]>,
    ours: Option<&[u8]>,
    theirs: Option<&[u8]>,
) -> Option<Option<Vec<u8>>> {
    if let Ok(merged) = drivers.merge("text", ctx, base, ours, theirs) {
        return Some(merged);
    }
    let lines = |v: Option<&[u8]>| -> Vec<Vec<u8>> {
        v.unwrap_or_default()
            .split(|&c| c == b'\n')
            .filter(|l| !l.is_empty())
            .map(<[u8]>::to_vec)
            .collect()
    };
    let (b, o, t) = (lines(base), lines(ours), lines(theirs));
    let only_added = |side: &[Vec<u8>]| b.iter().all(|l| side.contains(l));
    if ours.is_none() || theirs.is_none() || !only_added(&o) || !only_added(&t) {
        return None;
    }
    let mut out: Vec<Vec<u8>> = o;
    for line in t {
        if !out.contains(&line) {
            out.push(line);
        }
    }
    Some(Some(
        out.into_iter()
            .flat_map(|mut l| {
                l.push(b'\n');
                l
            })
            .collect(),
    ))
}

/// The value-level half of a store's tree merge: reads the blobs, picks each path's driver from
/// the governing `.gitattributes`, and writes the merged blob.
struct ValueResolver<'r> {
    repo: &'r Repo,
    drivers: Arc<Drivers>,
    attrs: Attributes,
    /// Whether any driver the attributes name counts equal changes twice.
    twice_anywhere: bool,
    sides: MergeSides,
    favor: Option<Favor>,
}

impl ValueResolver<'_> {
    /// The driver name for `path`: its `merge` attribute, else `text` for UTF-8 values and
    /// `binary` for others.
    fn driver_name(&self, path: &Path, values: &[&Option<(Vec<u8>, Mode)>]) -> String {
        self.attrs.merge_driver(&path.to_bytes()).unwrap_or_else(|| {
            let texty = values.iter().all(|v| {
                v.as_ref()
                    .is_none_or(|(bytes, _)| std::str::from_utf8(bytes).is_ok())
            });
            if texty { "text" } else { "binary" }.to_string()
        })
    }
}

impl Resolve for ValueResolver<'_> {
    fn resolve(
        &mut self,
        path: &Path,
        b: Option<&Entry>,
        o: Option<&Entry>,
        t: Option<&Entry>,
    ) -> crate::tree::Result<Resolution> {
        let store = self.repo.objects();
        let value = |e: Option<&Entry>| -> crate::tree::Result<Option<(Vec<u8>, Mode)>> {
            match e {
                Some(Entry::Value { id, mode }) => Ok(Some((store.read_kind(id, ObjectKind::Blob)?, *mode))),
                _ => Ok(None),
            }
        };
        if matches!(o, Some(Entry::Gitlink(_))) || matches!(t, Some(Entry::Gitlink(_))) {
            return Ok(Resolution::Conflict("submodule changed on both sides".into()));
        }
        let (bv, ov, tv) = (value(b)?, value(o)?, value(t)?);
        fn bytes(v: &Option<(Vec<u8>, Mode)>) -> Option<&[u8]> {
            v.as_ref().map(|(b, _)| b.as_slice())
        }
        let ctx = self.sides.context(path.to_string(), self.favor);
        let merged = if path.len() == 1 && path.to_bytes() == ATTRIBUTES {
            merge_attributes_file(&self.drivers, &ctx, bytes(&bv), bytes(&ov), bytes(&tv))
                .ok_or_else(|| Conflict::new("both sides changed the attributes differently"))
        } else {
            let name = self.driver_name(path, &[&bv, &ov, &tv]);
            self.drivers
                .merge(&name, &ctx, bytes(&bv), bytes(&ov), bytes(&tv))
        };
        match merged {
            Err(conflict) => Ok(Resolution::Conflict(conflict.reason)),
            Ok(None) => Ok(Resolution::Merged(None)),
            Ok(Some(data)) => {
                let mode_of = |v: &Option<(Vec<u8>, Mode)>| v.as_ref().map(|(_, m)| *m);
                let (bm, om, tm) = (mode_of(&bv), mode_of(&ov), mode_of(&tv));
                let mode = if om == bm { tm.or(om) } else { om.or(tm) }.unwrap_or(Mode::File);
                let id = store.write(ObjectKind::Blob, &data)?;
                Ok(Resolution::Merged(Some(Entry::Value { id, mode })))
            }
        }
    }

    fn counts_twice(&self, path: Option<&Path>) -> bool {
        match path {
            None => self.twice_anywhere,
            Some(path) => {
                self.twice_anywhere
                    && self.drivers.equal_changes(
                        &self
                            .attrs
                            .merge_driver(&path.to_bytes())
                            .unwrap_or_else(|| self.drivers.default_name().to_string()),
                    ) == EqualChanges::Twice
            }
        }
    }
}

const ATTRIBUTES: &[u8] = b".gitattributes";

impl Repo {
    /// The best common ancestors of two commits, newest first (`git merge-base --all`).
    pub fn merge_bases(&self, a: ObjectId, b: ObjectId) -> Result<Vec<ObjectId>> {
        Ok(CommitGraph::new(self.objects()).merge_bases(a, b)?)
    }

    /// Whether `ancestor` is in the history of `descendant`.
    pub fn is_ancestor(&self, ancestor: ObjectId, descendant: ObjectId) -> Result<bool> {
        Ok(CommitGraph::new(self.objects()).is_ancestor(ancestor, descendant)?)
    }

    /// Merges two commits' trees against their merge base (a virtual one for criss-cross
    /// histories). Conflicting paths hold ours (or the favoured side) in the result tree.
    pub fn merge_commits(&self, ours: ObjectId, theirs: ObjectId, favor: Option<Favor>) -> Result<TreeMerge> {
        let base = self.merge_base_tree(ours, theirs, 0)?;
        let sides = self.sides(ours, theirs)?;
        let (ot, tt) = (self.commit_tree(ours)?, self.commit_tree(theirs)?);
        self.merge_trees_with(
            &base,
            &ot,
            &tt,
            sides,
            favor.map_or(ConflictSide::Ours, side_of),
            favor,
        )
    }

    /// The tree [`Repo::merge_commits`] compares both sides against: the merge base's, the
    /// empty tree when there is none, or for several bases their recursive (virtual) merge.
    pub fn merge_base_tree_of(&self, ours: ObjectId, theirs: ObjectId) -> Result<Tree> {
        self.merge_base_tree(ours, theirs, 0)
    }

    /// Merges three trees with the drivers the merged `.gitattributes` names. Conflicting paths
    /// are reported and hold `side`'s entry in the result.
    pub fn merge_trees(
        &self,
        base: &Tree,
        ours: &Tree,
        theirs: &Tree,
        sides: MergeSides,
        side: ConflictSide,
    ) -> Result<TreeMerge> {
        self.merge_trees_with(base, ours, theirs, sides, side, None)
    }

    /// As [`Repo::merge_trees`]; with `favor`, value conflicts between two present values are
    /// resolved the way Git's `-X ours|theirs` resolves them: every driver sees the favoured side in
    /// [`MergeContext::favor`] (text keeps the other side's clean hunks and takes the favoured
    /// side's lines where they conflict), and a conflict a driver still reports takes the favoured
    /// side's whole value.
    fn merge_trees_with(
        &self,
        base: &Tree,
        ours: &Tree,
        theirs: &Tree,
        sides: MergeSides,
        side: ConflictSide,
        favor: Option<Favor>,
    ) -> Result<TreeMerge> {
        let attrs = self.merged_attributes(base, ours, theirs, sides)?;
        let mut resolver = ValueResolver {
            repo: self,
            drivers: self.drivers(),
            twice_anywhere: false,
            attrs,
            sides,
            favor,
        };
        resolver.twice_anywhere = resolver
            .attrs
            .merge_drivers_named()
            .iter()
            .any(|name| resolver.drivers.equal_changes(name) == EqualChanges::Twice)
            || resolver.drivers.equal_changes(resolver.drivers.default_name()) == EqualChanges::Twice;
        Ok(merge_trees(
            self.objects(),
            base,
            ours,
            theirs,
            side,
            &mut resolver,
        )?)
    }

    /// The `.gitattributes` that governs a merge: the three trees' root files merged (see
    /// [`merge_attributes_file`]); if they conflict, ours.
    fn merged_attributes(
        &self,
        base: &Tree,
        ours: &Tree,
        theirs: &Tree,
        sides: MergeSides,
    ) -> Result<Attributes> {
        let store = self.objects();
        let path = Path::from_steps([ATTRIBUTES])?;
        let read = |t: &Tree| -> Result<Option<Vec<u8>>> {
            match t.find(store, &path)? {
                Some(Entry::Value { id, .. }) => Ok(Some(store.read_kind(&id, ObjectKind::Blob)?)),
                _ => Ok(None),
            }
        };
        let (b, o, t) = (read(base)?, read(ours)?, read(theirs)?);
        let ctx = sides.context(".gitattributes", None);
        let governing =
            merge_attributes_file(&self.drivers(), &ctx, b.as_deref(), o.as_deref(), t.as_deref())
                .unwrap_or(o);
        Ok(Attributes::parse(governing.as_deref().unwrap_or(b"")))
    }

    /// The merge drivers of this store: the built-in ones and those registered with
    /// [`Repo::register`] or [`Repo::set_drivers`]. Every merge the store makes uses them.
    pub fn drivers(&self) -> Arc<Drivers> {
        self.inner
            .drivers
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone()
    }

    /// Registers a merge driver under `name` for every merge of this store (and its clones of
    /// the handle), replacing one of that name; paths select it with `merge=NAME` in
    /// `.gitattributes`.
    ///
    /// ```
    /// use canopy::{HashKind, Path, Repo};
    /// use canopy::merge::MergeContext;
    /// use canopy::store::{CommitOptions, MergeOptions, MergeOutcome};
    ///
    /// // A max-register: concurrent writes keep the larger number.
    /// let repo = Repo::in_memory(HashKind::Sha1);
    /// repo.register("max", |_: &MergeContext, _: Option<&[u8]>, o: Option<&[u8]>, t: Option<&[u8]>| {
    ///     let n = |v: Option<&[u8]>| v.and_then(|v| std::str::from_utf8(v).ok()?.trim().parse::<u64>().ok());
    ///     Ok(Some(n(o).max(n(t)).unwrap_or(0).to_string().into_bytes()))
    /// });
    /// let main = repo.branch("main")?;
    /// let p = |s: &str| Path::parse(s).unwrap();
    /// main.set(&p(".gitattributes"), "best merge=max\n", &CommitOptions::message("attrs"))?;
    /// main.set(&p("best"), "10", &CommitOptions::message("10"))?;
    /// let other = repo.create_branch("other", main.head()?.unwrap())?;
    /// main.set(&p("best"), "30", &CommitOptions::message("30"))?;
    /// other.set(&p("best"), "20", &CommitOptions::message("20"))?;
    /// let outcome = main.merge(other.head()?.unwrap(), &MergeOptions::default())?;
    /// assert!(matches!(outcome, MergeOutcome::Merged(_)));
    /// assert_eq!(main.get(&p("best"))?, Some(b"30".to_vec()));
    /// # Ok::<(), canopy::store::Error>(())
    /// ```
    pub fn register(&self, name: impl Into<String>, driver: impl Driver + 'static) {
        let mut guard = self
            .inner
            .drivers
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let mut drivers = (**guard).clone();
        drivers.register(name, driver);
        *guard = Arc::new(drivers);
    }

    /// Replaces the whole driver registry of this store.
    pub fn set_drivers(&self, drivers: Drivers) {
        *self
            .inner
            .drivers
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = Arc::new(drivers);
    }

    fn commit_tree(&self, id: ObjectId) -> Result<Tree> {
        Ok(Tree::from_id(self.commit_info(id)?.commit.tree))
    }

    fn sides(&self, ours: ObjectId, theirs: ObjectId) -> Result<MergeSides> {
        Ok(MergeSides {
            ours: Some((ours, self.commit_info(ours)?.commit.committer.time)),
            theirs: Some((theirs, self.commit_info(theirs)?.commit.committer.time)),
        })
    }

    /// The tree to merge against: the merge base, the empty tree when there is none, or for
    /// several bases their recursive merge, oldest first, inner conflicts taking the base.
    fn merge_base_tree(&self, ours: ObjectId, theirs: ObjectId, depth: usize) -> Result<Tree> {
        let mut bases = self.merge_bases(ours, theirs)?;
        bases.reverse();
        let Some((&first, rest)) = bases.split_first() else {
            return Ok(Tree::empty());
        };
        if rest.is_empty() || depth > 32 {
            return self.commit_tree(first);
        }
        let mut virtual_commit = first;
        for &next in rest {
            let base = self.merge_base_tree(virtual_commit, next, depth + 1)?;
            let sides = self.sides(virtual_commit, next)?;
            let (a, b) = (self.commit_tree(virtual_commit)?, self.commit_tree(next)?);
            let merged = self.merge_trees(&base, &a, &b, sides, ConflictSide::Base)?;
            let tree = self.write_tree(&merged.tree)?;
            // The virtual base is a commit (unreferenced) so that later folds can find its
            // own merge bases through its parents.
            let time = sides.ours.map_or(0, |s| s.1).max(sides.theirs.map_or(0, |s| s.1));
            let who = Signature {
                name: "canopy".into(),
                email: "canopy@localhost".into(),
                time,
                offset_minutes: 0,
            };
            let opts = CommitOptions {
                message: "merged common ancestors".into(),
                author: Some(who.clone()),
                committer: Some(who),
            };
            virtual_commit = self.write_commit_with(tree, vec![virtual_commit, next], &opts, Vec::new())?;
        }
        self.commit_tree(virtual_commit)
    }
}

fn side_of(f: Favor) -> ConflictSide {
    match f {
        Favor::Ours => ConflictSide::Ours,
        Favor::Theirs => ConflictSide::Theirs,
    }
}

impl Branch {
    /// Merges commit `from` into this branch: fast-forward when possible (unless `no_ff`), else a
    /// merge commit whose parents are the head and `from`, in that order (message: the options', else
    /// `Merge commit '<from>'`). On conflicts (and no
    /// `favor`) nothing changes and the conflicts are returned.
    pub fn merge(&self, from: ObjectId, opts: &MergeOptions) -> Result<MergeOutcome> {
        let repo = self.repo();
        repo.commit_info(from)?;
        let mut retry = Retry::attempts(COMMIT_ATTEMPTS);
        let mut first = true;
        loop {
            // Every attempt after the first follows a head another writer moved.
            if !std::mem::take(&mut first) {
                again_or_give_up(&mut retry, self.name())?;
            }
            let head = self.head()?;
            let log = |message: String| RefLog {
                who: opts
                    .commit
                    .committer
                    .clone()
                    .unwrap_or_else(|| repo.default_signature()),
                message,
            };
            let Some(head) = head else {
                // An unborn branch simply takes the other history.
                if repo.refs().update(
                    self.ref_name(),
                    Expected::Absent,
                    Some(from),
                    &log(format!("merge {from}: initial")),
                )? {
                    return Ok(MergeOutcome::FastForward(from));
                }
                continue;
            };
            if repo.is_ancestor(from, head)? {
                return Ok(MergeOutcome::UpToDate(head));
            }
            if !opts.no_ff && repo.is_ancestor(head, from)? {
                if repo.refs().update(
                    self.ref_name(),
                    Expected::Value(head),
                    Some(from),
                    &log(format!("merge {from}: Fast-forward")),
                )? {
                    return Ok(MergeOutcome::FastForward(from));
                }
                continue;
            }
            let merged = repo.merge_commits(head, from, opts.favor)?;
            // With `favor`, content conflicts were resolved; what is left (modify/delete, a
            // value against a directory) still stops the merge, as with Git's -X.
            if !merged.conflicts.is_empty() {
                return Ok(MergeOutcome::Conflicts(merged.conflicts));
            }
            let tree = repo.write_tree(&merged.tree)?;
            let mut commit_opts = opts.commit.clone();
            if commit_opts.message.is_empty() {
                // Git's default for a commit merged by id.
                commit_opts.message = format!("Merge commit '{from}'");
            }
            let commit = repo.write_commit(tree, vec![head, from], &commit_opts)?;
            repo.objects().flush()?;
            let message = format!("merge {from}: Merge made by the 'canopy' strategy.");
            if repo.refs().update(
                self.ref_name(),
                Expected::Value(head),
                Some(commit),
                &log(message),
            )? {
                return Ok(MergeOutcome::Merged(commit));
            }
        }
    }
}
