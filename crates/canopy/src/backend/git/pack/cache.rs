//! A small least-recently-used cache of delta bases, keyed by (pack serial, entry offset), so
//! reading many objects of one delta chain does not rebuild the chain from its root each time.
//! Bounded both in bytes and in entries; the least recently used entry is found through an
//! ordered index of last uses (a history walk reads hundreds of thousands of objects, each put
//! evicting one base: a scan of every entry per put was most of such a walk's time).

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use crate::object::ObjectKind;

/// Total bytes of cached bases.
const MAX_BYTES: usize = 32 << 20;
/// Number of cached bases.
const MAX_ENTRIES: usize = 512;
/// Larger bases are not cached (they would evict everything else).
const MAX_OBJECT: usize = MAX_BYTES / 4;

/// A resolved base: its kind, bytes, and how many deltas deep it sits in its chain.
#[derive(Clone)]
pub(super) struct Base {
    pub kind: ObjectKind,
    pub data: Arc<Vec<u8>>,
    pub depth: usize,
}

#[derive(Default)]
pub(super) struct BaseCache {
    map: HashMap<(u64, usize), (Base, u64)>,
    /// Last use → key, oldest first.
    uses: BTreeMap<u64, (u64, usize)>,
    bytes: usize,
    tick: u64,
}

impl BaseCache {
    pub fn get(&mut self, pack: u64, offset: usize) -> Option<Base> {
        self.tick += 1;
        let tick = self.tick;
        let (base, used) = self.map.get_mut(&(pack, offset))?;
        self.uses.remove(used);
        *used = tick;
        self.uses.insert(tick, (pack, offset));
        Some(base.clone())
    }

    pub fn put(&mut self, pack: u64, offset: usize, base: Base) {
        let len = base.data.len();
        if len > MAX_OBJECT {
            return;
        }
        self.tick += 1;
        if let Some((old, used)) = self.map.insert((pack, offset), (base, self.tick)) {
            self.bytes -= old.data.len();
            self.uses.remove(&used);
        }
        self.uses.insert(self.tick, (pack, offset));
        self.bytes += len;
        while self.bytes > MAX_BYTES || self.map.len() > MAX_ENTRIES {
            let Some((_, oldest)) = self.uses.pop_first() else {
                break;
            };
            if let Some((old, _)) = self.map.remove(&oldest) {
                self.bytes -= old.data.len();
            }
        }
    }

    /// Drops the bases of packs that are no longer in the set.
    pub fn retain_packs(&mut self, keep: impl Fn(u64) -> bool) {
        let mut bytes = self.bytes;
        self.map.retain(|(pack, _), (base, _)| {
            let kept = keep(*pack);
            if !kept {
                bytes -= base.data.len();
            }
            kept
        });
        self.uses.retain(|_, (pack, _)| keep(*pack));
        self.bytes = bytes;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base(len: usize) -> Base {
        Base {
            kind: ObjectKind::Blob,
            data: Arc::new(vec![0; len]),
            depth: 0,
        }
    }

    #[test]
    fn evicts_least_recently_used_within_bounds() {
        let mut c = BaseCache::default();
        for i in 0..MAX_ENTRIES + 10 {
            c.put(1, i, base(1));
            c.get(1, 0); // keep entry 0 hot
        }
        assert_eq!(c.map.len(), MAX_ENTRIES);
        assert!(c.get(1, 0).is_some());
        assert!(c.get(1, 1).is_none());
        c.put(1, 0, base(MAX_OBJECT + 1)); // too big: ignored, old value kept
        assert_eq!(c.get(1, 0).map(|b| b.data.len()), Some(1));
        for i in 0..8 {
            c.put(2, i, base(MAX_OBJECT));
        }
        assert!(c.bytes <= MAX_BYTES);
        c.retain_packs(|p| p == 1);
        assert!(c.map.keys().all(|(p, _)| *p == 1));
        assert_eq!(c.bytes, c.map.values().map(|(b, _)| b.data.len()).sum::<usize>());
        assert_eq!(c.uses.len(), c.map.len());
    }
}
