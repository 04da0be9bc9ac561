//! References stored the way Git's "files" backend stores them: one loose file per reference
//! (`<git_dir>/refs/heads/main` holding `<hex>\n`, or `ref: <target>\n` for a symbolic one),
//! the `packed-refs` file for references that `git pack-refs` moved there, and a reflog per
//! reference under `logs/`. A loose reference overrides a packed one; loose files are always read
//! before `packed-refs`, because `git pack-refs` writes `packed-refs` before it unlinks the loose
//! files.
//!
//! Every change is a compare-and-swap made under Git's lock protocol: `<ref>.lock` is created
//! with `O_CREAT|O_EXCL` (retried with jittered backoff for a bounded time, then
//! [`Error::Locked`]), the current value is checked while holding it, the new value is written
//! into the lock file, which is then renamed onto the reference. Deletions also rewrite
//! `packed-refs` under `packed-refs.lock` and keep holding that lock until the loose file is gone,
//! so that a concurrent `git pack-refs` cannot resurrect the deleted value. A lock is also held as
//! an OS advisory lock while this process has it, so a lock left by a process that died is
//! recognised and removed by the next writer, and a live holder's never is ([`lock`]).
//!
//! Reflogs are written for `HEAD` and `refs/heads/*` always, for other references only when their
//! log file already exists; an update of the branch `HEAD` points at is also logged in
//! `logs/HEAD`, as Git does. As in Git, the reflog line is appended while the lock is held and
//! before the rename that publishes the new value, so a failed update never leaves a reference
//! changed behind an error (at worst a log line names an update that did not happen).

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use crate::backend::{check_ref_name, AtomicWrite, Error, Expected, RefLog, RefTarget, ReflogEntry, Result};
use crate::object::{escape_bytes, HashKind, ObjectId, Signature};
use crate::retry::Retry;

pub(crate) mod lock;
pub(crate) mod old_files;

/// How long to wait for another writer's lock before giving up with [`Error::Locked`]. Git waits
/// 100 ms for reference locks (`core.filesRefLockTimeout`) and 1 s for `packed-refs.lock`.
const LOCK_TIMEOUT: Duration = Duration::from_secs(2);

/// The header `git pack-refs` writes; the space before the newline is part of the format.
#[cfg(test)]
const PACKED_HEADER: &str = "# pack-refs with: peeled fully-peeled sorted \n";

/// `packed-refs` modified more recently than this is not cached (see [`GitRefs::packed`]).
const RACY_WINDOW: Duration = Duration::from_secs(2);

/// How often an update starts over because a symbolic reference changed while it waited.
const MAX_ATTEMPTS: usize = 5;

/// The references of one Git repository, in loose files and `packed-refs`.
#[derive(Debug)]
pub struct GitRefs {
    git_dir: PathBuf,
    hash: HashKind,
    fsync: bool,
    lock_timeout: Duration,
    /// `packed-refs` as last parsed, valid while the file's stat data is unchanged.
    packed: Mutex<Option<PackedCache>>,
    /// The object store whose waiting objects must be durable before a reference names them.
    objects: Option<super::GitObjects>,
    /// Where updates are recorded instead of syncing the reference's files.
    journal: Option<Arc<super::journal::Journal>>,
}

impl Drop for GitRefs {
    fn drop(&mut self) {
        // No replaced reference file outlives the store that replaced it.
        old_files::drain();
    }
}

#[derive(Debug)]
struct PackedCache {
    stamp: FileStamp,
    refs: Arc<PackedRefs>,
}

/// What identifies one version of a file: if any of it changes, the file must be read again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct FileStamp {
    len: u64,
    modified: Option<SystemTime>,
    #[cfg(unix)]
    ino: u64,
    #[cfg(unix)]
    dev: u64,
    #[cfg(unix)]
    ctime: (i64, i64),
}

impl FileStamp {
    fn of(meta: &fs::Metadata) -> FileStamp {
        #[cfg(unix)]
        use std::os::unix::fs::MetadataExt;
        FileStamp {
            len: meta.len(),
            modified: meta.modified().ok(),
            #[cfg(unix)]
            ino: meta.ino(),
            #[cfg(unix)]
            dev: meta.dev(),
            #[cfg(unix)]
            ctime: (meta.ctime(), meta.ctime_nsec()),
        }
    }
}

/// The parsed `packed-refs` file: reference name → id (peeled ids are checked, not kept).
#[derive(Debug, Default)]
struct PackedRefs {
    refs: BTreeMap<String, ObjectId>,
}

impl PackedRefs {
    fn get(&self, name: &str) -> Option<ObjectId> {
        self.refs.get(name).copied()
    }

    /// Every packed reference whose name starts with `prefix`, in name order.
    fn with_prefix<'a>(&'a self, prefix: &'a str) -> impl Iterator<Item = (&'a String, &'a ObjectId)> {
        self.refs
            .range::<str, _>((std::ops::Bound::Included(prefix), std::ops::Bound::Unbounded))
            .take_while(move |(name, _)| name.starts_with(prefix))
    }
}

/// What an update finds under the lock.
enum Current {
    /// No such reference.
    Missing,
    Value(ObjectId),
    /// A loose file that cannot be parsed (only tolerated when force-deleting).
    Broken,
}

impl GitRefs {
    /// The references of the repository at `git_dir` (a bare repository's root or a checkout's
    /// `.git`), whose ids are `hash` ids. With `fsync`, every written file and the directory it
    /// was renamed into are flushed to disk before an update returns.
    pub fn new(git_dir: PathBuf, hash: HashKind, fsync: bool) -> GitRefs {
        GitRefs {
            git_dir,
            hash,
            fsync,
            lock_timeout: LOCK_TIMEOUT,
            packed: Mutex::new(None),
            objects: None,
            journal: None,
        }
    }

    /// The same references, recording each update in `journal` (when this process owns it)
    /// instead of syncing the reference's lock file and directory.
    pub fn journaled(mut self, journal: Arc<super::journal::Journal>) -> GitRefs {
        self.journal = Some(journal);
        self
    }

    /// The same references, flushing `objects` (writing whatever waits in memory, durably)
    /// before any update points a reference at an id: no reference on disk ever names an
    /// object that is not.
    pub fn flushing(mut self, objects: super::GitObjects) -> GitRefs {
        self.objects = Some(objects);
        self
    }

    /// The same store, waiting at most `timeout` for another writer's lock.
    #[cfg(test)]
    fn with_lock_timeout(mut self, timeout: Duration) -> GitRefs {
        self.lock_timeout = timeout;
        self
    }

    fn ref_path(&self, name: &str) -> PathBuf {
        self.git_dir.join(name)
    }

    fn log_path(&self, name: &str) -> PathBuf {
        self.git_dir.join("logs").join(name)
    }

    fn packed_path(&self) -> PathBuf {
        self.git_dir.join("packed-refs")
    }

    // ----- reading -------------------------------------------------------------------------

    /// The loose file of `name`, if there is one (a directory at that path counts as none).
    fn read_loose(&self, name: &str) -> Result<Option<RefTarget>> {
        let path = self.ref_path(name);
        let bytes = match fs::read(&path) {
            Ok(b) => b,
            Err(e) if is_absent(&e) => return Ok(None),
            Err(source) => return Err(Error::Io { path, source }),
        };
        self.parse_loose(name, &bytes).map(Some)
    }

    /// Parses a loose reference file the way `parse_loose_ref_contents` does.
    fn parse_loose(&self, name: &str, bytes: &[u8]) -> Result<RefTarget> {
        let bad = |reason: String| Error::BadRef {
            name: name.to_string(),
            reason,
        };
        if let Some(rest) = bytes.strip_prefix(b"ref:") {
            let target = trim_ascii(rest);
            let target = std::str::from_utf8(target)
                .map_err(|_| bad(format!("symbolic target '{}' is not UTF-8", escape_bytes(target))))?;
            check_ref_name(target).map_err(|_| {
                bad(format!(
                    "invalid symbolic target '{}'",
                    escape_bytes(target.as_bytes())
                ))
            })?;
            return Ok(RefTarget::Symbolic(target.to_string()));
        }
        let hex_len = self.hash.hex_len();
        let id = bytes
            .get(..hex_len)
            .and_then(ObjectId::from_hex)
            .filter(|id| id.hash_kind() == self.hash);
        let rest = bytes.get(hex_len..).unwrap_or_default();
        match id {
            Some(id) if rest.first().is_none_or(|c| c.is_ascii_whitespace()) => Ok(RefTarget::Direct(id)),
            _ => Err(bad(format!(
                "loose file holds neither a {} id nor 'ref: <name>': '{}'",
                self.hash.name(),
                escape_bytes(&bytes[..bytes.len().min(100)])
            ))),
        }
    }

    /// `packed-refs`, parsed again only when the file changed since the last read.
    fn packed(&self) -> Result<Arc<PackedRefs>> {
        let path = self.packed_path();
        let mut file = match File::open(&path) {
            Ok(f) => f,
            Err(e) if is_absent(&e) => return Ok(Arc::new(PackedRefs::default())),
            Err(source) => return Err(Error::Io { path, source }),
        };
        let meta = file.metadata().map_err(|source| Error::Io {
            path: path.clone(),
            source,
        })?;
        let stamp = FileStamp::of(&meta);
        {
            let cache = self.packed.lock().unwrap_or_else(|e| e.into_inner());
            if let Some(c) = cache.as_ref().filter(|c| c.stamp == stamp) {
                return Ok(c.refs.clone());
            }
        }
        let mut bytes = Vec::with_capacity(usize::try_from(meta.len()).unwrap_or(0));
        file.read_to_end(&mut bytes).map_err(|source| Error::Io {
            path: path.clone(),
            source,
        })?;
        let refs = Arc::new(self.parse_packed(&path, &bytes)?);
        // A file changed within the last moments could be replaced by another with the same
        // stat data (same timestamp tick, size and recycled inode): only cache settled files.
        let settled = meta
            .modified()
            .ok()
            .and_then(|m| SystemTime::now().duration_since(m).ok())
            .is_some_and(|age| age > RACY_WINDOW);
        let mut cache = self.packed.lock().unwrap_or_else(|e| e.into_inner());
        *cache = settled.then(|| PackedCache {
            stamp,
            refs: refs.clone(),
        });
        Ok(refs)
    }

