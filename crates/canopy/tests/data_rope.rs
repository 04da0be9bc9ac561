//! `data::Rope`: random edits against a model, objects written per edit, merges of concurrent
//! edits in different regions and in the same chunk.

mod data_common;

use std::time::Instant;

use canopy::data::Rope;
use canopy::store::{CommitOptions, Error, MergeOptions, MergeOutcome};
use canopy::{Branch, HashKind, Path, Repo};
use data_common::{disk_repo, fsck, git, sync, tree_of, Rng};

/// `size` bytes of text in lines of words.
fn text(size: usize, rng: &mut Rng) -> Vec<u8> {
    const WORDS: &[&str] = &[
        "canopy", "rope", "chunk", "merge", "tree", "blob", "key", "edit", "git",
    ];
    let mut out = Vec::with_capacity(size + 80);
    let mut line = 0;
    while out.len() < size {
        out.extend_from_slice(format!("{line:06} ").as_bytes());
        for _ in 0..rng.below(12) + 1 {
            out.extend_from_slice(WORDS[rng.below(WORDS.len() as u64) as usize].as_bytes());
            out.push(b' ');
        }
        out.push(b'\n');
        line += 1;
    }
    out.truncate(size);
    out
}

fn splice_model(model: &mut Vec<u8>, offset: usize, delete: usize, insert: &[u8]) {
    model.splice(offset..offset + delete, insert.iter().copied());
}

#[test]
fn random_edits_on_a_megabyte_write_o_log_n_objects_each() {
    // 1 MiB in the debug test; the example runs 10 MiB, with the same 1,000 edits.
    const SIZE: usize = 1 << 20;
    const EDITS: usize = 1000;
    let repo = Repo::in_memory(HashKind::Sha1);
    let mut rng = Rng(0x0005_eed5);
    let mut model = text(SIZE, &mut rng);
    let started = Instant::now();
    let rope = Rope::create(repo.branch("main").unwrap(), Path::parse("doc").unwrap(), &model).unwrap();
    let created = started.elapsed();
    let chunks = rope.chunk_count().unwrap();
    assert!(chunks > 200 && chunks < 400, "{chunks} chunks for 1 MiB");
    assert_eq!(rope.len().unwrap(), SIZE);

    let count = || repo.objects().ids_with_prefix("").unwrap().len();
    let (mut most, mut sum, mut empty_edits) = (0, 0, 0);
    let started = Instant::now();
    for i in 0..EDITS {
        let offset = rng.below(model.len() as u64 + 1) as usize;
        let delete = match rng.below(10) {
            0 => rng.below(20_000) as usize,
            1..=5 => rng.below(300) as usize,
            _ => 0,
        }
        .min(model.len() - offset);
        let insert = if rng.below(4) == 0 {
            Vec::new()
        } else {
            text(rng.below(400) as usize + 1, &mut rng)
        };
        let before = count();
        let stats = rope.splice(offset, delete, &insert).unwrap();
        empty_edits += usize::from(stats.commit.is_none());
        // Every object but the commit: chunk blobs and the directories above them.
        let objects = count() - before - usize::from(stats.commit.is_some());
        most = most.max(objects);
        sum += objects;
        splice_model(&mut model, offset, delete, &insert);
        assert_eq!(rope.len().unwrap(), model.len(), "edit {i}");
        if i % 50 == 0 {
            assert_eq!(rope.read().unwrap(), model, "edit {i}");
        }
        let at = rng.below(model.len() as u64) as usize;
        let len = (rng.below(10_000) as usize).min(model.len() - at);
        assert_eq!(rope.read_range(at, len).unwrap(), &model[at..at + len]);
    }
    let editing = started.elapsed();
    assert_eq!(rope.read().unwrap(), model);
    eprintln!(
        "rope: 1 MiB in {chunks} chunks created in {created:?}; {EDITS} edits in {editing:?} \
         ({:?} each); objects per edit besides the commit: mean {:.2}, max {most}",
        editing / EDITS as u32,
        sum as f64 / EDITS as f64
    );
    assert!(most <= 8, "an edit wrote {most} objects");
    assert_eq!(rope.history_len(), EDITS + 1 - empty_edits, "one commit per edit");
}

