//! Three-way merge of lines, byte for byte what Git's xdiff merge produces.
//!
//! [`merge_text`] diffs the base against each side, walks the two lists of hunks together and
//! keeps a hunk of one side where the other side left those base lines alone. Hunks of the two
//! sides that touch the same or *adjacent* base lines conflict (the test is a strict
//! `end1 < start2`), unless both made the same change. At the default level a conflict is then
//! narrowed by diffing the two sides' versions of it: lines both sides agree on leave the
//! conflict, and a conflict whose versions turn out identical disappears. Conflicts separated by
//! at most three lines are joined.
//!
//! The output is what `git merge-file -p` prints with the same options: on a clean merge the
//! merged bytes, otherwise the merged bytes with conflict markers. Where [`TextOptions::favor`]
//! is set, conflicts are resolved instead (`--ours`, `--theirs`, `--union`).
//!
//! This module does not look for binary content; [`is_binary`] is the check Git applies before
//! it lets a text merge run.
//!
//! ```
//! use canopy::merge::text::{merge_text, TextOptions};
//!
//! let base = b"one\ntwo\nthree\nfour\nfive\n";
//! let ours = b"ONE\ntwo\nthree\nfour\nfive\n";
//! let theirs = b"one\ntwo\nthree\nfour\nFIVE\n";
//! let merged = merge_text(base, ours, theirs, &TextOptions::default());
//! assert!(merged.is_clean());
//! assert_eq!(merged.content, b"ONE\ntwo\nthree\nfour\nFIVE\n");
//! ```

use std::ops::Range;

pub use super::xdiff::Algorithm as DiffAlgorithm;
use super::xdiff::{diff, split_lines, Hunk};

/// Git treats content with a NUL in its first 8000 bytes as binary.
const BINARY_PROBE: usize = 8000;
/// Git refuses to run a text merge on content this large (`MAX_XDIFF_SIZE`).
const MAX_TEXT_SIZE: usize = 1 << 30;

/// Whether Git would call `data` binary and refuse a line merge: a NUL in the first 8000 bytes,
/// or a size of 1 GiB or more.
pub fn is_binary(data: &[u8]) -> bool {
    data.len() >= MAX_TEXT_SIZE || data[..data.len().min(BINARY_PROBE)].contains(&0)
}

/// How hard the merge works to avoid conflicts (xdiff's merge levels).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum MergeLevel {
    /// Every pair of touching hunks conflicts, even identical ones.
    Minimal,
    /// Touching hunks conflict unless they are identical.
    Eager,
    /// As `Eager`, then conflicts are narrowed to the lines the sides disagree on, and conflicts
    /// at most three lines apart are joined (what `git merge` uses).
    Zealous,
    /// As `Zealous`, and conflicts separated only by lines without a letter or digit are joined
    /// too (what `git merge-file` uses).
    ZealousAlnum,
}

/// How conflicts are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum ConflictStyle {
    /// `<<<<<<<` ours `=======` theirs `>>>>>>>`.
    #[default]
    Merge,
    /// As `Merge` with the base lines after a `|||||||` marker; conflicts are not narrowed.
    Diff3,
    /// As `Diff3`, with lines common to both sides at the start and end moved out of the
    /// conflict.
    ZealousDiff3,
}

/// How conflicts are resolved instead of being reported (Git's `--ours`, `--theirs`, `--union`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Favor {
    Ours,
    Theirs,
    /// Our lines, then their lines.
    Union,
}

/// Names written after the conflict markers (`None`: the marker alone).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Labels {
    pub ours: Option<String>,
    pub base: Option<String>,
    pub theirs: Option<String>,
}

/// Everything that changes the result of [`merge_text`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TextOptions {
    pub algorithm: DiffAlgorithm,
    pub level: MergeLevel,
    pub style: ConflictStyle,
    pub favor: Option<Favor>,
    /// Length of the conflict markers (Git's default is 7).
    pub marker_size: usize,
    pub labels: Labels,
}

