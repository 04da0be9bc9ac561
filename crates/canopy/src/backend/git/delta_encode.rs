//! Making deltas: a target expressed as copies from a base plus inserted bytes, in Git's delta
//! format (the inverse of `pack::delta::apply`).
//!
//! The base is indexed by the hash of every 16-byte block at 16-byte steps; the target is scanned
//! with a rolling window, and each hit is extended forwards (and backwards into pending literal
//! bytes) to the longest match. Simple and linear; good enough for trees and small values, which
//! is what a store's history is made of.

use std::collections::HashMap;

const BLOCK: usize = 16;
/// Largest copy one instruction can express with three size bytes.
const MAX_COPY: usize = 0x00ff_ffff;

fn push_varint(out: &mut Vec<u8>, mut v: usize) {
    loop {
        let byte = (v & 0x7f) as u8;
        v >>= 7;
        if v == 0 {
            out.push(byte);
            return;
        }
        out.push(byte | 0x80);
    }
}

fn push_insert(out: &mut Vec<u8>, mut lit: &[u8]) {
    while !lit.is_empty() {
        let n = lit.len().min(127);
        out.push(n as u8);
        out.extend_from_slice(&lit[..n]);
        lit = &lit[n..];
    }
}

fn push_copy(out: &mut Vec<u8>, mut offset: usize, mut len: usize) {
    while len > 0 {
        let n = len.min(MAX_COPY);
        let mut op = 0x80u8;
        let mut args = Vec::with_capacity(7);
        for i in 0..4 {
            let b = ((offset >> (8 * i)) & 0xff) as u8;
            if b != 0 {
                op |= 1 << i;
                args.push(b);
            }
        }
        if n != 0x10000 {
            for i in 0..3 {
                let b = ((n >> (8 * i)) & 0xff) as u8;
                if b != 0 {
                    op |= 0x10 << i;
                    args.push(b);
                }
            }
        }
        out.push(op);
        out.extend_from_slice(&args);
        offset += n;
        len -= n;
    }
}

fn block_hash(b: &[u8]) -> u64 {
    // FNV-1a over one block; collisions are checked by comparing bytes.
    b.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, &c| {
        (h ^ u64::from(c)).wrapping_mul(0x100_0000_01b3)
    })
}

/// A delta turning `base` into `target`, or `None` when it would not be at least a quarter
/// smaller than the target itself (or the base is too large to address).
pub fn encode(base: &[u8], target: &[u8]) -> Option<Vec<u8>> {
    if base.len() < BLOCK || target.len() < BLOCK || base.len() > u32::MAX as usize {
        return None;
    }
    let mut index: HashMap<u64, usize> = HashMap::with_capacity(base.len() / BLOCK);
    for start in (0..=base.len() - BLOCK).step_by(BLOCK) {
        index
            .entry(block_hash(&base[start..start + BLOCK]))
            .or_insert(start);
    }
    let limit = target.len() - target.len() / 4;
    let mut out = Vec::with_capacity(target.len() / 4);
    push_varint(&mut out, base.len());
    push_varint(&mut out, target.len());
    let mut lit_start = 0;
    let mut i = 0;
    while i + BLOCK <= target.len() {
        let found = index
            .get(&block_hash(&target[i..i + BLOCK]))
            .copied()
            .filter(|&b| base[b..b + BLOCK] == target[i..i + BLOCK]);
        let Some(b) = found else {
            i += 1;
            continue;
        };
        // Extend backwards into the pending literal, then forwards.
        let mut back = 0;
        while back < i - lit_start && back < b && base[b - back - 1] == target[i - back - 1] {
            back += 1;
        }
        let (bs, ts) = (b - back, i - back);
        let mut len = BLOCK + back;
        while ts + len < target.len() && bs + len < base.len() && base[bs + len] == target[ts + len] {
            len += 1;
        }
        push_insert(&mut out, &target[lit_start..ts]);
        push_copy(&mut out, bs, len);
        i = ts + len;
        lit_start = i;
        if out.len() > limit {
            return None;
        }
    }
    push_insert(&mut out, &target[lit_start..]);
    (out.len() <= limit).then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::git::pack::delta::apply;

    #[test]
    fn deltas_apply_back_to_the_target() {
        let base: Vec<u8> = (0..5000u32)
            .flat_map(|i| format!("line {i}\n").into_bytes())
            .collect();
        let mut target = base.clone();
        target.splice(1000..1010, b"CHANGED!".iter().copied());
        target.extend_from_slice(b"tail added\n");
        target.drain(20000..20500);
        let delta = encode(&base, &target).expect("similar texts make a small delta");
        assert!(delta.len() < 200, "{}", delta.len());
        assert_eq!(apply(&base, &delta, target.len() as u64).unwrap(), target);
        // Unrelated data makes no delta.
        let other: Vec<u8> = (0..2000u32)
            .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8)
            .collect();
        assert!(encode(&base, &other).is_none());
    }

    #[test]
    fn long_copies_and_odd_offsets_round_trip() {
        let base: Vec<u8> = (0..300_000u32)
            .map(|i| (i % 251) as u8 ^ (i / 7919) as u8)
            .collect();
        let mut target = b"prefix".to_vec();
        target.extend_from_slice(&base[3..]);
        let delta = encode(&base, &target).unwrap();
        assert_eq!(apply(&base, &delta, target.len() as u64).unwrap(), target);
    }
}
