//! Writing pack files: many objects in one `objects/pack/pack-<hash>.pack` with its version 2
//! `.idx`, instead of one loose file per object.
//!
//! Objects are appended, each deflated on its own (no deltas), with a placeholder object count:
//! in memory while the pack is small (up to 1 MiB: a batch of commits), else streamed into
//! `objects/pack/tmp_pack_*`. [`PackWriter::finish`] patches the count, hashes the pack for the
//! trailer (a held pack is then written to its temporary file in one call; both files are
//! created read-only, as Git keeps them), writes the index (`tmp_idx_*`: fanout, sorted ids, CRC32 of each entry's raw
//! bytes, 31-bit offsets and the 64-bit table for larger ones, the pack trailer, its own hash),
//! fdatasyncs both when configured, then renames the `.pack` into place first and the `.idx` last —
//! Git and Canopy only see a pack once its index exists, so a reader never sees half a pack —
//! and fsyncs the directory. An unfinished writer (an error, a dropped handle) removes its
//! temporary file; a crash leaves a `tmp_pack_*` that `git prune` removes.
//!
//! An object added twice, or already in an installed pack, is written once (`git index-pack
//! --strict` refuses duplicates). Objects are not readable until `finish` returns.

use std::collections::HashMap;
use std::fs::{self, File};
use std::io::{self, BufWriter, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use flate2::{Compress, Compression, FlushCompress, Status};

use super::journal::{self, Journal};
use super::loose::{create_temp_with, fsync_dir, io_err};
use super::pack::PackSet;
use crate::backend::{Error, Result, WriteBatch};
use crate::object::{HashKind, IdHash, ObjectId, ObjectKind};

/// Offsets at or above this go to the index's 64-bit table (Git's threshold).
const LARGE_OFFSET: u64 = 0x8000_0000;
/// The pack format caps the object count at u32.
const MAX_OBJECTS: usize = u32::MAX as usize;
/// Objects up to this size are stored uncompressed (a zlib "stored" block): deflate would
/// save a few bytes at best, and resetting its state costs more than the rest of the write.
const STORED_MAX: usize = 192;
/// A batch with at least this many bytes to deflate is deflated on two threads.
const PARALLEL_DEFLATE: usize = 256 * 1024;

/// A pack file being written. Create one with [`super::GitObjects::begin_pack`] (or
/// [`PackWriter::create`] for a bare directory), [`add`](PackWriter::add) objects, then
/// [`finish`](PackWriter::finish).
pub struct PackWriter<'a> {
    pack_dir: PathBuf,
    hash: HashKind,
    fsync: bool,
    /// Installed packs: objects they hold are not written again, and they rescan on finish.
    packs: Option<&'a PackSet>,
    /// Records the finished pack instead of syncing it, when it is small and this process owns
    /// the journal.
    journal: Option<&'a Journal>,
    /// Where the bytes go; `None` once finished.
    out: Option<Out>,
    offset: u64,
    /// (id, offset, crc32) of every entry, in pack order.
    entries: Vec<(ObjectId, u64, u32)>,
    /// Offset of every entry, by id.
    seen: HashMap<ObjectId, u64, IdHash>,
    deflate: Compress,
    scratch: Vec<u8>,
    /// Bytes of object content added (before compression).
    raw_bytes: u64,
    /// Whole trees are stored uncompressed (see [`PackWriter::trees_uncompressed`]).
    trees_stored: bool,
}

/// Where a pack's bytes go: memory while it is small (most batches: the file is then created,
/// written and hashed in one go when it is finished), a temporary file once it grows past
/// [`IN_MEMORY`].
enum Out {
    Memory(Vec<u8>),
    File { path: PathBuf, file: BufWriter<File> },
}

/// The largest pack held in memory until it is finished.
const IN_MEMORY: usize = 1 << 20;

/// What [`PackWriter::finish`] installed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PackInfo {
    /// `objects/pack/pack-<hex>.pack`.
    pub pack: PathBuf,
    /// `objects/pack/pack-<hex>.idx`.
    pub idx: PathBuf,
    /// The pack's trailer hash (its name).
    pub checksum: ObjectId,
    pub objects: usize,
    pub pack_bytes: u64,
}

