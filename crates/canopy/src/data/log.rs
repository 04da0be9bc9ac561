//! An append-only log, merged by time, read newest first in pages.
//!
//! Layout, for a log at `events`:
//!
//! ```text
//! events/YYYY/MM/DD/HH/<YYYYMMDDTHHMMSS.ffffffZ>-<replica>-<sequence>.json   one entry, pretty JSON
//! ```
//!
//! The hour directories keep the depth constant, so an append writes one blob, the six
//! directories above it and a commit, however long the log. Entry names start with their UTC
//! time (microseconds, strictly increasing within a process), then the replica and a sequence
//! number: entries are ordered by time, then replica, and no two replicas make the same name.
//!
//! Appends never conflict: concurrent appends (threads, or replicas merged later) add different
//! names, which the ordinary tree merge keeps side by side, in time order on every replica.
//! Entries are never changed or removed by this API. Clocks of different replicas are trusted
//! as they are: an entry made on a replica whose clock is behind sorts earlier.
//!
//! ```
//! use canopy::{data::Log, HashKind, Path, Repo};
//!
//! let repo = Repo::in_memory(HashKind::Sha1);
//! let log = Log::<String>::open(repo.branch("main")?, Path::parse("events")?);
//! for e in ["started", "working", "done"] {
//!     log.append(&e.to_string())?;
//! }
//! let (page, next) = log.page(None, 2)?;
//! assert_eq!(page.iter().map(|e| e.value.as_str()).collect::<Vec<_>>(), ["done", "working"]);
//! let (rest, end) = log.page(next.as_ref(), 2)?;
//! assert_eq!(rest[0].value, "started");
//! assert!(end.is_none());
//! # Ok::<(), canopy::store::Error>(())
//! ```

use std::marker::PhantomData;

use serde::de::DeserializeOwned;
use serde::Serialize;

use super::{check_replica, civil, decode, encode, leaves, malformed, next_sequence, now_micros, replica_id};
use crate::backend::ContentAddressable;
use crate::object::{ObjectId, ObjectKind};
use crate::path::Path;
use crate::store::{Branch, CommitOptions, Result};
use crate::tree::{Entry, Tree};

/// Length of the time at the start of an entry name: `YYYYMMDDTHHMMSS.ffffffZ`.
const TIME_LEN: usize = 23;

/// A handle on the log at one path of a branch. Cheap to clone; `Send + Sync`.
pub struct Log<T> {
    branch: Branch,
    path: Path,
    replica: String,
    commit: CommitOptions,
    _entries: PhantomData<fn() -> T>,
}

impl<T> Clone for Log<T> {
    fn clone(&self) -> Log<T> {
        Log {
            branch: self.branch.clone(),
            path: self.path.clone(),
            replica: self.replica.clone(),
            commit: self.commit.clone(),
            _entries: PhantomData,
        }
    }
}

impl<T> std::fmt::Debug for Log<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Log({}:{}, replica {})",
            self.branch.name(),
            self.path,
            self.replica
        )
    }
}

/// Where an entry is in the log: its name without `.json`
/// (`20260514T103012.123456Z-<replica>-<sequence>`). Cursors order as the log does.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(transparent)]
pub struct LogCursor(String);

