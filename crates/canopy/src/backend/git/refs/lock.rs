//! Lock files (`<file>.lock`) that a crashed writer cannot leave blocking the store.
//!
//! Git's protocol is kept: a lock is a file created with `O_CREAT|O_EXCL` next to the file it
//! guards, filled with the new contents and renamed onto it (or unlinked to give up). Git and
//! every other program see nothing new. On top of it, Canopy holds an OS advisory lock
//! (`flock` on Unix, `LockFileEx` on Windows) on its open lock file for as long as the lock is
//! held, *including* the final rename or unlink, and marks the file as Canopy's by setting its
//! access time to [`MARKER`] once the advisory lock is taken. The kernel drops the advisory lock
//! when the process dies, however it dies.
//!
//! A lock file is made without a name (`O_TMPFILE`, on Linux), locked and marked, and only then
//! linked to `X.lock`, so `X.lock` never exists unmarked or unlocked while its maker lives and
//! a crash before the link leaves nothing ([`create_unnamed`]). Where unnamed files are missing
//! it is made the same way under a private name, which is then removed ([`create_by_link`]);
//! where hard links are missing too it is created in place and then locked.
//!
//! A writer that finds `X.lock` present asks [`inspect`] about it:
//!
//! - the advisory lock is taken by someone: a live Canopy process holds it, wait;
//! - the advisory lock is free and the file carries the marker: the Canopy process that marked
//!   it no longer holds it, and a holder only lets go after renaming or unlinking the file, so
//!   the holder is dead: the lock is stale;
//! - the advisory lock is free and there is no marker: the lock was made by a program that does
//!   not take advisory locks (Git, an older Canopy) or, on a filesystem without hard links, by a
//!   Canopy process in the microseconds between creating and marking it. It is stale only once
//!   its mtime is older than
//!   [`stale_after`] (10 s unless `CANOPY_STALE_LOCK_AFTER` gives seconds): Git holds a
//!   reference lock for the milliseconds between creating, writing and renaming it (and gives up
//!   waiting for one after `core.filesRefLockTimeout`, 100 ms), and `packed-refs.lock` for the
//!   time it takes to write that file; no live Git process holds one for 10 s short of a stalled
//!   disk. A store on a filesystem where such stalls happen can raise the limit.
//! - the filesystem has no advisory locks: nothing can be told, and nothing is removed.
//!
//! **Why removal is safe.** A stale lock is removed by a recoverer that (1) opens `X.lock`,
//! (2) takes the advisory lock on what it opened, (3) checks that `X.lock` still names that very
//! file (device and inode), (4) decides it is stale, (5) unlinks `X.lock`, and only then (6)
//! closes it, dropping the advisory lock. While a recoverer is between (2) and (6) nobody else
//! that plays by these rules can change what `X.lock` names: another recoverer waits for the
//! advisory lock at (2), and when it gets it, step (3) finds that the file it opened was
//! unlinked (a new `X.lock`, if any, is another inode) and it starts over instead of removing
//! the new lock; a new locker cannot create `X.lock` while it exists (`O_EXCL`); a live holder
//! would hold the advisory lock, so there is none. A new locker's file appears as `X.lock` already
//! locked, so a recoverer sees a live holder. (Without hard links, the locker takes the advisory
//! lock on the file it created *before* marking it and afterwards checks that `X.lock` is still
//! its file; a recoverer that opened the new file in between sees it unmarked and young and
//! leaves it, or holds the advisory lock and makes the locker wait a moment; a locker that lost
//! its file, only possible after stalling for [`stale_after`] between `open` and `flock`, starts
//! over.)
//! What this cannot protect against is a live program that does not take advisory locks and
//! keeps a lock for longer than [`stale_after`].
//!
//! A process that `fork`s shares the advisory lock with its child, so a lock is then held until
//! both are gone; file descriptors are opened close-on-exec, so a program the process runs does
//! not inherit it.

