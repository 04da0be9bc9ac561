//! Loose objects: `objects/<2 hex>/<rest>`, each file one zlib stream of `"<kind> <size>\0"` and
//! the content.
//!
//! Reads check the header the way Git does (kind word, canonical decimal size, no trailing
//! garbage) and the object's hash, so a flipped byte is reported against the object it damaged.
//! Writes go to a temporary file in the same directory, are fsynced when configured, and are
//! renamed into place: a reader never sees a partial object, and a crash leaves at worst a
//! `tmp_obj_*` file that `git prune` removes.

use std::collections::BTreeSet;
use std::fs;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use flate2::read::ZlibDecoder;
use flate2::write::ZlibEncoder;
use flate2::Compression;

use crate::backend::{Error, ObjectStream, Result};
use crate::object::{HashKind, ObjectId, ObjectKind, RawObject};

/// Git refuses loose headers longer than this.
const MAX_HEADER_LEN: usize = 32;

/// The loose half of an object directory.
pub struct LooseObjects {
    dir: PathBuf,
    hash: HashKind,
    fsync: bool,
    /// Fan-out directories that received new entries since the last flush (to fsync).
    dirty_dirs: Mutex<BTreeSet<PathBuf>>,
}

pub(crate) fn io_err(path: &Path) -> impl FnOnce(io::Error) -> Error + '_ {
    move |source| Error::Io {
        path: path.to_path_buf(),
        source,
    }
}

impl LooseObjects {
    pub fn new(objects_dir: PathBuf, hash: HashKind, fsync: bool) -> LooseObjects {
        LooseObjects {
            dir: objects_dir,
            hash,
            fsync,
            dirty_dirs: Mutex::new(BTreeSet::new()),
        }
    }

    fn path_of(&self, id: &ObjectId) -> PathBuf {
        let hex = id.to_hex();
        self.dir.join(&hex[..2]).join(&hex[2..])
    }

    pub fn contains(&self, id: &ObjectId) -> bool {
        self.path_of(id).is_file()
    }

    /// Whether `id` is stored loose, freshening it for a concurrent `gc` (false if `gc` just
    /// removed it).
    pub fn reuse(&self, id: &ObjectId) -> bool {
        let path = self.path_of(id);
        path.is_file() && freshen(&path)
    }

