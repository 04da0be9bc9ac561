//! Line diffs that agree with Git's xdiff, hunk for hunk.
//!
//! Git's three-way text merge is only as good as the two diffs under it: which lines a diff calls
//! changed decides whether two edits touch and therefore conflict. To give the bytes `git
//! merge-file` gives, this module reproduces the choices xdiff makes, not merely *a* shortest
//! edit script:
//!
//! - [`Algorithm::Myers`] (the default of `git diff` and `git merge-file`): common prefix and
//!   suffix trimmed, lines without a partner discarded up front (and lines with very many partners
//!   when they sit among discarded ones), then Myers' middle-snake bisection with the same cost
//!   cut-offs;
//! - [`Algorithm::Histogram`] (what `git merge` uses): the lowest-occurrence common line splits
//!   the problem, falling back to Myers where every common line is too frequent;
//! - after either, each group of changed lines is slid up and down as far as equal lines allow,
//!   merged with groups it bumps into and parked where it lines up with a change on the other
//!   side (xdiff's `xdl_change_compact`); merges leave it there, while diffs for people and
//!   blame apply Git's indent heuristic ([`git_diff_hunks`]) to a group free to slide.
//!
//! Lines are compared as bytes including their `\n`; a last line without one differs from the
//! same text with one. Nothing here allocates per line beyond a few vectors and one hash map.

mod histogram;
mod indent;
mod myers;

use std::collections::HashMap;

/// Which diff algorithm chooses the changed lines.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Algorithm {
    /// Myers' O(ND) diff as xdiff runs it (`git merge-file`'s default).
    Myers,
    /// The histogram diff (`git merge`'s default since the `ort` strategy).
    #[default]
    Histogram,
}

/// One change: `a[i1..i1 + chg1]` is replaced by `b[i2..i2 + chg2]` (0-based line indices).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Hunk {
    pub i1: usize,
    pub chg1: usize,
    pub i2: usize,
    pub chg2: usize,
}

/// Splits `data` into lines, each keeping its `\n`; a trailing fragment without one is a line.
pub(crate) fn split_lines(data: &[u8]) -> Vec<&[u8]> {
    let mut lines = Vec::with_capacity(data.len() / 32 + 1);
    let mut start = 0;
    for (i, &c) in data.iter().enumerate() {
        if c == b'\n' {
            lines.push(&data[start..=i]);
            start = i + 1;
        }
    }
    if start < data.len() {
        lines.push(&data[start..]);
    }
    lines
}

/// The hunks that turn `a` into `b`, in order, as a merge sees them (no indent heuristic).
pub(crate) fn diff(a: &[&[u8]], b: &[&[u8]], algorithm: Algorithm) -> Vec<Hunk> {
    diff_with(a, b, algorithm, false)
}

/// The hunks that turn `a` into `b`, in order. With `indent_heuristic` (Git's
/// `XDF_INDENT_HEURISTIC`, on in `git diff` and `git blame` unless `diff.indentHeuristic` is
/// false), a group of changes that can slide is placed where the indentation and blank lines
/// around it suggest a block boundary.
pub(crate) fn diff_with(a: &[&[u8]], b: &[&[u8]], algorithm: Algorithm, indent_heuristic: bool) -> Vec<Hunk> {
    let (ids_a, ids_b, classes) = classify(a, b);
    let (changed_a, changed_b) = match algorithm {
        Algorithm::Myers => myers::diff(&ids_a, &ids_b, classes),
        Algorithm::Histogram => histogram::diff(&ids_a, &ids_b, classes),
    };
    let mut marks_a = Marks(changed_a);
    let mut marks_b = Marks(changed_b);
    compact(&mut marks_a, &ids_a, &marks_b, indent_heuristic.then_some(a));
    compact(&mut marks_b, &ids_b, &marks_a, indent_heuristic.then_some(b));
    build_script(&marks_a, &marks_b)
}

/// The hunks of a diff as `git diff` and `git blame` make it by default: Myers with the indent
/// heuristic, over `old` and `new` split into lines.
pub(crate) fn git_diff_hunks(
    old: &[u8],
    new: &[u8],
) -> Vec<(std::ops::Range<usize>, std::ops::Range<usize>)> {
    diff_with(&split_lines(old), &split_lines(new), Algorithm::Myers, true)
        .into_iter()
        .map(|h| (h.i1..h.i1 + h.chg1, h.i2..h.i2 + h.chg2))
        .collect()
}

