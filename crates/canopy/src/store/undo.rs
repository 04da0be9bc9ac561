//! Going back: revert a commit's changes, roll the tree back to an old commit, or move the branch
//! itself; and the reflog that remembers where the branch has been.
//!
//! `revert` and `rollback` add a commit, so history is kept and other clones can pull them; both
//! move the branch by compare-and-swap and, when another writer got there first, redo their work
//! on the new head. `reset` is the only forced move: the branch points where it is told, and the
//! head it leaves stays findable in the reflog.

use super::again_or_give_up;
use super::{Branch, CommitOptions, Error, MergeSides, Result};
use crate::backend::{Expected, RefLog, ReflogEntry};
use crate::merge::tree::{ConflictSide, PathConflict};
use crate::object::ObjectId;
use crate::retry::{Retry, COMMIT_ATTEMPTS};
use crate::tree::Tree;

/// What [`Branch::revert`] did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RevertOutcome {
    /// The commit that undoes the change.
    Committed(ObjectId),
    /// The head already lacks the change: nothing to commit; the head is returned.
    Unchanged(ObjectId),
    /// The change cannot be undone cleanly (later commits changed the same values); the branch
    /// is unchanged.
    Conflicts(Vec<PathConflict>),
}

impl Branch {
    /// Adds a commit whose tree is `target`'s tree, on top of the head: the state goes back,
    /// the history stays. Returns the new head (the old one if the tree is already `target`'s).
    pub fn rollback(&self, target: ObjectId, opts: &CommitOptions) -> Result<ObjectId> {
        let repo = self.repo();
        let tree = repo.commit_info(target)?.commit.tree;
        let mut retry = Retry::attempts(COMMIT_ATTEMPTS);
        loop {
            let head = self.head()?;
            if let Some(h) = head {
                if repo.commit_info(h)?.commit.tree == tree {
                    return Ok(h);
                }
            }
            let commit = repo.write_commit(tree, head.into_iter().collect(), opts)?;
            repo.objects().flush()?;
            let log = reflog_line(self, opts, "rollback");
            if repo
                .refs()
                .update(self.ref_name(), Expected::from_option(head), Some(commit), &log)?
            {
                return Ok(commit);
            }
            again_or_give_up(&mut retry, self.name())?;
        }
    }

    /// Adds a commit that undoes what `commit` changed (against its first parent), merged
    /// three-way into the head as `git revert` does: base = `commit`'s tree, ours = the head's,
    /// theirs = the parent's.
    pub fn revert(&self, commit: ObjectId, opts: &CommitOptions) -> Result<RevertOutcome> {
        let repo = self.repo();
        let info = repo.commit_info(commit)?;
        let base = Tree::from_id(info.commit.tree);
        let theirs = match info.commit.parents.first() {
            Some(&p) => Tree::from_id(repo.commit_info(p)?.commit.tree),
            None => Tree::empty(),
        };
        let mut retry = Retry::attempts(COMMIT_ATTEMPTS);
        loop {
            let head = self.head()?.ok_or_else(|| Error::InvalidRev {
                rev: self.name().to_string(),
                reason: "the branch has no commits to revert on".into(),
            })?;
            let head_info = repo.commit_info(head)?;
            let ours = Tree::from_id(head_info.commit.tree);
            let sides = MergeSides {
                ours: Some((head, head_info.commit.committer.time)),
                theirs: None,
            };
            let merged = repo.merge_trees(&base, &ours, &theirs, sides, ConflictSide::Ours)?;
            if !merged.conflicts.is_empty() {
                return Ok(RevertOutcome::Conflicts(merged.conflicts));
            }
            let tree = merged.tree.write(repo.objects())?;
            if tree == head_info.commit.tree {
                return Ok(RevertOutcome::Unchanged(head));
            }
            let new = repo.write_commit(tree, vec![head], opts)?;
            repo.objects().flush()?;
            let log = reflog_line(self, opts, "revert");
            if repo
                .refs()
                .update(self.ref_name(), Expected::Value(head), Some(new), &log)?
            {
                return Ok(RevertOutcome::Committed(new));
            }
            again_or_give_up(&mut retry, self.name())?;
        }
    }

    /// Moves the branch to `target`, whatever it points at now (a forced move); the head it
    /// leaves stays in the reflog. Returns that head. `opts.message` is the reflog message
    /// (default `reset: moving to <target>`).
    pub fn reset(&self, target: ObjectId, opts: &CommitOptions) -> Result<Option<ObjectId>> {
        let repo = self.repo();
        repo.commit_info(target)?;
        let old = self.head()?;
        let message = if opts.message.is_empty() {
            format!("reset: moving to {target}")
        } else {
            opts.message.clone()
        };
        let log = RefLog {
            who: opts
                .committer
                .clone()
                .or_else(|| opts.author.clone())
                .unwrap_or_else(|| repo.default_signature()),
            message,
        };
        repo.refs()
            .update(self.ref_name(), Expected::Any, Some(target), &log)?;
        Ok(old)
    }