use std::ffi::OsString;
use std::fs::{self, File, FileTimes, OpenOptions};
use std::io;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, SystemTime};

use crate::backend::LockHolder;

/// The access time Canopy gives a lock file once it holds the advisory lock on it. Nothing else
/// sets a file's access time to a fraction of a second after the epoch; reading the file would
/// reset it (with `relatime`), which only makes the lock wait for [`stale_after`].
pub(crate) const MARKER: Duration = Duration::new(1, 234_567_891);

/// How old a lock nobody holds an advisory lock on must be before it counts as abandoned.
pub(crate) const DEFAULT_STALE_AFTER: Duration = Duration::from_secs(10);

/// [`DEFAULT_STALE_AFTER`], or the seconds in `CANOPY_STALE_LOCK_AFTER` (read once).
pub(crate) fn stale_after() -> Duration {
    static VALUE: OnceLock<Duration> = OnceLock::new();
    *VALUE.get_or_init(|| {
        std::env::var("CANOPY_STALE_LOCK_AFTER")
            .ok()
            .and_then(|s| s.trim().parse::<f64>().ok())
            .filter(|s| s.is_finite() && *s >= 0.0)
            .map_or(DEFAULT_STALE_AFTER, Duration::from_secs_f64)
    })
}

/// The outcome of one attempt at taking a lock.
#[derive(Debug)]
pub(crate) enum Attempt {
    /// The lock is ours: the open file, advisory-locked and marked.
    Taken(File),
    /// Someone else's lock is in the way.
    Busy(LockHolder),
}

/// What [`inspect`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Inspection {
    /// There is no lock file (any more): try to take it.
    Absent,
    /// It was stale and has been removed.
    Removed,
    Held(LockHolder),
}

/// Tries once to create `lock` exclusively; a stale lock in the way is removed and the creation
/// retried. Errors are the `open` errors other than "exists" (a missing directory, say), for the
/// caller to handle.
pub(crate) fn try_take(lock: &Path) -> io::Result<Attempt> {
    try_take_by(lock, &[create_unnamed, create_by_link, create_in_place])
}

/// A way of creating a lock file: [`create_unnamed`], [`create_by_link`], [`create_in_place`].
type Create = fn(&Path) -> io::Result<Created>;

/// [`try_take`] with the first of `ways` the filesystem supports.
fn try_take_by(lock: &Path, ways: &[Create]) -> io::Result<Attempt> {
    // Each round either takes the lock, finds it held, or saw a lock vanish or removed a stale
    // one; the bound only guards against a livelock with a misbehaving program.
    for _ in 0..64 {
        let mut created = Created::Unsupported;
        for create in ways {
            created = create(lock)?;
            if !matches!(created, Created::Unsupported) {
                break;
            }
        }
        match created {
            Created::File(file) => return Ok(Attempt::Taken(file)),
            Created::Exists => {}
            // Only where the last way, creating in place, is left out (tests).
            Created::Unsupported => return Err(io::ErrorKind::Unsupported.into()),
        }
        match inspect(lock, stale_after())? {
            Inspection::Absent | Inspection::Removed => continue,
            Inspection::Held(holder) => return Ok(Attempt::Busy(holder)),
        }
    }
    Ok(Attempt::Busy(LockHolder::Live))
}

enum Created {
    File(File),
    Exists,
    /// No hard links or no advisory locks here.
    Unsupported,
}

/// Takes the advisory lock on a new file and marks it.
fn lock_and_mark(file: &File) -> io::Result<()> {
    file.lock()?;
    // Without the marker the lock still works; it just takes longer to recover.
    let _ = file.set_times(FileTimes::new().set_accessed(SystemTime::UNIX_EPOCH + MARKER));
    Ok(())
}

