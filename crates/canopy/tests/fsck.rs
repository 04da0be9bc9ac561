//! `fsck` and its repair: each kind of damage is injected into a real store, must be found, and
//! must be repaired back to the last good state without losing good data. `git fsck --strict`
//! is the oracle: it must agree that the damaged store is broken and the repaired one is clean.

use std::fs;
use std::path::{Path as FsPath, PathBuf};
use std::process::Command;
use std::time::{Duration, SystemTime};

use canopy::backend::git::fsck::{fsck, FindingKind, FsckOptions, FsckReport, RepairAction};
use canopy::backend::git::RepoLayout;
use canopy::backend::{Expected, RefLog};
use canopy::object::{ObjectId, ObjectKind, Signature};
use canopy::store::CommitOptions;
use canopy::{Path, Repo};

fn git(dir: &FsPath, args: &[&str]) -> (bool, String) {
    let out = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("HOME", dir)
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

/// `git fsck --strict` finds nothing wrong (dangling objects are fine).
fn git_fsck_clean(dir: &FsPath) -> (bool, String) {
    let (ok, text) = git(dir, &["fsck", "--strict", "--no-progress"]);
    let clean = ok
        && !text
            .lines()
            .any(|l| l.starts_with("error") || l.starts_with("missing"));
    (clean, text)
}

fn who(i: i64) -> Signature {
    Signature {
        name: "t".into(),
        email: "t@example.com".into(),
        time: 1_700_000_000 + i,
        offset_minutes: 0,
    }
}

fn opts(i: i64) -> CommitOptions {
    CommitOptions {
        message: format!("commit {i}"),
        author: Some(who(i)),
        committer: Some(who(i)),
    }
}

fn p(s: &str) -> Path {
    Path::parse(s).unwrap()
}

/// The values of the good commit `A`; commit `B` adds `new/value` on top.
const GOOD: &[(&str, &str)] = &[("a", "one"), ("dir/b", "two"), ("dir/sub/c", "three")];

struct Store {
    _tmp: tempfile::TempDir,
    dir: PathBuf,
    a: ObjectId,
    b: ObjectId,
}

impl Store {
    fn new() -> Store {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("store");
        let repo = Repo::init(&dir).unwrap();
        let main = repo.head_branch().unwrap();
        let mut a = None;
        for (i, (path, value)) in GOOD.iter().enumerate() {
            a = Some(main.set(&p(path), value.as_bytes(), &opts(i as i64)).unwrap());
        }
        let b = main.set(&p("new/value"), "newest", &opts(10)).unwrap();
        Store {
            _tmp: tmp,
            dir,
            a: a.unwrap(),
            b,
        }
    }

    fn check(&self, repair: bool) -> FsckReport {
        let layout = RepoLayout::open(&self.dir).unwrap();
        fsck(
            &layout,
            &FsckOptions {
                repair,
                grace: Duration::from_secs(3600),
            },
        )
        .unwrap()
    }

    fn loose_path(&self, id: &ObjectId) -> PathBuf {
        let hex = id.to_hex();
        self.dir.join("objects").join(&hex[..2]).join(&hex[2..])
    }

    /// The objects `B` added (`git rev-list --objects A..B`).
    fn new_in_b(&self) -> Vec<ObjectId> {
        let (ok, text) = git(
            &self.dir,
            &["rev-list", "--objects", &format!("{}..{}", self.a, self.b)],
        );
        assert!(ok, "{text}");
        text.lines()
            .map(|l| ObjectId::from_hex(l.split(' ').next().unwrap().as_bytes()).unwrap())
            .collect()
    }

    /// The pack holding `B`'s new objects: each commit writes its new objects as one pack.
    fn pack_b(&self) -> PathBuf {
        let pack_dir = self.dir.join("objects/pack");
        let b = self.b.to_hex();
        fs::read_dir(&pack_dir)
            .unwrap()
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|e| e == "idx"))
            .find(|idx| {
                let out = Command::new("git")
                    .arg("show-index")
                    .stdin(fs::File::open(idx).unwrap())
                    .output()
                    .unwrap();
                String::from_utf8_lossy(&out.stdout).contains(&b)
            })
            .expect("a pack holds B")
            .with_extension("pack")
    }

    /// Turns `B`'s pack into loose objects (`git unpack-objects`), as a store written by an
    /// older Canopy or by `git` itself holds them.
    fn unpack_b(&self) {
        let pack = self.pack_b();
        let moved = self._tmp.path().join("b.pack");
        fs::rename(&pack, &moved).unwrap();
        fs::remove_file(pack.with_extension("idx")).unwrap();
        let status = Command::new("git")
            .args(["unpack-objects", "-q"])
            .current_dir(&self.dir)
            .stdin(fs::File::open(&moved).unwrap())
            .status()
            .unwrap();
        assert!(status.success());
        assert!(self.loose_path(&self.b).is_file());
    }

    fn head(&self) -> Option<ObjectId> {
        Repo::open(&self.dir)
            .unwrap()
            .head_branch()
            .unwrap()
            .head()
            .unwrap()
    }

    /// Every value of `A` reads back, and `new/value` exactly when the head is `B`.
    fn assert_good_data(&self) {
        let repo = Repo::open(&self.dir).unwrap();
        let main = repo.head_branch().unwrap();
        for (path, value) in GOOD {
            assert_eq!(
                main.get(&p(path)).unwrap().as_deref(),
                Some(value.as_bytes()),
                "{path}"
            );
        }
        let view = repo.view_at(self.a).unwrap();
        for (path, value) in GOOD {
            assert_eq!(
                view.get(&p(path)).unwrap().as_deref(),
                Some(value.as_bytes()),
                "{path} at A"
            );
        }
        if main.head().unwrap() == Some(self.b) {
            assert_eq!(
                main.get(&p("new/value")).unwrap().as_deref(),
                Some(&b"newest"[..])
            );
        }
    }

    /// The store is broken (for fsck and, when `git_agrees`, for git), the repair fixes it, and
    /// the branch ends at `expected_head`.
    fn damaged_then_repaired(
        &self,
        kind: FindingKind,
        git_agrees: bool,
        expected_head: ObjectId,
    ) -> FsckReport {
        let before = self.check(false);
        assert!(!before.is_clean(), "damage not found");
        assert!(
            before.findings.iter().any(|f| f.kind == kind),
            "no {kind} in {:#?}",
            before.findings
        );
        if git_agrees {
            let (clean, text) = git_fsck_clean(&self.dir);
            assert!(!clean, "git fsck found nothing: {text}");
        }
        let report = self.check(true);
        assert!(
            report.is_clean(),
            "still broken after repair: {:#?}\nrepairs: {:#?}",
            report.current(),
            report.repairs
        );
        let (clean, text) = git_fsck_clean(&self.dir);
        assert!(
            clean,
            "git fsck after repair: {text}\nrepairs: {:#?}",
            report.repairs
        );
        assert_eq!(self.head(), Some(expected_head), "repairs: {:#?}", report.repairs);
        self.assert_good_data();
        // A second check finds nothing more to do.
        assert!(self.check(true).repairs.is_empty());
        report
    }
}

