//! Branch handles and transactions: every write is a commit, and the branch moves only by
//! compare-and-swap.

use serde::de::DeserializeOwned;
use serde::Serialize;

use super::lane::Fate;
use super::merge::MergeSides;
use super::{CommitOptions, Error, History, Repo, Result, View};
use crate::backend::{check_ref_name, RefLog};
use crate::contents::Contents;
use crate::merge::tree::ConflictSide;
use crate::object::{ObjectId, ObjectKind};
use crate::path::Path;
use crate::retry::{Retry, COMMIT_ATTEMPTS};
use crate::tree::{Entry, EntryKind, Tree};

/// A named branch of a store. Reads see the head at the moment of the call; each write is one
/// commit. Cheap to clone; `Send + Sync`.
#[derive(Clone, Debug)]
pub struct Branch {
    repo: Repo,
    name: String,
    ref_name: String,
}

/// One change in a transaction.
#[derive(Clone, Debug)]
pub enum Change {
    /// Put a value at a path (replacing a directory there, creating directories on the way).
    Set(Path, Vec<u8>),
    /// Put a value already stored ([`Repo::write_value`]) at a path, as [`Change::Set`] does.
    SetStored(Path, ObjectId),
    /// Remove a value or a whole directory.
    Remove(Path),
    /// Put a whole tree at a path (the root included).
    SetTree(Path, Tree),
    /// Fail the transaction unless the value at the path is the given one (`None`: absent).
    Expect(Path, Option<Vec<u8>>),
}

/// The outcome of [`Branch::test_and_set`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TestAndSet {
    /// The value was as expected and is now replaced; the commit that did it.
    Committed(ObjectId),
    /// The value was not as expected; it is this, and nothing changed.
    Failed(Option<Vec<u8>>),
}

impl Branch {
    pub(super) fn new(repo: Repo, name: &str) -> Result<Branch> {
        let ref_name = format!("refs/heads/{name}");
        // As `git branch`: `HEAD` would shadow the symbolic reference of that name.
        if name.is_empty() || name.starts_with('-') || name == "HEAD" || check_ref_name(&ref_name).is_err() {
            return Err(Error::InvalidBranchName(name.to_string()));
        }
        Ok(Branch {
            repo,
            name: name.to_string(),
            ref_name,
        })
    }

    /// The short name (`main`).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The full reference name (`refs/heads/main`).
    pub fn ref_name(&self) -> &str {
        &self.ref_name
    }

    pub fn repo(&self) -> &Repo {
        &self.repo
    }

    /// The commit the branch points at (`None` if it does not exist yet).
    pub fn head(&self) -> Result<Option<ObjectId>> {
        Ok(self.repo.refs().resolve(&self.ref_name)?)
    }

    /// A snapshot of the branch's current tree.
    pub fn view(&self) -> Result<View> {
        match self.head()? {
            Some(id) => self.repo.view_at(id),
            None => Ok(View::new(self.repo.clone(), None, Tree::empty())),
        }
    }

    pub fn get(&self, path: &Path) -> Result<Option<Vec<u8>>> {
        self.view()?.get(path)
    }

    /// The value at `path` decoded from JSON into `T`.
    pub fn get_json<T: DeserializeOwned>(&self, path: &Path) -> Result<Option<T>> {
        self.view()?.get_json(path)
    }

    /// The value at `path` as a [`Contents`] type.
    pub fn get_as<T: Contents>(&self, path: &Path) -> Result<Option<T>> {
        self.view()?.get_as(path)
    }

    /// Stores `value` at `path` with `T`'s encoding, in one commit.
    pub fn set_as<T: Contents>(&self, path: &Path, value: &T, opts: &CommitOptions) -> Result<ObjectId> {
        self.transaction_on_head()
            .set_as(path.clone(), value)?
            .commit(opts)
    }

    /// Reads the value at `path` as `T`, computes its replacement with `f` (`None` removes it)
    /// and commits it. Made against the head that was read: if the branch moved meanwhile, the
    /// change is merged onto the new head with the path's driver — `T`'s own merge when
    /// `.gitattributes` binds the path to [`T::DRIVER`](Contents::DRIVER) and the store has
    /// registered it ([`Repo::register_contents`]) — so no concurrent update is lost.
    /// Returns the new head.
    pub fn update_as<T: Contents>(
        &self,
        path: &Path,
        f: impl FnOnce(Option<T>) -> Option<T>,
        opts: &CommitOptions,
    ) -> Result<ObjectId> {
        let view = self.view()?;
        let new = f(view.get_as(path)?);
        let tx = self.transaction_at(view.commit());
        match new {
            Some(v) => tx.set_as(path.clone(), &v)?,
            None => tx.remove(path.clone()),
        }
        .commit(opts)
    }