/// The number of commits on the rope's branch.
trait HistoryLen {
    fn history_len(&self) -> usize;
}

impl HistoryLen for Rope {
    fn history_len(&self) -> usize {
        self.branch().history().unwrap().count()
    }
}

fn two_replicas(dir: &std::path::Path, content: &[u8]) -> (Repo, Branch, Branch, Rope, Rope) {
    let repo = disk_repo(dir);
    let main = repo.branch("main").unwrap();
    Rope::create(main.clone(), Path::parse("doc").unwrap(), content).unwrap();
    let head = main.head().unwrap().unwrap();
    let a = repo.create_branch("a", head).unwrap();
    let b = repo.create_branch("b", head).unwrap();
    let ra = Rope::open(a.clone(), Path::parse("doc").unwrap());
    let rb = Rope::open(b.clone(), Path::parse("doc").unwrap());
    (repo, a, b, ra, rb)
}

#[test]
fn edits_in_different_regions_merge_into_both_edits() {
    let dir = tempfile::tempdir().unwrap();
    let content = text(200_000, &mut Rng(7));
    let (_repo, a, b, ra, rb) = two_replicas(dir.path(), &content);
    ra.splice(10_000, 50, b"AAA inserted on a\n").unwrap();
    let on_b = rb
        .splice(150_000, 20, b"BBB inserted on b\n")
        .unwrap()
        .commit
        .unwrap();
    rb.splice(0, 7, b"").unwrap();

    let mut expected = content.clone();
    splice_model(&mut expected, 150_000, 20, b"BBB inserted on b\n");
    splice_model(&mut expected, 10_000, 50, b"AAA inserted on a\n");
    splice_model(&mut expected, 0, 7, b"");
    let outcome = a
        .merge(b.head().unwrap().unwrap(), &MergeOptions::default())
        .unwrap();
    assert!(matches!(outcome, MergeOutcome::Merged(_)), "{outcome:?}");
    sync(&b, &a);
    assert_eq!(tree_of(&a), tree_of(&b));
    assert_eq!(ra.read().unwrap(), expected);
    assert_eq!(rb.read().unwrap(), expected);

    fsck(dir.path());
    let show = git(dir.path(), &["show", &on_b.to_hex()]);
    assert!(
        show.contains("rope doc: splice at 150000, -20 +18 bytes"),
        "{show}"
    );
    assert!(
        show.lines()
            .any(|l| l.starts_with('+') && l.ends_with("BBB inserted on b")),
        "the chunk diff is readable text: {show}"
    );
    let meta = git(dir.path(), &["show", "a:doc/rope.json"]);
    assert!(meta.contains("\"levels\": 1"), "{meta}");
}

