//! Annotated tag objects.

use super::commit::{parse_id, split_headers, write_extra_headers};
use super::{HashKind, ObjectError, ObjectId, ObjectKind, Signature};

/// An annotated tag. A signature, if any, is part of the message, as in Git.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tag {
    pub object: ObjectId,
    pub target_kind: ObjectKind,
    pub name: String,
    pub tagger: Option<Signature>,
    pub extra_headers: Vec<(String, Vec<u8>)>,
    pub message: Vec<u8>,
}

impl Tag {
    pub fn parse(hash: HashKind, data: &[u8]) -> Result<Tag, ObjectError> {
        let err = |offset, reason: &str| ObjectError::new(ObjectKind::Tag, offset, reason);
        let (headers, message, _) = split_headers(data).map_err(|(o, r)| err(o, r))?;
        let mut object = None;
        let mut target_kind = None;
        let mut name = None;
        let mut tagger = None;
        let mut extra_headers = Vec::new();
        for (offset, key, value) in headers {
            match key.as_str() {
                "object" if object.is_none() => {
                    object = Some(parse_id(hash, &value).ok_or_else(|| err(offset, "bad object id"))?)
                }
                "type" if target_kind.is_none() => {
                    target_kind = Some(ObjectKind::from_bytes(&value).ok_or_else(|| err(offset, "bad type"))?)
                }
                "tag" if name.is_none() => name = Some(String::from_utf8_lossy(&value).into_owned()),
                "tagger" if tagger.is_none() => {
                    tagger = Some(Signature::parse(&value).ok_or_else(|| err(offset, "bad tagger line"))?)
                }
                _ => extra_headers.push((key, value)),
            }
        }
        Ok(Tag {
            object: object.ok_or_else(|| err(0, "missing object header"))?,
            target_kind: target_kind.ok_or_else(|| err(0, "missing type header"))?,
            name: name.ok_or_else(|| err(0, "missing tag header"))?,
            tagger,
            extra_headers,
            message: message.to_vec(),
        })
    }

    pub fn serialize(&self) -> Vec<u8> {
        let mut out = Vec::new();
        out.extend_from_slice(
            format!(
                "object {}\ntype {}\ntag {}\n",
                self.object, self.target_kind, self.name
            )
            .as_bytes(),
        );
        if let Some(t) = &self.tagger {
            out.extend_from_slice(
                format!("tagger {} <{}> {} {}\n", t.name, t.email, t.time, t.zone()).as_bytes(),
            );
        }
        write_extra_headers(&mut out, &self.extra_headers);
        out.push(b'\n');
        out.extend_from_slice(&self.message);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let raw = b"object ce013625030ba8dba906f756967f9e9ca394464a\ntype commit\ntag v1\ntagger T <t@x> 1 +0000\n\nmsg\n";
        let t = Tag::parse(HashKind::Sha1, raw).unwrap();
        assert_eq!(t.name, "v1");
        assert_eq!(t.target_kind, ObjectKind::Commit);
        assert_eq!(t.serialize(), raw);
        assert!(Tag::parse(HashKind::Sha1, b"type commit\n\n").is_err());
    }
}
