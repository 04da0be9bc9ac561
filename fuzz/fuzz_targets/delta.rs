//! Git's delta format: a base and a delta, applied with a size limit. Input: a 2-byte length
//! of the base, the base, then the delta.
#![no_main]

use canopy::backend::git::pack::delta::apply;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if data.len() < 2 {
        return;
    }
    let n = u16::from_be_bytes([data[0], data[1]]) as usize;
    let rest = &data[2..];
    let (base, delta) = rest.split_at(n.min(rest.len()));
    if let Ok(out) = apply(base, delta, 1 << 20) {
        assert!(out.len() <= 1 << 20);
    }
});
