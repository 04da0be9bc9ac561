//! The write-ahead journal: durable commits without syncing every new file.
//!
//! A durable commit used to sync five things: the new pack's data, its index's data,
//! `objects/pack/` (for the renames), the reference's lock file and `refs/heads/`. Each sync of a
//! new file or a directory makes the filesystem commit metadata (about a millisecond apiece
//! here). With the journal, the pack, its index and the reference are written and renamed into
//! place exactly as before, visible to Git at once, but not synced; instead a copy of each —
//! the pack's and index's bytes, then the reference's old and new value — is appended to
//! `<git-dir>/canopy-journal`, a file of zeros written once and then overwritten in place. One
//! `fdatasync` after the reference's record makes both durable; only then is the lock renamed
//! onto the reference and the commit acknowledged. So a reference on disk never names objects
//! that cannot be rebuilt from the journal after a power loss. (A move whose record is synced
//! but whose rename a power loss undid is replayed: it had not been acknowledged, and now
//! happens; that is allowed.) Packs that roll smaller ones up are journaled too, and synced
//! before the packs they replace are deleted.
//!
//! **Checkpoints.** `syncfs` makes every file written so far durable, then the header's epoch
//! is incremented (and synced): the records of the old epoch no longer count, and the file is
//! reused from its start. A checkpoint happens when the journal is full, before an append when
//! the epoch's first record is over [`MAX_AGE`] old, and when a store that has been journaling
//! for over a second is dropped. A short-lived writer (one `canopy set`) leaves its records for
//! the next owner, which appends after them: its commits are durable already, and a checkpoint
//! per process would cost more than the syncs the journal saves.
//!
//! **Recovery.** The header names the boot (`/proc/sys/kernel/random/boot_id`) in which the
//! epoch began. If the machine has not restarted since, nothing written was lost — the page
//! cache survives a killed process — and the records need nothing. After a restart, they are
//! replayed when the store is opened, before it is used: a journaled pack whose file is
//! missing, torn or different is written again (when any of its objects is missing from the
//! store: a roll-up or `gc` may have folded it into a durable pack), and each reference record
//! moves its reference from the old value to the new one if the reference is unreadable, names
//! a missing object, or still has the old value in a file not written after the record (else
//! another writer moved it later, or deleted it, and that stands). Then a checkpoint.
//!
//! **Owners.** One process at a time writes through the journal: the one holding an OS lock on
//! the file (taken at its first durable write, kept until it drops the store; the kernel drops it
//! when the process dies). Other processes writing the same store sync each file, as without a
//! journal. Packs over [`MAX_JOURNALED_PACK`] are synced directly too.
//!
//! Records: magic, epoch, kind, length, payload, CRC-32 of all but the magic. Reading stops at
//! the first record that does not check, which is how a torn last record is told from a whole
//! one and how stale records of an older epoch are ignored.

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io::{self, Read};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use super::loose::{create_temp, fsync_dir, io_err};
use super::{GitObjects, GitRefs};
use crate::backend::{AtomicWrite, ContentAddressable, Error, Expected, RefLog, RefTarget, Result};
use crate::object::{HashKind, ObjectId, Signature};

/// How long taking the journal waits for its lock: a process that spawns a child shares the
/// lock with it until the child's `exec` closes its copy of the descriptor.
#[cfg(not(test))]
const TAKE_WAIT: Duration = Duration::from_millis(20);
/// Longer in tests, where other tests' children can hold the lock for a while on a busy machine.
#[cfg(test)]
const TAKE_WAIT: Duration = Duration::from_secs(2);
/// How long opening a store after a restart waits for the lock to replay the journal.
const RECOVERY_WAIT: Duration = Duration::from_secs(2);

/// The journal's file name in the Git directory.
pub const FILE_NAME: &str = "canopy-journal";
/// Packs at most this large are journaled; larger ones are synced where they are.
pub const MAX_JOURNALED_PACK: usize = 1 << 20;
/// An epoch whose first record is older than this is checkpointed before the next append.
pub const MAX_AGE: Duration = Duration::from_secs(30);
/// A store dropped after journaling for longer than this checkpoints.
#[cfg(not(test))]
const CHECKPOINT_ON_DROP_AFTER: Duration = Duration::from_secs(1);
/// Longer in tests, whose commits a loaded machine can make take a second, and which count the
/// records a store leaves.
#[cfg(test)]
const CHECKPOINT_ON_DROP_AFTER: Duration = Duration::from_secs(5);

const MAGIC: &[u8; 8] = b"CNPYJRN1";
const RECORD_MAGIC: u32 = 0x434a_5231;
/// The header's size; records start after it.
const HEADER: u64 = 4096;
/// The journal starts at this size and doubles when a record does not fit, up to [`MAX_SIZE`];
/// past that, a checkpoint empties it.
const INITIAL_SIZE: u64 = 1 << 20;
const MAX_SIZE: u64 = 16 << 20;
/// Magic, epoch, kind, length; then the payload and a CRC-32.
const RECORD_HEAD: usize = 4 + 8 + 1 + 4;

const KIND_PACK: u8 = 1;
const KIND_REF: u8 = 2;

/// The journal of one store, shared by its object and reference stores.
#[derive(Debug)]
pub struct Journal {
    path: PathBuf,
    git_dir: PathBuf,
    hash: HashKind,
    state: Mutex<State>,
    /// Serialises `fdatasync` calls, so that one call covers every record written before it.
    syncing: Mutex<()>,
    /// Bytes appended (over all epochs) that are durable.
    synced: AtomicU64,
}

