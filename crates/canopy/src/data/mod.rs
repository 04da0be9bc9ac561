//! Ready-made distributed data structures, each kept as ordinary Git trees and blobs at a path
//! of a branch, so that `git show` and `git log -p` display them meaningfully.
//!
//! Every operation is one commit made against the head it read; if another writer moved the
//! branch meanwhile, the operation is merged onto the new head (or, where delivery must be
//! exact, retried), and replicas that worked apart merge by the structures' own rules:
//!
//! | structure | on disk | concurrent changes merge to |
//! |---|---|---|
//! | [`Counter`] | one blob, a decimal integer (`merge=counter`) | the sum of both sides' increments |
//! | [`Register`] | one JSON blob with the value, its time and replica (`merge=register`) | the later write; ties by replica id |
//! | [`Set`] | one blob per element, named by its hash, in a two-level fan-out | both sides' additions, minus both sides' removals |
//! | [`Map`] | a directory per key (`key`, `value`), in a two-level fan-out | per key, with the value type's own merge |
//!
//! A structure that needs a merge driver binds its path to it with a line in the root
//! `.gitattributes`, written in the same commit as its first change (and kept when two replicas
//! add lines concurrently: the store merges `.gitattributes` additions as a union).

mod counter;
mod map;
mod register;
mod set;

pub use counter::{Counted, Counter};
pub use map::Map;
pub use register::{Register, Stamped};
pub use set::Set;

use sha2::{Digest, Sha256};

use crate::path::Path;
use crate::store::{Error, Result, Transaction, View};

/// The root `.gitattributes`.
fn attributes_path() -> Path {
    Path::from_steps([".gitattributes"]).unwrap_or_default()
}

/// The `.gitattributes` pattern that matches exactly `path` (`/a/b`), or an error when the path
/// holds characters a pattern would read as a glob or a separator.
pub(crate) fn anchored_pattern(path: &Path) -> Result<String> {
    let text = path.to_string();
    if path.is_root() || text.bytes().any(|c| b"*?[]\\!\"# \t\r\n".contains(&c)) {
        return Err(Error::InvalidValue {
            path: path.clone(),
            type_name: "structure path",
            reason:
                "a structure's path must be non-empty and free of spaces and of the characters *?[]\\!\"#"
                    .into(),
        });
    }
    Ok(format!("/{text}"))
}

/// Adds `line` to the root `.gitattributes` of `view` within `tx`, unless it is there already.
pub(crate) fn with_attribute(tx: Transaction, view: &View, line: &str) -> Result<Transaction> {
    let path = attributes_path();
    let current = view.get(&path)?.unwrap_or_default();
    if current.split(|&c| c == b'\n').any(|l| l == line.as_bytes()) {
        return Ok(tx);
    }
    let mut next = current;
    if !next.is_empty() && !next.ends_with(b"\n") {
        next.push(b'\n');
    }
    next.extend_from_slice(line.as_bytes());
    next.push(b'\n');
    Ok(tx.set(path, next))
}

/// The two-level fan-out location of an item with `bytes` under `dir`: `dir/ab/cd/<hash>`,
/// where the hash is the first 16 bytes of SHA-256 in hex.
pub(crate) fn fanned_out(dir: &Path, bytes: &[u8]) -> Result<Path> {
    let hex: String = Sha256::digest(bytes)[..16]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    Ok(dir
        .join(hex[..2].as_bytes())?
        .join(hex[2..4].as_bytes())?
        .join(hex.as_bytes())?)
}

/// Every value path below `dir` in `view`, in path order.
pub(crate) fn values_below(view: &View, dir: &Path) -> Result<Vec<Path>> {
    if view.get_tree(dir)?.is_none() {
        return Ok(Vec::new());
    }
    Ok(view
        .paths(dir)?
        .into_iter()
        .filter(|(_, kind)| *kind == crate::tree::EntryKind::Value)
        .map(|(p, _)| p)
        .collect())
}