/// Creates `lock` already locked and marked, with no name of its own at any moment: an unnamed
/// file (`O_TMPFILE`) in the lock's directory is locked and marked, then linked to `lock`
/// (failing, like `O_EXCL`, if `lock` exists). A crash before the link leaves nothing behind.
/// `Unsupported` where the kernel or filesystem has no unnamed files, or the file cannot be
/// linked (no `/proc` and no right to link by descriptor).
#[cfg(target_os = "linux")]
fn create_unnamed(lock: &Path) -> io::Result<Created> {
    create_unnamed_linking(lock, true)
}

/// [`create_unnamed`]; `by_descriptor` false goes straight to `/proc/self/fd` (tests).
#[cfg(target_os = "linux")]
fn create_unnamed_linking(lock: &Path, by_descriptor: bool) -> io::Result<Created> {
    use std::os::unix::ffi::OsStrExt;
    use std::os::unix::fs::OpenOptionsExt;
    use std::os::unix::io::AsRawFd;

    let Some(dir) = lock.parent() else {
        return Ok(Created::Unsupported);
    };
    let dir = if dir.as_os_str().is_empty() {
        Path::new(".")
    } else {
        dir
    };
    let file = match OpenOptions::new()
        .write(true)
        .custom_flags(libc::O_TMPFILE)
        .mode(0o666)
        .open(dir)
    {
        Ok(file) => file,
        // Kernels and filesystems without unnamed files answer one of these.
        Err(e)
            if matches!(
                e.raw_os_error(),
                Some(libc::EOPNOTSUPP | libc::EISDIR | libc::EINVAL)
            ) =>
        {
            return Ok(Created::Unsupported)
        }
        Err(e) => return Err(e),
    };
    if let Err(e) = lock_and_mark(&file) {
        return if e.kind() == io::ErrorKind::Unsupported {
            Ok(Created::Unsupported)
        } else {
            Err(e)
        };
    }
    let Ok(target) = std::ffi::CString::new(lock.as_os_str().as_bytes()) else {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "a lock path with a NUL byte",
        ));
    };
    let fd = file.as_raw_fd();
    // By descriptor where the caller may (Linux 6.10 lets the file's opener; before, only
    // CAP_DAC_READ_SEARCH), else through `/proc/self/fd`, as `linkat(2)` describes.
    let (mut linked, mut error) = (-1, io::Error::from_raw_os_error(libc::EPERM));
    if by_descriptor {
        // SAFETY: both paths are NUL-terminated strings that outlive the call; `fd` is open.
        linked = unsafe {
            libc::linkat(
                fd,
                c"".as_ptr(),
                libc::AT_FDCWD,
                target.as_ptr(),
                libc::AT_EMPTY_PATH,
            )
        };
        error = io::Error::last_os_error();
    }
    if linked != 0 && matches!(error.raw_os_error(), Some(libc::ENOENT | libc::EPERM)) {
        let Ok(proc) = std::ffi::CString::new(format!("/proc/self/fd/{fd}")) else {
            return Ok(Created::Unsupported);
        };
        // SAFETY: as above.
        linked = unsafe {
            libc::linkat(
                libc::AT_FDCWD,
                proc.as_ptr(),
                libc::AT_FDCWD,
                target.as_ptr(),
                libc::AT_SYMLINK_FOLLOW,
            )
        };
        error = io::Error::last_os_error();
    }
    if linked == 0 {
        return Ok(Created::File(file));
    }
    match error.raw_os_error() {
        Some(libc::EEXIST) => Ok(Created::Exists),
        // No `/proc` (ENOENT), no right to link by descriptor (EPERM), no hard links (EPERM,
        // EOPNOTSUPP): the named ways still work.
        Some(libc::ENOENT | libc::EPERM | libc::EOPNOTSUPP | libc::EXDEV) => Ok(Created::Unsupported),
        _ => Err(error),
    }
}

#[cfg(not(target_os = "linux"))]
fn create_unnamed(_lock: &Path) -> io::Result<Created> {
    Ok(Created::Unsupported)
}

/// Numbers this process's private lock names.
static COUNTER: AtomicU64 = AtomicU64::new(0);