impl<'a> PackWriter<'a> {
    /// Starts a pack in `pack_dir` (created if missing).
    pub fn create(pack_dir: &Path, hash: HashKind, fsync: bool) -> Result<PackWriter<'static>> {
        PackWriter::with_packs(pack_dir, hash, fsync, None)
    }

    pub(super) fn with_packs(
        pack_dir: &Path,
        hash: HashKind,
        fsync: bool,
        packs: Option<&'a PackSet>,
    ) -> Result<PackWriter<'a>> {
        // The count is patched in by `finish`.
        let header = [b'P', b'A', b'C', b'K', 0, 0, 0, 2, 0, 0, 0, 0];
        let mut buffer = Vec::with_capacity(4096);
        buffer.extend_from_slice(&header);
        Ok(PackWriter {
            pack_dir: pack_dir.to_path_buf(),
            hash,
            fsync,
            packs,
            journal: None,
            out: Some(Out::Memory(buffer)),
            offset: header.len() as u64,
            entries: Vec::new(),
            seen: HashMap::default(),
            deflate: Compress::new(Compression::fast(), true),
            scratch: Vec::new(),
            raw_bytes: 0,
            trees_stored: false,
        })
    }

    /// The same writer, storing whole trees uncompressed (zlib stored blocks), as the write
    /// path does. A tree is mostly object ids, which do not compress: deflate saves a fifth of
    /// its bytes (measured on the benchmark's directories: 17,424 bytes to 13,157) for most
    /// of the cost of writing it, and every read then pays to inflate it. `gc` repacks with
    /// trees deflated (and mostly as deltas).
    pub(super) fn trees_uncompressed(mut self) -> PackWriter<'a> {
        self.trees_stored = true;
        self
    }

    /// The same writer, recording the finished pack in `journal` (when it is small enough and
    /// this process owns the journal) instead of syncing the pack's files.
    pub(super) fn journaled(mut self, journal: Option<&'a Journal>) -> PackWriter<'a> {
        self.journal = journal;
        self
    }

    /// How many objects the pack holds so far.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Bytes written to the pack so far.
    pub fn bytes_written(&self) -> u64 {
        self.offset
    }

    /// Bytes of object content added so far (uncompressed).
    pub fn raw_bytes(&self) -> u64 {
        self.raw_bytes
    }

    /// Whether an object is stored uncompressed rather than deflated.
    fn stores(&self, kind: ObjectKind, data: &[u8]) -> bool {
        stores(self.trees_stored, kind, data)
    }

    /// Appends an object (unless it is already in this pack or an installed one) and returns
    /// its id.
    pub fn add(&mut self, kind: ObjectKind, data: &[u8]) -> Result<ObjectId> {
        self.add_known(ObjectId::for_object(self.hash, kind, data), kind, data)
    }

    /// [`add`](Self::add) for an object whose id the caller has computed.
    pub(super) fn add_known(&mut self, id: ObjectId, kind: ObjectKind, data: &[u8]) -> Result<ObjectId> {
        if self.seen.contains_key(&id) {
            return Ok(id);
        }
        if let Some(packs) = self.packs {
            if packs.contains(&id)? {
                return Ok(id);
            }
        }
        self.scratch.clear();
        entry_header(kind, data.len() as u64, &mut self.scratch);
        let stored = self.stores(kind, data);
        compress_into(&mut self.deflate, stored, data, &mut self.scratch)
            .map_err(|e| io_err(&self.file_path())(io::Error::other(e)))?;
        self.append_scratch(id)?;
        self.raw_bytes += data.len() as u64;
        Ok(id)
    }

    /// [`add_known`](Self::add_known) for many objects, in order. When there is much to
    /// deflate, half of it (by size) is deflated on a second thread while this one deflates the
    /// other half; the entries are then written in order.
    pub(super) fn add_batch(&mut self, objects: &[(ObjectId, ObjectKind, &[u8])]) -> Result<()> {
        let mut todo = Vec::with_capacity(objects.len());
        for &(id, kind, data) in objects {
            if self.seen.contains_key(&id) {
                continue;
            }
            if let Some(packs) = self.packs {
                if packs.contains(&id)? {
                    continue;
                }
            }
            todo.push((id, kind, data));
        }
        let deflated: usize = todo
            .iter()
            .filter(|t| !self.stores(t.1, t.2))
            .map(|t| t.2.len())
            .sum();
        if deflated < PARALLEL_DEFLATE || cfg!(target_arch = "wasm32") {
            for (id, kind, data) in todo {
                self.add_known(id, kind, data)?;
            }
            return Ok(());
        }
        let mut sum = 0;
        let split = todo
            .iter()
            .position(|t| {
                sum += t.2.len();
                sum * 2 >= deflated
            })
            .map_or(todo.len(), |i| i + 1);
        let (first, second) = todo.split_at(split);
        let trees_stored = self.trees_stored;
        let deflate_all = |z: &mut Compress, part: &[(ObjectId, ObjectKind, &[u8])]| {
            part.iter()
                .map(|&(_, kind, data)| {
                    let mut out = Vec::new();
                    compress_into(z, stores(trees_stored, kind, data), data, &mut out).map(|()| out)
                })
                .collect::<std::result::Result<Vec<_>, String>>()
        };
        let fresh = || Compress::new(Compression::fast(), true);
        let deflate = &mut self.deflate;
        let (a, b) = std::thread::scope(|s| {
            let other = std::thread::Builder::new().spawn_scoped(s, || deflate_all(&mut fresh(), second));
            let a = deflate_all(deflate, first);
            let b = match other {
                Ok(thread) => thread
                    .join()
                    .unwrap_or_else(|_| Err("the deflating thread panicked".into())),
                Err(_) => deflate_all(&mut fresh(), second),
            };
            (a, b)
        });
        let streams = a
            .and_then(|a| Ok(a.into_iter().chain(b?)))
            .map_err(|e| io_err(&self.file_path())(io::Error::other(e)))?;
        for (&(id, kind, data), zlib) in todo.iter().zip(streams) {
            if self.seen.contains_key(&id) {
                continue;
            }
            let mut head = Vec::with_capacity(16);
            entry_header(kind, data.len() as u64, &mut head);
            self.append(id, &head, Some(&zlib))?;
            self.raw_bytes += data.len() as u64;
        }
        Ok(())
    }

    /// Appends an object stored as a delta (`OFS_DELTA`) against `base`, an object already in
    /// this pack, and returns the object's id. `data` is the whole object (for its id); `delta`
    /// turns the base's content into it. Falls back to a whole entry if `base` is not here.
    pub fn add_delta(
        &mut self,
        kind: ObjectKind,
        data: &[u8],
        base: &ObjectId,
        delta: &[u8],
    ) -> Result<ObjectId> {
        let id = ObjectId::for_object(self.hash, kind, data);
        if self.seen.contains_key(&id) {
            return Ok(id);
        }
        let Some(&base_offset) = self.seen.get(base) else {
            return self.add(kind, data);
        };
        self.scratch.clear();
        entry_header_code(6, delta.len() as u64, &mut self.scratch);
        let dist = ofs_distance(self.offset - base_offset);
        self.scratch.extend_from_slice(&dist);
        compress_into(
            &mut self.deflate,
            delta.len() <= STORED_MAX,
            delta,
            &mut self.scratch,
        )
        .map_err(|e| io_err(&self.file_path())(io::Error::other(e)))?;
        self.append_scratch(id)?;
        self.raw_bytes += data.len() as u64;
        Ok(id)
    }

    /// Appends an entry copied byte for byte from another pack (a whole object or a
    /// REF_DELTA), unless `id` is here already.
    pub(super) fn copy_entry(&mut self, id: ObjectId, raw: &[u8]) -> Result<()> {
        if self.seen.contains_key(&id) {
            return Ok(());
        }
        self.append(id, raw, None)
    }

    /// Appends an OFS_DELTA entry copied from another pack: `size` and `zlib` as stored, the
    /// base an object already in this pack (else the entry becomes a REF_DELTA against it).
    pub(super) fn copy_ofs_delta(
        &mut self,
        id: ObjectId,
        size: u64,
        base: &ObjectId,
        zlib: &[u8],
    ) -> Result<()> {
        if self.seen.contains_key(&id) {
            return Ok(());
        }
        let mut head = Vec::with_capacity(32);
        match self.seen.get(base) {
            Some(&base_offset) => {
                entry_header_code(6, size, &mut head);
                head.extend_from_slice(&ofs_distance(self.offset - base_offset));
            }
            None => {
                entry_header_code(7, size, &mut head);
                head.extend_from_slice(base.as_bytes());
            }
        }
        self.append(id, &head, Some(zlib))
    }

    /// Writes the entry built in `scratch`.
    fn append_scratch(&mut self, id: ObjectId) -> Result<()> {
        let scratch = std::mem::take(&mut self.scratch);
        let result = self.append(id, &scratch, None);
        self.scratch = scratch;
        result
    }

    /// Writes `head` (and `rest`) as the entry for `id`.
    fn append(&mut self, id: ObjectId, head: &[u8], rest: Option<&[u8]>) -> Result<()> {
        if self.entries.len() >= MAX_OBJECTS {
            return Err(Error::Unsupported {
                path: self.file_path(),
                reason: format!("a pack holds at most {MAX_OBJECTS} objects"),
            });
        }
        let mut crc = crc32fast::Hasher::new();
        crc.update(head);
        let mut len = head.len() as u64;
        if let Some(rest) = rest {
            crc.update(rest);
            len += rest.len() as u64;
        }
        self.spill_if_over(len)?;
        let path = self.file_path();
        let written = match self.out.as_mut().ok_or_else(|| finished(&path))? {
            Out::Memory(buffer) => {
                buffer.extend_from_slice(head);
                buffer.extend_from_slice(rest.unwrap_or_default());
                Ok(())
            }
            Out::File { file, .. } => file
                .write_all(head)
                .and_then(|()| file.write_all(rest.unwrap_or_default())),
        };
        written.map_err(io_err(&path))?;
        self.entries.push((id, self.offset, crc.finalize()));
        self.seen.insert(id, self.offset);
        self.offset += len;
        Ok(())
    }

    /// Completes the pack and installs it (`.pack`, then `.idx`); the objects are readable when
    /// this returns. A writer with no objects installs nothing and returns `None`.
    pub fn finish(mut self) -> Result<Option<PackInfo>> {
        let out = self.out.take().ok_or_else(|| finished(&self.pack_dir))?;
        if self.entries.is_empty() {
            if let Out::File { path, file } = out {
                drop(file);
                let _ = fs::remove_file(&path);
            }
            return Ok(None);
        }
        let count = self.entries.len() as u32;
        // The whole pack, when it was small enough to be held.
        let mut whole = None;
        let (tmp, file, checksum) = match out {
            Out::Memory(mut buffer) => {
                buffer[8..12].copy_from_slice(&count.to_be_bytes());
                let mut h = self.hash.hasher();
                h.update(&buffer);
                let sum = h.finish();
                buffer.extend_from_slice(sum.as_bytes());
                let (tmp, mut file) = create_temp_with(&self.pack_dir, "tmp_pack_", true)?;
                if let Err(e) = file.write_all(&buffer) {
                    drop(file);
                    let _ = fs::remove_file(&tmp);
                    return Err(io_err(&tmp)(e));
                }
                whole = Some(buffer);
                (tmp, file, sum)
            }
            Out::File { path: tmp, file } => {
                let mut file = file.into_inner().map_err(|e| io_err(&tmp)(e.into_error()))?;
                let checksum = (|| -> io::Result<ObjectId> {
                    file.seek(SeekFrom::Start(8))?;
                    file.write_all(&count.to_be_bytes())?;
                    // The temporary file is write-only: hash it through a second handle.
                    let mut reader = File::open(&tmp)?;
                    let mut h = self.hash.hasher();
                    let mut buf = vec![0u8; 64 << 10];
                    loop {
                        let n = reader.read(&mut buf)?;
                        if n == 0 {
                            break;
                        }
                        h.update(&buf[..n]);
                    }
                    let sum = h.finish();
                    file.seek(SeekFrom::End(0))?;
                    file.write_all(sum.as_bytes())?;
                    Ok(sum)
                })()
                .map_err(io_err(&tmp))?;
                (tmp, file, checksum)
            }
        };
        let pack_bytes = self.offset + self.hash.len() as u64;

        // The index is written while the pack's data is synced, and synced beside it — or
        // neither is synced, and both are recorded in the journal once installed.
        let idx_bytes = self.index(&checksum);
        let journal = self
            .journal
            .filter(|j| self.fsync && pack_bytes <= journal::MAX_JOURNALED_PACK as u64 && j.is_owned());
        let fsync = self.fsync && journal.is_none();
        let pack_dir = &self.pack_dir;
        let (pack_synced, idx_written) = std::thread::scope(|s| {
            let pack_sync = fsync.then(|| s.spawn(move || file.sync_data()));
            let idx_written = create_temp_with(pack_dir, "tmp_idx_", true).and_then(
                |(idx_tmp, mut idx_file)| match idx_file.write_all(&idx_bytes).and_then(|_| {
                    if fsync {
                        idx_file.sync_data()
                    } else {
                        Ok(())
                    }
                }) {
                    Ok(()) => Ok(idx_tmp),
                    Err(e) => {
                        let _ = fs::remove_file(&idx_tmp);
                        Err(io_err(&idx_tmp)(e))
                    }
                },
            );
            let pack_synced = pack_sync.map_or(Ok(()), |h| {
                h.join()
                    .unwrap_or_else(|_| Err(io::Error::other("the sync thread panicked")))
            });
            (pack_synced, idx_written)
        });
        let idx_tmp = idx_written?;
        if let Err(e) = pack_synced {
            let _ = fs::remove_file(&idx_tmp);
            return Err(io_err(&tmp)(e));
        }

        let stem = format!("pack-{}", checksum.to_hex());
        let pack_path = self.pack_dir.join(format!("{stem}.pack"));
        let idx_path = self.pack_dir.join(format!("{stem}.idx"));
        let install = || -> Result<()> {
            // Created read-only where the platform allows it.
            #[cfg(not(unix))]
            for p in [&tmp, &idx_tmp] {
                set_readonly(p).map_err(io_err(p))?;
            }
            if pack_path.exists() && idx_path.exists() {
                // The same objects in the same order: the pack is installed already.
                let _ = fs::remove_file(&tmp);
                let _ = fs::remove_file(&idx_tmp);
                return Ok(());
            }
            fs::rename(&tmp, &pack_path).map_err(io_err(&pack_path))?;
            fs::rename(&idx_tmp, &idx_path).map_err(io_err(&idx_path))?;
            if fsync {
                fsync_dir(&self.pack_dir)?;
            }
            Ok(())
        };
        if let Err(e) = install() {
            let _ = fs::remove_file(&idx_tmp);
            return Err(e);
        }
        if let Some(journal) = journal {
            match &whole {
                Some(pack) => journal.append_pack(&stem, &idx_bytes, pack)?,
                None => {
                    let pack = fs::read(&pack_path).map_err(io_err(&pack_path))?;
                    journal.append_pack(&stem, &idx_bytes, &pack)?;
                }
            }
        }
        if let Some(packs) = self.packs {
            match whole {
                Some(pack) => packs.insert_held(&stem, idx_bytes, pack)?,
                None => packs.insert(&stem)?,
            }
        }
        Ok(Some(PackInfo {
            pack: pack_path,
            idx: idx_path,
            checksum,
            objects: self.entries.len(),
            pack_bytes,
        }))
    }

    /// The temporary file's path, or the pack directory while the pack is in memory.
    fn file_path(&self) -> PathBuf {
        match &self.out {
            Some(Out::File { path, .. }) => path.clone(),
            _ => self.pack_dir.clone(),
        }
    }

    /// Moves the pack to a temporary file if `more` bytes would take it past [`IN_MEMORY`].
    fn spill_if_over(&mut self, more: u64) -> Result<()> {
        let Some(Out::Memory(buffer)) = &self.out else {
            return Ok(());
        };
        if buffer.len() as u64 + more <= IN_MEMORY as u64 {
            return Ok(());
        }
        let (path, file) = create_temp_with(&self.pack_dir, "tmp_pack_", true)?;
        let mut file = BufWriter::with_capacity(1 << 20, file);
        if let Err(e) = file.write_all(buffer) {
            drop(file);
            let _ = fs::remove_file(&path);
            return Err(io_err(&path)(e));
        }
        self.out = Some(Out::File { path, file });
        Ok(())
    }

    /// The `.idx` v2 content for the entries written.
    fn index(&mut self, pack_checksum: &ObjectId) -> Vec<u8> {
        index_bytes(self.hash, &mut self.entries, pack_checksum)
    }
}

