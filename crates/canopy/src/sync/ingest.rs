//! Receiving a pack: what `git index-pack --stdin --fix-thin --strict` does, in quarantine.
//!
//! The incoming stream is copied (up to a size limit) into
//! `objects/tmp_objdir-incoming-*/pack/tmp_pack_*`, then indexed from that file: every entry's
//! header, sizes, delta bases and zlib stream are bounds-checked; every object, plain or
//! rebuilt from its delta chain, is hashed (SHA-1 with collision detection, or SHA-256) and
//! checked ([`super::check`]: object syntax, tree entry names and order); the pack trailer is
//! verified and nothing may follow it. A thin pack's missing REF_DELTA bases are read from the
//! local store and appended as whole objects (count and trailer rewritten), so a thin pack is
//! never stored. The result is a `pack-<hash>.pack` + `.idx` *inside the quarantine*: no reader
//! of the repository sees any of it until [`Quarantine::install`] moves the `.pack` and then the
//! `.idx` into `objects/pack`. Dropping a quarantine that was not installed deletes it, so a
//! refused push leaves nothing behind.
//!
//! A store that is not a Git repository (in memory, or in a web page) keeps no files: the pack
//! is read into memory and every object, once checked, is held in a [`MemObjects`] until
//! installed through the store's backend.
//!
//! Memory: deltas are resolved depth-first from each base, holding only the chain being
//! rebuilt; plain objects are inflated one at a time. Sizes are capped before allocation.

use std::collections::{HashMap, HashSet};
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use flate2::{Compress, Compression, Decompress, FlushDecompress, Status};
use memmap2::Mmap;

use super::check::{check_object, Links};
use super::format::{apply_delta, deflate_into, entry_header, hash_object, write_idx};
use super::Error;
use crate::backend::git::GitObjects;
use crate::backend::mem::MemObjects;
use crate::backend::{self, ContentAddressable};
use crate::object::{HashKind, ObjectId, ObjectKind, RawObject};
use crate::Repo;

/// Deepest delta chain accepted (pack-objects never writes deeper).
const MAX_DELTA_DEPTH: usize = 4095;
/// Upper bound of deflate's compression ratio, plus slack for tiny streams.
const INFLATE_RATIO: u64 = 1032;
const INFLATE_SLACK: u64 = 64;

/// Bounds on what one incoming pack may make us store or allocate.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Largest pack accepted, in bytes.
    pub max_pack_bytes: u64,
    /// Largest object (or delta result) accepted, in bytes.
    pub max_object_bytes: u64,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            max_pack_bytes: 8 << 30,
            max_object_bytes: 1 << 30,
        }
    }
}

/// What the connectivity check may accept as missing.
#[derive(Debug, Clone, Default)]
pub struct Allowances {
    /// Commits whose parents the receiver does not have (shallow boundary).
    pub shallow: HashSet<ObjectId>,
    /// Blobs may be missing (a partial clone from a promisor remote).
    pub missing_blobs: bool,
}

/// Where a pack lives until it is checked and installed.
pub struct Quarantine {
    /// The quarantine directory (none for a store that is not a Git repository).
    dir: Option<PathBuf>,
    hash: HashKind,
    /// The indexed pack (absent for an empty pack, or one held in memory).
    pack: Option<PathBuf>,
    objects: Option<Held>,
    /// Every object of the pack: kind and links.
    index: HashMap<ObjectId, (ObjectKind, Links)>,
    installed: bool,
    /// Write a `.promisor` file beside the pack when installing.
    pub promisor: bool,
}

/// The checked objects of a quarantine.
enum Held {
    Pack(GitObjects),
    Memory(MemObjects),
}

impl Held {
    fn store(&self) -> &dyn ContentAddressable {
        match self {
            Held::Pack(p) => p,
            Held::Memory(m) => m,
        }
    }
}

static COUNTER: AtomicU64 = AtomicU64::new(0);

/// A fresh directory `<parent>/<prefix>XXXXXXXX`.
pub(crate) fn unique_dir(parent: &Path, prefix: &str) -> io::Result<PathBuf> {
    fs::create_dir_all(parent)?;
    loop {
        let nanos = u64::from(crate::platform::since_epoch().subsec_nanos());
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let tag = (u64::from(crate::platform::process_id()) << 32) ^ (n << 24) ^ nanos;
        let path = parent.join(format!("{prefix}{:08x}", tag & 0xffff_ffff));
        match fs::create_dir(&path) {
            Ok(()) => return Ok(path),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e),
        }
    }
}

