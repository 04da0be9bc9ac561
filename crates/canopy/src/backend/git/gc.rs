//! Garbage collection: repack everything reachable into one pack with deltas, drop what is
//! unreachable and old, and write the commit-graph.
//!
//! Reachable means: from any reference, from `HEAD`, or from any reflog entry (so an overwritten
//! head can still be found after a collection). Safety against concurrent writers rests on two
//! rules, the same as Git's: nothing younger than the grace period is deleted unless it is in the
//! new pack, and a writer that reuses an existing object freshens its file's mtime
//! (`loose::freshen`), so an object about to be referenced again counts as young. A pack is only
//! deleted once the new pack (which holds everything reachable) is installed, and a pack with a
//! `.keep` file is never touched.
//!
//! A writer that died leaves temporary files (`tmp_obj_*` in the fan-out directories, or at the
//! top of `objects` for a value streamed in,
//! `tmp_pack_*`/`tmp_idx_*` in `objects/pack`) and perhaps lock files. Temporary files go once
//! untouched for [`TMP_GRACE`] (or the grace period, if shorter): a live writer appends to its
//! file all the time, so an hour without a write means nobody will finish it. Lock files go by
//! the writers' own rule (`refs::lock`): a dead Canopy process's at once, another program's once
//! older than the stale-lock limit, a live process's never.

use std::collections::HashSet;
use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use super::loose::io_err;
use super::pack_write::PackWriter;
use super::{commit_graph, delta_encode, refs, RepoLayout};
use crate::backend::{AtomicWrite, ContentAddressable, Error, Result};
use crate::object::{Commit, HashKind, Mode, ObjectId, ObjectKind, RawObject, Tag, TreeEntry};

/// Temporary files untouched for this long belong to a writer that is gone (Git's `prune`
/// waits two weeks for `tmp_obj_*`; an hour is ample for a writer that streams into the file).
pub const TMP_GRACE: Duration = Duration::from_secs(3600);

/// How a collection runs.
#[derive(Debug, Clone)]
pub struct GcOptions {
    /// Unreachable objects younger than this are kept (Git's `gc.pruneExpire`, two weeks).
    pub grace: Duration,
    /// How many similar objects each one is tried as a delta against (0: no deltas).
    pub window: usize,
    /// Longest delta chain written.
    pub max_depth: u32,
}

impl Default for GcOptions {
    fn default() -> GcOptions {
        GcOptions {
            grace: Duration::from_secs(14 * 24 * 3600),
            window: 10,
            max_depth: 50,
        }
    }
}

/// What a collection did.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct GcReport {
    pub reachable_objects: usize,
    pub deltas: usize,
    pub packs_removed: usize,
    pub loose_removed: usize,
    /// Temporary files and stale lock files left by writers that died.
    pub leftovers_removed: usize,
    pub commits_in_graph: usize,
    pub bytes_before: u64,
    pub bytes_after: u64,
}

/// An object on the way into the new pack, with the name it was reached by (similar names
/// make good delta bases).
struct Pending {
    id: ObjectId,
    kind: ObjectKind,
    name: Vec<u8>,
    size: usize,
}

/// Where object `id` is, if it is stored loose.
fn loose_path(objects_dir: &Path, id: &ObjectId) -> PathBuf {
    let hex = id.to_hex();
    objects_dir.join(&hex[..2]).join(&hex[2..])
}