#[test]
fn edits_in_one_chunk_merge_by_lines_or_conflict_the_same_way_each_time() {
    let dir = tempfile::tempdir().unwrap();
    let content: Vec<u8> = (0..2000)
        .flat_map(|i| format!("line {i:04}\n").into_bytes())
        .collect();
    let (repo, a, b, ra, rb) = two_replicas(dir.path(), &content);
    // Lines 1 and 300 are both in the first chunk (lines are 10 bytes, chunks about 4 KiB).
    let line = |n: usize| n * 10;
    ra.splice(line(1), 9, b"LINE ONE ON A").unwrap();
    rb.splice(line(300), 9, b"LINE 300 ON B").unwrap();
    let mut expected = content.clone();
    splice_model(&mut expected, line(300), 9, b"LINE 300 ON B");
    splice_model(&mut expected, line(1), 9, b"LINE ONE ON A");
    sync(&a, &b);
    assert_eq!(ra.read().unwrap(), expected, "disjoint lines of one chunk merge");

    // The same line changed differently: a conflict on that chunk, whichever side merges.
    let base = a.head().unwrap().unwrap();
    let c = repo.create_branch("c", base).unwrap();
    let d = repo.create_branch("d", base).unwrap();
    Rope::open(c.clone(), Path::parse("doc").unwrap())
        .splice(line(5), 9, b"five on c")
        .unwrap();
    Rope::open(d.clone(), Path::parse("doc").unwrap())
        .splice(line(5), 9, b"five on d")
        .unwrap();
    let conflicts = |into: &Branch, from: &Branch| match into
        .merge(from.head().unwrap().unwrap(), &MergeOptions::default())
        .unwrap()
    {
        MergeOutcome::Conflicts(c) => c.into_iter().map(|c| c.path).collect::<Vec<_>>(),
        other => panic!("expected a conflict, got {other:?}"),
    };
    let one = conflicts(&c, &d);
    let other = conflicts(&d, &c);
    assert_eq!(one, other);
    assert_eq!(one.len(), 1);
    assert!(one[0].starts_with("doc/chunks/"), "{one:?}");

    // The same change on both sides merges into that change once.
    let e = repo.create_branch("e", base).unwrap();
    let f = repo.create_branch("f", base).unwrap();
    for br in [&e, &f] {
        Rope::open(br.clone(), Path::parse("doc").unwrap())
            .splice(line(7), 4, b"LINE")
            .unwrap();
    }
    sync(&e, &f);
    let mut once = expected.clone();
    splice_model(&mut once, line(7), 4, b"LINE");
    assert_eq!(Rope::open(e, Path::parse("doc").unwrap()).read().unwrap(), once);
    fsck(dir.path());
}

#[test]
fn a_rope_grows_from_empty_splits_and_shrinks_to_nothing() {
    let repo = Repo::in_memory(HashKind::Sha1);
    let main = repo.branch("main").unwrap();
    let rope = Rope::create(main.clone(), Path::parse("r").unwrap(), b"").unwrap();
    assert!(rope.is_empty().unwrap());
    let mut model = Vec::new();
    let mut rng = Rng(99);
    for _ in 0..40 {
        let piece = text(rng.below(3000) as usize + 1, &mut rng);
        let at = rng.below(model.len() as u64 + 1) as usize;
        rope.splice(at, 0, &piece).unwrap();
        splice_model(&mut model, at, 0, &piece);
    }
    // A large insert in the middle splits into chunks of at most 8 KiB.
    let big = text(50_000, &mut rng);
    let mid = model.len() / 2;
    let stats = rope.splice(mid, 0, &big).unwrap();
    splice_model(&mut model, mid, 0, &big);
    assert!(stats.chunks_written >= 7, "{stats:?}");
    assert_eq!(rope.read().unwrap(), model);
    let chunks = rope.chunk_count().unwrap();
    assert!(chunks >= model.len() / 8192, "{chunks} chunks");

    // Out of range is an error, and changes nothing.
    let err = rope.splice(model.len(), 1, b"").unwrap_err();
    assert!(matches!(err, Error::OutOfRange { .. }), "{err}");
    assert!(rope.read_range(model.len() - 1, 2).is_err());
    // Creating over an existing rope fails.
    assert!(matches!(
        Rope::create(main.clone(), Path::parse("r").unwrap(), b"x"),
        Err(Error::ExpectationFailed { .. })
    ));
    // A path that holds no rope is reported as such.
    main.set(&Path::parse("x/y").unwrap(), "z", &CommitOptions::message("x"))
        .unwrap();
    let err = Rope::open(main, Path::parse("x").unwrap()).read().unwrap_err();
    assert!(err.to_string().contains("x/rope.json"), "{err}");

    let stats = rope.splice(0, model.len(), b"").unwrap();
    assert_eq!(stats.chunks_written, 0);
    assert!(rope.read().unwrap().is_empty());
    assert_eq!(rope.chunk_count().unwrap(), 0);
}