fn io_at(path: &Path) -> impl FnOnce(io::Error) -> Error + '_ {
    move |e| Error::Io(io::Error::new(e.kind(), format!("{}: {e}", path.display())))
}

#[derive(Debug, Clone, Copy)]
enum EntryKind {
    Plain(ObjectKind),
    Ofs(u64),
    Ref(ObjectId),
}

#[derive(Debug)]
struct Entry {
    offset: u64,
    /// Where the zlib stream starts.
    data_start: u64,
    end: u64,
    size: u64,
    kind: EntryKind,
    crc: u32,
    /// Set once the object is known.
    id: Option<ObjectId>,
}

impl Quarantine {
    /// Reads a pack from `input` into a new quarantine of `repo` and indexes it (see the module
    /// documentation). Thin packs are completed from `repo`'s objects when `allow_thin`.
    pub fn receive(
        repo: &Repo,
        input: &mut dyn Read,
        limits: Limits,
        allow_thin: bool,
    ) -> Result<Quarantine, Error> {
        let hash = repo.hash_kind();
        let mut q = Quarantine {
            dir: None,
            hash,
            pack: None,
            objects: None,
            index: HashMap::new(),
            installed: false,
            promisor: false,
        };
        match repo.layout() {
            Some(l) => {
                let parent = l.git_dir.join("objects");
                let dir = unique_dir(&parent, "tmp_objdir-incoming-").map_err(io_at(&parent))?;
                q.dir = Some(dir.clone());
                q.ingest(&dir, repo, input, limits, allow_thin)?;
            }
            None => q.ingest_in_memory(repo, input, limits, allow_thin)?,
        }
        Ok(q)
    }

    /// [`ingest`](Self::ingest) for a store without files: the pack is read into memory and
    /// its objects kept as they are checked.
    fn ingest_in_memory(
        &mut self,
        repo: &Repo,
        input: &mut dyn Read,
        limits: Limits,
        allow_thin: bool,
    ) -> Result<(), Error> {
        let mut data = Vec::new();
        input
            .take(limits.max_pack_bytes + 1)
            .read_to_end(&mut data)
            .map_err(
                |e| match e.get_ref().and_then(|inner| inner.downcast_ref::<Error>()) {
                    Some(Error::Remote(m)) => Error::Remote(m.clone()),
                    _ => Error::Io(e),
                },
            )?;
        if data.len() as u64 > limits.max_pack_bytes {
            return Err(Error::Pack(format!(
                "pack exceeds the limit of {} bytes",
                limits.max_pack_bytes
            )));
        }
        if data.is_empty() {
            return Ok(());
        }
        let kept = MemObjects::new(self.hash);
        let mut indexer = Indexer {
            hash: self.hash,
            data: &data,
            limits,
            entries: Vec::new(),
            by_id: HashMap::new(),
            links: HashMap::new(),
            keep: Some(&kept),
        };
        indexer.parse()?;
        let thin = indexer.resolve(repo, allow_thin)?;
        self.index = indexer.links;
        // Thin bases are the store's own objects already: listed, not copied.
        for (id, kind) in &thin {
            self.index.entry(*id).or_insert((*kind, Vec::new()));
        }
        self.objects = Some(Held::Memory(kept));
        Ok(())
    }