impl Drop for PackWriter<'_> {
    fn drop(&mut self) {
        // Not finished: abandon the temporary file.
        if let Some(Out::File { path, file }) = self.out.take() {
            drop(file);
            let _ = fs::remove_file(&path);
        }
    }
}

impl WriteBatch for PackWriter<'_> {
    fn add(&mut self, kind: ObjectKind, data: &[u8]) -> Result<ObjectId> {
        PackWriter::add(self, kind, data)
    }

    fn finish(self: Box<Self>) -> Result<()> {
        PackWriter::finish(*self).map(|_| ())
    }
}

/// The distance back to an OFS_DELTA's base, in Git's offset encoding (each continuation byte
/// adds one).
pub(crate) fn ofs_distance(mut dist: u64) -> Vec<u8> {
    let mut enc = vec![(dist & 0x7f) as u8];
    dist >>= 7;
    while dist != 0 {
        dist -= 1;
        enc.push(0x80 | (dist & 0x7f) as u8);
        dist >>= 7;
    }
    enc.reverse();
    enc
}

/// The `.idx` v2 bytes for `entries` (id, offset, CRC32 of the entry), which get sorted by id:
/// fanout, ids, CRCs, 31-bit offsets and the 64-bit table for larger ones, the pack's checksum
/// and the index's own.
pub(crate) fn index_bytes(
    hash: HashKind,
    entries: &mut [(ObjectId, u64, u32)],
    pack_checksum: &ObjectId,
) -> Vec<u8> {
    entries.sort_unstable_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
    let n = entries.len();
    let hs = hash.len();
    let mut out = Vec::with_capacity(8 + 1024 + n * (hs + 8) + 2 * hs);
    out.extend_from_slice(b"\xfftOc");
    out.extend_from_slice(&2u32.to_be_bytes());
    let mut fanout = [0u32; 256];
    for (id, _, _) in entries.iter() {
        fanout[id.as_bytes()[0] as usize] += 1;
    }
    let mut total = 0u32;
    for f in fanout {
        total += f;
        out.extend_from_slice(&total.to_be_bytes());
    }
    for (id, _, _) in entries.iter() {
        out.extend_from_slice(id.as_bytes());
    }
    for (_, _, crc) in entries.iter() {
        out.extend_from_slice(&crc.to_be_bytes());
    }
    let mut large = Vec::new();
    for (_, offset, _) in entries.iter() {
        if *offset < LARGE_OFFSET {
            out.extend_from_slice(&(*offset as u32).to_be_bytes());
        } else {
            out.extend_from_slice(&(0x8000_0000 | large.len() as u32).to_be_bytes());
            large.push(*offset);
        }
    }
    for offset in large {
        out.extend_from_slice(&offset.to_be_bytes());
    }
    out.extend_from_slice(pack_checksum.as_bytes());
    let mut h = hash.hasher();
    h.update(&out);
    out.extend_from_slice(h.finish().as_bytes());
    out
}

