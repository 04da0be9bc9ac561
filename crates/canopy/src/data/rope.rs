//! A large text or byte sequence in chunks, so that an edit writes O(log n) objects.
//!
//! Layout, for a rope at `doc`:
//!
//! ```text
//! doc/rope.json                    {"format": "canopy-rope", "version": 1, "levels": L, "chunk_target": 4096}
//! doc/chunks/<k0>/…/<kL-1>/<key>   one chunk: the bytes themselves
//! ```
//!
//! The sequence is the concatenation of the chunks in key order. Keys are *fractional order
//! keys*: lowercase hex strings compared bytewise, never ending in `0`, so that a key strictly
//! between any two others always exists; inserting a chunk gives it such a key and renames
//! nothing. A chunk sits `L` directories deep, in the directories named by the first `L` hex
//! digits of its key. `L` is chosen when the rope is created so that the initial chunks, whose
//! keys are spread evenly, fill directories of about 16 (`L` ≥ 1; it does not change later).
//!
//! Chunks aim at 4 KiB and end at a newline when one is within 2 KiB of that, never inside a
//! UTF-8 character of valid text. [`Rope::splice`] rewrites the chunks the edit touches: a
//! chunk that grows past 8 KiB is split (the new chunks get keys between their neighbours), a
//! chunk emptied by a deletion is removed. One edit thus writes the touched chunks, the `L`
//! directories above each, `chunks/`, the rope's directory and those above it, and a commit.
//!
//! **Merging** is the ordinary tree merge. Concurrent edits that touch different chunks change
//! different paths and merge cleanly into the result of both edits. Edits that touch the same
//! chunk go to that chunk's driver: `text` for UTF-8 chunks (changes to different lines merge,
//! else a conflict), `binary` otherwise (a conflict). A merge that conflicts changes nothing, so
//! the result is either both edits or a reported [`crate::store::MergeOutcome::Conflicts`].
//!
//! Not done: chunks are not re-balanced after creation (a rope that grows in one place puts
//! the new chunks in one directory), and small chunks left by deletions are not joined (a join
//! would touch the neighbour, and so conflict with more concurrent edits).
//!
//! ```
//! use canopy::{data::Rope, HashKind, Path, Repo};
//!
//! let repo = Repo::in_memory(HashKind::Sha1);
//! let doc = Rope::create(repo.branch("main")?, Path::parse("doc")?, b"hello world\n")?;
//! doc.splice(6, 5, b"rope")?;
//! assert_eq!(doc.read()?, b"hello rope\n");
//! assert_eq!(doc.read_range(0, 5)?, b"hello");
//! assert_eq!(doc.len()?, 11);
//! # Ok::<(), canopy::store::Error>(())
//! ```

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};

use super::{decode, encode, malformed};
use crate::object::{ObjectId, ObjectKind};
use crate::path::Path;
use crate::store::{Branch, CommitOptions, Error, Result, View};
use crate::tree::{Entries, Entry, Name, Tree};

/// The size a chunk aims at.
const TARGET: usize = 4096;
/// A chunk that grows past this is split.
const MAX: usize = 2 * TARGET;
/// The most initial chunks in one directory before another level is added.
const PER_DIR: usize = 16;
/// Cache sizes above which a handle forgets and starts over.
const CACHE_LIMIT: usize = 1 << 20;

const HEX: &[u8; 16] = b"0123456789abcdef";

/// A handle on the rope at one path of a branch. Cheap to clone (clones share the cache of
/// chunk sizes); `Send + Sync`.
#[derive(Clone)]
pub struct Rope {
    branch: Branch,
    path: Path,
    commit: CommitOptions,
    cache: Arc<Mutex<Cache>>,
}

impl std::fmt::Debug for Rope {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Rope({}:{})", self.branch.name(), self.path)
    }
}

/// What one [`Rope::splice`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpliceStats {
    /// The new head (`None` when the edit changed nothing and no commit was made).
    pub commit: Option<ObjectId>,
    /// Chunks written (changed or new).
    pub chunks_written: usize,
    /// Chunks removed.
    pub chunks_removed: usize,
}

#[derive(Debug, Serialize, Deserialize)]
struct Meta {
    format: String,
    version: u32,
    levels: usize,
    chunk_target: usize,
}

/// One chunk: its key and blob.
#[derive(Debug, Clone)]
struct Chunk {
    key: Vec<u8>,
    id: ObjectId,
}

