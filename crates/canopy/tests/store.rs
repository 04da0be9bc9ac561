//! The store API as a library user meets it: branches, typed values, test-and-set, views,
//! history, and concurrent writers on one branch.

use std::collections::BTreeSet;

use canopy::store::{CommitOptions, TestAndSet};
use canopy::{HashKind, Path, Repo};
use serde::{Deserialize, Serialize};

fn p(s: &str) -> Path {
    Path::parse(s).unwrap()
}

#[test]
fn typed_values_are_readable_json() {
    #[derive(Serialize, Deserialize, PartialEq, Debug)]
    struct Server {
        host: String,
        port: u16,
    }
    let dir = tempfile::tempdir().unwrap();
    let repo = Repo::init(dir.path()).unwrap();
    let main = repo.branch("main").unwrap();
    let s = Server {
        host: "db1".into(),
        port: 5432,
    };
    main.set_json(&p("servers/db"), &s, &CommitOptions::message("add db"))
        .unwrap();
    assert_eq!(main.get_json::<Server>(&p("servers/db")).unwrap(), Some(s));
    let text = String::from_utf8(main.get(&p("servers/db")).unwrap().unwrap()).unwrap();
    assert!(text.contains("\"host\": \"db1\""), "{text}");
    // A value that is not this type is a clear error, not a panic.
    main.set(&p("servers/db"), "not json", &CommitOptions::message("x"))
        .unwrap();
    assert!(main.get_json::<Server>(&p("servers/db")).is_err());
}

#[test]
fn test_and_set_views_and_history() {
    let repo = Repo::in_memory(HashKind::Sha1);
    let main = repo.branch("main").unwrap();
    let opts = CommitOptions::message("m");
    let c1 = match main.test_and_set(&p("lock"), None, Some(b"me"), &opts).unwrap() {
        TestAndSet::Committed(c) => c,
        other => panic!("{other:?}"),
    };
    assert_eq!(
        main.test_and_set(&p("lock"), None, Some(b"you"), &opts).unwrap(),
        TestAndSet::Failed(Some(b"me".to_vec()))
    );
    assert_eq!(
        main.head().unwrap(),
        Some(c1),
        "a failed test-and-set commits nothing"
    );
    let c2 = match main.test_and_set(&p("lock"), Some(b"me"), None, &opts).unwrap() {
        TestAndSet::Committed(c) => c,
        other => panic!("{other:?}"),
    };
    assert!(!main.contains(&p("lock")).unwrap());
    // A view at an old commit still sees the old value.
    assert_eq!(
        repo.view_at(c1).unwrap().get(&p("lock")).unwrap(),
        Some(b"me".to_vec())
    );
    let ids: Vec<_> = main.history().unwrap().map(|c| c.unwrap().id).collect();
    assert_eq!(ids, vec![c2, c1]);
    // A change that leaves the tree as it is makes no commit.
    assert_eq!(main.remove(&p("absent"), &opts).unwrap(), c2);
    // Batches are one commit.
    let c3 = main
        .transaction()
        .set(p("a/x"), "1")
        .set(p("a/y"), "2")
        .remove(p("a/x"))
        .commit(&opts)
        .unwrap();
    assert_eq!(repo.commit_info(c3).unwrap().commit.parents, vec![c2]);
    assert_eq!(main.list(&p("a")).unwrap().len(), 1);
}

#[test]
fn open_accepts_a_git_checkout_and_refuses_junk() {
    let dir = tempfile::tempdir().unwrap();
    let status = std::process::Command::new("git")
        .args(["init", "-q", "-b", "main"])
        .arg(dir.path())
        .status()
        .unwrap();
    assert!(status.success());
    let repo = Repo::open(dir.path()).unwrap();
    repo.head_branch()
        .unwrap()
        .set(&p("k"), "v", &CommitOptions::message("from canopy"))
        .unwrap();
    let out = std::process::Command::new("git")
        .args(["-C"])
        .arg(dir.path())
        .args(["show", "main:k"])
        .output()
        .unwrap();
    assert_eq!(out.stdout, b"v");
    let empty = tempfile::tempdir().unwrap();
    assert!(Repo::open(empty.path()).unwrap_err().is_user_error());
}

#[test]
fn concurrent_threads_never_lose_an_update() {
    let dir = tempfile::tempdir().unwrap();
    let repo = Repo::init(dir.path()).unwrap();
    std::thread::scope(|s| {
        for t in 0..4 {
            let main = repo.branch("main").unwrap();
            s.spawn(move || {
                for i in 0..50 {
                    main.set(
                        &p(&format!("k/{t}/{i}")),
                        format!("{t}-{i}"),
                        &CommitOptions::message(format!("set {t} {i}")),
                    )
                    .unwrap();
                }
            });
        }
    });
    let main = repo.branch("main").unwrap();
    let keys: BTreeSet<String> = main
        .view()
        .unwrap()
        .paths(&Path::root())
        .unwrap()
        .iter()
        .map(|(p, _)| p.to_string())
        .collect();
    assert_eq!(keys.len(), 200);
    let history: Vec<_> = main.history().unwrap().map(|c| c.unwrap()).collect();
    assert_eq!(history.len(), 200);
    assert!(
        history.iter().all(|c| c.commit.parents.len() <= 1),
        "linear history"
    );
    let fsck = std::process::Command::new("git")
        .arg("--git-dir")
        .arg(dir.path())
        .args(["fsck", "--strict"])
        .output()
        .unwrap();
    assert!(fsck.status.success(), "{}", String::from_utf8_lossy(&fsck.stderr));
}

#[test]
fn an_expectation_that_holds_commits_exactly_its_change() {
    let repo = Repo::in_memory(HashKind::Sha1);
    let main = repo.branch("main").unwrap();
    let opts = CommitOptions::message("m");
    main.set(&p(".gitattributes"), "n merge=counter\n", &opts)
        .unwrap();
    main.set(&p("n"), "5", &opts).unwrap();
    let start = main.head().unwrap().unwrap();
    main.set(&p("n"), "20", &opts).unwrap();
    // Made against an old head, but conditional on the current value: a compare-and-swap.
    main.transaction_at(Some(start))
        .expect(p("n"), Some(b"20".to_vec()))
        .set(p("n"), "100")
        .commit(&opts)
        .unwrap();
    assert_eq!(main.get(&p("n")).unwrap().unwrap(), b"100");
}