fn finished(path: &Path) -> Error {
    Error::Io {
        path: path.to_path_buf(),
        source: io::Error::other("pack writer used after finish"),
    }
}

#[cfg(not(unix))]
fn set_readonly(path: &Path) -> io::Result<()> {
    let mut perms = fs::metadata(path)?.permissions();
    perms.set_readonly(true);
    fs::set_permissions(path, perms)
}

/// Appends a pack entry header: type and size, 4 bits then 7 bits per byte.
pub(crate) fn entry_header(kind: ObjectKind, size: u64, out: &mut Vec<u8>) {
    let code: u8 = match kind {
        ObjectKind::Commit => 1,
        ObjectKind::Tree => 2,
        ObjectKind::Blob => 3,
        ObjectKind::Tag => 4,
    };
    entry_header_code(code, size, out);
}

/// Appends a pack entry header for a type code (6 = `OFS_DELTA`, 7 = `REF_DELTA`).
pub(crate) fn entry_header_code(code: u8, size: u64, out: &mut Vec<u8>) {
    let mut c = (code << 4) | (size & 0x0f) as u8;
    let mut rest = size >> 4;
    while rest != 0 {
        out.push(c | 0x80);
        c = (rest & 0x7f) as u8;
        rest >>= 7;
    }
    out.push(c);
}

