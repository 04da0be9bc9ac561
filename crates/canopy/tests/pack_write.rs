//! Packs written by Canopy, checked by the real `git`: `index-pack --strict` rebuilds the same
//! index, `verify-pack` accepts it, `fsck --strict` is clean, and `git cat-file` reads every
//! object back.

use std::path::Path;
use std::process::Command;

use canopy::backend::git::RepoLayout;
use canopy::backend::ContentAddressable;
use canopy::object::{Commit, HashKind, Mode, ObjectKind, Signature, TreeEntry};

fn git(dir: &Path, args: &[&str]) -> (bool, String) {
    let out = Command::new("git")
        .current_dir(dir)
        .args(args)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("HOME", dir)
        .output()
        .expect("git runs");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

fn author(offset_minutes: i32) -> Signature {
    Signature {
        name: "A U Thor".into(),
        email: "a@example.com".into(),
        time: 1_700_000_000,
        offset_minutes,
    }
}

fn check(hash: HashKind) {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("store");
    let layout = RepoLayout::init(&root, hash, "main").unwrap();
    let objects = layout.objects().unwrap();
    let mut w = objects.begin_pack().unwrap();
    let mut entries = Vec::new();
    let mut blobs = Vec::new();
    for i in 0..300u32 {
        // Mixed sizes, including one that needs a multi-byte size header.
        let data = format!("value {i}\n").repeat(1 + (i as usize % 7) * 40);
        let id = w.add(ObjectKind::Blob, data.as_bytes()).unwrap();
        blobs.push((id, data));
        entries.push(TreeEntry {
            mode: Mode::File,
            name: format!("k{i:04}").into_bytes(),
            id,
        });
    }
    let sub = w
        .add(ObjectKind::Tree, &TreeEntry::serialize(&mut entries))
        .unwrap();
    let mut top = vec![TreeEntry {
        mode: Mode::Tree,
        name: b"dir".to_vec(),
        id: sub,
    }];
    let root_tree = w.add(ObjectKind::Tree, &TreeEntry::serialize(&mut top)).unwrap();
    let who = author(60);
    let commit = Commit {
        tree: root_tree,
        parents: vec![],
        author: who.clone(),
        committer: who,
        extra_headers: vec![],
        message: b"packed\n".to_vec(),
    };
    let commit_id = w.add(ObjectKind::Commit, &commit.serialize()).unwrap();
    let info = w.finish().unwrap().expect("a pack");
    assert_eq!(info.objects, 303);
    assert!(info.pack.exists() && info.idx.exists());
    let pack_dir = root.join("objects/pack");
    let names: Vec<String> = std::fs::read_dir(&pack_dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(names.iter().all(|n| !n.starts_with("tmp_")), "{names:?}");

    // Canopy reads its own pack.
    assert_eq!(
        objects.read(&blobs[7].0).unwrap().unwrap().data,
        blobs[7].1.as_bytes()
    );

    std::fs::write(root.join("refs/heads/main"), format!("{commit_id}\n")).unwrap();
    let pack = info.pack.to_str().unwrap();
    let (ok, out) = git(&root, &["verify-pack", "-v", pack]);
    assert!(ok, "verify-pack: {out}");
    // index-pack --strict on a copy rebuilds an identical index.
    let copy = tmp.path().join("copy.pack");
    std::fs::copy(&info.pack, &copy).unwrap();
    let fmt = format!("--object-format={}", hash.name());
    let (ok, out) = git(&root, &["index-pack", "--strict", &fmt, copy.to_str().unwrap()]);
    assert!(ok, "index-pack --strict: {out}");
    assert_eq!(out.trim(), info.checksum.to_hex());
    assert_eq!(
        std::fs::read(tmp.path().join("copy.idx")).unwrap(),
        std::fs::read(&info.idx).unwrap()
    );
    let (ok, out) = git(&root, &["fsck", "--strict", "--no-dangling"]);
    assert!(
        ok && !out.contains("error") && !out.contains("warning"),
        "fsck: {out}"
    );
    let (ok, out) = git(&root, &["show", "main:dir/k0007"]);
    assert!(ok, "{out}");
    assert_eq!(out, blobs[7].1);
    let (ok, out) = git(&root, &["count-objects", "-v"]);
    assert!(
        ok && out.contains("in-pack: 303") && out.contains("count: 0"),
        "{out}"
    );
}

#[test]
fn git_accepts_sha1_packs() {
    check(HashKind::Sha1);
}

#[test]
fn git_accepts_sha256_packs() {
    check(HashKind::Sha256);
}

/// The write path stores trees uncompressed, as zlib stored blocks (several for a tree over
/// 64 KiB): git must read them as any other zlib stream.
#[test]
fn git_reads_trees_stored_uncompressed_in_several_blocks() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("store");
    let layout = RepoLayout::init(&root, HashKind::Sha1, "main").unwrap();
    let objects = layout.objects().unwrap();
    let mut batch = objects.begin_batch().unwrap();
    let mut entries = Vec::new();
    for i in 0..3000u32 {
        let id = batch
            .add(ObjectKind::Blob, format!("value {i}\n").as_bytes())
            .unwrap();
        entries.push(TreeEntry {
            mode: Mode::File,
            name: format!("key-number-{i:06}").into_bytes(),
            id,
        });
    }
    let big = TreeEntry::serialize(&mut entries);
    assert!(big.len() > 2 * 65_535, "{} bytes: three stored blocks", big.len());
    let tree = batch.add(ObjectKind::Tree, &big).unwrap();
    let who = author(0);
    let commit = Commit {
        tree,
        parents: vec![],
        author: who.clone(),
        committer: who,
        extra_headers: vec![],
        message: b"a large directory\n".to_vec(),
    };
    let commit_id = batch.add(ObjectKind::Commit, &commit.serialize()).unwrap();
    batch.finish().unwrap();
    std::fs::write(root.join("refs/heads/main"), format!("{commit_id}\n")).unwrap();

    let pack_dir = root.join("objects/pack");
    let pack = std::fs::read_dir(&pack_dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|e| e == "pack"))
        .expect("a pack");
    // Stored, not deflated: the tree takes about its own size in the pack.
    let (ok, out) = git(&root, &["verify-pack", "-v", pack.to_str().unwrap()]);
    assert!(ok, "verify-pack: {out}");
    let line = out
        .lines()
        .find(|l| l.starts_with(&tree.to_hex()))
        .expect("the tree");
    let in_pack: usize = line.split_whitespace().nth(3).unwrap().parse().unwrap();
    assert!(in_pack > big.len(), "{line}");
    let copy = tmp.path().join("copy.pack");
    std::fs::copy(&pack, &copy).unwrap();
    let (ok, out) = git(&root, &["index-pack", "--strict", copy.to_str().unwrap()]);
    assert!(ok, "index-pack --strict: {out}");
    assert_eq!(
        std::fs::read(tmp.path().join("copy.idx")).unwrap(),
        std::fs::read(pack.with_extension("idx")).unwrap()
    );
    let (ok, out) = git(&root, &["fsck", "--strict", "--no-dangling"]);
    assert!(
        ok && !out.contains("error") && !out.contains("warning"),
        "fsck: {out}"
    );
    let (ok, out) = git(&root, &["show", "main:key-number-002999"]);
    assert!(ok && out == "value 2999\n", "{out}");
    let (ok, out) = git(&root, &["cat-file", "tree", &tree.to_hex()]);
    assert!(ok);
    assert_eq!(out, String::from_utf8_lossy(&big));
    // Canopy reads it back, from a fresh handle on the store.
    let fresh = RepoLayout::open(&root).unwrap().objects().unwrap();
    assert_eq!(fresh.read(&tree).unwrap().unwrap().data, big);
}
