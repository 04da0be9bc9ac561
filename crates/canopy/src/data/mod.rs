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
//! | [`Queue`] | one JSON blob per item, named by a time-ordered key, in time buckets; pop receipts (`merge=set`) | pushes of both sides kept, pops of both sides removed, in key order; an item popped on both sides is reported ([`Queue::double_deliveries`]) |
//! | [`Log`] | one JSON blob per entry in `YYYY/MM/DD/HH/` directories | both sides' entries, by time then replica |
//! | [`Rope`] | chunks named by fractional order keys in prefix directories | edits in different chunks both apply; the same chunk by the `text` rule |
//!
//! A structure that needs a merge driver binds its path to it with a line in the root
//! `.gitattributes`, written in the same commit as its first change (and kept when two replicas
//! add lines concurrently: the store merges `.gitattributes` additions as a union).
//!
//! Delivery is exact where a structure promises it on one branch (a queue's pop is a
//! compare-and-swap), but these structures do not lock across replicas: a queue item popped on
//! two disconnected replicas is delivered twice, and reported; see [`Queue`].

mod counter;
mod log;
mod map;
mod queue;
mod register;
mod rope;
mod set;

pub use counter::{Counted, Counter};
pub use log::{Log, LogCursor, LogEntry};
pub use map::Map;
pub use queue::{DoubleDelivery, Item, Queue};
pub use register::{Register, Stamped};
pub use rope::{Rope, SpliceStats};
pub use set::Set;

use std::sync::atomic::{AtomicU64, Ordering};

use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::backend::ContentAddressable;
use crate::object::ObjectId;
use crate::path::Path;
use crate::store::{CommitOptions, Error, Repo, Result, Transaction, View};
use crate::tree::{Entry, Tree};

/// The name of the attributes file at the root of a tree.
const ATTRIBUTES: &str = ".gitattributes";

/// The id of this replica ([`Repo::replica_id`]).
fn replica_id(repo: &Repo) -> String {
    repo.replica_id().to_string()
}

/// A per-process counter, so that keys made in the same microsecond still differ.
fn next_sequence() -> u64 {
    static SEQUENCE: AtomicU64 = AtomicU64::new(0);
    SEQUENCE.fetch_add(1, Ordering::Relaxed)
}

/// Microseconds since the Unix epoch, strictly increasing within the process (a clock that
/// steps back does not reorder this process's keys).
fn now_micros() -> u64 {
    static LAST: AtomicU64 = AtomicU64::new(0);
    let wall = crate::platform::since_epoch().as_micros() as u64;
    let mut last = LAST.load(Ordering::Relaxed);
    loop {
        let next = wall.max(last + 1);
        match LAST.compare_exchange_weak(last, next, Ordering::Relaxed, Ordering::Relaxed) {
            Ok(_) => return next,
            Err(seen) => last = seen,
        }
    }
}

/// A checked replica id: it becomes part of file names and receipt lines.
fn check_replica(id: &str) -> Result<String> {
    let ok = !id.is_empty()
        && id.len() <= 64
        && id
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || c == b'_' || c == b'.');
    if ok {
        Ok(id.to_string())
    } else {
        Err(Error::InvalidBranchName(format!(
            "replica id '{id}': use 1 to 64 of [A-Za-z0-9_.]"
        )))
    }
}

/// The error for stored data that does not have the shape a structure writes.
fn malformed(path: &Path, what: impl std::fmt::Display) -> Error {
    Error::Decode {
        path: path.clone(),
        source: <serde_json::Error as serde::de::Error>::custom(what),
    }
}

/// `value` as pretty JSON text ending in a newline.
fn encode<T: Serialize + ?Sized>(path: &Path, value: &T) -> Result<Vec<u8>> {
    let mut bytes = serde_json::to_vec_pretty(value).map_err(|source| Error::Encode {
        path: path.clone(),
        source,
    })?;
    bytes.push(b'\n');
    Ok(bytes)
}

fn decode<T: DeserializeOwned>(path: &Path, bytes: &[u8]) -> Result<T> {
    serde_json::from_slice(bytes).map_err(|source| Error::Decode {
        path: path.clone(),
        source,
    })
}

/// A `.gitattributes` pattern for `path` followed by the glob `suffix` (`/**`, or nothing for
/// the path itself): anchored at the root by a leading `/`, the path's glob characters escaped;
/// with blanks or quotes in the path, the whole pattern becomes a C-style quoted string.
fn attr_pattern(path: &Path, suffix: &str) -> String {
    let text = path.to_string();
    let mut glob = String::with_capacity(text.len() + suffix.len() + 1);
    glob.push('/');
    for c in text.chars() {
        if matches!(c, '*' | '?' | '[' | '\\') {
            glob.push('\\');
        }
        glob.push(c);
    }
    glob.push_str(suffix);
    if !text.chars().any(|c| c.is_whitespace() || c == '"') {
        return glob;
    }
    // A C-style quoted pattern: unquoting comes first, then the glob escapes apply.
    let mut quoted = String::from("\"");
    for c in glob.chars() {
        match c {
            '\\' => quoted.push_str("\\\\"),
            '"' => quoted.push_str("\\\""),
            '\t' => quoted.push_str("\\t"),
            '\n' => quoted.push_str("\\n"),
            c => quoted.push(c),
        }
    }
    quoted.push('"');
    quoted
}

/// A change to the root `.gitattributes`: what it holds now (`None`: absent) and what it gets.
struct AttributesChange {
    old: Option<Vec<u8>>,
    new: Vec<u8>,
}