/// What a handle remembers between operations, all by object id (so never stale): the size of
/// chunk blobs, and the chunks below directories.
#[derive(Default)]
struct Cache {
    sizes: HashMap<ObjectId, usize>,
    dirs: HashMap<ObjectId, Arc<Vec<Chunk>>>,
}

impl Rope {
    /// Creates a rope holding `bytes` at `path` of `branch`, in one commit. Fails with
    /// [`Error::ExpectationFailed`] if a rope is already there.
    pub fn create(branch: Branch, path: Path, bytes: &[u8]) -> Result<Rope> {
        let rope = Rope::open(branch, path);
        rope.write_new(bytes)?;
        Ok(rope)
    }

    /// Creates the rope this handle names, holding `bytes`, in one commit made with the
    /// handle's options ([`Rope::with_commit`]). Fails with [`Error::ExpectationFailed`] if a
    /// rope is already there.
    pub fn write_new(&self, bytes: &[u8]) -> Result<()> {
        let rope = self;
        let pieces = split(bytes, TARGET + TARGET / 4);
        let n = pieces.len();
        let mut levels = 1;
        while n > PER_DIR << (4 * levels) {
            levels += 1;
        }
        let keys = spread_keys(n, levels);
        let repo = rope.branch.repo();
        let mut batch = repo.objects().begin_batch()?;
        let mut chunks = Vec::with_capacity(n);
        {
            let mut cache = rope.cache()?;
            for (key, piece) in keys.into_iter().zip(&pieces) {
                let id = batch.add(ObjectKind::Blob, &bytes[piece.clone()])?;
                cache.sizes.insert(id, piece.len());
                chunks.push(Chunk { key, id });
            }
        }
        batch.finish()?;
        let meta_path = rope.meta_path()?;
        let meta = Meta {
            format: "canopy-rope".into(),
            version: 1,
            levels,
            chunk_target: TARGET,
        };
        let mut tx = rope
            .branch
            .transaction()
            .expect(meta_path.clone(), None)
            .set(meta_path.clone(), encode(&meta_path, &meta)?);
        if !chunks.is_empty() {
            tx = tx.set_tree(rope.chunks_path()?, build(&chunks, 0, levels));
        }
        let opts = super::commit_options(&rope.commit, || {
            format!("rope {}: create, {} bytes in {n} chunks", rope.path, bytes.len())
        });
        match tx.commit_checked(&opts)? {
            Ok(_) => Ok(()),
            Err(_) => Err(Error::ExpectationFailed { path: meta_path }),
        }
    }

    /// The rope at `path` of `branch` (nothing is read until it is used).
    pub fn open(branch: Branch, path: Path) -> Rope {
        Rope {
            branch,
            path,
            commit: CommitOptions::default(),
            cache: Arc::default(),
        }
    }

    /// The same rope, committing with `opts`' identities and message (an empty message gets
    /// each operation's default).
    pub fn with_commit(mut self, opts: CommitOptions) -> Rope {
        self.commit = opts;
        self
    }

