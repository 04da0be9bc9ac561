//! A received pack stream, as `git push`/`fetch` deliver it: indexed in quarantine (entry
//! headers, zlib streams, OFS/REF delta chains, object checks, trailer).
#![no_main]

use canopy::sync::ingest::{Limits, Quarantine};
use canopy::{HashKind, Repo};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let repo = Repo::in_memory(HashKind::Sha1);
    let limits = Limits {
        max_pack_bytes: 1 << 20,
        max_object_bytes: 1 << 20,
    };
    let mut input = data;
    if let Ok(q) = Quarantine::receive(&repo, &mut input, limits, true) {
        let _ = q.len();
    }
});