fn make_writable(path: &FsPath) {
    let mut perms = fs::metadata(path).unwrap().permissions();
    #[allow(clippy::permissions_set_readonly_false)]
    perms.set_readonly(false);
    fs::set_permissions(path, perms).unwrap();
}

#[test]
fn a_sound_store_is_clean_and_dangling_objects_are_info() {
    let s = Store::new();
    let report = s.check(false);
    assert!(report.is_clean(), "{:#?}", report.findings);
    assert!(report.objects >= 10);
    assert!(git_fsck_clean(&s.dir).0);
    let repo = Repo::open(&s.dir).unwrap();
    let blob = repo
        .objects()
        .write(ObjectKind::Blob, b"nobody points here")
        .unwrap();
    repo.objects().flush().unwrap();
    let report = s.check(false);
    assert!(report.is_clean());
    let dangling: Vec<_> = report
        .findings
        .iter()
        .filter(|f| f.kind == FindingKind::Dangling)
        .collect();
    assert_eq!(dangling.len(), 1, "{dangling:?}");
    assert_eq!(dangling[0].subject, blob.to_hex());
    let (_, text) = git(&s.dir, &["fsck", "--strict"]);
    assert!(text.contains(&format!("dangling blob {blob}")), "{text}");
}

#[test]
fn truncated_newest_loose_object() {
    let s = Store::new();
    s.unpack_b();
    let path = s.loose_path(&s.b);
    make_writable(&path);
    let bytes = fs::read(&path).unwrap();
    fs::write(&path, &bytes[..bytes.len() / 2]).unwrap();
    Repo::open(&s.dir).expect("a store with a torn loose object opens");
    let report = s.damaged_then_repaired(FindingKind::CorruptObject, true, s.a);
    assert!(report
        .repairs
        .iter()
        .any(|r| r.action == RepairAction::Quarantined && r.subject.contains(&s.b.to_hex()[2..])));
    // Quarantined, not deleted.
    assert!(s.dir.join("fsck-quarantine").is_dir());
}