    pub fn find(&self, path: &Path) -> Result<Option<Entry>> {
        self.view()?.find(path)
    }

    pub fn contains(&self, path: &Path) -> Result<bool> {
        self.view()?.contains(path)
    }

    pub fn list(&self, path: &Path) -> Result<Vec<(Vec<u8>, EntryKind)>> {
        self.view()?.list(path)
    }

    pub fn get_tree(&self, path: &Path) -> Result<Option<Tree>> {
        self.view()?.get_tree(path)
    }

    /// Sets the value at `path` in one commit; returns the new head.
    pub fn set(&self, path: &Path, value: impl Into<Vec<u8>>, opts: &CommitOptions) -> Result<ObjectId> {
        self.transaction_on_head().set(path.clone(), value).commit(opts)
    }

    /// Sets the value at `path` to the `size` bytes read from `data`, in one commit, without
    /// holding a large value in memory; returns the new head. Fails, committing nothing, unless
    /// `data` gives exactly `size` bytes.
    pub fn set_from(
        &self,
        path: &Path,
        size: u64,
        data: &mut dyn std::io::Read,
        opts: &CommitOptions,
    ) -> Result<ObjectId> {
        if path.is_root() {
            return Err(Error::NotAValue { path: path.clone() });
        }
        let blob = self.repo.write_value(size, data)?;
        self.transaction_on_head()
            .set_stored(path.clone(), blob)
            .commit(opts)
    }

    /// Stores `value` as JSON text at `path`, so that `git show` stays readable.
    pub fn set_json<T: Serialize + ?Sized>(
        &self,
        path: &Path,
        value: &T,
        opts: &CommitOptions,
    ) -> Result<ObjectId> {
        let mut bytes = serde_json::to_vec_pretty(value).map_err(|source| Error::Encode {
            path: path.clone(),
            source,
        })?;
        bytes.push(b'\n');
        self.set(path, bytes, opts)
    }

    /// Removes the value or directory at `path`. Removing nothing makes no commit.
    pub fn remove(&self, path: &Path, opts: &CommitOptions) -> Result<ObjectId> {
        self.transaction_on_head().remove(path.clone()).commit(opts)
    }

    pub fn set_tree(&self, path: &Path, tree: Tree, opts: &CommitOptions) -> Result<ObjectId> {
        self.transaction_on_head()
            .set_tree(path.clone(), tree)
            .commit(opts)
    }

    /// Replaces the value at `path` by `new` (`None` removes it) only if it currently is
    /// `expected` (`None`: absent). Atomic with respect to every other writer.
    pub fn test_and_set(
        &self,
        path: &Path,
        expected: Option<&[u8]>,
        new: Option<&[u8]>,
        opts: &CommitOptions,
    ) -> Result<TestAndSet> {
        let mut tx = self
            .transaction()
            .expect(path.clone(), expected.map(<[u8]>::to_vec));
        tx = match new {
            Some(v) => tx.set(path.clone(), v.to_vec()),
            None => tx.remove(path.clone()),
        };
        match tx.commit_checked(opts)? {
            Ok(id) => Ok(TestAndSet::Committed(id)),
            Err(actual) => Ok(TestAndSet::Failed(actual)),
        }
    }

    /// A batch of changes applied to whatever the head is when it commits (what `set` and
    /// `remove` use): nothing to merge with, the changes simply apply on top.
    pub fn transaction_on_head(&self) -> Transaction {
        Transaction {
            branch: self.clone(),
            changes: Vec::new(),
            start: None,
        }
    }

    /// A batch of changes that becomes one commit.
    pub fn transaction(&self) -> Transaction {
        Transaction {
            branch: self.clone(),
            changes: Vec::new(),
            start: self.head().ok(),
        }
    }

    /// A batch of changes made against commit `start` (`None`: the empty tree of an unborn
    /// branch) rather than the current head: if the branch has moved on from `start` by commit
    /// time, the changes are merged into its head with the per-path drivers, as for a
    /// transaction that lost a race ([`Error::Conflicts`] if they cannot be).
    pub fn transaction_at(&self, start: Option<ObjectId>) -> Transaction {
        Transaction {
            branch: self.clone(),
            changes: Vec::new(),
            start: Some(start),
        }
    }

    /// The branch's history, newest first.
    pub fn history(&self) -> Result<History> {
        Ok(self.repo.history(&self.head()?.into_iter().collect::<Vec<_>>()))
    }
}

