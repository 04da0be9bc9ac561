//! Line diffs of text values: which lines changed (for blame) and unified diffs (for people).
//!
//! Lines keep their `\n`, so a last line without one differs from the same text with one (shown
//! as `\ No newline at end of file`, as Git shows it). The diff is the one `git diff` and `git
//! blame` make by default: xdiff's Myers with its slider compaction and indent heuristic
//! (`crate::merge::xdiff`, the engine the text merge uses too).

use std::fmt::Write as _;
use std::ops::Range;

/// One change: lines `before` of the old text are replaced by lines `after` of the new one
/// (0-based, half-open; an empty range is a pure insertion or removal).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LineHunk {
    pub before: Range<usize>,
    pub after: Range<usize>,
}

/// Git's test for binary content: a NUL byte in the first 8000 bytes.
pub fn is_binary(data: &[u8]) -> bool {
    data.iter().take(8000).any(|&b| b == 0)
}

/// Splits `data` into lines, each with its `\n` (the last one may lack it).
pub fn split_lines(data: &[u8]) -> Vec<&[u8]> {
    data.split_inclusive(|&b| b == b'\n').collect()
}

/// The changed line ranges from `old` to `new`, in order.
pub fn line_hunks(old: &[u8], new: &[u8]) -> Vec<LineHunk> {
    crate::merge::xdiff::git_diff_hunks(old, new)
        .into_iter()
        .map(|(before, after)| LineHunk { before, after })
        .collect()
}

/// The `@@` hunks of a unified diff from `old` to `new` with `context` lines around each change
/// (Git's default is 3); empty when the texts are equal.
///
/// ```
/// let patch = canopy::store::unified_diff(b"a\nb\nc\n", b"a\nB\nc\n", 3);
/// assert_eq!(patch, "@@ -1,3 +1,3 @@\n a\n-b\n+B\n c\n");
/// ```
pub fn unified_diff(old: &[u8], new: &[u8], context: usize) -> String {
    let a = split_lines(old);
    let b = split_lines(new);
    let hunks = line_hunks(old, new);
    let mut out = String::new();
    // Git's default function name after `@@` (no diff driver): the nearest line above the block
    // that starts like an identifier, searched back to the previous block's start; when none is
    // found there, the previous block's name stays (as xdiff's `xdl_emit_diff` does).
    let mut func: &[u8] = b"";
    let mut searched_to = 0;
    let mut i = 0;
    while i < hunks.len() {
        // Changes closer than twice the context share one `@@` block.
        let mut j = i;
        while j + 1 < hunks.len() && hunks[j + 1].before.start - hunks[j].before.end <= 2 * context {
            j += 1;
        }
        let start_a = hunks[i].before.start.saturating_sub(context);
        let start_b = hunks[i].after.start - (hunks[i].before.start - start_a);
        let end_a = (hunks[j].before.end + context).min(a.len());
        let end_b = hunks[j].after.end + (end_a - hunks[j].before.end);
        if let Some(line) = a[searched_to..start_a]
            .iter()
            .rev()
            .find_map(|l| function_line(l))
        {
            func = line;
        }
        searched_to = start_a;
        let _ = write!(
            out,
            "@@ -{} +{} @@",
            range_text(start_a, end_a - start_a),
            range_text(start_b, end_b - start_b)
        );
        if !func.is_empty() {
            out.push(' ');
            out.push_str(&String::from_utf8_lossy(func));
        }
        out.push('\n');
        let mut pos_a = start_a;
        for h in &hunks[i..=j] {
            for line in &a[pos_a..h.before.start] {
                push_line(&mut out, ' ', line);
            }
            for line in &a[h.before.clone()] {
                push_line(&mut out, '-', line);
            }
            for line in &b[h.after.clone()] {
                push_line(&mut out, '+', line);
            }
            pos_a = h.before.end;
        }
        for line in &a[pos_a..end_a] {
            push_line(&mut out, ' ', line);
        }
        i = j + 1;
    }
    out
}

/// `line` as a function name for a hunk header, if it is one by Git's default rule (`def_ff`
/// in xdiff): it starts with a letter, `_` or `$`; at most 80 bytes, trailing white space cut.
fn function_line(line: &[u8]) -> Option<&[u8]> {
    let first = *line.first()?;
    if !(first.is_ascii_alphabetic() || first == b'_' || first == b'$') {
        return None;
    }
    let mut line = &line[..line.len().min(80)];
    while let [rest @ .., last] = line {
        if !matches!(last, b' ' | b'\t' | b'\n' | b'\x0b' | b'\x0c' | b'\r') {
            break;
        }
        line = rest;
    }
    Some(line)
}

/// `start,count` as in a hunk header: 1-based, `,1` left out, and the line before an empty range.
fn range_text(start: usize, count: usize) -> String {
    match count {
        0 => format!("{start},0"),
        1 => format!("{}", start + 1),
        n => format!("{},{n}", start + 1),
    }
}

fn push_line(out: &mut String, mark: char, line: &[u8]) {
    out.push(mark);
    out.push_str(&String::from_utf8_lossy(line));
    if !line.ends_with(b"\n") {
        out.push_str("\n\\ No newline at end of file\n");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hunks_and_context_as_git_prints_them() {
        let old: Vec<String> = (1..=20).map(|i| format!("{i}\n")).collect();
        let mut new = old.clone();
        new[2] = "three\n".into();
        new.remove(17);
        new.insert(8, "8b\n".into());
        let patch = unified_diff(old.concat().as_bytes(), new.concat().as_bytes(), 3);
        let expected = "@@ -1,11 +1,12 @@\n 1\n 2\n-3\n+three\n 4\n 5\n 6\n 7\n 8\n+8b\n 9\n 10\n 11\n\
                        @@ -15,6 +16,5 @@\n 15\n 16\n 17\n-18\n 19\n 20\n";
        assert_eq!(patch, expected);
        assert_eq!(unified_diff(b"same\n", b"same\n", 3), "");
    }

    #[test]
    fn missing_final_newline_and_empty_sides() {
        assert_eq!(
            unified_diff(b"", b"a\nb", 3),
            "@@ -0,0 +1,2 @@\n+a\n+b\n\\ No newline at end of file\n"
        );
        assert_eq!(unified_diff(b"a\n", b"", 3), "@@ -1 +0,0 @@\n-a\n");
        assert_eq!(
            unified_diff(b"a", b"a\n", 3),
            "@@ -1 +1 @@\n-a\n\\ No newline at end of file\n+a\n"
        );
    }

    #[test]
    fn binary_detection() {
        assert!(is_binary(b"a\0b"));
        assert!(!is_binary("héllo\n".as_bytes()));
    }
}