#[test]
fn flipped_byte_in_a_blob() {
    let s = Store::new();
    s.unpack_b();
    let blob = ObjectId::for_object(canopy::object::HashKind::Sha1, ObjectKind::Blob, b"newest");
    let path = s.loose_path(&blob);
    make_writable(&path);
    let mut bytes = fs::read(&path).unwrap();
    let last = bytes.len() - 6;
    bytes[last] ^= 0x01;
    fs::write(&path, &bytes).unwrap();
    s.damaged_then_repaired(FindingKind::CorruptObject, true, s.a);
}

#[test]
fn truncated_pack() {
    let s = Store::new();
    let pack = s.pack_b();
    assert!(s.check(false).is_clean());
    let len = fs::metadata(&pack).unwrap().len();
    let bytes = fs::read(&pack).unwrap();
    fs::write(&pack, &bytes[..(len - 30) as usize]).unwrap();
    let report = s.damaged_then_repaired(FindingKind::BadPack, true, s.a);
    assert!(report.repairs.iter().any(|r| r.action == RepairAction::Salvaged));
}

#[test]
fn corrupt_index_keeps_every_intact_object() {
    let s = Store::new();
    let pack = s.pack_b();
    let idx = pack.with_extension("idx");
    make_writable(&idx);
    let mut bytes = fs::read(&idx).unwrap();
    let n = s.new_in_b().len();
    let crc_at = 8 + 1024 + n * 20;
    bytes[crc_at] ^= 0xff;
    fs::write(&idx, &bytes).unwrap();
    // Every object still reads back intact, so nothing is lost: the branch stays at B.
    let report = s.damaged_then_repaired(FindingKind::BadIndex, true, s.b);
    assert!(report
        .repairs
        .iter()
        .any(|r| r.action == RepairAction::Salvaged && r.detail.starts_with(&format!("{n} "))));
}

/// A torn pack or index leaves the store usable: the pack is left out of lookups, and what
/// only it held is an error naming it, until `canopy fsck --repair` sets it aside.
#[test]
fn a_torn_pack_or_index_does_not_keep_the_store_from_opening() {
    for ext in ["pack", "idx"] {
        let s = Store::new();
        let pack = s.pack_b().with_extension(ext);
        make_writable(&pack);
        let bytes = fs::read(&pack).unwrap();
        fs::write(&pack, &bytes[..bytes.len() / 2]).unwrap();
        let repo = Repo::open(&s.dir).expect("a store with a torn pack opens");
        // What the other packs hold reads back; what the torn one held is an error naming it.
        let view = repo.view_at(s.a).unwrap();
        assert_eq!(view.get(&p("a")).unwrap().as_deref(), Some(&b"one"[..]));
        let err = repo.view_at(s.b).unwrap_err().to_string();
        assert!(err.contains(".pack"), "{err}");
        // And a write goes through.
        let main = repo.branch("side").unwrap();
        main.set(&p("x"), "y", &opts(20)).unwrap();
    }
}

#[test]
fn truncated_index() {
    // Torn in the fan-out or among the ids.
    for keep in [0.0, 0.5] {
        let s = Store::new();
        let pack = s.pack_b();
        let idx = pack.with_extension("idx");
        make_writable(&idx);
        let bytes = fs::read(&idx).unwrap();
        fs::write(&idx, &bytes[..(bytes.len() as f64 * keep) as usize]).unwrap();
        // Without its index the pack's objects are not salvaged: the branch returns to A, and
        // the pack is kept aside, not deleted.
        let report = s.damaged_then_repaired(FindingKind::BadIndex, true, s.a);
        assert!(
            report
                .repairs
                .iter()
                .any(|r| r.action == RepairAction::Quarantined && r.subject.ends_with(".pack")),
            "{:#?}",
            report.repairs
        );
    }
}