    /// Parses `packed-refs` as `refs/packed-backend.c` does: an optional `# pack-refs with:`
    /// header, then `<hex> <name>` lines, each optionally followed by one `^<peeled hex>` line.
    /// Entries with invalid names are skipped (Git marks them broken); anything else malformed
    /// makes the whole file corrupt.
    fn parse_packed(&self, path: &Path, bytes: &[u8]) -> Result<PackedRefs> {
        let corrupt = |line: usize, reason: String| Error::CorruptFile {
            path: path.to_path_buf(),
            reason: format!("line {line}: {reason}"),
        };
        let hex_len = self.hash.hex_len();
        let mut refs = BTreeMap::new();
        let mut after_ref = false;
        let mut rest = bytes;
        let mut line_no = 0;
        while !rest.is_empty() {
            line_no += 1;
            let Some(end) = rest.iter().position(|&c| c == b'\n') else {
                return Err(corrupt(line_no, "unterminated line".into()));
            };
            let line = &rest[..end];
            rest = &rest[end + 1..];
            if line_no == 1 && line.starts_with(b"# pack-refs with:") {
                continue;
            }
            if let Some(peeled) = line.strip_prefix(b"^") {
                if !after_ref || self.parse_id(peeled).is_none() {
                    return Err(corrupt(
                        line_no,
                        format!("unexpected line '{}'", escape_bytes(line)),
                    ));
                }
                after_ref = false;
                continue;
            }
            let id = line.get(..hex_len).and_then(|h| self.parse_id(h));
            let name = line
                .get(hex_len + 1..)
                .filter(|_| line.get(hex_len) == Some(&b' '));
            let (Some(id), Some(name)) = (id, name) else {
                return Err(corrupt(
                    line_no,
                    format!("unexpected line '{}'", escape_bytes(line)),
                ));
            };
            after_ref = true;
            match std::str::from_utf8(name) {
                Ok(name) if check_ref_name(name).is_ok() => {
                    refs.insert(name.to_string(), id);
                }
                _ => {} // a broken entry: invisible, as in Git
            }
        }
        Ok(PackedRefs { refs })
    }

    /// A full-length id of this repository's format.
    fn parse_id(&self, hex: &[u8]) -> Option<ObjectId> {
        ObjectId::from_hex(hex).filter(|id| id.hash_kind() == self.hash)
    }

    /// Follows symbolic references from `name` to the reference an update must change. A loose
    /// file that cannot be parsed ends the chain (it is the reference to change).
    fn update_target(&self, name: &str) -> Result<String> {
        let mut current = name.to_string();
        for _ in 0..=5 {
            match self.read_ref(&current) {
                Ok(Some(RefTarget::Symbolic(target))) => current = target,
                Ok(_) | Err(Error::BadRef { .. }) => return Ok(current),
                Err(e) => return Err(e),
            }
        }
        Err(Error::BadRef {
            name: name.to_string(),
            reason: "symbolic reference chain is too long".into(),
        })
    }

    // ----- conflicts -----------------------------------------------------------------------

    /// Fails if a reference named like a parent directory of `name` exists (`refs/heads/a`
    /// blocks `refs/heads/a/b`).
    fn check_parent_conflicts(&self, name: &str, packed: &PackedRefs) -> Result<()> {
        for (i, _) in name.match_indices('/') {
            let prefix = &name[..i];
            let is_file = fs::symlink_metadata(self.ref_path(prefix)).is_ok_and(|m| !m.is_dir());
            if is_file || packed.get(prefix).is_some() {
                return Err(Error::NameConflict {
                    name: name.to_string(),
                    reason: format!("cannot create it: reference '{prefix}' exists"),
                });
            }
        }
        Ok(())
    }

    /// Fails if `name` cannot be created because of a D/F conflict: a reference named like one
    /// of its parent directories, or references below `name/`. Empty directories left at
    /// `name`'s path are removed.
    fn check_df_conflicts(&self, name: &str, packed: &PackedRefs) -> Result<()> {
        self.check_parent_conflicts(name, packed)?;
        let below = format!("{name}/");
        let conflict = |what: String| Error::NameConflict {
            name: name.to_string(),
            reason: format!("cannot create it: {what} exists"),
        };
        if let Some((other, _)) = packed.with_prefix(&below).next() {
            return Err(conflict(format!("reference '{other}'")));
        }
        let path = self.ref_path(name);
        if fs::symlink_metadata(&path).is_ok_and(|m| m.is_dir()) && !remove_empty_dirs(&path) {
            return Err(conflict(format!(
                "directory '{}' with references in it",
                path.display()
            )));
        }
        Ok(())
    }

    // ----- writing -------------------------------------------------------------------------

    fn lock(&self, name: &str) -> Result<LockFile> {
        LockFile::acquire(&self.ref_path(name), name, self.lock_timeout)
    }

    /// The reflogs an update of `target` reached through `name` appends to: `target`'s own,
    /// `name`'s when it is a symbolic reference, and `HEAD`'s when HEAD points at `target`.
    fn log_names(&self, name: &str, target: &str) -> Vec<String> {
        let mut names = vec![target.to_string()];
        if name != target {
            names.push(name.to_string());
        }
        if target != "HEAD" && !names.iter().any(|n| n == "HEAD") {
            if let Ok(Some(RefTarget::Symbolic(head))) = self.read_loose("HEAD") {
                if head == target {
                    names.push("HEAD".to_string());
                }
            }
        }
        names
    }

    /// One reflog line, as `log_ref_write_fd` formats it.
    fn reflog_line(&self, old: Option<ObjectId>, new: Option<ObjectId>, log: &RefLog) -> Vec<u8> {
        let null = self.hash.null_id();
        let who = &log.who;
        let mut line = format!(
            "{} {} {} <{}> {} {}",
            old.unwrap_or(null),
            new.unwrap_or(null),
            sanitize_ident(&who.name),
            sanitize_ident(&who.email),
            who.time,
            who.zone()
        );
        let message = normalize_message(&log.message);
        if !message.is_empty() {
            line.push('\t');
            line.push_str(&message);
        }
        line.push('\n');
        line.into_bytes()
    }

    /// Appends `line` to `name`'s reflog: always for `HEAD` and `refs/heads/*` (creating the
    /// file), otherwise only if the log already exists.
    fn append_reflog(&self, name: &str, line: &[u8]) -> Result<()> {
        let path = self.log_path(name);
        let create = name == "HEAD" || name.starts_with("refs/heads/");
        let io_err = |path: &Path, source| Error::Io {
            path: path.to_path_buf(),
            source,
        };
        let mut attempts = 0;
        let mut file = loop {
            match OpenOptions::new().append(true).open(&path) {
                Ok(f) => break f,
                Err(e) if is_absent(&e) && !create => return Ok(()),
                // Create it; retry if a concurrent deletion removes the empty parent directory
                // between the two steps.
                Err(e) if is_absent(&e) && attempts < 50 => {
                    attempts += 1;
                    if fs::symlink_metadata(&path).is_ok_and(|m| m.is_dir()) {
                        // Left behind by deleted references below `name/`.
                        remove_empty_dirs(&path);
                    }
                    if let Some(parent) = path.parent() {
                        match fs::create_dir_all(parent) {
                            Ok(()) => {}
                            // A concurrent deletion removed a directory on the way (or the one
                            // `create_dir_all` found existing, before it could check it): again.
                            Err(e)
                                if matches!(
                                    e.kind(),
                                    io::ErrorKind::NotFound | io::ErrorKind::AlreadyExists
                                ) =>
                            {
                                continue
                            }
                            Err(e) => return Err(io_err(parent, e)),
                        }
                    }
                    match OpenOptions::new().append(true).create(true).open(&path) {
                        Ok(f) => break f,
                        Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                        Err(e) => return Err(io_err(&path, e)),
                    }
                }
                Err(e) => return Err(io_err(&path, e)),
            }
        };
        // Not synced, as git does not: a reflog is advisory history, and the reference it
        // describes is synced right after.
        file.write_all(line).map_err(|e| io_err(&path, e))?;
        Ok(())
    }

    /// Deletes `target` (whose lock is held): out of `packed-refs` first, then the loose file,
    /// holding `packed-refs.lock` throughout, then its reflog.
    fn delete_locked(&self, target: &str) -> Result<()> {
        let packed_path = self.packed_path();
        let packed_lock = LockFile::acquire(&packed_path, "packed-refs", self.lock_timeout)?;
        let contents = match fs::read(&packed_path) {
            Ok(b) => Some(b),
            Err(e) if is_absent(&e) => None,
            Err(source) => {
                return Err(Error::Io {
                    path: packed_path,
                    source,
                })
            }
        };
        if let Some(contents) = contents {
            // Parse first so that a corrupt file is reported rather than rewritten.
            let parsed = self.parse_packed(&packed_path, &contents)?;
            if parsed.get(target).is_some() {
                let new_contents = packed_without(&contents, target, self.hash.hex_len());
                let tmp = path_with_suffix(&packed_path, ".new");
                write_file(&tmp, &new_contents, self.fsync)?;
                fs::rename(&tmp, &packed_path).map_err(|source| {
                    let _ = fs::remove_file(&tmp);
                    Error::Io {
                        path: packed_path.clone(),
                        source,
                    }
                })?;
                if self.fsync {
                    fsync_dir(&self.git_dir)?;
                }
            }
        }
        let path = self.ref_path(target);
        match fs::remove_file(&path) {
            Ok(()) => {}
            Err(e) if is_absent(&e) => {}
            Err(source) => return Err(Error::Io { path, source }),
        }
        drop(packed_lock);
        if self.fsync {
            if let Some(parent) = path.parent() {
                fsync_dir(parent)?;
            }
        }
        let log = self.log_path(target);
        match fs::remove_file(&log) {
            Ok(()) => {}
            Err(e) if is_absent(&e) => {}
            Err(source) => return Err(Error::Io { path: log, source }),
        }
        Ok(())
    }

