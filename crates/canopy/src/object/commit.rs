//! Commit objects and the identities (`Name <email> <time> <zone>`) they carry.

use std::fmt;

use super::{HashKind, ObjectError, ObjectId, ObjectKind};

/// Who made a change, and when (seconds since the epoch, zone offset in minutes).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Signature {
    pub name: String,
    pub email: String,
    pub time: i64,
    pub offset_minutes: i32,
}

impl Signature {
    /// Parses `Name <email> 1700000000 +0100`, tolerating what Git tolerates.
    pub fn parse(line: &[u8]) -> Option<Signature> {
        let lt = line.iter().position(|&c| c == b'<')?;
        let gt = lt + line[lt..].iter().position(|&c| c == b'>')?;
        let name = String::from_utf8_lossy(trim(&line[..lt])).into_owned();
        let email = String::from_utf8_lossy(&line[lt + 1..gt]).into_owned();
        let rest = std::str::from_utf8(&line[gt + 1..]).ok()?.trim();
        let mut parts = rest.split_whitespace();
        let time: i64 = parts.next()?.parse().ok()?;
        let zone = parts.next().unwrap_or("+0000");
        let offset_minutes = parse_zone(zone)?;
        Some(Signature {
            name,
            email,
            time,
            offset_minutes,
        })
    }

    /// Parses `Name <email>` (as given to `--author`), with the time supplied separately.
    pub fn parse_name_email(s: &str, time: i64, offset_minutes: i32) -> Option<Signature> {
        let lt = s.find('<')?;
        let gt = s.rfind('>')?;
        if gt < lt || !s[gt + 1..].trim().is_empty() {
            return None;
        }
        let name = s[..lt].trim();
        let email = s[lt + 1..gt].trim();
        // `<`, `>` would end the parts early; a control character (NUL, a newline) would break
        // the header line the identity is written on.
        let bad = |c: char| matches!(c, '<' | '>') || c.is_control();
        if name.is_empty() || email.contains(bad) || name.contains(bad) {
            return None;
        }
        Some(Signature {
            name: name.to_string(),
            email: email.to_string(),
            time,
            offset_minutes,
        })
    }

    /// The zone as Git writes it: `+0100`, `-0530`.
    pub fn zone(&self) -> String {
        let sign = if self.offset_minutes < 0 { '-' } else { '+' };
        let m = self.offset_minutes.unsigned_abs();
        format!("{sign}{:02}{:02}", m / 60, m % 60)
    }

    fn write(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(
            format!("{} <{}> {} {}", self.name, self.email, self.time, self.zone()).as_bytes(),
        );
    }
}

impl fmt::Display for Signature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} <{}>", self.name, self.email)
    }
}

fn parse_zone(zone: &str) -> Option<i32> {
    let b = zone.as_bytes();
    if b.len() != 5 || !(b[0] == b'+' || b[0] == b'-') || !b[1..].iter().all(u8::is_ascii_digit) {
        return None;
    }
    let hh: i32 = zone[1..3].parse().ok()?;
    let mm: i32 = zone[3..5].parse().ok()?;
    let m = hh * 60 + mm;
    Some(if b[0] == b'-' { -m } else { m })
}

fn trim(b: &[u8]) -> &[u8] {
    let start = b.iter().position(|c| !c.is_ascii_whitespace()).unwrap_or(b.len());
    let end = b
        .iter()
        .rposition(|c| !c.is_ascii_whitespace())
        .map_or(start, |e| e + 1);
    &b[start..end]
}

/// A commit. Parsing keeps unknown headers (`gpgsig`, `mergetag`, `encoding`, …) with their
/// continuation lines unfolded, so nothing a reader could want is lost.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Commit {
    pub tree: ObjectId,
    pub parents: Vec<ObjectId>,
    pub author: Signature,
    pub committer: Signature,
    /// Headers other than tree/parent/author/committer, in order (`encoding` included).
    pub extra_headers: Vec<(String, Vec<u8>)>,
    pub message: Vec<u8>,
}