    pub fn branch(&self) -> &Branch {
        &self.branch
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The whole sequence.
    pub fn read(&self) -> Result<Vec<u8>> {
        let view = self.branch.view()?;
        let (_, chunks) = self.chunks(&view)?;
        let store = self.branch.repo().objects();
        let mut out = Vec::new();
        for c in chunks.iter() {
            out.extend_from_slice(&store.read_kind(&c.id, ObjectKind::Blob)?);
        }
        Ok(out)
    }

    /// `len` bytes from `offset`, reading only the chunks that hold them.
    pub fn read_range(&self, offset: usize, len: usize) -> Result<Vec<u8>> {
        let view = self.branch.view()?;
        let (_, chunks) = self.chunks(&view)?;
        let sizes = self.sizes(&chunks)?;
        let total: usize = sizes.iter().sum();
        let end = self.check_range(offset, len, total)?;
        let store = self.branch.repo().objects();
        let mut out = Vec::with_capacity(len);
        let mut start = 0;
        for (c, size) in chunks.iter().zip(&sizes) {
            let stop = start + size;
            if stop > offset && start < end {
                let data = store.read_kind(&c.id, ObjectKind::Blob)?;
                let from = offset.saturating_sub(start);
                let to = (end - start).min(data.len());
                out.extend_from_slice(&data[from..to]);
            }
            if stop >= end {
                break;
            }
            start = stop;
        }
        Ok(out)
    }

    /// The length in bytes. Sizes of chunks already seen by this handle are not read again.
    pub fn len(&self) -> Result<usize> {
        let view = self.branch.view()?;
        let (_, chunks) = self.chunks(&view)?;
        Ok(self.sizes(&chunks)?.iter().sum())
    }

    pub fn is_empty(&self) -> Result<bool> {
        Ok(self.len()? == 0)
    }

    /// The number of chunks.
    pub fn chunk_count(&self) -> Result<usize> {
        let view = self.branch.view()?;
        Ok(self.chunks(&view)?.1.len())
    }

    /// Replaces the `delete` bytes at `offset` by `insert`, in one commit that rewrites only
    /// the chunks holding them. If the branch moved meanwhile, the edit is merged into it like
    /// a replica's ([`Error::Conflicts`] when the same chunk changed incompatibly).
    pub fn splice(&self, offset: usize, delete: usize, insert: &[u8]) -> Result<SpliceStats> {
        let view = self.branch.view()?;
        let (levels, chunks) = self.chunks(&view)?;
        let sizes = self.sizes(&chunks)?;
        let total: usize = sizes.iter().sum();
        let end = self.check_range(offset, delete, total)?;
        if delete == 0 && insert.is_empty() {
            return Ok(SpliceStats {
                commit: None,
                chunks_written: 0,
                chunks_removed: 0,
            });
        }
        // The chunks touched: from the one holding `offset` (the last one at the very end) to
        // the one holding the last deleted byte.
        let (first, last, first_start) = if chunks.is_empty() {
            (0, 0, 0)
        } else {
            let mut starts = Vec::with_capacity(sizes.len());
            let mut at = 0;
            for s in &sizes {
                starts.push(at);
                at += s;
            }
            let holding = |pos: usize| starts.partition_point(|&s| s <= pos).saturating_sub(1);
            let first = if offset >= total {
                chunks.len() - 1
            } else {
                holding(offset)
            };
            let last = if delete == 0 { first } else { holding(end - 1) };
            (first, last, starts[first])
        };
        let store = self.branch.repo().objects();
        let touched = if chunks.is_empty() {
            &[][..]
        } else {
            &chunks[first..=last]
        };
        let mut buf = Vec::new();
        let mut old = Vec::with_capacity(touched.len());
        for c in touched {
            let data = store.read_kind(&c.id, ObjectKind::Blob)?;
            buf.extend_from_slice(&data);
            old.push(data);
        }
        let local = offset - first_start;
        buf.splice(local..local + delete, insert.iter().copied());

        let pieces = if buf.is_empty() {
            Vec::new()
        } else {
            split(&buf, MAX)
        };
        // Pieces take the touched chunks' keys in order; more pieces get new keys between the
        // last of those and the next chunk, fewer leave keys to remove.
        let reused = pieces.len().min(touched.len());
        let mut keys: Vec<Vec<u8>> = touched[..reused].iter().map(|c| c.key.clone()).collect();
        if pieces.len() > reused {
            let low = keys.last().cloned();
            let high = chunks.get(last + 1).map(|c| c.key.clone());
            keys.extend(self.keys_between(
                low.as_deref(),
                high.as_deref(),
                pieces.len() - reused,
                levels + 1,
            )?);
        }
        let mut tx = self.branch.transaction_at(view.commit());
        let mut written = 0;
        let mut cache = self.cache()?;
        for (i, (key, piece)) in keys.iter().zip(&pieces).enumerate() {
            let data = &buf[piece.clone()];
            if old.get(i).is_some_and(|o| o.as_slice() == data) {
                continue;
            }
            let id = ObjectId::for_object(store.hash_kind(), ObjectKind::Blob, data);
            cache.sizes.insert(id, data.len());
            tx = tx.set(self.chunk_path(key, levels)?, data.to_vec());
            written += 1;
        }
        drop(cache);
        for c in &touched[reused..] {
            tx = tx.remove(self.chunk_path(&c.key, levels)?);
        }
        let removed = touched.len() - reused;
        let opts = super::commit_options(&self.commit, || {
            format!(
                "rope {}: splice at {offset}, -{delete} +{} bytes",
                self.path,
                insert.len()
            )
        });
        let commit = tx.commit(&opts)?;
        Ok(SpliceStats {
            commit: (Some(commit) != view.commit()).then_some(commit),
            chunks_written: written,
            chunks_removed: removed,
        })
    }

    /// `Ok(offset + len)`, or the error for a range past the end.
    fn check_range(&self, offset: usize, len: usize, total: usize) -> Result<usize> {
        match offset.checked_add(len) {
            Some(end) if end <= total => Ok(end),
            _ => Err(Error::OutOfRange {
                path: self.path.clone(),
                start: offset as u64,
                end: offset as u64 + len as u64,
                len: total as u64,
            }),
        }
    }

    /// `count` keys strictly between `low` and `high`, in order, at least `min_len` long,
    /// spread by bisection so that their lengths grow with the logarithm of `count`.
    fn keys_between(
        &self,
        low: Option<&[u8]>,
        high: Option<&[u8]>,
        count: usize,
        min_len: usize,
    ) -> Result<Vec<Vec<u8>>> {
        if count == 0 {
            return Ok(Vec::new());
        }
        let mid = between(low, high, min_len).ok_or_else(|| {
            malformed(
                &self.path,
                format!(
                    "no order key fits between chunks {} and {}",
                    String::from_utf8_lossy(low.unwrap_or_default()),
                    String::from_utf8_lossy(high.unwrap_or_default())
                ),
            )
        })?;
        let below = (count - 1) / 2;
        let mut out = self.keys_between(low, Some(&mid), below, min_len)?;
        out.push(mid.clone());
        out.extend(self.keys_between(Some(&mid), high, count - 1 - below, min_len)?);
        Ok(out)
    }

    /// The levels and the chunks in order, from the cache for directories seen before.
    fn chunks(&self, view: &View) -> Result<(usize, Arc<Vec<Chunk>>)> {
        let meta_path = self.meta_path()?;
        let meta: Meta = match view.get(&meta_path)? {
            Some(bytes) => decode(&meta_path, &bytes)?,
            None => return Err(malformed(&meta_path, "no rope here: the file is missing")),
        };
        if meta.format != "canopy-rope" || meta.version != 1 || meta.levels == 0 || meta.levels > 16 {
            return Err(malformed(&meta_path, "not a version 1 canopy rope"));
        }
        let chunks = match view.get_tree(&self.chunks_path()?)? {
            Some(tree) => self.flatten(&tree, 0, meta.levels, true)?,
            None => Arc::new(Vec::new()),
        };
        if chunks.windows(2).any(|w| w[0].key >= w[1].key) {
            return Err(malformed(&self.chunks_path()?, "chunk keys out of order"));
        }
        Ok((meta.levels, chunks))
    }

    /// The chunks below `tree`, at directory `depth` of `levels`. Directories below the top
    /// are cached by id; the top one changes with every edit.
    fn flatten(&self, tree: &Tree, depth: usize, levels: usize, top: bool) -> Result<Arc<Vec<Chunk>>> {
        if let Some(id) = tree.id() {
            if let Some(found) = self.cache()?.dirs.get(&id) {
                return Ok(found.clone());
            }
        }
        let store = self.branch.repo().objects();
        let mut out = Vec::new();
        for (name, entry) in tree.entries(store)?.iter() {
            let bad = |what: &str| -> Result<Error> {
                Ok(malformed(
                    &self.chunks_path()?,
                    format!("'{}' {what}", String::from_utf8_lossy(name)),
                ))
            };
            if !is_key(name) {
                return Err(bad("is not a chunk key")?);
            }
            match entry {
                Entry::Tree(t) if depth < levels && name.len() == 1 => {
                    out.extend(self.flatten(t, depth + 1, levels, false)?.iter().cloned());
                }
                Entry::Value { id, .. } if depth == levels && name.len() > levels => {
                    out.push(Chunk {
                        key: name.to_vec(),
                        id: *id,
                    });
                }
                _ => {
                    return Err(bad(&format!(
                        "is not where a chunk or directory of level {depth} can be"
                    ))?)
                }
            }
        }
        let out = Arc::new(out);
        if let (Some(id), false) = (tree.id(), top) {
            let mut cache = self.cache()?;
            if cache.dirs.len() >= CACHE_LIMIT / 64 {
                cache.dirs.clear();
            }
            cache.dirs.insert(id, out.clone());
        }
        Ok(out)
    }

    /// The size of every chunk, reading only blobs this handle has not seen.
    fn sizes(&self, chunks: &[Chunk]) -> Result<Vec<usize>> {
        let store = self.branch.repo().objects();
        let mut out = Vec::with_capacity(chunks.len());
        let mut cache = self.cache()?;
        if cache.sizes.len() >= CACHE_LIMIT {
            cache.sizes.clear();
        }
        for c in chunks {
            let size = match cache.sizes.get(&c.id) {
                Some(&s) => s,
                None => {
                    let s = store.read_kind(&c.id, ObjectKind::Blob)?.len();
                    cache.sizes.insert(c.id, s);
                    s
                }
            };
            out.push(size);
        }
        Ok(out)
    }

    fn cache(&self) -> Result<std::sync::MutexGuard<'_, Cache>> {
        // The cache holds only facts about immutable objects: a panic elsewhere cannot leave it
        // wrong, so a poisoned lock is taken over.
        Ok(self
            .cache
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner))
    }

    fn meta_path(&self) -> Result<Path> {
        Ok(self.path.join(b"rope.json")?)
    }

    fn chunks_path(&self) -> Result<Path> {
        Ok(self.path.join(b"chunks")?)
    }

    fn chunk_path(&self, key: &[u8], levels: usize) -> Result<Path> {
        let mut path = self.chunks_path()?;
        for d in &key[..levels] {
            path = path.join(std::slice::from_ref(d))?;
        }
        Ok(path.join(key)?)
    }
}

