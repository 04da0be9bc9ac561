//! Printing: plain lines for people and scripts, JSON with `--json`.

use std::io::Write;

use canopy::object::escape_bytes;
use serde_json::Value;

/// Writes lines to stdout, ignoring a closed pipe (`canopy tree | head`).
pub fn lines<I: IntoIterator<Item = String>>(lines: I) {
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    for l in lines {
        if writeln!(out, "{l}").is_err() {
            return;
        }
    }
    let _ = out.flush();
}

pub fn raw(bytes: &[u8]) {
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(bytes).and_then(|_| out.flush());
}

pub fn json(v: &Value) {
    lines([v.to_string()]);
}

/// A name for display: UTF-8 as is, other bytes escaped.
pub fn name(bytes: &[u8]) -> String {
    escape_bytes(bytes)
}

/// A value as JSON: `{"value": "..."}` if it is UTF-8 text, else `{"value_base64": "..."}`.
pub fn value_json(bytes: &[u8]) -> (&'static str, Value) {
    match std::str::from_utf8(bytes) {
        Ok(s) => ("value", Value::String(s.to_string())),
        Err(_) => ("value_base64", Value::String(base64(bytes))),
    }
}

fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [chunk[0], *chunk.get(1).unwrap_or(&0), *chunk.get(2).unwrap_or(&0)];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[(n >> (18 - 6 * i)) as usize & 63] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn base64_matches_rfc4648() {
        assert_eq!(super::base64(b""), "");
        assert_eq!(super::base64(b"f"), "Zg==");
        assert_eq!(super::base64(b"fo"), "Zm8=");
        assert_eq!(super::base64(b"foobar"), "Zm9vYmFy");
    }
}
