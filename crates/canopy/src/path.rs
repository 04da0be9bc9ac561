//! Paths into a tree: non-empty steps separated by `/`.
//!
//! A step is never empty, `.`, `..`, a name Git treats as `.git` (any case, the NTFS short name
//! `git~1`, trailing dots or spaces, `\`-separated segments), and never holds `/` or NUL. The same
//! check guards what users write and what is read from trees that others wrote, so a hostile tree
//! can never make Canopy walk or write outside the store's model.

use std::fmt;

use smallvec::SmallVec;

/// Why a step or path is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PathError {
    #[error("path '{path}': empty step")]
    Empty { path: String },
    #[error("path '{path}': '{step}' is not a valid step")]
    Reserved { path: String, step: String },
    #[error("path '{path}': a step may not contain NUL")]
    Nul { path: String },
    #[error("path '{path}': a step may not contain '/'")]
    Slash { path: String },
    #[error("path '{path}…': longer than {MAX_PATH_BYTES} bytes")]
    TooLong { path: String },
}

/// The longest path a user may name, in bytes (Git's `fsck` calls longer ones `largePathname`,
/// and `git clone` cannot check them out).
pub const MAX_PATH_BYTES: usize = 4096;

/// A validated path. The empty path names the root.
///
/// Held as its steps joined by `/` in one buffer (inline up to 32 bytes), so that a lookup
/// reads the path from where it is rather than following a pointer per step; no step holds a
/// `/`, so the steps are always recovered exactly.
#[derive(Clone, PartialEq, Eq, Hash, Default)]
pub struct Path {
    bytes: SmallVec<[u8; 32]>,
}

/// The steps of a [`Path`], first to last (or last to first).
#[derive(Clone, Debug)]
pub struct Steps<'a> {
    /// What is left, joined by `/`; `None` once every step was taken.
    rest: Option<&'a [u8]>,
}

impl<'a> Iterator for Steps<'a> {
    type Item = &'a [u8];

    fn next(&mut self) -> Option<&'a [u8]> {
        let rest = self.rest?;
        match rest.iter().position(|&c| c == b'/') {
            Some(i) => {
                self.rest = Some(&rest[i + 1..]);
                Some(&rest[..i])
            }
            None => {
                self.rest = None;
                Some(rest)
            }
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let n = self
            .rest
            .map_or(0, |r| 1 + r.iter().filter(|&&c| c == b'/').count());
        (n, Some(n))
    }
}

impl<'a> DoubleEndedIterator for Steps<'a> {
    fn next_back(&mut self) -> Option<&'a [u8]> {
        let rest = self.rest?;
        match rest.iter().rposition(|&c| c == b'/') {
            Some(i) => {
                self.rest = Some(&rest[..i]);
                Some(&rest[i + 1..])
            }
            None => {
                self.rest = None;
                Some(rest)
            }
        }
    }
}

impl ExactSizeIterator for Steps<'_> {}

impl Ord for Path {
    /// Step by step, each step's bytes in order (a path sorts before the paths below it).
    fn cmp(&self, other: &Path) -> std::cmp::Ordering {
        // No step holds `/` or NUL: comparing with `/` as the smallest byte is comparing steps.
        let key = |c: &u8| if *c == b'/' { 0 } else { *c };
        self.bytes.iter().map(key).cmp(other.bytes.iter().map(key))
    }
}

impl PartialOrd for Path {
    fn partial_cmp(&self, other: &Path) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Path {
    /// The root of the tree.
    pub fn root() -> Path {
        Path::default()
    }

    /// Parses `a/b/c`. The empty string names the root. Steps are never empty (so no leading,
    /// trailing or doubled `/`), `.`, `..`, `.git`, and never hold NUL; the whole path is at most
    /// [`MAX_PATH_BYTES`] long (so also at most 2,048 steps deep).
    pub fn parse(s: &str) -> Result<Path, PathError> {
        Path::parse_bytes(s.as_bytes())
    }

    pub fn parse_bytes(s: &[u8]) -> Result<Path, PathError> {
        if s.is_empty() {
            return Ok(Path::root());
        }
        if s.len() > MAX_PATH_BYTES {
            return Err(PathError::TooLong {
                path: crate::object::escape_bytes(&s[..60]),
            });
        }
        for step in s.split(|&c| c == b'/') {
            check_step(step).map_err(|e| e.in_path(crate::object::escape_bytes(s)))?;
        }
        Ok(Path {
            bytes: SmallVec::from_slice(s),
        })
    }

    /// A path from already separated steps, each checked.
    pub fn from_steps<I, S>(steps: I) -> Result<Path, PathError>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<[u8]>,
    {
        let mut out = Path::root();
        for s in steps {
            check_step(s.as_ref()).map_err(|e| e.in_path(crate::object::escape_bytes(s.as_ref())))?;
            out.push(s.as_ref());
        }
        Ok(out)
    }

    /// Appends a step already checked.
    fn push(&mut self, step: &[u8]) {
        if !self.bytes.is_empty() {
            self.bytes.push(b'/');
        }
        self.bytes.extend_from_slice(step);
    }

    /// The steps, first to last.
    pub fn steps(&self) -> Steps<'_> {
        Steps {
            rest: (!self.bytes.is_empty()).then_some(&self.bytes[..]),
        }
    }