impl Default for TextOptions {
    /// What `git merge` (the `ort` strategy) uses: histogram diff, zealous level, 7-character
    /// markers, labels `ours`, `base`, `theirs`.
    fn default() -> TextOptions {
        TextOptions {
            algorithm: DiffAlgorithm::Histogram,
            level: MergeLevel::Zealous,
            style: ConflictStyle::Merge,
            favor: None,
            marker_size: 7,
            labels: Labels {
                ours: Some("ours".into()),
                base: Some("base".into()),
                theirs: Some("theirs".into()),
            },
        }
    }
}

impl TextOptions {
    /// What `git merge-file` uses by default: Myers diff and the zealous-alnum level.
    pub fn merge_file() -> TextOptions {
        TextOptions {
            algorithm: DiffAlgorithm::Myers,
            level: MergeLevel::ZealousAlnum,
            ..TextOptions::default()
        }
    }
}

/// Where one conflict lies, as 0-based line ranges of each version.
///
/// `ours` and `theirs` are the lines the sides disagree on (after narrowing); `base` is the
/// range of base lines the conflicting hunks replaced before narrowing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConflictRegion {
    pub base: Range<usize>,
    pub ours: Range<usize>,
    pub theirs: Range<usize>,
}

impl ConflictRegion {
    /// A one-line description with 1-based base line numbers, e.g. `both sides changed lines
    /// 3-5`.
    pub fn describe(&self) -> String {
        let Range { start, end } = self.base.clone();
        match end - start {
            0 if start == 0 => "both sides inserted different lines at the start".to_string(),
            0 => format!("both sides inserted different lines after line {start}"),
            1 => format!("both sides changed line {}", start + 1),
            _ => format!("both sides changed lines {}-{}", start + 1, end),
        }
    }
}

/// The result of a three-way line merge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TextMerge {
    /// The merged bytes; where [`TextMerge::conflicts`] is not empty, with conflict markers.
    pub content: Vec<u8>,
    /// Conflicts left in `content` (marked), in order.
    pub conflicts: Vec<ConflictRegion>,
    /// Conflicts resolved by [`TextOptions::favor`].
    pub resolved: Vec<ConflictRegion>,
}

impl TextMerge {
    /// True when `content` has no conflict markers.
    pub fn is_clean(&self) -> bool {
        self.conflicts.is_empty()
    }

    /// Describes the conflicts in one line (empty when clean), naming at most three places.
    pub fn describe_conflicts(&self) -> String {
        let mut places: Vec<String> = Vec::new();
        for c in &self.conflicts {
            let d = c.describe();
            if places.last() != Some(&d) {
                places.push(d);
            }
        }
        let more = places.len().saturating_sub(3);
        places.truncate(3);
        let mut s = places.join("; ");
        if more > 0 {
            s.push_str(&format!(" (and {more} more)"));
        }
        s
    }
}

/// Merges `ours` and `theirs`, two edits of `base`, line by line. Never fails: disagreements are
/// reported in [`TextMerge::conflicts`] and marked in the content.
pub fn merge_text(base: &[u8], ours: &[u8], theirs: &[u8], options: &TextOptions) -> TextMerge {
    let base_lines = split_lines(base);
    let our_lines = split_lines(ours);
    let their_lines = split_lines(theirs);
    let ours_diff = diff(&base_lines, &our_lines, options.algorithm);
    let theirs_diff = diff(&base_lines, &their_lines, options.algorithm);
    let untouched = |content: &[u8]| TextMerge {
        content: content.to_vec(),
        conflicts: Vec::new(),
        resolved: Vec::new(),
    };
    if ours_diff.is_empty() {
        return untouched(theirs);
    }
    if theirs_diff.is_empty() {
        return untouched(ours);
    }
    let files = Files {
        base: &base_lines,
        ours: &our_lines,
        theirs: &their_lines,
    };
    Merger { files, options }.run(&ours_diff, &theirs_diff)
}

/// What a merged region takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Take {
    Conflict,
    Ours,
    Theirs,
    /// Ours then theirs (a union resolution).
    Both,
    /// A conflict whose two versions turned out identical: ours stands.
    Same,
}

