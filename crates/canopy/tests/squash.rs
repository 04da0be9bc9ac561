//! Distributed garbage collection by squashing: replicas that squash at the same commit agree
//! on every id, a replica that has not squashed adopts the squash (rebasing its own commits),
//! and `gc` then frees the old history. Replicas exchange refs with `git fetch` here (the
//! transport is not what is tested).

use std::path::Path as FsPath;
use std::process::Command;

use canopy::backend::git::gc::{gc, GcOptions};
use canopy::store::{CommitOptions, MergeOptions, MergeOutcome, SQUASH_REF};
use canopy::{Path, Repo};

fn git(dir: &FsPath, args: &[&str]) -> String {
    let out = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("HOME", dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

fn opts(i: i64) -> CommitOptions {
    let who = canopy::object::Signature {
        name: "r".into(),
        email: "r@example.com".into(),
        time: 1_700_000_000 + i,
        offset_minutes: 0,
    };
    CommitOptions {
        message: format!("commit {i}"),
        author: Some(who.clone()),
        committer: Some(who),
    }
}

fn p(s: &str) -> Path {
    Path::parse(s).unwrap()
}

fn size(dir: &FsPath) -> u64 {
    let mut total = 0;
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let m = e.metadata().unwrap();
            if m.is_dir() {
                stack.push(e.path());
            } else {
                total += m.len();
            }
        }
    }
    total
}

#[test]
fn replicas_squash_to_identical_ids_and_others_adopt() {
    let tmp = tempfile::tempdir().unwrap();
    let a = tmp.path().join("a");
    let repo_a = Repo::init(&a).unwrap();
    git(&a, &["config", "canopy.fsync", "false"]);
    let repo_a = {
        drop(repo_a);
        Repo::open(&a).unwrap()
    };
    let main = repo_a.branch("main").unwrap();
    for i in 0..1000 {
        main.set(&p(&format!("k/{}", i % 37)), format!("value {i}\n"), &opts(i))
            .unwrap();
    }
    for name in ["b", "c"] {
        git(tmp.path(), &["clone", "-q", "--bare", a.to_str().unwrap(), name]);
    }
    let (b, c) = (tmp.path().join("b"), tmp.path().join("c"));
    let repo_b = Repo::open(&b).unwrap();
    let repo_c = Repo::open(&c).unwrap();

    // Replica C works on top of the old history before hearing of any squash.
    repo_c
        .branch("main")
        .unwrap()
        .set(&p("c/own"), "mine\n", &opts(5000))
        .unwrap();

    let point = repo_a.resolve("main~400").unwrap();
    gc(
        repo_a.layout().unwrap(),
        &GcOptions {
            grace: std::time::Duration::ZERO,
            ..GcOptions::default()
        },
    )
    .unwrap();
    let before = size(&a.join("objects"));

    let values_before = repo_a.branch("main").unwrap().view().unwrap();
    let sa = repo_a.squash(point).unwrap();
    let sb = repo_b.squash(repo_b.resolve(&point.to_hex()).unwrap()).unwrap();
    assert_eq!(sa.root, sb.root);
    assert_eq!(
        repo_a.branch("main").unwrap().head().unwrap(),
        repo_b.branch("main").unwrap().head().unwrap()
    );
    assert_eq!(git(&a, &["rev-list", "--count", "main"]), "401");
    assert_eq!(
        git(&a, &["rev-list", "--max-parents=0", "main"]),
        sa.root.to_hex()
    );
    // Values are unchanged by the squash.
    let values_after = repo_a.branch("main").unwrap().view().unwrap();
    for (path, _) in values_before.paths(&Path::root()).unwrap() {
        assert_eq!(
            values_after.get(&path).unwrap(),
            values_before.get(&path).unwrap()
        );
    }
    assert_eq!(values_after.get(&p("k/0")).unwrap().unwrap(), b"value 999\n");

    // gc frees the old history.
    gc(
        repo_a.layout().unwrap(),
        &GcOptions {
            grace: std::time::Duration::ZERO,
            ..GcOptions::default()
        },
    )
    .unwrap();
    let after = size(&a.join("objects"));
    assert!(after < before, "squashed store {after} bytes, before {before}");
    assert_eq!(git(&a, &["fsck", "--strict", "--no-dangling"]), "");

    // C fetches A's squash and branch, adopts the squash, and merges: nothing is lost.
    git(
        &c,
        &[
            "fetch",
            "-q",
            a.to_str().unwrap(),
            &format!("+{SQUASH_REF}:{SQUASH_REF}"),
            "+refs/heads/main:refs/remotes/a/main",
        ],
    );
    let repo_c = {
        drop(repo_c);
        Repo::open(&c).unwrap()
    };
    let root = repo_c.refs().resolve(SQUASH_REF).unwrap().unwrap();
    let adopted = repo_c
        .adopt_squash(root)
        .unwrap()
        .expect("C had the squash point");
    assert_eq!(adopted.root, sa.root);
    let theirs = repo_c.refs().resolve("refs/remotes/a/main").unwrap().unwrap();
    let c_main = repo_c.branch("main").unwrap();
    // C's own commit now sits directly on A's head, rebased onto the squashed history.
    let outcome = c_main.merge(theirs, &MergeOptions::default()).unwrap();
    assert!(matches!(outcome, MergeOutcome::UpToDate(_)), "{outcome:?}");
    assert_eq!(c_main.get(&p("c/own")).unwrap().unwrap(), b"mine\n");
    let a_view = repo_a.branch("main").unwrap().view().unwrap();
    for (path, _) in a_view.paths(&Path::root()).unwrap() {
        assert_eq!(c_main.get(&path).unwrap(), a_view.get(&path).unwrap(), "{path}");
    }
    assert_eq!(
        git(&c, &["rev-list", "--max-parents=0", "main"]),
        sa.root.to_hex()
    );
    assert_eq!(
        git(&c, &["rev-parse", "main~1"]),
        repo_a.branch("main").unwrap().head().unwrap().unwrap().to_hex()
    );
    // Squashing again at the same point changes nothing.
    assert!(repo_c.adopt_squash(root).unwrap().is_none());
}