/// Whether `name` is a well-formed order key: lowercase hex.
fn is_key(name: &[u8]) -> bool {
    !name.is_empty() && name.iter().all(|c| HEX.contains(c))
}

/// The directory tree of `chunks` (sorted by key) from directory `depth` down.
fn build(chunks: &[Chunk], depth: usize, levels: usize) -> Tree {
    let mut entries = Entries::new();
    if depth == levels {
        for c in chunks {
            entries.insert(c.key.as_slice().into(), Entry::value(c.id));
        }
    } else {
        let mut rest = chunks;
        while let Some(first) = rest.first() {
            let digit = first.key[depth];
            let n = rest.iter().take_while(|c| c.key[depth] == digit).count();
            entries.insert(
                Name::from_slice(&[digit]),
                Entry::Tree(build(&rest[..n], depth + 1, levels)),
            );
            rest = &rest[n..];
        }
    }
    Tree::from_entries(entries)
}

/// Ranges cutting `data` into chunks of about [`TARGET`] bytes while more than `threshold`
/// bytes remain: at the newline nearest the target within half a target, else at the target
/// moved back to the start of a UTF-8 character.
fn split(data: &[u8], threshold: usize) -> Vec<std::ops::Range<usize>> {
    let mut out = Vec::new();
    let mut start = 0;
    while data.len() - start > threshold {
        let want = start + TARGET;
        let (lo, hi) = (start + TARGET / 2, (want + TARGET / 2).min(data.len() - 1));
        let before = data[lo..want]
            .iter()
            .rposition(|&c| c == b'\n')
            .map(|p| lo + p + 1);
        let after = data[want..hi]
            .iter()
            .position(|&c| c == b'\n')
            .map(|p| want + p + 1);
        let cut = match (before, after) {
            (Some(b), Some(a)) => {
                if want - b <= a - want {
                    b
                } else {
                    a
                }
            }
            (Some(b), None) => b,
            (None, Some(a)) => a,
            (None, None) => {
                let mut c = want;
                while c > want - 3 && data[c] & 0xc0 == 0x80 {
                    c -= 1;
                }
                if data[c] & 0xc0 == 0x80 {
                    want
                } else {
                    c
                }
            }
        };
        out.push(start..cut);
        start = cut;
    }
    if start < data.len() {
        out.push(start..data.len());
    }
    out
}

