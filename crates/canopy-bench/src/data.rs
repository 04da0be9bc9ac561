//! The data every peer gets: the same keys, values, dates and random read order.

use std::io::Write;

/// First commit date of every generated history (2023-11-14).
pub const FIRST_DATE: i64 = 1_700_000_000;

fn splitmix64(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

/// Key `i`: `k/<first byte>/<16 hex digits>`, spread over 256 directories.
pub fn key(i: u64) -> String {
    let h = splitmix64(i);
    format!("k/{:02x}/{h:016x}", h >> 56)
}

pub fn value(i: u64, generation: u32) -> String {
    format!("value {i} generation {generation}\n")
}

/// `n` indices below `len`, the same sequence in every run.
pub fn random_indices(n: usize, len: usize) -> Vec<usize> {
    (0..n as u64)
        .map(|i| (splitmix64(i ^ 0x5eed) % len as u64) as usize)
        .collect()
}

/// A `git fast-import` stream: one commit per `(key, value)` on `refs/heads/main`, or (with
/// `one_commit`) every pair in a single commit.
pub fn fast_import_stream(pairs: &[(String, String)], one_commit: bool) -> Vec<u8> {
    let mut out = Vec::with_capacity(pairs.len() * 160);
    let commit = |out: &mut Vec<u8>, n: usize, msg: &str| {
        let _ = write!(
            out,
            "commit refs/heads/main\ncommitter Bench <bench@example.com> {} +0000\ndata {}\n{msg}\n",
            FIRST_DATE + n as i64,
            msg.len()
        );
    };
    if one_commit {
        commit(&mut out, 0, "bulk load");
    }
    for (n, (k, v)) in pairs.iter().enumerate() {
        if !one_commit {
            commit(&mut out, n, &format!("set {k}"));
        }
        let _ = write!(out, "M 100644 inline {k}\ndata {}\n{v}\n", v.len());
    }
    out
}

/// The same pairs as JSON lines for `canopy import`.
pub fn jsonl(pairs: &[(String, String)]) -> Vec<u8> {
    let mut out = Vec::with_capacity(pairs.len() * 80);
    for (k, v) in pairs {
        let line = serde_json::json!({"path": k, "value": v});
        let _ = writeln!(out, "{line}");
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn keys_look_like_the_issue_says() {
        let k = super::key(7);
        let parts: Vec<&str> = k.split('/').collect();
        assert_eq!(parts.len(), 3);
        assert_eq!(parts[0], "k");
        assert!(parts[2].starts_with(parts[1]));
    }
}