    fn ingest(
        &mut self,
        dir: &Path,
        repo: &Repo,
        input: &mut dyn Read,
        limits: Limits,
        allow_thin: bool,
    ) -> Result<(), Error> {
        let pack_dir = dir.join("pack");
        fs::create_dir_all(&pack_dir).map_err(io_at(&pack_dir))?;
        let tmp = pack_dir.join("tmp_pack_incoming");
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .open(&tmp)
            .map_err(io_at(&tmp))?;
        let copied = io::copy(&mut input.take(limits.max_pack_bytes + 1), &mut file).map_err(|e| match e
            .get_ref()
            .and_then(|inner| inner.downcast_ref::<Error>())
        {
            Some(Error::Remote(m)) => Error::Remote(m.clone()),
            _ => Error::Io(e),
        })?;
        if copied > limits.max_pack_bytes {
            return Err(Error::Pack(format!(
                "pack exceeds the limit of {} bytes",
                limits.max_pack_bytes
            )));
        }
        if copied == 0 {
            // No pack at all (e.g. a fetch that needed no objects).
            let _ = fs::remove_file(&tmp);
            return Ok(());
        }
        // SAFETY: the file is private to this process (a fresh name in a fresh directory) and
        // not modified while mapped.
        let map = unsafe { Mmap::map(&file) }.map_err(io_at(&tmp))?;
        let mut indexer = Indexer {
            hash: self.hash,
            data: &map,
            limits,
            entries: Vec::new(),
            by_id: HashMap::new(),
            links: HashMap::new(),
            keep: None,
        };
        let entries_end = indexer.parse()?;
        let thin = indexer.resolve(repo, allow_thin)?;
        let Indexer {
            mut entries, links, ..
        } = indexer;
        drop(map);
        if entries.is_empty() && thin.is_empty() {
            let _ = fs::remove_file(&tmp);
            return Ok(());
        }
        let checksum = if thin.is_empty() {
            ObjectId::from_raw(
                self.hash,
                &read_trailer(&mut file, entries_end, self.hash).map_err(io_at(&tmp))?,
            )
            .ok_or_else(|| Error::Pack("bad trailer".into()))?
        } else {
            complete_thin(&mut file, entries_end, self.hash, repo, &thin, &mut entries).map_err(
                |e| match e {
                    Error::Io(io) => io_at(&tmp)(io),
                    other => other,
                },
            )?
        };
        file.sync_all().map_err(io_at(&tmp))?;
        drop(file);
        let mut idx_entries: Vec<(ObjectId, u64, u32)> = entries
            .iter()
            .filter_map(|e| Some((e.id?, e.offset, e.crc)))
            .collect();
        if idx_entries.len() != entries.len() {
            return Err(Error::Pack("internal error: an entry has no id".into()));
        }
        let idx = write_idx(self.hash, &mut idx_entries, &checksum);
        let stem = format!("pack-{}", checksum.to_hex());
        let pack_path = pack_dir.join(format!("{stem}.pack"));
        let idx_path = pack_dir.join(format!("{stem}.idx"));
        fs::rename(&tmp, &pack_path).map_err(io_at(&pack_path))?;
        let mut f = File::create(&idx_path).map_err(io_at(&idx_path))?;
        f.write_all(&idx)
            .and_then(|_| f.sync_all())
            .map_err(io_at(&idx_path))?;
        self.objects = Some(Held::Pack(GitObjects::open(dir, self.hash, false)?));
        self.pack = Some(pack_path);
        self.index = links;
        for (id, kind) in &thin {
            self.index.entry(*id).or_insert((*kind, Vec::new()));
        }
        Ok(())
    }

    /// How many objects the pack holds (thin bases included).
    pub fn len(&self) -> usize {
        self.index.len()
    }

    pub fn is_empty(&self) -> bool {
        self.index.is_empty()
    }

    /// Whether the pack holds `id`.
    pub fn contains(&self, id: &ObjectId) -> bool {
        self.index.contains_key(id)
    }

    /// The kind of an object in the pack.
    pub fn kind(&self, id: &ObjectId) -> Option<ObjectKind> {
        self.index.get(id).map(|(k, _)| *k)
    }

    /// Checks that everything reachable from `tips` is in the pack or already in `base`
    /// (objects of `base` are trusted to be complete), with the kinds their links require.
    pub fn check_connected(
        &self,
        base: &dyn ContentAddressable,
        tips: &[ObjectId],
        allow: &Allowances,
    ) -> Result<(), Error> {
        let mut seen: HashSet<ObjectId> = HashSet::new();
        let mut stack: Vec<(ObjectId, Option<ObjectKind>, Option<ObjectId>)> =
            tips.iter().map(|t| (*t, None, None)).collect();
        while let Some((id, want, from)) = stack.pop() {
            if !seen.insert(id) {
                continue;
            }
            match self.index.get(&id) {
                Some((kind, links)) => {
                    if let Some(w) = want {
                        if w != *kind {
                            return Err(Error::BadObject {
                                id: from.unwrap_or(id),
                                reason: format!("links to {id} as a {w}, but it is a {kind}"),
                            });
                        }
                    }
                    let skip_parents = *kind == ObjectKind::Commit && allow.shallow.contains(&id);
                    for (l, lk) in links {
                        if skip_parents && *lk == ObjectKind::Commit {
                            continue;
                        }
                        stack.push((*l, Some(*lk), Some(id)));
                    }
                }
                None => {
                    if want == Some(ObjectKind::Blob) && allow.missing_blobs {
                        continue;
                    }
                    if !base.contains(&id)? {
                        return Err(Error::MissingObjects(match from {
                            Some(f) => format!("{id} (linked from {f})"),
                            None => id.to_string(),
                        }));
                    }
                }
            }
        }
        Ok(())
    }

