//! Canopy's sync client: against stock `git http-backend` (HTTP, CGI hosted by the test
//! helper), against another store on disk (in-process transport), shallow and blobless
//! clones, and two replicas converging on counter and set values through pull and push.

mod sync_support;

use canopy::store::Branch;
use canopy::store::{CommitOptions, MergeOutcome};
use canopy::sync::client::{self, remote, CloneOptions, FetchOptions, PullOptions, RefResult};
use canopy::sync::pack::Filter;
use canopy::{Path, Repo};
use sync_support::git;

fn p(s: &str) -> Path {
    Path::parse(s).unwrap()
}

fn msg(m: &str) -> CommitOptions {
    CommitOptions::message(m)
}

fn push_branch(repo: &Repo, remote_name: &str, branch: &str, force: bool) -> RefResult {
    let branch = repo.branch(branch).unwrap();
    client::push_branch(repo, &branch, Some(remote_name), force, &[], None)
        .unwrap()
        .1
}

fn pull(repo: &Repo, remote_name: &str, branch: &str) -> MergeOutcome {
    let branch = repo.branch(branch).unwrap();
    let mut opts = PullOptions {
        remote: Some(remote_name.into()),
        ..PullOptions::default()
    };
    client::pull(repo, &branch, &mut opts).unwrap().merge
}

#[test]
fn clone_fetch_push_between_stores_on_disk() {
    let tmp = tempfile::tempdir().unwrap();
    let origin = Repo::init(tmp.path().join("origin")).unwrap();
    let main = origin.branch("main").unwrap();
    for i in 0..4 {
        main.set(&p(&format!("k{i}")), format!("v{i}"), &msg("seed"))
            .unwrap();
    }
    let url = tmp.path().join("origin").display().to_string();
    let replica = client::clone(&url, &tmp.path().join("replica"), &mut CloneOptions::default()).unwrap();
    assert_eq!(
        replica.branch("main").unwrap().get(&p("k3")).unwrap().unwrap(),
        b"v3"
    );
    assert_eq!(
        remote::list(&replica).unwrap(),
        vec![("origin".to_string(), url.clone())]
    );
    git(&tmp.path().join("replica"), &["fsck", "--strict"]);
    assert!(git(&tmp.path().join("replica"), &["remote", "-v"]).contains(&url));

    replica
        .branch("main")
        .unwrap()
        .set(&p("k9"), "new", &msg("replica"))
        .unwrap();
    assert!(matches!(
        push_branch(&replica, "origin", "main", false),
        RefResult::Ok { .. }
    ));
    let origin = Repo::open(tmp.path().join("origin")).unwrap();
    assert_eq!(
        origin.branch("main").unwrap().get(&p("k9")).unwrap().unwrap(),
        b"new"
    );
    assert_eq!(
        origin.branch("main").unwrap().head().unwrap(),
        replica.refs().resolve("refs/remotes/origin/main").unwrap()
    );
    git(&tmp.path().join("origin"), &["fsck", "--strict"]);

    // The origin moves on; a non-fast-forward push is refused locally, a fetch brings it in.
    origin
        .branch("main")
        .unwrap()
        .set(&p("k0"), "changed", &msg("origin"))
        .unwrap();
    replica
        .branch("main")
        .unwrap()
        .set(&p("k1"), "changed too", &msg("replica 2"))
        .unwrap();
    assert_eq!(
        push_branch(&replica, "origin", "main", false),
        RefResult::RejectedLocally("fetch first".into())
    );
    assert!(matches!(
        pull(&replica, "origin", "main"),
        MergeOutcome::Merged(_)
    ));
    assert!(matches!(
        push_branch(&replica, "origin", "main", false),
        RefResult::Ok { .. }
    ));
    let origin = Repo::open(tmp.path().join("origin")).unwrap();
    let b = origin.branch("main").unwrap();
    assert_eq!(b.get(&p("k0")).unwrap().unwrap(), b"changed");
    assert_eq!(b.get(&p("k1")).unwrap().unwrap(), b"changed too");
    git(&tmp.path().join("origin"), &["fsck", "--strict"]);
    git(&tmp.path().join("replica"), &["fsck", "--strict"]);
}

