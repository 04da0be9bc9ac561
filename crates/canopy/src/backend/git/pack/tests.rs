//! Tests against packs written by the real `git` binary (SHA-1 and SHA-256; OFS_DELTA and
//! REF_DELTA; deep chains), against corrupted copies of them, and against hand-built packs that
//! Git would never write (cycles, bad offsets, lying sizes, thin bases).

use std::io::Write;
use std::process::{Command, Stdio};

use super::*;

type Objects = Vec<(ObjectId, ObjectKind, Vec<u8>)>;

fn no_external(_: &ObjectId) -> Result<Option<RawObject>> {
    Ok(None)
}

fn git(dir: &Path, args: &[&str], stdin: Option<&[u8]>) -> Vec<u8> {
    let mut cmd = Command::new("git");
    cmd.args(args)
        .current_dir(dir)
        .env("HOME", dir)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_AUTHOR_NAME", "A U Thor")
        .env("GIT_AUTHOR_EMAIL", "author@example.com")
        .env("GIT_COMMITTER_NAME", "C O Mitter")
        .env("GIT_COMMITTER_EMAIL", "committer@example.com")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for var in [
        "GIT_DIR",
        "GIT_WORK_TREE",
        "GIT_INDEX_FILE",
        "GIT_OBJECT_DIRECTORY",
    ] {
        cmd.env_remove(var);
    }
    let mut child = cmd.spawn().expect("run git");
    let mut input = child.stdin.take().expect("stdin");
    let data = stdin.unwrap_or_default().to_vec();
    let writer = std::thread::spawn(move || input.write_all(&data));
    let out = child.wait_with_output().expect("wait for git");
    writer.join().expect("join").expect("write to git");
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// A repository holding `commits` commits of a slowly changing file (good delta material), a few
/// small files and an annotated tag, written with fast-import.
fn repo_with_history(format: &str, commits: usize) -> tempfile::TempDir {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    git(
        dir,
        &["init", "-q", &format!("--object-format={format}"), "."],
        None,
    );
    let mut s = Vec::new();
    let mut lines: Vec<String> = (0..300)
        .map(|j| format!("line {j}: the quick brown fox jumps over the lazy dog"))
        .collect();
    let data = |s: &mut Vec<u8>, bytes: &[u8]| {
        writeln!(s, "data {}", bytes.len()).unwrap();
        s.extend_from_slice(bytes);
        s.push(b'\n');
    };
    for i in 1..=commits {
        let len = lines.len();
        lines[(i * 37) % len] = format!("edit {i}");
        if i % 10 == 0 {
            lines.push(format!("appended in commit {i}"));
        }
        write!(s, "commit refs/heads/main\nmark :{i}\n").unwrap();
        writeln!(s, "committer C <c@example.com> {} +0000", 1_700_000_000 + i).unwrap();
        data(&mut s, format!("commit {i}").as_bytes());
        s.extend_from_slice(b"M 100644 inline big.txt\n");
        data(&mut s, lines.join("\n").as_bytes());
        writeln!(s, "M 100644 inline dir/small{}.txt", i % 7).unwrap();
        data(&mut s, format!("small file, version {i}\n").as_bytes());
    }
    write!(
        s,
        "tag v1\nfrom :{}\ntagger T <t@example.com> 1700000000 +0000\n",
        commits / 2
    )
    .unwrap();
    data(&mut s, b"release one");
    git(dir, &["fast-import", "--quiet"], Some(&s));
    tmp
}

/// Every object of the repository, as `git cat-file --batch-all-objects --batch` prints it.
fn all_objects(dir: &Path) -> Objects {
    let out = git(dir, &["cat-file", "--batch-all-objects", "--batch"], None);
    let mut objects = Vec::new();
    let mut rest = &out[..];
    while !rest.is_empty() {
        let nl = rest.iter().position(|&b| b == b'\n').unwrap();
        let header = std::str::from_utf8(&rest[..nl]).unwrap();
        let mut parts = header.split(' ');
        let id = ObjectId::from_hex(parts.next().unwrap().as_bytes()).unwrap();
        let kind = ObjectKind::from_bytes(parts.next().unwrap().as_bytes()).unwrap();
        let size: usize = parts.next().unwrap().parse().unwrap();
        objects.push((id, kind, rest[nl + 1..nl + 1 + size].to_vec()));
        rest = &rest[nl + 2 + size..];
    }
    objects
}

/// Reads every object through a fresh `PackSet` and compares with Git; returns the set.
fn check_all(dir: &Path, hash: HashKind, objects: &Objects) -> PackSet {
    assert!(objects.len() > 10, "too few objects: {}", objects.len());
    let set = PackSet::open(&dir.join(".git/objects"), hash).unwrap();
    for (id, kind, data) in objects {
        let obj = set
            .read(id, &no_external)
            .unwrap()
            .unwrap_or_else(|| panic!("{id} missing"));
        assert_eq!((obj.kind, &obj.data), (*kind, data), "{id}");
        assert!(set.contains(id).unwrap());
    }
    set
}

/// Entry counts by type code over all packs of the set.
fn type_counts(set: &PackSet) -> [usize; 8] {
    let mut total = [0; 8];
    for pack in set.snapshot().iter() {
        for (t, n) in pack.type_counts().unwrap().iter().enumerate() {
            total[t] += n;
        }
    }
    total
}

/// The longest delta chain `git verify-pack -v` reports.
fn max_chain(dir: &Path) -> usize {
    let mut max = 0;
    for idx in pack_files(dir, "idx") {
        let out = git(dir, &["verify-pack", "-v", idx.to_str().unwrap()], None);
        for line in String::from_utf8(out).unwrap().lines() {
            if let Some(rest) = line.strip_prefix("chain length = ") {
                max = max.max(rest.split(':').next().unwrap().parse().unwrap());
            }
        }
    }
    max
}

fn pack_files(dir: &Path, ext: &str) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir.join(".git/objects/pack"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == ext))
        .collect();
    files.sort();
    files
}