    /// The pack's objects over `base`, for reading before they are installed.
    pub fn overlay<'a>(&'a self, base: &'a dyn ContentAddressable) -> Overlay<'a> {
        Overlay {
            quarantine: self.objects.as_ref().map(Held::store),
            base,
        }
    }

    /// Makes the objects part of `repo`: `.promisor` (if any), `.pack`, then `.idx` last into
    /// `objects/pack` (fsynced), or, for a store that is not a Git repository, each object
    /// written through its backend. The quarantine directory is removed.
    pub fn install(self, repo: &Repo) -> Result<(), Error> {
        self.install_kept(repo).map(drop)
    }

    /// [`install`](Self::install), with a `.keep` file written before the `.pack` and kept
    /// until the returned guard is dropped (once the references name the new objects), so a
    /// concurrent `git gc`/`repack` cannot drop them in between, as receive-pack does.
    pub fn install_kept(mut self, repo: &Repo) -> Result<Option<KeepFile>, Error> {
        let mut keep = None;
        match (self.pack.clone(), repo.layout()) {
            (None, _) if self.objects.is_none() => {}
            (Some(pack), Some(layout)) => {
                let dest = layout.git_dir.join("objects").join("pack");
                fs::create_dir_all(&dest).map_err(io_at(&dest))?;
                let stem = pack.file_stem().map(|s| s.to_os_string()).unwrap_or_default();
                let name = |ext: &str| {
                    let mut n = stem.clone();
                    n.push(ext);
                    n
                };
                let src_idx = pack.with_extension("idx");
                let dst_pack = dest.join(name(".pack"));
                let dst_idx = dest.join(name(".idx"));
                let keep_path = dest.join(name(".keep"));
                if !keep_path.exists() {
                    let text = format!("receive-pack {} on canopy\n", crate::platform::process_id());
                    fs::write(&keep_path, text).map_err(io_at(&keep_path))?;
                    keep = Some(KeepFile(keep_path));
                }
                if self.promisor {
                    let p = dest.join(name(".promisor"));
                    fs::write(&p, b"").map_err(io_at(&p))?;
                }
                if !(dst_pack.exists() && dst_idx.exists()) {
                    fs::rename(&pack, &dst_pack).map_err(io_at(&dst_pack))?;
                    fs::rename(&src_idx, &dst_idx).map_err(io_at(&dst_idx))?;
                }
                if layout.fsync {
                    File::open(&dest)
                        .and_then(|d| d.sync_all())
                        .map_err(io_at(&dest))?;
                }
                // Make the new pack visible to this process's readers at once.
                let _ = repo.objects().contains(&repo.hash_kind().null_id());
            }
            _ => {
                let Some(objects) = self.objects.as_ref().map(Held::store) else {
                    return Ok(None);
                };
                let mut batch = repo.objects().begin_batch()?;
                for id in self.index.keys() {
                    match objects.read(id)? {
                        Some(obj) => {
                            batch.add(obj.kind, &obj.data)?;
                        }
                        // A thin base: the store's own.
                        None if repo.objects().contains(id)? => {}
                        None => return Err(backend::Error::MissingObject { id: *id }.into()),
                    };
                }
                batch.finish()?;
            }
        }
        self.installed = true;
        Ok(keep)
    }

    /// Every object id in the pack.
    pub fn ids(&self) -> impl Iterator<Item = &ObjectId> {
        self.index.keys()
    }
}

impl Drop for Quarantine {
    fn drop(&mut self) {
        // Installed or not, the directory goes: after install it holds nothing of value.
        self.objects = None;
        if let Some(dir) = &self.dir {
            let _ = fs::remove_dir_all(dir);
        }
        let _ = self.installed;
    }
}

/// A pack's `.keep` file, removed when dropped.
#[derive(Debug)]
pub struct KeepFile(PathBuf);