#[derive(Debug)]
struct State {
    /// The open, locked file, once this process owns the journal; `None` before the first
    /// durable write, and for good when another process owns it or it cannot be made.
    file: Option<File>,
    /// Whether ownership was tried (and is not to be tried again).
    tried: bool,
    epoch: u64,
    /// Where the next record goes.
    pos: u64,
    size: u64,
    /// Bytes appended over all epochs.
    appended: u64,
    /// When the epoch's first record was written (nanoseconds since the Unix epoch).
    first: Option<u64>,
    /// When this process appended its first record of the epoch.
    since: Option<Instant>,
}

/// The journal as this process takes it.
struct Taken {
    file: File,
    epoch: u64,
    /// Where the records left by earlier owners end.
    end: u64,
    /// When the first of them was written.
    first: Option<u64>,
    size: u64,
}

/// A record read back from the journal.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Record {
    /// When it was written (nanoseconds since the Unix epoch).
    time: u64,
    entry: Entry,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Entry {
    Pack {
        stem: String,
        idx: Vec<u8>,
        pack: Vec<u8>,
    },
    Ref {
        name: String,
        old: Option<ObjectId>,
        new: Option<ObjectId>,
    },
}

impl Journal {
    /// The journal of the store at `git_dir`. After a restart, records the last owner left
    /// are replayed first through `objects` and `refs` (which must not journal themselves).
    pub fn open(
        git_dir: &Path,
        hash: HashKind,
        objects: &GitObjects,
        refs: &GitRefs,
    ) -> Result<Arc<Journal>> {
        let journal = Journal {
            path: git_dir.join(FILE_NAME),
            git_dir: git_dir.to_path_buf(),
            hash,
            state: Mutex::new(State {
                file: None,
                tried: false,
                epoch: 0,
                pos: HEADER,
                size: 0,
                appended: 0,
                first: None,
                since: None,
            }),
            syncing: Mutex::new(()),
            synced: AtomicU64::new(0),
        };
        journal.recover(objects, refs)?;
        Ok(Arc::new(journal))
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Replays what the journal holds if the machine restarted since it was written and this
    /// process can take it now; releases it again (it is taken for good at the first durable
    /// write).
    fn recover(&self, objects: &GitObjects, refs: &GitRefs) -> Result<()> {
        let file = match fs::OpenOptions::new().read(true).write(true).open(&self.path) {
            Ok(f) => f,
            // No journal yet, or one this process may not write: nothing it could recover.
            Err(_) => return Ok(()),
        };
        // A journal that cannot be read (a header or a record that checks but does not parse)
        // is set aside, and a new one made when needed: it must not keep the store from opening.
        let set_aside = |e: Error| {
            let aside = self.path.with_extension("damaged");
            tracing::warn!("{e}; moved to {}", aside.display());
            fs::rename(&self.path, &aside).map_err(io_err(&aside))
        };
        // Within the boot that wrote it, there is nothing to recover: no lock needed to tell.
        if matches!(read_header(&file, &self.path), Ok(h) if h.boot == boot_id()) {
            return Ok(());
        }
        // After a restart (or with a damaged header): the first process to open the store
        // recovers it (another one that holds the lock is recovering it, or has).
        if !lock_within(&file, RECOVERY_WAIT) {
            return Ok(());
        }
        let header = match read_header(&file, &self.path) {
            Ok(h) if h.boot == boot_id() => return Ok(()),
            Ok(h) => h,
            Err(e) => return set_aside(e),
        };
        let records = match read_records(&file, header.epoch, self.hash, &self.path) {
            Ok((records, _)) => records,
            Err(e @ Error::CorruptFile { .. }) => return set_aside(e),
            Err(e) => return Err(e),
        };
        if !records.is_empty() {
            tracing::warn!(
                "replaying {} journal records after a restart ({})",
                records.len(),
                self.path.display()
            );
            replay(&records, objects, refs, &self.git_dir)?;
        }
        checkpoint(&file, &self.path, header.epoch + 1)
    }

    /// Takes the journal for this process if nobody else holds it; whether it is ours.
    fn own<'a>(&self, st: &'a mut State) -> Option<&'a File> {
        if !st.tried {
            st.tried = true;
            match self.take() {
                Ok(Some(t)) => {
                    st.epoch = t.epoch;
                    st.pos = t.end;
                    st.first = t.first;
                    st.size = t.size;
                    st.file = Some(t.file);
                }
                Ok(None) => {}
                Err(e) => tracing::warn!("the journal {} cannot be used: {e}", self.path.display()),
            }
        }
        st.file.as_ref()
    }

    /// Opens (creating if needed) and locks the journal. `None` when another process holds
    /// it, or it holds records of a boot before this one (they are replayed by the next open).
    fn take(&self) -> Result<Option<Taken>> {
        let path = &self.path;
        let file = match fs::OpenOptions::new().read(true).write(true).open(path) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                self.create()?;
                fs::OpenOptions::new()
                    .read(true)
                    .write(true)
                    .open(path)
                    .map_err(io_err(path))?
            }
            Err(e) => return Err(io_err(path)(e)),
        };
        if !lock_within(&file, TAKE_WAIT) {
            return Ok(None);
        }
        let header = read_header(&file, path)?;
        let (end, first) = scan(&file, header.epoch, path)?;
        if header.boot != boot_id() && first.is_some() {
            return Ok(None);
        }
        Ok(Some(Taken {
            size: file.metadata().map_err(io_err(path))?.len(),
            file,
            epoch: header.epoch,
            end,
            first,
        }))
    }

    /// Writes a new journal of zeros with a header, durably, under a temporary name, and
    /// links it into place (unless another process made one first).
    fn create(&self) -> Result<()> {
        let (tmp, file) = create_temp(&self.git_dir, "tmp_journal_")?;
        let made = (|| -> io::Result<()> {
            file.write_all_at(&vec![0u8; INITIAL_SIZE as usize], 0)?;
            file.write_all_at(&header_bytes(1), 0)?;
            file.sync_all()
        })();
        if let Err(e) = made {
            let _ = fs::remove_file(&tmp);
            return Err(io_err(&tmp)(e));
        }
        // A hard link fails if the journal exists: the one already there is kept.
        let linked = fs::hard_link(&tmp, &self.path);
        let _ = fs::remove_file(&tmp);
        match linked {
            Ok(()) => fsync_dir(&self.git_dir),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(()),
            Err(e) => Err(io_err(&self.path)(e)),
        }
    }

    /// Whether this process writes through the journal (taking it if it can).
    pub fn is_owned(&self) -> bool {
        let mut st = self.lock();
        self.own(&mut st).is_some()
    }

    /// Appends an installed pack (`pack-<hex>`, its index's and its own bytes), not synced
    /// yet: the reference update that names its objects syncs it with its own record, and
    /// [`sync`](Journal::sync) does for anyone else.
    pub fn append_pack(&self, stem: &str, idx: &[u8], pack: &[u8]) -> Result<()> {
        let mut payload = Vec::with_capacity(2 + stem.len() + 4 + idx.len() + pack.len());
        put_str(&mut payload, stem);
        payload.extend_from_slice(&(idx.len() as u32).to_le_bytes());
        payload.extend_from_slice(idx);
        payload.extend_from_slice(pack);
        self.append(KIND_PACK, &payload).map(|_| ())
    }

    /// Appends a reference's move from `old` to `new` and syncs the journal (this record and
    /// every one before it).
    pub fn append_ref(&self, name: &str, old: Option<ObjectId>, new: Option<ObjectId>) -> Result<()> {
        let mut payload = Vec::with_capacity(2 + name.len() + 2 + 2 * self.hash.hex_len());
        put_str(&mut payload, name);
        for id in [old, new] {
            put_str(&mut payload, &id.map_or(String::new(), |id| id.to_hex()));
        }
        let end = self.append(KIND_REF, &payload)?;
        self.sync_to(end)
    }

    /// Makes every record appended so far durable.
    pub fn sync(&self) -> Result<()> {
        let appended = self.lock().appended;
        self.sync_to(appended)
    }

    /// Writes a record; returns where the journal's appended bytes end with it.
    fn append(&self, kind: u8, payload: &[u8]) -> Result<u64> {
        let time = now_nanos();
        let record_len = (RECORD_HEAD + 8 + payload.len() + 4) as u64;
        let end = {
            let mut st = self.lock();
            let file = match self.own(&mut st) {
                Some(f) => f.try_clone().map_err(io_err(&self.path))?,
                None => return Err(corrupt(&self.path, "the journal is not owned by this process")),
            };
            let old = st
                .first
                .is_some_and(|first| time.saturating_sub(first) > MAX_AGE.as_nanos() as u64);
            if st.pos + record_len > st.size && st.size < MAX_SIZE && HEADER + record_len <= MAX_SIZE {
                let grown = (st.size * 2).max(HEADER + record_len).min(MAX_SIZE);
                grow(&file, st.size, grown).map_err(io_err(&self.path))?;
                st.size = grown;
            }
            if old || st.pos + record_len > st.size {
                self.checkpoint_locked(&mut st, &file)?;
            }
            if st.pos + record_len > st.size {
                return Err(corrupt(&self.path, "record larger than the journal"));
            }
            let mut record = Vec::with_capacity(record_len as usize);
            record.extend_from_slice(&RECORD_MAGIC.to_le_bytes());
            record.extend_from_slice(&st.epoch.to_le_bytes());
            record.push(kind);
            record.extend_from_slice(&((8 + payload.len()) as u32).to_le_bytes());
            record.extend_from_slice(&time.to_le_bytes());
            record.extend_from_slice(payload);
            let crc = crc32fast::hash(&record[4..]);
            record.extend_from_slice(&crc.to_le_bytes());
            file.write_all_at(&record, st.pos).map_err(io_err(&self.path))?;
            st.pos += record_len;
            st.appended += record_len;
            st.first.get_or_insert(time);
            st.since.get_or_insert_with(Instant::now);
            st.appended
        };
        Ok(end)
    }

    /// Returns once every byte appended up to `end` is durable: one `fdatasync` serves every
    /// record written before it started.
    fn sync_to(&self, end: u64) -> Result<()> {
        if self.synced.load(Ordering::Acquire) >= end {
            return Ok(());
        }
        let _one_at_a_time = self.syncing.lock().unwrap_or_else(|e| e.into_inner());
        if self.synced.load(Ordering::Acquire) >= end {
            return Ok(());
        }
        let (file, appended) = {
            let st = self.lock();
            let file = st.file.as_ref().map(File::try_clone).transpose();
            (file.map_err(io_err(&self.path))?, st.appended)
        };
        if let Some(file) = file {
            file.sync_data().map_err(io_err(&self.path))?;
        }
        self.synced.fetch_max(appended, Ordering::AcqRel);
        Ok(())
    }

    /// Makes everything written durable and empties the journal (when it holds records).
    pub fn checkpoint(&self) -> Result<()> {
        let mut st = self.lock();
        match st.file.as_ref().map(File::try_clone) {
            Some(file) if st.first.is_some() => {
                let file = file.map_err(io_err(&self.path))?;
                self.checkpoint_locked(&mut st, &file)
            }
            _ => Ok(()),
        }
    }

    fn checkpoint_locked(&self, st: &mut State, file: &File) -> Result<()> {
        checkpoint(file, &self.path, st.epoch + 1)?;
        st.epoch += 1;
        st.pos = HEADER;
        st.first = None;
        st.since = None;
        self.synced.fetch_max(st.appended, Ordering::AcqRel);
        Ok(())
    }
}