/// Collects the repository at `layout`.
pub fn gc(layout: &RepoLayout, opts: &GcOptions) -> Result<GcReport> {
    let refuse = |reason: &str| Error::Unsupported {
        path: layout.git_dir.clone(),
        reason: reason.to_string(),
    };
    if layout.config.get_bool("extensions.preciousobjects")? == Some(true) {
        return Err(refuse(
            "extensions.preciousObjects is set: its objects must never be deleted",
        ));
    }
    if layout.config.get_bool("core.bare")? != Some(true) {
        // A checkout's index and worktrees hold objects no reference names; `git gc` knows them.
        return Err(refuse("gc runs on bare stores only; use `git gc` in a checkout"));
    }
    let objects = layout.objects()?;
    let refs = layout.refs();
    let objects_dir = layout.git_dir.join("objects");
    let pack_dir = objects_dir.join("pack");
    let hash = layout.hash;
    let mut report = GcReport {
        bytes_before: dir_size(&objects_dir),
        ..GcReport::default()
    };
    let started = SystemTime::now();

    // Roots: every reference, HEAD, and every reflog entry.
    let mut roots: Vec<ObjectId> = Vec::new();
    let mut names: Vec<String> = vec!["HEAD".into()];
    for (name, id) in refs.list("refs/")? {
        roots.push(id);
        names.push(name);
    }
    if let Some(id) = refs.resolve("HEAD")? {
        roots.push(id);
    }
    for name in &names {
        for entry in refs.reflog(name)? {
            roots.extend(entry.old.into_iter().chain(entry.new));
        }
    }

    // Everything reachable, commits in walk order, then the rest grouped for deltas.
    let mut seen: HashSet<ObjectId> = HashSet::new();
    let mut commits: Vec<ObjectId> = Vec::new();
    let mut rest: Vec<Pending> = Vec::new();
    // Large values stored loose stay loose, unread: packing one would hold it in memory.
    let mut kept_loose: HashSet<ObjectId> = HashSet::new();
    let mut stack: Vec<(ObjectId, Vec<u8>)> = roots.iter().map(|id| (*id, Vec::new())).collect();
    while let Some((id, name)) = stack.pop() {
        if !seen.insert(id) {
            continue;
        }
        let stream = objects.read_stream(&id)?.ok_or(Error::MissingObject { id })?;
        if stream.kind == ObjectKind::Blob
            && stream.size >= super::LARGE_OBJECT as u64
            && loose_path(&objects_dir, &id).is_file()
        {
            kept_loose.insert(id);
            continue;
        }
        let obj = RawObject::new(
            stream.kind,
            crate::backend::read_exactly(&mut { stream.reader }, stream.size).map_err(|e| {
                Error::CorruptObject {
                    id,
                    reason: e.to_string(),
                }
            })?,
        );
        match obj.kind {
            ObjectKind::Commit => {
                let c = Commit::parse(hash, &obj.data).map_err(|e| e.with_id(id))?;
                stack.push((c.tree, Vec::new()));
                stack.extend(c.parents.iter().map(|p| (*p, Vec::new())));
                commits.push(id);
            }
            ObjectKind::Tree => {
                for e in TreeEntry::parse_all(hash, &obj.data).map_err(|e| e.with_id(id))? {
                    if e.mode != Mode::Gitlink {
                        stack.push((e.id, e.name));
                    }
                }
                rest.push(Pending {
                    id,
                    kind: obj.kind,
                    name,
                    size: obj.data.len(),
                });
            }
            ObjectKind::Blob => rest.push(Pending {
                id,
                kind: obj.kind,
                name,
                size: obj.data.len(),
            }),
            ObjectKind::Tag => {
                let t = Tag::parse(hash, &obj.data).map_err(|e| e.with_id(id))?;
                stack.push((t.object, Vec::new()));
                rest.push(Pending {
                    id,
                    kind: obj.kind,
                    name,
                    size: obj.data.len(),
                });
            }
        }
    }
    report.reachable_objects = seen.len();
    // Git's heuristic: same kind, then same name, then larger first (deltas shrink things).
    rest.sort_by(|a, b| {
        (a.kind, &a.name, std::cmp::Reverse(a.size)).cmp(&(b.kind, &b.name, std::cmp::Reverse(b.size)))
    });

    let mut pack = PackWriter::create(&pack_dir, hash, layout.fsync)?;
    for id in &commits {
        let data = objects.read_kind(id, ObjectKind::Commit)?;
        pack.add(ObjectKind::Commit, &data)?;
    }
    let mut window: Vec<(ObjectId, ObjectKind, Vec<u8>, u32)> = Vec::new();
    for p in &rest {
        let data = objects.read_kind(&p.id, p.kind)?;
        let mut best: Option<(usize, Vec<u8>, u32)> = None;
        if opts.window > 0 && p.kind != ObjectKind::Tag {
            for (i, (_, kind, base, depth)) in window.iter().enumerate() {
                if *kind != p.kind || *depth >= opts.max_depth {
                    continue;
                }
                if let Some(delta) = delta_encode::encode(base, &data) {
                    if best.as_ref().is_none_or(|(_, d, _)| delta.len() < d.len()) {
                        best = Some((i, delta, depth + 1));
                    }
                }
            }
        }
        let depth = match best {
            Some((i, delta, depth)) => {
                pack.add_delta(p.kind, &data, &window[i].0, &delta)?;
                report.deltas += 1;
                depth
            }
            None => {
                pack.add(p.kind, &data)?;
                0
            }
        };
        if opts.window > 0 {
            window.push((p.id, p.kind, data, depth));
            if window.len() > opts.window {
                window.remove(0);
            }
        }
    }
    let installed = pack.finish()?;
    let new_pack = installed.as_ref().map(|i| i.pack.clone());

    // Old packs: gone if everything in them is in the new pack or they are past the grace period.
    let cutoff = started.checked_sub(opts.grace).unwrap_or(SystemTime::UNIX_EPOCH);
    let tmp_cutoff = started
        .checked_sub(opts.grace.min(TMP_GRACE))
        .unwrap_or(SystemTime::UNIX_EPOCH);
    for (pack_path, idx_path) in list_packs(&pack_dir)? {
        if Some(&pack_path) == new_pack.as_ref() || pack_path.with_extension("keep").exists() {
            continue;
        }
        let ids = idx_ids(&idx_path, hash)?;
        let old = mtime(&pack_path).is_some_and(|t| t < cutoff);
        if old || ids.iter().all(|id| seen.contains(id)) {
            // The index goes first: without it the pack is invisible, then it can go.
            for ext in ["idx", "pack", "rev", "bitmap", "promisor", "mtimes"] {
                let _ = fs::remove_file(pack_path.with_extension(ext));
            }
            report.packs_removed += 1;
        }
    }
    if report.packs_removed > 0 {
        // A multi-pack-index would name deleted packs.
        let _ = fs::remove_file(pack_dir.join("multi-pack-index"));
    }

    // Loose objects: packed ones go, unreachable ones go once old, recent ones stay.
    for fan in 0..=255u8 {
        let dir = objects_dir.join(format!("{fan:02x}"));
        let Ok(entries) = fs::read_dir(&dir) else { continue };
        for entry in entries.flatten() {
            let path = entry.path();
            let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
                continue;
            };
            let old = mtime(&path).is_some_and(|t| t < cutoff);
            let remove = if name.starts_with("tmp_") {
                if mtime(&path).is_some_and(|t| t < tmp_cutoff) && fs::remove_file(&path).is_ok() {
                    report.leftovers_removed += 1;
                }
                false
            } else {
                match ObjectId::from_hex(format!("{fan:02x}{name}").as_bytes()) {
                    Some(id) if kept_loose.contains(&id) => false,
                    Some(id) if installed.is_some() && seen.contains(&id) => true,
                    Some(_) => old,
                    None => false,
                }
            };
            if remove && fs::remove_file(&path).is_ok() {
                report.loose_removed += 1;
            }
        }
        // An emptied fan-out directory goes (ext4 never shrinks a directory); a writer that was
        // about to use it creates it again (`loose::LooseObjects::write`).
        let _ = fs::remove_dir(&dir);
    }

    // What dead writers left in the pack directory, at the top of the object directory (a
    // large value being streamed in) and in the Git directory (a journal being made), and
    // their locks.
    for dir in [&pack_dir, &objects_dir, &layout.git_dir] {
        let Ok(entries) = fs::read_dir(dir) else { continue };
        for entry in entries.flatten() {
            let path = entry.path();
            let is_tmp = entry.file_name().to_str().is_some_and(|n| n.starts_with("tmp_"));
            if is_tmp && mtime(&path).is_some_and(|t| t < tmp_cutoff) && fs::remove_file(&path).is_ok() {
                report.leftovers_removed += 1;
            }
        }
    }
    report.leftovers_removed += remove_stale_locks(&layout.git_dir);
    report.leftovers_removed += super::refs::old_files::remove_leftovers(&layout.git_dir);

    // The commit-graph of everything reachable, read from the new pack.
    let fresh = layout.objects()?;
    let filters = commit_graph::filter_version(&layout.config, &objects_dir, layout.hash);
    report.commits_in_graph = commit_graph::write(
        &fresh,
        &objects_dir,
        &roots_commits(&fresh, &roots)?,
        layout.fsync,
        filters,
    )?;
    report.bytes_after = dir_size(&objects_dir);
    Ok(report)
}