/// One region of the merge: base lines `i0..i0+chg0` become ours `i1..i1+chg1` and theirs
/// `i2..i2+chg2`.
#[derive(Debug, Clone, Copy)]
struct Region {
    take: Take,
    i0: isize,
    chg0: isize,
    i1: isize,
    chg1: isize,
    i2: isize,
    chg2: isize,
}

struct Files<'a> {
    base: &'a [&'a [u8]],
    ours: &'a [&'a [u8]],
    theirs: &'a [&'a [u8]],
}

struct Merger<'a> {
    files: Files<'a>,
    options: &'a TextOptions,
}

impl Merger<'_> {
    fn run(&self, ours_diff: &[Hunk], theirs_diff: &[Hunk]) -> TextMerge {
        let mut level = self.options.level;
        if self.options.style != ConflictStyle::Merge && level > MergeLevel::Eager {
            level = MergeLevel::Eager;
        }
        let mut regions = self.pair_hunks(ours_diff, theirs_diff, level);
        if self.options.style == ConflictStyle::ZealousDiff3 {
            self.trim_conflicts(&mut regions);
        } else if level >= MergeLevel::Zealous {
            regions = self.narrow_conflicts(regions);
            self.join_close_conflicts(&mut regions, level == MergeLevel::ZealousAlnum);
        }
        let describe = |r: &Region| ConflictRegion {
            base: r.i0 as usize..(r.i0 + r.chg0) as usize,
            ours: r.i1 as usize..(r.i1 + r.chg1) as usize,
            theirs: r.i2 as usize..(r.i2 + r.chg2) as usize,
        };
        let conflicts: Vec<ConflictRegion> = regions
            .iter()
            .filter(|r| r.take == Take::Conflict)
            .map(describe)
            .collect();
        let (conflicts, resolved) = match self.options.favor {
            None => (conflicts, Vec::new()),
            Some(favor) => {
                let take = match favor {
                    Favor::Ours => Take::Ours,
                    Favor::Theirs => Take::Theirs,
                    Favor::Union => Take::Both,
                };
                for r in regions.iter_mut().filter(|r| r.take == Take::Conflict) {
                    r.take = take;
                }
                (Vec::new(), conflicts)
            }
        };
        TextMerge {
            content: self.write(&regions),
            conflicts,
            resolved,
        }
    }

    /// Walks both hunk lists in base order, as xdiff's `xdl_do_merge`.
    fn pair_hunks(&self, ours_diff: &[Hunk], theirs_diff: &[Hunk], level: MergeLevel) -> Vec<Region> {
        let h = |x: &Hunk| (x.i1 as isize, x.chg1 as isize, x.i2 as isize, x.chg2 as isize);
        let mut regions: Vec<Region> = Vec::new();
        let (mut p1, mut p2) = (0, 0);
        while p1 < ours_diff.len() && p2 < theirs_diff.len() {
            let (o_i0, o_chg0, o_i, o_chg) = h(&ours_diff[p1]);
            let (t_i0, t_chg0, t_i, t_chg) = h(&theirs_diff[p2]);
            if o_i0 + o_chg0 < t_i0 {
                let i2 = t_i - t_i0 + o_i0;
                append(
                    &mut regions,
                    Take::Ours,
                    (o_i0, o_chg0),
                    (o_i, o_chg),
                    (i2, o_chg0),
                );
                p1 += 1;
                continue;
            }
            if t_i0 + t_chg0 < o_i0 {
                let i1 = o_i - o_i0 + t_i0;
                append(
                    &mut regions,
                    Take::Theirs,
                    (t_i0, t_chg0),
                    (i1, t_chg0),
                    (t_i, t_chg),
                );
                p2 += 1;
                continue;
            }
            let identical = level != MergeLevel::Minimal
                && o_i0 == t_i0
                && o_chg0 == t_chg0
                && o_chg == t_chg
                && self.files.ours[o_i as usize..(o_i + o_chg) as usize]
                    == self.files.theirs[t_i as usize..(t_i + t_chg) as usize];
            if !identical {
                // Stretch both hunks to cover the same base range.
                let off = o_i0 - t_i0;
                let ffo = off + o_chg0 - t_chg0;
                let (mut i0, mut i1, mut i2) = (o_i0, o_i, t_i);
                if off > 0 {
                    i0 -= off;
                    i1 -= off;
                } else {
                    i2 += off;
                }
                let mut chg0 = o_i0 + o_chg0 - i0;
                let mut chg1 = o_i + o_chg - i1;
                let mut chg2 = t_i + t_chg - i2;
                if ffo < 0 {
                    chg0 -= ffo;
                    chg1 -= ffo;
                } else {
                    chg2 += ffo;
                }
                append(&mut regions, Take::Conflict, (i0, chg0), (i1, chg1), (i2, chg2));
            }
            let (end1, end2) = (o_i0 + o_chg0, t_i0 + t_chg0);
            if end1 >= end2 {
                p2 += 1;
            }
            if end2 >= end1 {
                p1 += 1;
            }
        }
        let shift_theirs = self.files.theirs.len() as isize - self.files.base.len() as isize;
        for x in &ours_diff[p1..] {
            let (i0, chg0, i1, chg1) = h(x);
            append(
                &mut regions,
                Take::Ours,
                (i0, chg0),
                (i1, chg1),
                (i0 + shift_theirs, chg0),
            );
        }
        let shift_ours = self.files.ours.len() as isize - self.files.base.len() as isize;
        for x in &theirs_diff[p2..] {
            let (i0, chg0, i2, chg2) = h(x);
            append(
                &mut regions,
                Take::Theirs,
                (i0, chg0),
                (i0 + shift_ours, chg0),
                (i2, chg2),
            );
        }
        regions
    }

    /// Narrows each conflict to the lines on which the two sides' versions differ (xdiff's
    /// `xdl_refine_conflicts`). The pieces keep the base range of the conflict they came from.
    fn narrow_conflicts(&self, regions: Vec<Region>) -> Vec<Region> {
        let mut out = Vec::with_capacity(regions.len());
        for mut r in regions {
            if r.take != Take::Conflict || r.chg1 == 0 || r.chg2 == 0 {
                out.push(r);
                continue;
            }
            let ours = &self.files.ours[r.i1 as usize..(r.i1 + r.chg1) as usize];
            let theirs = &self.files.theirs[r.i2 as usize..(r.i2 + r.chg2) as usize];
            let pieces = diff(ours, theirs, self.options.algorithm);
            if pieces.is_empty() {
                r.take = Take::Same;
                out.push(r);
                continue;
            }
            for p in pieces {
                out.push(Region {
                    take: Take::Conflict,
                    i1: r.i1 + p.i1 as isize,
                    chg1: p.chg1 as isize,
                    i2: r.i2 + p.i2 as isize,
                    chg2: p.chg2 as isize,
                    ..r
                });
            }
        }
        out
    }

    /// Moves lines common to both versions at a conflict's start and end out of it (zdiff3).
    fn trim_conflicts(&self, regions: &mut [Region]) {
        let (ours, theirs) = (self.files.ours, self.files.theirs);
        for r in regions.iter_mut().filter(|r| r.take == Take::Conflict) {
            while r.chg1 > 0 && r.chg2 > 0 && ours[r.i1 as usize] == theirs[r.i2 as usize] {
                r.chg1 -= 1;
                r.chg2 -= 1;
                r.i1 += 1;
                r.i2 += 1;
            }
            while r.chg1 > 0
                && r.chg2 > 0
                && ours[(r.i1 + r.chg1 - 1) as usize] == theirs[(r.i2 + r.chg2 - 1) as usize]
            {
                r.chg1 -= 1;
                r.chg2 -= 1;
            }
        }
    }

    /// Joins neighbouring conflicts separated by at most three lines (or, with `no_alnum`, by
    /// lines without a letter or digit): one conflict reads better than two close ones.
    fn join_close_conflicts(&self, regions: &mut Vec<Region>, no_alnum: bool) {
        let mut i = 0;
        while i + 1 < regions.len() {
            let (m, n) = (regions[i], regions[i + 1]);
            let begin = m.i1 + m.chg1;
            let end = n.i1;
            let keep_apart = m.take != Take::Conflict
                || n.take != Take::Conflict
                || (end - begin > 3 && (!no_alnum || self.any_alnum(begin, end)));
            if keep_apart {
                i += 1;
                continue;
            }
            let joined = &mut regions[i];
            joined.chg1 = n.i1 + n.chg1 - m.i1;
            joined.chg2 = n.i2 + n.chg2 - m.i2;
            let base_end = (m.i0 + m.chg0).max(n.i0 + n.chg0);
            joined.i0 = m.i0.min(n.i0);
            joined.chg0 = base_end - joined.i0;
            regions.remove(i + 1);
        }
    }

    fn any_alnum(&self, begin: isize, end: isize) -> bool {
        self.files.ours[begin as usize..end as usize]
            .iter()
            .any(|line| line.iter().any(u8::is_ascii_alphanumeric))
    }

    /// Writes the merged content, as xdiff's `xdl_fill_merge_buffer`.
    fn write(&self, regions: &[Region]) -> Vec<u8> {
        let f = &self.files;
        let mut out = Vec::new();
        let mut i: isize = 0;
        for r in regions {
            match r.take {
                Take::Conflict => self.write_conflict(&mut out, i, r),
                Take::Same => continue,
                Take::Ours | Take::Theirs | Take::Both => {
                    copy(&mut out, f.ours, i, r.i1 - i, false, false);
                    if matches!(r.take, Take::Ours | Take::Both) {
                        let needs_cr = self.needs_cr(r);
                        copy(&mut out, f.ours, r.i1, r.chg1, needs_cr, r.take == Take::Both);
                    }
                    if matches!(r.take, Take::Theirs | Take::Both) {
                        copy(&mut out, f.theirs, r.i2, r.chg2, false, false);
                    }
                }
            }
            i = r.i1 + r.chg1;
        }
        copy(&mut out, f.ours, i, f.ours.len() as isize - i, false, false);
        out
    }

    fn write_conflict(&self, out: &mut Vec<u8>, i: isize, r: &Region) {
        let f = &self.files;
        let labels = &self.options.labels;
        let size = if self.options.marker_size == 0 {
            7
        } else {
            self.options.marker_size
        };
        let needs_cr = self.needs_cr(r);
        let marker = |out: &mut Vec<u8>, c: u8, label: Option<&String>| {
            out.extend(std::iter::repeat_n(c, size));
            if let Some(label) = label {
                out.push(b' ');
                out.extend_from_slice(label.as_bytes());
            }
            if needs_cr {
                out.push(b'\r');
            }
            out.push(b'\n');
        };
        copy(out, f.ours, i, r.i1 - i, false, false);
        marker(out, b'<', labels.ours.as_ref());
        copy(out, f.ours, r.i1, r.chg1, needs_cr, true);
        if self.options.style != ConflictStyle::Merge {
            marker(out, b'|', labels.base.as_ref());
            copy(out, f.base, r.i0, r.chg0, needs_cr, true);
        }
        marker(out, b'=', None);
        copy(out, f.theirs, r.i2, r.chg2, needs_cr, true);
        marker(out, b'>', labels.theirs.as_ref());
    }

    /// Whether lines added around a region should end in CRLF: when the lines before it on both
    /// sides, and the base's first line, all do (xdiff's `is_cr_needed`).
    fn needs_cr(&self, r: &Region) -> bool {
        let f = &self.files;
        let mut needs = eol_is_crlf(f.ours, if r.i1 > 0 { r.i1 - 1 } else { 0 });
        if needs != Some(false) {
            needs = eol_is_crlf(f.theirs, if r.i2 > 0 { r.i2 - 1 } else { 0 });
        }
        if needs != Some(false) {
            needs = eol_is_crlf(f.base, 0);
        }
        needs == Some(true)
    }
}