/// `n` keys of equal length spread evenly over the key space, at least `levels + 1` long.
fn spread_keys(n: usize, levels: usize) -> Vec<Vec<u8>> {
    let mut digits = levels + 1;
    while 16u128.pow(digits as u32) < 2 * (n as u128 + 1) {
        digits += 1;
    }
    let step = 16u128.pow(digits as u32) / (n as u128 + 1);
    (1..=n as u128)
        .map(|i| {
            let mut v = i * step;
            // Keys never end in 0 (so that one always fits before a key); the step is ≥ 2.
            if v.is_multiple_of(16) {
                v += 1;
            }
            format!("{v:0digits$x}").into_bytes()
        })
        .collect()
}

/// A key strictly between `low` and `high` (`None`: no bound), at least `min_len` long; `None`
/// if the bounds are not in order.
fn between(low: Option<&[u8]>, high: Option<&[u8]>, min_len: usize) -> Option<Vec<u8>> {
    let low = low.unwrap_or_default();
    if high.is_some_and(|h| low >= h || h.ends_with(b"0") || !is_key(h)) || (!low.is_empty() && !is_key(low))
    {
        return None;
    }
    let mut key = midpoint(low, high);
    while key.len() < min_len {
        key = midpoint(&key, high);
    }
    let ok = key.as_slice() > low && high.is_none_or(|h| key.as_slice() < h);
    ok.then_some(key)
}

