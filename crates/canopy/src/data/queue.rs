//! A FIFO queue whose items are separate blobs, pushed and popped on any replica.
//!
//! Layout, for a queue at `jobs`:
//!
//! ```text
//! jobs/items/<d1>/<d2>/<key>.json   one item, pretty JSON
//! jobs/popped/<d1>/<d2>/<key>       receipt: one line per pop, "<replica> <time>"
//! .gitattributes                    gains "jobs/popped/** merge=set"
//! ```
//!
//! A key is `<µs since the epoch, 16 digits>-<replica>-<sequence>`: unique per replica and
//! ordered by push time, then replica. `d1` is the key's first 8 digits (100-second buckets) and
//! `d2` the next 3 (0.1-second buckets), so a push or pop rewrites a few small directories
//! instead of one tree naming every item. The queue's order is the order of keys.
//!
//! **Delivery.** On one branch, a pop is a compare-and-swap: it removes the first item on the
//! condition that it is still there, so concurrent poppers (threads or processes) each get a
//! different item, and every item is handed out exactly once. Replicas that pop while apart
//! (different branches or clones, merged later) cannot coordinate: both may pop the same item.
//! The merge then keeps the item removed, and its receipt — a line per pop, merged as a set of
//! lines by the `set` driver — has two lines. [`Queue::double_deliveries`] lists every such
//! item, so a double delivery is never silent; acting on it (compensating, deduplicating) is
//! the application's business.
//!
//! **Merging** is the ordinary tree merge: items pushed on either side are kept, items popped
//! on either side are gone, and the order is by key on every replica.
//!
//! ```
//! use canopy::{data::Queue, HashKind, Path, Repo};
//!
//! let repo = Repo::in_memory(HashKind::Sha1);
//! let jobs = Queue::<String>::open(repo.branch("main")?, Path::parse("jobs")?);
//! jobs.push(&"build".to_string())?;
//! jobs.push(&"test".to_string())?;
//! assert_eq!(jobs.len()?, 2);
//! assert_eq!(jobs.pop()?.as_deref(), Some("build"));
//! assert_eq!(jobs.peek()?.as_deref(), Some("test"));
//! # Ok::<(), canopy::store::Error>(())
//! ```

use std::marker::PhantomData;

use serde::de::DeserializeOwned;
use serde::Serialize;

use super::{
    attr_pattern, attributes_change, check_replica, civil, decode, encode, leaves, malformed, next_sequence,
    now_micros, replica_id, ATTRIBUTES,
};
use crate::object::ObjectKind;
use crate::path::Path;
use crate::retry::{Retry, COMMIT_ATTEMPTS};
use crate::store::{again_or_give_up, Branch, CommitOptions, Result, View};
use crate::tree::Entry;

/// A handle on the queue at one path of a branch. Cheap to clone; `Send + Sync`.
pub struct Queue<T> {
    branch: Branch,
    path: Path,
    replica: String,
    commit: CommitOptions,
    _items: PhantomData<fn() -> T>,
}

impl<T> Clone for Queue<T> {
    fn clone(&self) -> Queue<T> {
        Queue {
            branch: self.branch.clone(),
            path: self.path.clone(),
            replica: self.replica.clone(),
            commit: self.commit.clone(),
            _items: PhantomData,
        }
    }
}

impl<T> std::fmt::Debug for Queue<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Queue({}:{}, replica {})",
            self.branch.name(),
            self.path,
            self.replica
        )
    }
}

/// An item with its key (its place in the queue).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Item<T> {
    pub key: String,
    pub value: T,
}

/// An item popped more than once (on replicas that were apart), with one entry per pop:
/// the popping replica and the time of the pop (`YYYY-MM-DDTHH:MM:SS.ffffffZ`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DoubleDelivery {
    pub key: String,
    pub pops: Vec<(String, String)>,
}

impl<T: Serialize + DeserializeOwned> Queue<T> {
    /// The queue at `path` of `branch` (created by the first push). This replica's id is the
    /// store's `canopy.replica` setting, else one made for the process; see
    /// [`Queue::with_replica`].
    pub fn open(branch: Branch, path: Path) -> Queue<T> {
        let replica = replica_id(branch.repo());
        Queue {
            branch,
            path,
            replica,
            commit: CommitOptions::default(),
            _items: PhantomData,
        }
    }

    /// The same queue, committing with `opts`' identities and message (an empty message gets
    /// each operation's default).
    pub fn with_commit(mut self, opts: CommitOptions) -> Queue<T> {
        self.commit = opts;
        self
    }

