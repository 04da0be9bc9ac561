//! Tree objects: entries `<mode> SP <name> NUL <raw id>`, sorted the way Git sorts them.

use std::cmp::Ordering;

use super::{HashKind, ObjectError, ObjectId, ObjectKind};

/// An entry's mode, canonicalised as Git canonicalises it on read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Mode {
    /// `100644`
    File,
    /// `100755`
    Executable,
    /// `120000`: a blob holding the link target.
    Symlink,
    /// `40000`: a subtree.
    Tree,
    /// `160000`: a submodule commit, not stored in this repository.
    Gitlink,
}

impl Mode {
    /// The octal bytes written into a tree object (no leading zero for trees).
    pub fn as_bytes(self) -> &'static [u8] {
        match self {
            Mode::File => b"100644",
            Mode::Executable => b"100755",
            Mode::Symlink => b"120000",
            Mode::Tree => b"40000",
            Mode::Gitlink => b"160000",
        }
    }

    /// The six-digit form `git ls-tree` shows.
    pub fn display(self) -> &'static str {
        match self {
            Mode::File => "100644",
            Mode::Executable => "100755",
            Mode::Symlink => "120000",
            Mode::Tree => "040000",
            Mode::Gitlink => "160000",
        }
    }

    /// Parses octal mode digits and canonicalises them the way Git's `canon_mode` does.
    pub fn parse(octal: &[u8]) -> Option<Mode> {
        if octal.is_empty() || octal.len() > 7 {
            return None;
        }
        let mut v: u32 = 0;
        for &c in octal {
            if !(b'0'..=b'7').contains(&c) {
                return None;
            }
            v = v * 8 + u32::from(c - b'0');
        }
        Some(match v & 0o170000 {
            0o100000 if v & 0o100 != 0 => Mode::Executable,
            0o100000 => Mode::File,
            0o120000 => Mode::Symlink,
            0o040000 => Mode::Tree,
            _ => Mode::Gitlink,
        })
    }

    pub fn is_tree(self) -> bool {
        self == Mode::Tree
    }

    /// Whether the entry names a blob in this repository (file, executable or symlink).
    pub fn is_blob(self) -> bool {
        matches!(self, Mode::File | Mode::Executable | Mode::Symlink)
    }
}

/// One entry of a tree.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TreeEntry {
    pub mode: Mode,
    pub name: Vec<u8>,
    pub id: ObjectId,
}

/// Git's tree order: bytewise, where a tree's name compares as if it ended in `/`.
pub fn git_name_cmp(a: &[u8], a_is_tree: bool, b: &[u8], b_is_tree: bool) -> Ordering {
    let common = a.len().min(b.len());
    match a[..common].cmp(&b[..common]) {
        Ordering::Equal => {}
        other => return other,
    }
    let next = |name: &[u8], is_tree: bool| -> u8 {
        match name.get(common) {
            Some(&c) => c,
            None if is_tree => b'/',
            None => 0,
        }
    };
    next(a, a_is_tree)
        .cmp(&next(b, b_is_tree))
        .then(a.len().cmp(&b.len()))
}

impl TreeEntry {
    /// Parses a tree object's content. Checks syntax only; name policy (no `..`, `.git`) is
    /// the caller's, so that trees Git wrote can still be listed and reported precisely.
    pub fn parse_all(hash: HashKind, data: &[u8]) -> Result<Vec<TreeEntry>, ObjectError> {
        TreeEntries::new(hash, data)
            .map(|e| {
                e.map(|e| TreeEntry {
                    mode: e.mode,
                    name: e.name.to_vec(),
                    id: e.id(),
                })
            })
            .collect()
    }