/// The fractional-indexing midpoint of `a < b` (digits in base 16; `a` may be empty, `b`
/// `None` means above every key; neither ends in `0`).
fn midpoint(a: &[u8], b: Option<&[u8]>) -> Vec<u8> {
    let digit = |c: u8| HEX.iter().position(|&h| h == c).unwrap_or(0);
    if let Some(b) = b {
        let n = b
            .iter()
            .enumerate()
            .take_while(|&(i, &c)| a.get(i).copied().unwrap_or(b'0') == c)
            .count();
        if n > 0 {
            let mut out = b[..n].to_vec();
            out.extend(midpoint(a.get(n..).unwrap_or_default(), Some(&b[n..])));
            return out;
        }
    }
    let da = a.first().map_or(0, |&c| digit(c));
    let db = b.and_then(|b| b.first()).map_or(16, |&c| digit(c));
    if db > da + 1 {
        return vec![HEX[(da + db).div_ceil(2)]];
    }
    if let Some(b) = b.filter(|b| b.len() > 1) {
        return vec![b[0]];
    }
    let mut out = vec![HEX[da]];
    out.extend(midpoint(a.get(1..).unwrap_or_default(), None));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_between_any_two() {
        let cases: &[(&str, Option<&str>)] = &[
            ("", None),
            ("", Some("1")),
            ("", Some("01")),
            ("3f", Some("41")),
            ("4", Some("41")),
            ("8", None),
            ("f", None),
            ("fff", None),
            ("1", Some("11")),
            ("abc", Some("abd")),
        ];
        for &(a, b) in cases {
            for min in [1, 2, 4] {
                let k = between(Some(a.as_bytes()), b.map(str::as_bytes), min).unwrap();
                assert!(
                    k.as_slice() > a.as_bytes(),
                    "{a} {b:?} -> {}",
                    String::from_utf8_lossy(&k)
                );
                if let Some(b) = b {
                    assert!(
                        k.as_slice() < b.as_bytes(),
                        "{a} {b} -> {}",
                        String::from_utf8_lossy(&k)
                    );
                }
                assert!(k.len() >= min && !k.ends_with(b"0"));
            }
        }
        assert_eq!(between(Some(b"5"), Some(b"5"), 1), None);
    }

    #[test]
    fn many_inserts_in_one_gap_stay_ordered() {
        let mut keys = vec![b"4".to_vec(), b"5".to_vec()];
        for i in 0..600 {
            // Into the same gap again and again, at its left end or its right end.
            let at = if i % 3 == 0 { keys.len() - 1 } else { 1 };
            let k = between(Some(&keys[at - 1]), Some(&keys[at]), 2).unwrap();
            keys.insert(at, k);
        }
        assert!(keys.windows(2).all(|w| w[0] < w[1]));
        let longest = keys.iter().map(Vec::len).max().unwrap_or(0);
        assert!(longest < 200, "{longest}");
    }

    #[test]
    fn spread_keys_are_sorted_and_spread() {
        for n in [1, 2, 15, 16, 17, 255, 256, 2560] {
            let keys = spread_keys(n, 1);
            assert_eq!(keys.len(), n);
            assert!(keys.windows(2).all(|w| w[0] < w[1]));
            assert!(keys.iter().all(|k| !k.ends_with(b"0") && k.len() >= 2));
        }
        let keys = spread_keys(256, 1);
        let first_digits: std::collections::BTreeSet<u8> = keys.iter().map(|k| k[0]).collect();
        assert_eq!(first_digits.len(), 16, "spread over every directory");
    }

    #[test]
    fn split_prefers_newlines_and_never_cuts_a_character() {
        let line = "ééé a line of text ∑\n".repeat(1000);
        let parts = split(line.as_bytes(), TARGET);
        assert!(parts.len() > 1);
        for p in &parts[..parts.len() - 1] {
            assert!(line.as_bytes()[p.end - 1] == b'\n');
            assert!(p.len() > TARGET / 2 && p.len() < TARGET * 3 / 2);
        }
        let no_newlines = "ü".repeat(10_000);
        for p in split(no_newlines.as_bytes(), TARGET) {
            assert!(std::str::from_utf8(&no_newlines.as_bytes()[p]).is_ok());
        }
        assert!(split(b"", TARGET).is_empty());
        assert_eq!(split(b"ab", TARGET), vec![0..2]);
    }
}