/// The `.gitattributes` change that adds `lines` to the file in `view`, if any is missing.
fn attributes_change(view: &View, lines: &[String]) -> Result<Option<AttributesChange>> {
    let path = Path::parse(ATTRIBUTES)?;
    let current = view.get(&path)?;
    let text = current.as_deref().unwrap_or_default();
    let present: Vec<&[u8]> = text.split(|&c| c == b'\n').map(<[u8]>::trim_ascii).collect();
    let missing: Vec<&String> = lines
        .iter()
        .filter(|l| !present.contains(&l.as_bytes()))
        .collect();
    if missing.is_empty() {
        return Ok(None);
    }
    let mut new = text.to_vec();
    if !new.is_empty() && !new.ends_with(b"\n") {
        new.push(b'\n');
    }
    for line in missing {
        new.extend_from_slice(line.as_bytes());
        new.push(b'\n');
    }
    Ok(Some(AttributesChange { old: current, new }))
}

/// Every value below `tree`, `(name, blob id)` in name order, directories walked in name
/// order. Names are those of the values themselves (the directories on the way are dropped).
fn leaves(store: &dyn ContentAddressable, tree: &Tree, out: &mut Vec<(Vec<u8>, ObjectId)>) -> Result<()> {
    for (name, entry) in tree.entries(store)?.iter() {
        match entry {
            Entry::Tree(t) => leaves(store, t, out)?,
            Entry::Value { id, .. } => out.push((name.to_vec(), *id)),
            Entry::Gitlink(_) => {}
        }
    }
    Ok(())
}

/// A Unix time in microseconds as `YYYY-MM-DDTHH:MM:SS.ffffffZ` pieces: (year, month, day,
/// hour, minute, second, microsecond).
fn civil(micros: u64) -> (i64, u32, u32, u32, u32, u32, u32) {
    let secs = (micros / 1_000_000) as i64;
    let micro = (micros % 1_000_000) as u32;
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400) as u32;
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day, rem / 3600, rem / 60 % 60, rem % 60, micro)
}

/// The `.gitattributes` pattern that matches exactly the structure at `path`; the root is
/// refused (a structure lives at a path below it).
pub(crate) fn anchored_pattern(path: &Path) -> Result<String> {
    check_structure_path(path)?;
    Ok(attr_pattern(path, ""))
}

/// Refuses a path no structure can live at: the root, and the attributes file that structures
/// write their merge drivers to (or anything below it, which would make that file a directory).
pub(crate) fn check_structure_path(path: &Path) -> Result<()> {
    let reason = if path.is_root() {
        "a structure needs a path below the root"
    } else if path.steps().next() == Some(ATTRIBUTES.as_bytes()) {
        "the root .gitattributes holds the structures' merge drivers; a structure cannot be it or lie below it"
    } else {
        return Ok(());
    };
    Err(Error::InvalidValue {
        path: path.clone(),
        type_name: "structure path",
        reason: reason.into(),
    })
}

/// Adds `line` to the root `.gitattributes` of `view` within `tx`, unless it is there already.
pub(crate) fn with_attribute(tx: Transaction, view: &View, line: &str) -> Result<Transaction> {
    Ok(match attributes_change(view, &[line.to_string()])? {
        Some(change) => tx.set(Path::parse(ATTRIBUTES)?, change.new),
        None => tx,
    })
}

/// The options of one commit of a structure: the handle's template (see `with_commit`), with
/// `default` as the message when the template has none.
fn commit_options(template: &CommitOptions, default: impl FnOnce() -> String) -> CommitOptions {
    let mut opts = template.clone();
    if opts.message.is_empty() {
        opts.message = default();
    }
    opts
}

/// The two-level fan-out location of an item with `bytes` under `dir`: `dir/ab/cd/<hash>`,
/// where the hash is the first 16 bytes of SHA-256 in hex.
pub(crate) fn fanned_out(dir: &Path, bytes: &[u8]) -> Result<Path> {
    use sha2::{Digest, Sha256};
    let hex: String = Sha256::digest(bytes)[..16]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    Ok(dir
        .join(&hex.as_bytes()[..2])?
        .join(&hex.as_bytes()[2..4])?
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_dates() {
        assert_eq!(civil(0), (1970, 1, 1, 0, 0, 0, 0));
        // 2024-02-29T23:59:59.5Z
        assert_eq!(civil(1_709_251_199_500_000), (2024, 2, 29, 23, 59, 59, 500_000));
        assert_eq!(civil(951_782_400_000_000), (2000, 2, 29, 0, 0, 0, 0));
    }

    #[test]
    fn attribute_patterns_match_only_their_path() {
        use crate::merge::Attributes;
        for p in [
            "jobs/popped",
            "a b/popped",
            "we*ird?/[x]/popped",
            "q\"uote/popped",
        ] {
            let path = Path::parse(p).unwrap();
            let line = format!("{} merge=set\n", attr_pattern(&path, "/**"));
            let attrs = Attributes::parse(line.as_bytes());
            assert_eq!(
                attrs.merge_attr(format!("{p}/x/y")).merge_driver(),
                Some("set"),
                "{line}"
            );
            assert_eq!(attrs.merge_attr("other/x").merge_driver(), None, "{line}");
        }
    }

    #[test]
    fn monotonic_clock() {
        let a = now_micros();
        let b = now_micros();
        assert!(b > a);
    }
}
