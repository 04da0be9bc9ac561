//! Git's indent heuristic (`XDF_INDENT_HEURISTIC` in xdiff's `xdiffi.c`): where a group of
//! added or removed lines can slide, each position is scored by the indentation and blank lines
//! around the two splits it makes, and the best-scoring one wins. The weights are Git's, found
//! empirically on a corpus of human-judged diffs; ties go to the lowest position.

/// Indentation above this counts as this much.
const MAX_INDENT: i32 = 200;
/// At most this many blank lines are counted on either side of a split.
const MAX_BLANKS: i32 = 20;
const START_OF_FILE_PENALTY: i32 = 1;
const END_OF_FILE_PENALTY: i32 = 21;
const TOTAL_BLANK_WEIGHT: i32 = -30;
const POST_BLANK_WEIGHT: i32 = 6;
const RELATIVE_INDENT_PENALTY: i32 = -4;
const RELATIVE_INDENT_WITH_BLANK_PENALTY: i32 = 10;
const RELATIVE_OUTDENT_PENALTY: i32 = 24;
const RELATIVE_OUTDENT_WITH_BLANK_PENALTY: i32 = 17;
const RELATIVE_DEDENT_PENALTY: i32 = 23;
const RELATIVE_DEDENT_WITH_BLANK_PENALTY: i32 = 17;
const INDENT_WEIGHT: i32 = 60;
/// A group is slid up at most this far.
const MAX_SLIDING: isize = 100;

/// Git's `isspace` (its own ctype table: space, tab, LF, CR).
fn is_space(c: u8) -> bool {
    matches!(c, b' ' | b'\t' | b'\n' | b'\r')
}

/// The indentation of `line` in columns (tabs to multiples of 8), or -1 when it is blank.
fn indent_of(line: &[u8]) -> i32 {
    let mut ret = 0;
    for &c in line {
        if !is_space(c) {
            return ret;
        } else if c == b' ' {
            ret += 1;
        } else if c == b'\t' {
            ret += 8 - ret % 8;
        }
        if ret >= MAX_INDENT {
            return MAX_INDENT;
        }
    }
    -1
}

/// What surrounds a split above line `split`.
struct Split {
    end_of_file: bool,
    /// Indentation of the line after the split (-1: blank).
    indent: i32,
    pre_blank: i32,
    pre_indent: i32,
    post_blank: i32,
    post_indent: i32,
}

fn measure(lines: &[&[u8]], split: isize) -> Split {
    let n = lines.len() as isize;
    let (end_of_file, indent) = if split >= n {
        (true, -1)
    } else {
        (false, indent_of(lines[split as usize]))
    };
    let (mut pre_blank, mut pre_indent) = (0, -1);
    let mut i = split - 1;
    while i >= 0 {
        pre_indent = indent_of(lines[i as usize]);
        if pre_indent != -1 {
            break;
        }
        pre_blank += 1;
        if pre_blank == MAX_BLANKS {
            pre_indent = 0;
            break;
        }
        i -= 1;
    }
    let (mut post_blank, mut post_indent) = (0, -1);
    let mut i = split + 1;
    while i < n {
        post_indent = indent_of(lines[i as usize]);
        if post_indent != -1 {
            break;
        }
        post_blank += 1;
        if post_blank == MAX_BLANKS {
            post_indent = 0;
            break;
        }
        i += 1;
    }
    Split {
        end_of_file,
        indent,
        pre_blank,
        pre_indent,
        post_blank,
        post_indent,
    }
}

/// (effective indent, penalty); smaller is better in both.
#[derive(Clone, Copy, Default)]
struct Score {
    effective_indent: i32,
    penalty: i32,
}

