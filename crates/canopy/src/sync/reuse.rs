//! Reusing stored pack entries when sending a pack, as `git pack-objects` does: an object kept
//! whole in one of the repository's packs is copied byte for byte (header and zlib stream), and
//! one kept as a delta whose base is also being sent is copied as a REF_DELTA against that base
//! (the receiver resolves it; its hash check still covers every object). Everything else —
//! loose objects, deltas whose base is not sent, anything that does not parse — is inflated and
//! deflated again by the caller. This makes packs as small as the stored ones and saves the
//! inflate/deflate round trip for most objects.
//!
//! The `.idx` files are read here (version 2: fanout, sorted ids, CRCs, 31-bit offsets and the
//! 64-bit table), bounds-checked, and the `.pack` files are memory-mapped; a pack deleted by a
//! concurrent `git gc` stays readable through its mapping.

use std::collections::HashMap;
use std::fs::File;
use std::path::Path;

use memmap2::Mmap;

use crate::object::{HashKind, ObjectId};

struct PackFile {
    pack: Mmap,
    /// Entry offsets, sorted, with the end of the last entry (the trailer's offset) appended.
    offsets: Vec<u64>,
    /// Offset → id, for OFS_DELTA bases.
    by_offset: HashMap<u64, ObjectId>,
}

/// Where stored objects are, for copying their entries.
pub struct Reuse {
    hash: HashKind,
    packs: Vec<PackFile>,
    /// id → (pack, offset)
    index: HashMap<ObjectId, (usize, u64)>,
}

/// How an object can be written from a stored entry.
pub enum Entry<'a> {
    /// The whole entry, header included: copy as is.
    Whole(&'a [u8]),
    /// A delta against `base`: header (type REF_DELTA, the delta's size), the base id, then this
    /// zlib stream.
    Delta {
        base: ObjectId,
        size: u64,
        zlib: &'a [u8],
    },
}

impl Reuse {
    /// Reads every `objects/pack/*.idx` (v2) with its pack; unreadable ones are skipped.
    pub fn open(objects_dir: &Path, hash: HashKind) -> Reuse {
        let mut r = Reuse {
            hash,
            packs: Vec::new(),
            index: HashMap::new(),
        };
        let Ok(dir) = std::fs::read_dir(objects_dir.join("pack")) else {
            return r;
        };
        let mut idxs: Vec<_> = dir
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|x| x == "idx"))
            .collect();
        idxs.sort();
        for idx in idxs {
            if let Some(pf) = open_pack(&idx, hash, &mut r.index, r.packs.len()) {
                r.packs.push(pf);
            }
        }
        r
    }

    pub fn is_empty(&self) -> bool {
        self.index.is_empty()
    }

    /// The stored entry of `id`, if it can be copied: `sent` says whether a delta's base is
    /// part of the same pack.
    pub fn entry(&self, id: &ObjectId, sent: &dyn Fn(&ObjectId) -> bool) -> Option<Entry<'_>> {
        let &(p, offset) = self.index.get(id)?;
        // A delta is reused only against a base taken from the same pack: two packs may hold
        // the same pair as deltas of each other, which would make a cycle.
        let sent = |b: &ObjectId| sent(b) && self.index.get(b).is_some_and(|&(bp, _)| bp == p);
        let pf = &self.packs[p];
        let pos = pf.offsets.binary_search(&offset).ok()?;
        let end = *pf.offsets.get(pos + 1)?;
        let data = pf.pack.get(offset as usize..end as usize)?;
        let mut i = 0usize;
        let mut c = *data.first()?;
        i += 1;
        let kind = (c >> 4) & 7;
        let mut size = u64::from(c & 15);
        let mut shift = 4u32;
        while c & 0x80 != 0 {
            c = *data.get(i)?;
            i += 1;
            if shift > 57 {
                return None;
            }
            size |= u64::from(c & 0x7f) << shift;
            shift += 7;
        }
        match kind {
            1..=4 => Some(Entry::Whole(data)),
            6 => {
                let mut b = *data.get(i)?;
                i += 1;
                let mut off = u64::from(b & 0x7f);
                while b & 0x80 != 0 {
                    b = *data.get(i)?;
                    i += 1;
                    off = off.checked_add(1)?.checked_mul(128)? | u64::from(b & 0x7f);
                }
                let base = *pf.by_offset.get(&offset.checked_sub(off)?)?;
                sent(&base).then_some(Entry::Delta {
                    base,
                    size,
                    zlib: data.get(i..)?,
                })
            }
            7 => {
                let base = ObjectId::from_raw(self.hash, data.get(i..i + self.hash.len())?)?;
                sent(&base).then_some(Entry::Delta {
                    base,
                    size,
                    zlib: data.get(i + self.hash.len()..)?,
                })
            }
            _ => None,
        }
    }
}