#[test]
fn shallow_and_blobless_replicas() {
    let tmp = tempfile::tempdir().unwrap();
    let origin = Repo::init(tmp.path().join("origin")).unwrap();
    let main = origin.branch("main").unwrap();
    for i in 0..5 {
        main.set(&p("counter"), format!("{i}"), &msg("c")).unwrap();
    }
    let url = format!("file://{}", tmp.path().join("origin").display());
    let mut opts = CloneOptions {
        fetch: FetchOptions {
            depth: Some(1),
            ..FetchOptions::default()
        },
        remote: None,
    };
    let shallow = client::clone(&url, &tmp.path().join("shallow"), &mut opts).unwrap();
    let dir = tmp.path().join("shallow");
    assert_eq!(git(&dir, &["rev-list", "--count", "main"]).trim(), "1");
    assert_eq!(
        shallow
            .branch("main")
            .unwrap()
            .get(&p("counter"))
            .unwrap()
            .unwrap(),
        b"4"
    );
    git(&dir, &["fsck", "--strict"]);

    let mut opts = CloneOptions {
        fetch: FetchOptions {
            filter: Some(Filter::BlobNone),
            ..FetchOptions::default()
        },
        remote: None,
    };
    client::clone(&url, &tmp.path().join("blobless"), &mut opts).unwrap();
    let dir = tmp.path().join("blobless");
    assert_eq!(git(&dir, &["rev-list", "--count", "main"]).trim(), "5");
    assert_eq!(git(&dir, &["config", "remote.origin.promisor"]).trim(), "true");
    // No blob was transferred.
    let count = git(&dir, &["count-objects", "-v"]);
    assert!(count.contains("in-pack: 10"), "{count}");
}

#[test]
fn replicas_converge_on_counters_sets_and_text() {
    let tmp = tempfile::tempdir().unwrap();
    let origin = Repo::init(tmp.path().join("origin")).unwrap();
    let main = origin.branch("main").unwrap();
    main.transaction()
        .set(p(".gitattributes"), "counter merge=counter\ntags merge=set\n")
        .set(p("counter"), "10\n")
        .set(p("tags"), "a\nb\n")
        .set(p("notes"), "one\ntwo\nthree\nfour\nfive\n")
        .commit(&msg("seed"))
        .unwrap();
    let url = tmp.path().join("origin").display().to_string();
    let a = client::clone(&url, &tmp.path().join("a"), &mut CloneOptions::default()).unwrap();
    let b = client::clone(&url, &tmp.path().join("b"), &mut CloneOptions::default()).unwrap();
    a.branch("main")
        .unwrap()
        .transaction()
        .set(p("counter"), "13\n")
        .set(p("tags"), "a\nb\nc\n")
        .set(p("notes"), "ONE\ntwo\nthree\nfour\nfive\n")
        .commit(&msg("a"))
        .unwrap();
    b.branch("main")
        .unwrap()
        .transaction()
        .set(p("counter"), "15\n")
        .set(p("tags"), "b\nd\n")
        .set(p("notes"), "one\ntwo\nthree\nfour\nFIVE\n")
        .commit(&msg("b"))
        .unwrap();
    // a syncs first, then b (pull merges, push), then a again: the library's sync, as
    // `canopy sync` runs it, with the remote's progress reported to a callback.
    for (r, name) in [(&a, "a"), (&b, "b"), (&a, "a")] {
        let mut messages = 0;
        let mut count = |_: &str| messages += 1;
        let mut opts = PullOptions {
            progress: Some(&mut count),
            ..PullOptions::default()
        };
        let synced = client::sync(r, &r.branch("main").unwrap(), &mut opts).unwrap();
        assert!(synced.in_sync(), "{name}: {synced:?}");
        assert_eq!(synced.pull().remote, "origin");
        assert!(
            !matches!(synced.pull().merge, MergeOutcome::Conflicts(_)),
            "{name}"
        );
    }
    let (ha, hb) = (
        a.branch("main").unwrap().head().unwrap(),
        b.branch("main").unwrap().head().unwrap(),
    );
    assert_eq!(ha, hb);
    let branch = a.branch("main").unwrap();
    assert_eq!(branch.get(&p("counter")).unwrap().unwrap(), b"18\n");
    assert_eq!(branch.get(&p("tags")).unwrap().unwrap(), b"b\nc\nd\n");
    assert_eq!(
        branch.get(&p("notes")).unwrap().unwrap(),
        b"ONE\ntwo\nthree\nfour\nFIVE\n"
    );
    git(&tmp.path().join("origin"), &["fsck", "--strict"]);
}