    pub fn read(&self, id: &ObjectId) -> Result<Option<RawObject>> {
        let path = self.path_of(id);
        let compressed = match fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(io_err(&path)(e)),
        };
        let obj = decode(&compressed).map_err(|reason| Error::CorruptObject { id: *id, reason })?;
        let actual = obj.id(self.hash);
        if actual != *id {
            return Err(Error::CorruptObject {
                id: *id,
                reason: format!("content hashes to {actual} (file {})", path.display()),
            });
        }
        Ok(Some(obj))
    }

    pub fn write(&self, kind: ObjectKind, data: &[u8]) -> Result<ObjectId> {
        let id = ObjectId::for_object(self.hash, kind, data);
        let path = self.path_of(&id);
        // Reusing an existing object: freshen it so a concurrent `gc` keeps it. If that fails
        // (`gc` just removed it), write it again.
        if path.is_file() && freshen(&path) {
            return Ok(id);
        }
        self.write_stream(kind, data.len() as u64, &mut &data[..])
    }

    /// Stores an object of `size` bytes read from `src`, never holding it in memory: it is
    /// compressed into a temporary file while hashed, then renamed to the name its hash gives
    /// (Git's streamed loose write). Nothing is stored unless `src` gives exactly `size` bytes.
    pub fn write_stream(&self, kind: ObjectKind, size: u64, src: &mut dyn Read) -> Result<ObjectId> {
        fs::create_dir_all(&self.dir).map_err(io_err(&self.dir))?;
        let (tmp_path, file) = create_temp(&self.dir, "tmp_obj_")?;
        let written = self.compress_from(file, &tmp_path, kind, size, src);
        let id = match written {
            Ok(id) => id,
            Err(e) => {
                let _ = fs::remove_file(&tmp_path);
                return Err(e);
            }
        };
        let path = self.path_of(&id);
        if path.is_file() && freshen(&path) {
            let _ = fs::remove_file(&tmp_path);
            return Ok(id);
        }
        let fan_dir = path.parent().unwrap_or(&self.dir).to_path_buf();
        // `gc` removes empty fan-out directories: create it again if it vanishes in between.
        let mut attempts = 0;
        loop {
            if self.fsync && !fan_dir.is_dir() {
                if let Ok(mut dirty) = self.dirty_dirs.lock() {
                    dirty.insert(self.dir.clone());
                }
            }
            fs::create_dir_all(&fan_dir).map_err(io_err(&fan_dir))?;
            match fs::rename(&tmp_path, &path) {
                Ok(()) => break,
                Err(e) if e.kind() == io::ErrorKind::NotFound && attempts < 20 => attempts += 1,
                Err(e) => {
                    let _ = fs::remove_file(&tmp_path);
                    return Err(io_err(&path)(e));
                }
            }
        }
        if self.fsync {
            if let Ok(mut dirty) = self.dirty_dirs.lock() {
                dirty.insert(fan_dir);
            }
        }
        Ok(id)
    }

    /// Compresses `"<kind> <size>\0"` and `size` bytes of `src` into `file`; the object's id.
    fn compress_from(
        &self,
        file: fs::File,
        path: &Path,
        kind: ObjectKind,
        size: u64,
        src: &mut dyn Read,
    ) -> Result<ObjectId> {
        let header = format!("{kind} {size}\0");
        let mut hasher = self.hash.hasher();
        hasher.update(header.as_bytes());
        let mut enc = ZlibEncoder::new(io::BufWriter::new(file), Compression::fast());
        enc.write_all(header.as_bytes()).map_err(io_err(path))?;
        let mut buf = vec![0u8; 256 << 10];
        let mut left = size;
        loop {
            let n = match src.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(Error::Source(e.to_string())),
            };
            if n as u64 > left {
                return Err(Error::Source(format!(
                    "the input holds more than the {size} bytes announced"
                )));
            }
            left -= n as u64;
            hasher.update(&buf[..n]);
            enc.write_all(&buf[..n]).map_err(io_err(path))?;
        }
        if left > 0 {
            return Err(Error::Source(format!(
                "the input ended after {} of the {size} bytes announced",
                size - left
            )));
        }
        let file = enc
            .finish()
            .and_then(|w| w.into_inner().map_err(|e| e.into_error()))
            .map_err(io_err(path))?;
        if self.fsync {
            file.sync_all().map_err(io_err(path))?;
        }
        let mut perms = file.metadata().map_err(io_err(path))?.permissions();
        perms.set_readonly(true);
        fs::set_permissions(path, perms).map_err(io_err(path))?;
        Ok(hasher.finish())
    }

    /// The object as a stream, inflated as it is read and checked against its id at the end,
    /// or `None` when it is not stored loose.
    pub fn read_stream(&self, id: &ObjectId) -> Result<Option<ObjectStream<'static>>> {
        let path = self.path_of(id);
        let file = match fs::File::open(&path) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(io_err(&path)(e)),
        };
        let compressed = file.metadata().map_err(io_err(&path))?.len();
        let corrupt = |reason: String| Error::CorruptObject { id: *id, reason };
        let mut dec = ZlibDecoder::new(io::BufReader::new(file));
        let (kind, size) = read_header(&mut dec).map_err(corrupt)?;
        if !plausible(size, compressed) {
            return Err(corrupt(format!(
                "header claims {size} bytes, more than the file can hold"
            )));
        }
        Ok(Some(Verified::stream(*id, kind, size, dec)))
    }

    /// Fsyncs the directories that received objects, so their new names survive a crash.
    pub fn flush(&self) -> Result<()> {
        let dirs = match self.dirty_dirs.lock() {
            Ok(mut d) => std::mem::take(&mut *d),
            Err(_) => return Ok(()),
        };
        for dir in dirs {
            fsync_dir(&dir)?;
        }
        Ok(())
    }

    pub fn ids_with_prefix(&self, prefix: &str) -> Result<Vec<ObjectId>> {
        let mut out = Vec::new();
        if prefix.len() < 2 {
            return Ok(out);
        }
        let dir = self.dir.join(&prefix[..2]);
        let entries = match fs::read_dir(&dir) {
            Ok(e) => e,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(out),
            Err(e) => return Err(io_err(&dir)(e)),
        };
        for entry in entries {
            let entry = entry.map_err(io_err(&dir))?;
            let name = entry.file_name();
            let Some(name) = name.to_str() else { continue };
            let hex = format!("{}{}", &prefix[..2], name);
            if hex.starts_with(prefix) {
                if let Some(id) = ObjectId::from_hex(hex.as_bytes()) {
                    if id.hash_kind() == self.hash {
                        out.push(id);
                    }
                }
            }
        }
        Ok(out)
    }
}

