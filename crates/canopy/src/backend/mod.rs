//! Storage backends, named after their guarantees as in Irmin:
//!
//! - [`ContentAddressable`]: an object store where an object's key is the hash of its content.
//!   Writing is idempotent; reading an id gives back exactly the bytes that hash to it.
//! - [`AtomicWrite`]: a reference store whose updates are compare-and-swap: an update names the
//!   value it expects to replace and fails, changing nothing, if another writer got there first.
//!
//! Two implementations: [`mem`] (in memory) and [`git`] (a Git repository on disk). Both pass the
//! same conformance suite (`tests/conformance.rs`).

pub mod git;
pub mod mem;

use std::io::Read;
use std::path::PathBuf;
use std::time::Duration;

use crate::object::{HashKind, ObjectError, ObjectId, ObjectKind, RawObject, Signature};

/// Errors from a backend. Each variant is something a caller can act on.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Malformed(#[from] ObjectError),
    #[error("object {id} is corrupt: {reason}")]
    CorruptObject { id: ObjectId, reason: String },
    #[error("{}: corrupt: {reason}", path.display())]
    CorruptFile { path: PathBuf, reason: String },
    /// The reader an object was streamed from failed, or gave another size than announced.
    #[error("cannot store the value: {0}")]
    Source(String),
    #[error("object {id} not found")]
    MissingObject { id: ObjectId },
    #[error("object {id} is a {actual}, expected a {expected}")]
    WrongKind {
        id: ObjectId,
        expected: ObjectKind,
        actual: ObjectKind,
    },
    #[error("invalid reference name '{0}'")]
    InvalidRefName(String),
    #[error("reference '{name}' is locked: '{}' exists; {holder}", lock.display())]
    Locked {
        name: String,
        lock: PathBuf,
        holder: LockHolder,
    },
    #[error("reference '{name}': {reason}")]
    BadRef { name: String, reason: String },
    /// The reference cannot be created: one named like a directory on its path exists
    /// (`refs/heads/a` blocks `refs/heads/a/b`), or references live below its name.
    #[error("reference '{name}': {reason}")]
    NameConflict { name: String, reason: String },
    #[error("{}: not a Canopy store or Git repository", .0.display())]
    NotARepository(PathBuf),
    #[error("{}: {reason}", path.display())]
    Unsupported { path: PathBuf, reason: String },
}

/// Who keeps a lock file that could not be taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LockHolder {
    /// A live process holds Canopy's advisory lock on it.
    Live,
    /// Nobody holds the advisory lock and the file is not marked as Canopy's: another program
    /// (Git) made it `age` ago. It is removed once older than `stale_after`.
    Unmarked { age: Duration, stale_after: Duration },
    /// The filesystem has no advisory locks, so whether the owner is alive cannot be told; such
    /// a lock is never removed automatically.
    Unknown,
}

impl std::fmt::Display for LockHolder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LockHolder::Live => write!(f, "a live process holds it; try again later"),
            LockHolder::Unmarked { age, stale_after } => write!(
                f,
                "no Canopy process holds it; another program (git?) made it {:.1} s ago, and it \
                 is removed automatically once it is {:.1} s old",
                age.as_secs_f64(),
                stale_after.as_secs_f64()
            ),
            LockHolder::Unknown => write!(
                f,
                "this filesystem has no advisory locks, so whether its owner is alive cannot be \
                 told; remove it if no other process is running"
            ),
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Where a compare-and-swap expects a reference to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expected {
    /// Whatever it is (a forced update).
    Any,
    /// The reference must not exist.
    Absent,
    /// The reference must point at exactly this id.
    Value(ObjectId),
}

impl Expected {
    /// `Absent` for `None`, `Value` otherwise.
    pub fn from_option(id: Option<ObjectId>) -> Expected {
        id.map_or(Expected::Absent, Expected::Value)
    }

    pub fn matches(self, current: Option<ObjectId>) -> bool {
        match self {
            Expected::Any => true,
            Expected::Absent => current.is_none(),
            Expected::Value(id) => current == Some(id),
        }
    }
}

/// What a reference holds: an id, or the name of another reference (`HEAD` → `refs/heads/main`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RefTarget {
    Direct(ObjectId),
    Symbolic(String),
}

/// Who moved a reference and why; becomes a reflog line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefLog {
    pub who: Signature,
    pub message: String,
}

/// One line of a reflog, oldest first in [`AtomicWrite::reflog`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReflogEntry {
    pub old: Option<ObjectId>,
    pub new: Option<ObjectId>,
    pub who: Signature,
    pub message: String,
}

/// A store of immutable objects keyed by the hash of their content.
pub trait ContentAddressable: Send + Sync {
    /// The object format (SHA-1 or SHA-256) of every id in this store.
    fn hash_kind(&self) -> HashKind;

    /// The object with this id, or `None` when it is not stored. Corrupt data is an error.
    fn read(&self, id: &ObjectId) -> Result<Option<RawObject>>;

