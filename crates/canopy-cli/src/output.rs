//! Printing: plain lines for people and scripts, JSON with `--json`.

use std::io::Write;

use canopy::object::escape_bytes;

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

/// One JSON document on a line: a shape of `canopy_wire`, the same one the REST API or the
/// other `--json` commands use for the same thing.
pub fn json<T: serde::Serialize + ?Sized>(v: &T) {
    let text = serde_json::to_string(v).expect("wire shapes serialize");
    lines([text]);
}

/// One JSON document per line (`canopy queue list`, `journal read`).
pub fn json_lines<T: serde::Serialize>(items: impl IntoIterator<Item = T>) {
    lines(
        items
            .into_iter()
            .map(|v| serde_json::to_string(&v).expect("wire shapes serialize")),
    );
}

/// A name for display: UTF-8 as is, other bytes escaped.
pub fn name(bytes: &[u8]) -> String {
    escape_bytes(bytes)
}
