//! `canopy fsck [--repair]` as a user meets it: silent and exit 0 on a sound store, one
//! `error: <kind> <subject>: <message>` line per problem and exit 3 on a damaged one (even one
//! whose pack is too damaged to open), `--json`, and a repair after which `git fsck --strict` is
//! clean and every good value reads back.

mod common;

use std::fs;
use std::path::Path;

use common::Sandbox;

fn writable(path: &Path) {
    let mut perms = fs::metadata(path).unwrap().permissions();
    #[allow(clippy::permissions_set_readonly_false)]
    perms.set_readonly(false);
    fs::set_permissions(path, perms).unwrap();
}

fn loose(store: &Path, hex: &str) -> std::path::PathBuf {
    store.join("objects").join(&hex[..2]).join(&hex[2..])
}

#[test]
fn clean_store_then_damage_found_and_repaired() {
    let sb = Sandbox::new();
    let store = sb.init_store("s", "sha1");
    sb.canopy_ok(&store, &["set", "a", "one"]);
    sb.canopy_ok(&store, &["set", "dir/b", "two"]);
    let good = sb.rev_parse(&store, "main");
    sb.canopy_ok(&store, &["set", "dir/c", "three"]);
    let run = sb.canopy(&store, &["fsck"]).ok();
    assert!(!run.out().contains("error"), "{run:?}");

    // A flipped byte in the newest blob, stored loose (as git stores it).
    sb.unpack_all(&store);
    let blob = sb.git_str(&store, &["rev-parse", "main:dir/c"]);
    let path = loose(&store, &blob);
    writable(&path);
    let mut bytes = fs::read(&path).unwrap();
    let at = bytes.len() - 6;
    bytes[at] ^= 1;
    fs::write(&path, &bytes).unwrap();

    let run = sb.canopy(&store, &["fsck"]).code(3);
    run.assert_no_panic();
    let prefix = format!("error: corruptObject {blob}: ");
    assert!(run.lines().iter().any(|l| l.starts_with(&prefix)), "{run:?}");
    let json = sb.canopy(&store, &["--json", "fsck"]).code(3).json();
    let findings = json["findings"].as_array().unwrap();
    assert!(findings
        .iter()
        .any(|f| f["kind"] == "corruptObject" && f["severity"] == "error" && f["subject"] == blob.as_str()));

    let run = sb.canopy(&store, &["fsck", "--repair"]).ok();
    assert!(run.out().contains("repair: moved-ref refs/heads/main"), "{run:?}");
    assert!(run.out().contains("repair: quarantined"), "{run:?}");
    assert_eq!(sb.rev_parse(&store, "main"), good);
    sb.assert_fsck_clean(&store);
    sb.canopy(&store, &["fsck"]).ok();
    assert_eq!(sb.canopy_ok(&store, &["get", "a"]), "one");
    assert_eq!(sb.canopy_ok(&store, &["get", "dir/b"]), "two");
}

#[test]
fn a_pack_too_damaged_to_open_is_reported_and_repaired() {
    let sb = Sandbox::new();
    let store = sb.init_store("s", "sha1");
    for i in 0..5 {
        sb.canopy_ok(&store, &["set", &format!("k{i}"), &format!("value {i}")]);
    }
    sb.canopy(&store, &["gc", "--grace", "now"]).ok();
    let pack = fs::read_dir(store.join("objects/pack"))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .find(|p| p.extension().is_some_and(|e| e == "pack"))
        .unwrap();
    writable(&pack);
    let mut bytes = fs::read(&pack).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0xff;
    fs::write(&pack, &bytes).unwrap();
    sb.canopy(&store, &["get", "k0"]).code(3).assert_one_line_error();
    // Ordinary commands refuse the store; fsck still runs and names the pack.
    let run = sb.canopy(&store, &["fsck"]).code(3);
    run.assert_no_panic();
    assert!(
        run.lines()
            .iter()
            .any(|l| l.starts_with("error: badPack objects/pack/pack-")),
        "{run:?}"
    );
    // Only the trailer was damaged: every object is salvaged, nothing is lost.
    let run = sb.canopy(&store, &["fsck", "--repair"]).ok();
    assert!(run.out().contains("repair: salvaged"), "{run:?}");
    sb.assert_fsck_clean(&store);
    for i in 0..5 {
        let key = format!("k{i}");
        assert_eq!(sb.canopy_ok(&store, &["get", &key]), format!("value {i}"));
    }
}
