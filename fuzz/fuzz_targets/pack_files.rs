//! A pack and its `.idx` on disk, read as the object store reads them and verified as `fsck`
//! does. Input: a 4-byte big-endian length of the index, the index, then the pack.
#![no_main]

use canopy::backend::git::pack::verify;
use canopy::HashKind;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if data.len() < 4 {
        return;
    }
    let n = u32::from_be_bytes([data[0], data[1], data[2], data[3]]) as usize;
    let rest = &data[4..];
    let (idx, pack) = rest.split_at(n.min(rest.len()));
    let Ok(dir) = tempfile::tempdir() else { return };
    let stem = "pack-0000000000000000000000000000000000000000";
    if std::fs::write(dir.path().join(format!("{stem}.idx")), idx).is_err()
        || std::fs::write(dir.path().join(format!("{stem}.pack")), pack).is_err()
    {
        return;
    }
    let none = |_: &canopy::ObjectId| Ok(None);
    let _ = verify(dir.path(), stem, HashKind::Sha1, &none, &mut |_, _| {});
    // The ordinary read path too.
    if let Ok(objects) = canopy::backend::git::GitObjects::open(dir.path(), HashKind::Sha1, false) {
        use canopy::backend::ContentAddressable;
        if let Ok(ids) = objects.ids_with_prefix("") {
            for id in ids.iter().take(64) {
                let _ = objects.read(id);
            }
        }
    }
});