    /// Where the branch has been, newest first (empty when the store keeps no reflog for it).
    pub fn reflog(&self) -> Result<Vec<ReflogEntry>> {
        let mut entries = self.repo().refs().reflog(self.ref_name())?;
        entries.reverse();
        Ok(entries)
    }
}

fn reflog_line(branch: &Branch, opts: &CommitOptions, what: &str) -> RefLog {
    let who = opts
        .committer
        .clone()
        .or_else(|| opts.author.clone())
        .unwrap_or_else(|| branch.repo().default_signature());
    let summary = opts.message.lines().next().unwrap_or("");
    RefLog {
        who,
        message: format!("{what}: {summary}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::object::HashKind;
    use crate::path::Path;
    use crate::store::Repo;

    fn p(s: &str) -> Path {
        Path::parse(s).unwrap()
    }

    fn msg(m: &str) -> CommitOptions {
        CommitOptions::message(m)
    }

    #[test]
    fn revert_undoes_exactly_one_commit() {
        let repo = Repo::in_memory(HashKind::Sha1);
        let main = repo.branch("main").unwrap();
        main.transaction()
            .set(p("a"), "1")
            .set(p("b"), "1")
            .commit(&msg("one"))
            .unwrap();
        let middle = main
            .transaction()
            .set(p("a"), "2")
            .set(p("c"), "new")
            .remove(p("b"))
            .commit(&msg("two"))
            .unwrap();
        main.set(&p("d"), "later", &msg("three")).unwrap();
        let RevertOutcome::Committed(id) = main.revert(middle, &msg("revert two")).unwrap() else {
            panic!("expected a commit")
        };
        assert_eq!(main.head().unwrap(), Some(id));
        let view = main.view().unwrap();
        assert_eq!(view.get(&p("a")).unwrap().as_deref(), Some(&b"1"[..]));
        assert_eq!(view.get(&p("b")).unwrap().as_deref(), Some(&b"1"[..]));
        assert_eq!(view.get(&p("c")).unwrap(), None);
        assert_eq!(view.get(&p("d")).unwrap().as_deref(), Some(&b"later"[..]));
        // Reverting again: nothing left to undo.
        assert_eq!(
            main.revert(middle, &msg("again")).unwrap(),
            RevertOutcome::Unchanged(id)
        );
    }

    #[test]
    fn revert_conflict_leaves_the_branch_alone() {
        let repo = Repo::in_memory(HashKind::Sha1);
        let main = repo.branch("main").unwrap();
        main.set(&p("a"), "1", &msg("one")).unwrap();
        let two = main.set(&p("a"), "2", &msg("two")).unwrap();
        let three = main.set(&p("a"), "3", &msg("three")).unwrap();
        match main.revert(two, &msg("revert")).unwrap() {
            RevertOutcome::Conflicts(c) => assert_eq!(c[0].path, "a"),
            other => panic!("expected a conflict, got {other:?}"),
        }
        assert_eq!(main.head().unwrap(), Some(three));
    }

    #[test]
    fn rollback_reset_and_reflog() {
        let repo = Repo::in_memory(HashKind::Sha1);
        let main = repo.branch("main").unwrap();
        let one = main.set(&p("a"), "1", &msg("one")).unwrap();
        let two = main.set(&p("b"), "2", &msg("two")).unwrap();
        let back = main.rollback(one, &msg("back to one")).unwrap();
        let info = repo.commit_info(back).unwrap();
        assert_eq!(info.commit.parents, vec![two]);
        assert_eq!(info.commit.tree, repo.commit_info(one).unwrap().commit.tree);
        // Rolling back to the same tree makes no commit.
        assert_eq!(main.rollback(one, &msg("again")).unwrap(), back);

        assert_eq!(main.reset(one, &CommitOptions::default()).unwrap(), Some(back));
        assert_eq!(main.head().unwrap(), Some(one));
        let log = main.reflog().unwrap();
        assert_eq!(log.len(), 4, "{log:?}");
        assert_eq!((log[0].old, log[0].new), (Some(back), Some(one)));
        assert_eq!((log[1].old, log[1].new), (Some(two), Some(back)));
        assert!(log[1].message.starts_with("rollback: "), "{}", log[1].message);
    }
}
