//! Object ids and the two hash functions Git repositories use.

use std::fmt;

use sha1::Digest;

use super::ObjectKind;

/// The object format of a repository: SHA-1 (Git's default) or SHA-256.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub enum HashKind {
    #[default]
    Sha1,
    Sha256,
}

#[allow(clippy::len_without_is_empty)]
impl HashKind {
    /// Length of a raw id in bytes (20 or 32).
    pub fn len(self) -> usize {
        match self {
            HashKind::Sha1 => 20,
            HashKind::Sha256 => 32,
        }
    }

    /// Length of an id in hex (40 or 64).
    pub fn hex_len(self) -> usize {
        self.len() * 2
    }

    /// The name used by `extensions.objectFormat` and `--object-format`.
    pub fn name(self) -> &'static str {
        match self {
            HashKind::Sha1 => "sha1",
            HashKind::Sha256 => "sha256",
        }
    }

    pub fn from_name(name: &str) -> Option<HashKind> {
        match name.to_ascii_lowercase().as_str() {
            "sha1" => Some(HashKind::Sha1),
            "sha256" => Some(HashKind::Sha256),
            _ => None,
        }
    }

    /// The all-zero id, Git's "no object".
    pub fn null_id(self) -> ObjectId {
        ObjectId {
            kind: self,
            bytes: [0; 32],
        }
    }

    /// The id of the empty tree.
    pub fn empty_tree(self) -> ObjectId {
        ObjectId::for_object(self, ObjectKind::Tree, b"")
    }

    /// A streaming hasher for this format.
    pub fn hasher(self) -> Hasher {
        match self {
            HashKind::Sha1 => Hasher::Sha1(sha1::Sha1::new()),
            HashKind::Sha256 => Hasher::Sha256(sha2::Sha256::new()),
        }
    }
}

/// A streaming hash of either format.
#[derive(Clone)]
pub enum Hasher {
    Sha1(sha1::Sha1),
    Sha256(sha2::Sha256),
}

impl Hasher {
    pub fn update(&mut self, data: &[u8]) {
        match self {
            Hasher::Sha1(h) => h.update(data),
            Hasher::Sha256(h) => h.update(data),
        }
    }

    pub fn finish(self) -> ObjectId {
        let mut bytes = [0u8; 32];
        let kind = match self {
            Hasher::Sha1(h) => {
                bytes[..20].copy_from_slice(&h.finalize());
                HashKind::Sha1
            }
            Hasher::Sha256(h) => {
                bytes.copy_from_slice(&h.finalize());
                HashKind::Sha256
            }
        };
        ObjectId { kind, bytes }
    }
}

/// An object id of either format. Small and `Copy`.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ObjectId {
    kind: HashKind,
    bytes: [u8; 32],
}

impl ObjectId {
    /// The id Git gives an object of `kind` with content `data`.
    pub fn for_object(hash: HashKind, kind: ObjectKind, data: &[u8]) -> ObjectId {
        let mut h = hash.hasher();
        h.update(kind.as_str().as_bytes());
        h.update(b" ");
        h.update(data.len().to_string().as_bytes());
        h.update(b"\0");
        h.update(data);
        h.finish()
    }

    /// An id from raw bytes; `None` unless `raw` has the format's length.
    pub fn from_raw(hash: HashKind, raw: &[u8]) -> Option<ObjectId> {
        if raw.len() != hash.len() {
            return None;
        }
        let mut bytes = [0u8; 32];
        bytes[..raw.len()].copy_from_slice(raw);
        Some(ObjectId { kind: hash, bytes })
    }

    /// An id from full-length lowercase or uppercase hex; the format follows from the length.
    pub fn from_hex(hex: &[u8]) -> Option<ObjectId> {
        let kind = match hex.len() {
            40 => HashKind::Sha1,
            64 => HashKind::Sha256,
            _ => return None,
        };
        let mut bytes = [0u8; 32];
        for (i, pair) in hex.chunks_exact(2).enumerate() {
            bytes[i] = (hex_val(pair[0])? << 4) | hex_val(pair[1])?;
        }
        Some(ObjectId { kind, bytes })
    }

    pub fn hash_kind(&self) -> HashKind {
        self.kind
    }

    /// The raw id bytes (20 or 32).
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes[..self.kind.len()]
    }

    pub fn is_null(&self) -> bool {
        self.as_bytes().iter().all(|&b| b == 0)
    }

    pub fn to_hex(&self) -> String {
        let mut s = String::with_capacity(self.kind.hex_len());
        for b in self.as_bytes() {
            s.push(HEX[(b >> 4) as usize] as char);
            s.push(HEX[(b & 15) as usize] as char);
        }
        s
    }

    /// The first `n` hex digits.
    pub fn short(&self, n: usize) -> String {
        let mut s = self.to_hex();
        s.truncate(n);
        s
    }
}

const HEX: &[u8; 16] = b"0123456789abcdef";

fn hex_val(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

impl fmt::Display for ObjectId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

/// Ids serialise as their hex form.
impl serde::Serialize for ObjectId {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_hex())
    }
}

impl<'de> serde::Deserialize<'de> for ObjectId {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<ObjectId, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        ObjectId::from_hex(s.as_bytes()).ok_or_else(|| serde::de::Error::custom("not a full hex object id"))
    }
}

impl fmt::Debug for ObjectId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ObjectId({})", self.to_hex())
    }
}

/// Object ids are uniformly distributed already: hashing them again (SipHash) is wasted work.
#[derive(Default, Clone, Copy)]
pub(crate) struct IdHash;

impl std::hash::BuildHasher for IdHash {
    type Hasher = IdHasher;

    fn build_hasher(&self) -> IdHasher {
        IdHasher(0)
    }
}

/// Folds every word written into the state (FxHash's mixing step).
pub(crate) struct IdHasher(u64);

impl std::hash::Hasher for IdHasher {
    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut word = [0u8; 8];
            word[..chunk.len()].copy_from_slice(chunk);
            self.write_u64(u64::from_le_bytes(word));
        }
    }

    fn write_u64(&mut self, word: u64) {
        self.0 = (self.0.rotate_left(5) ^ word).wrapping_mul(0x517c_c1b7_2722_0a95);
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

/// A map keyed by object id, with [`IdHash`].
pub(crate) type IdMap<V> = std::collections::HashMap<ObjectId, V, IdHash>;
/// A set of object ids, with [`IdHash`].
pub(crate) type IdSet = std::collections::HashSet<ObjectId, IdHash>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_tree_ids_match_git() {
        assert_eq!(
            HashKind::Sha1.empty_tree().to_hex(),
            "4b825dc642cb6eb9a060e54bf8d69288fbee4904"
        );
        assert_eq!(
            HashKind::Sha256.empty_tree().to_hex(),
            "6ef19b41225c5369f1c104d45d8d85efa9b057b53b14b4b9b939dd74decc5321"
        );
    }

    #[test]
    fn hex_round_trip_and_rejects() {
        let id = ObjectId::for_object(HashKind::Sha1, ObjectKind::Blob, b"hello\n");
        assert_eq!(id.to_hex(), "ce013625030ba8dba906f756967f9e9ca394464a");
        assert_eq!(ObjectId::from_hex(id.to_hex().as_bytes()), Some(id));
        assert_eq!(ObjectId::from_hex(b"zz"), None);
        assert_eq!(ObjectId::from_hex(&[b'g'; 40]), None);
    }
}