    /// The same queue, pushing and popping as replica `id` (letters, digits, `_` and `.`). Two
    /// handles that stand for different replicas must have different ids, or a double delivery
    /// between them cannot be told from a single one.
    pub fn with_replica(mut self, id: &str) -> Result<Queue<T>> {
        self.replica = check_replica(id)?;
        Ok(self)
    }

    pub fn replica(&self) -> &str {
        &self.replica
    }

    pub fn branch(&self) -> &Branch {
        &self.branch
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends `value` at the end of the queue, in one commit; returns its key.
    pub fn push(&self, value: &T) -> Result<String> {
        let mut retry = Retry::attempts(COMMIT_ATTEMPTS);
        loop {
            let key = format!("{:016}-{}-{}", now_micros(), self.replica, next_sequence());
            let path = self.item_path(&key)?;
            let bytes = encode(&path, value)?;
            let view = self.branch.view()?;
            let tx = self
                .branch
                .transaction()
                .expect(path.clone(), None)
                .set(path, bytes);
            let tx = self.with_attributes(tx, &view)?;
            let opts = super::commit_options(&self.commit, || format!("queue {}: push {key}", self.path));
            if tx.commit_checked(&opts)?.is_ok() {
                return Ok(key);
            }
            again_or_give_up(&mut retry, self.branch.name())?;
        }
    }

    /// Removes the first item and returns it, in one commit; `None` when the queue is empty.
    pub fn pop(&self) -> Result<Option<T>> {
        Ok(self.pop_item()?.map(|item| item.value))
    }

    /// As [`Queue::pop`], with the item's key. On a lost race with another popper of this
    /// branch, starts over with the new first item, so no two pops get the same item here.
    pub fn pop_item(&self) -> Result<Option<Item<T>>> {
        let mut retry = Retry::attempts(COMMIT_ATTEMPTS);
        loop {
            let view = self.branch.view()?;
            let Some((key, path, bytes)) = self.first(&view)? else {
                return Ok(None);
            };
            let value = decode(&path, &bytes)?;
            let receipt_path = self.receipt_path(&key)?;
            let mut receipt = view.get(&receipt_path)?.unwrap_or_default();
            let (y, mo, d, h, mi, s, us) = civil(now_micros());
            receipt.extend_from_slice(
                format!(
                    "{} {y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}.{us:06}Z\n",
                    self.replica
                )
                .as_bytes(),
            );
            let tx = self
                .branch
                .transaction()
                .expect(path.clone(), Some(bytes))
                .remove(path)
                .set(receipt_path, receipt);
            let tx = self.with_attributes(tx, &view)?;
            let opts = super::commit_options(&self.commit, || format!("queue {}: pop {key}", self.path));
            if tx.commit_checked(&opts)?.is_ok() {
                return Ok(Some(Item { key, value }));
            }
            // Another popper took this item first: start over with the new first item.
            again_or_give_up(&mut retry, self.branch.name())?;
        }
    }

    /// The first item, without removing it.
    pub fn peek(&self) -> Result<Option<T>> {
        let view = self.branch.view()?;
        match self.first(&view)? {
            Some((_, path, bytes)) => Ok(Some(decode(&path, &bytes)?)),
            None => Ok(None),
        }
    }

    /// How many items are queued (reads the directories, not the items).
    pub fn len(&self) -> Result<usize> {
        let view = self.branch.view()?;
        Ok(self.item_ids(&view)?.len())
    }

    pub fn is_empty(&self) -> Result<bool> {
        let view = self.branch.view()?;
        Ok(self.first_leaf(&view)?.is_none())
    }

    /// Every item in queue order.
    pub fn items(&self) -> Result<Vec<Item<T>>> {
        let view = self.branch.view()?;
        let store = self.branch.repo().objects();
        let mut out = Vec::new();
        for (key, id) in self.item_ids(&view)? {
            let path = self.item_path(&key)?;
            let bytes = store.read_kind(&id, ObjectKind::Blob)?;
            out.push(Item {
                key,
                value: decode(&path, &bytes)?,
            });
        }
        Ok(out)
    }

    /// Every item popped more than once (by replicas that were apart when they popped it),
    /// in key order. Empty as long as every pop happened on one branch or on replicas that
    /// had merged each other's pops first.
    pub fn double_deliveries(&self) -> Result<Vec<DoubleDelivery>> {
        let view = self.branch.view()?;
        let store = self.branch.repo().objects();
        let dir = self.path.join(b"popped")?;
        let Some(tree) = view.get_tree(&dir)? else {
            return Ok(Vec::new());
        };
        let mut receipts = Vec::new();
        leaves(store, &tree, &mut receipts)?;
        let mut out = Vec::new();
        for (name, id) in receipts {
            let key = String::from_utf8_lossy(&name).into_owned();
            let text = store.read_kind(&id, ObjectKind::Blob)?;
            let text = String::from_utf8(text)
                .map_err(|_| malformed(&dir, format!("receipt {key} is not UTF-8")))?;
            let pops: Vec<(String, String)> = text
                .lines()
                .filter(|l| !l.trim().is_empty())
                .map(|l| {
                    let (who, when) = l.split_once(' ').unwrap_or((l, ""));
                    (who.to_string(), when.trim().to_string())
                })
                .collect();
            if pops.len() > 1 {
                out.push(DoubleDelivery { key, pops });
            }
        }
        Ok(out)
    }

    /// The first item: its key, path and stored bytes.
    fn first(&self, view: &View) -> Result<Option<(String, Path, Vec<u8>)>> {
        let Some((name, id)) = self.first_leaf(view)? else {
            return Ok(None);
        };
        let key = self.key_of(&name)?;
        let path = self.item_path(&key)?;
        let bytes = self.branch.repo().objects().read_kind(&id, ObjectKind::Blob)?;
        Ok(Some((key, path, bytes)))
    }

    /// The smallest value below `items/`, reading only the directories on its path.
    fn first_leaf(&self, view: &View) -> Result<Option<(Vec<u8>, crate::ObjectId)>> {
        let store = self.branch.repo().objects();
        let Some(mut tree) = view.get_tree(&self.items_dir()?)? else {
            return Ok(None);
        };
        loop {
            let entries = tree.entries(store)?;
            let Some((name, entry)) = entries.iter().next() else {
                return Ok(None);
            };
            match entry {
                Entry::Tree(t) => tree = t.clone(),
                Entry::Value { id, .. } => return Ok(Some((name.to_vec(), *id))),
                Entry::Gitlink(_) => {
                    return Err(malformed(&self.items_dir()?, "a submodule among the items"));
                }
            }
        }
    }

    /// `(key, blob id)` of every item, in queue order.
    fn item_ids(&self, view: &View) -> Result<Vec<(String, crate::ObjectId)>> {
        let Some(tree) = view.get_tree(&self.items_dir()?)? else {
            return Ok(Vec::new());
        };
        let mut found = Vec::new();
        leaves(self.branch.repo().objects(), &tree, &mut found)?;
        let mut out = Vec::with_capacity(found.len());
        for (name, id) in found {
            out.push((self.key_of(&name)?, id));
        }
        // Directories are key prefixes, so this is already key order unless hand-edited.
        out.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(out)
    }

    fn key_of(&self, name: &[u8]) -> Result<String> {
        let stem = name.strip_suffix(b".json").unwrap_or(name);
        match std::str::from_utf8(stem) {
            Ok(key) if key.len() >= 16 && key.as_bytes()[..16].iter().all(u8::is_ascii_digit) => {
                Ok(key.to_string())
            }
            _ => Err(malformed(
                &self.items_dir()?,
                format!("'{}' is not a queue item name", String::from_utf8_lossy(name)),
            )),
        }
    }

    fn items_dir(&self) -> Result<Path> {
        Ok(self.path.join(b"items")?)
    }

    fn item_path(&self, key: &str) -> Result<Path> {
        Ok(fan_out(&self.items_dir()?, key)?.join(format!("{key}.json").as_bytes())?)
    }

    fn receipt_path(&self, key: &str) -> Result<Path> {
        Ok(fan_out(&self.path.join(b"popped")?, key)?.join(key.as_bytes())?)
    }

    /// Adds the `.gitattributes` lines receipts need, if missing, guarded by the file's current
    /// content so that a concurrent change to it is never overwritten.
    fn with_attributes(
        &self,
        tx: crate::store::Transaction,
        view: &View,
    ) -> Result<crate::store::Transaction> {
        super::check_structure_path(&self.path)?;
        let line = format!("{} merge=set", attr_pattern(&self.path.join(b"popped")?, "/**"));
        Ok(match attributes_change(view, &[line])? {
            Some(change) => {
                let path = Path::parse(ATTRIBUTES)?;
                tx.expect(path.clone(), change.old).set(path, change.new)
            }
            None => tx,
        })
    }
}

/// `dir/<d1>/<d2>`: the directories of `key` (its first 8 and next 3 digits).
fn fan_out(dir: &Path, key: &str) -> Result<Path> {
    let digits = key.get(..11).unwrap_or(key);
    let (d1, d2) = digits.split_at(digits.len().min(8));
    Ok(dir.join(d1.as_bytes())?.join(d2.as_bytes())?)
}