/// Changes to apply to a branch as one commit, made against the head at the time the
/// transaction began. If another writer moved the branch since, the changes are merged into the
/// new head with the per-path drivers (and retried while it keeps moving); paths that cannot be
/// merged are returned as [`Error::Conflicts`] and nothing changes. Expectations
/// ([`Transaction::expect`]) are checked against the head actually replaced.
#[derive(Clone, Debug)]
pub struct Transaction {
    branch: Branch,
    changes: Vec<Change>,
    /// The head when the transaction began (`None` if it could not be read: then the head at
    /// commit time is taken).
    start: Option<Option<ObjectId>>,
}

impl Transaction {
    pub fn set(mut self, path: Path, value: impl Into<Vec<u8>>) -> Transaction {
        self.changes.push(Change::Set(path, value.into()));
        self
    }

    pub fn remove(mut self, path: Path) -> Transaction {
        self.changes.push(Change::Remove(path));
        self
    }

    /// Puts the value `blob`, already stored with [`Repo::write_value`], at `path`: how a value
    /// too large to hold in memory is written.
    pub fn set_stored(mut self, path: Path, blob: ObjectId) -> Transaction {
        self.changes.push(Change::SetStored(path, blob));
        self
    }

    /// Puts `value` at `path` with `T`'s encoding ([`Contents::encode`]).
    pub fn set_as<T: Contents>(self, path: Path, value: &T) -> Result<Transaction> {
        let bytes = super::view::encode_as(&path, value)?;
        Ok(self.set(path, bytes))
    }

    pub fn set_tree(mut self, path: Path, tree: Tree) -> Transaction {
        self.changes.push(Change::SetTree(path, tree));
        self
    }

    /// Makes the commit conditional on the value at `path` being `value` (`None`: absent).
    pub fn expect(mut self, path: Path, value: Option<Vec<u8>>) -> Transaction {
        self.changes.push(Change::Expect(path, value));
        self
    }

    /// Adds any change.
    pub fn push(mut self, change: Change) -> Transaction {
        self.changes.push(change);
        self
    }

    pub fn changes(&self) -> &[Change] {
        &self.changes
    }

    /// Commits the changes; returns the new head. A failed expectation is an error here; use
    /// [`Transaction::commit_checked`] to get the value that was found instead. When the changes
    /// leave the tree as it was, no commit is made and the current head is returned.
    pub fn commit(self, opts: &CommitOptions) -> Result<ObjectId> {
        let path = self.changes.iter().find_map(|c| match c {
            Change::Expect(p, _) => Some(p.clone()),
            _ => None,
        });
        match self.commit_checked(opts)? {
            Ok(id) => Ok(id),
            Err(_) => Err(Error::ExpectationFailed {
                path: path.unwrap_or_default(),
            }),
        }
    }