/// Reads a loose object's header (`"<kind> <size>\0"`) from the start of its inflated stream,
/// checked as Git does: a known kind, a canonical decimal size, at most 32 bytes.
fn read_header(dec: &mut impl Read) -> std::result::Result<(ObjectKind, u64), String> {
    let mut header = Vec::with_capacity(MAX_HEADER_LEN);
    let mut byte = [0u8; 1];
    loop {
        match dec.read(&mut byte) {
            Ok(0) => return Err("truncated header".into()),
            Ok(_) => {}
            Err(e) => return Err(format!("cannot inflate: {e}")),
        }
        if byte[0] == 0 {
            break;
        }
        header.push(byte[0]);
        if header.len() > MAX_HEADER_LEN {
            return Err("header too long".into());
        }
    }
    let sp = header
        .iter()
        .position(|&c| c == b' ')
        .ok_or("header has no size")?;
    let kind = ObjectKind::from_bytes(&header[..sp]).ok_or("unknown object type in header")?;
    let size_text = &header[sp + 1..];
    let canonical = !size_text.is_empty()
        && size_text.iter().all(u8::is_ascii_digit)
        && (size_text == b"0" || size_text[0] != b'0');
    if !canonical {
        return Err("malformed size in header".into());
    }
    let size: u64 = std::str::from_utf8(size_text)
        .ok()
        .and_then(|s| s.parse().ok())
        .ok_or("size in header overflows")?;
    Ok((kind, size))
}

/// Whether a zlib stream of `compressed` bytes could hold `size` bytes (it cannot expand more
/// than ~1032:1): a header claiming more is refused before anything is allocated for it.
fn plausible(size: u64, compressed: u64) -> bool {
    size <= compressed.saturating_mul(1100) + 1024
}

/// Inflates and checks a loose object file's bytes.
pub(crate) fn decode(compressed: &[u8]) -> std::result::Result<RawObject, String> {
    let mut dec = ZlibDecoder::new(compressed);
    let (kind, size) = read_header(&mut dec)?;
    if !plausible(size, compressed.len() as u64) {
        return Err(format!("header claims {size} bytes, more than the file can hold"));
    }
    let mut data = Vec::with_capacity(size as usize);
    let got = (&mut dec)
        .take(size + 1)
        .read_to_end(&mut data)
        .map_err(|e| format!("cannot inflate: {e}"))?;
    if got as u64 != size {
        return Err(format!("header says {size} bytes, content has {got}"));
    }
    // The stream must end here, with nothing after it.
    let mut rest = [0u8; 1];
    match dec.read(&mut rest) {
        Ok(0) => {}
        Ok(_) => return Err("content longer than its header says".into()),
        Err(e) => return Err(format!("cannot inflate: {e}")),
    }
    if (dec.total_in() as usize) < compressed.len() {
        return Err("garbage at end of loose object".into());
    }
    Ok(RawObject::new(kind, data))
}

/// An object's inflated content, read through: once its announced size has been read, the
/// stream must end and the content must hash to the id, else the last read is an error.
pub(super) struct Verified<R> {
    inner: R,
    hasher: Option<crate::object::Hasher>,
    left: u64,
    id: ObjectId,
}

impl<R: Read + Send + 'static> Verified<R> {
    /// The object `id` of `kind` and `size`, whose content `inner` gives, as a checked stream.
    pub(super) fn stream(id: ObjectId, kind: ObjectKind, size: u64, inner: R) -> ObjectStream<'static> {
        let mut hasher = id.hash_kind().hasher();
        hasher.update(format!("{kind} {size}\0").as_bytes());
        ObjectStream {
            kind,
            size,
            reader: Box::new(Verified {
                inner,
                hasher: Some(hasher),
                left: size,
                id,
            }),
        }
    }
}

impl<R: Read> Read for Verified<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let damaged = |id: ObjectId, why: String| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!("object {id} is corrupt: {why}"),
            )
        };
        if self.left == 0 {
            let Some(hasher) = self.hasher.take() else {
                return Ok(0);
            };
            let mut rest = [0u8; 1];
            let more = self
                .inner
                .read(&mut rest)
                .map_err(|e| damaged(self.id, format!("cannot inflate: {e}")))?;
            if more != 0 {
                return Err(damaged(self.id, "content longer than its header says".into()));
            }
            let actual = hasher.finish();
            if actual != self.id {
                return Err(damaged(self.id, format!("content hashes to {actual}")));
            }
            return Ok(0);
        }
        let want = buf.len().min(usize::try_from(self.left).unwrap_or(usize::MAX));
        let n = self
            .inner
            .read(&mut buf[..want])
            .map_err(|e| damaged(self.id, format!("cannot inflate: {e}")))?;
        if n == 0 {
            return Err(damaged(
                self.id,
                format!("content ends {} bytes early", self.left),
            ));
        }
        self.left -= n as u64;
        if let Some(h) = self.hasher.as_mut() {
            h.update(&buf[..n]);
        }
        if self.left == 0 {
            // Check at once, so that a reader that stops at the size still sees damage.
            let mut end = [0u8; 0];
            self.read(&mut end)?;
        }
        Ok(n)
    }
}

