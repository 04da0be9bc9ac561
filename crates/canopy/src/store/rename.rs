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
use super::{diff_trees, ChangeKind, PathChange, Result, Side};
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
    let name = path.last_step();
    let same_name = |p: &Path| p.last_step() == name;
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
        let score = similarity(&src, &dst, &dst_count, MINIMUM_SCORE);
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

/// A rename `git diff` reports: the value removed at `changes[from]` is the one added at
/// `changes[to]`, `score` similar (out of 60,000; [`RenamePair::percent`] as git prints it).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RenamePair {
    pub from: usize,
    pub to: usize,
    pub score: u64,
}

impl RenamePair {
    /// The similarity index git prints (`similarity index N%`, `R0NN`).
    pub fn percent(&self) -> u64 {
        self.score * 100 / MAX_SCORE
    }
}

/// Above this many destinations × sources, only exact renames are looked for (Git's default
/// `diff.renameLimit` of 1,000, squared).
const RENAME_LIMIT: usize = 1000;
/// Candidates kept per destination in the similarity matrix (`NUM_CANDIDATE_PER_DST`).
const CANDIDATES_PER_DESTINATION: usize = 4;

/// The renames `git diff` (rename detection on, `-M50%`, no copies, no breaks) finds among
/// `changes`, in the order of [`diff_trees`] (`diffcore-rename.c`): exact renames (same value;
/// among several sources the one with the same file name, else the first); then pairs whose file
/// names are unique among the sources and destinations left and match, if at least 75% similar;
/// then the best-scoring pairs of the rest, if at least 50% similar, each source used once.
/// Only regular files are renamed with edits; symbolic links and submodules only when exact.
pub fn detect_renames(store: &dyn ContentAddressable, changes: &[PathChange]) -> Result<Vec<RenamePair>> {
    let sources: Vec<usize> = (0..changes.len())
        .filter(|&i| changes[i].kind == ChangeKind::Removed)
        .collect();
    let destinations: Vec<usize> = (0..changes.len())
        .filter(|&i| changes[i].kind == ChangeKind::Added)
        .collect();
    let mut pairs = Vec::new();
    if sources.is_empty() || destinations.is_empty() {
        return Ok(pairs);
    }
    let old = |i: usize| changes[i].old.expect("a removed value has an old side");
    let new = |i: usize| changes[i].new.expect("an added value has a new side");
    let mut used = vec![false; changes.len()];
    let mut renamed = vec![false; changes.len()];
    fn record(
        pairs: &mut Vec<RenamePair>,
        used: &mut [bool],
        renamed: &mut [bool],
        from: usize,
        to: usize,
        score: u64,
    ) {
        used[from] = true;
        renamed[to] = true;
        pairs.push(RenamePair { from, to, score });
    }

    // Exact renames.
    for &d in &destinations {
        let target = new(d);
        let mut best: Option<(usize, u8)> = None;
        for &s in &sources {
            let source = old(s);
            if used[s] || source.id != target.id {
                continue;
            }
            if (!is_regular(source.mode) || !is_regular(target.mode)) && source.mode != target.mode {
                continue;
            }
            let score = 1 + u8::from(basename_same(&changes[s].path, &changes[d].path));
            if best.is_none_or(|(_, b)| score > b) {
                best = Some((s, score));
                if score == 2 {
                    break;
                }
            }
        }
        if let Some((s, _)) = best {
            record(&mut pairs, &mut used, &mut renamed, s, d, MAX_SCORE);
        }
    }

    // What is left, with each side's content read once (regular files only).
    let mut contents: HashMap<usize, (usize, HashMap<u32, u64>)> = HashMap::new();
    let mut counts = |i: usize, side: Side| -> Result<Option<(usize, HashMap<u32, u64>)>> {
        if !is_regular(side.mode) {
            return Ok(None);
        }
        if let Some(c) = contents.get(&i) {
            return Ok(Some(c.clone()));
        }
        let data = store.read_kind(&side.id, ObjectKind::Blob)?;
        let c = (data.len(), span_counts(&data));
        contents.insert(i, c.clone());
        Ok(Some(c))
    };
    let mut score_of = |s: usize, d: usize, minimum: u64| -> Result<u64> {
        let (Some((sl, sc)), Some((dl, dc))) = (counts(s, old(s))?, counts(d, new(d))?) else {
            return Ok(0);
        };
        Ok(similarity_of_counts(sl, &sc, dl, &dc, minimum))
    };

    // Unique file names on both sides.
    let left: Vec<usize> = sources.iter().copied().filter(|&s| !used[s]).collect();
    let unique = |indexes: &mut dyn Iterator<Item = usize>| {
        let mut by_name: HashMap<Vec<u8>, Option<usize>> = HashMap::new();
        for i in indexes {
            let name = basename(&changes[i].path).to_vec();
            by_name.entry(name).and_modify(|e| *e = None).or_insert(Some(i));
        }
        by_name
    };
    let source_names = unique(&mut left.iter().copied());
    let destination_names = unique(&mut destinations.iter().copied().filter(|&d| !renamed[d]));
    for &s in &left {
        let name = basename(&changes[s].path);
        let (Some(Some(src)), Some(Some(d))) = (source_names.get(name), destination_names.get(name)) else {
            continue;
        };
        debug_assert_eq!(*src, s);
        if renamed[*d] {
            continue;
        }
        let score = score_of(s, *d, MIN_BASENAME_SCORE)?;
        if score >= MIN_BASENAME_SCORE {
            record(&mut pairs, &mut used, &mut renamed, s, *d, score);
        }
    }

    // The matrix of what is left: the best candidates per destination, best pairs first.
    let left: Vec<usize> = sources.iter().copied().filter(|&s| !used[s]).collect();
    let waiting: Vec<usize> = destinations.iter().copied().filter(|&d| !renamed[d]).collect();
    if left.is_empty()
        || waiting.is_empty()
        || waiting.len().saturating_mul(left.len()) > RENAME_LIMIT * RENAME_LIMIT
    {
        return Ok(pairs);
    }
    let mut matrix: Vec<Candidate> = Vec::with_capacity(waiting.len() * CANDIDATES_PER_DESTINATION);
    for &d in &waiting {
        let mut best = [Candidate::NONE; CANDIDATES_PER_DESTINATION];
        for &s in &left {
            let c = Candidate {
                score: score_of(s, d, MINIMUM_SCORE)?,
                name_score: u8::from(basename_same(&changes[s].path, &changes[d].path)),
                pair: Some((s, d)),
            };
            let mut worst = 0;
            for i in 1..best.len() {
                if best[i].order(&best[worst]).is_gt() {
                    worst = i;
                }
            }
            if best[worst].order(&c).is_gt() {
                best[worst] = c;
            }
        }
        matrix.extend(best);
    }
    matrix.sort_by(Candidate::order);
    for c in matrix {
        let Some((s, d)) = c.pair else { break };
        if c.score < MINIMUM_SCORE {
            break;
        }
        if renamed[d] || used[s] {
            continue;
        }
        record(&mut pairs, &mut used, &mut renamed, s, d, c.score);
    }
    Ok(pairs)
}