    /// Commits the changes, or returns `Err(found)` with the value found at the first failed
    /// expectation, changing nothing.
    pub fn commit_checked(self, opts: &CommitOptions) -> Result<Result<ObjectId, Option<Vec<u8>>>> {
        let repo = &self.branch.repo;
        let store = repo.objects();
        // Values are content-addressed: store them once, whatever the number of attempts.
        let mut blobs = Vec::with_capacity(self.changes.len());
        for change in &self.changes {
            blobs.push(match change {
                Change::Set(path, _) | Change::SetStored(path, _) if path.is_root() => {
                    return Err(Error::NotAValue { path: path.clone() })
                }
                Change::Set(_, v) => Some(store.write(ObjectKind::Blob, v)?),
                Change::SetStored(_, id) => Some(*id),
                _ => None,
            });
        }
        let log_who = opts
            .committer
            .clone()
            .or_else(|| opts.author.clone())
            .unwrap_or_else(|| repo.default_signature());
        // The head the changes were made against; a moved head is merged with, not overwritten.
        // A transaction on the head takes the first head it is built on.
        let mut start: Option<Option<ObjectId>> = self.start;
        let tree_of = |head: Option<ObjectId>| -> Result<Tree> {
            Ok(match head {
                Some(id) => Tree::from_id(repo.commit_info(id)?.commit.tree),
                None => Tree::empty(),
            })
        };
        let mut start_tree: Option<Tree> = None;
        let mut ours: Option<Tree> = None;
        let lane = repo.lane(self.branch.ref_name());
        let mut retry = Retry::attempts(COMMIT_ATTEMPTS);
        loop {
            // Built on the newest commit of this branch in this process, published or not.
            let building = lane.begin(|| self.branch.head())?;
            let head = building.tip();
            let start = *start.get_or_insert(head);
            let start_tree = match &start_tree {
                Some(t) => t.clone(),
                None => start_tree.insert(tree_of(start)?).clone(),
            };
            let head_tree = tree_of(head)?;
            // Expectations hold against the head being replaced, whatever it is.
            let applied = match self.apply(&head_tree, &blobs)? {
                Ok(t) => t,
                Err(found) => return Ok(Err(found)),
            };
            // A transaction with expectations is a compare-and-swap: they held on this head, so
            // its changes apply to this head as they are, not merged.
            let expects = self.changes.iter().any(|c| matches!(c, Change::Expect(..)));
            let tree = if head == start || expects {
                applied
            } else {
                let ours = match &ours {
                    Some(t) => t.clone(),
                    None => {
                        let t = self.apply_unchecked(&start_tree, &blobs)?;
                        ours = Some(t.clone());
                        t
                    }
                };
                let time = opts
                    .committer
                    .as_ref()
                    .or(opts.author.as_ref())
                    .map_or(log_who.time, |s| s.time);
                let sides = MergeSides {
                    ours: Some((repo.hash_kind().null_id(), time)),
                    theirs: match head {
                        Some(h) => Some((h, repo.commit_info(h)?.commit.committer.time)),
                        None => None,
                    },
                };
                let merged = repo.merge_trees(&start_tree, &ours, &head_tree, sides, ConflictSide::Ours)?;
                if !merged.conflicts.is_empty() {
                    return Err(Error::Conflicts {
                        branch: self.branch.name.clone(),
                        conflicts: merged.conflicts,
                    });
                }
                merged.tree
            };
            let tree_id = repo.write_tree(&tree)?;
            let log = RefLog {
                who: log_who.clone(),
                message: format!("commit: {}", opts.message.lines().next().unwrap_or("")),
            };
            let ref_name = self.branch.ref_name();
            // When nothing changes, the head is the answer, once it is on disk.
            let (answer, ticket) = match head {
                Some(head) if head_tree.id() == Some(tree_id) => match building.tip_ticket() {
                    None => return Ok(Ok(head)),
                    Some(ticket) => {
                        // Unlock the lane before waiting on it.
                        drop(building);
                        (head, ticket)
                    }
                },
                _ => {
                    let commit = repo.write_commit(tree_id, head.into_iter().collect(), opts)?;
                    (commit, building.push(commit))
                }
            };
            if let Fate::Published = lane.publish(ticket, repo, ref_name, &log)? {
                return Ok(Ok(answer));
            }
            // Built on a head another process replaced: again, on the new head.
            again_or_give_up(&mut retry, &self.branch.name)?;
        }
    }

    /// Applies the changes to `tree`; `Err(found)` at the first expectation that fails.
    fn apply(&self, tree: &Tree, blobs: &[Option<ObjectId>]) -> Result<Result<Tree, Option<Vec<u8>>>> {
        let store = self.branch.repo.objects();
        let mut tree = tree.clone();
        for (change, blob) in self.changes.iter().zip(blobs) {
            tree = match change {
                Change::Set(path, _) | Change::SetStored(path, _) => {
                    let id = blob.unwrap_or_else(|| store.hash_kind().null_id());
                    tree.with(store, path, Some(Entry::value(id)))?
                }
                Change::Remove(path) => tree.with(store, path, None)?,
                Change::SetTree(path, t) => tree.with(store, path, Some(Entry::Tree(t.clone())))?,
                Change::Expect(path, want) => {
                    let found = match tree.find(store, path)? {
                        Some(Entry::Value { id, .. }) => Some(store.read_kind(&id, ObjectKind::Blob)?),
                        _ => None,
                    };
                    if found != *want {
                        return Ok(Err(found));
                    }
                    tree
                }
            };
        }
        Ok(Ok(tree))
    }

    /// Applies the changes to `tree`, ignoring expectations (checked against the head instead).
    fn apply_unchecked(&self, tree: &Tree, blobs: &[Option<ObjectId>]) -> Result<Tree> {
        let unchecked = Transaction {
            branch: self.branch.clone(),
            changes: self
                .changes
                .iter()
                .filter(|c| !matches!(c, Change::Expect(..)))
                .cloned()
                .collect(),
            start: self.start,
        };
        let blobs: Vec<_> = self
            .changes
            .iter()
            .zip(blobs)
            .filter(|(c, _)| !matches!(c, Change::Expect(..)))
            .map(|(_, b)| *b)
            .collect();
        Ok(unchecked.apply(tree, &blobs)?.unwrap_or_else(|_| tree.clone()))
    }
}

/// After a lost compare-and-swap on `branch`: pauses before the next attempt ([`Retry`]'s one
/// policy), or gives up with [`Error::TooManyRetries`] when the attempts are spent.
pub(crate) fn again_or_give_up(retry: &mut Retry, branch: &str) -> Result<()> {
    if retry.again() {
        return Ok(());
    }
    Err(Error::TooManyRetries {
        branch: branch.to_string(),
        attempts: retry.made(),
    })
}