/// A sync whose pull conflicts changes nothing here and pushes nothing; after the conflict is
/// settled by hand, the next sync pushes the merge.
#[test]
fn a_sync_that_conflicts_changes_nothing_and_pushes_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let origin = Repo::init(tmp.path().join("origin")).unwrap();
    origin
        .branch("main")
        .unwrap()
        .set(&p("note"), "base\n", &msg("seed"))
        .unwrap();
    let url = tmp.path().join("origin").display().to_string();
    let a = client::clone(&url, &tmp.path().join("a"), &mut CloneOptions::default()).unwrap();
    let b = client::clone(&url, &tmp.path().join("b"), &mut CloneOptions::default()).unwrap();
    let main = |r: &Repo| -> Branch { r.branch("main").unwrap() };
    main(&a).set(&p("note"), "from a\n", &msg("a")).unwrap();
    main(&b).set(&p("note"), "from b\n", &msg("b")).unwrap();
    let synced = client::sync(&a, &main(&a), &mut PullOptions::default()).unwrap();
    assert!(synced.in_sync());
    let before = main(&b).head().unwrap();
    let origin_head = main(&origin).head().unwrap();
    let synced = client::sync(&b, &main(&b), &mut PullOptions::default()).unwrap();
    let MergeOutcome::Conflicts(conflicts) = &synced.pull().merge else {
        panic!("expected a conflict: {synced:?}");
    };
    assert_eq!(
        conflicts.iter().map(|c| c.path.as_str()).collect::<Vec<_>>(),
        ["note"]
    );
    assert!(synced.push.is_none() && !synced.in_sync());
    assert_eq!(main(&b).head().unwrap(), before, "the branch is unchanged");
    assert_eq!(main(&origin).head().unwrap(), origin_head, "nothing was pushed");
    // Settled by hand (b takes a's value on top of the remote's head), the next sync pushes.
    let theirs = b.refs().resolve("refs/remotes/origin/main").unwrap().unwrap();
    main(&b).reset(theirs, &msg("reset")).unwrap();
    main(&b)
        .set(&p("note"), "from a and b\n", &msg("settled"))
        .unwrap();
    let synced = client::sync(&b, &main(&b), &mut PullOptions::default()).unwrap();
    assert!(synced.in_sync(), "{synced:?}");
    assert_eq!(main(&origin).get(&p("note")).unwrap().unwrap(), b"from a and b\n");
    // A branch with no commits has nothing to push: a clear refusal.
    let err = client::push_branch(&b, &b.branch("empty").unwrap(), None, false, &[], None).unwrap_err();
    assert!(err.to_string().contains("no commits to push"), "{err}");
}

#[cfg(feature = "http-client")]
mod http_backend {
    use super::*;
    use sync_support::{cgi_handler, Server};

    /// Canopy clones from, fetches from and pushes to stock `git http-backend`.
    #[test]
    fn round_trip_with_git_http_backend() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().join("srv");
        std::fs::create_dir(&root).unwrap();
        git(&root, &["init", "-q", "--bare", "-b", "main", "repo.git"]);
        let work = tmp.path().join("work");
        git(
            tmp.path(),
            &["clone", "-q", root.join("repo.git").to_str().unwrap(), "work"],
        );
        std::fs::write(work.join("a"), "1\n").unwrap();
        std::fs::create_dir(work.join("dir")).unwrap();
        std::fs::write(work.join("dir/b"), "2\n").unwrap();
        git(&work, &["add", "."]);
        git(&work, &["commit", "-qm", "first"]);
        git(&work, &["tag", "-a", "-m", "v1", "v1"]);
        git(&work, &["push", "-q", "--follow-tags", "origin", "main"]);