/// Creates `lock` already locked and marked, so that no one ever sees it otherwise: the file is
/// made under a private name (`.<name>.<pid>-<n>.lock`, which Git and reference listings skip),
/// locked and marked, then hard-linked to `lock` (which, like `O_EXCL`, fails if `lock`
/// exists), and the private name is removed. A crash in between leaves only the private file,
/// which is stale by the usual rule (`canopy gc` removes it).
fn create_by_link(lock: &Path) -> io::Result<Created> {
    let (Some(dir), Some(name)) = (lock.parent(), lock.file_name()) else {
        return Ok(Created::Unsupported);
    };
    let mut attempts = 0;
    let (private, file) = loop {
        let mut private = OsString::from(".");
        private.push(name.to_os_string().to_string_lossy().trim_end_matches(".lock"));
        private.push(format!(
            ".{}-{}.lock",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        ));
        let private = dir.join(private);
        match OpenOptions::new().write(true).create_new(true).open(&private) {
            Ok(file) => break (private, file),
            // Left by an earlier process with the same id, killed between making and removing
            // it (process ids are reused: 32,768 of them by default on Linux): another name.
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists && attempts < 64 => attempts += 1,
            Err(e) => return Err(e),
        }
    };
    let linked = lock_and_mark(&file).and_then(|()| fs::hard_link(&private, lock));
    // Unlinked while still held (see the module documentation).
    let _ = fs::remove_file(&private);
    match linked {
        Ok(()) => Ok(Created::File(file)),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(Created::Exists),
        // FAT and some network filesystems have no hard links (EPERM), some no flock.
        Err(e)
            if matches!(
                e.kind(),
                io::ErrorKind::Unsupported | io::ErrorKind::PermissionDenied
            ) =>
        {
            Ok(Created::Unsupported)
        }
        Err(e) => Err(e),
    }
}

/// Creates `lock` with `O_EXCL`, then locks and marks it: for filesystems without hard links.
/// Between the two steps the lock is unmarked, so a crash there leaves a lock that waits for
/// [`stale_after`] before it is recovered.
fn create_in_place(lock: &Path) -> io::Result<Created> {
    loop {
        let file = match OpenOptions::new().write(true).create_new(true).open(lock) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => return Ok(Created::Exists),
            Err(e) => return Err(e),
        };
        match lock_and_mark(&file) {
            Ok(()) => {}
            // No advisory locks: the lock works as Git's does (and is never taken for stale by
            // its marker, since no one can take the advisory lock to look).
            Err(e) if e.kind() == io::ErrorKind::Unsupported => return Ok(Created::File(file)),
            Err(e) => {
                let _ = fs::remove_file(lock);
                return Err(e);
            }
        }
        if names_file(lock, &file)? {
            return Ok(Created::File(file));
        }
        // A recoverer removed it while we stalled before locking: it is not ours any more.
    }
}

/// Looks at the lock file `lock` and removes it if it is stale (see the module documentation
/// for the rule and why the removal cannot hit a lock someone holds).
pub(crate) fn inspect(lock: &Path, stale_after: Duration) -> io::Result<Inspection> {
    let file = match File::open(lock) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Inspection::Absent),
        Err(e) => return Err(e),
    };
    match file.try_lock() {
        Ok(()) => {}
        Err(fs::TryLockError::WouldBlock) => return Ok(Inspection::Held(LockHolder::Live)),
        Err(fs::TryLockError::Error(e)) if e.kind() == io::ErrorKind::Unsupported => {
            return Ok(Inspection::Held(LockHolder::Unknown))
        }
        Err(fs::TryLockError::Error(e)) => return Err(e),
    }
    if !names_file(lock, &file)? {
        // Committed, given up or recovered since we opened it.
        return Ok(Inspection::Absent);
    }
    let meta = file.metadata()?;
    let marked = meta.accessed().ok() == Some(SystemTime::UNIX_EPOCH + MARKER);
    let age = meta
        .modified()
        .ok()
        .and_then(|m| SystemTime::now().duration_since(m).ok())
        .unwrap_or_default();
    if !marked && age < stale_after {
        return Ok(Inspection::Held(LockHolder::Unmarked { age, stale_after }));
    }
    // Still holding the advisory lock: see the module documentation.
    match fs::remove_file(lock) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Inspection::Absent),
        Err(e) => return Err(e),
    }
    tracing::warn!(
        lock = %lock.display(),
        age_secs = age.as_secs_f64(),
        canopy = marked,
        "removed a stale lock file left by a process that is gone"
    );
    drop(file);
    Ok(Inspection::Removed)
}