/// Whether line `i` ends in CRLF (for a last line without an end, the line before it); `None`
/// when it cannot be told.
fn eol_is_crlf(lines: &[&[u8]], i: isize) -> Option<bool> {
    let n = lines.len() as isize;
    let crlf = |line: &[u8]| line.len() > 1 && line[line.len() - 2] == b'\r';
    if i < n - 1 {
        return Some(crlf(lines[i as usize]));
    }
    if n == 0 {
        return None;
    }
    let line = lines[i as usize];
    if line.last() == Some(&b'\n') {
        return Some(crlf(line));
    }
    if i == 0 {
        return None;
    }
    Some(crlf(lines[(i - 1) as usize]))
}

/// Adds a region to the list, or extends the last one when they touch (xdiff's
/// `xdl_append_merge`): a region touching one of the other kind becomes a conflict.
fn append(
    regions: &mut Vec<Region>,
    take: Take,
    (i0, chg0): (isize, isize),
    (i1, chg1): (isize, isize),
    (i2, chg2): (isize, isize),
) {
    if let Some(m) = regions.last_mut() {
        if i1 <= m.i1 + m.chg1 || i2 <= m.i2 + m.chg2 {
            if take != m.take {
                m.take = Take::Conflict;
            }
            m.chg0 = i0 + chg0 - m.i0;
            m.chg1 = i1 + chg1 - m.i1;
            m.chg2 = i2 + chg2 - m.i2;
            return;
        }
    }
    regions.push(Region {
        take,
        i0,
        chg0,
        i1,
        chg1,
        i2,
        chg2,
    });
}

