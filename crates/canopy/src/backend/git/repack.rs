//! Keeping the number of packs small: every flush makes a pack, so packs are rolled up the way
//! `git repack --geometric=2` does it. Sorted by object count, the packs must grow by at least
//! a factor of two each; the smallest ones that break the progression are copied into one new
//! pack (entries copied as stored, not re-deflated), which is installed before they are
//! deleted. Lookups then touch at most about log2(objects) indexes.
//!
//! Safe beside concurrent readers and writers, in this process or others: objects are only
//! ever copied, never dropped, and a source pack is deleted only after the new pack holding
//! its objects is durable and installed (a reader that misses a deleted pack rescans the
//! directory, as after `git gc`). Packs with a `.keep`, `.promisor` or `.mtimes` file are left
//! alone. One roll-up runs at a time per store: `objects/info/canopy-repack.lock` is locked
//! (an OS lock, released if the process dies); a store that is busy skips its turn.

use std::fs::{self, File};
use std::path::Path;

use super::journal::Journal;
use super::loose::io_err;
use super::pack::PackSet;
use super::pack_write::PackWriter;
use crate::backend::Result;
use crate::object::HashKind;

/// By default, packs are rolled up only when there are more than this many
/// (`canopy.autoPackLimit`).
pub(super) const ROLL_UP_ABOVE: usize = 8;

/// Files that may sit beside a pack and go with it.
const COMPANIONS: [&str; 4] = ["idx", "rev", "bitmap", "pack"];

/// Rolls up the packs that break the geometric progression, if any; returns how many packs
/// were folded into one.
pub(super) fn roll_up(
    objects_dir: &Path,
    packs: &PackSet,
    hash: HashKind,
    fsync: bool,
    journal: Option<&Journal>,
) -> Result<usize> {
    let pack_dir = objects_dir.join("pack");
    let info_dir = objects_dir.join("info");
    fs::create_dir_all(&info_dir).map_err(io_err(&info_dir))?;
    let lock_path = info_dir.join("canopy-repack.lock");
    let lock = File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .map_err(io_err(&lock_path))?;
    if lock.try_lock().is_err() {
        return Ok(0);
    }
    // Another process may have rolled up meanwhile.
    packs.rescan()?;
    let mut candidates: Vec<(String, usize)> = packs
        .summaries()
        .into_iter()
        .filter(|p| {
            ["keep", "promisor", "mtimes"]
                .iter()
                .all(|ext| !pack_dir.join(format!("{}.{ext}", p.stem)).exists())
        })
        .map(|p| (p.stem, p.objects))
        .collect();
    candidates.sort_by(|a, b| a.1.cmp(&b.1).then_with(|| a.0.cmp(&b.0)));
    let counts: Vec<usize> = candidates.iter().map(|c| c.1).collect();
    let n = geometric_split(&counts);
    if n < 2 {
        return Ok(0);
    }
    let sources: Vec<String> = candidates[..n].iter().map(|c| c.0.clone()).collect();
    let mut out = PackWriter::with_packs(&pack_dir, hash, fsync, None)?.journaled(journal);
    for stem in &sources {
        packs.copy_pack(stem, &mut out)?;
    }
    let Some(info) = out.finish()? else {
        return Ok(0);
    };
    // Durable before the packs it replaces go: synced where it is, or recorded in the journal.
    if let Some(journal) = journal {
        journal.sync()?;
    }
    let new_stem = format!("pack-{}", info.checksum.to_hex());
    packs.insert(&new_stem)?;
    let gone: Vec<String> = sources.into_iter().filter(|s| *s != new_stem).collect();
    for stem in &gone {
        // The index first: a pack without one is invisible.
        for ext in COMPANIONS {
            let _ = fs::remove_file(pack_dir.join(format!("{stem}.{ext}")));
        }
    }
    packs.forget(&gone);
    Ok(n)
}

/// How many of the smallest packs (object counts sorted ascending) to fold into one so that
/// the rest, with the new pack, grow by a factor of two each: git's `--geometric=2` split.
fn geometric_split(counts: &[usize]) -> usize {
    let n = counts.len();
    if n < 2 {
        return 0;
    }
    // From the largest down, while each pack is at least twice the one below it.
    let mut split = n - 1;
    while split > 0 && counts[split - 1].saturating_mul(2) <= counts[split] {
        split -= 1;
    }
    if split == 0 {
        return 0;
    }
    // The rolled-up pack must itself be at most half the next one; absorb those it is not.
    let mut total: usize = counts[..split].iter().sum();
    while split < n && total.saturating_mul(2) > counts[split] {
        total += counts[split];
        split += 1;
    }
    split
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::ContentAddressable;
    use crate::object::ObjectKind;

    /// Roll-ups run on their own thread after the batch that calls for them; dropping the
    /// store waits for the one under way, so the count stays bounded even for a process that
    /// exits right after its commit.
    #[test]
    fn packs_are_rolled_up_off_the_writers_path_and_stay_few() {
        let tmp = tempfile::tempdir().unwrap();
        let objects = tmp.path().join("objects");
        let open = || super::super::GitObjects::open(&objects, HashKind::Sha1, false).unwrap();
        let mut ids = Vec::new();
        for round in 0..3 {
            let store = open().with_pack_limit(3);
            for i in 0..20 {
                let data = format!("value {round} {i}");
                ids.push((store.write(ObjectKind::Blob, data.as_bytes()).unwrap(), data));
                store.flush().unwrap();
            }
        }
        let packs = fs::read_dir(objects.join("pack"))
            .unwrap()
            .filter(|e| {
                e.as_ref()
                    .unwrap()
                    .path()
                    .extension()
                    .is_some_and(|x| x == "pack")
            })
            .count();
        // 60 batches, each a pack; rolled up geometrically: about log2(60) are left (a little
        // slack: a batch that asks just as the roll-up thread ends waits for the next batch).
        assert!((1..=10).contains(&packs), "{packs} packs");
        let store = open();
        for (id, data) in &ids {
            assert_eq!(store.read(id).unwrap().unwrap().data, data.as_bytes());
        }
    }

    #[test]
    fn the_split_restores_a_geometric_progression() {
        assert_eq!(geometric_split(&[]), 0);
        assert_eq!(geometric_split(&[5]), 0);
        assert_eq!(geometric_split(&[1, 2, 4, 8]), 0);
        assert_eq!(geometric_split(&[5, 5]), 2);
        assert_eq!(geometric_split(&[5, 5, 100]), 2);
        // 4+5+5 = 14 is more than half of 20: 20 joins too.
        assert_eq!(geometric_split(&[4, 5, 5, 20, 1000]), 4);
        for counts in [vec![3usize; 40], (1..60).collect::<Vec<_>>()] {
            let n = geometric_split(&counts);
            let mut after = vec![counts[..n].iter().sum::<usize>()];
            after.extend_from_slice(&counts[n..]);
            after.sort();
            assert!(
                after.windows(2).all(|w| w[0] * 2 <= w[1]),
                "{counts:?} → {after:?}"
            );
        }
    }
}