#[test]
fn branches_behind_the_squash_point_are_left_alone() {
    let tmp = tempfile::tempdir().unwrap();
    let repo = Repo::init(tmp.path()).unwrap();
    let main = repo.branch("main").unwrap();
    main.set(&p("a"), "1", &opts(1)).unwrap();
    let old_head = main.head().unwrap().unwrap();
    repo.create_branch("old", old_head).unwrap();
    main.set(&p("a"), "2", &opts(2)).unwrap();
    main.set(&p("a"), "3", &opts(3)).unwrap();
    let outcome = repo.squash(repo.resolve("main~1").unwrap()).unwrap();
    assert_eq!(
        outcome.rewritten.iter().map(|r| r.0.as_str()).collect::<Vec<_>>(),
        ["main"]
    );
    let old = repo.branch("old").unwrap();
    assert_eq!(old.head().unwrap(), Some(old_head));
    assert_eq!(old.get(&p("a")).unwrap().unwrap(), b"1");
    assert_eq!(main.get(&p("a")).unwrap().unwrap(), b"3");
}

#[test]
fn an_object_reused_after_gc_removed_its_pack_is_written_again() {
    let tmp = tempfile::tempdir().unwrap();
    let repo = Repo::init(tmp.path()).unwrap();
    let main = repo.branch("main").unwrap();
    main.set(&p("keep"), "k", &opts(1)).unwrap();
    let scratch = repo
        .create_branch("scratch", main.head().unwrap().unwrap())
        .unwrap();
    scratch.set(&p("x"), "old value", &opts(2)).unwrap();
    let now_zero = GcOptions {
        grace: std::time::Duration::ZERO,
        ..GcOptions::default()
    };
    gc(repo.layout().unwrap(), &now_zero).unwrap();
    // This process reads through the pack, so its pack list now names it.
    assert_eq!(scratch.get(&p("x")).unwrap().unwrap(), b"old value");
    // The value becomes unreachable (branch and reflogs gone) and a second gc drops that pack.
    let head = scratch.head().unwrap().unwrap();
    let log = canopy::backend::RefLog {
        who: repo.default_signature(),
        message: "rm".into(),
    };
    assert!(repo
        .refs()
        .update(
            "refs/heads/scratch",
            canopy::backend::Expected::Value(head),
            None,
            &log
        )
        .unwrap());
    for name in ["refs/heads/main", "HEAD"] {
        repo.refs().expire_reflog(name).unwrap();
    }
    let report = gc(repo.layout().unwrap(), &now_zero).unwrap();
    assert_eq!(report.packs_removed, 1);
    // The same `Repo`, whose pack list is stale, writes the same bytes again.
    main.set(&p("y"), "old value", &opts(3)).unwrap();
    let fresh = Repo::open(tmp.path()).unwrap();
    assert_eq!(
        fresh.branch("main").unwrap().get(&p("y")).unwrap().unwrap(),
        b"old value"
    );
    assert_eq!(git(tmp.path(), &["fsck", "--strict", "--no-dangling"]), "");
}