impl LogCursor {
    /// A cursor from its text (as [`LogCursor::as_str`] gave it); `None` if it is not one.
    pub fn parse(text: &str) -> Option<LogCursor> {
        let b = text.as_bytes();
        let shaped = b.len() > TIME_LEN + 1
            && b[..8].iter().all(u8::is_ascii_digit)
            && b[8] == b'T'
            && b[9..15].iter().all(u8::is_ascii_digit)
            && b[15] == b'.'
            && b[16..22].iter().all(u8::is_ascii_digit)
            && b[22] == b'Z'
            && b[23] == b'-'
            && !text.contains('/');
        shaped.then(|| LogCursor(text.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The directories of the entry: year, month, day, hour.
    fn dirs(&self) -> [&str; 4] {
        let s = &self.0;
        [&s[0..4], &s[4..6], &s[6..8], &s[9..11]]
    }

    fn file_name(&self) -> String {
        format!("{}.json", self.0)
    }
}

impl std::fmt::Display for LogCursor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// One entry of a log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LogEntry<T> {
    /// Where the entry is; pass it to [`Log::page`] to read what came before it.
    pub cursor: LogCursor,
    /// The append time, `YYYY-MM-DDTHH:MM:SS.ffffffZ`.
    pub time: String,
    /// The replica that appended it.
    pub replica: String,
    pub value: T,
}

impl<T: Serialize + DeserializeOwned> Log<T> {
    /// The log at `path` of `branch` (created by the first append), appending as this store's
    /// replica (`canopy.replica`, else an id made for the process).
    pub fn open(branch: Branch, path: Path) -> Log<T> {
        let replica = replica_id(branch.repo());
        Log {
            branch,
            path,
            replica,
            commit: CommitOptions::default(),
            _entries: PhantomData,
        }
    }

    /// The same log, committing with `opts`' identities and message (an empty message gets
    /// each operation's default).
    pub fn with_commit(mut self, opts: CommitOptions) -> Log<T> {
        self.commit = opts;
        self
    }

    /// The same log, appending as replica `id` (letters, digits, `_` and `.`).
    pub fn with_replica(mut self, id: &str) -> Result<Log<T>> {
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

    /// Appends `value` in one commit; returns the new entry's cursor. A concurrent append is
    /// merged with, never lost.
    pub fn append(&self, value: &T) -> Result<LogCursor> {
        let (y, mo, d, h, mi, s, us) = civil(now_micros());
        let cursor = LogCursor(format!(
            "{y:04}{mo:02}{d:02}T{h:02}{mi:02}{s:02}.{us:06}Z-{}-{}",
            self.replica,
            next_sequence()
        ));
        let path = self.entry_path(&cursor)?;
        let bytes = encode(&path, value)?;
        let opts = super::commit_options(&self.commit, || format!("log {}: append {cursor}", self.path));
        self.branch.transaction().set(path, bytes).commit(&opts)?;
        Ok(cursor)
    }

    /// Up to `limit` entries, newest first, strictly older than `before` (from the newest entry
    /// when `None`), and the cursor to pass for the next page (`None` when no entry is left).
    /// Reads only the directories and entries on the way.
    pub fn page(
        &self,
        before: Option<&LogCursor>,
        limit: usize,
    ) -> Result<(Vec<LogEntry<T>>, Option<LogCursor>)> {
        let view = self.branch.view()?;
        let Some(tree) = view.get_tree(&self.path)? else {
            return Ok((Vec::new(), None));
        };
        let store = self.branch.repo().objects();
        let bound: Option<[Vec<u8>; 5]> = before.map(|c| {
            let [y, m, d, h] = c.dirs();
            [
                y.as_bytes().to_vec(),
                m.as_bytes().to_vec(),
                d.as_bytes().to_vec(),
                h.as_bytes().to_vec(),
                c.file_name().into_bytes(),
            ]
        });
        // One more than asked, to know whether a next page exists.
        let mut found = Vec::new();
        newest_first(
            store,
            &tree,
            bound.as_ref().map(|b| &b[..]),
            limit + 1,
            &mut found,
        )?;
        let more = found.len() > limit;
        found.truncate(limit);
        let mut entries = Vec::with_capacity(found.len());
        for (name, id) in found {
            entries.push(self.entry(store, &name, id)?);
        }
        let next = if more {
            entries.last().map(|e| e.cursor.clone())
        } else {
            None
        };
        Ok((entries, next))
    }

    /// The number of entries (reads every directory of the log, no entry).
    pub fn len(&self) -> Result<usize> {
        let view = self.branch.view()?;
        let Some(tree) = view.get_tree(&self.path)? else {
            return Ok(0);
        };
        let mut found = Vec::new();
        leaves(self.branch.repo().objects(), &tree, &mut found)?;
        Ok(found.len())
    }

    pub fn is_empty(&self) -> Result<bool> {
        Ok(self.page(None, 1)?.0.is_empty())
    }

    fn entry(&self, store: &dyn ContentAddressable, name: &[u8], id: ObjectId) -> Result<LogEntry<T>> {
        let text = std::str::from_utf8(name).ok();
        let cursor = text
            .and_then(|t| t.strip_suffix(".json"))
            .and_then(LogCursor::parse)
            .ok_or_else(|| {
                malformed(
                    &self.path,
                    format!("'{}' is not a log entry name", String::from_utf8_lossy(name)),
                )
            })?;
        let path = self.entry_path(&cursor)?;
        let value = decode(&path, &store.read_kind(&id, ObjectKind::Blob)?)?;
        let c = &cursor.0;
        let time = format!(
            "{}-{}-{}T{}:{}:{}Z",
            &c[0..4],
            &c[4..6],
            &c[6..8],
            &c[9..11],
            &c[11..13],
            &c[13..22]
        );
        let replica = c[TIME_LEN + 1..]
            .rsplit_once('-')
            .map_or(&c[TIME_LEN + 1..], |(r, _)| r)
            .to_string();
        Ok(LogEntry {
            cursor,
            time,
            replica,
            value,
        })
    }

    fn entry_path(&self, cursor: &LogCursor) -> Result<Path> {
        let mut path = self.path.clone();
        for dir in cursor.dirs() {
            path = path.join(dir.as_bytes())?;
        }
        Ok(path.join(cursor.file_name().as_bytes())?)
    }
}

/// Collects up to `limit` values below `tree` in reverse name order, each level's name
/// strictly before `bound` (the cursor's directories then its file name) where the walk is
/// still on the cursor's path.
fn newest_first(
    store: &dyn ContentAddressable,
    tree: &Tree,
    bound: Option<&[Vec<u8>]>,
    limit: usize,
    out: &mut Vec<(Vec<u8>, ObjectId)>,
) -> Result<()> {
    let entries = tree.entries(store)?;
    for (name, entry) in entries.iter().rev() {
        if out.len() >= limit {
            return Ok(());
        }
        let inner = match bound.and_then(|b| b.split_first()) {
            None => None,
            Some((here, rest)) => match name.as_slice().cmp(here.as_slice()) {
                std::cmp::Ordering::Greater => continue,
                // On the cursor's own path: below, the bound still applies.
                std::cmp::Ordering::Equal if !rest.is_empty() => Some(rest),
                std::cmp::Ordering::Equal => continue,
                std::cmp::Ordering::Less => None,
            },
        };
        match entry {
            Entry::Tree(t) => newest_first(store, t, inner, limit, out)?,
            Entry::Value { id, .. } => out.push((name.to_vec(), *id)),
            Entry::Gitlink(_) => {}
        }
    }
    Ok(())
}