impl Drop for KeepFile {
    fn drop(&mut self) {
        let _ = fs::remove_file(&self.0);
    }
}

/// The quarantined objects over the repository's, as one read-only store. Writes go to the
/// repository (they are made after the checks passed, e.g. merge commits).
pub struct Overlay<'a> {
    quarantine: Option<&'a dyn ContentAddressable>,
    base: &'a dyn ContentAddressable,
}

impl ContentAddressable for Overlay<'_> {
    fn hash_kind(&self) -> HashKind {
        self.base.hash_kind()
    }

    fn read(&self, id: &ObjectId) -> backend::Result<Option<RawObject>> {
        if let Some(q) = self.quarantine {
            if let Some(o) = q.read(id)? {
                return Ok(Some(o));
            }
        }
        self.base.read(id)
    }

    fn contains(&self, id: &ObjectId) -> backend::Result<bool> {
        if let Some(q) = self.quarantine {
            if q.contains(id)? {
                return Ok(true);
            }
        }
        self.base.contains(id)
    }

    fn write(&self, kind: ObjectKind, data: &[u8]) -> backend::Result<ObjectId> {
        self.base.write(kind, data)
    }

    fn flush(&self) -> backend::Result<()> {
        self.base.flush()
    }

    fn ids_with_prefix(&self, prefix: &str) -> backend::Result<Vec<ObjectId>> {
        self.base.ids_with_prefix(prefix)
    }
}

struct Indexer<'a> {
    hash: HashKind,
    data: &'a [u8],
    limits: Limits,
    entries: Vec<Entry>,
    by_id: HashMap<ObjectId, usize>,
    links: HashMap<ObjectId, (ObjectKind, Links)>,
    /// Where checked objects are kept, for a quarantine held in memory.
    keep: Option<&'a MemObjects>,
}