/// Numbers the distinct lines of both sides: equal lines get equal ids, ids are dense from 0.
fn classify<'a>(a: &[&'a [u8]], b: &[&'a [u8]]) -> (Vec<u32>, Vec<u32>, usize) {
    let mut ids: HashMap<&'a [u8], u32> = HashMap::with_capacity(a.len() + b.len());
    let mut number = |line: &'a [u8]| -> u32 {
        let next = ids.len() as u32;
        *ids.entry(line).or_insert(next)
    };
    let ids_a: Vec<u32> = a.iter().map(|&l| number(l)).collect();
    let ids_b: Vec<u32> = b.iter().map(|&l| number(l)).collect();
    let classes = ids.len();
    (ids_a, ids_b, classes)
}

/// Which lines of one side are changed. Indices outside the side read as unchanged, which is
/// what the sliding and script-building walks rely on at both ends.
pub(crate) struct Marks(pub Vec<bool>);

impl Marks {
    fn len(&self) -> isize {
        self.0.len() as isize
    }

    fn get(&self, i: isize) -> bool {
        i >= 0 && i < self.len() && self.0[i as usize]
    }

    fn set(&mut self, i: isize, value: bool) {
        self.0[i as usize] = value;
    }
}

/// A run of changed lines `[start, end)`; empty runs sit between two unchanged lines.
#[derive(Clone, Copy)]
struct Group {
    start: isize,
    end: isize,
}

impl Group {
    fn first(marks: &Marks) -> Group {
        let mut g = Group { start: 0, end: 0 };
        while marks.get(g.end) {
            g.end += 1;
        }
        g
    }

    /// Moves to the next group; false at the end of the side.
    fn next(&mut self, marks: &Marks) -> bool {
        if self.end == marks.len() {
            return false;
        }
        self.start = self.end + 1;
        self.end = self.start;
        while marks.get(self.end) {
            self.end += 1;
        }
        true
    }

    /// Moves to the previous group; false at the start of the side.
    fn previous(&mut self, marks: &Marks) -> bool {
        if self.start == 0 {
            return false;
        }
        self.end = self.start - 1;
        self.start = self.end;
        while marks.get(self.start - 1) {
            self.start -= 1;
        }
        true
    }

    /// Slides the group one line down if its first line equals the line after it, absorbing a
    /// group it runs into.
    fn slide_down(&mut self, marks: &mut Marks, ids: &[u32]) -> bool {
        if self.end < marks.len() && ids[self.start as usize] == ids[self.end as usize] {
            marks.set(self.start, false);
            marks.set(self.end, true);
            self.start += 1;
            self.end += 1;
            while marks.get(self.end) {
                self.end += 1;
            }
            true
        } else {
            false
        }
    }

    /// Slides the group one line up if its last line equals the line before it.
    fn slide_up(&mut self, marks: &mut Marks, ids: &[u32]) -> bool {
        if self.start > 0 && ids[(self.start - 1) as usize] == ids[(self.end - 1) as usize] {
            self.start -= 1;
            self.end -= 1;
            marks.set(self.start, true);
            marks.set(self.end, false);
            while marks.get(self.start - 1) {
                self.start -= 1;
            }
            true
        } else {
            false
        }
    }
}