    /// The last step (`None` at the root).
    pub fn last_step(&self) -> Option<&[u8]> {
        self.steps().next_back()
    }

    pub fn is_root(&self) -> bool {
        self.bytes.is_empty()
    }

    /// The number of steps.
    pub fn len(&self) -> usize {
        self.steps().len()
    }

    pub fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }

    /// This path with one more step (which must be valid; checked).
    pub fn join(&self, step: &[u8]) -> Result<Path, PathError> {
        check_step(step).map_err(|e| e.in_path(format!("{self}/{}", crate::object::escape_bytes(step))))?;
        let mut out = self.clone();
        out.push(step);
        Ok(out)
    }

    /// The parent path and last step, or `None` at the root.
    pub fn split_last(&self) -> Option<(Path, &[u8])> {
        if self.bytes.is_empty() {
            return None;
        }
        Some(match self.bytes.iter().rposition(|&c| c == b'/') {
            Some(i) => (
                Path {
                    bytes: SmallVec::from_slice(&self.bytes[..i]),
                },
                &self.bytes[i + 1..],
            ),
            None => (Path::root(), &self.bytes[..]),
        })
    }

    /// Whether `self` equals `prefix` or lies below it.
    pub fn starts_with(&self, prefix: &Path) -> bool {
        prefix.bytes.is_empty()
            || self.bytes.starts_with(&prefix.bytes)
                && (self.bytes.len() == prefix.bytes.len() || self.bytes[prefix.bytes.len()] == b'/')
    }

    /// The path as bytes, steps joined by `/`.
    pub fn to_bytes(&self) -> Vec<u8> {
        self.bytes.to_vec()
    }

    /// The path as bytes, steps joined by `/`, borrowed.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes
    }
}

impl fmt::Display for Path {
    /// Steps joined by `/`, non-UTF-8 bytes escaped as `\xNN`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // `/` is ASCII, so no escaped sequence spans a step boundary.
        f.write_str(&crate::object::escape_bytes(&self.bytes))
    }
}

impl fmt::Debug for Path {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Path({self})")
    }
}

impl PathError {
    fn in_path(self, path: String) -> PathError {
        match self {
            PathError::Empty { .. } => PathError::Empty { path },
            PathError::Reserved { step, .. } => PathError::Reserved { path, step },
            PathError::Nul { .. } => PathError::Nul { path },
            PathError::Slash { .. } => PathError::Slash { path },
            PathError::TooLong { .. } => PathError::TooLong { path },
        }
    }
}

/// Checks one step (a tree entry name) against Git's `verify_path` and fsck rules.
pub fn check_step(step: &[u8]) -> Result<(), PathError> {
    // Fast path: every reserved form (`.`, `..`, `.git…`, `git~1…`) holds a `.` or a `~`.
    if !step.is_empty() && !step.iter().any(|&c| matches!(c, b'.' | b'~' | b'/' | 0)) {
        return Ok(());
    }
    let shown = || crate::object::escape_bytes(step);
    if step.is_empty() {
        return Err(PathError::Empty { path: String::new() });
    }
    if step.contains(&0) {
        return Err(PathError::Nul { path: shown() });
    }
    if step.contains(&b'/') {
        return Err(PathError::Slash { path: shown() });
    }
    let reserved = step == b"."
        || step == b".."
        || step
            .split(|&c| c == b'\\')
            .any(|seg| is_dotgit(seg) || seg == b"..")
        || is_hfs_dotgit(step);
    if reserved {
        return Err(PathError::Reserved {
            path: shown(),
            step: shown(),
        });
    }
    Ok(())
}