/// Whether the name `path` leads to the open file `file` (the same device and inode).
fn names_file(path: &Path, file: &File) -> io::Result<bool> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        let open = file.metadata()?;
        match fs::symlink_metadata(path) {
            Ok(named) => Ok(named.dev() == open.dev() && named.ino() == open.ino()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(e),
        }
    }
    #[cfg(not(unix))]
    {
        // An open file cannot be unlinked or replaced there.
        let _ = (path, file);
        Ok(true)
    }
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;
    use std::io::{BufRead, BufReader};
    use std::os::unix::process::CommandExt;
    use std::process::{Child, Command, Stdio};
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    /// Makes `path`'s mtime `ago` in the past.
    fn age_by(path: &Path, ago: Duration) {
        let f = OpenOptions::new().write(true).open(path).unwrap();
        f.set_modified(SystemTime::now() - ago).unwrap();
    }

    /// Not a test: run by [`lock_of_a_killed_process_is_recovered`] in a child process, it takes
    /// the lock named by `CANOPY_LOCK_HELPER`, says so, and waits to be killed.
    #[test]
    #[ignore]
    fn helper_hold_lock() {
        let Some(path) = std::env::var_os("CANOPY_LOCK_HELPER") else {
            return;
        };
        let Attempt::Taken(_file) = try_take(Path::new(&path)).unwrap() else {
            panic!("lock busy")
        };
        println!("HELD");
        std::thread::sleep(Duration::from_secs(60));
    }

    fn spawn_holder(lock: &Path) -> Child {
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args([
                "--exact",
                "backend::git::refs::lock::tests::helper_hold_lock",
                "--ignored",
                "--nocapture",
            ])
            .env("CANOPY_LOCK_HELPER", lock)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut out = BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        let mut held = false;
        while !held && out.read_line(&mut line).unwrap_or(0) > 0 {
            held = line.contains("HELD");
            line.clear();
        }
        if !held {
            let _ = child.kill();
            let _ = child.wait();
            panic!("helper did not take the lock");
        }
        child
    }

    #[test]
    fn lock_of_a_killed_process_is_recovered() {
        let dir = tempfile::tempdir().unwrap();
        let lock = dir.path().join("main.lock");
        let mut child = spawn_holder(&lock);
        // Alive: never removed, and reported as held by a live process.
        for _ in 0..3 {
            assert!(matches!(
                try_take(&lock).unwrap(),
                Attempt::Busy(LockHolder::Live)
            ));
            assert_eq!(
                inspect(&lock, Duration::ZERO).unwrap(),
                Inspection::Held(LockHolder::Live)
            );
        }
        assert!(lock.exists());
        child.kill().unwrap();
        child.wait().unwrap();
        // Dead: the file is still there, young, and marked; the next taker recovers it at once.
        assert!(lock.exists());
        assert!(matches!(try_take(&lock).unwrap(), Attempt::Taken(_)));
    }

    #[test]
    fn a_live_flock_holder_is_never_removed() {
        if Command::new("flock").arg("--version").output().is_err() {
            eprintln!("skipped: no flock(1)");
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let lock = dir.path().join("main.lock");
        fs::write(&lock, b"").unwrap();
        // Old and marked: stale by every rule but the one that matters.
        let f = OpenOptions::new().write(true).open(&lock).unwrap();
        f.set_times(
            FileTimes::new()
                .set_accessed(SystemTime::UNIX_EPOCH + MARKER)
                .set_modified(SystemTime::now() - Duration::from_secs(3600)),
        )
        .unwrap();
        drop(f);
        let mut child = Command::new("flock")
            .args(["-x", "-n"])
            .arg(&lock)
            .args(["sleep", "30"])
            .process_group(0)
            .spawn()
            .unwrap();
        let start = std::time::Instant::now();
        while inspect(&lock, Duration::from_secs(3600)).unwrap() != Inspection::Held(LockHolder::Live) {
            assert!(
                start.elapsed() < Duration::from_secs(10),
                "flock(1) did not take the lock"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
        for _ in 0..3 {
            assert!(matches!(
                try_take(&lock).unwrap(),
                Attempt::Busy(LockHolder::Live)
            ));
        }
        assert!(lock.exists());
        // flock(1) and the `sleep` holding the lock with it.
        let group = format!("-{}", child.id());
        Command::new("kill")
            .args(["-KILL", "--", &group])
            .status()
            .unwrap();
        child.wait().unwrap();
        let start = std::time::Instant::now();
        while !matches!(try_take(&lock).unwrap(), Attempt::Taken(_)) {
            assert!(
                start.elapsed() < Duration::from_secs(10),
                "not recovered after the holder died"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    #[test]
    fn an_unmarked_lock_is_waited_for_until_old() {
        let dir = tempfile::tempdir().unwrap();
        let lock = dir.path().join("main.lock");
        // As Git makes one: created, written, no advisory lock.
        fs::write(&lock, b"0123456789012345678901234567890123456789\n").unwrap();
        match try_take(&lock).unwrap() {
            Attempt::Busy(LockHolder::Unmarked { age, stale_after: s }) => {
                assert!(age < Duration::from_secs(5));
                assert_eq!(s, stale_after());
            }
            other => panic!("expected an unmarked holder, got {other:?}"),
        }
        assert!(lock.exists());
        age_by(&lock, stale_after() / 2);
        assert!(matches!(try_take(&lock).unwrap(), Attempt::Busy(_)));
        age_by(&lock, stale_after() + Duration::from_secs(1));
        assert!(matches!(try_take(&lock).unwrap(), Attempt::Taken(_)));
    }

    #[test]
    fn a_taken_lock_is_held_and_marked_until_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let lock = dir.path().join("main.lock");
        let Attempt::Taken(file) = try_take(&lock).unwrap() else {
            panic!()
        };
        assert_eq!(
            fs::metadata(&lock).unwrap().accessed().unwrap(),
            SystemTime::UNIX_EPOCH + MARKER
        );
        assert_eq!(
            inspect(&lock, Duration::ZERO).unwrap(),
            Inspection::Held(LockHolder::Live)
        );
        // Closed without unlinking (as a killed process leaves it): stale at once.
        drop(file);
        assert_eq!(
            inspect(&lock, Duration::from_secs(3600)).unwrap(),
            Inspection::Removed
        );
        assert!(!lock.exists());
    }

    /// Private files left by a killed process whose id this process now has do not stand in
    /// the way (the crash test met one after some 30,000 processes).
    #[test]
    fn private_names_left_by_a_dead_process_with_the_same_id_are_skipped() {
        let dir = tempfile::tempdir().unwrap();
        let lock = dir.path().join("main.lock");
        let next = COUNTER.load(Ordering::Relaxed);
        for n in next..next + 16 {
            fs::write(
                dir.path().join(format!(".main.{}-{n}.lock", std::process::id())),
                b"",
            )
            .unwrap();
        }
        assert!(matches!(
            try_take_by(&lock, &[create_by_link]).unwrap(),
            Attempt::Taken(_)
        ));
    }

    /// Each way of making a lock, alone: the lock appears held and marked, a second taker
    /// finds it busy, and nothing else is left in the directory.
    #[test]
    fn every_way_of_making_a_lock_gives_a_held_marked_lock_and_nothing_else() {
        let ways: [(&str, Create); 3] = [
            ("unnamed", create_unnamed),
            ("private name", create_by_link),
            ("in place", create_in_place),
        ];
        for (name, way) in ways {
            let dir = tempfile::tempdir().unwrap();
            let lock = dir.path().join("main.lock");
            let Attempt::Taken(file) = try_take_by(&lock, &[way]).unwrap() else {
                panic!("{name}: not taken")
            };
            assert!(names_file(&lock, &file).unwrap(), "{name}");
            assert_eq!(
                fs::metadata(&lock).unwrap().accessed().unwrap(),
                SystemTime::UNIX_EPOCH + MARKER,
                "{name}"
            );
            assert!(
                matches!(
                    try_take_by(&lock, &[way]).unwrap(),
                    Attempt::Busy(LockHolder::Live)
                ),
                "{name}"
            );
            let names: Vec<_> = fs::read_dir(dir.path())
                .unwrap()
                .map(|e| e.unwrap().file_name())
                .collect();
            assert_eq!(names, ["main.lock"], "{name}");
            fs::remove_file(&lock).unwrap();
        }
    }

    /// Linux's own filesystems have unnamed files: the lock is made with no name but `X.lock`
    /// at any moment (so `git refs verify` never meets a private name, and a writer killed
    /// while locking leaves nothing).
    #[cfg(target_os = "linux")]
    #[test]
    fn on_linux_a_lock_is_made_unnamed() {
        let dir = tempfile::tempdir().unwrap();
        let lock = dir.path().join("main.lock");
        assert!(matches!(create_unnamed(&lock).unwrap(), Created::File(_)));
        assert!(matches!(create_unnamed(&lock).unwrap(), Created::Exists));
        // Linked through `/proc/self/fd`, as where linking by descriptor is not allowed.
        fs::remove_file(&lock).unwrap();
        let Created::File(file) = create_unnamed_linking(&lock, false).unwrap() else {
            panic!("not linked through /proc")
        };
        assert!(names_file(&lock, &file).unwrap());
        assert!(matches!(
            create_unnamed_linking(&lock, false).unwrap(),
            Created::Exists
        ));
        let missing = dir.path().join("no-such-dir/main.lock");
        assert_eq!(
            create_unnamed(&missing).err().map(|e| e.kind()),
            Some(io::ErrorKind::NotFound)
        );
    }

    /// Lockers and recoverers racing over one name, with stale locks dropped in now and then:
    /// at no moment do two lockers hold it, whichever way the locks are made.
    #[test]
    fn racing_lockers_and_recoverers_exclude_each_other() {
        racing_lockers(create_unnamed);
        racing_lockers(create_by_link);
    }

    fn racing_lockers(way: Create) {
        let dir = tempfile::tempdir().unwrap();
        let lock = Arc::new(dir.path().join("main.lock"));
        let inside = Arc::new(AtomicUsize::new(0));
        let taken = Arc::new(AtomicUsize::new(0));
        let threads: Vec<_> = (0..6)
            .map(|t| {
                let (lock, inside, taken) = (lock.clone(), inside.clone(), taken.clone());
                std::thread::spawn(move || {
                    for i in 0..300 {
                        match try_take_by(&lock, &[way, create_in_place]).unwrap() {
                            Attempt::Taken(file) => {
                                assert_eq!(inside.fetch_add(1, Ordering::SeqCst), 0, "two holders");
                                taken.fetch_add(1, Ordering::SeqCst);
                                std::thread::yield_now();
                                inside.fetch_sub(1, Ordering::SeqCst);
                                if (t + i) % 7 == 0 {
                                    // Die holding it: closed, not unlinked.
                                    drop(file);
                                } else {
                                    fs::remove_file(&*lock).unwrap();
                                    drop(file);
                                }
                            }
                            Attempt::Busy(_) => std::thread::yield_now(),
                        }
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        assert!(taken.load(Ordering::SeqCst) > 100);
    }
}