    /// Serialises entries into tree content, sorting them into Git's order. Names must be
    /// unique; the caller guarantees it (the in-memory tree keys entries by name).
    pub fn serialize(entries: &mut [TreeEntry]) -> Vec<u8> {
        entries.sort_by(|a, b| git_name_cmp(&a.name, a.mode.is_tree(), &b.name, b.mode.is_tree()));
        let mut out = Vec::with_capacity(entries.len() * 40);
        for e in entries.iter() {
            out.extend_from_slice(e.mode.as_bytes());
            out.push(b' ');
            out.extend_from_slice(&e.name);
            out.push(0);
            out.extend_from_slice(e.id.as_bytes());
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sorts_like_git() {
        let id = HashKind::Sha1.empty_tree();
        let mk = |name: &str, mode| TreeEntry {
            mode,
            name: name.as_bytes().to_vec(),
            id,
        };
        let mut entries = vec![
            mk("foo.txt", Mode::File),
            mk("bar", Mode::Tree),
            mk("foo", Mode::Gitlink),
            mk("bar.txt", Mode::File),
            mk("bar-x", Mode::File),
        ];
        TreeEntry::serialize(&mut entries);
        let names: Vec<_> = entries
            .iter()
            .map(|e| String::from_utf8_lossy(&e.name).into_owned())
            .collect();
        assert_eq!(names, ["bar-x", "bar.txt", "bar", "foo", "foo.txt"]);
    }

    #[test]
    fn round_trips_and_rejects_garbage() {
        let id = HashKind::Sha1.empty_tree();
        let mut entries = vec![TreeEntry {
            mode: Mode::Tree,
            name: b"d".to_vec(),
            id,
        }];
        let bytes = TreeEntry::serialize(&mut entries);
        assert!(bytes.starts_with(b"40000 d\0"));
        assert_eq!(TreeEntry::parse_all(HashKind::Sha1, &bytes).unwrap(), entries);
        for bad in [&b"40000 d\0abc"[..], b"4x000 d\0", b"100644 \0", b"100644"] {
            assert!(TreeEntry::parse_all(HashKind::Sha1, bad).is_err());
        }
    }

    #[test]
    fn canonicalises_modes() {
        assert_eq!(Mode::parse(b"100664"), Some(Mode::File));
        assert_eq!(Mode::parse(b"100775"), Some(Mode::Executable));
        assert_eq!(Mode::parse(b"040000"), Some(Mode::Tree));
        assert_eq!(Mode::parse(b"160000"), Some(Mode::Gitlink));
        assert_eq!(Mode::parse(b"1006a4"), None);
    }
}

/// One entry of a tree, borrowed from the tree's raw content (nothing copied).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TreeEntryRef<'a> {
    pub mode: Mode,
    pub name: &'a [u8],
    /// The entry's raw object id.
    pub raw_id: &'a [u8],
    hash: HashKind,
}

impl TreeEntryRef<'_> {
    pub fn id(&self) -> ObjectId {
        ObjectId::from_raw(self.hash, self.raw_id).expect("the parser took exactly one id's bytes")
    }
}

/// The entries of a tree's raw content, parsed one at a time as borrowed views (gitoxide's
/// `TreeRefIter`): for walks that compare most entries and keep few. Checks syntax only, as
/// [`TreeEntry::parse_all`]; after the first error, the iterator ends.
pub struct TreeEntries<'a> {
    hash: HashKind,
    data: &'a [u8],
    pos: usize,
}

impl<'a> TreeEntries<'a> {
    pub fn new(hash: HashKind, data: &'a [u8]) -> TreeEntries<'a> {
        TreeEntries { hash, data, pos: 0 }
    }
}

impl<'a> Iterator for TreeEntries<'a> {
    type Item = Result<TreeEntryRef<'a>, ObjectError>;

    fn next(&mut self) -> Option<Self::Item> {
        let (data, pos) = (self.data, self.pos);
        if pos >= data.len() {
            return None;
        }
        let err = |offset, reason: &str| ObjectError::new(ObjectKind::Tree, offset, reason);
        // Whatever happens, this is the last call that reads: an error ends the iteration.
        self.pos = data.len();
        let rest = &data[pos..];
        let Some(sp) = rest.iter().position(|&c| c == b' ') else {
            return Some(Err(err(pos, "entry has no space after its mode")));
        };
        let Some(mode) = Mode::parse(&rest[..sp]) else {
            return Some(Err(err(pos, "malformed mode in tree entry")));
        };
        let name_start = pos + sp + 1;
        let Some(nul) = data[name_start..].iter().position(|&c| c == 0) else {
            return Some(Err(err(name_start, "entry name is not NUL-terminated")));
        };
        if nul == 0 {
            return Some(Err(err(name_start, "empty filename in tree entry")));
        }
        let id_start = name_start + nul + 1;
        let id_end = id_start + self.hash.len();
        if id_end > data.len() {
            return Some(Err(err(id_start, "truncated object id in tree entry")));
        }
        self.pos = id_end;
        Some(Ok(TreeEntryRef {
            mode,
            name: &data[name_start..name_start + nul],
            raw_id: &data[id_start..id_end],
            hash: self.hash,
        }))
    }
}