/// A (source, destination) pair in the similarity matrix (`struct diff_score`).
#[derive(Clone, Copy, Debug)]
struct Candidate {
    score: u64,
    name_score: u8,
    pair: Option<(usize, usize)>,
}

impl Candidate {
    const NONE: Candidate = Candidate {
        score: 0,
        name_score: 0,
        pair: None,
    };

    /// Git's `score_compare`: empty slots last, then higher scores, then the same file name.
    fn order(&self, other: &Candidate) -> std::cmp::Ordering {
        use std::cmp::Ordering;
        match (self.pair, other.pair) {
            (None, None) => Ordering::Equal,
            (None, Some(_)) => Ordering::Greater,
            (Some(_), None) => Ordering::Less,
            _ => other
                .score
                .cmp(&self.score)
                .then(other.name_score.cmp(&self.name_score)),
        }
    }
}

/// The file name: what follows the last `/`.
fn basename(path: &Path) -> &[u8] {
    path.last_step().unwrap_or_default()
}

fn basename_same(a: &Path, b: &Path) -> bool {
    basename(a) == basename(b)
}

fn is_regular(mode: Mode) -> bool {
    matches!(mode, Mode::File | Mode::Executable)
}

/// Git's `estimate_similarity`: how much of the larger side is material found on both sides, on
/// a scale of [`MAX_SCORE`]; 0 when the sizes alone rule a rename out.
/// `minimum` is the score the caller needs (sizes too far apart to reach it score 0 unread).
fn similarity(src: &[u8], dst: &[u8], dst_count: &HashMap<u32, u64>, minimum: u64) -> u64 {
    similarity_of_counts(src.len(), &span_counts(src), dst.len(), dst_count, minimum)
}

fn similarity_of_counts(
    src_len: usize,
    src_count: &HashMap<u32, u64>,
    dst_len: usize,
    dst_count: &HashMap<u32, u64>,
    minimum: u64,
) -> u64 {
    let (src_size, dst_size) = (src_len as u64, dst_len as u64);
    let max_size = src_size.max(dst_size);
    let delta_size = max_size - src_size.min(dst_size);
    if max_size * (MAX_SCORE - minimum) < delta_size * MAX_SCORE || dst_size == 0 {
        return 0;
    }
    let copied: u64 = src_count
        .iter()
        .map(|(h, &n)| n.min(dst_count.get(h).copied().unwrap_or(0)))
        .sum();
    copied * MAX_SCORE / max_size
}

/// Git's `hash_chars`: bytes per chunk hash, chunks ending at `\n` or after 64 bytes, and the
/// final chunk counted too when the data does not end with either (as Git has done since 2.33,
/// "diffcore-delta: avoid ignoring final 'line' of file"); in text, the CR of a CRLF is skipped.
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
    if n > 0 {
        let hash = accum1.wrapping_add(accum2.wrapping_mul(0x61)) % HASHBASE;
        *counts.entry(hash).or_insert(0) += n;
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
        assert_eq!(
            similarity(a, b, &span_counts(b), MINIMUM_SCORE),
            14 * MAX_SCORE / 19
        );
        assert_eq!(similarity(a, a, &span_counts(a), MINIMUM_SCORE), MAX_SCORE);
        // Far apart in size: no rename, whatever they share.
        let big = b"one\ntwo\nthree\nfour\nfive\nsix\nseven\neight\nnine\nten\n";
        assert_eq!(similarity(a, big, &span_counts(big), MINIMUM_SCORE), 0);
        // CRLF counts as LF in text.
        assert_eq!(span_counts(b"x\r\n"), span_counts(b"x\n"));
    }

    /// The last line counts even without a newline, as in Git since 2.33: here 29 of 48 bytes
    /// are shared, and `git diff` reports a rename at 60 % (found by the history property test).
    #[test]
    fn a_last_line_without_newline_counts() {
        let src = b"return 0;\nreturn 0;\n    indented\ngamma\n# comment";
        let dst = b"return 0;\nreturn 0;\n# comment";
        let score = similarity(src, dst, &span_counts(dst), MINIMUM_SCORE);
        assert_eq!(score, 29 * MAX_SCORE / 48);
        let pair = RenamePair {
            from: 0,
            to: 1,
            score,
        };
        assert_eq!(pair.percent(), 60);
    }
}