/// Creates `<dir>/<prefix>XXXXXX` exclusively.
pub(crate) fn create_temp(dir: &Path, prefix: &str) -> Result<(PathBuf, fs::File)> {
    create_temp_with(dir, prefix, false)
}

/// [`create_temp`]; with `read_only`, the file is created read-only (as packs and their
/// indexes are kept) and still written through the handle returned, saving a `chmod` later.
/// A missing `dir` is created.
pub(crate) fn create_temp_with(dir: &Path, prefix: &str, read_only: bool) -> Result<(PathBuf, fs::File)> {
    use std::sync::atomic::{AtomicU64, Ordering};
    let mut created = false;
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let pid = u64::from(std::process::id());
    loop {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos() as u64)
            .unwrap_or(0);
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let tag = (pid << 40) ^ (n << 20) ^ nanos;
        let path = dir.join(format!("{prefix}{:06x}", tag & 0xff_ffff_ffff));
        let mut options = fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        if read_only {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o444);
        }
        match options.open(&path) {
            Ok(f) => return Ok((path, f)),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(e) if e.kind() == io::ErrorKind::NotFound && !created && !dir.is_dir() => {
                fs::create_dir_all(dir).map_err(io_err(dir))?;
                created = true;
            }
            Err(e) => return Err(io_err(&path)(e)),
        }
    }
}

/// Sets a file's modification time to now (best effort): `gc` keeps recent objects and packs,
/// so an object a writer has just reused survives a concurrent collection.
pub(crate) fn freshen(path: &Path) -> bool {
    fs::File::open(path).is_ok_and(|f| f.set_modified(std::time::SystemTime::now()).is_ok())
}

/// Fsyncs a directory so that renames into it are durable.
pub(crate) fn fsync_dir(dir: &Path) -> Result<()> {
    let f = fs::File::open(dir).map_err(io_err(dir))?;
    f.sync_all().map_err(io_err(dir))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn write_then_read_and_detect_damage() {
        let tmp = tempfile::tempdir().unwrap();
        let loose = LooseObjects::new(tmp.path().to_path_buf(), HashKind::Sha1, true);
        let id = loose.write(ObjectKind::Blob, b"hello\n").unwrap();
        assert_eq!(id.to_hex(), "ce013625030ba8dba906f756967f9e9ca394464a");
        loose.flush().unwrap();
        assert_eq!(loose.read(&id).unwrap().unwrap().data, b"hello\n");
        assert_eq!(loose.ids_with_prefix("ce01").unwrap(), vec![id]);

        let path = loose.path_of(&id);
        let mut bytes = fs::read(&path).unwrap();
        let mid = bytes.len() / 2;
        bytes[mid] ^= 0x40;
        fs::set_permissions(
            &path,
            <fs::Permissions as std::os::unix::fs::PermissionsExt>::from_mode(0o644),
        )
        .unwrap();
        fs::write(&path, &bytes).unwrap();
        let err = loose.read(&id).unwrap_err().to_string();
        assert!(err.contains(&id.to_hex()), "{err}");
    }

    #[test]
    fn rejects_malformed_headers() {
        let enc = |raw: &[u8]| {
            let mut e = ZlibEncoder::new(Vec::new(), Compression::fast());
            e.write_all(raw).unwrap();
            e.finish().unwrap()
        };
        for bad in [
            &b"blob 010\0abcdefghij"[..],
            b"blob 3\0ab",
            b"blob 1\0ab",
            b"blub 1\0a",
            b"blob\0",
            b"blob 1",
        ] {
            assert!(decode(&enc(bad)).is_err(), "{:?}", String::from_utf8_lossy(bad));
        }
        let mut trailing = enc(b"blob 1\0a");
        trailing.push(0);
        assert!(decode(&trailing).is_err());
        assert!(decode(b"not zlib").is_err());
        assert_eq!(decode(&enc(b"blob 0\0")).unwrap().data, b"");
    }
}