impl Drop for Journal {
    fn drop(&mut self) {
        // Objects written for no reference update (the store's last batch) are kept as a
        // synced loose write would have kept them.
        if let Err(e) = self.sync() {
            tracing::warn!("journal sync failed: {e}");
        }
        let long = self
            .lock()
            .since
            .is_some_and(|t| t.elapsed() > CHECKPOINT_ON_DROP_AFTER);
        if long {
            if let Err(e) = self.checkpoint() {
                tracing::warn!("journal checkpoint failed: {e}");
            }
        }
    }
}

/// What the first block of the journal says.
#[derive(Debug)]
struct Header {
    epoch: u64,
    /// The boot in which the epoch began.
    boot: String,
}

fn header_bytes(epoch: u64) -> Vec<u8> {
    let mut h = Vec::with_capacity(64);
    h.extend_from_slice(MAGIC);
    h.extend_from_slice(&epoch.to_le_bytes());
    let boot = boot_id();
    put_str(&mut h, &boot);
    let crc = crc32fast::hash(&h);
    h.extend_from_slice(&crc.to_le_bytes());
    h
}

fn read_header(file: &File, path: &Path) -> Result<Header> {
    let mut buf = vec![0u8; 256];
    let n = read_at_most(file, &mut buf, 0).map_err(io_err(path))?;
    let buf = &buf[..n];
    if buf.len() < 8 + 8 + 2 || &buf[..8] != MAGIC {
        return Err(corrupt(path, "not a Canopy journal (bad magic)"));
    }
    let epoch = u64::from_le_bytes(buf[8..16].try_into().unwrap());
    let mut at = 16;
    let boot = get_str(buf, &mut at).ok_or_else(|| corrupt(path, "truncated header"))?;
    let crc = buf
        .get(at..at + 4)
        .map(|b| u32::from_le_bytes(b.try_into().unwrap()))
        .ok_or_else(|| corrupt(path, "truncated header"))?;
    if crc != crc32fast::hash(&buf[..at]) {
        return Err(corrupt(path, "header checksum mismatch"));
    }
    Ok(Header { epoch, boot })
}

