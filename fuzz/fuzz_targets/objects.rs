//! Object parsers: tree entries, commits, tags, and the `fsck --strict` checks a received object
//! goes through. The first byte picks the kind and the hash; the rest is the object's content.
#![no_main]

use canopy::object::{Commit, HashKind, ObjectKind, Tag, TreeEntry};
use canopy::sync::check::check_object;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&selector, content)) = data.split_first() else {
        return;
    };
    let hash = if selector & 0x80 == 0 {
        HashKind::Sha1
    } else {
        HashKind::Sha256
    };
    let kind = match selector & 3 {
        0 => ObjectKind::Blob,
        1 => ObjectKind::Tree,
        2 => ObjectKind::Commit,
        _ => ObjectKind::Tag,
    };
    match kind {
        ObjectKind::Tree => {
            let _ = TreeEntry::parse_all(hash, content);
        }
        ObjectKind::Commit => {
            if let Ok(c) = Commit::parse(hash, content) {
                let _ = c.summary();
                let _ = Commit::parse(hash, &c.serialize());
            }
        }
        ObjectKind::Tag => {
            if let Ok(t) = Tag::parse(hash, content) {
                let _ = Tag::parse(hash, &t.serialize());
            }
        }
        ObjectKind::Blob => {}
    }
    let _ = check_object(hash, kind, content);
});