impl Commit {
    pub fn parse(hash: HashKind, data: &[u8]) -> Result<Commit, ObjectError> {
        let err = |offset, reason: &str| ObjectError::new(ObjectKind::Commit, offset, reason);
        let (headers, message, _) = split_headers(data).map_err(|(o, r)| err(o, r))?;
        let mut tree = None;
        let mut parents = Vec::new();
        let mut author = None;
        let mut committer = None;
        let mut extra_headers = Vec::new();
        for (offset, key, value) in headers {
            match key.as_str() {
                "tree" if tree.is_none() && parents.is_empty() => {
                    tree = Some(parse_id(hash, &value).ok_or_else(|| err(offset, "bad tree id"))?)
                }
                "parent" if tree.is_some() && author.is_none() => {
                    parents.push(parse_id(hash, &value).ok_or_else(|| err(offset, "bad parent id"))?)
                }
                "author" if tree.is_some() && author.is_none() => {
                    author = Some(Signature::parse(&value).ok_or_else(|| err(offset, "bad author line"))?)
                }
                "committer" if author.is_some() && committer.is_none() => {
                    committer =
                        Some(Signature::parse(&value).ok_or_else(|| err(offset, "bad committer line"))?)
                }
                "tree" | "parent" | "author" | "committer" => {
                    return Err(err(offset, &format!("unexpected '{key}' header")))
                }
                _ => extra_headers.push((key, value)),
            }
        }
        Ok(Commit {
            tree: tree.ok_or_else(|| err(0, "missing tree header"))?,
            parents,
            author: author.ok_or_else(|| err(0, "missing author header"))?,
            committer: committer.ok_or_else(|| err(0, "missing committer header"))?,
            extra_headers,
            message: message.to_vec(),
        })
    }

    /// Serialises a commit Canopy makes. Extra headers are written with Git's continuation rule.
    pub fn serialize(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(256 + self.message.len());
        out.extend_from_slice(b"tree ");
        out.extend_from_slice(self.tree.to_hex().as_bytes());
        out.push(b'\n');
        for p in &self.parents {
            out.extend_from_slice(b"parent ");
            out.extend_from_slice(p.to_hex().as_bytes());
            out.push(b'\n');
        }
        out.extend_from_slice(b"author ");
        self.author.write(&mut out);
        out.extend_from_slice(b"\ncommitter ");
        self.committer.write(&mut out);
        out.push(b'\n');
        write_extra_headers(&mut out, &self.extra_headers);
        out.push(b'\n');
        out.extend_from_slice(&self.message);
        out
    }

    /// The first line of the message, lossily decoded.
    pub fn summary(&self) -> String {
        let msg = String::from_utf8_lossy(&self.message);
        msg.lines().next().unwrap_or("").to_string()
    }
}

/// What a history walk needs of a commit: its tree, parents and committer date, read from the
/// headers without copying identities or the message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommitHeader {
    pub tree: ObjectId,
    pub parents: Vec<ObjectId>,
    /// The committer date, seconds since the epoch.
    pub time: i64,
}

impl CommitHeader {
    /// Reads the headers as Git writes them (`tree`, `parent`s, `author`, `committer`, in that
    /// order). Any other layout, and any malformed commit, goes through [`Commit::parse`], so
    /// the result and the error are the same as from a full parse.
    pub fn parse(hash: HashKind, data: &[u8]) -> Result<CommitHeader, ObjectError> {
        if let Some(header) = CommitHeader::parse_plain(hash, data) {
            return Ok(header);
        }
        let c = Commit::parse(hash, data)?;
        Ok(CommitHeader {
            tree: c.tree,
            parents: c.parents,
            time: c.committer.time,
        })
    }