/// Slides every group of changes in `marks` as xdiff does: as far up as it goes, then down as
/// far as it goes (merging with groups it meets), then back up to the lowest position where it
/// faces a change on the other side, if there is one; failing that, with `lines` (the indent
/// heuristic), to the position [`indent::best_end`] scores best. `other` is walked in step.
fn compact(marks: &mut Marks, ids: &[u32], other: &Marks, lines: Option<&[&[u8]]>) {
    let mut g = Group::first(marks);
    let mut go = Group::first(other);
    loop {
        if g.end != g.start {
            let mut earliest_end;
            let mut end_matching_other;
            loop {
                let size = g.end - g.start;
                end_matching_other = -1;
                while g.slide_up(marks, ids) {
                    go.previous(other);
                }
                earliest_end = g.end;
                if go.end > go.start {
                    end_matching_other = g.end;
                }
                while g.slide_down(marks, ids) {
                    go.next(other);
                    if go.end > go.start {
                        end_matching_other = g.end;
                    }
                }
                if size == g.end - g.start {
                    break;
                }
            }
            if g.end == earliest_end {
                // It cannot move.
            } else if end_matching_other != -1 {
                while go.end == go.start {
                    if !g.slide_up(marks, ids) || !go.previous(other) {
                        break;
                    }
                }
            } else if let Some(lines) = lines {
                let best = indent::best_end(lines, earliest_end, g.end, g.end - g.start);
                while g.end > best {
                    if !g.slide_up(marks, ids) || !go.previous(other) {
                        break;
                    }
                }
            }
        }
        if !g.next(marks) {
            break;
        }
        go.next(other);
    }
}

/// Collects the changed runs of both sides into hunks, walking from the end as xdiff does.
fn build_script(a: &Marks, b: &Marks) -> Vec<Hunk> {
    let mut hunks = Vec::new();
    let (mut i1, mut i2) = (a.len(), b.len());
    while i1 >= 0 || i2 >= 0 {
        if a.get(i1 - 1) || b.get(i2 - 1) {
            let (l1, l2) = (i1, i2);
            while a.get(i1 - 1) {
                i1 -= 1;
            }
            while b.get(i2 - 1) {
                i2 -= 1;
            }
            hunks.push(Hunk {
                i1: i1 as usize,
                chg1: (l1 - i1) as usize,
                i2: i2 as usize,
                chg2: (l2 - i2) as usize,
            });
        }
        i1 -= 1;
        i2 -= 1;
    }
    hunks.reverse();
    hunks
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(s: &str) -> Vec<&[u8]> {
        split_lines(s.as_bytes())
    }

    #[test]
    fn split_keeps_newlines_and_a_last_fragment() {
        assert_eq!(split_lines(b"a\nb"), vec![&b"a\n"[..], &b"b"[..]]);
        assert_eq!(split_lines(b"a\n\n"), vec![&b"a\n"[..], &b"\n"[..]]);
        assert!(split_lines(b"").is_empty());
    }

    #[test]
    fn both_algorithms_find_a_replacement() {
        for alg in [Algorithm::Myers, Algorithm::Histogram] {
            let h = diff(&lines("a\nb\nc\n"), &lines("a\nB\nc\n"), alg);
            assert_eq!(
                h,
                vec![Hunk {
                    i1: 1,
                    chg1: 1,
                    i2: 1,
                    chg2: 1
                }],
                "{alg:?}"
            );
        }
    }

    #[test]
    fn insertions_slide_to_the_last_possible_place() {
        // Inserting a "b" next to another "b" is reported after it, as git does.
        for alg in [Algorithm::Myers, Algorithm::Histogram] {
            let h = diff(&lines("a\nb\nc\n"), &lines("a\nb\nb\nc\n"), alg);
            assert_eq!(
                h,
                vec![Hunk {
                    i1: 2,
                    chg1: 0,
                    i2: 2,
                    chg2: 1
                }],
                "{alg:?}"
            );
        }
    }

    #[test]
    fn a_missing_final_newline_is_a_change() {
        let h = diff(&lines("a\nb\n"), &lines("a\nb"), Algorithm::Myers);
        assert_eq!(
            h,
            vec![Hunk {
                i1: 1,
                chg1: 1,
                i2: 1,
                chg2: 1
            }]
        );
    }

    #[test]
    fn empty_sides() {
        assert!(diff(&[], &[], Algorithm::Myers).is_empty());
        assert_eq!(
            diff(&[], &lines("x\n"), Algorithm::Histogram),
            vec![Hunk {
                i1: 0,
                chg1: 0,
                i2: 0,
                chg2: 1
            }]
        );
        assert_eq!(
            diff(&lines("x\n"), &[], Algorithm::Myers),
            vec![Hunk {
                i1: 0,
                chg1: 1,
                i2: 0,
                chg2: 0
            }]
        );
    }
}