impl Indexer<'_> {
    fn corrupt(&self, at: u64, reason: impl std::fmt::Display) -> Error {
        Error::Pack(format!("at byte {at}: {reason}"))
    }

    /// Parses every entry; plain objects are hashed and checked now. Returns where the entries
    /// end (the trailer's offset).
    fn parse(&mut self) -> Result<u64, Error> {
        let data = self.data;
        let hs = self.hash.len();
        if data.len() < 12 + hs {
            return Err(Error::Pack(format!("truncated pack: {} bytes", data.len())));
        }
        if &data[..4] != b"PACK" {
            return Err(Error::Pack("not a pack (no PACK signature)".into()));
        }
        let version = u32::from_be_bytes([data[4], data[5], data[6], data[7]]);
        if version != 2 && version != 3 {
            return Err(Error::Pack(format!("unsupported pack version {version}")));
        }
        let count = u32::from_be_bytes([data[8], data[9], data[10], data[11]]) as usize;
        // Every entry takes at least a header byte and a minimal zlib stream (8 bytes).
        if count > data.len() / 9 {
            return Err(Error::Pack(format!(
                "pack claims {count} objects in {} bytes",
                data.len()
            )));
        }
        self.entries.reserve(count);
        let mut pos = 12u64;
        for _ in 0..count {
            let entry = self.parse_entry(pos)?;
            pos = entry.end;
            self.entries.push(entry);
        }
        let end = pos as usize;
        if end + hs > data.len() {
            return Err(Error::Pack(format!(
                "truncated pack: the trailer at byte {end} is missing"
            )));
        }
        let mut h = self.hash.hasher();
        h.update(&data[..end]);
        if h.finish().as_bytes() != &data[end..end + hs] {
            return Err(Error::Pack(
                "pack checksum mismatch (corrupt or truncated pack)".into(),
            ));
        }
        if end + hs != data.len() {
            return Err(Error::Pack(format!(
                "{} bytes of garbage after the pack trailer",
                data.len() - end - hs
            )));
        }
        Ok(pos)
    }

    fn parse_entry(&mut self, offset: u64) -> Result<Entry, Error> {
        let data = self.data;
        let hs = self.hash.len();
        let mut pos = offset as usize;
        let byte = |pos: usize| -> Result<u8, Error> {
            data.get(pos)
                .copied()
                .filter(|_| pos + hs <= data.len())
                .ok_or_else(|| {
                    Error::Pack(format!(
                        "truncated pack: entry at byte {offset} runs past the end"
                    ))
                })
        };
        let mut c = byte(pos)?;
        pos += 1;
        let type_code = (c >> 4) & 7;
        let mut size = u64::from(c & 15);
        let mut shift = 4u32;
        while c & 0x80 != 0 {
            c = byte(pos)?;
            pos += 1;
            if shift > 57 {
                return Err(self.corrupt(offset, "bad object header (size overflows)"));
            }
            size |= u64::from(c & 0x7f) << shift;
            shift += 7;
        }
        let kind = match type_code {
            1 => EntryKind::Plain(ObjectKind::Commit),
            2 => EntryKind::Plain(ObjectKind::Tree),
            3 => EntryKind::Plain(ObjectKind::Blob),
            4 => EntryKind::Plain(ObjectKind::Tag),
            6 => {
                let mut b = byte(pos)?;
                pos += 1;
                let mut off = u64::from(b & 0x7f);
                while b & 0x80 != 0 {
                    b = byte(pos)?;
                    pos += 1;
                    off = off
                        .checked_add(1)
                        .and_then(|o| o.checked_mul(128))
                        .map(|o| o | u64::from(b & 0x7f))
                        .ok_or_else(|| self.corrupt(offset, "delta base offset overflows"))?;
                }
                if off == 0 || off > offset - 12 {
                    return Err(
                        self.corrupt(offset, format!("delta base offset {off} points outside the pack"))
                    );
                }
                EntryKind::Ofs(offset - off)
            }
            7 => {
                let raw = data.get(pos..pos + hs).ok_or_else(|| {
                    Error::Pack(format!(
                        "truncated pack: entry at byte {offset} runs past the end"
                    ))
                })?;
                pos += hs;
                EntryKind::Ref(
                    ObjectId::from_raw(self.hash, raw).ok_or_else(|| self.corrupt(offset, "bad base id"))?,
                )
            }
            t => return Err(self.corrupt(offset, format!("invalid object type {t}"))),
        };
        let data_start = pos as u64;
        let (inflated, consumed) = self.inflate_at(offset, data_start, size)?;
        let end = data_start + consumed;
        let crc = crc32fast::hash(&data[offset as usize..end as usize]);
        let mut entry = Entry {
            offset,
            data_start,
            end,
            size,
            kind,
            crc,
            id: None,
        };
        if let EntryKind::Plain(k) = kind {
            let id = self.record(offset, k, &inflated)?;
            entry.id = Some(id);
            self.by_id.insert(id, self.entries.len());
        }
        Ok(entry)
    }

    /// Inflates the zlib stream at `start`, which must produce exactly `size` bytes; returns the
    /// bytes and how many input bytes the stream took.
    fn inflate_at(&self, entry: u64, start: u64, size: u64) -> Result<(Vec<u8>, u64), Error> {
        let hs = self.hash.len();
        let avail_end = self.data.len().saturating_sub(hs);
        let input = self.data.get(start as usize..avail_end).unwrap_or(&[]);
        if size > self.limits.max_object_bytes {
            return Err(self.corrupt(
                entry,
                format!(
                    "object of {size} bytes exceeds the limit of {}",
                    self.limits.max_object_bytes
                ),
            ));
        }
        if size > (input.len() as u64).saturating_mul(INFLATE_RATIO) + INFLATE_SLACK {
            return Err(self.corrupt(
                entry,
                format!(
                    "object claims {size} bytes, more than the remaining {} bytes of pack can hold",
                    input.len()
                ),
            ));
        }
        let size = usize::try_from(size).map_err(|_| self.corrupt(entry, "object too large"))?;
        let mut out = Vec::with_capacity(size);
        let mut z = Decompress::new(true);
        let mut spare = [0u8; 1];
        loop {
            let before_in = z.total_in();
            let before_out = z.total_out();
            let status = if out.len() < size {
                z.decompress_vec(&input[z.total_in() as usize..], &mut out, FlushDecompress::None)
            } else {
                // Output is complete: the stream must end without producing more.
                let r = z.decompress(&input[z.total_in() as usize..], &mut spare, FlushDecompress::None);
                if z.total_out() > before_out {
                    return Err(self.corrupt(
                        entry,
                        format!("object inflates to more than its declared {size} bytes"),
                    ));
                }
                r
            }
            .map_err(|e| self.corrupt(entry, format!("zlib: {e}")))?;
            match status {
                Status::StreamEnd => break,
                _ if z.total_in() == before_in && z.total_out() == before_out => {
                    if z.total_in() as usize >= input.len() {
                        return Err(Error::Pack(format!(
                            "truncated pack: entry at byte {entry} is cut short"
                        )));
                    }
                    return Err(self.corrupt(entry, "zlib stream makes no progress"));
                }
                _ => {}
            }
        }
        if out.len() != size {
            return Err(self.corrupt(
                entry,
                format!("object inflates to {} bytes, its header says {size}", out.len()),
            ));
        }
        Ok((out, z.total_in()))
    }

    /// Hashes and checks one object; refuses a second copy of an id.
    fn record(&mut self, at: u64, kind: ObjectKind, data: &[u8]) -> Result<ObjectId, Error> {
        let id = hash_object(self.hash, kind, data).map_err(|e| self.corrupt(at, e))?;
        let links = check_object(self.hash, kind, data).map_err(|reason| Error::BadObject { id, reason })?;
        if self.links.insert(id, (kind, links)).is_some() {
            return Err(self.corrupt(at, format!("object {id} appears twice in the pack")));
        }
        if let Some(keep) = self.keep {
            keep.write(kind, data)?;
        }
        Ok(id)
    }

    /// Rebuilds every delta. Returns the thin bases taken from `repo` (to append to the pack).
    fn resolve(&mut self, repo: &Repo, allow_thin: bool) -> Result<Vec<(ObjectId, ObjectKind)>, Error> {
        let mut ofs_children: HashMap<u64, Vec<usize>> = HashMap::new();
        let mut ref_children: HashMap<ObjectId, Vec<usize>> = HashMap::new();
        let mut deltas = 0usize;
        for (i, e) in self.entries.iter().enumerate() {
            match e.kind {
                EntryKind::Plain(_) => {}
                EntryKind::Ofs(base) => {
                    deltas += 1;
                    ofs_children.entry(base).or_default().push(i);
                }
                EntryKind::Ref(base) => {
                    deltas += 1;
                    ref_children.entry(base).or_default().push(i);
                }
            }
        }
        if deltas == 0 {
            return Ok(Vec::new());
        }
        let mut resolved = 0usize;
        let roots: Vec<usize> = (0..self.entries.len())
            .filter(|&i| matches!(self.entries[i].kind, EntryKind::Plain(_)))
            .collect();
        for i in roots {
            let has_children = ofs_children.contains_key(&self.entries[i].offset)
                || self.entries[i]
                    .id
                    .is_some_and(|id| ref_children.contains_key(&id));
            if !has_children {
                continue;
            }
            let EntryKind::Plain(kind) = self.entries[i].kind else {
                continue;
            };
            let e = &self.entries[i];
            let (data, _) = self.inflate_at(e.offset, e.data_start, e.size)?;
            let id = e.id;
            resolved += self.resolve_tree(Some(i), id, kind, data, &mut ofs_children, &mut ref_children)?;
        }
        let mut thin = Vec::new();
        let mut bases: Vec<ObjectId> = ref_children.keys().copied().collect();
        bases.sort();
        for base in bases {
            if !ref_children.contains_key(&base) {
                continue;
            }
            if !allow_thin {
                break;
            }
            let Some(obj) = repo.objects().read(&base)? else {
                continue;
            };
            thin.push((base, obj.kind));
            resolved += self.resolve_tree(
                None,
                Some(base),
                obj.kind,
                obj.data,
                &mut ofs_children,
                &mut ref_children,
            )?;
        }
        if resolved < deltas {
            let missing: Vec<String> = ref_children.keys().take(3).map(|k| k.to_string()).collect();
            return Err(Error::Pack(format!(
                "pack has {} unresolved deltas{}",
                deltas - resolved,
                if missing.is_empty() {
                    String::new()
                } else {
                    format!(" (missing bases such as {})", missing.join(", "))
                }
            )));
        }
        Ok(thin)
    }

    /// Resolves every delta based (directly or not) on one object, depth first.
    fn resolve_tree(
        &mut self,
        root: Option<usize>,
        root_id: Option<ObjectId>,
        kind: ObjectKind,
        data: Vec<u8>,
        ofs_children: &mut HashMap<u64, Vec<usize>>,
        ref_children: &mut HashMap<ObjectId, Vec<usize>>,
    ) -> Result<usize, Error> {
        struct Frame {
            kind: ObjectKind,
            data: Vec<u8>,
            children: Vec<usize>,
        }
        let children_of = |idx: Option<usize>,
                           id: Option<ObjectId>,
                           entries: &[Entry],
                           ofs: &mut HashMap<u64, Vec<usize>>,
                           refs: &mut HashMap<ObjectId, Vec<usize>>| {
            let mut c = idx
                .and_then(|i| ofs.remove(&entries[i].offset))
                .unwrap_or_default();
            if let Some(id) = id {
                c.extend(refs.remove(&id).unwrap_or_default());
            }
            c
        };
        let mut count = 0;
        let first = children_of(root, root_id, &self.entries, ofs_children, ref_children);
        let mut stack = vec![Frame {
            kind,
            data,
            children: first,
        }];
        while let Some(top) = stack.last_mut() {
            let Some(child) = top.children.pop() else {
                stack.pop();
                continue;
            };
            let e = &self.entries[child];
            let (offset, data_start, size) = (e.offset, e.data_start, e.size);
            let (delta, _) = self.inflate_at(offset, data_start, size)?;
            let top = stack.last().ok_or_else(|| Error::Pack("internal error".into()))?;
            let result = apply_delta(&top.data, &delta, self.limits.max_object_bytes)
                .map_err(|e| self.corrupt(offset, format!("delta: {e}")))?;
            let kind = top.kind;
            let id = self.record(offset, kind, &result)?;
            self.entries[child].id = Some(id);
            self.by_id.insert(id, child);
            count += 1;
            if stack.len() > MAX_DELTA_DEPTH {
                return Err(self.corrupt(offset, format!("delta chain deeper than {MAX_DELTA_DEPTH}")));
            }
            let children = children_of(Some(child), Some(id), &self.entries, ofs_children, ref_children);
            if !children.is_empty() {
                stack.push(Frame {
                    kind,
                    data: result,
                    children,
                });
            }
        }
        Ok(count)
    }
}