    /// Whether the object is stored (without necessarily reading it).
    fn contains(&self, id: &ObjectId) -> Result<bool>;

    /// [`contains`](Self::contains) as far as this handle knows, without looking for packs
    /// another process has added since: for checks where a miss costs only a redundant write.
    fn contains_known(&self, id: &ObjectId) -> Result<bool> {
        self.contains(id)
    }

    /// Stores an object and returns its id. Writing an object that exists changes nothing.
    fn write(&self, kind: ObjectKind, data: &[u8]) -> Result<ObjectId>;

    /// Stores an object of `size` bytes read from `data` and returns its id, without holding a
    /// large one in memory. Stores nothing, and fails with [`Error::Source`], unless `data`
    /// gives exactly `size` bytes. By default the bytes are read, then [`write`](Self::write)n.
    fn write_stream(&self, kind: ObjectKind, size: u64, data: &mut dyn Read) -> Result<ObjectId> {
        let bytes = read_exactly(data, size)?;
        self.write(kind, &bytes)
    }

    /// The object with this id as a stream, for objects too large to hold in memory, or `None`
    /// when it is not stored. The content is checked against the id as it is read: damage is
    /// an error of the reader at the end, never silently wrong bytes. By default the object is
    /// [`read`](Self::read) whole.
    fn read_stream(&self, id: &ObjectId) -> Result<Option<ObjectStream<'_>>> {
        Ok(self.read(id)?.map(ObjectStream::whole))
    }

    /// Makes every object written so far durable (as configured) before a reference names them.
    fn flush(&self) -> Result<()> {
        Ok(())
    }

    /// Makes `id` and every object it reaches durable (as configured), before a reference names
    /// it; may make more durable. By default, [`flush`](Self::flush).
    fn flush_for(&self, id: &ObjectId) -> Result<()> {
        let _ = id;
        self.flush()
    }

    /// Every stored id whose hex form starts with `prefix` (for abbreviated ids).
    fn ids_with_prefix(&self, prefix: &str) -> Result<Vec<ObjectId>>;

    /// Starts a batch of writes for many objects at once (a bulk import). The git backend
    /// streams them into one pack file; by default each is written as by [`write`](Self::write).
    /// Objects of a batch are guaranteed readable, and durable as configured, only once
    /// [`WriteBatch::finish`] returns.
    fn begin_batch(&self) -> Result<Box<dyn WriteBatch + '_>> {
        Ok(Box::new(DirectBatch(self)))
    }

    /// The store's commit-graph, if it has one that passes its checks: tree, parents and date of
    /// the commits it lists, without reading their objects. It may be stale (commits made after
    /// it was written are not in it), so a reader falls back to the objects for those.
    fn commit_graph(&self) -> Option<std::sync::Arc<git::commit_graph::Graph>> {
        None
    }

    /// Reads an object that must exist and be of `kind`.
    fn read_kind(&self, id: &ObjectId, kind: ObjectKind) -> Result<Vec<u8>> {
        let obj = self.read(id)?.ok_or(Error::MissingObject { id: *id })?;
        if obj.kind != kind {
            return Err(Error::WrongKind {
                id: *id,
                expected: kind,
                actual: obj.kind,
            });
        }
        Ok(obj.data)
    }
}

/// An object being read: its kind and size, then its content from `reader`.
pub struct ObjectStream<'a> {
    pub kind: ObjectKind,
    pub size: u64,
    pub reader: Box<dyn Read + Send + 'a>,
}

impl ObjectStream<'_> {
    /// An object already in memory, as a stream.
    pub fn whole(obj: RawObject) -> ObjectStream<'static> {
        ObjectStream {
            kind: obj.kind,
            size: obj.data.len() as u64,
            reader: Box::new(std::io::Cursor::new(obj.data)),
        }
    }
}

impl std::fmt::Debug for ObjectStream<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ObjectStream")
            .field("kind", &self.kind)
            .field("size", &self.size)
            .finish_non_exhaustive()
    }
}

/// Exactly `size` bytes of `data` ([`Error::Source`] when it gives fewer or more).
pub fn read_exactly(data: &mut dyn Read, size: u64) -> Result<Vec<u8>> {
    let mut bytes = Vec::with_capacity(size.min(16 << 20) as usize);
    data.take(size.saturating_add(1))
        .read_to_end(&mut bytes)
        .map_err(|e| Error::Source(e.to_string()))?;
    match (bytes.len() as u64).cmp(&size) {
        std::cmp::Ordering::Equal => Ok(bytes),
        std::cmp::Ordering::Less => Err(Error::Source(format!(
            "the input ended after {} of the {size} bytes announced",
            bytes.len()
        ))),
        std::cmp::Ordering::Greater => Err(Error::Source(format!(
            "the input holds more than the {size} bytes announced"
        ))),
    }
}