/// Removes the stale lock files (see `refs::lock`) of the files Canopy locks: references,
/// `packed-refs`, `HEAD` and `config`. Returns how many went.
fn remove_stale_locks(git_dir: &Path) -> usize {
    let mut locks: Vec<PathBuf> = ["packed-refs.lock", "HEAD.lock", "config.lock", "shallow.lock"]
        .iter()
        .map(|n| git_dir.join(n))
        .collect();
    // Private names of locks being made (`.config.<pid>-<n>.lock`) that a crash left.
    if let Ok(entries) = fs::read_dir(git_dir) {
        locks.extend(entries.flatten().map(|e| e.path()).filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with('.') && n.ends_with(".lock"))
        }));
    }
    let mut dirs = vec![git_dir.join("refs")];
    while let Some(dir) = dirs.pop() {
        let Ok(entries) = fs::read_dir(&dir) else { continue };
        for entry in entries.flatten() {
            let path = entry.path();
            match entry.file_type() {
                Ok(t) if t.is_dir() => dirs.push(path),
                Ok(t) if t.is_file() && path.extension().is_some_and(|e| e == "lock") => locks.push(path),
                _ => {}
            }
        }
    }
    let stale_after = refs::lock::stale_after();
    locks
        .iter()
        .filter(|lock| {
            matches!(
                refs::lock::inspect(lock, stale_after),
                Ok(refs::lock::Inspection::Removed)
            )
        })
        .count()
}