fn read_trailer(file: &mut File, at: u64, hash: HashKind) -> io::Result<Vec<u8>> {
    let mut buf = vec![0u8; hash.len()];
    file.seek(SeekFrom::Start(at))?;
    file.read_exact(&mut buf)?;
    Ok(buf)
}

/// Appends the thin bases as whole objects, rewrites the count and the trailer (what
/// `index-pack --fix-thin` does). Returns the new checksum.
fn complete_thin(
    file: &mut File,
    entries_end: u64,
    hash: HashKind,
    repo: &Repo,
    thin: &[(ObjectId, ObjectKind)],
    entries: &mut Vec<Entry>,
) -> Result<ObjectId, Error> {
    file.set_len(entries_end)?;
    file.seek(SeekFrom::Start(entries_end))?;
    let mut pos = entries_end;
    let mut z = Compress::new(Compression::fast(), true);
    for (id, _) in thin {
        let obj = repo
            .objects()
            .read(id)?
            .ok_or(backend::Error::MissingObject { id: *id })?;
        let mut buf = Vec::new();
        entry_header(obj.kind, obj.data.len() as u64, &mut buf);
        deflate_into(&mut z, &obj.data, &mut buf)?;
        file.write_all(&buf)?;
        entries.push(Entry {
            offset: pos,
            data_start: pos,
            end: pos + buf.len() as u64,
            size: obj.data.len() as u64,
            kind: EntryKind::Plain(obj.kind),
            crc: crc32fast::hash(&buf),
            id: Some(*id),
        });
        pos += buf.len() as u64;
    }
    let count = u32::try_from(entries.len()).map_err(|_| Error::Pack("too many objects".into()))?;
    file.seek(SeekFrom::Start(8))?;
    file.write_all(&count.to_be_bytes())?;
    file.seek(SeekFrom::Start(0))?;
    let mut h = hash.hasher();
    let mut buf = vec![0u8; 1 << 16];
    let mut left = pos;
    while left > 0 {
        let n = (buf.len() as u64).min(left) as usize;
        file.read_exact(&mut buf[..n])?;
        h.update(&buf[..n]);
        left -= n as u64;
    }
    let sum = h.finish();
    file.seek(SeekFrom::Start(pos))?;
    file.write_all(sum.as_bytes())?;
    Ok(sum)
}
