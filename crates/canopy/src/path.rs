//! Paths into a tree: non-empty steps separated by `/`.
//!
//! A step is never empty, `.`, `..`, a name Git treats as `.git` (any case, the NTFS short name
//! `git~1`, trailing dots or spaces, `\`-separated segments), and never holds `/` or NUL. The same
//! check guards what users write and what is read from trees that others wrote, so a hostile tree
//! can never make Canopy walk or write outside the store's model.

use std::fmt;

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
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Path {
    steps: Vec<Vec<u8>>,
}

impl Path {
    /// The root of the tree.
    pub fn root() -> Path {
        Path { steps: Vec::new() }
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
        let mut steps = Vec::new();
        for step in s.split(|&c| c == b'/') {
            check_step(step).map_err(|e| e.in_path(crate::object::escape_bytes(s)))?;
            steps.push(step.to_vec());
        }
        Ok(Path { steps })
    }

    /// A path from already separated steps, each checked.
    pub fn from_steps<I, S>(steps: I) -> Result<Path, PathError>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<[u8]>,
    {
        let mut out = Vec::new();
        for s in steps {
            check_step(s.as_ref()).map_err(|e| e.in_path(crate::object::escape_bytes(s.as_ref())))?;
            out.push(s.as_ref().to_vec());
        }
        Ok(Path { steps: out })
    }

    pub fn steps(&self) -> &[Vec<u8>] {
        &self.steps
    }

    pub fn is_root(&self) -> bool {
        self.steps.is_empty()
    }

    pub fn len(&self) -> usize {
        self.steps.len()
    }

    pub fn is_empty(&self) -> bool {
        self.steps.is_empty()
    }

    /// This path with one more step (which must be valid; checked).
    pub fn join(&self, step: &[u8]) -> Result<Path, PathError> {
        check_step(step).map_err(|e| e.in_path(format!("{self}/{}", crate::object::escape_bytes(step))))?;
        let mut steps = self.steps.clone();
        steps.push(step.to_vec());
        Ok(Path { steps })
    }

    /// The parent path and last step, or `None` at the root.
    pub fn split_last(&self) -> Option<(Path, &[u8])> {
        let (last, rest) = self.steps.split_last()?;
        Some((Path { steps: rest.to_vec() }, last))
    }

    /// Whether `self` equals `prefix` or lies below it.
    pub fn starts_with(&self, prefix: &Path) -> bool {
        self.steps.starts_with(&prefix.steps)
    }

    /// The path as bytes, steps joined by `/`.
    pub fn to_bytes(&self) -> Vec<u8> {
        self.steps.join(&b'/')
    }
}

impl fmt::Display for Path {
    /// Steps joined by `/`, non-UTF-8 bytes escaped as `\xNN`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, s) in self.steps.iter().enumerate() {
            if i > 0 {
                f.write_str("/")?;
            }
            f.write_str(&crate::object::escape_bytes(s))?;
        }
        Ok(())
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
}