    fn parse_plain(hash: HashKind, data: &[u8]) -> Option<CommitHeader> {
        let mut lines = data.split(|&c| c == b'\n');
        let tree = parse_id(hash, lines.next()?.strip_prefix(b"tree ")?)?;
        let mut parents = Vec::new();
        let mut line = lines.next()?;
        while let Some(hex) = line.strip_prefix(b"parent ") {
            parents.push(parse_id(hash, hex)?);
            line = lines.next()?;
        }
        let author = line.strip_prefix(b"author ")?;
        let committer = lines.next()?.strip_prefix(b"committer ")?;
        // What the full parse would refuse or read differently (NUL, a continuation line, an
        // author `Signature::parse` rejects) takes the full parse.
        let folded = lines.next()?.first() == Some(&b' ');
        if folded || author.contains(&0) || committer.contains(&0) || signature_time(author).is_none() {
            return None;
        }
        Some(CommitHeader {
            tree,
            parents,
            time: signature_time(committer)?,
        })
    }
}

/// The date of a signature line, accepted exactly when [`Signature::parse`] accepts the line.
fn signature_time(line: &[u8]) -> Option<i64> {
    let lt = line.iter().position(|&c| c == b'<')?;
    let gt = lt + line[lt..].iter().position(|&c| c == b'>')?;
    let rest = std::str::from_utf8(&line[gt + 1..]).ok()?.trim();
    let mut parts = rest.split_whitespace();
    let time: i64 = parts.next()?.parse().ok()?;
    parse_zone(parts.next().unwrap_or("+0000"))?;
    Some(time)
}

pub(super) fn write_extra_headers(out: &mut Vec<u8>, headers: &[(String, Vec<u8>)]) {
    for (k, v) in headers {
        out.extend_from_slice(k.as_bytes());
        out.push(b' ');
        for (i, line) in v.split(|&c| c == b'\n').enumerate() {
            if i > 0 {
                out.extend_from_slice(b"\n ");
            }
            out.extend_from_slice(line);
        }
        out.push(b'\n');
    }
}

pub(super) fn parse_id(hash: HashKind, value: &[u8]) -> Option<ObjectId> {
    let id = ObjectId::from_hex(value)?;
    (id.hash_kind() == hash).then_some(id)
}

type Headers = Vec<(usize, String, Vec<u8>)>;

