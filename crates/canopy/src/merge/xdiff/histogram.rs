//! The histogram diff (JGit's algorithm, as xdiff runs it for `git merge`).
//!
//! In the region being compared, every line of `a` is counted. Scanning `b`, each line that also
//! occurs in `a` is grown into the longest equal run around it; the run whose rarest line occurs
//! least often in `a` (then the longest) splits the region, and both remainders are solved the
//! same way. Lines occurring more than 64 times are never used to split; a region whose only
//! common lines are that frequent is handed to Myers' algorithm, as xdiff does.

use std::collections::HashMap;

use super::myers;

const MAX_CHAIN_LENGTH: u32 = 64;

/// Which lines of `a` and `b` are changed (before sliding).
pub(super) fn diff(a: &[u32], b: &[u32], classes: usize) -> (Vec<bool>, Vec<bool>) {
    let mut changed_a = vec![false; a.len()];
    let mut changed_b = vec![false; b.len()];
    // Regions still to solve: (start in a, count in a, start in b, count in b).
    let mut regions = vec![(0usize, a.len(), 0usize, b.len())];
    while let Some((mut l1, mut c1, mut l2, mut c2)) = regions.pop() {
        loop {
            if c1 == 0 {
                changed_b[l2..l2 + c2].iter_mut().for_each(|c| *c = true);
                break;
            }
            if c2 == 0 {
                changed_a[l1..l1 + c1].iter_mut().for_each(|c| *c = true);
                break;
            }
            match find_lcs(a, b, l1, c1, l2, c2) {
                Lcs::TooCommon => {
                    let (ca, cb) = myers::diff(&a[l1..l1 + c1], &b[l2..l2 + c2], classes);
                    changed_a[l1..l1 + c1].copy_from_slice(&ca);
                    changed_b[l2..l2 + c2].copy_from_slice(&cb);
                    break;
                }
                Lcs::None => {
                    changed_a[l1..l1 + c1].iter_mut().for_each(|c| *c = true);
                    changed_b[l2..l2 + c2].iter_mut().for_each(|c| *c = true);
                    break;
                }
                Lcs::Found {
                    begin1,
                    end1,
                    begin2,
                    end2,
                } => {
                    regions.push((l1, begin1 - l1, l2, begin2 - l2));
                    c1 = l1 + c1 - (end1 + 1);
                    c2 = l2 + c2 - (end2 + 1);
                    l1 = end1 + 1;
                    l2 = end2 + 1;
                }
            }
        }
    }
    (changed_a, changed_b)
}

/// The outcome of one split search.
enum Lcs {
    /// The equal run to split at (inclusive bounds).
    Found {
        begin1: usize,
        end1: usize,
        begin2: usize,
        end2: usize,
    },
    /// Nothing in common.
    None,
    /// Lines in common, but all too frequent to split at.
    TooCommon,
}

/// One distinct line of the region of `a`: its first position and how often it occurs.
#[derive(Clone, Copy)]
struct Occurrences {
    first: usize,
    count: u32,
}

fn find_lcs(a: &[u32], b: &[u32], l1: usize, c1: usize, l2: usize, c2: usize) -> Lcs {
    let last1 = l1 + c1 - 1;
    let last2 = l2 + c2 - 1;

    // Index the region of `a`, scanning backwards so each line's `first` ends at its first
    // occurrence and `next` chains the later ones.
    let mut by_line: HashMap<u32, usize> = HashMap::with_capacity(c1);
    let mut records: Vec<Occurrences> = Vec::with_capacity(c1);
    let mut next: Vec<Option<usize>> = vec![None; c1];
    let mut record_of: Vec<usize> = vec![0; c1];
    for ptr in (l1..=last1).rev() {
        match by_line.get(&a[ptr]) {
            Some(&r) => {
                next[ptr - l1] = Some(records[r].first);
                records[r].first = ptr;
                records[r].count = records[r].count.saturating_add(1);
                record_of[ptr - l1] = r;
            }
            None => {
                by_line.insert(a[ptr], records.len());
                record_of[ptr - l1] = records.len();
                records.push(Occurrences { first: ptr, count: 1 });
            }
        }
    }
    let count_at = |ptr: usize| records[record_of[ptr - l1]].count;

    let mut best_count = MAX_CHAIN_LENGTH + 1;
    let mut has_common = false;
    let mut lcs: Option<(usize, usize, usize, usize)> = None;

    let mut b_ptr = l2;
    while b_ptr <= last2 {
        let mut b_next = b_ptr + 1;
        if let Some(&r) = by_line.get(&b[b_ptr]) {
            let rec = records[r];
            has_common = true;
            if rec.count <= best_count {
                let mut as_ = rec.first;
                loop {
                    let np = next[as_ - l1];
                    let mut bs = b_ptr;
                    let mut ae = as_;
                    let mut be = bs;
                    let mut rc = rec.count;
                    while l1 < as_ && l2 < bs && a[as_ - 1] == b[bs - 1] {
                        as_ -= 1;
                        bs -= 1;
                        if 1 < rc {
                            rc = rc.min(count_at(as_));
                        }
                    }
                    while ae < last1 && be < last2 && a[ae + 1] == b[be + 1] {
                        ae += 1;
                        be += 1;
                        if 1 < rc {
                            rc = rc.min(count_at(ae));
                        }
                    }
                    if b_next <= be {
                        b_next = be + 1;
                    }
                    let best_len = lcs.map_or(0, |(b1, e1, _, _)| e1 - b1);
                    if best_len < ae - as_ || rc < best_count {
                        lcs = Some((as_, ae, bs, be));
                        best_count = rc;
                    }
                    // The next occurrence in `a` past the run just taken.
                    let mut np = match np {
                        Some(np) => np,
                        None => break,
                    };
                    let mut exhausted = false;
                    while np <= ae {
                        match next[np - l1] {
                            Some(n) => np = n,
                            None => {
                                exhausted = true;
                                break;
                            }
                        }
                    }
                    if exhausted {
                        break;
                    }
                    as_ = np;
                }
            }
        }
        b_ptr = b_next;
    }

    match lcs {
        Some((begin1, end1, begin2, end2)) => Lcs::Found {
            begin1,
            end1,
            begin2,
            end2,
        },
        None if has_common && MAX_CHAIN_LENGTH < best_count => Lcs::TooCommon,
        None => Lcs::None,
    }
}
