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

use super::{Branch, CommitOptions, Error, Repo, Result};
use crate::backend::{Expected, RefLog};
use crate::merge::attributes::Attributes;
use crate::merge::drivers::{Drivers, MergeContext};
use crate::merge::lca::CommitGraph;
use crate::merge::text::{merge_text, Favor as TextFavor, TextOptions};
use crate::merge::tree::{merge_trees, ConflictSide, PathConflict, Resolution, TreeMerge};
use crate::object::{Mode, ObjectId, ObjectKind, Signature};
use crate::path::Path;
use crate::tree::{Entry, Tree};

/// Which side wins every conflict (`-X ours` / `-X theirs`); `None` reports conflicts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Favor {
    Ours,
    Theirs,
}

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

    /// As [`Repo::merge_trees`]; with `favor`, value conflicts are resolved the way Git's
    /// `-X ours|theirs` resolves them: text keeps the other side's non-conflicting changes and
    /// takes the favoured side's lines where they conflict; other values take the favoured side.
    fn merge_trees_with(
        &self,
        base: &Tree,
        ours: &Tree,
        theirs: &Tree,
        sides: MergeSides,
        side: ConflictSide,
        favor: Option<Favor>,
    ) -> Result<TreeMerge> {
        let store = self.objects();
        let attrs = self.merged_attributes(base, ours, theirs, sides)?;
        let drivers = self.drivers();
        let mut resolve = |path: &Path,
                           b: Option<&Entry>,
                           o: Option<&Entry>,
                           t: Option<&Entry>|
         -> crate::tree::Result<Resolution> {
            let value = |e: Option<&Entry>| -> crate::tree::Result<Option<(Vec<u8>, Mode)>> {
                match e {
                    Some(Entry::Value { id, mode }) => {
                        Ok(Some((store.read_kind(id, ObjectKind::Blob)?, *mode)))
                    }
                    _ => Ok(None),
                }
            };
            if matches!(o, Some(Entry::Gitlink(_))) || matches!(t, Some(Entry::Gitlink(_))) {
                return Ok(Resolution::Conflict("submodule changed on both sides".into()));
            }
            let (bv, ov, tv) = (value(b)?, value(o)?, value(t)?);
            let name = attrs.merge_driver(&path.to_bytes()).unwrap_or_else(|| {
                let texty = [&bv, &ov, &tv].iter().all(|v| {
                    v.as_ref()
                        .is_none_or(|(bytes, _)| std::str::from_utf8(bytes).is_ok())
                });
                if texty {
                    "text".to_string()
                } else {
                    "binary".to_string()
                }
            });
            let ctx = MergeContext {
                path: path.to_string(),
                ours: sides.ours.map(|(id, time)| (time, id.to_hex())),
                theirs: sides.theirs.map(|(id, time)| (time, id.to_hex())),
            };
            let bytes =
                |v: &Option<(Vec<u8>, Mode)>| v.as_ref().map(|(b, _)| b.as_slice()).map(<[u8]>::to_vec);
            let merged = drivers.merge(
                &name,
                &ctx,
                bytes(&bv).as_deref(),
                bytes(&ov).as_deref(),
                bytes(&tv).as_deref(),
            );
            let merged = match (merged, favor) {
                (Err(conflict), Some(f)) => {
                    let both_text = name == "text" && ov.is_some() && tv.is_some();
                    if both_text {
                        let options = TextOptions {
                            favor: Some(match f {
                                Favor::Ours => TextFavor::Ours,
                                Favor::Theirs => TextFavor::Theirs,
                            }),
                            ..TextOptions::default()
                        };
                        let empty = Vec::new();
                        let pick =
                            |v: &Option<(Vec<u8>, Mode)>| v.as_ref().map_or(&empty, |(b, _)| b).clone();
                        let m = merge_text(&pick(&bv), &pick(&ov), &pick(&tv), &options);
                        if m.is_clean() {
                            Ok(Some(m.content))
                        } else {
                            Err(conflict)
                        }
                    } else if ov.is_some() && tv.is_some() {
                        Ok(bytes(if f == Favor::Ours { &ov } else { &tv }))
                    } else {
                        // Modify/delete stays a conflict, as with Git's -X.
                        Err(conflict)
                    }
                }
                (other, _) => other,
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
        };
        Ok(merge_trees(store, base, ours, theirs, side, &mut resolve)?)
    }

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
        let ctx = MergeContext {
            path: ".gitattributes".into(),
            ours: sides.ours.map(|(id, time)| (time, id.to_hex())),
            theirs: sides.theirs.map(|(id, time)| (time, id.to_hex())),
        };
        let governing = match self
            .drivers()
            .merge("text", &ctx, b.as_deref(), o.as_deref(), t.as_deref())
        {
            Ok(merged) => merged,
            Err(_) => o,
        };
        Ok(Attributes::parse(governing.as_deref().unwrap_or(b"")))
    }

    /// The merge drivers of this store (the built-in ones).
    pub fn drivers(&self) -> Drivers {
        Drivers::builtin()
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
            virtual_commit = self.write_commit(tree, vec![virtual_commit, next], &opts)?;
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
    /// merge commit whose parents are the head and `from`, in that order. On conflicts (and no
    /// `favor`) nothing changes and the conflicts are returned.
    pub fn merge(&self, from: ObjectId, opts: &MergeOptions) -> Result<MergeOutcome> {
        let repo = self.repo();
        repo.commit_info(from)?;
        for _ in 0..super::branch::MAX_ATTEMPTS {
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
            let commit = repo.write_commit(tree, vec![head, from], &opts.commit)?;
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
        Err(Error::TooManyRetries {
            branch: self.name().to_string(),
            attempts: super::branch::MAX_ATTEMPTS,
        })
    }
}