/// The commits among the roots (tags peeled), for the commit-graph.
fn roots_commits(objects: &dyn ContentAddressable, roots: &[ObjectId]) -> Result<Vec<ObjectId>> {
    let mut out = Vec::new();
    for &root in roots {
        let mut id = root;
        for _ in 0..16 {
            let Some(obj) = objects.read(&id)? else { break };
            match obj.kind {
                ObjectKind::Commit => {
                    out.push(id);
                    break;
                }
                ObjectKind::Tag => {
                    id = Tag::parse(objects.hash_kind(), &obj.data)
                        .map_err(|e| e.with_id(id))?
                        .object
                }
                _ => break,
            }
        }
    }
    out.sort();
    out.dedup();
    Ok(out)
}

fn mtime(path: &Path) -> Option<SystemTime> {
    fs::metadata(path).and_then(|m| m.modified()).ok()
}

fn list_packs(dir: &Path) -> Result<Vec<(PathBuf, PathBuf)>> {
    let mut out = Vec::new();
    let entries = match fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(out),
        Err(e) => return Err(io_err(dir)(e)),
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let is_pack = path.extension().is_some_and(|e| e == "pack")
            && path
                .file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("pack-"));
        if is_pack && path.with_extension("idx").exists() {
            out.push((path.clone(), path.with_extension("idx")));
        }
    }
    Ok(out)
}

/// The ids listed in a version 2 pack index.
fn idx_ids(path: &Path, hash: HashKind) -> Result<Vec<ObjectId>> {
    let data = fs::read(path).map_err(io_err(path))?;
    let corrupt = || Error::CorruptFile {
        path: path.to_path_buf(),
        reason: "not a version 2 pack index".into(),
    };
    if data.len() < 8 + 1024 || &data[..8] != b"\xfftOc\x00\x00\x00\x02" {
        return Err(corrupt());
    }
    let n = u32::from_be_bytes([data[8 + 1020], data[8 + 1021], data[8 + 1022], data[8 + 1023]]) as usize;
    let hl = hash.len();
    let start = 8 + 1024;
    let end = n
        .checked_mul(hl)
        .and_then(|b| b.checked_add(start))
        .ok_or_else(corrupt)?;
    let table = data.get(start..end).ok_or_else(corrupt)?;
    table
        .chunks_exact(hl)
        .map(|raw| ObjectId::from_raw(hash, raw).ok_or_else(corrupt))
        .collect()
}

#[cfg(unix)]
fn disk_usage(m: &fs::Metadata) -> u64 {
    std::os::unix::fs::MetadataExt::blocks(m) * 512
}

/// Where blocks are not reported, the length stands in for the space used.
#[cfg(not(unix))]
fn disk_usage(m: &fs::Metadata) -> u64 {
    m.len()
}

fn dir_size(dir: &Path) -> u64 {
    let mut total = 0;
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = fs::read_dir(&d) else { continue };
        for e in entries.flatten() {
            match e.metadata() {
                Ok(m) if m.is_dir() => stack.push(e.path()),
                // Space on disk (blocks), as `du` counts it: what a user sees shrink.
                Ok(m) => total += disk_usage(&m),
                Err(_) => {}
            }
        }
    }
    total
}