/// Appends `data` as one zlib stream: stored as is (`stored`), else deflated.
fn compress_into(
    z: &mut Compress,
    stored: bool,
    data: &[u8],
    out: &mut Vec<u8>,
) -> std::result::Result<(), String> {
    if stored {
        stored_zlib(data, out);
        Ok(())
    } else {
        deflate_into(z, data, out)
    }
}

/// Whether an object is stored uncompressed: small ones, and trees when `trees_stored`.
fn stores(trees_stored: bool, kind: ObjectKind, data: &[u8]) -> bool {
    data.len() <= STORED_MAX || (trees_stored && kind == ObjectKind::Tree)
}

/// The most bytes one stored block holds.
const STORED_BLOCK: usize = 0xffff;

/// Appends `data` as a zlib stream of stored blocks: header, then each block (its header
/// byte, length and the length's complement, at most 65,535 bytes), then the Adler-32.
pub(crate) fn stored_zlib(data: &[u8], out: &mut Vec<u8>) {
    // CMF 0x78 (deflate, 32K window), FLG 0x01 (0x7801 is a multiple of 31).
    out.reserve(data.len() + 6 + 5 * (data.len() / STORED_BLOCK + 1));
    out.extend_from_slice(&[0x78, 0x01]);
    let mut rest = data;
    loop {
        let (block, after) = rest.split_at(rest.len().min(STORED_BLOCK));
        let len = block.len() as u16;
        // BFINAL on the last block; BTYPE=00 (stored), padded to the byte.
        out.push(u8::from(after.is_empty()));
        out.extend_from_slice(&len.to_le_bytes());
        out.extend_from_slice(&(!len).to_le_bytes());
        out.extend_from_slice(block);
        if after.is_empty() {
            break;
        }
        rest = after;
    }
    out.extend_from_slice(&adler32(data).to_be_bytes());
}

