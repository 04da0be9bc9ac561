//! Whether a write could proceed now: what a server's health check reports.
//!
//! [`Repo::check_writable`] does what a commit does on its way, minus the commit: it writes and
//! removes a small temporary file among the packs (objects writable, disk not full), and takes
//! and releases the lock of the branch `HEAD` names (references writable; a stale lock left by a
//! dead writer is recovered on the way, as any writer would). A lock that a live process holds
//! is a moment's wait, not a failure; a lock that cannot be taken or recovered is.

use std::fs;
use std::io::{self, Write};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

use super::Repo;
use crate::backend::git::refs::lock::{self, Attempt};
use crate::backend::LockHolder;

/// Why writes cannot proceed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotWritable {
    /// `disk_full`, `read_only`, `objects_not_writable`, `refs_not_writable` or `branch_locked`.
    pub code: &'static str,
    pub message: String,
}

impl Repo {
    /// Checks that a commit to the branch `HEAD` names could be written now (see the module
    /// documentation). An in-memory store is always writable.
    pub fn check_writable(&self) -> Result<(), NotWritable> {
        let Some(layout) = self.layout() else {
            return Ok(());
        };
        probe_objects(&layout.git_dir.join("objects/pack"))?;
        let branch = self.head_branch().map_err(|e| NotWritable {
            code: "refs_not_writable",
            message: e.to_string(),
        })?;
        probe_branch_lock(&layout.git_dir, branch.ref_name())
    }
}

/// The code for an I/O error met while writing, with `otherwise` for the rest.
fn code_of(e: &io::Error, otherwise: &'static str) -> &'static str {
    match e.kind() {
        io::ErrorKind::StorageFull | io::ErrorKind::QuotaExceeded => "disk_full",
        io::ErrorKind::ReadOnlyFilesystem => "read_only",
        _ => otherwise,
    }
}

fn probe_objects(pack_dir: &Path) -> Result<(), NotWritable> {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    // `tmp_` so that `canopy gc` removes it if the process dies in between.
    let probe = pack_dir.join(format!(
        "tmp_health_{}_{}",
        crate::platform::process_id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    let written = fs::create_dir_all(pack_dir)
        // Not `create_new`: a probe left by a killed process with the same id is overwritten.
        .and_then(|()| fs::File::create(&probe))
        .and_then(|mut f| f.write_all(&[0; 4096]));
    let _ = fs::remove_file(&probe);
    written.map_err(|e| NotWritable {
        code: code_of(&e, "objects_not_writable"),
        message: format!("{}: {e}", pack_dir.display()),
    })
}

fn probe_branch_lock(git_dir: &Path, ref_name: &str) -> Result<(), NotWritable> {
    let target = git_dir.join(ref_name);
    let lock_path = git_dir.join(format!("{ref_name}.lock"));
    let locked = |message: String| NotWritable {
        code: "branch_locked",
        message: format!("'{ref_name}' is locked: '{}' {message}", lock_path.display()),
    };
    match fs::symlink_metadata(&lock_path) {
        Ok(meta) if !meta.is_file() => {
            return Err(locked("is not a file, so no writer can take or remove it".into()))
        }
        _ => {}
    }
    let refs_err = |e: io::Error| NotWritable {
        code: code_of(&e, "refs_not_writable"),
        message: format!("{}: {e}", lock_path.display()),
    };
    if let Some(parent) = target.parent() {
        fs::create_dir_all(parent).map_err(refs_err)?;
    }
    match lock::try_take(&lock_path).map_err(refs_err)? {
        Attempt::Taken(file) => {
            // Unlinked while still held, as a writer gives a lock up.
            let removed = fs::remove_file(&lock_path);
            drop(file);
            removed.map_err(refs_err)
        }
        // A writer at work, or Git: the next write waits a moment.
        Attempt::Busy(LockHolder::Live | LockHolder::Unmarked { .. }) => Ok(()),
        Attempt::Busy(holder @ LockHolder::Unknown) => Err(locked(format!("exists; {holder}"))),
    }
}