fn add_split(m: &Split, s: &mut Score) {
    if m.pre_indent == -1 && m.pre_blank == 0 {
        s.penalty += START_OF_FILE_PENALTY;
    }
    if m.end_of_file {
        s.penalty += END_OF_FILE_PENALTY;
    }
    let post_blank = if m.indent == -1 { 1 + m.post_blank } else { 0 };
    let total_blank = m.pre_blank + post_blank;
    s.penalty += TOTAL_BLANK_WEIGHT * total_blank;
    s.penalty += POST_BLANK_WEIGHT * post_blank;
    let indent = if m.indent != -1 { m.indent } else { m.post_indent };
    let any_blanks = total_blank != 0;
    s.effective_indent += indent;
    if indent == -1 || m.pre_indent == -1 || indent == m.pre_indent {
        // Nothing more to weigh.
    } else if indent > m.pre_indent {
        s.penalty += if any_blanks {
            RELATIVE_INDENT_WITH_BLANK_PENALTY
        } else {
            RELATIVE_INDENT_PENALTY
        };
    } else if m.post_indent != -1 && m.post_indent > indent {
        // Less indented than the line before and the line after: likely a block's start.
        s.penalty += if any_blanks {
            RELATIVE_OUTDENT_WITH_BLANK_PENALTY
        } else {
            RELATIVE_OUTDENT_PENALTY
        };
    } else {
        // Likely a block's end.
        s.penalty += if any_blanks {
            RELATIVE_DEDENT_WITH_BLANK_PENALTY
        } else {
            RELATIVE_DEDENT_PENALTY
        };
    }
}

/// Git's `score_cmp`: negative when `a` is better than `b`.
fn compare(a: Score, b: Score) -> i32 {
    let indents =
        (a.effective_indent > b.effective_indent) as i32 - (a.effective_indent < b.effective_indent) as i32;
    INDENT_WEIGHT * indents + (a.penalty - b.penalty)
}

/// Where a group of `size` changed lines of `lines`, now ending at `end` (slid as far down as
/// it goes) and able to end as high as `earliest_end`, should end.
pub(super) fn best_end(lines: &[&[u8]], earliest_end: isize, end: isize, size: isize) -> isize {
    let mut shift = earliest_end.max(end - size - 1).max(end - MAX_SLIDING);
    let mut best: Option<(isize, Score)> = None;
    while shift <= end {
        let mut score = Score::default();
        add_split(&measure(lines, shift), &mut score);
        add_split(&measure(lines, shift - size), &mut score);
        if best.is_none_or(|(_, b)| compare(score, b) <= 0) {
            best = Some((shift, score));
        }
        shift += 1;
    }
    best.map_or(end, |(s, _)| s)
}

#[cfg(test)]
mod tests {
    use super::super::{diff_with, split_lines, Algorithm, Hunk};

    #[test]
    fn an_added_function_starts_at_its_comment() {
        // `git diff --no-indent-heuristic` shows `fn b` … `// x` added (the block slid down as
        // far as it goes); `git diff` shows `// x` … the blank line, split at the blank lines.
        let old = "// x\nfn a() {\n    1\n}\n\n// x\nfn c() {\n    3\n}\n";
        let new = "// x\nfn a() {\n    1\n}\n\n// x\nfn b() {\n    2\n}\n\n// x\nfn c() {\n    3\n}\n";
        let (a, b) = (split_lines(old.as_bytes()), split_lines(new.as_bytes()));
        let plain = diff_with(&a, &b, Algorithm::Myers, false);
        assert_eq!(
            plain,
            vec![Hunk {
                i1: 6,
                chg1: 0,
                i2: 6,
                chg2: 5
            }]
        );
        let git = diff_with(&a, &b, Algorithm::Myers, true);
        assert_eq!(
            git,
            vec![Hunk {
                i1: 5,
                chg1: 0,
                i2: 5,
                chg2: 5
            }]
        );
    }

    #[test]
    fn indentation_counts_tabs_to_multiples_of_eight() {
        assert_eq!(super::indent_of(b"\t x\n"), 9);
        assert_eq!(super::indent_of(b"  \t\n"), -1);
        assert_eq!(super::indent_of(b"x"), 0);
    }
}
