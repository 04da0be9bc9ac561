//! Unnamed files made ahead of time, on another thread, for writers that publish many files.
//!
//! Making a file is mostly allocating its inode, and on a busy ext4 that is the largest single
//! cost of a small commit (a pack and its index per commit: two new files). On Linux a file can
//! be made without a name (`O_TMPFILE`), written, and given its name at the end with `linkat`,
//! which fails like `O_EXCL` if the name exists. [`Spares`] keeps a few such files open in a
//! directory, made by a background thread after the first one is asked for, so the writer only
//! writes and names them. A file nobody names vanishes when it is closed: a crash, or a
//! [`Spares`] dropped with files left, leaves nothing on disk. Elsewhere, or where the
//! filesystem has no unnamed files, [`Spares::take`] gives `None` and writers make named
//! temporary files as before.

use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock, Weak};

/// How many files a [`Spares`] keeps ready.
const KEEP: usize = 8;

/// Unnamed files ready in one directory.
pub(crate) struct Spares {
    inner: Arc<Inner>,
}

struct Inner {
    dir: PathBuf,
    mode: u32,
    files: Mutex<Vec<File>>,
    /// A refill is queued or running.
    asked: AtomicBool,
    /// Unnamed files cannot be made or named here.
    unsupported: AtomicBool,
    /// Naming one has been tried.
    probed: AtomicBool,
}

impl Spares {
    /// Files with permissions `mode` (less the umask) in `dir`; none is made until one is taken.
    pub fn new(dir: &Path, mode: u32) -> Spares {
        Spares {
            inner: Arc::new(Inner {
                dir: dir.to_path_buf(),
                mode,
                files: Mutex::new(Vec::new()),
                asked: AtomicBool::new(false),
                unsupported: AtomicBool::new(!cfg!(target_os = "linux")),
                probed: AtomicBool::new(false),
            }),
        }
    }

    /// An unnamed, empty, writable file in the directory, if one is ready; asks for more.
    pub fn take(&self) -> Option<File> {
        if self.inner.unsupported.load(Ordering::Relaxed) {
            return None;
        }
        let file = self.inner.files.lock().unwrap_or_else(|e| e.into_inner()).pop();
        if !self.inner.asked.swap(true, Ordering::AcqRel) {
            refill(Arc::downgrade(&self.inner));
        }
        file
    }
}

/// Queues a refill on the one thread that makes spare files for every [`Spares`].
fn refill(spares: Weak<Inner>) {
    static QUEUE: OnceLock<Mutex<std::sync::mpsc::Sender<Weak<Inner>>>> = OnceLock::new();
    let queue = QUEUE.get_or_init(|| {
        let (send, receive) = std::sync::mpsc::channel::<Weak<Inner>>();
        // Without a thread the receiver is dropped, sends fail, and writers make their files
        // themselves.
        let _ = std::thread::Builder::new()
            .name("canopy-spare-files".into())
            .spawn(move || {
                for spares in receive {
                    if let Some(spares) = spares.upgrade() {
                        spares.fill();
                    }
                }
            });
        Mutex::new(send)
    });
    let sent = queue
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .send(spares.clone());
    if sent.is_err() {
        if let Some(spares) = spares.upgrade() {
            spares.unsupported.store(true, Ordering::Relaxed);
        }
    }
}

impl Inner {
    fn fill(&self) {
        if !self.probed.swap(true, Ordering::AcqRel) && !self.probe() {
            self.unsupported.store(true, Ordering::Relaxed);
        }
        while !self.unsupported.load(Ordering::Relaxed) {
            let have = self.files.lock().unwrap_or_else(|e| e.into_inner()).len();
            if have >= KEEP {
                break;
            }
            match make_unnamed(&self.dir, self.mode) {
                Ok(Some(file)) => self.files.lock().unwrap_or_else(|e| e.into_inner()).push(file),
                Ok(None) => {
                    self.unsupported.store(true, Ordering::Relaxed);
                    break;
                }
                // A missing directory, say: the writer will meet it and report it.
                Err(_) => break,
            }
        }
        self.asked.store(false, Ordering::Release);
    }
}

impl Inner {
    /// Whether an unnamed file can be named here (a kernel before 6.10 without `/proc` and
    /// without the right to link by descriptor cannot): one is named and the name removed.
    fn probe(&self) -> bool {
        let Ok(Some(file)) = make_unnamed(&self.dir, self.mode) else {
            return false;
        };
        let name = self.dir.join(format!("tmp_spare_probe_{}", std::process::id()));
        let _ = std::fs::remove_file(&name);
        let linked = matches!(link(&file, &name), Ok(true));
        if linked {
            let _ = std::fs::remove_file(&name);
        }
        linked
    }
}

