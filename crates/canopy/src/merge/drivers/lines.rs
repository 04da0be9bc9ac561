//! Drivers for line-structured values: `set` and `log`.

use std::cmp::Ordering;
use std::collections::BTreeSet;

use super::{Driver, MergeContext};
use crate::merge::combinators::merge_sets;
use crate::merge::{trivial, trivial_with, Conflict, EqualChanges, MergeResult, Trivial};

/// The lines of `data` without their `\n` (a final `\r` stays part of the line).
fn lines_of(data: &[u8]) -> Vec<&[u8]> {
    if data.is_empty() {
        return Vec::new();
    }
    let body = data.strip_suffix(b"\n").unwrap_or(data);
    body.split(|&c| c == b'\n').collect()
}

/// A set of lines: each non-empty line is an element. Elements added by either side are in the
/// result, elements removed by either side are not. The result is sorted by bytes, without
/// duplicates or empty lines, each line ending in `\n`. It never conflicts once both sides are
/// present.
#[derive(Debug, Clone, Copy, Default)]
pub struct SetDriver;

impl Driver for SetDriver {
    fn merge(
        &self,
        _ctx: &MergeContext,
        base: Option<&[u8]>,
        ours: Option<&[u8]>,
        theirs: Option<&[u8]>,
    ) -> MergeResult<Option<Vec<u8>>> {
        let (base, ours, theirs) = match trivial(base, ours, theirs)? {
            Trivial::Resolved(v) => return Ok(v.map(<[u8]>::to_vec)),
            Trivial::Diverged { base, ours, theirs } => (base, ours, theirs),
        };
        let elements = |data: &[u8]| -> BTreeSet<Vec<u8>> {
            lines_of(data)
                .into_iter()
                .filter(|l| !l.is_empty())
                .map(<[u8]>::to_vec)
                .collect()
        };
        let base = base.map(elements);
        let merged = merge_sets(base.as_ref(), &elements(ours), &elements(theirs));
        let mut out = Vec::new();
        for e in merged {
            out.extend_from_slice(&e);
            out.push(b'\n');
        }
        Ok(Some(out))
    }
}

/// An append-only log: each line an entry. Both sides must keep the base's lines as they are
/// (else: conflict); the result is the base's lines, then every line either side appended,
/// ordered by [`log_order`] (leading timestamp, then bytes). Each appended line ends in `\n`.
/// Both sides appending the same line are two appends: the line is kept twice.
#[derive(Debug, Clone, Copy, Default)]
pub struct LogDriver;

/// The order of appended log lines: by the first whitespace-separated token — numerically when
/// both tokens are decimal integers (integers before anything else), else as bytes, which orders
/// RFC 3339 timestamps of one format by time — and then by the whole line's bytes.
pub fn log_order(a: &[u8], b: &[u8]) -> Ordering {
    let token = |l: &[u8]| -> Vec<u8> {
        l.split(|c| c.is_ascii_whitespace())
            .find(|t| !t.is_empty())
            .unwrap_or_default()
            .to_vec()
    };
    let (ta, tb) = (token(a), token(b));
    let numeric = |t: &[u8]| !t.is_empty() && t.iter().all(u8::is_ascii_digit);
    let by_token = match (numeric(&ta), numeric(&tb)) {
        (true, true) => {
            let trim = |t: &[u8]| -> Vec<u8> {
                let first = t.iter().position(|&c| c != b'0').unwrap_or(t.len());
                t[first..].to_vec()
            };
            let (na, nb) = (trim(&ta), trim(&tb));
            na.len().cmp(&nb.len()).then_with(|| na.cmp(&nb))
        }
        (true, false) => Ordering::Less,
        (false, true) => Ordering::Greater,
        (false, false) => ta.cmp(&tb),
    };
    by_token.then_with(|| a.cmp(b))
}

/// The lines appended to `base` in `side`, or `None` if `side` changed what `base` had.
fn appended<'a>(base: &[&[u8]], side: &'a [u8]) -> Option<Vec<&'a [u8]>> {
    let lines = lines_of(side);
    if lines.len() < base.len() || lines[..base.len()] != *base {
        return None;
    }
    Some(lines[base.len()..].to_vec())
}

impl Driver for LogDriver {
    fn merge(
        &self,
        _ctx: &MergeContext,
        base: Option<&[u8]>,
        ours: Option<&[u8]>,
        theirs: Option<&[u8]>,
    ) -> MergeResult<Option<Vec<u8>>> {
        let (base, ours, theirs) = match trivial_with(EqualChanges::Twice, base, ours, theirs)? {
            Trivial::Resolved(v) => return Ok(v.map(<[u8]>::to_vec)),
            Trivial::Diverged { base, ours, theirs } => (base, ours, theirs),
        };
        let base_lines: Vec<&[u8]> = base.map(lines_of).unwrap_or_default();
        let rewritten =
            |side: &str| Conflict::new(format!("log: {side} changed existing entries (a log only grows)"));
        let ours_new = appended(&base_lines, ours).ok_or_else(|| rewritten("ours"))?;
        let theirs_new = appended(&base_lines, theirs).ok_or_else(|| rewritten("theirs"))?;
        let mut new: Vec<&[u8]> = ours_new.into_iter().chain(theirs_new).collect();
        new.sort_by(|a, b| log_order(a, b));
        let mut out = Vec::new();
        for line in base_lines.iter().chain(new.iter()) {
            out.extend_from_slice(line);
            out.push(b'\n');
        }
        Ok(Some(out))
    }

    /// Two equal appends are two entries.
    fn equal_changes(&self) -> EqualChanges {
        EqualChanges::Twice
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_of_handles_final_newline() {
        assert_eq!(lines_of(b"a\nb\n"), vec![&b"a"[..], b"b"]);
        assert_eq!(lines_of(b"a\nb"), vec![&b"a"[..], b"b"]);
        assert!(lines_of(b"").is_empty());
        assert_eq!(lines_of(b"\n"), vec![&b""[..]]);
    }

    #[test]
    fn log_order_numeric_then_text() {
        assert_eq!(log_order(b"9 x", b"10 a"), Ordering::Less);
        assert_eq!(log_order(b"010 x", b"10 a"), Ordering::Less); // same number, then bytes
        assert_eq!(
            log_order(b"2024-01-02T00:00:00Z b", b"2024-01-01T23:00:00Z a"),
            Ordering::Greater
        );
        assert_eq!(log_order(b"5 x", b"2024-01-01 x"), Ordering::Less);
    }
}
