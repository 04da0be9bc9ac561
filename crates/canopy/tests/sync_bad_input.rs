//! Hostile input to the smart-HTTP service, over raw HTTP: malformed and oversized pkt-lines,
//! truncated packs, wrong checksums, zlib bombs, missing delta bases, trees with `.git` or
//! `..`, bad commits, refused ref names. Each gets a clear error, moves no reference, leaves
//! no object of the push visible and no quarantine behind, and the server keeps serving.

mod sync_support;

use canopy::object::{HashKind, ObjectId, ObjectKind};
use canopy::store::CommitOptions;
use canopy::sync::pack::write_pack;
use canopy::sync::pktline::{write_data, write_flush};
use canopy::{Path, Repo};
use sync_support::{canopy_handler, git, raw_post, Server};

const RP: &str = "application/x-git-receive-pack-request";
const UP: &str = "application/x-git-upload-pack-request";

struct Fixture {
    _tmp: tempfile::TempDir,
    store: std::path::PathBuf,
    server: Server,
    head: ObjectId,
}

fn fixture() -> Fixture {
    let tmp = tempfile::tempdir().unwrap();
    let store = tmp.path().join("store");
    let repo = Repo::init(&store).unwrap();
    let head = repo
        .branch("main")
        .unwrap()
        .set(&Path::parse("a").unwrap(), "1", &CommitOptions::message("one"))
        .unwrap();
    let server = Server::start(canopy_handler(store.clone()));
    Fixture {
        _tmp: tmp,
        store,
        server,
        head,
    }
}

impl Fixture {
    fn push(&self, commands: &[(ObjectId, ObjectId, &str)], pack: &[u8]) -> (u16, String) {
        let mut body = Vec::new();
        for (i, (old, new, name)) in commands.iter().enumerate() {
            let mut line = format!("{old} {new} {name}").into_bytes();
            if i == 0 {
                line.extend_from_slice(b"\0 report-status object-format=sha1 agent=test");
            }
            write_data(&mut body, &line);
        }
        write_flush(&mut body);
        body.extend_from_slice(pack);
        let (status, resp) = raw_post(self.server.port, "/git/git-receive-pack", RP, &[], &body);
        (status, String::from_utf8_lossy(&resp).into_owned())
    }

    /// Nothing moved, nothing new is visible, no quarantine is left, and the server still
    /// answers (a clone works).
    fn assert_untouched(&self, hostile: &[ObjectId]) {
        let repo = Repo::open(&self.store).unwrap();
        assert_eq!(
            repo.refs().list("refs/").unwrap(),
            vec![("refs/heads/main".to_string(), self.head)]
        );
        for id in hostile {
            assert!(!repo.objects().contains(id).unwrap(), "{id} is visible");
        }
        let leftovers: Vec<String> = std::fs::read_dir(self.store.join("objects"))
            .unwrap()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n.starts_with("tmp"))
            .collect();
        assert!(leftovers.is_empty(), "{leftovers:?}");
        // The one pack is the fixture's own commit.
        let packs = std::fs::read_dir(self.store.join("objects/pack"))
            .unwrap()
            .count();
        assert_eq!(packs, 2, "a pack was installed");
        let tmp = tempfile::tempdir().unwrap();
        git(tmp.path(), &["clone", "-q", &self.server.url("/git"), "c"]);
        git(&self.store, &["fsck", "--strict"]);
    }
}

/// A pack of raw objects (whatever their content), built through an in-memory store.
fn pack_of(objects: &[(ObjectKind, Vec<u8>)]) -> (Vec<u8>, Vec<ObjectId>) {
    let mem = Repo::in_memory(HashKind::Sha1);
    let ids: Vec<ObjectId> = objects
        .iter()
        .map(|(k, d)| mem.objects().write(*k, d).unwrap())
        .collect();
    let mut out = Vec::new();
    write_pack(mem.objects(), &ids, &mut out, &mut |_| {}).unwrap();
    (out, ids)
}

fn tree_entry(mode: &str, name: &[u8], id: &ObjectId) -> Vec<u8> {
    let mut v = format!("{mode} ").into_bytes();
    v.extend_from_slice(name);
    v.push(0);
    v.extend_from_slice(id.as_bytes());
    v
}