/// The records of `epoch`, in order, up to the first that does not check, and where they end.
fn read_records(file: &File, epoch: u64, hash: HashKind, path: &Path) -> Result<(Vec<Record>, u64)> {
    let size = file.metadata().map_err(io_err(path))?.len();
    let mut records = Vec::new();
    let mut pos = HEADER;
    let mut head = [0u8; RECORD_HEAD];
    while pos + RECORD_HEAD as u64 + 4 <= size {
        if read_at_most(file, &mut head, pos).map_err(io_err(path))? < RECORD_HEAD {
            break;
        }
        let magic = u32::from_le_bytes(head[..4].try_into().unwrap());
        let rec_epoch = u64::from_le_bytes(head[4..12].try_into().unwrap());
        let kind = head[12];
        let len = u32::from_le_bytes(head[13..17].try_into().unwrap()) as u64;
        if magic != RECORD_MAGIC || rec_epoch != epoch || pos + RECORD_HEAD as u64 + len + 4 > size {
            break;
        }
        let mut body = vec![0u8; len as usize + 4];
        if read_at_most(file, &mut body, pos + RECORD_HEAD as u64).map_err(io_err(path))? < body.len() {
            break;
        }
        let (payload, crc) = body.split_at(len as usize);
        let mut h = crc32fast::Hasher::new();
        h.update(&head[4..]);
        h.update(payload);
        if h.finalize() != u32::from_le_bytes(crc.try_into().unwrap()) {
            break;
        }
        match parse_record(kind, payload, hash) {
            Some(r) => records.push(r),
            None => return Err(corrupt(path, &format!("malformed record at offset {pos}"))),
        }
        pos += RECORD_HEAD as u64 + len + 4;
    }
    Ok((records, pos))
}

/// Where the records of `epoch` end, and when the first was written, reading only their heads
/// and checking the last one whole. Enough within the boot that wrote them: only the last
/// record can be incomplete (its writer killed in the middle of writing it); after a restart,
/// [`read_records`] checks every one.
fn scan(file: &File, epoch: u64, path: &Path) -> Result<(u64, Option<u64>)> {
    let size = file.metadata().map_err(io_err(path))?.len();
    let (mut pos, mut first, mut last) = (HEADER, None, None);
    let mut head = [0u8; RECORD_HEAD + 8];
    while pos + (RECORD_HEAD + 8 + 4) as u64 <= size {
        if read_at_most(file, &mut head, pos).map_err(io_err(path))? < head.len() {
            break;
        }
        let magic = u32::from_le_bytes(head[..4].try_into().unwrap());
        let rec_epoch = u64::from_le_bytes(head[4..12].try_into().unwrap());
        let len = u32::from_le_bytes(head[13..17].try_into().unwrap()) as u64;
        let end = pos + RECORD_HEAD as u64 + len + 4;
        if magic != RECORD_MAGIC || rec_epoch != epoch || len < 8 || end > size {
            break;
        }
        first.get_or_insert(u64::from_le_bytes(head[17..25].try_into().unwrap()));
        last = Some((pos, len));
        pos = end;
    }
    if let Some((start, len)) = last {
        let mut record = vec![0u8; RECORD_HEAD + len as usize + 4];
        let whole = read_at_most(file, &mut record, start).map_err(io_err(path))? == record.len();
        let (body, crc) = record.split_at(RECORD_HEAD + len as usize);
        if !whole || crc32fast::hash(&body[4..]) != u32::from_le_bytes(crc.try_into().unwrap()) {
            pos = start;
            if start == HEADER {
                first = None;
            }
        }
    }
    Ok((pos, first))
}