impl Reuse {
    /// The base of `id`'s stored delta when it would be reused as a delta (see [`Reuse::entry`]).
    pub fn delta_base(&self, id: &ObjectId, sent: &dyn Fn(&ObjectId) -> bool) -> Option<ObjectId> {
        match self.entry(id, sent)? {
            Entry::Delta { base, .. } => Some(base),
            Entry::Whole(_) => None,
        }
    }

    /// `ids` reordered so that every reused delta comes after its base (so it can be written as
    /// an OFS_DELTA); otherwise in the given order.
    pub fn bases_first(&self, ids: &[ObjectId], sent: &dyn Fn(&ObjectId) -> bool) -> Vec<ObjectId> {
        let mut placed: std::collections::HashSet<ObjectId> =
            std::collections::HashSet::with_capacity(ids.len());
        let mut out = Vec::with_capacity(ids.len());
        for id in ids {
            let mut chain = vec![*id];
            let mut cur = *id;
            while let Some(b) = self.delta_base(&cur, sent) {
                if placed.contains(&b) || chain.contains(&b) || chain.len() > 4096 {
                    break;
                }
                chain.push(b);
                cur = b;
            }
            for x in chain.into_iter().rev() {
                if placed.insert(x) {
                    out.push(x);
                }
            }
        }
        out
    }
}

fn be32(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_be_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

fn open_pack(
    idx_path: &Path,
    hash: HashKind,
    index: &mut HashMap<ObjectId, (usize, u64)>,
    slot: usize,
) -> Option<PackFile> {
    let idx = std::fs::read(idx_path).ok()?;
    let pack_file = File::open(idx_path.with_extension("pack")).ok()?;
    // SAFETY: pack files are immutable once installed (Git and Canopy never rewrite one in
    // place); a deleted pack stays mapped.
    let pack = unsafe { Mmap::map(&pack_file) }.ok()?;
    let hs = hash.len();
    if idx.get(..8)? != b"\xfftOc\x00\x00\x00\x02" || pack.len() < 12 + hs || &pack[..4] != b"PACK" {
        return None;
    }
    let n = be32(&idx, 8 + 255 * 4)? as usize;
    let ids_at = 8 + 1024;
    let crc_at = ids_at + n * hs;
    let off_at = crc_at + n * 4;
    let large_at = off_at + n * 4;
    if idx.len() < large_at + 2 * hs || be32(&pack, 8)? as usize != n {
        return None;
    }
    let large_count = (idx.len() - large_at - 2 * hs) / 8;
    let mut entries: Vec<(u64, ObjectId)> = Vec::with_capacity(n);
    for k in 0..n {
        let id = ObjectId::from_raw(hash, idx.get(ids_at + k * hs..ids_at + (k + 1) * hs)?)?;
        let raw = be32(&idx, off_at + k * 4)?;
        let offset = if raw & 0x8000_0000 != 0 {
            let j = (raw & 0x7fff_ffff) as usize;
            if j >= large_count {
                return None;
            }
            u64::from_be_bytes(idx.get(large_at + j * 8..large_at + j * 8 + 8)?.try_into().ok()?)
        } else {
            u64::from(raw)
        };
        if offset < 12 || offset >= (pack.len() - hs) as u64 {
            return None;
        }
        entries.push((offset, id));
    }
    entries.sort_unstable_by_key(|e| e.0);
    let mut offsets: Vec<u64> = entries.iter().map(|e| e.0).collect();
    offsets.push((pack.len() - hs) as u64);
    let mut by_offset = HashMap::with_capacity(n);
    for (offset, id) in entries {
        by_offset.insert(offset, id);
        index.entry(id).or_insert((slot, offset));
    }
    Some(PackFile {
        pack,
        offsets,
        by_offset,
    })
}