/// Rewrites every pack as REF_DELTA only (pack-objects without `--delta-base-offset`).
fn rewrite_with_ref_deltas(dir: &Path) {
    let old: Vec<PathBuf> = std::fs::read_dir(dir.join(".git/objects/pack"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    let list = git(dir, &["rev-list", "--objects", "--all"], None);
    let args = [
        "pack-objects",
        "-q",
        "--no-reuse-delta",
        "--window=50",
        ".git/objects/pack/pack",
    ];
    git(dir, &args, Some(&list));
    for path in old {
        std::fs::remove_file(path).unwrap();
    }
}

fn check_prefixes(set: &PackSet, objects: &Objects) {
    for (id, _, _) in objects.iter().take(20) {
        let hex = id.to_hex();
        for n in [4, 5, 7, hex.len()] {
            let prefix = &hex[..n];
            let mut want: Vec<ObjectId> = objects
                .iter()
                .map(|o| o.0)
                .filter(|i| i.to_hex().starts_with(prefix))
                .collect();
            want.sort();
            assert_eq!(set.ids_with_prefix(prefix).unwrap(), want, "{prefix}");
            assert_eq!(set.ids_with_prefix(&prefix.to_uppercase()).unwrap(), want);
        }
    }
    assert!(set.ids_with_prefix("zzzz").unwrap().is_empty());
    assert!(set.ids_with_prefix(&"0".repeat(70)).unwrap().is_empty());
}

fn gc_aggressive_reads_everything(format: &str, hash: HashKind) {
    let repo = repo_with_history(format, 60);
    let dir = repo.path();
    git(dir, &["gc", "-q", "--aggressive", "--prune=now"], None);
    let objects = all_objects(dir);
    let set = check_all(dir, hash, &objects);
    let counts = type_counts(&set);
    assert!(counts[6] > 0 && counts[7] == 0, "{counts:?}");
    assert!(max_chain(dir) >= 2);
    check_prefixes(&set, &objects);

    rewrite_with_ref_deltas(dir);
    let set = check_all(dir, hash, &objects);
    let counts = type_counts(&set);
    assert!(counts[7] > 0 && counts[6] == 0, "{counts:?}");
    check_prefixes(&set, &objects);
}

#[test]
fn sha1_packs_with_ofs_and_ref_deltas() {
    gc_aggressive_reads_everything("sha1", HashKind::Sha1);
}

#[test]
fn sha256_packs_with_ofs_and_ref_deltas() {
    gc_aggressive_reads_everything("sha256", HashKind::Sha256);
}

#[test]
fn deep_chains_read_from_many_threads() {
    let repo = repo_with_history("sha1", 400);
    let dir = repo.path();
    let args = ["repack", "-a", "-d", "-f", "-q", "--depth=4095", "--window=250"];
    git(dir, &args, None);
    assert!(max_chain(dir) >= 100, "chains too short: {}", max_chain(dir));
    let objects = all_objects(dir);
    let set = check_all(dir, HashKind::Sha1, &objects);
    std::thread::scope(|s| {
        for t in 0..4 {
            let (set, objects) = (&set, &objects);
            s.spawn(move || {
                for (id, kind, data) in objects.iter().rev().skip(t) {
                    let obj = set.read(id, &no_external).unwrap().unwrap();
                    assert_eq!((obj.kind, &obj.data), (*kind, data));
                }
            });
        }
    });
}

#[test]
fn rescan_follows_the_directory() {
    let repo = repo_with_history("sha1", 5);
    let dir = repo.path();
    git(dir, &["repack", "-adq"], None);
    let objects = all_objects(dir);
    let (id, _, _) = &objects[0];

    let other = tempfile::tempdir().unwrap();
    let objects_dir = other.path().join("objects");
    let set = PackSet::open(&objects_dir, HashKind::Sha1).unwrap(); // no pack dir at all
    assert!(set.read(id, &no_external).unwrap().is_none());
    assert!(!set.rescan().unwrap());

    let pack_dir = objects_dir.join("pack");
    std::fs::create_dir_all(&pack_dir).unwrap();
    let pack = &pack_files(dir, "pack")[0];
    let idx = &pack_files(dir, "idx")[0];
    let name = |p: &Path| p.file_name().unwrap().to_owned();
    // A pack without its index, and temporary files, are not packs yet.
    std::fs::copy(pack, pack_dir.join(name(pack))).unwrap();
    std::fs::copy(idx, pack_dir.join("tmp_idx_123.idx")).unwrap();
    std::fs::write(pack_dir.join("tmp_pack_123"), b"junk").unwrap();
    assert!(!set.rescan().unwrap());
    assert!(!set.contains(id).unwrap());

    std::fs::copy(idx, pack_dir.join(name(idx))).unwrap();
    assert!(set.rescan().unwrap());
    assert!(!set.rescan().unwrap());
    for (id, kind, data) in &objects {
        let obj = set.read(id, &no_external).unwrap().unwrap();
        assert_eq!((obj.kind, &obj.data), (*kind, data));
    }

    std::fs::remove_file(pack_dir.join(name(idx))).unwrap();
    assert!(set.rescan().unwrap());
    assert!(set.read(id, &no_external).unwrap().is_none());
    assert!(set.ids_with_prefix(&id.to_hex()[..4]).unwrap().is_empty());
}

thread_local! {
    /// What `PackSet::rescan` runs between listing the directory and opening what it lists.
    static AFTER_LISTING: std::cell::RefCell<Option<Box<dyn FnOnce()>>> = const { std::cell::RefCell::new(None) };
}

pub(super) fn after_listing() {
    if let Some(f) = AFTER_LISTING.with(|h| h.borrow_mut().take()) {
        f();
    }
}

/// A repack that installs its pack and removes the old one between a reader's listing of the
/// directory and its opening of the packs listed: the reader lists again and finds the objects
/// in the new pack (it had missed them in both).
#[test]
fn rescan_finds_the_pack_that_replaced_one_removed_while_it_listed() {
    let repo = repo_with_history("sha1", 5);
    let dir = repo.path();
    git(dir, &["repack", "-adq"], None);
    let objects = all_objects(dir);
    let pack = pack_files(dir, "pack")[0].clone();
    let idx = pack_files(dir, "idx")[0].clone();

    let other = tempfile::tempdir().unwrap();
    let objects_dir = other.path().join("objects");
    let pack_dir = objects_dir.join("pack");
    std::fs::create_dir_all(&pack_dir).unwrap();
    let set = PackSet::open(&objects_dir, HashKind::Sha1).unwrap();
    // The old pack: the same objects under another name (the name is not checked).
    std::fs::copy(&pack, pack_dir.join("pack-old.pack")).unwrap();
    std::fs::copy(&idx, pack_dir.join("pack-old.idx")).unwrap();
    let (new_pack, new_idx) = (
        pack_dir.join(pack.file_name().unwrap()),
        pack_dir.join(idx.file_name().unwrap()),
    );
    let old = pack_dir.clone();
    AFTER_LISTING.with(|h| {
        *h.borrow_mut() = Some(Box::new(move || {
            std::fs::copy(&pack, &new_pack).unwrap();
            std::fs::copy(&idx, &new_idx).unwrap();
            for ext in ["idx", "pack"] {
                std::fs::remove_file(old.join(format!("pack-old.{ext}"))).unwrap();
            }
        }))
    });
    assert!(set.rescan().unwrap());
    assert!(AFTER_LISTING.with(|h| h.borrow().is_none()), "the repack ran");
    for (id, kind, data) in &objects {
        let obj = set.read(id, &no_external).unwrap().unwrap();
        assert_eq!((obj.kind, &obj.data), (*kind, data));
    }
}

/// Installs `idx` and `pack` bytes as a pack in a fresh objects directory and opens it.
fn open_bytes(idx: &[u8], pack: &[u8], hash: HashKind) -> (tempfile::TempDir, Result<PackSet>) {
    let tmp = tempfile::tempdir().unwrap();
    let pack_dir = tmp.path().join("pack");
    std::fs::create_dir(&pack_dir).unwrap();
    std::fs::write(pack_dir.join("pack-x.idx"), idx).unwrap();
    std::fs::write(pack_dir.join("pack-x.pack"), pack).unwrap();
    // A pack that fails to open is left out of the set and remembered: report it as the error.
    let set = PackSet::open(tmp.path(), hash).and_then(|set| match set.broken().into_iter().next() {
        Some((path, reason)) => Err(Error::CorruptFile { path, reason }),
        None => Ok(set),
    });
    (tmp, set)
}

fn expect_corrupt<T>(result: Result<T>, want: &str) {
    match result {
        Err(Error::CorruptFile { path, reason }) => {
            assert!(reason.contains(want), "{}: {reason}", path.display());
        }
        Err(e) => panic!("expected CorruptFile ({want}), got {e}"),
        Ok(_) => panic!("expected CorruptFile ({want}), got success"),
    }
}

/// Reads every object; each read must be right or an error (never a panic, never wrong data
/// when it claims success for an untouched object). Returns the number of errors.
fn read_all_tolerantly(set: &PackSet, objects: &Objects) -> usize {
    let mut errors = 0;
    for (id, kind, data) in objects {
        match set.read(id, &no_external) {
            Ok(Some(obj)) => {
                if (obj.kind, &obj.data) != (*kind, data) {
                    errors += 1; // a flipped byte may survive zlib and delta checks
                }
            }
            Ok(None) => errors += 1,
            Err(Error::CorruptFile { .. } | Error::CorruptObject { .. }) => errors += 1,
            Err(e) => panic!("unexpected error {e}"),
        }
    }
    errors
}

#[test]
fn corrupt_and_truncated_files_are_errors() {
    let repo = repo_with_history("sha1", 40);
    let dir = repo.path();
    git(dir, &["gc", "-q", "--aggressive", "--prune=now"], None);
    let objects = all_objects(dir);
    let idx = std::fs::read(&pack_files(dir, "idx")[0]).unwrap();
    let pack = std::fs::read(&pack_files(dir, "pack")[0]).unwrap();
    let sha1 = HashKind::Sha1;
    let (_t, set) = open_bytes(&idx, &pack, sha1);
    assert_eq!(read_all_tolerantly(&set.unwrap(), &objects), 0);

    // Truncated pack: the trailer no longer matches the index.
    let half = pack.len() / 2;
    expect_corrupt(open_bytes(&idx, &pack[..half], sha1).1, "trailer does not match");
    expect_corrupt(open_bytes(&idx, &pack[..5], sha1).1, "too short");
    // Cut in the middle but with the right trailer: opens, and reads fail cleanly.
    let cut = [&pack[..half], &pack[pack.len() - 20..]].concat();
    let (_t, set) = open_bytes(&idx, &cut, sha1);
    let errors = read_all_tolerantly(&set.unwrap(), &objects);
    assert!(errors > 0 && errors < objects.len(), "{errors}");

    let patched = |bytes: &[u8], at: usize, new: &[u8]| {
        let mut b = bytes.to_vec();
        b[at..at + new.len()].copy_from_slice(new);
        b
    };
    let cases: Vec<(Vec<u8>, Vec<u8>, &str)> = vec![
        (patched(&idx, 0, b"\xfftOd"), pack.clone(), "bad magic"),
        (
            patched(&idx, 4, &[0, 0, 0, 3]),
            pack.clone(),
            "unsupported index version 3",
        ),
        (patched(&idx, 8, &[0xff; 4]), pack.clone(), "non-monotonic"),
        (
            idx[..idx.len() - 1].to_vec(),
            pack.clone(),
            "wrong index v2 file size",
        ),
        (
            [&idx[..], &[0; 4]].concat(),
            pack.clone(),
            "wrong index v2 file size",
        ),
        (idx.clone(), patched(&pack, 0, b"KCAP"), "bad magic"),
        (
            idx.clone(),
            patched(&pack, 4, &[0, 0, 0, 4]),
            "unsupported pack version 4",
        ),
        (
            idx.clone(),
            patched(&pack, 8, &[0, 0, 0, 1]),
            "header says 1 objects",
        ),
        (
            patched(&idx, idx.len() - 40, &[0; 4]),
            pack.clone(),
            "trailer does not match",
        ),
        (idx[..100].to_vec(), pack.clone(), "too short"),
    ];
    for (idx, pack, want) in cases {
        expect_corrupt(open_bytes(&idx, &pack, sha1).1, want);
    }

    // A real version 1 index, written by git.
    let v1 = repo.path().join("v1.idx");
    let pack_path = pack_files(dir, "pack")[0].clone();
    let args = ["index-pack", "--index-version=1", "-o", v1.to_str().unwrap()];
    git(dir, &[&args[..], &[pack_path.to_str().unwrap()]].concat(), None);
    let v1 = std::fs::read(v1).unwrap();
    expect_corrupt(
        open_bytes(&v1, &pack, sha1).1,
        "version 1 indexes are not supported",
    );

    // Flipped bytes anywhere: an error or a (possibly wrong) object, never a panic.
    for at in (0..idx.len()).step_by(idx.len() / 97 + 1) {
        let (_t, set) = open_bytes(&patched(&idx, at, &[idx[at] ^ 0x5a]), &pack, sha1);
        if let Ok(set) = set {
            read_all_tolerantly(&set, &objects);
        }
    }
    let mut broken = 0;
    for at in (12..pack.len() - 20).step_by(pack.len() / 151 + 1) {
        let (_t, set) = open_bytes(&idx, &patched(&pack, at, &[pack[at] ^ 0x5a]), sha1);
        broken += read_all_tolerantly(&set.unwrap(), &objects);
    }
    assert!(broken > 0);
}

/// Builds packs and indexes by hand, including things Git would never write.
struct Synth {
    hash: HashKind,
    entries: Vec<(ObjectId, Vec<u8>)>,
    /// Store all offsets but the first in the 64-bit table.
    large_offsets: bool,
}

fn zlib(data: &[u8]) -> Vec<u8> {
    let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
    z.write_all(data).unwrap();
    z.finish().unwrap()
}

fn fake_id(hash: HashKind, name: &str) -> ObjectId {
    ObjectId::for_object(hash, ObjectKind::Blob, name.as_bytes())
}

/// `header(base, result)` followed by `ops`.
fn delta(base: usize, result: usize, ops: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    for mut v in [base, result] {
        while v >= 0x80 {
            out.push((v & 0x7f) as u8 | 0x80);
            v >>= 7;
        }
        out.push(v as u8);
    }
    out.extend_from_slice(ops);
    out
}

impl Synth {
    fn new(hash: HashKind) -> Synth {
        Synth {
            hash,
            entries: Vec::new(),
            large_offsets: false,
        }
    }

    fn next_offset(&self) -> usize {
        12 + self.entries.iter().map(|e| e.1.len()).sum::<usize>()
    }

    /// Appends an entry with an explicit header size; returns its offset.
    fn raw(&mut self, name: &str, type_code: u8, size: u64, extra: &[u8], zdata: &[u8]) -> usize {
        let offset = self.next_offset();
        let mut bytes = vec![(type_code << 4) | (size & 0x0f) as u8];
        let mut rest = size >> 4;
        while rest > 0 {
            *bytes.last_mut().unwrap() |= 0x80;
            bytes.push((rest & 0x7f) as u8);
            rest >>= 7;
        }
        bytes.extend_from_slice(extra);
        bytes.extend_from_slice(zdata);
        self.entries.push((fake_id(self.hash, name), bytes));
        offset
    }

    fn plain(&mut self, name: &str, type_code: u8, data: &[u8]) -> usize {
        self.raw(name, type_code, data.len() as u64, &[], &zlib(data))
    }

    fn ofs(&mut self, name: &str, base: usize, delta: &[u8]) -> usize {
        let rel = (self.next_offset() - base) as u64;
        let mut enc = vec![(rel & 0x7f) as u8];
        let mut r = rel >> 7;
        while r > 0 {
            r -= 1;
            enc.push(0x80 | (r & 0x7f) as u8);
            r >>= 7;
        }
        enc.reverse();
        self.raw(name, 6, delta.len() as u64, &enc, &zlib(delta))
    }

    fn refd(&mut self, name: &str, base: &ObjectId, delta: &[u8]) -> usize {
        self.raw(name, 7, delta.len() as u64, base.as_bytes(), &zlib(delta))
    }

    fn id(&self, name: &str) -> ObjectId {
        fake_id(self.hash, name)
    }

    /// Writes `pack-<trailer>.{pack,idx}` into `objects_dir/pack`.
    fn write(&self, objects_dir: &Path) {
        let mut pack = b"PACK\0\0\0\x02".to_vec();
        pack.extend_from_slice(&(self.entries.len() as u32).to_be_bytes());
        let mut index: Vec<(ObjectId, u32, u64)> = Vec::new();
        for (id, bytes) in &self.entries {
            index.push((*id, crc32fast::hash(bytes), pack.len() as u64));
            pack.extend_from_slice(bytes);
        }
        let mut h = self.hash.hasher();
        h.update(&pack);
        let trailer = h.finish();
        pack.extend_from_slice(trailer.as_bytes());
        index.sort();

        let mut idx = b"\xfftOc\0\0\0\x02".to_vec();
        for b in 0..256 {
            let n = index.iter().filter(|e| (e.0.as_bytes()[0] as usize) <= b).count();
            idx.extend_from_slice(&(n as u32).to_be_bytes());
        }
        for e in &index {
            idx.extend_from_slice(e.0.as_bytes());
        }
        for e in &index {
            idx.extend_from_slice(&e.1.to_be_bytes());
        }
        let mut large = Vec::new();
        for (i, e) in index.iter().enumerate() {
            if self.large_offsets && i > 0 {
                idx.extend_from_slice(&(0x8000_0000 | (large.len() / 8) as u32).to_be_bytes());
                large.extend_from_slice(&e.2.to_be_bytes());
            } else {
                idx.extend_from_slice(&(e.2 as u32).to_be_bytes());
            }
        }
        idx.extend_from_slice(&large);
        idx.extend_from_slice(trailer.as_bytes());
        let mut h = self.hash.hasher();
        h.update(&idx);
        idx.extend_from_slice(h.finish().as_bytes());

        let pack_dir = objects_dir.join("pack");
        std::fs::create_dir_all(&pack_dir).unwrap();
        let stem = format!("pack-{trailer}");
        std::fs::write(pack_dir.join(format!("{stem}.pack")), pack).unwrap();
        std::fs::write(pack_dir.join(format!("{stem}.idx")), idx).unwrap();
    }

    fn open(&self) -> (tempfile::TempDir, PackSet) {
        let tmp = tempfile::tempdir().unwrap();
        self.write(tmp.path());
        let set = PackSet::open(tmp.path(), self.hash).unwrap();
        (tmp, set)
    }
}

fn read_blob(set: &PackSet, id: &ObjectId) -> Result<Vec<u8>> {
    Ok(set.read(id, &no_external)?.expect("present").data)
}

#[test]
fn hand_built_deltas_resolve() {
    for hash in [HashKind::Sha1, HashKind::Sha256] {
        let mut s = Synth::new(hash);
        s.large_offsets = true;
        let base = s.plain("base", 3, b"hello world");
        // REF_DELTA whose base comes later in the pack.
        s.refd("fwd", &s.id("later"), &delta(5, 7, &[0x90, 5, 2, b'!', b'!']));
        s.plain("later", 3, b"later");
        s.ofs("ofs", base, &delta(11, 5, &[0x91, 6, 5]));
        s.refd(
            "ref",
            &s.id("base"),
            &delta(11, 8, &[0x90, 5, 3, b'!', b'?', b'!']),
        );
        s.plain("commit", 1, b"tree x\n");
        s.plain("empty", 3, b"");
        let (_t, set) = s.open();
        assert_eq!(read_blob(&set, &s.id("fwd")).unwrap(), b"later!!");
        assert_eq!(read_blob(&set, &s.id("ofs")).unwrap(), b"world");
        assert_eq!(read_blob(&set, &s.id("ref")).unwrap(), b"hello!?!");
        assert_eq!(read_blob(&set, &s.id("empty")).unwrap(), b"");
        let commit = set.read(&s.id("commit"), &no_external).unwrap().unwrap();
        assert_eq!(commit.kind, ObjectKind::Commit);
        assert!(set.read(&s.id("absent"), &no_external).unwrap().is_none());
        let other = if hash == HashKind::Sha1 {
            HashKind::Sha256
        } else {
            HashKind::Sha1
        };
        assert!(set.read(&fake_id(other, "base"), &no_external).unwrap().is_none());
    }
}

#[test]
fn hand_built_corruption_is_reported_with_offsets() {
    let h = HashKind::Sha1;
    let mut s = Synth::new(h);
    let base = s.plain("base", 3, b"hello world");
    s.refd("cycle-a", &s.id("cycle-b"), &delta(11, 11, &[0x90, 11]));
    s.refd("cycle-b", &s.id("cycle-a"), &delta(11, 11, &[0x90, 11]));
    s.raw("ofs-zero", 6, 3, &[0], &zlib(&delta(11, 1, &[1, b'x'])));
    let at = s.next_offset();
    s.raw(
        "ofs-before-start",
        6,
        3,
        &[0x80 | 0x7f, 0x7f],
        &zlib(&delta(11, 1, &[1, b'x'])),
    );
    s.raw("type0", 0, 1, &[], &zlib(b"x"));
    s.raw("type5", 5, 1, &[], &zlib(b"x"));
    s.ofs("opcode0", base, &delta(11, 1, &[0]));
    s.ofs("wild-copy", base, &delta(11, 4, &[0x91, 10, 4]));
    s.ofs("wrong-base-size", base, &delta(12, 1, &[1, b'x']));
    s.raw("too-short", 3, 10, &[], &zlib(b"hello"));
    s.raw("too-long", 3, 3, &[], &zlib(b"hello"));
    s.raw("garbage", 3, 5, &[], &[0x78, 0x9c, 0xff, 0xff, 0xff, 0xff]);
    s.raw("huge", 3, 3 << 30, &[], &zlib(b"x"));
    s.raw("over-limit", 3, 5 << 30, &[], &zlib(b"x"));
    s.raw("size-overflow", 3, 0, &[], &[]);
    s.entries.last_mut().unwrap().1 = [&[0xbf][..], &[0xff; 10], &[0x01], &zlib(b"x")].concat();
    s.ofs("huge-delta", base, &delta(11, 1 << 31, &[0x90, 11]));
    s.refd("thin", &s.id("elsewhere"), &delta(5, 5, &[0x90, 5]));
    s.raw("truncated", 3, 11, &[], &zlib(b"hello world")[..6]);
    let (_t, set) = s.open();
    let cases = [
        ("cycle-a", "loops back"),
        ("ofs-zero", "OFS_DELTA base offset 0"),
        ("ofs-before-start", "does not point before the entry"),
        ("type0", "invalid object type 0"),
        ("type5", "invalid object type 5"),
        ("opcode0", "opcode 0"),
        ("wild-copy", "outside the base"),
        ("wrong-base-size", "expects a base of 12 bytes"),
        ("too-short", "inflates to 5 bytes, its header declares 10"),
        ("too-long", "more than the 3 bytes"),
        ("garbage", "zlib"),
        ("huge", "left in the pack can inflate to"),
        ("over-limit", "exceeds the limit"),
        ("size-overflow", "size overflows"),
        ("huge-delta", "more than its 2 instruction bytes"),
        ("thin", "neither in the pack nor in the repository"),
        ("truncated", "truncated"),
    ];
    for (name, want) in cases {
        let result = set.read(&s.id(name), &no_external);
        expect_corrupt(result, want);
    }
    expect_corrupt(
        set.read(&s.id("ofs-before-start"), &no_external),
        &format!("offset {at}"),
    );
}

#[test]
fn thin_bases_come_from_other_packs_then_from_the_caller() {
    let h = HashKind::Sha1;
    let tmp = tempfile::tempdir().unwrap();
    let mut a = Synth::new(h);
    a.refd("from-pack-b", &a.id("b-base"), &delta(5, 3, &[0x91, 2, 3]));
    a.refd("from-caller", &a.id("loose"), &delta(5, 2, &[0x90, 2]));
    // A REF_DELTA cycle across two packs.
    a.refd("x", &a.id("y"), &delta(1, 1, &[0x90, 1]));
    a.write(tmp.path());
    let mut b = Synth::new(h);
    b.plain("b-base", 3, b"abcde");
    b.refd("y", &b.id("x"), &delta(1, 1, &[0x90, 1]));
    b.write(tmp.path());
    let set = PackSet::open(tmp.path(), h).unwrap();
    assert_eq!(read_blob(&set, &a.id("from-pack-b")).unwrap(), b"cde");

    let calls = Cell::new(0);
    let loose = a.id("loose");
    let external = |id: &ObjectId| -> Result<Option<RawObject>> {
        calls.set(calls.get() + 1);
        Ok((*id == loose).then(|| RawObject::new(ObjectKind::Tree, b"12345".to_vec())))
    };
    let obj = set.read(&a.id("from-caller"), &external).unwrap().unwrap();
    assert_eq!((obj.kind, &obj.data[..]), (ObjectKind::Tree, &b"12"[..]));
    assert_eq!(calls.get(), 1);
    expect_corrupt(set.read(&a.id("x"), &external), "more than 64 times");
    expect_corrupt(
        set.read(&a.id("from-caller"), &no_external),
        "neither in the pack",
    );
}

#[test]
fn delta_depth_is_limited_even_through_the_cache() {
    let mut s = Synth::new(HashKind::Sha1);
    let mut prev = s.plain("0", 3, b"hello world");
    for i in 1..=MAX_DELTA_DEPTH + 1 {
        prev = s.ofs(&i.to_string(), prev, &delta(11, 11, &[0x90, 11]));
    }
    let deepest_ok = s.id(&MAX_DELTA_DEPTH.to_string());
    let too_deep = s.id(&(MAX_DELTA_DEPTH + 1).to_string());
    let (_t, set) = s.open();
    expect_corrupt(set.read(&too_deep, &no_external), "deeper than 4095");
    assert_eq!(read_blob(&set, &deepest_ok).unwrap(), b"hello world");
    // Its bases are cached now; the limit still counts them.
    expect_corrupt(set.read(&too_deep, &no_external), "deeper than 4095");
    assert_eq!(read_blob(&set, &s.id("4000")).unwrap(), b"hello world");
}

#[test]
fn bad_large_offset_is_an_error() {
    let mut s = Synth::new(HashKind::Sha1);
    s.large_offsets = true;
    s.plain("a", 3, b"a");
    s.plain("b", 3, b"b");
    let tmp = tempfile::tempdir().unwrap();
    s.write(tmp.path());
    let idx_path = std::fs::read_dir(tmp.path().join("pack"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|e| e == "idx"))
        .unwrap();
    let mut idx = std::fs::read(&idx_path).unwrap();
    let offsets_at = IDX_HEADER + 2 * (20 + 4);
    for pos in 0..2 {
        let at = offsets_at + 4 * pos;
        if idx[at] & 0x80 != 0 {
            idx[at + 3] = 9; // index 9 of a one-entry table
        } else {
            idx[at + 3] = 200; // beyond the pack's entries
        }
    }
    std::fs::write(&idx_path, idx).unwrap();
    let set = PackSet::open(tmp.path(), HashKind::Sha1).unwrap();
    let errors: Vec<String> = ["a", "b"]
        .iter()
        .map(|n| set.read(&s.id(n), &no_external).unwrap_err().to_string())
        .collect();
    assert!(errors.iter().any(|e| e.contains("64-bit offset 9")), "{errors:?}");
    assert!(
        errors.iter().any(|e| e.contains("outside the pack's entries")),
        "{errors:?}"
    );
}

#[test]
fn pack_set_is_send_and_sync() {
    fn check<T: Send + Sync>() {}
    check::<PackSet>();
}

#[test]
fn large_plain_entries_stream_and_are_checked() {
    let h = HashKind::Sha1;
    let content: Vec<u8> = (0..300_000u32).flat_map(|i| i.to_le_bytes()).collect();
    let mut s = Synth::new(h);
    let base = s.plain("lying", 3, &content);
    s.ofs("delta", base, &delta(content.len(), 5, &[0x91, 6, 5]));
    s.plain("small", 3, b"small");
    // An entry under its true id (the synthetic ones are named, not hashed).
    let real = ObjectId::for_object(h, ObjectKind::Blob, &content);
    s.plain("placeholder", 3, &content);
    s.entries.last_mut().unwrap().0 = real;
    let (_t, set) = s.open();
    let read_all = |id: &ObjectId| -> Option<std::io::Result<Vec<u8>>> {
        let mut stream = set.read_stream(id, 1000).unwrap()?;
        assert_eq!(stream.kind, ObjectKind::Blob);
        assert_eq!(stream.size, content.len() as u64);
        let mut out = Vec::new();
        Some(stream.reader.read_to_end(&mut out).map(|_| out))
    };
    assert_eq!(read_all(&real).unwrap().unwrap(), content);
    // Content that does not hash to its id fails at the end, naming the object.
    let err = read_all(&s.id("lying")).unwrap().unwrap_err();
    assert!(err.to_string().contains("corrupt"), "{err}");
    // Deltas, small entries and absent ids are not streamed (they are read whole).
    assert!(read_all(&s.id("delta")).is_none());
    assert!(read_all(&s.id("small")).is_none());
    assert!(read_all(&s.id("absent")).is_none());
}

/// Small objects and trees are written as stored zlib blocks and read without an inflater:
/// every block's length, its complement and the Adler-32 must all check, or the entry goes to
/// zlib (which reports the damage); zlib's own encodings of the same bytes read back the same.
#[test]
fn stored_blocks_are_read_directly_only_when_every_check_passes() {
    let data = b"a small value\n";
    let mut block = vec![0x78, 0x01, 0x01];
    let len = data.len() as u16;
    block.extend_from_slice(&len.to_le_bytes());
    block.extend_from_slice(&(!len).to_le_bytes());
    block.extend_from_slice(data);
    block.extend_from_slice(&crate::backend::git::pack_write::adler32(data).to_be_bytes());
    assert_eq!(stored_blocks(&block, data.len()).as_deref(), Some(&data[..]));
    // Trailing bytes (the next entry) do not matter.
    let mut followed = block.clone();
    followed.extend_from_slice(b"next entry");
    assert_eq!(stored_blocks(&followed, data.len()).as_deref(), Some(&data[..]));
    let damaged = |at: usize| {
        let mut b = block.clone();
        b[at] ^= 0x01;
        b
    };
    for at in [0, 1, 2, 3, 5, 8, block.len() - 1] {
        assert_eq!(stored_blocks(&damaged(at), data.len()), None, "byte {at} flipped");
    }
    assert_eq!(stored_blocks(&block, data.len() - 1), None, "another size");
    assert_eq!(
        stored_blocks(&block[..block.len() - 2], data.len()),
        None,
        "truncated"
    );
    // Several blocks (a tree over 64 KiB): read whole, and refused when any block is damaged,
    // when the stream ends early, or when the blocks hold more or less than the size.
    let long: Vec<u8> = (0..150_000u32).map(|i| (i * 13 % 253) as u8).collect();
    let mut blocks = Vec::new();
    crate::backend::git::pack_write::stored_zlib(&long, &mut blocks);
    assert_eq!(stored_blocks(&blocks, long.len()).as_deref(), Some(&long[..]));
    let second_block = 2 + 5 + 65_535;
    for at in [
        second_block,
        second_block + 1,
        second_block + 3,
        second_block + 5 + 100,
        blocks.len() - 1,
    ] {
        let mut b = blocks.clone();
        b[at] ^= 0x01;
        assert_eq!(stored_blocks(&b, long.len()), None, "byte {at} flipped");
    }
    assert_eq!(
        stored_blocks(&blocks[..blocks.len() - 10], long.len()),
        None,
        "truncated"
    );
    assert_eq!(stored_blocks(&blocks, long.len() - 1), None, "a smaller size");
    assert_eq!(stored_blocks(&blocks, long.len() + 1), None, "a larger size");
    // A deflated stream is left to zlib.
    let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::best());
    z.write_all(data).unwrap();
    assert_eq!(stored_blocks(&z.finish().unwrap(), data.len()), None);
}

/// Lookups start where an evenly spread id would lie in its fan-out bucket; ids bunched at
/// either end of a bucket, or alone in one, are found all the same, and ids next to them (or
/// at a bucket's ends) that are not there are not found.
#[test]
fn lookups_find_every_id_however_the_ids_are_spread() {
    for hash in [HashKind::Sha1, HashKind::Sha256] {
        let hl = hash.len();
        let with = |first: u8, fill: u8, n: u32| {
            let mut raw = vec![fill; hl];
            raw[0] = first;
            raw[hl - 4..].copy_from_slice(&n.to_be_bytes());
            ObjectId::from_raw(hash, &raw).unwrap()
        };
        let mut ids: Vec<ObjectId> = (0..1500).map(|i| fake_id(hash, &format!("even {i}"))).collect();
        for n in 0..200 {
            ids.push(with(0xab, 0x00, n)); // bunched at the bottom of bucket 0xab
            ids.push(with(0xcd, 0xff, u32::MAX - n)); // and at the top of bucket 0xcd
        }
        ids.push(with(0x00, 0x80, 7)); // alone in bucket 0x00
        ids.push(with(0xff, 0x00, 0)); // alone in bucket 0xff, at its very bottom
        ids.sort();
        ids.dedup();
        let mut s = Synth::new(hash);
        for (i, id) in ids.iter().enumerate() {
            s.plain(&format!("entry {i}"), 3, format!("{i}").as_bytes());
            s.entries.last_mut().unwrap().0 = *id;
        }
        let (_t, set) = s.open();
        for (i, id) in ids.iter().enumerate() {
            assert_eq!(read_blob(&set, id).unwrap(), format!("{i}").as_bytes(), "{id}");
        }
        let mut absent = vec![
            with(0xab, 0x00, 200),
            with(0xab, 0xff, 0),
            with(0xcd, 0xff, u32::MAX - 200),
            with(0xcd, 0x00, 0),
            with(0x00, 0x80, 6),
            with(0x00, 0x80, 8),
            with(0x00, 0x00, 0),
            with(0xff, 0xff, u32::MAX),
            with(0x01, 0x00, 0),
        ];
        absent.extend((0..300).map(|i| fake_id(hash, &format!("absent {i}"))));
        for id in absent {
            assert!(ids.binary_search(&id).is_err());
            assert!(!set.contains(&id).unwrap(), "{id}");
        }
    }
}
