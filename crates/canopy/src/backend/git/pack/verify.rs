//! Full verification of one pack and its index, as `git verify-pack` / `git fsck` do: both
//! trailer checksums, the index's sort order and fan-out, every offset and CRC32, and every
//! object rebuilt (deltas applied) and hashed against the id the index gives it.
//!
//! Unlike [`PackSet`](super::PackSet), which refuses a pack whose trailer disagrees with its
//! index, verification opens what it can and goes on, so that the objects still intact in a
//! damaged pack can be checked and salvaged; each of them is handed to the caller.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};

use super::{be32, cache::BaseCache, Pack, PackSet, IDX_HEADER};
use crate::backend::{Error, Result};
use crate::object::{HashKind, ObjectId, RawObject};

/// Something wrong with a pack or its index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PackProblem {
    /// The damaged file (`.pack` or `.idx`).
    pub path: PathBuf,
    pub reason: String,
}

/// Verifies `dir/<stem>.{pack,idx}`; returns every problem found (none: the pack is sound).
///
/// `visit` receives each object the index lists: the object, rebuilt and hashed to its id, or
/// why it could not be. `external` resolves REF_DELTA bases that are not in the pack.
pub fn verify(
    dir: &Path,
    stem: &str,
    hash: HashKind,
    external: &dyn Fn(&ObjectId) -> Result<Option<RawObject>>,
    visit: &mut dyn FnMut(ObjectId, std::result::Result<RawObject, String>),
) -> Vec<PackProblem> {
    let idx_path = dir.join(format!("{stem}.idx"));
    let pack_path = dir.join(format!("{stem}.pack"));
    let mut problems = Vec::new();
    let problem = |path: &Path, reason: String| PackProblem {
        path: path.to_path_buf(),
        reason,
    };
    let pack = match Pack::open_with(dir, stem, hash, false) {
        Ok(Some(pack)) => pack,
        Ok(None) => {
            let missing = if idx_path.exists() { &pack_path } else { &idx_path };
            problems.push(problem(missing, "missing".into()));
            return problems;
        }
        Err(Error::CorruptFile { path, reason }) => {
            problems.push(PackProblem { path, reason });
            return problems;
        }
        Err(e) => {
            problems.push(problem(&pack_path, e.to_string()));
            return problems;
        }
    };
    if let Err(Error::CorruptFile { path, reason }) = pack.check_against_index() {
        problems.push(PackProblem { path, reason });
    }
    let hs = hash.len();
    for (path, bytes) in [(&idx_path, &pack.idx[..]), (&pack_path, &pack.pack[..])] {
        let body = bytes.len() - hs;
        let mut hasher = hash.hasher();
        hasher.update(&bytes[..body]);
        if hasher.finish().as_bytes() != &bytes[body..] {
            problems.push(problem(
                path,
                "trailing checksum does not match the content".into(),
            ));
        }
    }

    let count = pack.bucket(0, 255).1;
    let crc_at = IDX_HEADER + count * hs;
    let mut offsets: Vec<(usize, usize)> = Vec::with_capacity(count);
    for pos in 0..count {
        let raw = pack.id_at(pos);
        if pos > 0 && pack.id_at(pos - 1) >= raw {
            problems.push(problem(
                &idx_path,
                format!("object {pos} is out of order (ids must be strictly ascending)"),
            ));
        }
        let (lo, hi) = pack.bucket(raw[0], raw[0]);
        if !(lo..hi).contains(&pos) {
            problems.push(problem(
                &idx_path,
                format!("object {pos} lies outside its fan-out bucket"),
            ));
        }
        match pack.offset_at(pos) {
            Ok(offset) => offsets.push((offset, pos)),
            Err(e) => problems.push(problem(&idx_path, e.to_string())),
        }
    }
    offsets.sort_unstable();
    for (i, &(offset, pos)) in offsets.iter().enumerate() {
        if i > 0 && offsets[i - 1].0 == offset {
            problems.push(problem(
                &idx_path,
                format!("objects {} and {pos} share offset {offset}", offsets[i - 1].1),
            ));
            continue;
        }
        let end = offsets.get(i + 1).map_or(pack.data_end, |next| next.0);
        let expected = be32(&pack.idx, crc_at + 4 * pos);
        let actual = crc32fast::hash(&pack.pack[offset..end.max(offset)]);
        if actual != expected {
            problems.push(problem(
                &pack_path,
                format!("entry at offset {offset} fails its CRC32 check (damaged entry)"),
            ));
        }
    }

    // Every object, rebuilt through a set holding only this pack.
    let Some(id_of) = (0..count)
        .map(|pos| ObjectId::from_raw(hash, pack.id_at(pos)))
        .collect::<Option<Vec<ObjectId>>>()
    else {
        problems.push(problem(&idx_path, "unreadable object id".into()));
        return problems;
    };
    let single = PackSet {
        pack_dir: dir.to_path_buf(),
        hash,
        packs: RwLock::new(Arc::from(Vec::new())),
        rescan_lock: Mutex::new(()),
        cache: Mutex::new(BaseCache::default()),
        broken: Mutex::new(Default::default()),
    };
    let pack = Arc::new(pack);
    *single.packs.write().unwrap_or_else(|e| e.into_inner()) = Arc::from(vec![Arc::clone(&pack)]);
    let mut bad_objects = 0usize;
    for &(offset, pos) in &offsets {
        let id = id_of[pos];
        let result = match single.resolve(&pack, offset, external) {
            Ok(obj) => {
                let actual = obj.id(hash);
                if actual == id {
                    Ok(obj)
                } else {
                    Err(format!("content hashes to {actual}"))
                }
            }
            Err(e) => Err(e.to_string()),
        };
        if result.is_err() {
            bad_objects += 1;
        }
        visit(id, result);
    }
    if bad_objects > 0 {
        problems.push(problem(
            &pack_path,
            format!("{bad_objects} of {count} objects cannot be read back intact"),
        ));
    }
    problems
}