fn commit_of(tree: &ObjectId, parent: Option<&ObjectId>) -> Vec<u8> {
    let mut c = format!("tree {tree}\n");
    if let Some(p) = parent {
        c.push_str(&format!("parent {p}\n"));
    }
    c.push_str("author A <a@example.com> 1700000000 +0000\ncommitter A <a@example.com> 1700000000 +0000\n\nhostile\n");
    c.into_bytes()
}

/// A commit whose tree holds one entry named `name`.
fn pack_with_name(name: &[u8], mode: &str) -> (Vec<u8>, Vec<ObjectId>, ObjectId) {
    let blob = b"payload\n".to_vec();
    let blob_id = ObjectId::for_object(HashKind::Sha1, ObjectKind::Blob, &blob);
    let inner = tree_entry("100644", b"x", &blob_id);
    let inner_id = ObjectId::for_object(HashKind::Sha1, ObjectKind::Tree, &inner);
    let entry_target = if mode == "40000" { inner_id } else { blob_id };
    let tree = tree_entry(mode, name, &entry_target);
    let tree_id = ObjectId::for_object(HashKind::Sha1, ObjectKind::Tree, &tree);
    let commit = commit_of(&tree_id, None);
    let (pack, ids) = pack_of(&[
        (ObjectKind::Commit, commit),
        (ObjectKind::Tree, tree),
        (ObjectKind::Tree, inner),
        (ObjectKind::Blob, blob),
    ]);
    let commit_id = ids[0];
    (pack, ids, commit_id)
}

#[test]
fn trees_with_dangerous_names_are_refused() {
    let f = fixture();
    let zero = HashKind::Sha1.null_id();
    for (name, mode) in [
        (&b".git"[..], "40000"),
        (b".GIT", "40000"),
        (b"..", "40000"),
        (b".", "100644"),
        (b"git~1", "40000"),
        (b".git.", "100644"),
        (b"a/b", "100644"),
        (b".gitmodules", "120000"),
    ] {
        let (pack, ids, commit) = pack_with_name(name, mode);
        let (status, report) = f.push(&[(zero, commit, "refs/heads/evil")], &pack);
        assert_eq!(status, 200);
        assert!(
            report.contains("unpack bad object"),
            "{}: {report}",
            String::from_utf8_lossy(name)
        );
        assert!(report.contains("ng refs/heads/evil unpacker error"), "{report}");
        f.assert_untouched(&ids);
    }
}

#[test]
fn damaged_packs_are_refused() {
    let f = fixture();
    let zero = HashKind::Sha1.null_id();
    let (good, ids, commit) = pack_with_name(b"fine", "100644");

    // Truncated, at several points.
    for cut in [5, 12, 20, good.len() / 2, good.len() - 1] {
        let (status, report) = f.push(&[(zero, commit, "refs/heads/x")], &good[..cut]);
        assert_eq!(status, 200);
        assert!(report.contains("unpack bad pack"), "cut {cut}: {report}");
        f.assert_untouched(&ids);
    }
    // Wrong trailer.
    let mut bad = good.clone();
    let n = bad.len();
    bad[n - 1] ^= 0xff;
    let (_, report) = f.push(&[(zero, commit, "refs/heads/x")], &bad);
    assert!(report.contains("checksum mismatch"), "{report}");
    // A flipped byte inside an object (zlib or hash failure), trailer recomputed.
    let mut bad = good.clone();
    bad[14] ^= 0x40;
    let end = bad.len() - 20;
    let sum = sha1_of(&bad[..end]);
    bad[end..].copy_from_slice(&sum);
    let (_, report) = f.push(&[(zero, commit, "refs/heads/x")], &bad);
    assert!(report.contains("unpack "), "{report}");
    assert!(!report.contains("unpack ok"), "{report}");
    // Garbage after the trailer.
    let mut bad = good.clone();
    bad.extend_from_slice(b"junk");
    let (_, report) = f.push(&[(zero, commit, "refs/heads/x")], &bad);
    assert!(report.contains("garbage after the pack trailer"), "{report}");
    // An object claiming a gigantic size (a zlib bomb's header).
    let mut bomb = b"PACK\0\0\0\x02\0\0\0\x01".to_vec();
    bomb.extend_from_slice(&[0xbf, 0xff, 0xff, 0xff, 0x7f]);
    bomb.extend_from_slice(&[0x78, 0x9c, 0x03, 0x00, 0x00, 0x00, 0x00, 0x01]);
    let sum = sha1_of(&bomb);
    bomb.extend_from_slice(&sum);
    let (_, report) = f.push(&[(zero, commit, "refs/heads/x")], &bomb);
    assert!(
        report.contains("exceeds the limit") || report.contains("more than the remaining"),
        "{report}"
    );
    // A REF_DELTA whose base exists nowhere.
    let mut thin = b"PACK\0\0\0\x02\0\0\0\x01".to_vec();
    thin.push(0x70 | 4);
    thin.extend_from_slice(&[0x11; 20]);
    thin.extend_from_slice(&deflate(&[1, 1, 0x01, b'x']));
    let sum = sha1_of(&thin);
    thin.extend_from_slice(&sum);
    let (_, report) = f.push(&[(zero, commit, "refs/heads/x")], &thin);
    assert!(report.contains("unresolved delta"), "{report}");
    f.assert_untouched(&ids);
}