pub(crate) fn adler32(data: &[u8]) -> u32 {
    zlib_rs::adler32::adler32(1, data)
}

fn deflate_into(z: &mut Compress, data: &[u8], out: &mut Vec<u8>) -> std::result::Result<(), String> {
    z.reset();
    out.reserve(data.len() / 2 + 64);
    loop {
        let consumed = z.total_in() as usize;
        if out.len() == out.capacity() {
            out.reserve(out.capacity().max(64));
        }
        let status = z
            .compress_vec(&data[consumed..], out, FlushCompress::Finish)
            .map_err(|e| format!("deflate: {e}"))?;
        if status == Status::StreamEnd {
            return Ok(());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::ContentAddressable;

    #[test]
    fn headers_encode_type_and_size() {
        let mut v = Vec::new();
        entry_header(ObjectKind::Blob, 5, &mut v);
        assert_eq!(v, [0x35]);
        v.clear();
        entry_header(ObjectKind::Commit, 0x1234, &mut v);
        // low 4 bits 0x4, then 0x123 in 7-bit groups: 0x23, 0x02.
        assert_eq!(v, [0x80 | 0x10 | 0x4, 0x80 | 0x23, 0x02]);
    }

    #[test]
    fn written_pack_reads_back_and_empty_writer_installs_nothing() {
        let tmp = tempfile::tempdir().unwrap();
        let objects = tmp.path().join("objects");
        let store = super::super::GitObjects::open(&objects, HashKind::Sha1, false).unwrap();
        let w = store.begin_pack().unwrap();
        assert!(w.finish().unwrap().is_none());
        let files = |dir: &Path| fs::read_dir(dir).map_or(0, |d| d.count());
        assert_eq!(
            files(&objects.join("pack")),
            0,
            "nothing written, not even a temporary file"
        );

        let mut w = store.begin_pack().unwrap();
        let big: Vec<u8> = (0..200_000u32).flat_map(|i| i.to_le_bytes()).collect();
        let a = w.add(ObjectKind::Blob, b"hello\n").unwrap();
        let b = w.add(ObjectKind::Blob, &big).unwrap();
        assert_eq!(w.add(ObjectKind::Blob, b"hello\n").unwrap(), a);
        assert_eq!(w.len(), 2);
        assert!(store.read(&a).unwrap().is_none(), "not visible before finish");
        let info = w.finish().unwrap().unwrap();
        assert_eq!(info.objects, 2);
        assert_eq!(store.read(&a).unwrap().unwrap().data, b"hello\n");
        assert_eq!(store.read(&b).unwrap().unwrap().data, big);
        // Already packed: a second pack does not repeat it.
        let mut w = store.begin_pack().unwrap();
        w.add(ObjectKind::Blob, b"hello\n").unwrap();
        assert!(w.finish().unwrap().is_none());
    }

    /// A batch large enough to be deflated on two threads: every object reads back, in a pack
    /// `git` accepts, duplicates and objects already packed written once.
    #[test]
    fn a_large_batch_is_deflated_on_two_threads_and_reads_back() {
        let tmp = tempfile::tempdir().unwrap();
        let objects = tmp.path().join("objects");
        let store = super::super::GitObjects::open(&objects, HashKind::Sha1, false).unwrap();
        let mut w = store.begin_pack().unwrap();
        let packed = w.add(ObjectKind::Blob, b"already packed\n").unwrap();
        w.finish().unwrap();
        let datas: Vec<Vec<u8>> = (0..64u32)
            .map(|n| {
                let len = if n % 4 == 0 { 100 } else { 9_000 + n as usize };
                (0..len as u32)
                    .flat_map(|i| (i * n % 251).to_le_bytes())
                    .collect()
            })
            .chain([b"already packed\n".to_vec()])
            .collect();
        let mut batch: Vec<(ObjectId, ObjectKind, &[u8])> = datas
            .iter()
            .map(|d| {
                (
                    ObjectId::for_object(HashKind::Sha1, ObjectKind::Blob, d),
                    ObjectKind::Blob,
                    &d[..],
                )
            })
            .collect();
        batch.push(batch[3]);
        assert!(datas.iter().map(Vec::len).sum::<usize>() > 2 * PARALLEL_DEFLATE);
        let mut w = store.begin_pack().unwrap();
        w.add_batch(&batch).unwrap();
        assert_eq!(w.len(), 64, "each new object once; the packed one not again");
        let info = w.finish().unwrap().unwrap();
        assert_eq!(info.objects, 64);
        for (id, _, data) in &batch {
            assert_eq!(&store.read(id).unwrap().unwrap().data, data);
        }
        assert_eq!(store.read(&packed).unwrap().unwrap().data, b"already packed\n");
        let out = std::process::Command::new("git")
            .arg("verify-pack")
            .arg(&info.idx)
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    }

    #[test]
    fn stored_blocks_inflate_with_zlib() {
        let long: Vec<u8> = (0..150_000u32).map(|i| (i * 13 % 253) as u8).collect();
        for data in [
            &b""[..],
            b"a",
            b"hello world\n",
            &[0xffu8; 192][..],
            &long[..65_535],
            &long[..65_536],
            &long,
        ] {
            let mut z = Vec::new();
            stored_zlib(data, &mut z);
            let mut out = Vec::new();
            flate2::read::ZlibDecoder::new(&z[..])
                .read_to_end(&mut out)
                .unwrap();
            assert_eq!(out, data);
        }
        let big: Vec<u8> = (0..20_000u32).map(|i| (i * 7 % 251) as u8).collect();
        let mut a = flate2::Compress::new(Compression::fast(), true);
        let mut z = Vec::new();
        deflate_into(&mut a, &big, &mut z).unwrap();
        assert_eq!(adler32(&big).to_be_bytes(), z[z.len() - 4..]);
    }

    #[test]
    fn dropped_writer_leaves_no_temporary_file() {
        let tmp = tempfile::tempdir().unwrap();
        let mut w = PackWriter::create(tmp.path(), HashKind::Sha256, true).unwrap();
        w.add(ObjectKind::Blob, b"x").unwrap();
        drop(w);
        assert_eq!(fs::read_dir(tmp.path()).unwrap().count(), 0);
        // Past the in-memory size, the pack goes to a temporary file: dropped, it goes too.
        let mut w = PackWriter::create(tmp.path(), HashKind::Sha256, true).unwrap();
        let noise = |seed: u32| -> Vec<u8> {
            let mut x = seed.wrapping_mul(2_654_435_761) | 1;
            (0..300_000)
                .map(|_| {
                    x ^= x << 13;
                    x ^= x >> 17;
                    x ^= x << 5;
                    x as u8
                })
                .collect()
        };
        for seed in 0..5 {
            w.add(ObjectKind::Blob, &noise(seed)).unwrap();
        }
        assert!(w.bytes_written() > IN_MEMORY as u64);
        assert_eq!(fs::read_dir(tmp.path()).unwrap().count(), 1, "the temporary file");
        drop(w);
        assert_eq!(fs::read_dir(tmp.path()).unwrap().count(), 0);
        // Finished, a spilled pack reads back like a held one.
        let objects = tmp.path().join("objects");
        let store = super::super::GitObjects::open(&objects, HashKind::Sha1, false).unwrap();
        let mut w = store.begin_pack().unwrap();
        let ids: Vec<ObjectId> = (0..5)
            .map(|seed| w.add(ObjectKind::Blob, &noise(seed)).unwrap())
            .collect();
        let info = w.finish().unwrap().unwrap();
        assert!(info.pack_bytes > IN_MEMORY as u64);
        for (seed, id) in ids.iter().enumerate() {
            assert_eq!(store.read(id).unwrap().unwrap().data, noise(seed as u32));
        }
    }

    #[test]
    fn large_offsets_use_the_64_bit_table() {
        let mut w = PackWriter::create(&std::env::temp_dir(), HashKind::Sha1, false).unwrap();
        w.entries = vec![
            (
                ObjectId::for_object(HashKind::Sha1, ObjectKind::Blob, b"a"),
                12,
                1,
            ),
            (
                ObjectId::for_object(HashKind::Sha1, ObjectKind::Blob, b"b"),
                0x1_0000_0000,
                2,
            ),
        ];
        let sum = HashKind::Sha1.null_id();
        let idx = w.index(&sum);
        let n = 2;
        let offsets_at = 8 + 1024 + n * (20 + 4);
        let large_at = offsets_at + n * 4;
        assert_eq!(idx.len(), large_at + 8 + 40);
        let offs: Vec<u32> = (0..n)
            .map(|i| {
                u32::from_be_bytes(
                    idx[offsets_at + 4 * i..offsets_at + 4 * i + 4]
                        .try_into()
                        .unwrap(),
                )
            })
            .collect();
        assert!(offs.contains(&12) && offs.contains(&0x8000_0000));
        assert_eq!(&idx[large_at..large_at + 8], &0x1_0000_0000u64.to_be_bytes());
        w.entries.clear();
    }
}