fn parse_record(kind: u8, payload: &[u8], hash: HashKind) -> Option<Record> {
    let time = u64::from_le_bytes(payload.get(..8)?.try_into().ok()?);
    let payload = &payload[8..];
    let mut at = 0;
    let entry = match kind {
        KIND_PACK => {
            let stem = get_str(payload, &mut at)?;
            let idx_len = u32::from_le_bytes(payload.get(at..at + 4)?.try_into().ok()?) as usize;
            at += 4;
            let idx = payload.get(at..at + idx_len)?.to_vec();
            let pack = payload.get(at + idx_len..)?.to_vec();
            let valid_stem = stem
                .strip_prefix("pack-")
                .is_some_and(|h| h.len() == hash.hex_len() && h.bytes().all(|c| c.is_ascii_hexdigit()));
            if !valid_stem {
                return None;
            }
            Entry::Pack { stem, idx, pack }
        }
        KIND_REF => {
            let name = get_str(payload, &mut at)?;
            crate::backend::check_ref_name(&name).ok()?;
            let mut id = || -> Option<Option<ObjectId>> {
                let hex = get_str(payload, &mut at)?;
                if hex.is_empty() {
                    return Some(None);
                }
                ObjectId::from_hex(hex.as_bytes())
                    .filter(|id| id.hash_kind() == hash)
                    .map(Some)
            };
            let old = id()?;
            let new = id()?;
            Entry::Ref { name, old, new }
        }
        _ => return None,
    };
    Some(Record { time, entry })
}

/// Brings the store back to what the records say after a restart (see the module documentation).
fn replay(records: &[Record], objects: &GitObjects, refs: &GitRefs, git_dir: &Path) -> Result<()> {
    let pack_dir = git_dir.join("objects").join("pack");
    let packs = || {
        records.iter().filter_map(|r| match &r.entry {
            Entry::Pack { stem, idx, pack } => Some((stem, idx, pack)),
            Entry::Ref { .. } => None,
        })
    };
    // Torn or different pack files go first, so that what remains can be trusted.
    for (stem, idx, pack) in packs() {
        let pack_path = pack_dir.join(format!("{stem}.pack"));
        let idx_path = pack_dir.join(format!("{stem}.idx"));
        let intact = |p: &Path, want: &[u8]| fs::read(p).is_ok_and(|have| have == want);
        let exists = pack_path.exists() || idx_path.exists();
        if exists && !(intact(&pack_path, pack) && intact(&idx_path, idx)) {
            tracing::warn!("journal: {stem} was damaged by the restart; writing it again");
            let _ = fs::remove_file(&idx_path);
            let _ = fs::remove_file(&pack_path);
        }
    }
    objects.rescan()?;
    for (stem, idx, pack) in packs() {
        let mut missing = false;
        for id in idx_ids(idx, objects.hash_kind()) {
            if !objects.contains(&id)? {
                missing = true;
                break;
            }
        }
        if missing {
            install(&pack_dir, stem, idx, pack)?;
            objects.rescan()?;
        }
    }
    let log = RefLog {
        who: Signature {
            name: "canopy".into(),
            email: "canopy@localhost".into(),
            time: crate::platform::since_epoch().as_secs() as i64,
            offset_minutes: 0,
        },
        message: "canopy: replayed from the journal after a restart".into(),
    };
    let mut moves: BTreeMap<&str, Moves> = BTreeMap::new();
    for r in records {
        if let Entry::Ref { name, old, new } = &r.entry {
            let m = moves.entry(name).or_insert(Moves {
                first: *old,
                seen: Vec::new(),
                last: *new,
                time: r.time,
            });
            m.seen.extend(*old);
            m.seen.extend(*new);
            (m.last, m.time) = (*new, r.time);
        }
    }
    for (
        name,
        Moves {
            first,
            seen,
            last,
            time,
        },
    ) in moves
    {
        let current = match refs.read_ref(name) {
            Ok(Some(RefTarget::Direct(id))) => Some(id),
            Ok(Some(RefTarget::Symbolic(_))) => continue,
            Ok(None) => None,
            Err(Error::BadRef { .. }) => {
                refs.update(name, Expected::Any, last, &log)?;
                continue;
            }
            Err(e) => return Err(e),
        };
        let apply = match current {
            _ if current == last => false,
            Some(id) if !objects.contains(&id)? => true,
            // One of the values the journal gave it, in a file nobody wrote after the last
            // record: the later moves were lost.
            Some(id) => seen.contains(&id) && !written_after(&git_dir.join(name), time),
            // Created within the journal and lost; one that existed before was deleted since.
            None => first.is_none(),
        };
        if apply {
            tracing::warn!("journal: {name} was moved back by the restart; moving it forward again");
            refs.update(name, Expected::from_option(current), last, &log)?;
        }
    }
    Ok(())
}

/// One reference's moves in the journal.
struct Moves {
    /// Its value before the first.
    first: Option<ObjectId>,
    /// Every value the moves gave it or found.
    seen: Vec<ObjectId>,
    /// Its value after the last, and when that was recorded.
    last: Option<ObjectId>,
    time: u64,
}

/// Whether the file at `path` was modified after `time` (nanoseconds since the Unix epoch).
fn written_after(path: &Path, time: u64) -> bool {
    fs::metadata(path)
        .and_then(|m| m.modified())
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .is_some_and(|t| t.as_nanos() > u128::from(time))
}

/// The ids an `.idx` v2 lists.
fn idx_ids(idx: &[u8], hash: HashKind) -> Vec<ObjectId> {
    let hs = hash.len();
    let Some(count) = idx.get(8 + 255 * 4..8 + 256 * 4) else {
        return Vec::new();
    };
    let n = u32::from_be_bytes(count.try_into().unwrap()) as usize;
    let start = 8 + 256 * 4;
    (0..n)
        .filter_map(|i| idx.get(start + i * hs..start + (i + 1) * hs))
        .filter_map(|raw| ObjectId::from_raw(hash, raw))
        .collect()
}