/// An unnamed file in `dir` (`O_TMPFILE`), or `None` where the kernel or filesystem has none.
#[cfg(target_os = "linux")]
pub(crate) fn make_unnamed(dir: &Path, mode: u32) -> io::Result<Option<File>> {
    use std::os::unix::fs::OpenOptionsExt;
    let dir = if dir.as_os_str().is_empty() {
        Path::new(".")
    } else {
        dir
    };
    match std::fs::OpenOptions::new()
        .write(true)
        .custom_flags(libc::O_TMPFILE)
        .mode(mode)
        .open(dir)
    {
        Ok(file) => Ok(Some(file)),
        // Kernels and filesystems without unnamed files answer one of these.
        Err(e)
            if matches!(
                e.raw_os_error(),
                Some(libc::EOPNOTSUPP | libc::EISDIR | libc::EINVAL)
            ) =>
        {
            Ok(None)
        }
        Err(e) => Err(e),
    }
}

#[cfg(not(target_os = "linux"))]
pub(crate) fn make_unnamed(_dir: &Path, _mode: u32) -> io::Result<Option<File>> {
    Ok(None)
}

/// Names the unnamed `file` `to`: `Ok(true)`, or `Ok(false)` where it cannot be named here (no
/// `/proc` and no right to link by descriptor, no hard links); an existing `to` is an
/// `AlreadyExists` error, as with `O_EXCL`.
#[cfg(target_os = "linux")]
pub(crate) fn link(file: &File, to: &Path) -> io::Result<bool> {
    link_by(file, to, true)
}

/// [`link`]; `by_descriptor` false goes straight to `/proc/self/fd` (tests).
#[cfg(target_os = "linux")]
pub(crate) fn link_by(file: &File, to: &Path, by_descriptor: bool) -> io::Result<bool> {
    use std::os::unix::ffi::OsStrExt;
    use std::os::unix::io::AsRawFd;

    let Ok(target) = std::ffi::CString::new(to.as_os_str().as_bytes()) else {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "a path with a NUL byte",
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
            return Ok(false);
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
        return Ok(true);
    }
    match error.raw_os_error() {
        // No `/proc` (ENOENT), no right to link by descriptor (EPERM), no hard links (EPERM,
        // EOPNOTSUPP), another filesystem (EXDEV).
        Some(libc::ENOENT | libc::EPERM | libc::EOPNOTSUPP | libc::EXDEV) => Ok(false),
        _ => Err(error),
    }
}

#[cfg(not(target_os = "linux"))]
pub(crate) fn link(_file: &File, _to: &Path) -> io::Result<bool> {
    Ok(false)
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;
    use std::io::{Read, Write};
    use std::time::{Duration, Instant};

    #[test]
    fn spare_files_are_made_off_the_thread_and_named_once_written() {
        let dir = tempfile::tempdir().unwrap();
        let spares = Spares::new(dir.path(), 0o444);
        assert!(std::fs::read_dir(dir.path()).unwrap().next().is_none());
        // The first take asks for files; they are ready soon after.
        let mut file = spares.take();
        let started = Instant::now();
        while file.is_none() {
            assert!(started.elapsed() < Duration::from_secs(10), "no spare file made");
            std::thread::sleep(Duration::from_millis(1));
            file = spares.take();
        }
        let mut file = file.unwrap();
        // Unnamed until linked: the directory is still empty.
        assert!(std::fs::read_dir(dir.path()).unwrap().next().is_none());
        file.write_all(b"pack bytes").unwrap();
        let to = dir.path().join("pack-1.pack");
        assert!(link(&file, &to).unwrap());
        let mut text = String::new();
        File::open(&to).unwrap().read_to_string(&mut text).unwrap();
        assert_eq!(text, "pack bytes");
        assert!(std::fs::metadata(&to).unwrap().permissions().readonly());
        // A name that exists is not replaced.
        let other = spares
            .take()
            .or_else(|| make_unnamed(dir.path(), 0o444).unwrap())
            .unwrap();
        assert_eq!(
            link(&other, &to).unwrap_err().kind(),
            io::ErrorKind::AlreadyExists
        );
        assert!(link_by(&other, &dir.path().join("by-proc"), false).unwrap());
        // Files never named leave nothing behind.
        drop(spares);
        let mut names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        assert_eq!(names, ["by-proc", "pack-1.pack"]);
    }
}
