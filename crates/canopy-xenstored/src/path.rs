//! Xenstore paths and where they live in the Canopy tree.
//!
//! A node name is made of `[A-Za-z0-9_@-]` (cxenstored's `is_valid_nodename`), so it never
//! contains `.`: the files `.value` and `.perms` that hold a node's data inside its directory
//! can never collide with a child, and every step is one Canopy accepts. Paths not starting
//! with `/` are relative to the connection's domain path (`/local/domain/<id>`).

use canopy::Path;

use crate::wire::{Errno, ABS_PATH_MAX, REL_PATH_MAX};

/// The file holding a node's value, inside the node's directory.
pub const VALUE_FILE: &str = ".value";
/// The file holding a node's permissions (one `n0`/`r1`/… entry a line).
pub const PERMS_FILE: &str = ".perms";

/// A valid absolute xenstore path.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct XsPath {
    text: String,
}

impl XsPath {
    /// The root node `/`.
    pub fn root() -> XsPath {
        XsPath { text: "/".into() }
    }

    /// Parses `raw` as a node path; a relative one is taken below `domain_path`.
    pub fn parse(raw: &[u8], domain_path: &str) -> Result<XsPath, Errno> {
        let text = std::str::from_utf8(raw).map_err(|_| Errno::Inval)?;
        let absolute = if text.starts_with('/') {
            text.to_string()
        } else {
            if text.len() > REL_PATH_MAX {
                return Err(Errno::Inval);
            }
            format!("{domain_path}/{text}")
        };
        XsPath::absolute(absolute)
    }

    fn absolute(text: String) -> Result<XsPath, Errno> {
        if text.len() > ABS_PATH_MAX || !text.starts_with('/') {
            return Err(Errno::Inval);
        }
        if text == "/" {
            return Ok(XsPath::root());
        }
        let valid_chars = text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'/' | b'_' | b'@' | b'-'));
        if !valid_chars || text.ends_with('/') || text.contains("//") {
            return Err(Errno::Inval);
        }
        Ok(XsPath { text })
    }

    pub fn as_str(&self) -> &str {
        &self.text
    }

    pub fn is_root(&self) -> bool {
        self.text == "/"
    }

    /// The node names from the root down.
    pub fn steps(&self) -> impl Iterator<Item = &str> {
        self.text.split('/').filter(|s| !s.is_empty())
    }

    /// The parent node (`None` for the root).
    pub fn parent(&self) -> Option<XsPath> {
        if self.is_root() {
            return None;
        }
        let cut = self.text.rfind('/').unwrap_or(0);
        Some(if cut == 0 {
            XsPath::root()
        } else {
            XsPath {
                text: self.text[..cut].to_string(),
            }
        })
    }

    /// The child `name` (a valid node name).
    pub fn child(&self, name: &str) -> Result<XsPath, Errno> {
        let text = if self.is_root() {
            format!("/{name}")
        } else {
            format!("{}/{name}", self.text)
        };
        if name.is_empty() || name.contains('/') {
            return Err(Errno::Inval);
        }
        XsPath::absolute(text)
    }

    /// Whether `self` is `other` or below it.
    pub fn is_at_or_below(&self, other: &XsPath) -> bool {
        other.is_root()
            || self.text == other.text
            || (self.text.starts_with(&other.text)
                && self.text.as_bytes().get(other.text.len()) == Some(&b'/'))
    }

    /// The node's directory in the Canopy tree.
    pub fn dir(&self) -> Path {
        // Every step passed the character check above, which Canopy's path rules accept.
        Path::from_steps(self.steps()).unwrap_or_default()
    }

    /// The Canopy path of the node's value file.
    pub fn value_file(&self) -> Path {
        self.file(VALUE_FILE)
    }

    /// The Canopy path of the node's permissions file.
    pub fn perms_file(&self) -> Path {
        self.file(PERMS_FILE)
    }

    fn file(&self, name: &str) -> Path {
        Path::from_steps(self.steps().chain(std::iter::once(name))).unwrap_or_default()
    }

    /// The node a changed Canopy file belongs to: `a/b/.value` and `a/b/.perms` are node
    /// `/a/b`; other files (`.gitattributes`, say) belong to no node.
    pub fn of_file(file: &Path) -> Option<XsPath> {
        let (dir, last) = file.split_last()?;
        if last != VALUE_FILE.as_bytes() && last != PERMS_FILE.as_bytes() {
            return None;
        }
        let mut text = String::new();
        for step in dir.steps() {
            text.push('/');
            text.push_str(std::str::from_utf8(step).ok()?);
        }
        if text.is_empty() {
            text.push('/');
        }
        XsPath::absolute(text).ok()
    }
}

impl std::fmt::Display for XsPath {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DOM0: &str = "/local/domain/0";

    #[test]
    fn valid_paths_parse_and_relative_ones_land_in_the_domain() {
        assert_eq!(XsPath::parse(b"/", DOM0).unwrap(), XsPath::root());
        assert_eq!(XsPath::parse(b"/a/b-c_d@e", DOM0).unwrap().as_str(), "/a/b-c_d@e");
        assert_eq!(
            XsPath::parse(b"name", DOM0).unwrap().as_str(),
            "/local/domain/0/name"
        );
    }

    #[test]
    fn invalid_paths_are_refused() {
        for bad in [
            &b""[..],
            b"/a/",
            b"/a//b",
            b"/a/../b",
            b"/a/.git",
            b"/a b",
            b"/a\0b",
            b"/\xff",
            b"/.value",
        ] {
            assert_eq!(XsPath::parse(bad, DOM0), Err(Errno::Inval), "{bad:?}");
        }
        assert!(XsPath::parse(format!("/{}", "a".repeat(ABS_PATH_MAX)).as_bytes(), DOM0).is_err());
    }

    #[test]
    fn nodes_map_to_directories_and_back() {
        let p = XsPath::parse(b"/local/domain/3", DOM0).unwrap();
        assert_eq!(p.value_file().to_string(), "local/domain/3/.value");
        assert_eq!(XsPath::of_file(&p.perms_file()), Some(p.clone()));
        assert_eq!(
            XsPath::of_file(&XsPath::root().value_file()),
            Some(XsPath::root())
        );
        assert_eq!(XsPath::of_file(&Path::parse("a/.gitattributes").unwrap()), None);
        assert_eq!(p.parent().unwrap().as_str(), "/local/domain");
        assert_eq!(XsPath::parse(b"/a", DOM0).unwrap().parent(), Some(XsPath::root()));
        assert!(p.is_at_or_below(&XsPath::parse(b"/local", DOM0).unwrap()));
        assert!(!XsPath::parse(b"/localx", DOM0)
            .unwrap()
            .is_at_or_below(&XsPath::parse(b"/local", DOM0).unwrap()));
    }
}