/// Writes a pack and its index from their bytes, durably: data synced, `.pack` then `.idx`
/// renamed into place, the directory synced.
fn install(pack_dir: &Path, stem: &str, idx: &[u8], pack: &[u8]) -> Result<()> {
    fs::create_dir_all(pack_dir).map_err(io_err(pack_dir))?;
    let mut temps = Vec::new();
    for (prefix, bytes) in [("tmp_pack_", pack), ("tmp_idx_", idx)] {
        let (tmp, file) = create_temp(pack_dir, prefix)?;
        temps.push(tmp.clone());
        let written = file.write_all_at(bytes, 0).and_then(|_| file.sync_data());
        if let Err(e) = written {
            for t in &temps {
                let _ = fs::remove_file(t);
            }
            return Err(io_err(&tmp)(e));
        }
    }
    for (tmp, ext) in temps.iter().zip(["pack", "idx"]) {
        let dest = pack_dir.join(format!("{stem}.{ext}"));
        fs::rename(tmp, &dest).map_err(io_err(&dest))?;
    }
    fsync_dir(pack_dir)
}

/// Makes every file of the filesystem durable, then starts `epoch` (durably).
fn checkpoint(file: &File, path: &Path, epoch: u64) -> Result<()> {
    syncfs(file).map_err(io_err(path))?;
    file.write_all_at(&header_bytes(epoch), 0).map_err(io_err(path))?;
    file.sync_data().map_err(io_err(path))
}

fn syncfs(file: &File) -> io::Result<()> {
    use std::os::fd::AsRawFd;
    // SAFETY: `syncfs` only reads the descriptor, which `file` keeps open for the call.
    if unsafe { libc::syncfs(file.as_raw_fd()) } == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Extends the journal from `from` to `to` bytes with written zeros (not a hole or an unwritten
/// extent, whose first overwrite would make every `fdatasync` commit metadata), durably.
fn grow(file: &File, from: u64, to: u64) -> io::Result<()> {
    let zeros = vec![0u8; 1 << 20];
    let mut at = from;
    while at < to {
        let n = (to - at).min(zeros.len() as u64) as usize;
        file.write_all_at(&zeros[..n], at)?;
        at += n as u64;
    }
    file.sync_all()
}

/// This boot's id: a restart gives a new one. Empty where the system does not say.
fn now_nanos() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64)
}

fn boot_id() -> String {
    let mut s = String::new();
    let _ = File::open("/proc/sys/kernel/random/boot_id").and_then(|mut f| f.read_to_string(&mut s));
    s.trim().to_string()
}

/// Takes the file's OS lock, trying for at most `wait`.
fn lock_within(file: &File, wait: Duration) -> bool {
    let deadline = Instant::now() + wait;
    loop {
        match file.try_lock() {
            Ok(()) => return true,
            Err(std::fs::TryLockError::WouldBlock) if Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(1));
            }
            Err(_) => return false,
        }
    }
}