/// Copies `count` lines from `start`; with `add_nl`, ends them with a newline if the last one
/// has none.
fn copy(out: &mut Vec<u8>, lines: &[&[u8]], start: isize, count: isize, needs_cr: bool, add_nl: bool) {
    if count < 1 {
        return;
    }
    let chunk = &lines[start as usize..(start + count) as usize];
    for line in chunk {
        out.extend_from_slice(line);
    }
    if add_nl {
        if let Some(last) = chunk.last() {
            if last.last() != Some(&b'\n') {
                if needs_cr {
                    out.push(b'\r');
                }
                out.push(b'\n');
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn merge(base: &str, ours: &str, theirs: &str) -> TextMerge {
        merge_text(
            base.as_bytes(),
            ours.as_bytes(),
            theirs.as_bytes(),
            &TextOptions::merge_file(),
        )
    }

    #[test]
    fn adjacent_changes_conflict_and_separated_ones_merge() {
        let base = "1\n2\n3\n4\n5\n";
        assert!(!merge(base, "1\nX\n3\n4\n5\n", "1\n2\nY\n4\n5\n").is_clean());
        let m = merge(base, "1\nX\n3\n4\n5\n", "1\n2\n3\nY\n5\n");
        assert!(m.is_clean());
        assert_eq!(m.content, b"1\nX\n3\nY\n5\n");
    }

    #[test]
    fn identical_changes_merge_once() {
        let m = merge("a\nb\nc\n", "a\nB\nc\n", "a\nB\nc\n");
        assert!(m.is_clean());
        assert_eq!(m.content, b"a\nB\nc\n");
    }

    #[test]
    fn conflict_markers_and_description() {
        let m = merge("a\nb\nc\n", "a\nX\nc\n", "a\nY\nc\n");
        assert_eq!(m.content, b"a\n<<<<<<< ours\nX\n=======\nY\n>>>>>>> theirs\nc\n");
        assert_eq!(m.conflicts.len(), 1);
        assert_eq!(m.describe_conflicts(), "both sides changed line 2");
    }

    #[test]
    fn union_keeps_both_sides() {
        let options = TextOptions {
            favor: Some(Favor::Union),
            ..TextOptions::default()
        };
        let m = merge_text(b"a\nb\nc\n", b"a\nX\nc\n", b"a\nY\nc\n", &options);
        assert!(m.is_clean());
        assert_eq!(m.resolved.len(), 1);
        assert_eq!(m.content, b"a\nX\nY\nc\n");
    }

    #[test]
    fn binary_probe() {
        assert!(is_binary(b"a\0b"));
        assert!(!is_binary(b"plain text\n"));
        let mut late_nul = vec![b'a'; 9000];
        late_nul[8500] = 0;
        assert!(!is_binary(&late_nul));
    }
}
