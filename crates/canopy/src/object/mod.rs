//! Git's object model: ids, kinds, and the codec for blobs, trees, commits and tags.
//!
//! Ids are computed exactly as Git computes them (`"<kind> <size>\0" + content`), with SHA-1 or
//! SHA-256. Parsers never panic: malformed input gives an [`ObjectError`] naming the object (when
//! known), the byte offset and what is wrong. Parsed commits and tags are *views* for reading;
//! Canopy never re-serialises an object it read, it keeps and hashes the bytes it received.

mod commit;
mod id;
mod tag;
mod tree;

pub use commit::{Commit, CommitHeader, Signature};
pub use id::{HashKind, Hasher, ObjectId};
pub(crate) use id::{IdHash, IdMap, IdSet};
pub use tag::Tag;
pub use tree::{git_name_cmp, Mode, TreeEntries, TreeEntry, TreeEntryRef};

use std::fmt;

/// The four kinds of Git object.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ObjectKind {
    Blob,
    Tree,
    Commit,
    Tag,
}

impl ObjectKind {
    /// The word Git uses in object headers.
    pub fn as_str(self) -> &'static str {
        match self {
            ObjectKind::Blob => "blob",
            ObjectKind::Tree => "tree",
            ObjectKind::Commit => "commit",
            ObjectKind::Tag => "tag",
        }
    }

    /// Parses a header word (`blob`, `tree`, `commit`, `tag`).
    pub fn from_bytes(word: &[u8]) -> Option<ObjectKind> {
        Some(match word {
            b"blob" => ObjectKind::Blob,
            b"tree" => ObjectKind::Tree,
            b"commit" => ObjectKind::Commit,
            b"tag" => ObjectKind::Tag,
            _ => return None,
        })
    }
}

impl fmt::Display for ObjectKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An object's kind and content bytes (without the `"<kind> <size>\0"` header).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawObject {
    pub kind: ObjectKind,
    pub data: Vec<u8>,
}

impl RawObject {
    pub fn new(kind: ObjectKind, data: Vec<u8>) -> RawObject {
        RawObject { kind, data }
    }

    /// The id of this object under `hash`.
    pub fn id(&self, hash: HashKind) -> ObjectId {
        ObjectId::for_object(hash, self.kind, &self.data)
    }
}

/// A malformed object: what kind, which object (when known), where, and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("malformed {kind}{} at byte {offset}: {reason}", id.map(|i| format!(" {i}")).unwrap_or_default())]
pub struct ObjectError {
    pub kind: ObjectKind,
    pub id: Option<ObjectId>,
    pub offset: usize,
    pub reason: String,
}

impl ObjectError {
    pub(crate) fn new(kind: ObjectKind, offset: usize, reason: impl Into<String>) -> ObjectError {
        ObjectError {
            kind,
            id: None,
            offset,
            reason: reason.into(),
        }
    }

    /// Names the object the error was found in.
    pub fn with_id(mut self, id: ObjectId) -> ObjectError {
        self.id = Some(id);
        self
    }
}

/// Renders bytes for a message or a listing: UTF-8 as is, other bytes as `\xNN`, control
/// characters escaped, so that a hostile name can never corrupt a terminal or a line-based output.
pub fn escape_bytes(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len());
    for chunk in bytes.utf8_chunks() {
        for c in chunk.valid().chars() {
            match c {
                '\\' => out.push_str("\\\\"),
                '\n' => out.push_str("\\n"),
                '\t' => out.push_str("\\t"),
                '\r' => out.push_str("\\r"),
                c if c.is_control() => out.push_str(&format!("\\x{:02x}", c as u32)),
                c => out.push(c),
            }
        }
        for b in chunk.invalid() {
            out.push_str(&format!("\\x{b:02x}"));
        }
    }
    out
}
