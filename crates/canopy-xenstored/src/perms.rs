//! Node permissions in xenstore's format: a list of entries `<letter><domid>` where the letter
//! is `n` (none), `r` (read), `w` (write) or `b` (both). The first entry names the owner, who may
//! do everything, and gives the access of every domain not listed after it.
//!
//! On the wire the entries are NUL-separated; in the store (`.perms`) they are one a line, so
//! `git show` and `git diff` read naturally.

use crate::wire::Errno;

/// What a domain may do with a node.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    None,
    Read,
    Write,
    Both,
}

impl Access {
    fn letter(self) -> char {
        match self {
            Access::None => 'n',
            Access::Read => 'r',
            Access::Write => 'w',
            Access::Both => 'b',
        }
    }

    fn from_letter(c: u8) -> Option<Access> {
        Some(match c {
            b'n' => Access::None,
            b'r' => Access::Read,
            b'w' => Access::Write,
            b'b' => Access::Both,
            _ => return None,
        })
    }

    pub fn can_read(self) -> bool {
        matches!(self, Access::Read | Access::Both)
    }

    pub fn can_write(self) -> bool {
        matches!(self, Access::Write | Access::Both)
    }
}

/// The permissions of one node.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Perms {
    /// `(domid, access)`; the first is the owner and the default for unlisted domains.
    entries: Vec<(u32, Access)>,
}

impl Perms {
    /// What the root node starts with: owned by dom0, no access for others (`n0`).
    pub fn dom0_only() -> Perms {
        Perms {
            entries: vec![(0, Access::None)],
        }
    }

    pub fn owner(&self) -> u32 {
        self.entries[0].0
    }

    /// Parses the entries (each `<letter><domid>`); at least one is required.
    pub fn parse<'a>(items: impl IntoIterator<Item = &'a [u8]>) -> Result<Perms, Errno> {
        let mut entries = Vec::new();
        for item in items {
            let (&letter, id) = item.split_first().ok_or(Errno::Inval)?;
            let access = Access::from_letter(letter).ok_or(Errno::Inval)?;
            let id = std::str::from_utf8(id)
                .ok()
                .filter(|s| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
                .and_then(|s| s.parse::<u32>().ok())
                .ok_or(Errno::Inval)?;
            entries.push((id, access));
        }
        if entries.is_empty() {
            return Err(Errno::Inval);
        }
        Ok(Perms { entries })
    }

    /// Parses the stored form (one entry a line).
    pub fn parse_stored(bytes: &[u8]) -> Result<Perms, Errno> {
        Perms::parse(bytes.split(|&b| b == b'\n').filter(|l| !l.is_empty()))
    }

    /// The entries as strings (`["n0", "r5"]`).
    pub fn entries(&self) -> Vec<String> {
        self.entries
            .iter()
            .map(|(id, a)| format!("{}{id}", a.letter()))
            .collect()
    }

    /// The wire form: every entry followed by NUL.
    pub fn to_wire(&self) -> Vec<u8> {
        let mut out = Vec::new();
        for e in self.entries() {
            out.extend_from_slice(e.as_bytes());
            out.push(0);
        }
        out
    }

    /// The stored form: every entry followed by a newline.
    pub fn to_stored(&self) -> Vec<u8> {
        let mut out = Vec::new();
        for e in self.entries() {
            out.extend_from_slice(e.as_bytes());
            out.push(b'\n');
        }
        out
    }

    /// What `domid` may do, acting for the domains in `acts_for` too (the owner, or a domain
    /// whose target it is, may do everything).
    pub fn access(&self, domid: u32, acts_for: Option<u32>) -> Access {
        let owner = self.owner();
        if owner == domid || acts_for == Some(owner) {
            return Access::Both;
        }
        self.entries[1..]
            .iter()
            .find(|(id, _)| *id == domid || acts_for == Some(*id))
            .map_or(self.entries[0].1, |(_, a)| *a)
    }

    /// The permissions a node created below one with these gets: the same, owned by `creator`
    /// when the creator is an unprivileged domain (xenstored's rule; a node dom0 creates keeps
    /// its parent's owner, so a guest keeps owning what the toolstack writes into its tree).
    pub fn inherited(&self, creator: Option<u32>) -> Perms {
        let Some(creator) = creator else {
            return self.clone();
        };
        let mut entries = vec![(creator, self.entries[0].1)];
        entries.extend(self.entries[1..].iter().filter(|(id, _)| *id != creator));
        Perms { entries }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn perms(s: &str) -> Perms {
        Perms::parse(s.split(' ').map(str::as_bytes)).unwrap()
    }

    #[test]
    fn owner_may_all_listed_get_theirs_others_the_default() {
        let p = perms("n3 r5 w6");
        assert_eq!(p.access(3, None), Access::Both);
        assert_eq!(p.access(5, None), Access::Read);
        assert_eq!(p.access(6, None), Access::Write);
        assert_eq!(p.access(7, None), Access::None);
        assert_eq!(p.access(9, Some(3)), Access::Both);
        assert_eq!(perms("r0").access(4, None), Access::Read);
    }

    #[test]
    fn stored_and_wire_forms_round_trip() {
        let p = perms("b1 r2");
        assert_eq!(p.to_wire(), b"b1\0r2\0");
        assert_eq!(Perms::parse_stored(&p.to_stored()).unwrap(), p);
    }

    #[test]
    fn malformed_entries_are_refused() {
        for bad in ["x1", "r", "r-1", "r1x", ""] {
            assert_eq!(Perms::parse([bad.as_bytes()]), Err(Errno::Inval), "{bad}");
        }
        assert_eq!(Perms::parse(Vec::<&[u8]>::new()), Err(Errno::Inval));
    }

    #[test]
    fn a_domain_creating_a_node_owns_it() {
        let parent = perms("r0 w5 b7");
        assert_eq!(parent.inherited(None), parent);
        assert_eq!(parent.inherited(Some(7)).entries(), ["r7", "w5"]);
    }
}