/// `.git` in any case, and the names NTFS treats as `.git`: `git~1`, and either followed only by
/// spaces and dots, or by `:` (an alternate data stream).
fn is_dotgit(seg: &[u8]) -> bool {
    let lower: Vec<u8> = seg.to_ascii_lowercase();
    for stem in [&b".git"[..], b"git~1"] {
        if let Some(rest) = lower.strip_prefix(stem) {
            let tail_end = rest.iter().position(|&c| c == b':').unwrap_or(rest.len());
            if rest[..tail_end].iter().all(|&c| c == b' ' || c == b'.') {
                return true;
            }
        }
    }
    false
}

/// HFS+ ignores some zero-width code points when comparing names: `.g\u{200c}it` is `.git` there.
fn is_hfs_dotgit(step: &[u8]) -> bool {
    let Ok(s) = std::str::from_utf8(step) else {
        return false;
    };
    let ignorable =
        |c: char| matches!(c as u32, 0x200C..=0x200F | 0x202A..=0x202E | 0x206A..=0x206F | 0xFEFF);
    if !s.chars().any(ignorable) {
        return false;
    }
    let folded: String = s.chars().filter(|&c| !ignorable(c)).collect();
    folded.eq_ignore_ascii_case(".git")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_ordinary_paths() {
        let p = Path::parse("a/b.c/d").unwrap();
        assert_eq!(p.len(), 3);
        assert_eq!(p.to_string(), "a/b.c/d");
        assert!(Path::parse("").unwrap().is_root());
        assert!(Path::parse(".gitattributes").is_ok());
        assert!(Path::parse("a/.gitx").is_ok());
        assert!(Path::parse("...").is_ok());
    }

    #[test]
    fn refuses_hostile_steps() {
        for bad in [
            "a//b",
            ".",
            "..",
            "a/../b",
            "a/./b",
            ".git",
            ".GIT/x",
            "x/.Git",
            "git~1",
            "GIT~1/a",
            ".git.",
            ".git ",
            ".git::$INDEX_ALLOCATION",
            "a\\.git",
            "a\\..",
            ".g\u{200c}it",
            "a\0b",
            "//",
            "/x",
            "x/",
        ] {
            assert!(Path::parse(bad).is_err(), "{bad:?} accepted");
        }
    }

    proptest::proptest! {
        /// One buffer behaves as the list of steps it stands for: the same steps back (both
        /// ways), count, order, prefixes, parent and last step.
        #[test]
        fn a_path_is_its_steps(
            a in proptest::collection::vec("[a-c/.~\\-]{1,3}", 0..4),
            b in proptest::collection::vec("[a-c/.~\\-]{1,3}", 0..4),
        ) {
            let clean = |v: Vec<String>| -> Vec<Vec<u8>> {
                v.into_iter()
                    .map(|s| s.replace('/', "-").into_bytes())
                    .filter(|s| check_step(s).is_ok())
                    .collect()
            };
            let (sa, sb) = (clean(a), clean(b));
            let (pa, pb) = (Path::from_steps(&sa).unwrap(), Path::from_steps(&sb).unwrap());
            let back: Vec<&[u8]> = pa.steps().collect();
            proptest::prop_assert_eq!(&back, &sa.iter().map(Vec::as_slice).collect::<Vec<_>>());
            let mut reversed: Vec<&[u8]> = pa.steps().rev().collect();
            reversed.reverse();
            proptest::prop_assert_eq!(&reversed, &back);
            proptest::prop_assert_eq!(pa.len(), sa.len());
            proptest::prop_assert_eq!(pa.is_root(), sa.is_empty());
            proptest::prop_assert_eq!(pa.cmp(&pb), sa.cmp(&sb));
            proptest::prop_assert_eq!(pa == pb, sa == sb);
            proptest::prop_assert_eq!(pa.starts_with(&pb), sa.starts_with(&sb));
            proptest::prop_assert_eq!(pa.last_step(), sa.last().map(Vec::as_slice));
            if let Some((parent, last)) = pa.split_last() {
                proptest::prop_assert_eq!(parent, Path::from_steps(&sa[..sa.len() - 1]).unwrap());
                proptest::prop_assert_eq!(last, &sa[sa.len() - 1][..]);
            }
            proptest::prop_assert_eq!(Path::parse_bytes(&pa.to_bytes()).unwrap(), pa.clone());
            proptest::prop_assert_eq!(pa.to_bytes(), sa.join(&b'/'));
        }
    }
}