    /// Removes the now empty directories `name` lived in, keeping the first two levels
    /// (`refs/heads`, `logs/refs`).
    fn remove_empty_parents(&self, base: &Path, name: &str) {
        let parts: Vec<&str> = name.split('/').collect();
        for keep in (3..parts.len()).rev() {
            if fs::remove_dir(base.join(parts[..keep].join("/"))).is_err() {
                break;
            }
        }
    }
}

impl AtomicWrite for GitRefs {
    fn read_ref(&self, name: &str) -> Result<Option<RefTarget>> {
        check_ref_name(name)?;
        if let Some(target) = self.read_loose(name)? {
            return Ok(Some(target));
        }
        Ok(self.packed()?.get(name).map(RefTarget::Direct))
    }

    fn update(&self, name: &str, expected: Expected, new: Option<ObjectId>, log: &RefLog) -> Result<bool> {
        check_ref_name(name)?;
        if let Some(id) = new.filter(|id| id.hash_kind() != self.hash) {
            return Err(Error::BadRef {
                name: name.to_string(),
                reason: format!(
                    "cannot store {} id {id} in a {} repository",
                    id.hash_kind().name(),
                    self.hash.name()
                ),
            });
        }
        for _ in 0..MAX_ATTEMPTS {
            let target = self.update_target(name)?;
            // A reference that is a file has directories, not references, above it.
            if new.is_some() && !self.ref_path(&target).is_file() {
                self.check_parent_conflicts(&target, self.packed()?.as_ref())?;
            }
            let mut lock = self.lock(&target)?;
            // Holding the lock, check that `name` still leads to `target` (a direct reference
            // that became symbolic is seen just below).
            if name != target && self.update_target(name)? != target {
                continue;
            }
            let current = match self.read_ref(&target) {
                Ok(None) => Current::Missing,
                Ok(Some(RefTarget::Direct(id))) => Current::Value(id),
                Ok(Some(RefTarget::Symbolic(_))) => continue,
                // A torn file can be overwritten or deleted, but only by a forced update.
                Err(Error::BadRef { .. }) if expected == Expected::Any => Current::Broken,
                Err(e) => return Err(e),
            };
            let old = match current {
                Current::Value(id) => Some(id),
                Current::Missing | Current::Broken => None,
            };
            if !expected.matches(old) {
                return Ok(false);
            }
            let log_names = self.log_names(name, &target);
            let line = self.reflog_line(old, new, log);
            match new {
                Some(id) => {
                    if old.is_none() {
                        self.check_df_conflicts(&target, self.packed()?.as_ref())?;
                    }
                    // The objects the reference will name are made durable while the lock's
                    // content is synced; the reference moves only after both. Through the
                    // journal, neither is synced: the move's record, after the objects' record,
                    // is, with one sync for both, before the move.
                    let journal = self.journal.as_ref().filter(|j| self.fsync && j.is_owned());
                    let fsync = self.fsync && journal.is_none();
                    lock.write_synced_while(format!("{id}\n").as_bytes(), fsync, || match &self.objects {
                        Some(objects) => crate::backend::ContentAddressable::flush_for(objects, &id),
                        None => Ok(()),
                    })?;
                    if let Some(journal) = journal {
                        journal.append_ref(&target, old, new)?;
                    }
                    for log_name in &log_names {
                        self.append_reflog(log_name, &line)?;
                    }
                    // The file being replaced keeps a second name, removed on another thread:
                    // freeing it is most of the rename's cost (see `old_files`).
                    let dest = self.ref_path(&target);
                    let kept = old.and_then(|_| old_files::keep(&self.git_dir, &dest));
                    let renamed = lock.rename_onto(&dest, fsync);
                    if let Some(kept) = kept {
                        old_files::remove_later(kept);
                    }
                    renamed?;
                }
                None => {
                    if matches!(current, Current::Missing) {
                        return Ok(true);
                    }
                    // The deleted ref's own log goes; HEAD's (or a symref's) records it.
                    for log_name in log_names.iter().filter(|n| **n != target) {
                        self.append_reflog(log_name, &line)?;
                    }
                    self.delete_locked(&target)?;
                    drop(lock);
                    self.remove_empty_parents(&self.git_dir, &target);
                    self.remove_empty_parents(&self.git_dir.join("logs"), &target);
                }
            }
            return Ok(true);
        }
        Err(Error::BadRef {
            name: name.to_string(),
            reason: "symbolic reference kept changing during the update".into(),
        })
    }

    fn set_symbolic(&self, name: &str, target: &str) -> Result<()> {
        check_ref_name(name)?;
        check_ref_name(target)?;
        self.check_parent_conflicts(name, self.packed()?.as_ref())?;
        let lock = self.lock(name)?;
        if self.read_ref(name).ok().flatten().is_none() {
            self.check_df_conflicts(name, self.packed()?.as_ref())?;
        }
        lock.commit(
            format!("ref: {target}\n").as_bytes(),
            &self.ref_path(name),
            self.fsync,
        )
    }

    fn list(&self, prefix: &str) -> Result<Vec<(String, ObjectId)>> {
        // Loose first: `None` marks a symbolic or broken loose reference, which hides a packed one.
        let mut found: BTreeMap<String, Option<ObjectId>> = BTreeMap::new();
        let start = if let Some(slash) = prefix.strip_prefix("refs/").and_then(|_| prefix.rfind('/')) {
            Some(&prefix[..slash])
        } else if "refs/".starts_with(prefix) {
            Some("refs")
        } else {
            None
        };
        if let Some(start) = start {
            self.walk_loose(&self.git_dir.join(start), start, prefix, &mut found)?;
        }
        let packed = self.packed()?;
        for (name, id) in packed.with_prefix(prefix) {
            found.entry(name.clone()).or_insert(Some(*id));
        }
        Ok(found
            .into_iter()
            .filter_map(|(name, id)| Some((name, id?)))
            .collect())
    }

    fn expire_reflog(&self, name: &str) -> Result<()> {
        check_ref_name(name)?;
        let path = self.log_path(name);
        match fs::remove_file(&path) {
            Ok(()) => Ok(()),
            Err(e) if is_absent(&e) => Ok(()),
            Err(source) => Err(Error::Io { path, source }),
        }
    }

    fn reflog(&self, name: &str) -> Result<Vec<ReflogEntry>> {
        check_ref_name(name)?;
        let path = self.log_path(name);
        let bytes = match fs::read(&path) {
            Ok(b) => b,
            Err(e) if is_absent(&e) => return Ok(Vec::new()),
            Err(source) => return Err(Error::Io { path, source }),
        };
        let mut entries = Vec::new();
        let body = bytes.strip_suffix(b"\n").unwrap_or(&bytes);
        if body.is_empty() {
            return Ok(entries);
        }
        for (i, line) in body.split(|&c| c == b'\n').enumerate() {
            let entry = self.parse_reflog_line(line).ok_or_else(|| Error::CorruptFile {
                path: path.clone(),
                reason: format!("line {}: malformed reflog entry '{}'", i + 1, escape_bytes(line)),
            })?;
            entries.push(entry);
        }
        Ok(entries)
    }
}

impl GitRefs {
    /// The names of every loose reference file under `refs/` with a valid name, including
    /// symbolic and unparseable ones (which [`AtomicWrite::list`] leaves out).
    pub fn loose_names(&self) -> Result<Vec<String>> {
        let mut found = BTreeMap::new();
        self.walk_loose(&self.git_dir.join("refs"), "refs", "refs/", &mut found)?;
        Ok(found.into_keys().collect())
    }

    /// Rewrites the reflog of `name`, keeping only the entries `keep` accepts (lines that do not
    /// parse are dropped too); returns how many lines were dropped. Done under the reference's
    /// lock, as appends are, and replaced atomically.
    pub fn retain_reflog(&self, name: &str, keep: &dyn Fn(&ReflogEntry) -> bool) -> Result<usize> {
        check_ref_name(name)?;
        let path = self.log_path(name);
        let _lock = self.lock(name)?;
        let bytes = match fs::read(&path) {
            Ok(b) => b,
            Err(e) if is_absent(&e) => return Ok(0),
            Err(source) => return Err(Error::Io { path, source }),
        };
        let mut kept = Vec::with_capacity(bytes.len());
        let mut dropped = 0;
        for line in bytes.split(|&c| c == b'\n').filter(|l| !l.is_empty()) {
            if self.parse_reflog_line(line).is_some_and(|e| keep(&e)) {
                kept.extend_from_slice(line);
                kept.push(b'\n');
            } else {
                dropped += 1;
            }
        }
        if dropped > 0 {
            let tmp = path_with_suffix(&path, ".new");
            write_file(&tmp, &kept, self.fsync)?;
            fs::rename(&tmp, &path).map_err(|source| {
                let _ = fs::remove_file(&tmp);
                Error::Io {
                    path: path.clone(),
                    source,
                }
            })?;
        }
        Ok(dropped)
    }

