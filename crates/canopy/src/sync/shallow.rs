//! `$GIT_DIR/shallow`: the commits whose parents this repository does not have, one hex id per
//! line. Updated through `shallow.lock` (created exclusively, renamed into place), as Git does.

use std::collections::BTreeSet;
use std::fs;
use std::io::Write;

use super::{Error, Result};
use crate::object::ObjectId;
use crate::Repo;

/// The shallow boundary of `repo` (empty for a complete repository). A store without files
/// keeps its boundary in memory, where its embedder may save and restore it ([`update`]).
pub fn read(repo: &Repo) -> Result<BTreeSet<ObjectId>> {
    let Some(layout) = repo.layout() else {
        return Ok(repo
            .inner
            .shallow
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone());
    };
    let path = layout.git_dir.join("shallow");
    let text = match fs::read(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(BTreeSet::new()),
        Err(e) => return Err(Error::Io(e)),
    };
    let mut out = BTreeSet::new();
    for line in text.split(|&c| c == b'\n').filter(|l| !l.is_empty()) {
        let id = ObjectId::from_hex(line)
            .filter(|i| i.hash_kind() == repo.hash_kind())
            .ok_or_else(|| {
                Error::Protocol(format!(
                    "{}: bad shallow line '{}'",
                    path.display(),
                    String::from_utf8_lossy(line)
                ))
            })?;
        out.insert(id);
    }
    Ok(out)
}

/// Adds `add` to the boundary and removes `remove` (a fetch's `shallow`/`unshallow` lines).
/// An empty boundary removes the file.
pub fn update(repo: &Repo, add: &[ObjectId], remove: &[ObjectId]) -> Result<()> {
    if add.is_empty() && remove.is_empty() {
        return Ok(());
    }
    let Some(layout) = repo.layout() else {
        let mut set = repo.inner.shallow.lock().unwrap_or_else(|p| p.into_inner());
        for r in remove {
            set.remove(r);
        }
        set.extend(add.iter().copied());
        return Ok(());
    };
    let path = layout.git_dir.join("shallow");
    let lock = layout.git_dir.join("shallow.lock");
    let mut f = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&lock)
        .map_err(|e| Error::Io(std::io::Error::new(e.kind(), format!("{}: {e}", lock.display()))))?;
    let result = (|| -> Result<()> {
        let mut set = read(repo)?;
        for r in remove {
            set.remove(r);
        }
        set.extend(add.iter().copied());
        if set.is_empty() {
            drop(f);
            let _ = fs::remove_file(&lock);
            match fs::remove_file(&path) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(Error::Io(e)),
            }
            return Ok(());
        }
        let mut text = String::new();
        for id in &set {
            text.push_str(&id.to_hex());
            text.push('\n');
        }
        f.write_all(text.as_bytes())?;
        f.sync_all()?;
        fs::rename(&lock, &path)?;
        Ok(())
    })();
    if result.is_err() {
        let _ = fs::remove_file(&lock);
    }
    result
}

/// Whether `ancestor` is in the history of `descendant` as far as this repository has it: the
/// walk stops at the shallow boundary and at missing commits (a shallow replica's merge-base
/// search cannot go further either). Newest first by committer time, so a fast-forward check
/// near the tips is cheap.
pub fn is_ancestor(repo: &Repo, ancestor: ObjectId, descendant: ObjectId) -> Result<bool> {
    let boundary = read(repo)?;
    let mut seen = std::collections::HashSet::new();
    let mut heap = std::collections::BinaryHeap::new();
    let time_of = |id: ObjectId| {
        repo.commit_info(id)
            .ok()
            .map(|c| (c.commit.committer.time, c.commit.parents))
    };
    let Some((t, parents)) = time_of(descendant) else {
        return Ok(false);
    };
    let floor = repo
        .commit_info(ancestor)
        .map(|c| c.commit.committer.time)
        .unwrap_or(i64::MIN);
    heap.push((t, descendant, parents));
    while let Some((t, id, parents)) = heap.pop() {
        if id == ancestor {
            return Ok(true);
        }
        // Allow a day of clock skew below the ancestor's date before giving up.
        if t < floor.saturating_sub(86_400) || boundary.contains(&id) {
            continue;
        }
        for p in parents {
            if seen.insert(p) {
                if let Some((pt, pp)) = time_of(p) {
                    heap.push((pt, p, pp));
                }
            }
        }
    }
    Ok(false)
}
