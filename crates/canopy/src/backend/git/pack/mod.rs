//! Pack files: `objects/pack/*.pack` with their version 2 `.idx`, read through memory maps.
//!
//! A pack is used only once its `.idx` exists (Git installs the index last); `tmp_*` files and a
//! `.pack` without an index are ignored. Opening a pack validates what Git validates: index magic,
//! version, file size against the object count, a monotonic fanout, the pack header (`PACK`,
//! version 2 or 3, the same object count) and the index's copy of the pack trailer. Lookups are a
//! binary search within the fanout bucket. Entries are decoded iteratively (OFS_DELTA and
//! REF_DELTA chains of at most 4095 deltas, REF_DELTA cycles detected, REF_DELTA bases outside
//! the pack looked up in the other packs and then through the caller), every inflated length is
//! checked against its header, and every size is capped (4 GiB, and no more than the remaining
//! input could produce) before anything is allocated. Malformed or truncated input is an
//! [`Error::CorruptFile`] naming the file and byte offset, never a panic. Object hashes are not
//! re-verified (as in Git, the index and the zlib checksums are trusted).
//!
//! Packs are immutable once installed; a pack deleted while mapped stays readable (the mapping
//! keeps it alive), but a pack truncated *in place* by another program could fault.

mod cache;
pub mod delta;
#[cfg(test)]
mod tests;
mod verify;

use std::cell::Cell;
use std::collections::{HashMap, HashSet};
use std::fs::File;
use std::io::{BufReader, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, RwLock};
use std::time::SystemTime;

use flate2::bufread::ZlibDecoder;
use flate2::{Decompress, FlushDecompress, Status};
use memmap2::Mmap;

use super::loose::Verified;
use super::pack_write::PackWriter;
use crate::backend::{Error, ObjectStream, Result};
use crate::object::{HashKind, ObjectId, ObjectKind, RawObject};
use cache::{Base, BaseCache};
pub use verify::{verify, PackProblem};

/// Largest object or delta result accepted.
const MAX_OBJECT_SIZE: u64 = 4 << 30;
/// Deepest delta chain accepted (pack-objects never writes more).
const MAX_DELTA_DEPTH: usize = 4095;
/// How many times one read may leave a pack to find a REF_DELTA base (bounds cross-pack cycles).
const MAX_CROSS_PACK: u32 = 64;
/// Upper bound of deflate's compression ratio (1032:1), plus slack for tiny streams.
const INFLATE_RATIO: u64 = 1032;
const INFLATE_SLACK: u64 = 64;

const IDX_MAGIC: &[u8; 4] = b"\xfftOc";
/// Magic, version and the 256-entry fanout.
const IDX_HEADER: usize = 8 + 256 * 4;
const PACK_HEADER: usize = 12;

static NEXT_SERIAL: AtomicU64 = AtomicU64::new(1);

thread_local! {
    /// Nesting of cross-pack REF_DELTA base lookups on this thread (they may re-enter `read`).
    static CROSS_PACK_DEPTH: Cell<u32> = const { Cell::new(0) };
}

/// A pack's name and size, as [`PackSet::summaries`] lists them.
pub(crate) struct PackSummary {
    pub stem: String,
    pub objects: usize,
}

/// Every pack of a repository's object directory.
pub struct PackSet {
    pack_dir: PathBuf,
    hash: HashKind,
    /// Largest first (most lookups end in the largest pack: rolled-up packs grow geometrically),
    /// then newest first.
    packs: RwLock<Arc<[Arc<Pack>]>>,
    rescan_lock: Mutex<()>,
    cache: Mutex<BaseCache>,
    /// Packs that failed to open (torn or corrupt), by name, with why: left out of lookups so
    /// that the rest of the store stays usable; `canopy fsck --repair` deals with them.
    broken: Mutex<HashMap<String, String>>,
}

impl PackSet {
    /// Opens every pack in `objects_dir/pack` (a missing directory means no packs).
    pub fn open(objects_dir: &Path, hash: HashKind) -> Result<PackSet> {
        let set = PackSet {
            pack_dir: objects_dir.join("pack"),
            hash,
            packs: RwLock::new(Arc::from(Vec::new())),
            rescan_lock: Mutex::new(()),
            cache: Mutex::new(BaseCache::default()),
            broken: Mutex::new(HashMap::new()),
        };
        set.rescan()?;
        Ok(set)
    }

    /// Reads an object from any pack; `external` resolves a REF_DELTA base found in no pack.
    pub fn read(
        &self,
        id: &ObjectId,
        external: &dyn Fn(&ObjectId) -> Result<Option<RawObject>>,
    ) -> Result<Option<RawObject>> {
        if id.hash_kind() != self.hash {
            return Ok(None);
        }
        for pack in self.snapshot().iter() {
            if let Some(pos) = pack.lookup(id) {
                let offset = pack.offset_at(pos)?;
                return self.resolve(pack, offset, external).map(Some);
            }
        }
        Ok(None)
    }

