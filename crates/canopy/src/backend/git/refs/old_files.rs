//! The files that reference updates replace, given a second name and removed later on a
//! thread of their own.
//!
//! Renaming a lock file over a reference frees the reference's old file, and on ext4 freeing a
//! file's block is most of the rename's cost (the block is discarded when the file system is
//! mounted with `discard`; `canopy-bench --example fs_ops` measures it). An update first links
//! the old file under `<git-dir>/canopy-old-refs/<pid>-<n>` (outside `refs/`, where neither
//! Git nor Canopy looks), so the rename only unlinks a name, and hands the link to a
//! background thread that removes it. Those names are garbage from the moment they are made:
//! anyone may remove them at any time, `canopy gc` removes what a crash left, and dropping a
//! store's references waits for the removals queued so far.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Condvar, Mutex, MutexGuard};

/// Where replaced reference files wait to be removed, in the git directory.
pub(crate) const DIR: &str = "canopy-old-refs";

struct Queue {
    pending: Vec<PathBuf>,
    /// Batches the background thread has taken and not yet finished.
    busy: usize,
    started: bool,
}

static QUEUE: Mutex<Queue> = Mutex::new(Queue {
    pending: Vec::new(),
    busy: 0,
    started: false,
});
static WAKE: Condvar = Condvar::new();
static IDLE: Condvar = Condvar::new();

fn queue() -> MutexGuard<'static, Queue> {
    QUEUE.lock().unwrap_or_else(|e| e.into_inner())
}

/// Gives `file` (a reference about to be replaced) a second name under `git_dir`'s
/// [`DIR`], or returns `None` when it cannot (no such file, no hard links, another file
/// system): the update then goes on as usual.
pub(crate) fn keep(git_dir: &Path, file: &Path) -> Option<PathBuf> {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let dir = git_dir.join(DIR);
    let name = dir.join(format!(
        "{}-{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    match fs::hard_link(file, &name) {
        Ok(()) => Some(name),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && !dir.is_dir() => {
            fs::create_dir(&dir).ok()?;
            fs::hard_link(file, &name).ok().map(|()| name)
        }
        // Left by a process with the same id that died before removing it: remove it later.
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            remove_later(name);
            None
        }
        Err(_) => None,
    }
}

/// Removes `path` on the background thread (at once, here, where there are no threads).
pub(crate) fn remove_later(path: PathBuf) {
    let mut q = queue();
    if !q.started {
        let spawned = std::thread::Builder::new()
            .name("canopy-old-refs".into())
            .spawn(run);
        if spawned.is_err() {
            drop(q);
            let _ = fs::remove_file(&path);
            return;
        }
        q.started = true;
    }
    q.pending.push(path);
    WAKE.notify_one();
}

fn run() {
    loop {
        let batch = {
            let mut q = queue();
            while q.pending.is_empty() {
                q = WAKE.wait(q).unwrap_or_else(|e| e.into_inner());
            }
            q.busy += 1;
            std::mem::take(&mut q.pending)
        };
        for path in &batch {
            let _ = fs::remove_file(path);
        }
        let mut q = queue();
        q.busy -= 1;
        if q.busy == 0 && q.pending.is_empty() {
            IDLE.notify_all();
        }
    }
}

/// Removes what is queued on this thread and waits until the background thread has removed
/// what it took: after this, nothing queued before it is left.
pub(crate) fn drain() {
    let batch = std::mem::take(&mut queue().pending);
    for path in &batch {
        let _ = fs::remove_file(path);
    }
    let mut q = queue();
    while q.busy > 0 {
        q = IDLE.wait(q).unwrap_or_else(|e| e.into_inner());
    }
}

/// Removes every file in `git_dir`'s [`DIR`] (what a process that died left there); returns
/// how many.
pub(crate) fn remove_leftovers(git_dir: &Path) -> usize {
    let Ok(entries) = fs::read_dir(git_dir.join(DIR)) else {
        return 0;
    };
    entries
        .flatten()
        .filter(|e| e.file_type().is_ok_and(|t| t.is_file()) && fs::remove_file(e.path()).is_ok())
        .count()
}