#[test]
fn bad_commits_refs_and_missing_objects_are_refused() {
    let f = fixture();
    let zero = HashKind::Sha1.null_id();
    // A commit with a malformed identity.
    let tree = HashKind::Sha1.empty_tree();
    let bad_commit =
        format!("tree {tree}\nauthor A <a@b> 01 +0000\ncommitter A <a@b> 1 +0000\n\nx\n").into_bytes();
    let (pack, ids) = pack_of(&[(ObjectKind::Commit, bad_commit), (ObjectKind::Tree, Vec::new())]);
    let (_, report) = f.push(&[(zero, ids[0], "refs/heads/x")], &pack);
    assert!(report.contains("zeroPaddedDate"), "{report}");
    f.assert_untouched(&ids);

    // A good commit whose tree is missing.
    let blob = ObjectId::for_object(HashKind::Sha1, ObjectKind::Blob, b"nowhere");
    let t = tree_entry("100644", b"f", &blob);
    let t_id = ObjectId::for_object(HashKind::Sha1, ObjectKind::Tree, &t);
    let (pack, ids) = pack_of(&[
        (ObjectKind::Commit, commit_of(&t_id, Some(&f.head))),
        (ObjectKind::Tree, t),
    ]);
    let (_, report) = f.push(&[(zero, ids[0], "refs/heads/x")], &pack);
    assert!(report.contains("unpack ok"), "{report}");
    assert!(
        report.contains("ng refs/heads/x missing necessary objects"),
        "{report}"
    );
    f.assert_untouched(&ids);

    // Reference names git refuses.
    let ok_tree = tree_entry(
        "100644",
        b"f",
        &ObjectId::for_object(HashKind::Sha1, ObjectKind::Blob, b"b"),
    );
    let ok_tree_id = ObjectId::for_object(HashKind::Sha1, ObjectKind::Tree, &ok_tree);
    let (pack, ids) = pack_of(&[
        (ObjectKind::Commit, commit_of(&ok_tree_id, Some(&f.head))),
        (ObjectKind::Tree, ok_tree),
        (ObjectKind::Blob, b"b".to_vec()),
    ]);
    for name in [
        "refs/heads/a..b",
        "refs/heads/x.lock",
        "HEAD",
        "refs/heads/.hidden",
        "refs/heads/a b",
        "refs/x",
    ] {
        let (_, report) = f.push(&[(zero, ids[0], name)], &pack);
        assert!(
            report.contains(&format!("ng {name} funny refname")),
            "{name}: {report}"
        );
        f.assert_untouched(&ids);
    }
    // A stale old value: refused, nothing moves.
    let (_, report) = f.push(&[(ids[0], ids[0], "refs/heads/main")], &pack);
    assert!(
        report.contains("ng refs/heads/main incorrect old value provided"),
        "{report}"
    );
    f.assert_untouched(&ids);
    // Atomic: one bad command refuses all.
    let mut body = Vec::new();
    write_data(
        &mut body,
        format!("{} {} refs/heads/main\0 report-status atomic", f.head, ids[0]).as_bytes(),
    );
    write_data(
        &mut body,
        format!("{zero} {} refs/heads/bad..name", ids[0]).as_bytes(),
    );
    write_flush(&mut body);
    body.extend_from_slice(&pack);
    let (_, resp) = raw_post(f.server.port, "/git/git-receive-pack", RP, &[], &body);
    let resp = String::from_utf8_lossy(&resp);
    assert!(resp.contains("ng refs/heads/main atomic push failure"), "{resp}");
    f.assert_untouched(&ids);
}