    /// A plain (not deltified) entry of at least `min_size` bytes, as a stream: read from the
    /// pack file and inflated as it is read, checked against its id at the end. `None` when
    /// `id` is in no pack, is smaller, or is stored as a delta (such objects are read whole);
    /// `None` too when the pack was removed since it was opened (a collection replaced it).
    pub fn read_stream(&self, id: &ObjectId, min_size: u64) -> Result<Option<ObjectStream<'static>>> {
        if id.hash_kind() != self.hash {
            return Ok(None);
        }
        let Some(pack) = self.snapshot().iter().find(|p| p.lookup(id).is_some()).cloned() else {
            return Ok(None);
        };
        let pos = pack.lookup(id).expect("found above");
        let entry = pack.entry(pack.offset_at(pos)?)?;
        let EntryKind::Plain(kind) = entry.kind else {
            return Ok(None);
        };
        if entry.size < min_size {
            return Ok(None);
        }
        pack.check_size(&entry)?;
        // A file, not the mapping: pages read through a mapping count as the process's memory.
        // A pack's name is its checksum, so a file found under the same name is the same pack.
        let mut file = match File::open(&pack.pack_path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => {
                return Err(Error::Io {
                    path: pack.pack_path.clone(),
                    source: e,
                })
            }
        };
        let io = |source| Error::Io {
            path: pack.pack_path.clone(),
            source,
        };
        file.seek(SeekFrom::Start(entry.data_start as u64)).map_err(io)?;
        let zlib = (pack.data_end - entry.data_start) as u64;
        let input = BufReader::with_capacity(1 << 16, file.take(zlib));
        Ok(Some(Verified::stream(
            *id,
            kind,
            entry.size,
            ZlibDecoder::new(input),
        )))
    }

    pub fn contains(&self, id: &ObjectId) -> Result<bool> {
        Ok(id.hash_kind() == self.hash && self.snapshot().iter().any(|p| p.lookup(id).is_some()))
    }

    /// The `.pack` file holding `id`, if any (to freshen its mtime when the object is reused).
    pub fn pack_containing(&self, id: &ObjectId) -> Option<PathBuf> {
        if id.hash_kind() != self.hash {
            return None;
        }
        self.snapshot()
            .iter()
            .find(|p| p.lookup(id).is_some())
            .map(|p| p.pack_path.clone())
    }

    /// All ids in packs whose lowercase hex starts with `prefix`, sorted and without duplicates.
    pub fn ids_with_prefix(&self, prefix: &str) -> Result<Vec<ObjectId>> {
        let Some(nibbles) = prefix.bytes().map(hex_val).collect::<Option<Vec<u8>>>() else {
            return Ok(Vec::new());
        };
        if nibbles.len() > self.hash.hex_len() {
            return Ok(Vec::new());
        }
        let mut out = Vec::new();
        for pack in self.snapshot().iter() {
            pack.ids_with_prefix(&nibbles, &mut out);
        }
        out.sort();
        out.dedup();
        Ok(out)
    }

    /// Packs left out because they failed to open: `(pack file, why)`.
    pub fn broken(&self) -> Vec<(PathBuf, String)> {
        lock(&self.broken)
            .iter()
            .map(|(stem, why)| (self.pack_dir.join(format!("{stem}.pack")), why.clone()))
            .collect()
    }

    /// How many packs the set holds.
    pub fn len(&self) -> usize {
        self.snapshot().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Adds the pack `<stem>` that this process has just installed, first in the search order
    /// (it is the newest), without listing the directory.
    pub(crate) fn insert(&self, stem: &str) -> Result<()> {
        self.add(stem, || Pack::open(&self.pack_dir, stem, self.hash))
    }

    /// [`insert`](Self::insert) for a pack this process has just installed and still holds:
    /// its bytes are used as they are, not opened and mapped again.
    pub(crate) fn insert_held(&self, stem: &str, idx: Vec<u8>, pack: Vec<u8>) -> Result<()> {
        let held = (Bytes::Owned(idx), Bytes::Owned(pack), SystemTime::now());
        self.add(stem, || {
            Pack::from_bytes(&self.pack_dir, stem, self.hash, held, true).map(Some)
        })
    }

    fn add(&self, stem: &str, open: impl FnOnce() -> Result<Option<Pack>>) -> Result<()> {
        let _serial = lock(&self.rescan_lock);
        let current = self.snapshot();
        if current.iter().any(|p| p.stem == stem) {
            return Ok(());
        }
        let Some(pack) = open()? else {
            return Ok(());
        };
        let mut next: Vec<Arc<Pack>> = Vec::with_capacity(current.len() + 1);
        next.push(Arc::new(pack));
        next.extend(current.iter().cloned());
        sort_for_lookup(&mut next);
        *self.packs.write().unwrap_or_else(|e| e.into_inner()) = Arc::from(next);
        Ok(())
    }

    /// Drops packs (removed from disk by a roll-up) from the set.
    pub(crate) fn forget(&self, stems: &[String]) {
        let _serial = lock(&self.rescan_lock);
        let next: Vec<Arc<Pack>> = self
            .snapshot()
            .iter()
            .filter(|p| !stems.contains(&p.stem))
            .cloned()
            .collect();
        let serials: HashSet<u64> = next.iter().map(|p| p.serial).collect();
        *self.packs.write().unwrap_or_else(|e| e.into_inner()) = Arc::from(next);
        lock(&self.cache).retain_packs(|s| serials.contains(&s));
    }

    /// Every pack's name and object count, newest first.
    pub(crate) fn summaries(&self) -> Vec<PackSummary> {
        self.snapshot()
            .iter()
            .map(|p| PackSummary {
                stem: p.stem.clone(),
                objects: p.bucket(0, 255).1,
            })
            .collect()
    }

    /// Copies every entry of pack `stem` into `out` without inflating it (checking each
    /// entry's CRC against the index first): whole entries and REF_DELTAs byte for byte,
    /// OFS_DELTAs with the distance to their base recomputed.
    pub(crate) fn copy_pack(&self, stem: &str, out: &mut PackWriter<'_>) -> Result<()> {
        let snapshot = self.snapshot();
        let Some(pack) = snapshot.iter().find(|p| p.stem == stem) else {
            return Err(Error::CorruptFile {
                path: self.pack_dir.join(format!("{stem}.pack")),
                reason: "pack vanished before it could be copied".into(),
            });
        };
        let count = pack.bucket(0, 255).1;
        let mut by_offset: Vec<(usize, usize)> = Vec::with_capacity(count);
        for pos in 0..count {
            by_offset.push((pack.offset_at(pos)?, pos));
        }
        by_offset.sort_unstable();
        let id_at = |pos: usize| {
            ObjectId::from_raw(self.hash, pack.id_at(pos)).ok_or_else(|| pack.corrupt_pack("bad id".into()))
        };
        let crc_at = IDX_HEADER + count * self.hash.len();
        for (i, &(offset, pos)) in by_offset.iter().enumerate() {
            let end = by_offset.get(i + 1).map_or(pack.data_end, |next| next.0);
            let raw = &pack.pack[offset..end];
            if crc32fast::hash(raw) != be32(&pack.idx, crc_at + 4 * pos) {
                return Err(
                    pack.corrupt_pack(format!("entry at offset {offset}: CRC does not match the index"))
                );
            }
            let id = id_at(pos)?;
            let entry = pack.entry(offset)?;
            match entry.kind {
                EntryKind::Plain(_) | EntryKind::Ref(_) => out.copy_entry(id, raw)?,
                EntryKind::Ofs(base_offset) => {
                    let base = by_offset
                        .binary_search_by_key(&base_offset, |e| e.0)
                        .map_err(|_| {
                            pack.corrupt_pack(format!("entry at offset {offset}: OFS_DELTA base is no entry"))
                        })?;
                    let base = id_at(by_offset[base].1)?;
                    out.copy_ofs_delta(id, entry.size, &base, &pack.pack[entry.data_start..end])?;
                }
            }
        }
        Ok(())
    }

    /// Re-lists the pack directory; returns whether the set of packs changed.
    ///
    /// A pack listed and then gone before it could be opened was removed by a repack (Canopy's
    /// roll-up, `canopy gc`, `git gc`), which installs the pack replacing it first: the
    /// directory is listed again (up to three times in all) so that the replacement is found,
    /// else a reader racing a roll-up could miss an object that is in a pack all along.
    pub fn rescan(&self) -> Result<bool> {
        let _serial = lock(&self.rescan_lock);
        let current = self.snapshot();
        let mut known: HashMap<String, Arc<Pack>> =
            current.iter().map(|p| (p.stem.clone(), Arc::clone(p))).collect();
        let mut broken = lock(&self.broken);
        let mut attempts = 0;
        let mut next = loop {
            attempts += 1;
            let listed = list_indexes(&self.pack_dir)?;
            #[cfg(test)]
            tests::after_listing();
            broken.retain(|stem, _| listed.contains(stem));
            let mut next: Vec<Arc<Pack>> = Vec::new();
            let mut vanished = false;
            for stem in listed {
                if let Some(pack) = known.get(&stem) {
                    next.push(Arc::clone(pack));
                } else if let std::collections::hash_map::Entry::Vacant(slot) = broken.entry(stem) {
                    match Pack::open(&self.pack_dir, slot.key(), self.hash) {
                        Ok(Some(pack)) => {
                            let pack = Arc::new(pack);
                            known.insert(slot.key().clone(), Arc::clone(&pack));
                            next.push(pack);
                        }
                        Ok(None) => vanished = true,
                        Err(e) => {
                            slot.insert(e.to_string());
                        }
                    }
                }
            }
            if !vanished || attempts == 3 {
                break next;
            }
        };
        drop(broken);
        let before: HashSet<u64> = current.iter().map(|p| p.serial).collect();
        let changed = next.len() != current.len() || next.iter().any(|p| !before.contains(&p.serial));
        if !changed {
            return Ok(false);
        }
        sort_for_lookup(&mut next);
        let serials: HashSet<u64> = next.iter().map(|p| p.serial).collect();
        *self.packs.write().unwrap_or_else(|e| e.into_inner()) = Arc::from(next);
        lock(&self.cache).retain_packs(|s| serials.contains(&s));
        Ok(true)
    }

    fn snapshot(&self) -> Arc<[Arc<Pack>]> {
        self.packs.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Builds the object at `offset` of `pack`: walks down its delta chain to a base (a plain
    /// entry, a cached base, or a REF_DELTA base from elsewhere), then applies the deltas back up.
    fn resolve(
        &self,
        pack: &Pack,
        offset: usize,
        external: &dyn Fn(&ObjectId) -> Result<Option<RawObject>>,
    ) -> Result<RawObject> {
        let mut chain: Vec<Entry> = Vec::new();
        // Offsets of the REF_DELTA entries walked: OFS_DELTA bases always lie strictly before
        // their delta, so every cycle passes through a REF_DELTA entry twice.
        let mut refs_seen: HashSet<usize> = HashSet::new();
        let mut at = offset;
        // The base, and its offset in this pack when it is an entry of it (to cache it).
        let (mut base, mut base_at) = loop {
            if let Some(hit) = lock(&self.cache).get(pack.serial, at) {
                break (hit, Some(at));
            }
            let entry = pack.entry(at)?;
            if matches!(entry.kind, EntryKind::Ref(_)) && !refs_seen.insert(at) {
                return Err(pack.corrupt_pack(format!(
                    "delta chain of the entry at offset {offset} loops back to offset {at}"
                )));
            }
            let next = match entry.kind {
                EntryKind::Plain(kind) => {
                    let data = Arc::new(pack.inflate(&entry)?);
                    break (Base { kind, data, depth: 0 }, Some(at));
                }
                EntryKind::Ofs(base) => base,
                EntryKind::Ref(base_id) => match pack.lookup(&base_id) {
                    Some(pos) => pack.offset_at(pos)?,
                    None => {
                        let obj = self.outside_base(pack, &entry, &base_id, external)?;
                        chain.push(entry);
                        let base = Base {
                            kind: obj.kind,
                            data: Arc::new(obj.data),
                            depth: 0,
                        };
                        break (base, None);
                    }
                },
            };
            chain.push(entry);
            if chain.len() > MAX_DELTA_DEPTH {
                return Err(pack.corrupt_pack(format!(
                    "delta chain of the entry at offset {offset} is deeper than {MAX_DELTA_DEPTH}"
                )));
            }
            at = next;
        };
        if base.depth + chain.len() > MAX_DELTA_DEPTH {
            return Err(pack.corrupt_pack(format!(
                "delta chain of the entry at offset {offset} is deeper than {MAX_DELTA_DEPTH}"
            )));
        }
        for entry in chain.iter().rev() {
            let delta = pack.inflate(entry)?;
            let data = delta::apply(&base.data, &delta, MAX_OBJECT_SIZE)
                .map_err(|reason| pack.corrupt_pack(format!("delta at offset {}: {reason}", entry.offset)))?;
            let next = Base {
                kind: base.kind,
                data: Arc::new(data),
                depth: base.depth + 1,
            };
            if let Some(base_at) = base_at {
                lock(&self.cache).put(pack.serial, base_at, base);
            }
            base = next;
            base_at = Some(entry.offset);
        }
        let data = Arc::try_unwrap(base.data).unwrap_or_else(|shared| shared.as_ref().clone());
        Ok(RawObject::new(base.kind, data))
    }

    /// A REF_DELTA base that is not in `pack`: from the other packs, else from `external`.
    fn outside_base(
        &self,
        pack: &Pack,
        entry: &Entry,
        base_id: &ObjectId,
        external: &dyn Fn(&ObjectId) -> Result<Option<RawObject>>,
    ) -> Result<RawObject> {
        let Some(_guard) = CrossPackGuard::enter() else {
            return Err(pack.corrupt_pack(format!(
                "REF_DELTA at offset {}: looking up base {base_id} left a pack more than \
                 {MAX_CROSS_PACK} times (a cycle between packs?)",
                entry.offset
            )));
        };
        if let Some(obj) = self.read(base_id, external)? {
            return Ok(obj);
        }
        external(base_id)?.ok_or_else(|| {
            pack.corrupt_pack(format!(
                "REF_DELTA at offset {}: base {base_id} is neither in the pack nor in the repository",
                entry.offset
            ))
        })
    }
}

/// The order lookups try packs in: by object count, largest first, then newest first.
fn sort_for_lookup(packs: &mut [Arc<Pack>]) {
    packs.sort_by(|a, b| {
        b.bucket(0, 255)
            .1
            .cmp(&a.bucket(0, 255).1)
            .then_with(|| b.mtime.cmp(&a.mtime))
            .then_with(|| a.stem.cmp(&b.stem))
    });
}

/// Counts this thread's nested cross-pack base lookups.
struct CrossPackGuard;

impl CrossPackGuard {
    fn enter() -> Option<CrossPackGuard> {
        CROSS_PACK_DEPTH.with(|depth| {
            if depth.get() >= MAX_CROSS_PACK {
                return None;
            }
            depth.set(depth.get() + 1);
            Some(CrossPackGuard)
        })
    }
}

impl Drop for CrossPackGuard {
    fn drop(&mut self) {
        CROSS_PACK_DEPTH.with(|depth| depth.set(depth.get().saturating_sub(1)));
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

fn hex_val(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

/// The stems (`pack-<hex>`) of the `.idx` files in `dir`, skipping `tmp_*`.
fn list_indexes(dir: &Path) -> Result<Vec<String>> {
    let io = |source| Error::Io {
        path: dir.to_path_buf(),
        source,
    };
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(io(e)),
    };
    let mut stems = Vec::new();
    for entry in entries {
        let name = entry.map_err(io)?.file_name();
        let Some(name) = name.to_str() else { continue };
        if name.starts_with("tmp_") {
            continue;
        }
        if let Some(stem) = name.strip_suffix(".idx") {
            stems.push(stem.to_string());
        }
    }
    stems.sort();
    Ok(stems)
}

/// A file's bytes (a pack, an index, a commit-graph): mapped from the file, or held in memory
/// (read, or just written by this process: a small pack, which would otherwise be opened and
/// mapped again at once).
pub(crate) enum Bytes {
    Mapped(Mmap),
    Owned(Vec<u8>),
}

impl std::ops::Deref for Bytes {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        match self {
            Bytes::Mapped(m) => m,
            Bytes::Owned(v) => v,
        }
    }
}

/// Maps a file; `None` if it does not exist. Files shorter than `min_len` are corrupt.
fn map(path: &Path, min_len: usize, what: &str) -> Result<Option<(Bytes, SystemTime)>> {
    let io = |source| Error::Io {
        path: path.to_path_buf(),
        source,
    };
    let file = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io(e)),
    };
    let meta = file.metadata().map_err(io)?;
    if meta.len() < min_len as u64 {
        return Err(Error::CorruptFile {
            path: path.to_path_buf(),
            reason: format!("{} bytes is too short for {what}", meta.len()),
        });
    }
    let mtime = meta.modified().unwrap_or(SystemTime::UNIX_EPOCH);
    // SAFETY: pack and index files are immutable once installed (Git writes them under a
    // temporary name and renames them into place); see the module documentation.
    let mmap = unsafe { Mmap::map(&file) }.map_err(io)?;
    if mmap.len() < min_len {
        return Err(Error::CorruptFile {
            path: path.to_path_buf(),
            reason: format!("{} bytes is too short for {what}", mmap.len()),
        });
    }
    Ok(Some((Bytes::Mapped(mmap), mtime)))
}

fn be32(buf: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([buf[at], buf[at + 1], buf[at + 2], buf[at + 3]])
}

/// One pack and its index, validated on open so that every index table lies within the file.
struct Pack {
    serial: u64,
    stem: String,
    pack_path: PathBuf,
    idx_path: PathBuf,
    idx: Bytes,
    pack: Bytes,
    hash: HashKind,
    mtime: SystemTime,
    offsets_at: usize,
    large_at: usize,
    large_count: usize,
    /// End of the entries (start of the trailer).
    data_end: usize,
}

/// A decoded entry header.
struct Entry {
    offset: usize,
    kind: EntryKind,
    /// Inflated size of the object or of the delta.
    size: u64,
    /// Where the zlib stream starts.
    data_start: usize,
}

enum EntryKind {
    Plain(ObjectKind),
    Ofs(usize),
    Ref(ObjectId),
}

impl Pack {
    /// Opens and validates `dir/<stem>.{idx,pack}`; `None` if either file is missing.
    fn open(dir: &Path, stem: &str, hash: HashKind) -> Result<Option<Pack>> {
        Pack::open_with(dir, stem, hash, true)
    }

    /// [`Pack::open`]; when not `strict`, a pack whose object count or trailer disagrees with
    /// its index is still opened (to check or salvage what is left of it).
    fn open_with(dir: &Path, stem: &str, hash: HashKind, strict: bool) -> Result<Option<Pack>> {
        let hs = hash.len();
        let idx_path = dir.join(format!("{stem}.idx"));
        let pack_path = dir.join(format!("{stem}.pack"));
        let Some((idx, _)) = map(&idx_path, IDX_HEADER + 2 * hs, "a pack index")? else {
            return Ok(None);
        };
        let Some((pack, mtime)) = map(&pack_path, PACK_HEADER + hs, "a pack")? else {
            return Ok(None);
        };
        Pack::from_bytes(dir, stem, hash, (idx, pack, mtime), strict).map(Some)
    }

    /// Validates a pack and its index given as bytes (`mtime`: the pack file's).
    fn from_bytes(
        dir: &Path,
        stem: &str,
        hash: HashKind,
        (idx, pack, mtime): (Bytes, Bytes, SystemTime),
        strict: bool,
    ) -> Result<Pack> {
        let hs = hash.len();
        let idx_path = dir.join(format!("{stem}.idx"));
        let pack_path = dir.join(format!("{stem}.pack"));
        let short = |path: &Path, len: usize, what: &str| Error::CorruptFile {
            path: path.to_path_buf(),
            reason: format!("{len} bytes is too short for {what}"),
        };
        if idx.len() < IDX_HEADER + 2 * hs {
            return Err(short(&idx_path, idx.len(), "a pack index"));
        }
        if pack.len() < PACK_HEADER + hs {
            return Err(short(&pack_path, pack.len(), "a pack"));
        }
        let bad_idx = |reason: String| Error::CorruptFile {
            path: idx_path.clone(),
            reason,
        };
        if &idx[..4] != IDX_MAGIC {
            return Err(bad_idx(
                "bad magic: not a version 2 pack index (version 1 indexes are not supported)".into(),
            ));
        }
        let version = be32(&idx, 4);
        if version != 2 {
            return Err(bad_idx(format!("unsupported index version {version}")));
        }
        let mut count = 0u32;
        for i in 0..256 {
            let n = be32(&idx, 8 + 4 * i);
            if n < count {
                return Err(bad_idx(format!("non-monotonic fanout at entry {i}")));
            }
            count = n;
        }
        let n = u64::from(count);
        let min_len = IDX_HEADER as u64 + n * (hs as u64 + 8) + 2 * hs as u64;
        let max_len = min_len + n.saturating_sub(1) * 8;
        let len = idx.len() as u64;
        if len < min_len || len > max_len || !(len - min_len).is_multiple_of(8) {
            return Err(bad_idx(format!(
                "wrong index v2 file size: {len} bytes for {count} objects"
            )));
        }
        // All of these fit: they are below idx.len().
        let count = count as usize;
        let offsets_at = IDX_HEADER + count * (hs + 4);
        let large_at = offsets_at + count * 4;
        let large_count = ((len - min_len) / 8) as usize;

        let bad_pack = |reason: String| Error::CorruptFile {
            path: pack_path.clone(),
            reason,
        };
        if &pack[..4] != b"PACK" {
            return Err(bad_pack("bad magic: not a pack file".into()));
        }
        let version = be32(&pack, 4);
        if version != 2 && version != 3 {
            return Err(bad_pack(format!("unsupported pack version {version}")));
        }
        let data_end = pack.len() - hs;
        let opened = Pack {
            serial: NEXT_SERIAL.fetch_add(1, Ordering::Relaxed),
            stem: stem.to_string(),
            pack_path,
            idx_path,
            idx,
            pack,
            hash,
            mtime,
            offsets_at,
            large_at,
            large_count,
            data_end,
        };
        if strict {
            opened.check_against_index()?;
        }
        Ok(opened)
    }

    /// The pack's object count and trailer must be the ones its index records.
    fn check_against_index(&self) -> Result<()> {
        let hs = self.hash.len();
        let count = self.bucket(0, 255).1;
        let in_pack = be32(&self.pack, 8);
        if in_pack as usize != count {
            return Err(self.corrupt_pack(format!(
                "header says {in_pack} objects, the index {} lists {count}",
                self.idx_path.display()
            )));
        }
        let idx_copy = &self.idx[self.idx.len() - 2 * hs..self.idx.len() - hs];
        if &self.pack[self.data_end..] != idx_copy {
            return Err(self.corrupt_pack(format!(
                "trailer does not match the index {} (truncated or replaced pack?)",
                self.idx_path.display()
            )));
        }
        Ok(())
    }

    fn corrupt_pack(&self, reason: String) -> Error {
        Error::CorruptFile {
            path: self.pack_path.clone(),
            reason,
        }
    }

    /// Index positions `[lo, hi)` of the ids whose first byte is in `first..=last`.
    fn bucket(&self, first: u8, last: u8) -> (usize, usize) {
        let fanout = |b: usize| be32(&self.idx, 8 + 4 * b) as usize;
        let lo = if first == 0 { 0 } else { fanout(first as usize - 1) };
        (lo, fanout(last as usize))
    }

    fn id_at(&self, pos: usize) -> &[u8] {
        let hs = self.hash.len();
        let at = IDX_HEADER + pos * hs;
        &self.idx[at..at + hs]
    }

    /// The index position of `id`.
    ///
    /// Ids are hashes, spread evenly: the bytes after the first (which the fan-out table has
    /// used) say about where in its bucket an id lies. The search starts there and gallops
    /// outwards to bracket it, then bisects: a few neighbouring cache lines instead of a
    /// cache miss per halving of the bucket, and never more than twice a binary search's
    /// probes whatever the ids.
    fn lookup(&self, id: &ObjectId) -> Option<usize> {
        use std::cmp::Ordering::{Equal, Greater, Less};
        let raw = id.as_bytes();
        let (lo, hi) = self.bucket(raw[0], raw[0]);
        if lo >= hi {
            return None;
        }
        let frac = u64::from_be_bytes(raw[1..9].try_into().expect("ids are longer than 9 bytes"));
        let guess = lo + ((u128::from(frac) * (hi - lo) as u128) >> 64) as usize;
        let (mut a, mut b) = match self.id_at(guess).cmp(raw) {
            Equal => return Some(guess),
            // Somewhere in (guess, hi): gallop up to bracket it.
            Less => {
                let (mut a, mut step) = (guess + 1, 1);
                loop {
                    let probe = guess + step;
                    if probe >= hi {
                        break (a, hi);
                    }
                    match self.id_at(probe).cmp(raw) {
                        Equal => return Some(probe),
                        Greater => break (a, probe),
                        Less => (a, step) = (probe + 1, step * 2),
                    }
                }
            }
            // Somewhere in [lo, guess): gallop down.
            Greater => {
                let (mut b, mut step) = (guess, 1);
                loop {
                    let Some(probe) = guess.checked_sub(step).filter(|&p| p >= lo) else {
                        break (lo, b);
                    };
                    match self.id_at(probe).cmp(raw) {
                        Equal => return Some(probe),
                        Less => break (probe + 1, b),
                        Greater => (b, step) = (probe, step * 2),
                    }
                }
            }
        };
        while a < b {
            let mid = a + (b - a) / 2;
            match self.id_at(mid).cmp(raw) {
                Less => a = mid + 1,
                Greater => b = mid,
                Equal => return Some(mid),
            }
        }
        None
    }

    fn ids_with_prefix(&self, nibbles: &[u8], out: &mut Vec<ObjectId>) {
        let (first, last) = match nibbles {
            [] => (0, 255),
            [hi] => (hi << 4, (hi << 4) | 0xf),
            [hi, lo, ..] => ((hi << 4) | lo, (hi << 4) | lo),
        };
        let (mut lo, hi) = self.bucket(first, last);
        // Lowest id with the prefix: the prefix padded with zeros.
        let mut low = vec![0u8; self.hash.len()];
        for (i, n) in nibbles.iter().enumerate() {
            low[i / 2] |= if i % 2 == 0 { n << 4 } else { *n };
        }
        let mut end = hi;
        while lo < end {
            let mid = lo + (end - lo) / 2;
            if self.id_at(mid) < &low[..] {
                lo = mid + 1;
            } else {
                end = mid;
            }
        }
        let matches = |raw: &[u8]| {
            nibbles.iter().enumerate().all(|(i, n)| {
                let b = raw[i / 2];
                (if i % 2 == 0 { b >> 4 } else { b & 0xf }) == *n
            })
        };
        for pos in lo..hi {
            let raw = self.id_at(pos);
            if !matches(raw) {
                break;
            }
            out.extend(ObjectId::from_raw(self.hash, raw));
        }
    }

    /// The pack offset of the entry at index position `pos`.
    fn offset_at(&self, pos: usize) -> Result<usize> {
        let v = be32(&self.idx, self.offsets_at + 4 * pos);
        let offset = if v & 0x8000_0000 == 0 {
            u64::from(v)
        } else {
            let i = (v & 0x7fff_ffff) as usize;
            if i >= self.large_count {
                return Err(Error::CorruptFile {
                    path: self.idx_path.clone(),
                    reason: format!(
                        "object {pos} uses 64-bit offset {i}, the table has {}",
                        self.large_count
                    ),
                });
            }
            let at = self.large_at + 8 * i;
            (u64::from(be32(&self.idx, at)) << 32) | u64::from(be32(&self.idx, at + 4))
        };
        if offset < PACK_HEADER as u64 || offset >= self.data_end as u64 {
            return Err(Error::CorruptFile {
                path: self.idx_path.clone(),
                reason: format!(
                    "object {pos} has offset {offset}, outside the pack's entries ({PACK_HEADER}..{})",
                    self.data_end
                ),
            });
        }
        Ok(offset as usize)
    }

    /// Decodes the entry header at `offset`.
    fn entry(&self, offset: usize) -> Result<Entry> {
        let data = &self.pack[..self.data_end];
        let bad = |what: &str| self.corrupt_pack(format!("entry at offset {offset}: {what}"));
        let mut pos = offset;
        let mut next = || -> Result<u8> {
            let b = *data
                .get(pos)
                .ok_or_else(|| bad("header runs past the end of the pack data"))?;
            pos += 1;
            Ok(b)
        };
        let mut c = next()?;
        let type_code = (c >> 4) & 7;
        let mut size = u64::from(c & 0x0f);
        let mut shift = 4u32;
        while c & 0x80 != 0 {
            c = next()?;
            let part = u64::from(c & 0x7f);
            if shift >= 64 || part > u64::MAX >> shift {
                return Err(bad("bad object header: size overflows"));
            }
            size |= part << shift;
            shift += 7;
        }
        let kind = match type_code {
            1 => EntryKind::Plain(ObjectKind::Commit),
            2 => EntryKind::Plain(ObjectKind::Tree),
            3 => EntryKind::Plain(ObjectKind::Blob),
            4 => EntryKind::Plain(ObjectKind::Tag),
            6 => {
                let mut c = next()?;
                let mut rel = u64::from(c & 0x7f);
                while c & 0x80 != 0 && rel < offset as u64 {
                    // Once `rel` reaches `offset` it is out of range, and more bytes only grow it.
                    c = next()?;
                    rel = ((rel + 1) << 7) | u64::from(c & 0x7f);
                }
                let room = offset.saturating_sub(PACK_HEADER) as u64;
                if rel == 0 || rel > room || c & 0x80 != 0 {
                    return Err(bad(&format!(
                        "OFS_DELTA base offset {rel} does not point before the entry"
                    )));
                }
                EntryKind::Ofs(offset - rel as usize)
            }
            7 => {
                let hs = self.hash.len();
                let raw = data
                    .get(pos..pos + hs)
                    .ok_or_else(|| bad("REF_DELTA base id runs past the end of the pack data"))?;
                pos += hs;
                // The length is right by construction.
                EntryKind::Ref(ObjectId::from_raw(self.hash, raw).ok_or_else(|| bad("bad id"))?)
            }
            t => return Err(bad(&format!("invalid object type {t}"))),
        };
        Ok(Entry {
            offset,
            kind,
            size,
            data_start: pos,
        })
    }

    /// Inflates an entry's zlib stream, which must inflate to exactly its header's size.
    fn inflate(&self, entry: &Entry) -> Result<Vec<u8>> {
        let at = entry.offset;
        let bad = |what: String| self.corrupt_pack(format!("entry at offset {at}: {what}"));
        let input = &self.pack[entry.data_start..self.data_end];
        self.check_size(entry)?;
        let size = entry.size;
        let size = usize::try_from(size).map_err(|_| bad(format!("size {size} does not fit in memory")))?;
        if let Some(data) = stored_blocks(input, size) {
            return Ok(data);
        }
        let mut out = vec![0u8; size];
        let mut spare = [0u8; 64];
        // One inflater per thread, reset per entry: creating one zeroes its whole window.
        thread_local! {
            static INFLATER: std::cell::RefCell<Decompress> = std::cell::RefCell::new(Decompress::new(true));
        }
        INFLATER.with(|cell| {
            let mut z = cell.borrow_mut();
            z.reset(true);
            self.inflate_with(&mut z, input, &mut out, &mut spare, size, &bad)
        })?;
        Ok(out)
    }

    /// An entry's declared size within the limits: at most [`MAX_OBJECT_SIZE`], and no more
    /// than what the rest of the pack could inflate to (a bomb's header is refused up front).
    fn check_size(&self, entry: &Entry) -> Result<()> {
        let at = entry.offset;
        let bad = |what: String| self.corrupt_pack(format!("entry at offset {at}: {what}"));
        let left = (self.data_end - entry.data_start) as u64;
        let size = entry.size;
        if size > MAX_OBJECT_SIZE {
            return Err(bad(format!(
                "size {size} exceeds the limit of {MAX_OBJECT_SIZE} bytes"
            )));
        }
        let plausible = left.saturating_mul(INFLATE_RATIO).saturating_add(INFLATE_SLACK);
        if size > plausible {
            return Err(bad(format!(
                "size {size} is more than the {left} bytes left in the pack can inflate to"
            )));
        }
        Ok(())
    }

    fn inflate_with(
        &self,
        z: &mut Decompress,
        input: &[u8],
        out: &mut [u8],
        spare: &mut [u8; 64],
        size: usize,
        bad: &dyn Fn(String) -> Error,
    ) -> Result<()> {
        loop {
            let (in_before, out_before) = (z.total_in() as usize, z.total_out() as usize);
            let dest: &mut [u8] = if out_before < size {
                &mut out[out_before..]
            } else {
                &mut spare[..]
            };
            let status = z
                .decompress(&input[in_before..], dest, FlushDecompress::Finish)
                .map_err(|e| bad(format!("zlib: {e}")))?;
            let produced = z.total_out() as usize - out_before;
            if out_before >= size && produced > 0 {
                return Err(bad(format!(
                    "inflates to more than the {size} bytes its header declares"
                )));
            }
            if status == Status::StreamEnd {
                break;
            }
            if produced == 0 && z.total_in() as usize == in_before {
                return Err(bad(format!(
                    "zlib stream is truncated after {} bytes ({} of {size} inflated)",
                    in_before,
                    z.total_out()
                )));
            }
        }
        let got = z.total_out();
        if got != size as u64 {
            return Err(bad(format!(
                "inflates to {got} bytes, its header declares {size}"
            )));
        }
        Ok(())
    }

    /// Counts entries by type code (for tests that check which encodings a pack exercises).
    #[cfg(test)]
    fn type_counts(&self) -> Result<[usize; 8]> {
        let mut counts = [0; 8];
        for pos in 0..self.bucket(0, 255).1 {
            let at = self.offset_at(pos)?;
            counts[((self.pack[at] >> 4) & 7) as usize] += 1;
        }
        Ok(counts)
    }
}

/// The data of a zlib stream of stored (uncompressed) blocks holding exactly `size` bytes
/// whose Adler-32 checks — how Canopy writes small objects and trees — read without an
/// inflater. `None` for anything else (left to zlib, which then reports what is wrong).
fn stored_blocks(input: &[u8], size: usize) -> Option<Vec<u8>> {
    let (&[cmf, flg], mut rest) = input.split_first_chunk::<2>()?;
    let header_ok = cmf & 0x0f == 8 && cmf >> 4 <= 7 && (u16::from(cmf) << 8 | u16::from(flg)) % 31 == 0;
    // No preset dictionary.
    if !header_ok || flg & 0x20 != 0 {
        return None;
    }
    let mut out: Option<Vec<u8>> = None;
    loop {
        let (&[block, l0, l1, n0, n1], after) = rest.split_first_chunk::<5>()?;
        // BTYPE 00 (stored), nothing in the padding bits; BFINAL on the last block.
        if block & !0x01 != 0 {
            return None;
        }
        let len = u16::from_le_bytes([l0, l1]);
        if u16::from_le_bytes([n0, n1]) != !len {
            return None;
        }
        let data = after.get(..usize::from(len))?;
        rest = &after[data.len()..];
        let last = block == 0x01;
        // One block (the usual case) is copied once; more are gathered.
        let done = out.as_ref().map_or(0, Vec::len) + data.len();
        if done > size || (last && done != size) {
            return None;
        }
        out.get_or_insert_with(|| Vec::with_capacity(size))
            .extend_from_slice(data);
        if last {
            break;
        }
    }
    let out = out.unwrap_or_default();
    let sum = rest.get(..4)?;
    (crate::backend::git::pack_write::adler32(&out).to_be_bytes() == sum).then_some(out)
}
