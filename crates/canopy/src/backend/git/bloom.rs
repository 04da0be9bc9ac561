//! Changed-path Bloom filters, as Git keeps them in the commit-graph (`BIDX`/`BDAT`, Git's
//! `bloom.c`): for each commit, a filter of the paths that differ from its first parent (every
//! changed file and each of its leading directories), so that a walk limited to a path can skip
//! the tree comparison of a commit whose filter says "definitely not changed".
//!
//! Semantics follow Git exactly so that either side reads the other's filters: seeded murmur3
//! (seeds `0x293ae76f` and `0x7e646e2c`), 7 hashes, 10 bits per entry, key `i` is
//! `hash0 + i * hash1`; more than 512 changed paths give a one-byte all-ones filter ("maybe" for
//! every path), none a one-byte empty one. Version 1 filters use Git's original murmur3, which
//! read bytes as signed `char` (on x86): it differs from version 2 only for bytes ≥ 0x80, and
//! version 1 filters are therefore not consulted for such paths (a Git built where `char` is
//! unsigned wrote them differently).

use std::collections::HashSet;

use crate::backend::{ContentAddressable, Result};
use crate::object::{git_name_cmp, Mode, ObjectId, ObjectKind, TreeEntry};

pub const SEED0: u32 = 0x293a_e76f;
pub const SEED1: u32 = 0x7e64_6e2c;
/// Hashes per key and bits per entry Git writes (`BDAT`'s header records them).
pub const NUM_HASHES: u32 = 7;
pub const BITS_PER_ENTRY: u32 = 10;
/// More changed paths than this (files, or files and directories) give the all-ones filter.
pub const MAX_CHANGED_PATHS: usize = 512;

/// Seeded murmur3 (32 bits) as Git's `bloom.c` computes it: `version` 2 is the standard hash,
/// version 1 Git's original one that sign-extended bytes ≥ 0x80.
pub fn murmur3(version: u32, mut seed: u32, data: &[u8]) -> u32 {
    const C1: u32 = 0xcc9e_2d51;
    const C2: u32 = 0x1b87_3593;
    let byte = |b: u8| -> u32 {
        if version == 1 {
            b as i8 as i32 as u32
        } else {
            u32::from(b)
        }
    };
    let mut chunks = data.chunks_exact(4);
    for c in &mut chunks {
        let mut k = byte(c[0]) | (byte(c[1]) << 8) | (byte(c[2]) << 16) | (byte(c[3]) << 24);
        k = k.wrapping_mul(C1).rotate_left(15).wrapping_mul(C2);
        seed ^= k;
        seed = seed.rotate_left(13).wrapping_mul(5).wrapping_add(0xe654_6b64);
    }
    let tail = chunks.remainder();
    if !tail.is_empty() {
        let mut k1 = 0u32;
        for (i, &b) in tail.iter().enumerate().rev() {
            k1 ^= byte(b) << (8 * i);
        }
        k1 = k1.wrapping_mul(C1).rotate_left(15).wrapping_mul(C2);
        seed ^= k1;
    }
    seed ^= data.len() as u32;
    seed ^= seed >> 16;
    seed = seed.wrapping_mul(0x85eb_ca6b);
    seed ^= seed >> 13;
    seed = seed.wrapping_mul(0xc2b2_ae35);
    seed ^= seed >> 16;
    seed
}

/// One path's hashes: the `i`-th is `hash0 + i * hash1`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Key {
    hash0: u32,
    hash1: u32,
}

impl Key {
    pub fn new(version: u32, path: &[u8]) -> Key {
        Key {
            hash0: murmur3(version, SEED0, path),
            hash1: murmur3(version, SEED1, path),
        }
    }

    /// The `i`-th hash.
    pub fn hash(&self, i: u32) -> u32 {
        self.hash0.wrapping_add(i.wrapping_mul(self.hash1))
    }
}