/// Splits `key value\n` headers (with single-space continuation lines) from the message.
/// Returns the headers (with their byte offsets), the message, and the message's offset.
pub(super) fn split_headers(data: &[u8]) -> Result<(Headers, &[u8], usize), (usize, &'static str)> {
    let mut headers: Headers = Vec::new();
    let mut pos = 0;
    loop {
        if pos >= data.len() {
            return Err((pos, "header block is not terminated by an empty line"));
        }
        let end = data[pos..]
            .iter()
            .position(|&c| c == b'\n')
            .map(|e| pos + e)
            .ok_or((pos, "unterminated header line"))?;
        let line = &data[pos..end];
        if line.contains(&0) {
            return Err((pos, "NUL byte in header"));
        }
        if line.is_empty() {
            let msg_start = end + 1;
            return Ok((headers, &data[msg_start..], msg_start));
        }
        if line[0] == b' ' {
            let (_, _, value) = headers
                .last_mut()
                .ok_or((pos, "continuation line before any header"))?;
            value.push(b'\n');
            value.extend_from_slice(&line[1..]);
        } else {
            let sp = line.iter().position(|&c| c == b' ');
            let (key, value) = match sp {
                Some(sp) => (&line[..sp], &line[sp + 1..]),
                None => (line, &b""[..]),
            };
            let key = std::str::from_utf8(key).map_err(|_| (pos, "header name is not UTF-8"))?;
            headers.push((pos, key.to_string(), value.to_vec()));
        }
        pos = end + 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An identity that would break the header line it is written on is refused; what is
    /// accepted serialises into a commit that parses back.
    #[test]
    fn identities_with_control_characters_are_refused() {
        for bad in [
            "a\0b <x@y>",
            "a <x\0@y>",
            "a\nb <x@y>",
            "a <x@\ry>",
            "a\u{7f} <x@y>",
            "<x@y>",
            "a <x<y>",
        ] {
            assert!(
                Signature::parse_name_email(bad, 0, 0).is_none(),
                "{bad:?} accepted"
            );
        }
        let who = Signature::parse_name_email("  Ann Née  < ann@x.org > ", 5, 60).unwrap();
        assert_eq!((who.name.as_str(), who.email.as_str()), ("Ann Née", "ann@x.org"));
        let mut raw = b"tree 4b825dc642cb6eb9a060e54bf8d69288fbee4904\nauthor ".to_vec();
        who.write(&mut raw);
        raw.extend_from_slice(b"\ncommitter ");
        who.write(&mut raw);
        raw.extend_from_slice(b"\n\nmessage\n");
        let commit = Commit::parse(HashKind::Sha1, &raw).unwrap();
        assert_eq!(commit.author, who);
    }

    const RAW: &[u8] = b"tree 4b825dc642cb6eb9a060e54bf8d69288fbee4904\n\
parent ce013625030ba8dba906f756967f9e9ca394464a\n\
parent ce013625030ba8dba906f756967f9e9ca394464b\n\
author A U Thor <a@example.com> 1700000000 +0130\n\
committer C O Mitter <c@example.com> 1700000001 -0500\n\
encoding ISO-8859-1\n\
gpgsig -----BEGIN PGP SIGNATURE-----\n \n abc\n -----END PGP SIGNATURE-----\n\
\n\
subject\n\nbody\n";

    #[test]
    fn parses_and_round_trips_with_unknown_headers() {
        let c = Commit::parse(HashKind::Sha1, RAW).unwrap();
        assert_eq!(c.parents.len(), 2);
        assert_eq!(c.author.offset_minutes, 90);
        assert_eq!(c.committer.zone(), "-0500");
        assert_eq!(c.extra_headers[0], ("encoding".into(), b"ISO-8859-1".to_vec()));
        assert_eq!(c.extra_headers[1].0, "gpgsig");
        assert_eq!(c.summary(), "subject");
        assert_eq!(c.serialize(), RAW);
    }

    #[test]
    fn header_parse_agrees_with_the_full_parse() {
        let reordered = b"tree 4b825dc642cb6eb9a060e54bf8d69288fbee4904\n\
author A <a@x> 5 +0000\nextra x\ncommitter C <c@x> 7 +0000\n\nm\n";
        let folded = b"tree 4b825dc642cb6eb9a060e54bf8d69288fbee4904\n\
author A <a@x> 5 +0000\ncommitter C <c@x> 7 +0000\n x\n\nm\n";
        let bad_author = b"tree 4b825dc642cb6eb9a060e54bf8d69288fbee4904\n\
author A a@x 5 +0000\ncommitter C <c@x> 7 +0000\n\nm\n";
        for raw in [RAW, &reordered[..], &folded[..], &bad_author[..]] {
            for n in 0..=raw.len() {
                let full = Commit::parse(HashKind::Sha1, &raw[..n]);
                let header = CommitHeader::parse(HashKind::Sha1, &raw[..n]);
                match (&full, &header) {
                    (Ok(c), Ok(h)) => {
                        assert_eq!(
                            (c.tree, &c.parents, c.committer.time),
                            (h.tree, &h.parents, h.time)
                        )
                    }
                    // The header is complete before the commit is: only then may they differ.
                    (Err(_), Ok(_)) => assert!(n < raw.len()),
                    (Ok(_), Err(e)) => panic!("header parse refused a commit: {e}"),
                    (Err(a), Err(b)) => assert_eq!(a, b),
                }
            }
        }
        let h = CommitHeader::parse(HashKind::Sha1, RAW).unwrap();
        assert_eq!((h.parents.len(), h.time), (2, 1700000001));
        assert!(CommitHeader::parse(HashKind::Sha1, &bad_author[..]).is_err());
    }

    #[test]
    fn never_panics_on_truncations() {
        for n in 0..RAW.len() {
            let _ = Commit::parse(HashKind::Sha1, &RAW[..n]);
        }
        assert!(Commit::parse(HashKind::Sha1, b"tree zz\n\n").is_err());
        assert!(Commit::parse(HashKind::Sha256, RAW).is_err());
    }
}