#[test]
fn pack_truncated_to_nothing() {
    let s = Store::new();
    let pack = s.pack_b();
    make_writable(&pack);
    fs::write(&pack, b"").unwrap();
    s.damaged_then_repaired(FindingKind::BadPack, true, s.a);
}

#[test]
fn torn_ref_files() {
    for junk in [String::new(), Store::new().b.to_hex()[..20].to_string()] {
        let s = Store::new();
        fs::write(s.dir.join("refs/heads/main"), &junk).unwrap();
        Repo::open(&s.dir).expect("a store with a torn reference opens");
        let report = s.damaged_then_repaired(FindingKind::BadRef, false, s.b);
        assert!(report.repairs.iter().any(|r| r.action == RepairAction::MovedRef));
    }
}

#[test]
fn ref_pointing_at_a_missing_commit() {
    let s = Store::new();
    s.unpack_b();
    fs::remove_file(s.loose_path(&s.b)).unwrap();
    s.damaged_then_repaired(FindingKind::BadRef, true, s.a);
}

#[test]
fn tree_with_a_dotgit_entry_written_raw() {
    let s = Store::new();
    let repo = Repo::open(&s.dir).unwrap();
    let blob = repo.objects().write(ObjectKind::Blob, b"[core]\n").unwrap();
    let mut tree = b"100644 .git\0".to_vec();
    tree.extend_from_slice(blob.as_bytes());
    let tree = repo.objects().write(ObjectKind::Tree, &tree).unwrap();
    let commit = format!(
        "tree {tree}\nparent {}\nauthor t <t@example.com> 1700000100 +0000\ncommitter t <t@example.com> 1700000100 +0000\n\nhostile\n",
        s.b
    );
    let commit = repo
        .objects()
        .write(ObjectKind::Commit, commit.as_bytes())
        .unwrap();
    let log = RefLog {
        who: who(100),
        message: "raw".into(),
    };
    assert!(repo
        .refs()
        .update("refs/heads/main", Expected::Value(s.b), Some(commit), &log)
        .unwrap());
    let report = s.damaged_then_repaired(FindingKind::BadObject, true, s.b);
    assert!(report
        .findings
        .iter()
        .any(|f| f.subject == tree.to_hex() && f.message.contains(".git")));
}

#[test]
fn stale_temporary_files_are_removed_young_ones_kept() {
    let s = Store::new();
    let old = s.dir.join("objects/ab/tmp_obj_old");
    let young = s.dir.join("objects/pack/tmp_pack_young");
    fs::create_dir_all(old.parent().unwrap()).unwrap();
    fs::write(&old, b"partial").unwrap();
    fs::write(&young, b"partial").unwrap();
    let f = fs::File::options().write(true).open(&old).unwrap();
    f.set_modified(SystemTime::now() - Duration::from_secs(7200))
        .unwrap();
    let report = s.check(false);
    assert!(report.is_clean(), "temporary files are warnings");
    let temps: Vec<_> = report
        .findings
        .iter()
        .filter(|f| f.kind == FindingKind::TempFile)
        .collect();
    assert_eq!(temps.len(), 1, "{temps:?}");
    let report = s.check(true);
    assert!(report.repairs.iter().any(|r| r.action == RepairAction::Removed));
    assert!(!old.exists());
    assert!(young.exists());
    assert_eq!(s.head(), Some(s.b));
}