/// The keys a walk limited to `path` tests: the path and each of its leading directories (Git
/// tests them all; a filter lacking any of them cannot have the path). `None` for the root, and
/// for a version 1 filter when the path has bytes ≥ 0x80 (see the module documentation).
pub fn path_keys(version: u32, path: &[u8]) -> Option<Vec<Key>> {
    if path.is_empty() || (version == 1 && path.iter().any(|&b| b >= 0x80)) {
        return None;
    }
    let mut keys = vec![Key::new(version, path)];
    for (i, &b) in path.iter().enumerate().rev() {
        if b == b'/' && i > 0 {
            keys.push(Key::new(version, &path[..i]));
        }
    }
    Some(keys)
}

/// Whether a filter may contain every key: `Some(false)` means the path definitely did not
/// change; `None` for an empty (unusable) filter.
pub fn contains(filter: &[u8], keys: &[Key], num_hashes: u32) -> Option<bool> {
    let bits = filter.len() as u64 * 8;
    if bits == 0 {
        return None;
    }
    for key in keys {
        for i in 0..num_hashes {
            let pos = u64::from(key.hash(i)) % bits;
            if filter[(pos / 8) as usize] & (1 << (pos % 8)) == 0 {
                return Some(false);
            }
        }
    }
    Some(true)
}

/// The filter of a set of changed paths (`None`: too many to list, the all-ones filter).
pub fn filter(version: u32, paths: Option<&HashSet<Vec<u8>>>) -> Vec<u8> {
    let Some(paths) = paths else {
        return vec![0xFF];
    };
    let len = (paths.len() * BITS_PER_ENTRY as usize).div_ceil(8);
    if len == 0 {
        return vec![0];
    }
    let mut data = vec![0u8; len];
    let bits = len as u64 * 8;
    for p in paths {
        let key = Key::new(version, p);
        for i in 0..NUM_HASHES {
            let pos = u64::from(key.hash(i)) % bits;
            data[(pos / 8) as usize] |= 1 << (pos % 8);
        }
    }
    data
}

/// The paths that differ between `old` (none: the empty tree) and `new`, with each changed
/// file's leading directories, as Git computes them for a filter: a recursive tree diff without
/// rename detection. `None` when there are more than [`MAX_CHANGED_PATHS`].
pub fn changed_paths(
    store: &dyn ContentAddressable,
    old: Option<ObjectId>,
    new: ObjectId,
) -> Result<Option<HashSet<Vec<u8>>>> {
    let mut files = Vec::new();
    if !diff(store, old, Some(new), &mut Vec::new(), &mut files)? {
        return Ok(None);
    }
    let mut set = HashSet::with_capacity(files.len() * 2);
    for f in files {
        let mut end = f.len();
        set.insert(f.clone());
        while let Some(slash) = f[..end].iter().rposition(|&c| c == b'/') {
            if !set.insert(f[..slash].to_vec()) {
                break;
            }
            end = slash;
        }
        if set.len() > MAX_CHANGED_PATHS {
            return Ok(None);
        }
    }
    Ok(Some(set))
}