/// Objects written together, made readable together by [`finish`](WriteBatch::finish).
/// Dropping an unfinished batch may discard what it holds.
pub trait WriteBatch {
    /// Adds an object and returns its id.
    fn add(&mut self, kind: ObjectKind, data: &[u8]) -> Result<ObjectId>;

    /// Makes every object added readable and durable (as configured).
    fn finish(self: Box<Self>) -> Result<()>;
}

/// The default batch: one [`ContentAddressable::write`] per object, then a flush.
struct DirectBatch<'a, S: ?Sized>(&'a S);

impl<S: ContentAddressable + ?Sized> WriteBatch for DirectBatch<'_, S> {
    fn add(&mut self, kind: ObjectKind, data: &[u8]) -> Result<ObjectId> {
        self.0.write(kind, data)
    }

    fn finish(self: Box<Self>) -> Result<()> {
        self.0.flush()
    }
}

/// A store of named references whose every update is atomic and compare-and-swap.
pub trait AtomicWrite: Send + Sync {
    /// The reference as stored (without following a symbolic one).
    fn read_ref(&self, name: &str) -> Result<Option<RefTarget>>;

    /// Replaces `name`'s value by `new` (`None` deletes it) if it is `expected`; returns
    /// `Ok(false)`, changing nothing, when another writer moved it first. A symbolic reference is
    /// followed to the reference it names.
    fn update(&self, name: &str, expected: Expected, new: Option<ObjectId>, log: &RefLog) -> Result<bool>;

    /// Makes `name` a symbolic reference to `target`.
    fn set_symbolic(&self, name: &str, target: &str) -> Result<()>;

    /// Every direct reference whose name starts with `prefix`, sorted by name.
    fn list(&self, prefix: &str) -> Result<Vec<(String, ObjectId)>>;

    /// The reflog of `name`, oldest first; empty when there is none.
    fn reflog(&self, name: &str) -> Result<Vec<ReflogEntry>>;

    /// Forgets the reflog of `name` (after history was deliberately rewritten, so that `gc`
    /// may free what only the old entries kept alive).
    fn expire_reflog(&self, name: &str) -> Result<()>;

    /// Follows symbolic references (at most 5 deep, as Git) to the name they end at and its id.
    fn resolve_name(&self, name: &str) -> Result<(String, Option<ObjectId>)> {
        let mut current = name.to_string();
        for _ in 0..=5 {
            match self.read_ref(&current)? {
                None => return Ok((current, None)),
                Some(RefTarget::Direct(id)) => return Ok((current, Some(id))),
                Some(RefTarget::Symbolic(target)) => current = target,
            }
        }
        Err(Error::BadRef {
            name: name.to_string(),
            reason: "symbolic reference chain is too long".into(),
        })
    }

    /// The id `name` ends at, following symbolic references.
    fn resolve(&self, name: &str) -> Result<Option<ObjectId>> {
        Ok(self.resolve_name(name)?.1)
    }
}

/// Checks a reference name against `git check-ref-format` (full names like `refs/heads/x`, or
/// one-level names in capitals like `HEAD`).
pub fn check_ref_name(name: &str) -> Result<()> {
    let bad = || Error::InvalidRefName(crate::object::escape_bytes(name.as_bytes()));
    let one_level_ok = name.bytes().all(|c| c.is_ascii_uppercase() || c == b'_');
    if name.is_empty() || name == "@" || name.contains("@{") || name.contains("..") || name.contains("//") {
        return Err(bad());
    }
    if name.starts_with('/') || name.ends_with('/') || name.ends_with('.') {
        return Err(bad());
    }
    if !name.contains('/') && !one_level_ok {
        return Err(bad());
    }
    for c in name.bytes() {
        if c < 0x20 || c == 0x7f || b" ~^:?*[\\".contains(&c) {
            return Err(bad());
        }
    }
    for comp in name.split('/') {
        if comp.starts_with('.') || comp.ends_with(".lock") {
            return Err(bad());
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ref_names_follow_check_ref_format() {
        for ok in [
            "HEAD",
            "refs/heads/main",
            "refs/heads/feature/x",
            "refs/tags/v1.0",
            "ORIG_HEAD",
        ] {
            assert!(check_ref_name(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "main",
            "refs/heads/a..b",
            "refs/heads/.x",
            "refs/heads/x.lock",
            "refs/heads/x/",
            "refs/heads/a b",
            "refs/heads/a~1",
            "refs/heads/a^",
            "refs/heads/a:b",
            "refs/heads/a?",
            "refs/heads/a*",
            "refs/heads/a[",
            "refs/heads/a\\b",
            "refs/heads/a@{1}",
            "@",
            "refs//x",
            "refs/heads/x.",
            "/refs/heads/x",
            "refs/heads/\u{7f}",
        ] {
            assert!(check_ref_name(bad).is_err(), "{bad:?}");
        }
    }
}