    /// Collects the loose references in `dir` (named `rel`) and below whose names start with
    /// `prefix`. Lock files, invalid names and unreadable junk are skipped.
    fn walk_loose(
        &self,
        dir: &Path,
        rel: &str,
        prefix: &str,
        found: &mut BTreeMap<String, Option<ObjectId>>,
    ) -> Result<()> {
        let entries = match fs::read_dir(dir) {
            Ok(e) => e,
            Err(e) if is_absent(&e) => return Ok(()),
            Err(source) => {
                return Err(Error::Io {
                    path: dir.to_path_buf(),
                    source,
                })
            }
        };
        for entry in entries {
            let entry = entry.map_err(|source| Error::Io {
                path: dir.to_path_buf(),
                source,
            })?;
            let Ok(file_name) = entry.file_name().into_string() else {
                continue;
            };
            if file_name.ends_with(".lock") {
                continue;
            }
            let name = format!("{rel}/{file_name}");
            let is_dir = entry.file_type().is_ok_and(|t| t.is_dir());
            if is_dir {
                // Only descend where names starting with `prefix` can be.
                let as_prefix = format!("{name}/");
                if as_prefix.starts_with(prefix) || prefix.starts_with(&as_prefix) {
                    self.walk_loose(&entry.path(), &name, prefix, found)?;
                }
                continue;
            }
            if !name.starts_with(prefix) || check_ref_name(&name).is_err() {
                continue;
            }
            match self.read_loose(&name) {
                Ok(Some(RefTarget::Direct(id))) => {
                    found.insert(name, Some(id));
                }
                Ok(Some(RefTarget::Symbolic(_))) | Err(Error::BadRef { .. }) => {
                    found.insert(name, None);
                }
                Ok(None) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    fn parse_reflog_line(&self, line: &[u8]) -> Option<ReflogEntry> {
        let hex_len = self.hash.hex_len();
        let old = self.parse_id(line.get(..hex_len)?)?;
        if line.get(hex_len) != Some(&b' ') {
            return None;
        }
        let rest = &line[hex_len + 1..];
        let new = self.parse_id(rest.get(..hex_len)?)?;
        if rest.get(hex_len) != Some(&b' ') {
            return None;
        }
        let rest = &rest[hex_len + 1..];
        let (ident, message) = match rest.iter().position(|&c| c == b'\t') {
            Some(tab) => (&rest[..tab], &rest[tab + 1..]),
            None => (rest, &[][..]),
        };
        let who = Signature::parse(ident)?;
        let non_null = |id: ObjectId| (!id.is_null()).then_some(id);
        Some(ReflogEntry {
            old: non_null(old),
            new: non_null(new),
            who,
            message: String::from_utf8_lossy(message).into_owned(),
        })
    }
}

// ----- lock files ---------------------------------------------------------------------------

/// A `<path>.lock` file this process created and holds the advisory lock on ([`lock`]). Dropping
/// it without committing removes it; once committed (renamed onto `path`) it is gone and nothing
/// is removed, so a lock another process takes afterwards is never touched. The file stays open
/// until after the rename or unlink: closing it earlier would let the lock look abandoned.
#[derive(Debug)]
struct LockFile {
    path: PathBuf,
    file: Option<File>,
    committed: bool,
}

impl LockFile {
    /// Creates `<target>.lock` exclusively (and its parent directories), waiting with jittered
    /// exponential backoff while another writer holds it, for at most `timeout`. A stale lock
    /// (its holder died) is removed on the way.
    fn acquire(target: &Path, name: &str, timeout: Duration) -> Result<LockFile> {
        let path = path_with_suffix(target, ".lock");
        let mut retry = Retry::until(timeout);
        let mut vanished = 0;
        loop {
            match lock::try_take(&path) {
                Ok(lock::Attempt::Taken(file)) => {
                    return Ok(LockFile {
                        path,
                        file: Some(file),
                        committed: false,
                    })
                }
                Ok(lock::Attempt::Busy(holder)) => {
                    if !retry.again() {
                        return Err(Error::Locked {
                            name: name.to_string(),
                            lock: path,
                            holder,
                        });
                    }
                }
                // The parent directory is missing (a new name, or a concurrent deletion removed
                // it while empty): create it, then take the lock again.
                Err(e) if e.kind() == io::ErrorKind::NotFound && vanished < 50 => {
                    vanished += 1;
                    let Some(parent) = path.parent() else {
                        return Err(Error::Io { path, source: e });
                    };
                    match fs::create_dir_all(parent) {
                        Ok(()) => {}
                        // Removed again on the way: again.
                        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                        Err(e)
                            if matches!(
                                e.kind(),
                                io::ErrorKind::NotADirectory | io::ErrorKind::AlreadyExists
                            ) =>
                        {
                            return Err(in_the_way(name, parent));
                        }
                        Err(source) => {
                            return Err(Error::Io {
                                path: parent.to_path_buf(),
                                source,
                            })
                        }
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::NotADirectory => {
                    return Err(in_the_way(name, path.parent().unwrap_or(&path)));
                }
                Err(source) => return Err(Error::Io { path, source }),
            }
        }
    }

    /// Writes `content` into the lock file, flushes it if asked, and renames it onto `dest`.
    fn commit(mut self, content: &[u8], dest: &Path, fsync: bool) -> Result<()> {
        self.write_synced_while(content, fsync, || Ok(()))?;
        self.rename_onto(dest, fsync)
    }

    /// Writes `content` into the lock file and, if asked, syncs it while `work` runs on this
    /// thread (making durable what the new content names); an error from either is returned.
    fn write_synced_while(
        &mut self,
        content: &[u8],
        fsync: bool,
        work: impl FnOnce() -> Result<()>,
    ) -> Result<()> {
        let io_err = |path: &Path, source| Error::Io {
            path: path.to_path_buf(),
            source,
        };
        let Some(file) = self.file.as_mut() else {
            return work();
        };
        file.write_all(content).map_err(|e| io_err(&self.path, e))?;
        let file = &*file;
        let (synced, worked) = std::thread::scope(|s| {
            // The data and the size; the name's durability comes from the directory's fsync.
            let sync = fsync.then(|| s.spawn(move || file.sync_data()));
            let worked = work();
            let synced = sync.map_or(Ok(()), |h| {
                h.join()
                    .unwrap_or_else(|_| Err(io::Error::other("the sync thread panicked")))
            });
            (synced, worked)
        });
        worked?;
        synced.map_err(|e| io_err(&self.path, e))
    }

    /// Renames the written lock file onto `dest`, then syncs `dest`'s directory if asked.
    fn rename_onto(mut self, dest: &Path, fsync: bool) -> Result<()> {
        fs::rename(&self.path, dest).map_err(|source| Error::Io {
            path: dest.to_path_buf(),
            source,
        })?;
        self.committed = true;
        // Only now may the advisory lock go (see `lock`).
        self.file = None;
        if fsync {
            if let Some(parent) = dest.parent() {
                fsync_dir(parent)?;
            }
        }
        Ok(())
    }
}

impl Drop for LockFile {
    fn drop(&mut self) {
        if !self.committed {
            // Unlinked while still held, then closed (see `lock`).
            let _ = fs::remove_file(&self.path);
            self.file = None;
        }
    }
}

// ----- helpers ------------------------------------------------------------------------------

/// Errors that mean "there is no file here": missing, or a directory or non-directory in the way.
/// A reference whose directory cannot be made because a file (another reference) has its name.
fn in_the_way(name: &str, dir: &Path) -> Error {
    Error::NameConflict {
        name: name.to_string(),
        reason: format!(
            "cannot create it: a file is in the way of directory '{}'",
            dir.display()
        ),
    }
}

fn is_absent(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::NotFound | io::ErrorKind::NotADirectory | io::ErrorKind::IsADirectory
    )
}

fn path_with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut s: OsString = path.as_os_str().to_owned();
    s.push(suffix);
    PathBuf::from(s)
}

fn write_file(path: &Path, content: &[u8], fsync: bool) -> Result<()> {
    let io_err = |source| Error::Io {
        path: path.to_path_buf(),
        source,
    };
    let mut file = File::create(path).map_err(io_err)?;
    file.write_all(content).map_err(io_err)?;
    if fsync {
        file.sync_all().map_err(io_err)?;
    }
    Ok(())
}

/// Flushes a directory's entries (a rename into it) to disk. A no-op where directories cannot
/// be opened (Windows).
fn fsync_dir(dir: &Path) -> Result<()> {
    #[cfg(unix)]
    {
        let d = File::open(dir).map_err(|source| Error::Io {
            path: dir.to_path_buf(),
            source,
        })?;
        d.sync_all().map_err(|source| Error::Io {
            path: dir.to_path_buf(),
            source,
        })?;
    }
    #[cfg(not(unix))]
    let _ = dir;
    Ok(())
}

/// Removes `dir` if it holds nothing but (recursively) empty directories; whether it is gone.
fn remove_empty_dirs(dir: &Path) -> bool {
    let Ok(entries) = fs::read_dir(dir) else {
        return false;
    };
    for entry in entries {
        let Ok(entry) = entry else {
            return false;
        };
        if !entry.file_type().is_ok_and(|t| t.is_dir()) || !remove_empty_dirs(&entry.path()) {
            return false;
        }
    }
    fs::remove_dir(dir).is_ok()
}

/// `packed-refs` without `name`'s line and the `^` line after it; every other byte is kept.
fn packed_without(contents: &[u8], name: &str, hex_len: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(contents.len());
    let mut skipping = false;
    for line in contents.split_inclusive(|&c| c == b'\n') {
        if skipping && line.starts_with(b"^") {
            continue;
        }
        skipping = false;
        let body = line.strip_suffix(b"\n").unwrap_or(line);
        let is_target = !body.starts_with(b"#")
            && body.get(hex_len) == Some(&b' ')
            && body.get(hex_len + 1..) == Some(name.as_bytes());
        if is_target {
            skipping = true;
            continue;
        }
        out.extend_from_slice(line);
    }
    out
}

fn trim_ascii(b: &[u8]) -> &[u8] {
    let start = b.iter().position(|c| !c.is_ascii_whitespace()).unwrap_or(b.len());
    let end = b
        .iter()
        .rposition(|c| !c.is_ascii_whitespace())
        .map_or(start, |e| e + 1);
    &b[start..end]
}

/// Collapses whitespace runs to one space and trims, as Git's `copy_reflog_msg`.
fn normalize_message(message: &str) -> String {
    let mut out = String::with_capacity(message.len());
    let mut was_space = true;
    for c in message.chars() {
        let space = matches!(c, ' ' | '\t' | '\n' | '\r');
        if space && was_space {
            continue;
        }
        was_space = space;
        out.push(if space { ' ' } else { c });
    }
    let trimmed = out.trim_end_matches(' ').len();
    out.truncate(trimmed);
    out
}

/// A name or email safe to put between the fields of an ident: no `<`, `>` or line breaks.
fn sanitize_ident(s: &str) -> String {
    let cleaned: String = s
        .chars()
        .filter(|c| !matches!(c, '<' | '>' | '\n' | '\r' | '\0'))
        .collect();
    cleaned.trim().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::Command;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// Runs git in `dir` with a fixed identity and no user configuration; its trimmed stdout.
    fn git_result(dir: &Path, args: &[&str], stdin: Option<&[u8]>) -> std::result::Result<String, String> {
        let mut cmd = Command::new("git");
        cmd.current_dir(dir)
            .args(args)
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("GIT_CONFIG_GLOBAL", "/dev/null")
            .env("GIT_AUTHOR_NAME", "A U Thor")
            .env("GIT_AUTHOR_EMAIL", "author@example.com")
            .env("GIT_AUTHOR_DATE", "1700000000 +0100")
            .env("GIT_COMMITTER_NAME", "C O Mitter")
            .env("GIT_COMMITTER_EMAIL", "committer@example.com")
            .env("GIT_COMMITTER_DATE", "1700000000 +0100")
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped());
        let mut child = cmd.spawn().map_err(|e| e.to_string())?;
        if let Some(mut sin) = child.stdin.take() {
            sin.write_all(stdin.unwrap_or_default())
                .map_err(|e| e.to_string())?;
        }
        let out = child.wait_with_output().map_err(|e| e.to_string())?;
        if out.status.success() {
            Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
        } else {
            Err(format!(
                "git {args:?} failed: {}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ))
        }
    }

    fn git(dir: &Path, args: &[&str]) -> String {
        git_result(dir, args, None).unwrap_or_else(|e| panic!("{e}"))
    }

    /// A bare repository made by `git init --bare`.
    fn bare_repo(format: &str) -> (tempfile::TempDir, PathBuf) {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("repo.git");
        git(
            tmp.path(),
            &[
                "init",
                "-q",
                "--bare",
                "-b",
                "main",
                &format!("--object-format={format}"),
                "repo.git",
            ],
        );
        (tmp, dir)
    }

    /// A real commit (of the empty tree) in `dir`.
    fn commit(dir: &Path, message: &str) -> ObjectId {
        let tree = git_result(dir, &["mktree"], Some(b"")).unwrap();
        let hex = git(dir, &["commit-tree", &tree, "-m", message]);
        ObjectId::from_hex(hex.as_bytes()).unwrap()
    }

    fn rev_parse(dir: &Path, name: &str) -> Option<ObjectId> {
        let hex = git_result(dir, &["rev-parse", "--verify", "-q", name], None).ok()?;
        ObjectId::from_hex(hex.as_bytes())
    }

    fn fake(n: u64) -> ObjectId {
        let mut raw = [0u8; 20];
        raw[..8].copy_from_slice(&n.to_be_bytes());
        raw[19] = 1;
        ObjectId::from_raw(HashKind::Sha1, &raw).unwrap()
    }

    fn log(message: &str) -> RefLog {
        RefLog {
            who: Signature {
                name: "Canopy Test".into(),
                email: "canopy@example.com".into(),
                time: 1_700_000_100,
                offset_minutes: -330,
            },
            message: message.into(),
        }
    }

    fn refs_in(dir: &Path) -> GitRefs {
        GitRefs::new(dir.to_path_buf(), HashKind::Sha1, true)
    }

    fn plain_dir() -> (tempfile::TempDir, GitRefs) {
        let tmp = tempfile::tempdir().unwrap();
        fs::create_dir_all(tmp.path().join("refs/heads")).unwrap();
        let refs = refs_in(tmp.path());
        (tmp, refs)
    }

    fn no_locks_left(dir: &Path) {
        fn walk(dir: &Path, found: &mut Vec<PathBuf>) {
            for e in fs::read_dir(dir).unwrap() {
                let e = e.unwrap();
                if e.file_type().unwrap().is_dir() {
                    walk(&e.path(), found);
                } else if e.file_name().to_string_lossy().ends_with(".lock") {
                    found.push(e.path());
                }
            }
        }
        let mut found = Vec::new();
        walk(dir, &mut found);
        assert!(found.is_empty(), "lock files left behind: {found:?}");
    }

    /// Each update keeps the replaced file under a second name outside `refs/` until a
    /// background thread removes it; git sees nothing of it, and once the references are
    /// dropped none is left. `canopy gc`'s sweep removes what a process that died left.
    #[test]
    fn replaced_reference_files_are_removed_off_the_updating_thread() {
        let (_tmp, dir) = bare_repo("sha1");
        let kept_dir = dir.join(old_files::DIR);
        {
            let refs = refs_in(&dir);
            let mut previous = None;
            for i in 0..50 {
                let id = commit(&dir, &format!("c{i}"));
                let expected = previous.map_or(Expected::Absent, Expected::Value);
                assert!(refs
                    .update("refs/heads/main", expected, Some(id), &log("x"))
                    .unwrap());
                assert_eq!(
                    refs.read_ref("refs/heads/main").unwrap(),
                    Some(RefTarget::Direct(id))
                );
                previous = Some(id);
            }
            assert!(kept_dir.is_dir(), "replaced files were given a second name");
            assert_eq!(rev_parse(&dir, "main"), previous);
            git(&dir, &["fsck", "--strict"]);
            git(&dir, &["refs", "verify", "--strict"]);
            assert_eq!(
                git(&dir, &["for-each-ref", "--format=%(refname)"]),
                "refs/heads/main"
            );
        }
        assert_eq!(
            fs::read_dir(&kept_dir).unwrap().count(),
            0,
            "nothing left once dropped"
        );
        // What a killed process left: removed by the sweep, which anyone may run at any time.
        fs::write(kept_dir.join("12345-0"), "x\n").unwrap();
        fs::write(kept_dir.join("12345-1"), "y\n").unwrap();
        assert_eq!(old_files::remove_leftovers(&dir), 2);
        assert_eq!(fs::read_dir(&kept_dir).unwrap().count(), 0);
        no_locks_left(&dir);
    }

    #[test]
    fn compare_and_swap_semantics() {
        let (tmp, refs) = plain_dir();
        let name = "refs/heads/main";
        let (a, b, c) = (fake(1), fake(2), fake(3));
        assert_eq!(refs.read_ref(name).unwrap(), None);
        assert!(!refs.update(name, Expected::Value(a), Some(b), &log("x")).unwrap());
        assert_eq!(refs.read_ref(name).unwrap(), None);
        assert!(refs
            .update(name, Expected::Absent, Some(a), &log("create"))
            .unwrap());
        assert_eq!(
            fs::read_to_string(tmp.path().join(name)).unwrap(),
            format!("{a}\n")
        );
        assert_eq!(refs.read_ref(name).unwrap(), Some(RefTarget::Direct(a)));

        // Lost races change nothing, not even the reflog.
        assert!(!refs
            .update(name, Expected::Absent, Some(b), &log("lost"))
            .unwrap());
        assert!(!refs
            .update(name, Expected::Value(c), Some(b), &log("lost"))
            .unwrap());
        assert!(!refs.update(name, Expected::Value(c), None, &log("lost")).unwrap());
        assert_eq!(refs.resolve(name).unwrap(), Some(a));
        assert_eq!(refs.reflog(name).unwrap().len(), 1);

        assert!(refs
            .update(name, Expected::Value(a), Some(b), &log("move"))
            .unwrap());
        assert!(refs.update(name, Expected::Any, Some(c), &log("force")).unwrap());
        assert_eq!(refs.resolve(name).unwrap(), Some(c));
        let entries = refs.reflog(name).unwrap();
        let moves: Vec<_> = entries
            .iter()
            .map(|e| (e.old, e.new, e.message.as_str()))
            .collect();
        assert_eq!(
            moves,
            vec![
                (None, Some(a), "create"),
                (Some(a), Some(b), "move"),
                (Some(b), Some(c), "force")
            ]
        );
        assert_eq!(entries[0].who, log("").who);

        assert!(refs
            .update(name, Expected::Value(c), None, &log("delete"))
            .unwrap());
        assert_eq!(refs.read_ref(name).unwrap(), None);
        assert!(
            refs.reflog(name).unwrap().is_empty(),
            "reflog deleted with the ref"
        );
        assert!(tmp.path().join("refs/heads").is_dir(), "refs/heads is kept");
        // Deleting what is not there: Absent and Any succeed, Value fails.
        assert!(refs.update(name, Expected::Absent, None, &log("")).unwrap());
        assert!(refs.update(name, Expected::Any, None, &log("")).unwrap());
        assert!(!refs.update(name, Expected::Value(a), None, &log("")).unwrap());
        no_locks_left(tmp.path());
    }

    #[test]
    fn names_are_validated() {
        let (_tmp, refs) = plain_dir();
        for bad in [
            "refs/heads/a..b",
            "main",
            "refs/heads/x.lock",
            "../escape/x",
            "refs/heads/a b",
        ] {
            assert!(
                matches!(
                    refs.update(bad, Expected::Any, Some(fake(1)), &log("")),
                    Err(Error::InvalidRefName(_))
                ),
                "{bad}"
            );
            assert!(
                matches!(refs.read_ref(bad), Err(Error::InvalidRefName(_))),
                "{bad}"
            );
        }
        assert!(matches!(
            refs.set_symbolic("HEAD", "refs/heads/a..b"),
            Err(Error::InvalidRefName(_))
        ));
        let sha256 = ObjectId::from_raw(HashKind::Sha256, &[7; 32]).unwrap();
        assert!(matches!(
            refs.update("refs/heads/x", Expected::Any, Some(sha256), &log("")),
            Err(Error::BadRef { .. })
        ));
    }

    #[test]
    fn foreign_lock_times_out_and_is_left_alone() {
        let (tmp, refs) = plain_dir();
        let refs = refs.with_lock_timeout(Duration::from_millis(300));
        let name = "refs/heads/locked";
        assert!(refs
            .update(name, Expected::Absent, Some(fake(1)), &log(""))
            .unwrap());
        let lock = tmp.path().join("refs/heads/locked.lock");
        fs::write(&lock, b"someone else's\n").unwrap();
        let start = std::time::Instant::now();
        match refs.update(name, Expected::Any, Some(fake(2)), &log("")) {
            Err(e @ Error::Locked { .. }) => {
                let message = e.to_string();
                let Error::Locked {
                    name: n,
                    lock: l,
                    holder,
                } = e
                else {
                    unreachable!()
                };
                assert_eq!(n, name);
                assert_eq!(l, lock);
                assert!(
                    matches!(holder, crate::backend::LockHolder::Unmarked { .. }),
                    "{holder:?}"
                );
                assert!(message.contains("no Canopy process holds it"), "{message}");
            }
            other => panic!("expected Locked, got {other:?}"),
        }
        assert!(start.elapsed() >= Duration::from_millis(300));
        assert_eq!(
            fs::read(&lock).unwrap(),
            b"someone else's\n",
            "foreign lock untouched"
        );
        assert_eq!(refs.resolve(name).unwrap(), Some(fake(1)));
        // Deletion and set_symbolic respect it too.
        assert!(matches!(
            refs.update(name, Expected::Any, None, &log("")),
            Err(Error::Locked { .. })
        ));
        assert!(matches!(
            refs.set_symbolic(name, "refs/heads/x"),
            Err(Error::Locked { .. })
        ));
        assert!(lock.exists());

        // A lock released while we wait is taken.
        let refs = refs.with_lock_timeout(LOCK_TIMEOUT);
        let releaser = {
            let lock = lock.clone();
            std::thread::spawn(move || {
                std::thread::sleep(Duration::from_millis(100));
                fs::remove_file(lock).unwrap();
            })
        };
        assert!(refs
            .update(name, Expected::Value(fake(1)), Some(fake(3)), &log(""))
            .unwrap());
        releaser.join().unwrap();
        assert_eq!(refs.resolve(name).unwrap(), Some(fake(3)));
        no_locks_left(tmp.path());
    }

    #[test]
    fn a_dead_writers_lock_is_recovered_and_a_live_ones_reported() {
        let (tmp, refs) = plain_dir();
        let refs = refs.with_lock_timeout(Duration::from_millis(200));
        let name = "refs/heads/main";
        assert!(refs
            .update(name, Expected::Absent, Some(fake(1)), &log(""))
            .unwrap());
        let lock_path = tmp.path().join("refs/heads/main.lock");
        // Held by a live writer (another handle in this process counts as another holder).
        let held = LockFile::acquire(&tmp.path().join(name), name, LOCK_TIMEOUT).unwrap();
        match refs.update(name, Expected::Any, Some(fake(2)), &log("")) {
            Err(e @ Error::Locked { .. }) => {
                assert!(e.to_string().contains("a live process holds it"), "{e}");
            }
            other => panic!("expected Locked, got {other:?}"),
        }
        assert!(lock_path.exists());
        // The writer dies holding it: the file stays, its advisory lock goes.
        let mut held = std::mem::ManuallyDrop::new(held);
        held.file = None;
        assert!(lock_path.exists());
        assert!(refs
            .update(name, Expected::Value(fake(1)), Some(fake(2)), &log(""))
            .unwrap());
        assert_eq!(refs.resolve(name).unwrap(), Some(fake(2)));
        no_locks_left(tmp.path());
    }

    #[test]
    fn packed_refs_are_read_and_loose_overrides() {
        let (_tmp, dir) = bare_repo("sha1");
        let c1 = commit(&dir, "one");
        let c2 = commit(&dir, "two");
        git(&dir, &["update-ref", "refs/heads/a", &c1.to_hex()]);
        git(&dir, &["update-ref", "refs/heads/b", &c2.to_hex()]);
        git(&dir, &["update-ref", "refs/heads/nested/c", &c2.to_hex()]);
        git(&dir, &["tag", "-a", "-m", "tag", "v1", &c1.to_hex()]);
        git(&dir, &["tag", "light", &c2.to_hex()]);
        git(&dir, &["pack-refs", "--all"]);
        let packed = fs::read_to_string(dir.join("packed-refs")).unwrap();
        assert!(packed.starts_with(PACKED_HEADER), "{packed}");
        assert!(
            packed.contains("\n^"),
            "peeled line for the annotated tag: {packed}"
        );
        assert!(!dir.join("refs/heads/a").exists());
        let tag = rev_parse(&dir, "refs/tags/v1").unwrap();

        let refs = refs_in(&dir);
        assert_eq!(
            refs.read_ref("refs/heads/a").unwrap(),
            Some(RefTarget::Direct(c1))
        );
        assert_eq!(
            refs.read_ref("refs/tags/v1").unwrap(),
            Some(RefTarget::Direct(tag))
        );
        assert_eq!(refs.resolve("HEAD").unwrap(), None, "HEAD names an unborn main");
        assert_eq!(
            refs.resolve_name("HEAD").unwrap(),
            ("refs/heads/main".to_string(), None)
        );
        let all = refs.list("refs/").unwrap();
        let expected = vec![
            ("refs/heads/a".to_string(), c1),
            ("refs/heads/b".to_string(), c2),
            ("refs/heads/nested/c".to_string(), c2),
            ("refs/tags/light".to_string(), c2),
            ("refs/tags/v1".to_string(), tag),
        ];
        assert_eq!(all, expected);
        assert_eq!(refs.list("refs/heads/").unwrap().len(), 3);
        assert_eq!(
            refs.list("refs/heads/n").unwrap(),
            vec![("refs/heads/nested/c".to_string(), c2)]
        );
        assert_eq!(refs.list("").unwrap(), expected);
        assert!(refs.list("refs/remotes/").unwrap().is_empty());

        // A loose update overrides the packed value, for us and for git.
        assert!(!refs
            .update("refs/heads/a", Expected::Value(c2), Some(c1), &log(""))
            .unwrap());
        assert!(refs
            .update("refs/heads/a", Expected::Value(c1), Some(c2), &log("loose"))
            .unwrap());
        assert_eq!(refs.resolve("refs/heads/a").unwrap(), Some(c2));
        assert_eq!(rev_parse(&dir, "refs/heads/a"), Some(c2));
        assert_eq!(
            refs.list("refs/heads/a").unwrap(),
            vec![("refs/heads/a".to_string(), c2)]
        );
        // A loose file written by hand also wins.
        fs::write(dir.join("refs/heads/b"), format!("{c1}\n")).unwrap();
        assert_eq!(refs.resolve("refs/heads/b").unwrap(), Some(c1));
        git(&dir, &["fsck", "--strict", "--no-progress"]);
    }

    #[test]
    fn delete_removes_packed_and_loose_and_git_agrees() {
        let (_tmp, dir) = bare_repo("sha1");
        let c1 = commit(&dir, "one");
        let c2 = commit(&dir, "two");
        for name in [
            "refs/heads/keep",
            "refs/heads/packed",
            "refs/heads/both",
            "refs/heads/deep/er/x",
        ] {
            git(&dir, &["update-ref", name, &c1.to_hex()]);
        }
        git(&dir, &["tag", "-a", "-m", "tag", "v1", &c1.to_hex()]);
        git(&dir, &["pack-refs", "--all"]);
        let refs = refs_in(&dir);
        assert!(refs
            .update("refs/heads/both", Expected::Value(c1), Some(c2), &log(""))
            .unwrap());
        assert!(dir.join("refs/heads/both").is_file());

        // Deleting a packed-only ref with the wrong expectation changes nothing.
        assert!(!refs
            .update("refs/heads/packed", Expected::Value(c2), None, &log(""))
            .unwrap());
        assert!(refs
            .update("refs/heads/packed", Expected::Value(c1), None, &log(""))
            .unwrap());
        // Loose and packed: both copies go, or the packed one would come back.
        assert!(refs
            .update("refs/heads/both", Expected::Value(c2), None, &log(""))
            .unwrap());
        let tag = rev_parse(&dir, "refs/tags/v1").unwrap();
        assert!(refs
            .update("refs/tags/v1", Expected::Value(tag), None, &log(""))
            .unwrap());
        let loose_deep = refs
            .update("refs/heads/deep/er/x", Expected::Any, None, &log(""))
            .unwrap();
        assert!(loose_deep);

        let packed = fs::read_to_string(dir.join("packed-refs")).unwrap();
        assert!(packed.starts_with(PACKED_HEADER));
        assert!(
            !packed.contains("refs/heads/packed") && !packed.contains("refs/heads/both"),
            "{packed}"
        );
        assert!(
            !packed.contains("v1") && !packed.contains('^'),
            "tag and its peeled line gone: {packed}"
        );
        assert!(packed.contains("refs/heads/keep"));
        assert!(
            !dir.join("refs/heads/deep").exists(),
            "empty parent directories removed"
        );
        assert!(dir.join("refs/heads").is_dir() && dir.join("refs/tags").is_dir());

        let show = git(&dir, &["show-ref"]);
        assert_eq!(show, format!("{c1} refs/heads/keep"));
        assert!(git_result(&dir, &["show-ref", "--verify", "refs/heads/both"], None).is_err());
        assert_eq!(
            refs.list("refs/").unwrap(),
            vec![("refs/heads/keep".to_string(), c1)]
        );
        no_locks_left(&dir);
        git(&dir, &["fsck", "--strict", "--no-progress"]);
        git(&dir, &["pack-refs", "--all"]);
        assert_eq!(git(&dir, &["show-ref"]), format!("{c1} refs/heads/keep"));
    }

    #[test]
    fn reflogs_are_what_git_writes_and_reads() {
        let (_tmp, dir) = bare_repo("sha1");
        let c1 = commit(&dir, "one");
        let c2 = commit(&dir, "two");
        let refs = refs_in(&dir);
        let name = "refs/heads/x";
        assert!(refs
            .update(
                name,
                Expected::Absent,
                Some(c1),
                &log("  first\tline \n second  ")
            )
            .unwrap());
        assert!(refs
            .update(name, Expected::Value(c1), Some(c2), &log(""))
            .unwrap());
        assert!(refs
            .update(name, Expected::Value(c2), Some(c1), &log("back"))
            .unwrap());
        let text = fs::read_to_string(dir.join("logs").join(name)).unwrap();
        let zero = "0".repeat(40);
        assert_eq!(
            text,
            format!(
                "{zero} {c1} Canopy Test <canopy@example.com> 1700000100 -0530\tfirst line second\n\
                 {c1} {c2} Canopy Test <canopy@example.com> 1700000100 -0530\n\
                 {c2} {c1} Canopy Test <canopy@example.com> 1700000100 -0530\tback\n"
            )
        );
        let shown = git(&dir, &["reflog", "show", "--format=%H %gs", name]);
        assert_eq!(shown, format!("{c1} back\n{c2} \n{c1} first line second"));
        git(&dir, &["fsck", "--strict", "--no-progress"]);

        // What git writes, we read.
        git(
            &dir,
            &[
                "update-ref",
                "--create-reflog",
                "-m",
                "by git",
                "refs/tags/t",
                &c2.to_hex(),
            ],
        );
        let entries = refs.reflog("refs/tags/t").unwrap();
        assert_eq!(entries.len(), 1);
        assert_eq!((entries[0].old, entries[0].new), (None, Some(c2)));
        assert_eq!(entries[0].message, "by git");
        assert_eq!(entries[0].who.name, "C O Mitter");
        assert_eq!(entries[0].who.offset_minutes, 60);
        // That log exists, so our updates of the tag append to it; other refs get none.
        assert!(refs
            .update("refs/tags/t", Expected::Value(c2), Some(c1), &log("retag"))
            .unwrap());
        assert_eq!(refs.reflog("refs/tags/t").unwrap().len(), 2);
        assert!(refs
            .update("refs/tags/u", Expected::Absent, Some(c1), &log(""))
            .unwrap());
        assert!(!dir.join("logs/refs/tags/u").exists());
        assert!(refs.reflog("refs/tags/u").unwrap().is_empty());

        // A malformed line is an error naming the file and the line.
        fs::write(
            dir.join("logs/refs/tags/t"),
            format!("{zero} {c1} A <a@b> 1 +0000\tok\ngarbage\n"),
        )
        .unwrap();
        match refs.reflog("refs/tags/t") {
            Err(Error::CorruptFile { path, reason }) => {
                assert!(path.ends_with("logs/refs/tags/t"));
                assert!(reason.contains("line 2"), "{reason}");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn symbolic_head_updates_its_branch_and_both_logs() {
        let (_tmp, dir) = bare_repo("sha1");
        let c1 = commit(&dir, "one");
        let c2 = commit(&dir, "two");
        let refs = refs_in(&dir);
        refs.set_symbolic("HEAD", "refs/heads/trunk").unwrap();
        assert_eq!(
            fs::read_to_string(dir.join("HEAD")).unwrap(),
            "ref: refs/heads/trunk\n"
        );
        assert_eq!(git(&dir, &["symbolic-ref", "HEAD"]), "refs/heads/trunk");

        assert!(refs
            .update("HEAD", Expected::Absent, Some(c1), &log("via HEAD"))
            .unwrap());
        assert_eq!(
            refs.read_ref("HEAD").unwrap(),
            Some(RefTarget::Symbolic("refs/heads/trunk".into()))
        );
        assert_eq!(
            refs.read_ref("refs/heads/trunk").unwrap(),
            Some(RefTarget::Direct(c1))
        );
        assert_eq!(rev_parse(&dir, "HEAD"), Some(c1));
        // The branch directly: HEAD's log follows.
        assert!(refs
            .update("refs/heads/trunk", Expected::Value(c1), Some(c2), &log("direct"))
            .unwrap());
        assert!(!refs
            .update("HEAD", Expected::Value(c1), Some(c1), &log("stale"))
            .unwrap());
        for log_name in ["HEAD", "refs/heads/trunk"] {
            let msgs: Vec<_> = refs
                .reflog(log_name)
                .unwrap()
                .into_iter()
                .map(|e| e.message)
                .collect();
            assert_eq!(msgs, vec!["via HEAD", "direct"], "{log_name}");
        }
        assert_eq!(
            git(&dir, &["reflog", "show", "--format=%gs", "HEAD"]),
            "direct\nvia HEAD"
        );
        // Other branches leave HEAD's log alone.
        assert!(refs
            .update("refs/heads/other", Expected::Absent, Some(c1), &log("other"))
            .unwrap());
        assert_eq!(refs.reflog("HEAD").unwrap().len(), 2);
        git(&dir, &["fsck", "--strict", "--no-progress"]);
        // list shows direct refs only.
        assert_eq!(
            refs.list("").unwrap(),
            vec![
                ("refs/heads/other".to_string(), c1),
                ("refs/heads/trunk".to_string(), c2)
            ]
        );
        refs.set_symbolic("refs/heads/alias", "refs/heads/trunk").unwrap();
        assert_eq!(
            refs.list("refs/heads/").unwrap().len(),
            2,
            "symbolic refs are not listed"
        );
        assert_eq!(refs.resolve("refs/heads/alias").unwrap(), Some(c2));

        // Deleting through HEAD deletes the branch and logs the deletion in HEAD's log.
        assert!(refs
            .update("HEAD", Expected::Value(c2), None, &log("gone"))
            .unwrap());
        assert_eq!(refs.read_ref("refs/heads/trunk").unwrap(), None);
        assert_eq!(
            refs.read_ref("HEAD").unwrap(),
            Some(RefTarget::Symbolic("refs/heads/trunk".into()))
        );
        let head_log = refs.reflog("HEAD").unwrap();
        assert_eq!(head_log.last().map(|e| (e.old, e.new)), Some((Some(c2), None)));
        assert!(refs.reflog("refs/heads/trunk").unwrap().is_empty());

        // A detached HEAD is a direct ref.
        assert!(refs
            .update("refs/heads/trunk", Expected::Absent, Some(c1), &log(""))
            .unwrap());
        fs::write(dir.join("HEAD"), format!("{c1}\n")).unwrap();
        assert!(refs
            .update("HEAD", Expected::Value(c1), Some(c2), &log("detached"))
            .unwrap());
        assert_eq!(refs.read_ref("HEAD").unwrap(), Some(RefTarget::Direct(c2)));
        assert_eq!(refs.resolve("refs/heads/trunk").unwrap(), Some(c1));
        no_locks_left(&dir);
    }

    #[test]
    fn directory_file_conflicts_are_refused() {
        let (tmp, refs) = plain_dir();
        assert!(refs
            .update("refs/heads/a", Expected::Absent, Some(fake(1)), &log(""))
            .unwrap());
        let err = refs
            .update("refs/heads/a/b", Expected::Absent, Some(fake(2)), &log(""))
            .unwrap_err();
        assert!(
            matches!(&err, Error::NameConflict { name, reason } if name == "refs/heads/a/b" && reason.contains("refs/heads/a")),
            "{err}"
        );
        assert!(refs
            .update("refs/heads/c/d", Expected::Absent, Some(fake(1)), &log(""))
            .unwrap());
        let err = refs
            .update("refs/heads/c", Expected::Absent, Some(fake(2)), &log(""))
            .unwrap_err();
        assert!(matches!(err, Error::NameConflict { .. }), "{err}");
        assert!(matches!(
            refs.set_symbolic("refs/heads/c", "refs/heads/a"),
            Err(Error::NameConflict { .. })
        ));
        no_locks_left(tmp.path());

        // Once the blocker is gone the name is free (empty directories are cleaned up).
        assert!(refs
            .update("refs/heads/c/d", Expected::Any, None, &log(""))
            .unwrap());
        assert!(refs
            .update("refs/heads/c", Expected::Absent, Some(fake(2)), &log(""))
            .unwrap());
        assert!(refs
            .update("refs/heads/a", Expected::Any, None, &log(""))
            .unwrap());
        fs::create_dir_all(tmp.path().join("refs/heads/a/empty/dirs")).unwrap();
        assert!(refs
            .update("refs/heads/a/b", Expected::Absent, Some(fake(3)), &log(""))
            .unwrap());
        assert_eq!(refs.list("refs/heads/").unwrap().len(), 2);

        // Conflicts with packed refs count too.
        fs::write(
            tmp.path().join("packed-refs"),
            format!(
                "{PACKED_HEADER}{} refs/heads/p\n{} refs/heads/q/r\n",
                fake(7),
                fake(8)
            ),
        )
        .unwrap();
        assert!(matches!(
            refs.update("refs/heads/p/x", Expected::Any, Some(fake(1)), &log("")),
            Err(Error::NameConflict { .. })
        ));
        assert!(matches!(
            refs.update("refs/heads/q", Expected::Any, Some(fake(1)), &log("")),
            Err(Error::NameConflict { .. })
        ));
        no_locks_left(tmp.path());
    }

    #[test]
    fn malformed_refs_are_reported_and_skipped() {
        let (tmp, refs) = plain_dir();
        assert!(refs
            .update("refs/heads/good", Expected::Absent, Some(fake(1)), &log(""))
            .unwrap());
        for (i, junk) in ["", "xyz\n", &format!("{}0\n", fake(1)), &fake(1).to_hex()[..39]]
            .iter()
            .enumerate()
        {
            let name = format!("refs/heads/bad{i}");
            fs::write(tmp.path().join(&name), junk).unwrap();
            match refs.read_ref(&name) {
                Err(Error::BadRef { name: n, .. }) => assert_eq!(n, name),
                other => panic!("{junk:?}: {other:?}"),
            }
            assert!(matches!(
                refs.update(&name, Expected::Absent, Some(fake(2)), &log("")),
                Err(Error::BadRef { .. })
            ));
        }
        // Trailing whitespace or more after a space is fine, as in git.
        fs::write(
            tmp.path().join("refs/heads/spaced"),
            format!("{} trailing\n", fake(3)),
        )
        .unwrap();
        assert_eq!(refs.resolve("refs/heads/spaced").unwrap(), Some(fake(3)));
        fs::write(tmp.path().join("refs/heads/sym"), "ref:   refs/heads/good  \n").unwrap();
        assert_eq!(
            refs.read_ref("refs/heads/sym").unwrap(),
            Some(RefTarget::Symbolic("refs/heads/good".into()))
        );
        // Junk is skipped in listings: lock files, bad names, broken refs.
        fs::write(tmp.path().join("refs/heads/other.lock"), "x").unwrap();
        fs::write(tmp.path().join("refs/heads/.hidden"), format!("{}\n", fake(1))).unwrap();
        let listed: Vec<_> = refs.list("refs/").unwrap().into_iter().map(|(n, _)| n).collect();
        assert_eq!(listed, vec!["refs/heads/good", "refs/heads/spaced"]);
        // A broken ref can still be force-deleted.
        assert!(refs
            .update("refs/heads/bad1", Expected::Any, None, &log(""))
            .unwrap());
        assert!(!tmp.path().join("refs/heads/bad1").exists());
        // A corrupt packed-refs is an error naming the file and line.
        fs::write(
            tmp.path().join("packed-refs"),
            format!("{PACKED_HEADER}{} refs/heads/p\nnonsense\n", fake(7)),
        )
        .unwrap();
        match refs.read_ref("refs/heads/zzz") {
            Err(Error::CorruptFile { reason, .. }) => assert!(reason.contains("line 3"), "{reason}"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn concurrent_increments_never_lose_an_update() {
        let (tmp, _) = plain_dir();
        let refs = Arc::new(GitRefs::new(tmp.path().to_path_buf(), HashKind::Sha1, false));
        let name = "refs/heads/counter";
        let threads = 8;
        let per_thread = 40;
        let lost_races = Arc::new(AtomicUsize::new(0));
        let handles: Vec<_> = (0..threads)
            .map(|_| {
                let refs = refs.clone();
                let lost_races = lost_races.clone();
                std::thread::spawn(move || {
                    for _ in 0..per_thread {
                        loop {
                            let current = refs.resolve(name).unwrap();
                            let n = current
                                .map_or(0, |id| u64::from_be_bytes(id.as_bytes()[..8].try_into().unwrap()));
                            match refs.update(
                                name,
                                Expected::from_option(current),
                                Some(fake(n + 1)),
                                &log("inc"),
                            ) {
                                Ok(true) => break,
                                Ok(false) | Err(Error::Locked { .. }) => {
                                    lost_races.fetch_add(1, Ordering::Relaxed);
                                }
                                Err(e) => panic!("{e}"),
                            }
                        }
                    }
                })
            })
            .collect();
        for h in handles {
            h.join().unwrap();
        }
        let total = (threads * per_thread) as u64;
        assert_eq!(refs.resolve(name).unwrap(), Some(fake(total)));
        let entries = refs.reflog(name).unwrap();
        assert_eq!(
            entries.len() as u64,
            total,
            "one reflog line per successful update"
        );
        for (i, e) in entries.iter().enumerate() {
            assert_eq!(e.new, Some(fake(i as u64 + 1)));
        }
        eprintln!("lost races: {}", lost_races.load(Ordering::Relaxed));
        no_locks_left(tmp.path());
    }

    #[test]
    fn sha256_repositories() {
        let (_tmp, dir) = bare_repo("sha256");
        let c1 = commit(&dir, "one");
        assert_eq!(c1.hash_kind(), HashKind::Sha256);
        let refs = GitRefs::new(dir.clone(), HashKind::Sha256, true);
        assert!(refs
            .update("HEAD", Expected::Absent, Some(c1), &log("init"))
            .unwrap());
        assert_eq!(rev_parse(&dir, "refs/heads/main"), Some(c1));
        git(&dir, &["pack-refs", "--all"]);
        assert_eq!(refs.resolve("HEAD").unwrap(), Some(c1));
        assert_eq!(refs.reflog("HEAD").unwrap().len(), 1);
        git(&dir, &["fsck", "--strict", "--no-progress"]);
        // A SHA-1 id in a SHA-256 repository is malformed.
        fs::write(dir.join("refs/heads/short"), format!("{}\n", fake(1))).unwrap();
        assert!(matches!(
            refs.read_ref("refs/heads/short"),
            Err(Error::BadRef { .. })
        ));
    }

    #[test]
    fn packed_refs_cache_sees_every_rewrite() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<GitRefs>();
        let (tmp, refs) = plain_dir();
        let packed = tmp.path().join("packed-refs");
        // Same size every time, rewritten faster than timestamps tick.
        for i in 0..200u64 {
            fs::write(&packed, format!("{PACKED_HEADER}{} refs/heads/p\n", fake(i % 7))).unwrap();
            assert_eq!(refs.resolve("refs/heads/p").unwrap(), Some(fake(i % 7)), "{i}");
        }
        // An old file is cached, and a rewrite is still noticed.
        let old = SystemTime::now() - Duration::from_secs(60);
        File::options()
            .write(true)
            .open(&packed)
            .unwrap()
            .set_modified(old)
            .unwrap();
        assert_eq!(refs.resolve("refs/heads/p").unwrap(), Some(fake(199 % 7)));
        assert!(refs.packed.lock().unwrap().is_some());
        fs::write(&packed, format!("{PACKED_HEADER}{} refs/heads/p\n", fake(100))).unwrap();
        assert_eq!(refs.resolve("refs/heads/p").unwrap(), Some(fake(100)));
    }

    #[test]
    fn siblings_created_and_deleted_concurrently_in_shared_directories() {
        let (tmp, _) = plain_dir();
        let refs = Arc::new(GitRefs::new(tmp.path().to_path_buf(), HashKind::Sha1, false));
        let handles: Vec<_> = (0..6)
            .map(|t| {
                let refs = refs.clone();
                std::thread::spawn(move || {
                    for i in 0..60u64 {
                        // Deep names whose parent directories are shared and removed when empty.
                        let name = format!("refs/heads/shared/deep/t{t}");
                        assert!(refs
                            .update(&name, Expected::Absent, Some(fake(i + 1)), &log("c"))
                            .unwrap());
                        assert_eq!(refs.resolve(&name).unwrap(), Some(fake(i + 1)));
                        assert!(refs
                            .update(&name, Expected::Value(fake(i + 1)), None, &log("d"))
                            .unwrap());
                    }
                })
            })
            .collect();
        for h in handles {
            h.join().unwrap();
        }
        assert!(refs.list("").unwrap().is_empty());
        assert!(!tmp.path().join("refs/heads/shared").exists());
        assert!(!tmp.path().join("logs/refs/heads/shared").exists());
        assert!(tmp.path().join("logs/refs/heads").is_dir());
        no_locks_left(tmp.path());
    }

    #[test]
    fn message_normalisation() {
        assert_eq!(normalize_message("  a \t b\n\nc  "), "a b c");
        assert_eq!(normalize_message(" \n "), "");
        assert_eq!(sanitize_ident(" x <y>\n "), "x y");
        let packed = format!(
            "{PACKED_HEADER}{a} refs/tags/t\n^{b}\n{a} refs/tags/tt\n",
            a = fake(1),
            b = fake(2)
        );
        assert_eq!(
            String::from_utf8(packed_without(packed.as_bytes(), "refs/tags/t", 40)).unwrap(),
            format!("{PACKED_HEADER}{} refs/tags/tt\n", fake(1))
        );
    }

    #[test]
    fn racing_git_pack_refs_loses_nothing_and_resurrects_nothing() {
        let (_tmp, dir) = bare_repo("sha1");
        // Every value is new: deleting a ref and recreating it with the id it had is an ABA
        // that git's own pack-refs prune cannot detect (it would unlink the new loose file,
        // believing it packed that value), for git's own updates as for ours.
        let rounds = 300;
        let mut import = String::new();
        for i in 1..=2 * rounds {
            let data = format!("value {i}\n");
            import.push_str(&format!("blob\nmark :{i}\ndata {}\n{data}\n", data.len()));
        }
        let marks = dir.join("marks");
        let marks_arg = format!("--export-marks={}", marks.display());
        git_result(
            &dir,
            &["fast-import", "--quiet", &marks_arg],
            Some(import.as_bytes()),
        )
        .unwrap();
        let ids: Vec<ObjectId> = fs::read_to_string(&marks)
            .unwrap()
            .lines()
            .map(|l| ObjectId::from_hex(l.split(' ').nth(1).unwrap().as_bytes()).unwrap())
            .collect();
        assert_eq!(ids.len(), 2 * rounds);
        let refs = Arc::new(refs_in(&dir));
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let packer = {
            let dir = dir.clone();
            let stop = stop.clone();
            std::thread::spawn(move || {
                let mut runs = 0;
                while !stop.load(Ordering::Relaxed) {
                    // pack-refs may fail on a lock we hold; that is its business.
                    let _ = git_result(&dir, &["pack-refs", "--all"], None);
                    runs += 1;
                }
                runs
            })
        };
        for round in 0..rounds {
            let name = "refs/heads/churn";
            let id = ids[2 * round];
            let mut attempts = 0;
            loop {
                attempts += 1;
                assert!(attempts < 100, "cannot create");
                match refs.update(name, Expected::Absent, Some(id), &log("create")) {
                    Ok(true) => break,
                    Err(Error::Locked { .. }) => continue,
                    other => panic!("round {round}: {other:?}"),
                }
            }
            assert_eq!(refs.resolve(name).unwrap(), Some(id), "round {round}");
            let next = ids[2 * round + 1];
            loop {
                match refs.update(name, Expected::Value(id), Some(next), &log("move")) {
                    Ok(true) => break,
                    Err(Error::Locked { .. }) => continue,
                    other => panic!("round {round}: {other:?}"),
                }
            }
            assert_eq!(refs.resolve(name).unwrap(), Some(next), "round {round}");
            loop {
                match refs.update(name, Expected::Value(next), None, &log("delete")) {
                    Ok(true) => break,
                    Err(Error::Locked { .. }) => continue,
                    other => panic!("round {round}: {other:?}"),
                }
            }
            // The deleted value must not come back from packed-refs.
            assert_eq!(refs.resolve(name).unwrap(), None, "round {round}");
        }
        stop.store(true, Ordering::Relaxed);
        let runs = packer.join().unwrap();
        eprintln!("pack-refs ran {runs} times");
        assert_eq!(rev_parse(&dir, "refs/heads/churn"), None);
        git(&dir, &["fsck", "--strict", "--no-progress"]);
    }
}