#[test]
fn a_large_loose_blob_is_checked_as_a_stream() {
    let s = Store::new();
    // 2 MiB that do not compress: checked through a stream, not read whole.
    let mut data = vec![0u8; 2 << 20];
    std::io::Read::read_exact(&mut fs::File::open("/dev/urandom").unwrap(), &mut data).unwrap();
    let file = s._tmp.path().join("large.bin");
    fs::write(&file, &data).unwrap();
    let (ok, out) = git(&s.dir, &["hash-object", "-w", file.to_str().unwrap()]);
    assert!(ok, "{out}");
    let id = ObjectId::from_hex(out.trim().as_bytes()).unwrap();
    let path = s.loose_path(&id);
    assert!(fs::metadata(&path).unwrap().len() >= 1 << 20);
    let report = s.check(false);
    assert!(report.is_clean(), "{:#?}", report.findings);
    // A byte flipped in the middle of its content.
    make_writable(&path);
    let mut bytes = fs::read(&path).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x40;
    fs::write(&path, &bytes).unwrap();
    let report = s.check(false);
    assert!(
        report
            .findings
            .iter()
            .any(|f| f.kind == FindingKind::CorruptObject && f.subject == id.to_hex()),
        "{:#?}",
        report.findings
    );
}

/// The one `badCommitGraph` finding of a report.
fn the_graph_finding(report: &FsckReport) -> &canopy::backend::git::fsck::Finding {
    let found: Vec<_> = report
        .findings
        .iter()
        .filter(|f| f.kind == FindingKind::BadCommitGraph)
        .collect();
    assert_eq!(found.len(), 1, "{:#?}", report.findings);
    found[0]
}

fn set_mtime(path: &FsPath, time: SystemTime) {
    fs::File::options()
        .write(true)
        .open(path)
        .unwrap()
        .set_modified(time)
        .unwrap();
}

/// Writes the commit-graph of `main`, as `canopy gc` does; returns its path.
fn write_graph(dir: &FsPath) -> PathBuf {
    let repo = Repo::open(dir).unwrap();
    let head = repo.head_branch().unwrap().head().unwrap().unwrap();
    let layout = RepoLayout::open(dir).unwrap();
    let objects = layout.objects().unwrap();
    canopy::backend::git::commit_graph::write(&objects, &dir.join("objects"), &[head], false, 1).unwrap();
    dir.join("objects/info/commit-graph")
}

/// A commit-graph is checked in full by fsck, whatever readers have recorded as checked: a
/// damaged one (a flipped bit, with the record of an earlier check left in place) and a sound
/// file describing other commits are both found, and repair sets the file aside; history
/// reads the same before and after.
#[test]
fn damaged_or_foreign_commit_graphs_are_found_and_set_aside() {
    let s = Store::new();
    let graph = write_graph(&s.dir);
    let report = s.check(false);
    assert!(report.is_clean(), "{:#?}", report.findings);
    // A reader that opens the settled file records it as checked.
    let old = SystemTime::now() - Duration::from_secs(3600);
    set_mtime(&graph, old);
    let history = |dir: &FsPath| -> Vec<ObjectId> {
        let repo = Repo::open(dir).unwrap();
        let main = repo.head_branch().unwrap();
        main.history().unwrap().map(|c| c.unwrap().id).collect()
    };
    let before = history(&s.dir);
    let record = s.dir.join("objects/info/canopy-commit-graph-checked");
    assert!(record.exists());

    // A bit flipped in a commit's tree id, the file's time and the record left as they were.
    make_writable(&graph);
    let mut bytes = fs::read(&graph).unwrap();
    let at = bytes.len() - 20 - 40;
    bytes[at] ^= 0x01;
    fs::write(&graph, &bytes).unwrap();
    set_mtime(&graph, old);
    let report = s.check(true);
    let found = the_graph_finding(&report);
    assert!(found.message.contains("checksum"), "{}", found.message);
    assert!(report
        .repairs
        .iter()
        .any(|r| r.action == RepairAction::Quarantined && r.subject == "objects/info/commit-graph"));
    assert!(report.is_clean(), "{:#?}", report.after_repair);
    assert!(!graph.exists() && !record.exists());
    assert_eq!(history(&s.dir), before);

    // A sound graph of another store's commits: the commits it lists are missing here.
    let other = Store::new();
    let main = Repo::open(&other.dir).unwrap().head_branch().unwrap();
    main.set(&p("elsewhere"), "other", &opts(99)).unwrap();
    fs::copy(write_graph(&other.dir), &graph).unwrap();
    let report = s.check(false);
    let found = the_graph_finding(&report);
    assert!(found.message.contains("is not in the store"), "{}", found.message);
    assert!(!report.is_clean());
}
