//! Which removed value a new value was renamed from, as Git's rename detection decides it for
//! one destination (`diffcore-rename.c` with `single_follow`, what `git blame` and `git log
//! --follow` use): an identical removed value first (one with the same file name preferred),
//! else the removed regular file most similar to it, if at least 50% similar (Git's default
//! `-M50%`), with Git's similarity estimate (`diffcore-delta.c`: chunks cut at each `\n` or every
//! 64 bytes, hashed, and the bytes of the source found again in the destination counted).
//!
//! Not done: copy detection (`-C`), break detection (`-B`), rename limits (one destination is
//! never over them), and Git's tie-breaking among sources of equal score beyond preferring the
//! same file name (Git's sort is not stable there; here the first in path order wins).

use std::collections::HashMap;

use super::patch::is_binary;
use super::{diff_trees, ChangeKind, Result};
use crate::backend::ContentAddressable;
use crate::object::{Mode, ObjectId, ObjectKind};
use crate::path::Path;
use crate::tree::Tree;

/// Git's scale of similarity scores.
const MAX_SCORE: u64 = 60_000;
/// Git's default minimum for a rename (`-M50%`).
const MINIMUM_SCORE: u64 = MAX_SCORE / 2;
/// A source with the destination's file name wins at this score even if another scores more
/// (Git's basename-guided matching, `find_basename_matches`).
const MIN_BASENAME_SCORE: u64 = MINIMUM_SCORE + (MAX_SCORE - MINIMUM_SCORE) / 2;
/// `diffcore-delta.c`'s `HASHBASE`.
const HASHBASE: u32 = 107_927;

/// The path in `old` that the value at `path` in `new` (absent from `old`) was renamed from,
/// with its value's id; `None` when no removed value qualifies.
pub(crate) fn renamed_from(
    store: &dyn ContentAddressable,
    old: &Tree,
    new: &Tree,
    path: &Path,
    id: ObjectId,
    mode: Mode,
) -> Result<Option<(Path, ObjectId)>> {
    let removed: Vec<(Path, ObjectId, Mode)> = diff_trees(store, old, new, &Path::root())?
        .into_iter()
        .filter(|c| c.kind == ChangeKind::Removed)
        .filter_map(|c| c.old.map(|o| (c.path, o.id, o.mode)))
        .filter(|(_, _, m)| *m != Mode::Gitlink)
        .collect();
    let name = path.steps().last();
    let same_name = |p: &Path| p.steps().last() == name;
    // Exact renames first: the same content.
    let exact: Vec<&(Path, ObjectId, Mode)> = removed.iter().filter(|(_, i, _)| *i == id).collect();
    if let Some(&(p, i, _)) = exact.iter().find(|(p, _, _)| same_name(p)).or(exact.first()) {
        return Ok(Some((p.clone(), *i)));
    }
    // Inexact renames: regular files only.
    if !is_regular(mode) {
        return Ok(None);
    }
    let dst = store.read_kind(&id, ObjectKind::Blob)?;
    let dst_count = span_counts(&dst);
    let mut scored = Vec::new();
    for (p, i, m) in &removed {
        if !is_regular(*m) {
            continue;
        }
        let src = store.read_kind(i, ObjectKind::Blob)?;
        let score = similarity(&src, &dst, &dst_count);
        if score >= MINIMUM_SCORE {
            scored.push((p, *i, score));
        }
    }
    let with_name: Vec<_> = scored.iter().filter(|(p, _, _)| same_name(p)).collect();
    if let [&(p, i, score)] = with_name.as_slice() {
        if score >= MIN_BASENAME_SCORE {
            return Ok(Some(((*p).clone(), i)));
        }
    }
    let best = scored
        .iter()
        .enumerate()
        .max_by_key(|(n, (p, _, score))| (*score, same_name(p), std::cmp::Reverse(*n)))
        .map(|(_, (p, i, _))| ((*p).clone(), *i));
    Ok(best)
}

fn is_regular(mode: Mode) -> bool {
    matches!(mode, Mode::File | Mode::Executable)
}

/// Git's `estimate_similarity`: how much of the larger side is material found on both sides, on
/// a scale of [`MAX_SCORE`]; 0 when the sizes alone rule a rename out.
fn similarity(src: &[u8], dst: &[u8], dst_count: &HashMap<u32, u64>) -> u64 {
    let (src_size, dst_size) = (src.len() as u64, dst.len() as u64);
    let max_size = src_size.max(dst_size);
    let delta_size = max_size - src_size.min(dst_size);
    if max_size * (MAX_SCORE - MINIMUM_SCORE) < delta_size * MAX_SCORE || dst_size == 0 {
        return 0;
    }
    let src_count = span_counts(src);
    let copied: u64 = src_count
        .iter()
        .map(|(h, &n)| n.min(dst_count.get(h).copied().unwrap_or(0)))
        .sum();
    copied * MAX_SCORE / max_size
}

/// Git's `hash_chars`: bytes per chunk hash, chunks ending at `\n` or after 64 bytes (a final
/// chunk without either is not counted, as in Git); in text, the CR of a CRLF is skipped.
fn span_counts(data: &[u8]) -> HashMap<u32, u64> {
    let text = !is_binary(data);
    let mut counts = HashMap::new();
    let (mut n, mut accum1, mut accum2) = (0u64, 0u32, 0u32);
    for (i, &c) in data.iter().enumerate() {
        if text && c == b'\r' && data.get(i + 1) == Some(&b'\n') {
            continue;
        }
        let old1 = accum1;
        accum1 = (accum1 << 7) ^ (accum2 >> 25);
        accum2 = (accum2 << 7) ^ (old1 >> 25);
        accum1 = accum1.wrapping_add(u32::from(c));
        n += 1;
        if n < 64 && c != b'\n' {
            continue;
        }
        let hash = accum1.wrapping_add(accum2.wrapping_mul(0x61)) % HASHBASE;
        *counts.entry(hash).or_insert(0) += n;
        n = 0;
        accum1 = 0;
        accum2 = 0;
    }
    counts
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn similarity_counts_the_lines_both_sides_share() {
        let a = b"one\ntwo\nthree\nfour\n";
        let b = b"one\ntwo\nthree\nFOUR\n";
        // 14 of the 19 bytes survive.
        assert_eq!(similarity(a, b, &span_counts(b)), 14 * MAX_SCORE / 19);
        assert_eq!(similarity(a, a, &span_counts(a)), MAX_SCORE);
        // Far apart in size: no rename, whatever they share.
        let big = b"one\ntwo\nthree\nfour\nfive\nsix\nseven\neight\nnine\nten\n";
        assert_eq!(similarity(a, big, &span_counts(big)), 0);
        // CRLF counts as LF in text.
        assert_eq!(span_counts(b"x\r\n"), span_counts(b"x\n"));
    }
}