fn read_at_most(file: &File, buf: &mut [u8], offset: u64) -> io::Result<usize> {
    let mut done = 0;
    while done < buf.len() {
        match file.read_at(&mut buf[done..], offset + done as u64) {
            Ok(0) => break,
            Ok(n) => done += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(done)
}

fn put_str(out: &mut Vec<u8>, s: &str) {
    out.extend_from_slice(&(s.len() as u16).to_le_bytes());
    out.extend_from_slice(s.as_bytes());
}

fn get_str(buf: &[u8], at: &mut usize) -> Option<String> {
    let len = u16::from_le_bytes(buf.get(*at..*at + 2)?.try_into().ok()?) as usize;
    let s = std::str::from_utf8(buf.get(*at + 2..*at + 2 + len)?)
        .ok()?
        .to_string();
    *at += 2 + len;
    Some(s)
}

fn corrupt(path: &Path, reason: &str) -> Error {
    Error::CorruptFile {
        path: path.to_path_buf(),
        reason: reason.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use std::process::Command;

    use super::*;
    use crate::{Path as KeyPath, Repo};

    fn key(s: &str) -> KeyPath {
        KeyPath::parse(s).unwrap()
    }

    fn opts(message: &str) -> crate::store::CommitOptions {
        let who = Signature {
            name: "t".into(),
            email: "t@example.com".into(),
            time: 1_700_000_000,
            offset_minutes: 0,
        };
        crate::store::CommitOptions {
            message: message.into(),
            author: Some(who.clone()),
            committer: Some(who),
        }
    }

    fn set(repo: &Repo, k: &str, v: &str) -> ObjectId {
        repo.head_branch().unwrap().set(&key(k), v, &opts(k)).unwrap()
    }

    /// A new store at `dir` with `setting` in its `[canopy]` section, opened.
    fn store_with(dir: &Path, setting: &str) -> Repo {
        drop(Repo::init(dir).unwrap());
        let config = dir.join("config");
        let mut text = fs::read_to_string(&config).unwrap();
        text.push_str(&format!("[canopy]\n\t{setting}\n"));
        fs::write(&config, text).unwrap();
        Repo::open(dir).unwrap()
    }

    /// Cuts a (read-only) pack file down to `len` bytes, as a restart can leave it.
    fn tear(path: &Path, len: u64) {
        let mut perms = fs::metadata(path).unwrap().permissions();
        #[allow(clippy::permissions_set_readonly_false)]
        perms.set_readonly(false);
        fs::set_permissions(path, perms).unwrap();
        File::options()
            .write(true)
            .open(path)
            .unwrap()
            .set_len(len)
            .unwrap();
    }

    fn records(dir: &Path) -> Vec<Record> {
        let path = dir.join(FILE_NAME);
        let file = File::open(&path).unwrap();
        let header = read_header(&file, &path).unwrap();
        read_records(&file, header.epoch, HashKind::Sha1, &path)
            .unwrap()
            .0
    }

    /// Rewrites the header as if its epoch had begun in another boot.
    fn pretend_restart(dir: &Path) {
        let path = dir.join(FILE_NAME);
        let file = fs::OpenOptions::new().write(true).read(true).open(&path).unwrap();
        let epoch = read_header(&file, &path).unwrap().epoch;
        let mut h = Vec::new();
        h.extend_from_slice(MAGIC);
        h.extend_from_slice(&epoch.to_le_bytes());
        put_str(&mut h, "an-earlier-boot");
        let crc = crc32fast::hash(&h);
        h.extend_from_slice(&crc.to_le_bytes());
        file.write_all_at(&h, 0).unwrap();
    }

    /// Writes a reference file as a lost update would leave it: the old value, last written
    /// an hour ago.
    fn lost_update(dir: &Path, name: &str, old: &ObjectId) {
        let path = dir.join(name);
        fs::write(&path, format!("{old}\n")).unwrap();
        let hour_ago = std::time::SystemTime::now() - Duration::from_secs(3600);
        File::options()
            .write(true)
            .open(&path)
            .unwrap()
            .set_modified(hour_ago)
            .unwrap();
    }

    fn git_fsck(dir: &Path) {
        let out = Command::new("git")
            .args(["fsck", "--strict", "--no-dangling"])
            .current_dir(dir)
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    }

    fn journaled_packs(dir: &Path) -> Vec<String> {
        records(dir)
            .into_iter()
            .filter_map(|r| match r.entry {
                Entry::Pack { stem, .. } => Some(stem),
                Entry::Ref { .. } => None,
            })
            .collect()
    }

    #[test]
    fn a_durable_commit_is_recorded_and_the_next_process_appends_after_it() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
        let repo = Repo::init(dir).unwrap();
        let c1 = set(&repo, "a", "1");
        drop(repo);
        // A pack record, then the reference's move from nothing to the commit.
        let r = records(dir);
        assert_eq!(r.len(), 2, "{r:?}");
        assert!(matches!(&r[0].entry, Entry::Pack { .. }));
        assert_eq!(
            r[1].entry,
            Entry::Ref {
                name: "refs/heads/main".into(),
                old: None,
                new: Some(c1)
            }
        );
        // A short-lived writer leaves its records: the next one appends after them.
        let repo = Repo::open(dir).unwrap();
        let c2 = set(&repo, "b", "2");
        drop(repo);
        let r = records(dir);
        assert_eq!(r.len(), 4);
        assert_eq!(
            r[3].entry,
            Entry::Ref {
                name: "refs/heads/main".into(),
                old: Some(c1),
                new: Some(c2)
            }
        );
        git_fsck(dir);
    }

    #[test]
    fn canopy_journal_false_syncs_each_file_instead() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
        let repo = store_with(dir, "journal = false");
        set(&repo, "a", "1");
        assert!(!dir.join(FILE_NAME).exists());
        git_fsck(dir);
    }

    #[test]
    fn a_store_that_journaled_long_enough_checkpoints_when_dropped() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
        let repo = Repo::init(dir).unwrap();
        set(&repo, "a", "1");
        std::thread::sleep(CHECKPOINT_ON_DROP_AFTER + Duration::from_millis(100));
        set(&repo, "b", "2");
        assert_eq!(records(dir).len(), 4);
        drop(repo);
        assert!(records(dir).is_empty());
        let repo = Repo::open(dir).unwrap();
        set(&repo, "c", "3");
        assert_eq!(records(dir).len(), 2);
    }

    #[test]
    fn after_a_restart_lost_packs_and_reference_moves_are_replayed() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
        let repo = Repo::init(dir).unwrap();
        let c1 = set(&repo, "a", "1");
        let c2 = set(&repo, "b", "2");
        let c3 = set(&repo, "c", "3");
        drop(repo);
        // What a power loss can leave: the newest pack torn, the one before it gone with its
        // index, and the branch back at the first commit.
        let packs = journaled_packs(dir);
        assert_eq!(packs.len(), 3);
        let pack_dir = dir.join("objects/pack");
        let newest = pack_dir.join(format!("{}.pack", packs[2]));
        tear(&newest, fs::metadata(&newest).unwrap().len() / 2);
        for ext in ["pack", "idx"] {
            fs::remove_file(pack_dir.join(format!("{}.{ext}", packs[1]))).unwrap();
        }
        lost_update(dir, "refs/heads/main", &c1);
        pretend_restart(dir);

        let repo = Repo::open(dir).unwrap();
        assert_eq!(repo.head_branch().unwrap().head().unwrap(), Some(c3));
        let head = repo.head_branch().unwrap();
        for (k, v) in [("a", "1"), ("b", "2"), ("c", "3")] {
            assert_eq!(head.get(&key(k)).unwrap().as_deref(), Some(v.as_bytes()));
        }
        assert_eq!(repo.commit_info(c3).unwrap().commit.parents, [c2]);
        drop(head);
        drop(repo);
        // The replay ended with a checkpoint.
        assert!(records(dir).is_empty());
        git_fsck(dir);
    }

    #[test]
    fn packs_rolled_up_through_the_journal_come_back_after_a_restart() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
        let repo = store_with(dir, "autoPackLimit = 2");
        let mut head = None;
        for i in 0..12 {
            head = Some(set(&repo, &format!("k{i}"), &i.to_string()));
        }
        drop(repo);
        let journaled = journaled_packs(dir);
        let pack_dir = dir.join("objects/pack");
        let on_disk: Vec<String> = fs::read_dir(&pack_dir)
            .unwrap()
            .filter_map(|e| {
                e.unwrap()
                    .file_name()
                    .to_str()?
                    .strip_suffix(".pack")
                    .map(str::to_string)
            })
            .collect();
        // Roll-ups ran (fewer packs than commits), and what they wrote was journaled.
        assert!(on_disk.len() < 12, "{on_disk:?}");
        assert!(
            on_disk.iter().all(|p| journaled.contains(p)),
            "{on_disk:?} vs {journaled:?}"
        );
        // A restart that tore every pack on disk: all of it comes back from the journal.
        for stem in &on_disk {
            tear(&pack_dir.join(format!("{stem}.pack")), 12);
        }
        pretend_restart(dir);
        let repo = Repo::open(dir).unwrap();
        assert_eq!(repo.head_branch().unwrap().head().unwrap(), head);
        let main = repo.head_branch().unwrap();
        for i in 0..12 {
            assert_eq!(
                main.get(&key(&format!("k{i}"))).unwrap().as_deref(),
                Some(i.to_string().as_bytes())
            );
        }
        drop((main, repo));
        git_fsck(dir);
    }

    #[test]
    fn a_reference_moved_or_deleted_after_the_records_is_left_alone() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
        let repo = Repo::init(dir).unwrap();
        let c1 = set(&repo, "a", "1");
        drop(repo);
        // `side` made by another writer: the journal does not know it.
        fs::write(dir.join("refs/heads/side"), format!("{c1}\n")).unwrap();
        let repo = Repo::open(dir).unwrap();
        repo.branch("side")
            .unwrap()
            .set(&key("s"), "1", &opts("side"))
            .unwrap();
        let c2 = set(&repo, "b", "2");
        drop(repo);
        // The other writer moves main back to c1 after the records, and deletes `side`.
        std::thread::sleep(Duration::from_millis(20));
        fs::write(dir.join("refs/heads/main"), format!("{c1}\n")).unwrap();
        fs::remove_file(dir.join("refs/heads/side")).unwrap();
        pretend_restart(dir);
        let repo = Repo::open(dir).unwrap();
        assert_eq!(repo.head_branch().unwrap().head().unwrap(), Some(c1));
        let names: Vec<String> = repo.branches().unwrap().into_iter().map(|b| b.0).collect();
        assert_eq!(names, ["main"]);
        assert!(repo.commit_info(c2).is_ok());
    }

    #[test]
    fn a_record_torn_by_a_killed_writer_is_overwritten_by_the_next_owner() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
        let repo = Repo::init(dir).unwrap();
        set(&repo, "a", "1");
        let c2 = set(&repo, "b", "2");
        drop(repo);
        let path = dir.join(FILE_NAME);
        let file = File::open(&path).unwrap();
        let (_, end) = read_records(
            &file,
            read_header(&file, &path).unwrap().epoch,
            HashKind::Sha1,
            &path,
        )
        .unwrap();
        fs::OpenOptions::new()
            .write(true)
            .open(&path)
            .unwrap()
            .write_all_at(&[0xff; 4], end - 4)
            .unwrap();
        assert_eq!(records(dir).len(), 3);
        let repo = Repo::open(dir).unwrap();
        let c3 = set(&repo, "c", "3");
        drop(repo);
        let r = records(dir);
        assert_eq!(r.len(), 5, "{r:?}");
        assert_eq!(
            r[4].entry,
            Entry::Ref {
                name: "refs/heads/main".into(),
                old: Some(c2),
                new: Some(c3)
            }
        );
    }

    #[test]
    fn a_record_naming_a_hostile_reference_sets_the_journal_aside() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
        let repo = Repo::init(dir).unwrap();
        let c1 = set(&repo, "a", "1");
        // A record that checks (its CRC is right) but moves `../../outside`.
        let journal = Journal::open(
            dir,
            HashKind::Sha1,
            &GitObjects::open(&dir.join("objects"), HashKind::Sha1, false).unwrap(),
            &GitRefs::new(dir.to_path_buf(), HashKind::Sha1, false),
        )
        .unwrap();
        drop(repo);
        let mut payload = Vec::new();
        put_str(&mut payload, "../../outside");
        put_str(&mut payload, "");
        put_str(&mut payload, &c1.to_hex());
        journal.append(KIND_REF, &payload).unwrap();
        drop(journal);
        pretend_restart(dir);
        let repo = Repo::open(dir).unwrap();
        assert!(dir.join("canopy-journal.damaged").exists());
        assert!(!dir.join("../outside").exists() && !tmp.path().parent().unwrap().join("outside").exists());
        assert_eq!(repo.head_branch().unwrap().head().unwrap(), Some(c1));
        set(&repo, "b", "2");
        drop(repo);
        git_fsck(dir);
    }

    #[test]
    fn a_torn_last_record_and_a_damaged_header_lose_nothing_else() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
        let repo = Repo::init(dir).unwrap();
        let c1 = set(&repo, "a", "1");
        let c2 = set(&repo, "b", "2");
        drop(repo);
        let path = dir.join(FILE_NAME);
        let file = File::open(&path).unwrap();
        let epoch = read_header(&file, &path).unwrap().epoch;
        let (r, end) = read_records(&file, epoch, HashKind::Sha1, &path).unwrap();
        assert_eq!(r.len(), 4);
        // Tear the last record (c2's reference move): three records remain.
        let f = fs::OpenOptions::new().write(true).open(&path).unwrap();
        f.write_all_at(&[0xff; 8], end - 10).unwrap();
        assert_eq!(records(dir).len(), 3);
        // Replayed after a restart with main lost back to c1: only c1's move and c2's objects
        // are known, and main stays at c1 (c2 was never acknowledged durable by the journal).
        lost_update(dir, "refs/heads/main", &c1);
        pretend_restart(dir);
        let repo = Repo::open(dir).unwrap();
        assert_eq!(repo.head_branch().unwrap().head().unwrap(), Some(c1));
        assert!(repo.commit_info(c2).is_ok(), "c2's objects were journaled");
        drop(repo);
        // A header that does not check: the journal is set aside and the store opens.
        fs::write(&path, b"not a journal").unwrap();
        let repo = Repo::open(dir).unwrap();
        assert!(dir.join("canopy-journal.damaged").exists());
        set(&repo, "c", "3");
        drop(repo);
        assert_eq!(records(dir).len(), 2);
        git_fsck(dir);
    }
}