#[test]
fn malformed_requests_get_protocol_errors() {
    let f = fixture();
    // Malformed pkt-line length.
    let (status, body) = raw_post(f.server.port, "/git/git-receive-pack", RP, &[], b"zzzzjunk");
    assert_eq!(status, 400);
    assert!(String::from_utf8_lossy(&body).contains("bad pkt-line length"));
    // Oversized pkt-line (declares more than 65520 bytes).
    let (status, body) = raw_post(f.server.port, "/git/git-receive-pack", RP, &[], b"fff9xxxx");
    assert_eq!(status, 400);
    assert!(String::from_utf8_lossy(&body).contains("exceeds the limit"));
    // Truncated pkt-line.
    let (status, _) = raw_post(
        f.server.port,
        "/git/git-upload-pack",
        UP,
        &[("Git-Protocol", "version=2")],
        b"0020command=ls-refs",
    );
    assert_eq!(status, 400);
    // Malformed command line.
    let mut body = Vec::new();
    write_data(&mut body, b"not a command");
    write_flush(&mut body);
    let (status, resp) = raw_post(f.server.port, "/git/git-receive-pack", RP, &[], &body);
    assert_eq!(status, 400, "{}", String::from_utf8_lossy(&resp));
    // Wrong content type.
    let (status, _) = raw_post(f.server.port, "/git/git-receive-pack", "text/plain", &[], b"0000");
    assert_eq!(status, 415);
    // git's probe: a lone flush is answered 200 with an empty body.
    let (status, resp) = raw_post(f.server.port, "/git/git-receive-pack", RP, &[], b"0000");
    assert_eq!((status, resp.len()), (200, 0));
    let (status, _) = raw_post(
        f.server.port,
        "/git/git-upload-pack",
        UP,
        &[("Git-Protocol", "version=2")],
        b"0000",
    );
    assert_eq!(status, 200);
    // Unknown wants and unknown commands: ERR packets git prints.
    let mut body = Vec::new();
    write_data(&mut body, b"command=fetch\n");
    body.extend_from_slice(b"0001");
    write_data(&mut body, format!("want {}\n", "1".repeat(40)).as_bytes());
    write_data(&mut body, b"done\n");
    write_flush(&mut body);
    let (status, resp) = raw_post(
        f.server.port,
        "/git/git-upload-pack",
        UP,
        &[("Git-Protocol", "version=2")],
        &body,
    );
    assert_eq!(status, 200);
    assert!(
        String::from_utf8_lossy(&resp).contains("ERR upload-pack: not our ref"),
        "{}",
        String::from_utf8_lossy(&resp)
    );
    // A gzipped request that is not gzip.
    let (status, _) = raw_post(
        f.server.port,
        "/git/git-upload-pack",
        UP,
        &[("Git-Protocol", "version=2"), ("Content-Encoding", "gzip")],
        b"not gzip at all",
    );
    assert_eq!(status, 400);
    f.assert_untouched(&[]);
}

#[test]
fn gzip_requests_are_inflated() {
    use std::io::Write;
    let f = fixture();
    let mut body = Vec::new();
    write_data(&mut body, b"command=ls-refs\n");
    body.extend_from_slice(b"0001");
    write_flush(&mut body);
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(&body).unwrap();
    let gz = gz.finish().unwrap();
    let (status, resp) = raw_post(
        f.server.port,
        "/git/git-upload-pack",
        UP,
        &[("Git-Protocol", "version=2"), ("Content-Encoding", "gzip")],
        &gz,
    );
    assert_eq!(status, 200);
    assert!(String::from_utf8_lossy(&resp).contains("refs/heads/main"));
}

fn sha1_of(data: &[u8]) -> Vec<u8> {
    let mut h = HashKind::Sha1.hasher();
    h.update(data);
    h.finish().as_bytes().to_vec()
}

fn deflate(data: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
    z.write_all(data).unwrap();
    z.finish().unwrap()
}