        let server = Server::start(cgi_handler(root.clone()));
        let url = server.url("/repo.git");
        let replica = client::clone(&url, &tmp.path().join("replica"), &mut CloneOptions::default()).unwrap();
        assert_eq!(
            replica.branch("main").unwrap().get(&p("dir/b")).unwrap().unwrap(),
            b"2\n"
        );
        assert!(replica.refs().resolve("refs/tags/v1").unwrap().is_some());

        // git pushes more; canopy fetches it.
        std::fs::write(work.join("a"), "1 changed\n").unwrap();
        git(&work, &["commit", "-qam", "second"]);
        git(&work, &["push", "-q", "origin", "main"]);
        assert!(matches!(
            pull(&replica, "origin", "main"),
            MergeOutcome::FastForward(_)
        ));
        assert_eq!(
            replica.branch("main").unwrap().get(&p("a")).unwrap().unwrap(),
            b"1 changed\n"
        );

        // canopy pushes; git sees it, and the server repository is sound.
        replica
            .branch("main")
            .unwrap()
            .set(&p("dir/c"), "from canopy\n", &msg("canopy"))
            .unwrap();
        assert!(matches!(
            push_branch(&replica, "origin", "main", false),
            RefResult::Ok { .. }
        ));
        git(&root.join("repo.git"), &["fsck", "--strict"]);
        git(&work, &["pull", "-q", "--ff-only"]);
        assert_eq!(
            std::fs::read_to_string(work.join("dir/c")).unwrap(),
            "from canopy\n"
        );

        // Shallow and blobless clones from http-backend.
        let mut opts = CloneOptions {
            fetch: FetchOptions {
                depth: Some(1),
                ..FetchOptions::default()
            },
            remote: None,
        };
        client::clone(&url, &tmp.path().join("shallow"), &mut opts).unwrap();
        assert_eq!(
            git(&tmp.path().join("shallow"), &["rev-list", "--count", "main"]).trim(),
            "1"
        );
        git(&tmp.path().join("replica"), &["fsck", "--strict"]);
    }
}

#[test]
fn clones_of_sha256_and_empty_stores() {
    let tmp = tempfile::tempdir().unwrap();
    let origin = Repo::init_with(
        tmp.path().join("o256"),
        &canopy::store::InitOptions {
            hash: canopy::HashKind::Sha256,
            branch: "trunk".into(),
        },
    )
    .unwrap();
    origin
        .branch("trunk")
        .unwrap()
        .set(&p("a"), "1", &msg("one"))
        .unwrap();
    let url = tmp.path().join("o256").display().to_string();
    let c = client::clone(&url, &tmp.path().join("c256"), &mut CloneOptions::default()).unwrap();
    assert_eq!(c.hash_kind(), canopy::HashKind::Sha256);
    assert_eq!(c.head_branch().unwrap().name(), "trunk");
    assert_eq!(c.branch("trunk").unwrap().get(&p("a")).unwrap().unwrap(), b"1");
    git(&tmp.path().join("c256"), &["fsck", "--strict"]);

    Repo::init(tmp.path().join("empty")).unwrap();
    let url = tmp.path().join("empty").display().to_string();
    let e = client::clone(&url, &tmp.path().join("e"), &mut CloneOptions::default()).unwrap();
    assert!(e.branch("main").unwrap().head().unwrap().is_none());
    e.branch("main")
        .unwrap()
        .set(&p("x"), "y", &msg("first"))
        .unwrap();
    assert!(matches!(
        push_branch(&e, "origin", "main", false),
        RefResult::Ok { .. }
    ));
    let origin = Repo::open(tmp.path().join("empty")).unwrap();
    assert_eq!(
        origin.branch("main").unwrap().get(&p("x")).unwrap().unwrap(),
        b"y"
    );
    // A clone into a non-empty directory is refused and leaves it alone.
    std::fs::create_dir(tmp.path().join("busy")).unwrap();
    std::fs::write(tmp.path().join("busy/file"), "keep").unwrap();
    assert!(client::clone(&url, &tmp.path().join("busy"), &mut CloneOptions::default()).is_err());
    assert_eq!(
        std::fs::read_to_string(tmp.path().join("busy/file")).unwrap(),
        "keep"
    );
}