/// Appends the files that differ under `prefix`; false once there are too many.
fn diff(
    store: &dyn ContentAddressable,
    old: Option<ObjectId>,
    new: Option<ObjectId>,
    prefix: &mut Vec<u8>,
    out: &mut Vec<Vec<u8>>,
) -> Result<bool> {
    if old == new {
        return Ok(true);
    }
    let hash = store.hash_kind();
    let entries = |id: Option<ObjectId>| -> Result<Vec<TreeEntry>> {
        match id {
            None => Ok(Vec::new()),
            Some(id) => {
                let data = store.read_kind(&id, ObjectKind::Tree)?;
                Ok(TreeEntry::parse_all(hash, &data).map_err(|e| e.with_id(id))?)
            }
        }
    };
    let (a, b) = (entries(old)?, entries(new)?);
    let (mut i, mut j) = (0, 0);
    while i < a.len() || j < b.len() {
        let order = match (a.get(i), b.get(j)) {
            (Some(x), Some(y)) => git_name_cmp(&x.name, x.mode == Mode::Tree, &y.name, y.mode == Mode::Tree),
            (Some(_), None) => std::cmp::Ordering::Less,
            _ => std::cmp::Ordering::Greater,
        };
        let (gone, came) = match order {
            std::cmp::Ordering::Less => {
                i += 1;
                (Some(&a[i - 1]), None)
            }
            std::cmp::Ordering::Greater => {
                j += 1;
                (None, Some(&b[j - 1]))
            }
            std::cmp::Ordering::Equal => {
                i += 1;
                j += 1;
                if a[i - 1].mode == b[j - 1].mode && a[i - 1].id == b[j - 1].id {
                    continue;
                }
                (Some(&a[i - 1]), Some(&b[j - 1]))
            }
        };
        let name = &gone.or(came).expect("one side has the entry").name;
        let len = prefix.len();
        if len > 0 {
            prefix.push(b'/');
        }
        prefix.extend_from_slice(name);
        let tree = |e: Option<&TreeEntry>| e.filter(|e| e.mode == Mode::Tree).map(|e| e.id);
        let ok = if gone.or(came).is_some_and(|e| e.mode == Mode::Tree) {
            diff(store, tree(gone), tree(came), prefix, out)?
        } else {
            out.push(prefix.clone());
            out.len() <= MAX_CHANGED_PATHS
        };
        prefix.truncate(len);
        if !ok {
            return Ok(false);
        }
    }
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn murmur3_matches_gits_test_vectors() {
        // Git's t0095-bloom.sh (`test-tool bloom get_murmur3`, seed 0).
        assert_eq!(murmur3(2, 0, b""), 0);
        assert_eq!(murmur3(2, 0, b"Hello world!"), 0x627b_0c2c);
        assert_eq!(
            murmur3(2, 0, b"The quick brown fox jumps over the lazy dog"),
            0x2e4f_f723
        );
        assert_eq!(murmur3(2, 0, b"\x99\xaa\xbb\xcc\xdd\xee\xff"), 0xa183_ccfd);
        // Version 1 differs only where a byte has its high bit set.
        assert_eq!(murmur3(1, 0, b"Hello world!"), 0x627b_0c2c);
        assert_ne!(murmur3(1, 0, b"\x99\xaa\xbb\xcc\xdd\xee\xff"), 0xa183_ccfd);
    }

    #[test]
    fn keys_match_gits_for_the_empty_string() {
        // t0095: "compute bloom key for empty string".
        let key = Key::new(2, b"");
        let hashes: Vec<u32> = (0..NUM_HASHES).map(|i| key.hash(i)).collect();
        assert_eq!(
            hashes,
            [0x5615800c, 0x5b966560, 0x61174ab4, 0x66983008, 0x6c19155c, 0x7199fab0, 0x771ae004]
        );
    }

    #[test]
    fn filters_answer_definitely_not_only_for_absent_paths() {
        let paths: HashSet<Vec<u8>> = ["a", "a/b", "a/b/c.txt"]
            .iter()
            .map(|p| p.as_bytes().to_vec())
            .collect();
        let f = filter(2, Some(&paths));
        assert_eq!(f.len(), 4); // 3 entries × 10 bits, rounded up to bytes
        assert_eq!(
            contains(&f, &path_keys(2, b"a/b/c.txt").unwrap(), NUM_HASHES),
            Some(true)
        );
        assert_eq!(contains(&f, &path_keys(2, b"a").unwrap(), NUM_HASHES), Some(true));
        let absent = (0..100)
            .filter(|i| {
                contains(
                    &f,
                    &path_keys(2, format!("x/{i}").as_bytes()).unwrap(),
                    NUM_HASHES,
                ) == Some(false)
            })
            .count();
        assert!(absent > 90, "{absent} of 100 absent paths ruled out");
        assert_eq!(filter(2, None), vec![0xFF]);
        assert_eq!(filter(2, Some(&HashSet::new())), vec![0]);
        assert_eq!(
            contains(&[0xFF], &path_keys(2, b"any").unwrap(), NUM_HASHES),
            Some(true)
        );
        assert_eq!(contains(&[], &path_keys(2, b"any").unwrap(), NUM_HASHES), None);
        assert!(path_keys(1, "é".as_bytes()).is_none());
        assert_eq!(path_keys(2, b"a/b/c").unwrap().len(), 3);
    }
}
