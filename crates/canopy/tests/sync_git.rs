//! Real `git` against Canopy's smart-HTTP service (served by the test helper's HTTP server):
//! clone (full, shallow, blobless, protocol v0), fetch, push (thin packs, forced and refused
//! non-fast-forward, deletions, merge on push), and `git fsck --strict` on both sides.

mod sync_support;

use canopy::store::CommitOptions;
use canopy::{Path, Repo};
use sync_support::{canopy_handler, git, git_output, Server};

fn p(s: &str) -> Path {
    Path::parse(s).unwrap()
}

fn store_with_history(dir: &std::path::Path, commits: usize) -> Repo {
    let repo = Repo::init(dir).unwrap();
    let main = repo.branch("main").unwrap();
    for i in 0..commits {
        main.set(
            &p(&format!("items/{}", i % 7)),
            format!("value {i}\n"),
            &CommitOptions::message(format!("c{i}")),
        )
        .unwrap();
    }
    repo
}

#[test]
fn git_clone_fetch_and_push_round_trip() {
    let tmp = tempfile::tempdir().unwrap();
    let store = tmp.path().join("store");
    store_with_history(&store, 5);
    let server = Server::start(canopy_handler(store.clone()));
    let url = server.url("/git");

    git(tmp.path(), &["clone", &url, "clone"]);
    let clone = tmp.path().join("clone");
    assert_eq!(
        std::fs::read_to_string(clone.join("items/4")).unwrap(),
        "value 4\n"
    );
    assert_eq!(git(&clone, &["rev-list", "--count", "HEAD"]).trim(), "5");
    git(&clone, &["fsck", "--strict"]);

    // Push a commit from git; Canopy reads the value.
    std::fs::write(clone.join("items/new"), "from git\n").unwrap();
    git(&clone, &["add", "."]);
    git(&clone, &["commit", "-qm", "from git"]);
    git(&clone, &["push", "origin", "HEAD:main"]);
    let repo = Repo::open(&store).unwrap();
    assert_eq!(
        repo.branch("main")
            .unwrap()
            .get(&p("items/new"))
            .unwrap()
            .unwrap(),
        b"from git\n"
    );
    git(&store, &["fsck", "--strict"]);
    // Received as a pack with its index, not as loose objects.
    let packs: Vec<_> = std::fs::read_dir(store.join("objects/pack"))
        .unwrap()
        .flatten()
        .collect();
    assert!(packs
        .iter()
        .any(|e| e.file_name().to_string_lossy().ends_with(".idx")));
    // The .keep that protected the pack until the reference moved is gone.
    assert!(!packs
        .iter()
        .any(|e| e.file_name().to_string_lossy().ends_with(".keep")));
    assert!(!std::fs::read_dir(store.join("objects"))
        .unwrap()
        .flatten()
        .any(|e| e.file_name().to_string_lossy().starts_with("tmp_objdir")));

    // A change made by Canopy reaches the clone with git pull.
    repo.branch("main")
        .unwrap()
        .set(&p("items/0"), "from canopy\n", &CommitOptions::message("canopy"))
        .unwrap();
    git(&clone, &["pull", "-q", "--ff-only", "origin", "main"]);
    assert_eq!(
        std::fs::read_to_string(clone.join("items/0")).unwrap(),
        "from canopy\n"
    );
    git(&clone, &["fsck", "--strict"]);
    git(&store, &["fsck", "--strict"]);
}

#[test]
fn git_shallow_and_blobless_clones() {
    let tmp = tempfile::tempdir().unwrap();
    let store = tmp.path().join("store");
    store_with_history(&store, 6);
    let server = Server::start(canopy_handler(store.clone()));
    let url = server.url("/git");

    git(tmp.path(), &["clone", "--depth", "1", &url, "shallow"]);
    let shallow = tmp.path().join("shallow");
    assert_eq!(git(&shallow, &["rev-list", "--count", "HEAD"]).trim(), "1");
    assert!(shallow.join(".git/shallow").exists());
    git(&shallow, &["fsck", "--strict"]);
    // Deepen it.
    git(&shallow, &["fetch", "-q", "--deepen", "2"]);
    assert_eq!(git(&shallow, &["rev-list", "--count", "HEAD"]).trim(), "3");
    git(&shallow, &["fetch", "-q", "--unshallow"]);
    assert_eq!(git(&shallow, &["rev-list", "--count", "HEAD"]).trim(), "6");
    git(&shallow, &["fsck", "--strict"]);

    git(tmp.path(), &["clone", "--filter=blob:none", &url, "blobless"]);
    let blobless = tmp.path().join("blobless");
    assert_eq!(
        std::fs::read_to_string(blobless.join("items/5")).unwrap(),
        "value 5\n"
    );
    // An old value is fetched lazily from the server.
    let old = git(&blobless, &["show", "HEAD~4:items/1"]);
    assert_eq!(old, "value 1\n");
    git(&blobless, &["fsck", "--strict"]);
}

#[test]
fn git_protocol_v0_clone_and_fetch() {
    let tmp = tempfile::tempdir().unwrap();
    let store = tmp.path().join("store");
    let repo = store_with_history(&store, 3);
    let server = Server::start(canopy_handler(store.clone()));
    let url = server.url("/git");
    git(tmp.path(), &["-c", "protocol.version=0", "clone", &url, "v0"]);
    let clone = tmp.path().join("v0");
    assert_eq!(git(&clone, &["rev-list", "--count", "HEAD"]).trim(), "3");
    repo.branch("main")
        .unwrap()
        .set(&p("x"), "1", &CommitOptions::message("x"))
        .unwrap();
    git(&clone, &["-c", "protocol.version=0", "pull", "-q", "--ff-only"]);
    assert_eq!(git(&clone, &["rev-list", "--count", "HEAD"]).trim(), "4");
    git(
        tmp.path(),
        &[
            "-c",
            "protocol.version=0",
            "clone",
            "--depth",
            "1",
            &url,
            "v0shallow",
        ],
    );
    assert_eq!(
        git(&tmp.path().join("v0shallow"), &["rev-list", "--count", "HEAD"]).trim(),
        "1"
    );
    git(&clone, &["fsck", "--strict"]);
}

#[test]
fn forced_and_refused_non_fast_forward_pushes() {
    let tmp = tempfile::tempdir().unwrap();
    let store = tmp.path().join("store");
    let repo = store_with_history(&store, 2);
    let server = Server::start(canopy_handler(store.clone()));
    let url = server.url("/git");
    git(tmp.path(), &["clone", "-q", &url, "a"]);
    let a = tmp.path().join("a");
    git(&a, &["reset", "-q", "--hard", "HEAD~1"]);
    std::fs::write(a.join("other"), "x\n").unwrap();
    git(&a, &["add", "."]);
    git(&a, &["commit", "-qm", "diverged"]);
    // Refused by the git client, as with any Git server.
    let out = git_output(&a, &["push", "origin", "HEAD:main"]);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("rejected"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let head = repo.branch("main").unwrap().head().unwrap().unwrap();
    // Forced: accepted (receive.denyNonFastForwards is false by default, as in Git).
    git(&a, &["push", "-q", "--force", "origin", "HEAD:main"]);
    let new_head = Repo::open(&store)
        .unwrap()
        .branch("main")
        .unwrap()
        .head()
        .unwrap()
        .unwrap();
    assert_ne!(head, new_head);
    assert_eq!(git(&a, &["rev-parse", "HEAD"]).trim(), new_head.to_hex());
    // With the policy set, a forced non-fast-forward push is refused by the server.
    git(&store, &["config", "receive.denyNonFastForwards", "true"]);
    git(&a, &["reset", "-q", "--hard", "HEAD~1"]);
    git(&a, &["commit", "-q", "--allow-empty", "-m", "again"]);
    let out = git_output(&a, &["push", "--force", "origin", "HEAD:main"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("non-fast-forward"), "{err}");
    assert_eq!(
        Repo::open(&store)
            .unwrap()
            .branch("main")
            .unwrap()
            .head()
            .unwrap()
            .unwrap(),
        new_head
    );
    // Deleting a branch, and creating one.
    git(&a, &["push", "-q", "origin", "HEAD:refs/heads/feature"]);
    assert!(Repo::open(&store)
        .unwrap()
        .refs()
        .resolve("refs/heads/feature")
        .unwrap()
        .is_some());
    git(&a, &["push", "-q", "origin", ":feature"]);
    assert!(Repo::open(&store)
        .unwrap()
        .refs()
        .resolve("refs/heads/feature")
        .unwrap()
        .is_none());
    git(&store, &["fsck", "--strict"]);
}

#[test]
fn git_push_sends_thin_packs_that_are_completed() {
    let tmp = tempfile::tempdir().unwrap();
    let store = tmp.path().join("store");
    let repo = Repo::init(&store).unwrap();
    let big: String = (0..2000).map(|i| format!("line {i} of a long value\n")).collect();
    repo.branch("main")
        .unwrap()
        .set(&p("doc"), big.clone(), &CommitOptions::message("big"))
        .unwrap();
    let server = Server::start(canopy_handler(store.clone()));
    git(tmp.path(), &["clone", "-q", &server.url("/git"), "c"]);
    let c = tmp.path().join("c");
    let changed = big.replace("line 1000 of", "line ONE THOUSAND of");
    std::fs::write(c.join("doc"), &changed).unwrap();
    git(&c, &["commit", "-qam", "small change"]);
    let out = git_output(&c, &["push", "-v", "origin", "HEAD:main"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let repo = Repo::open(&store).unwrap();
    assert_eq!(
        repo.branch("main").unwrap().get(&p("doc")).unwrap().unwrap(),
        changed.as_bytes()
    );
    // The thin pack was completed with the local base: the stored pack stands alone.
    for e in std::fs::read_dir(store.join("objects/pack")).unwrap().flatten() {
        if e.path().extension().is_some_and(|x| x == "idx") {
            git(&store, &["verify-pack", e.path().to_str().unwrap()]);
        }
    }
    git(&store, &["fsck", "--strict"]);
}

#[test]
fn merge_on_push_with_push_option() {
    let tmp = tempfile::tempdir().unwrap();
    let store = tmp.path().join("store");
    let repo = Repo::init(&store).unwrap();
    repo.branch("main")
        .unwrap()
        .transaction()
        .set(p(".gitattributes"), "counter merge=counter\n")
        .set(p("counter"), "1\n")
        .set(p("text"), "a\nb\nc\nd\ne\n")
        .commit(&CommitOptions::message("seed"))
        .unwrap();
    let server = Server::start(canopy_handler(store.clone()));
    let url = server.url("/git");
    git(tmp.path(), &["clone", "-q", &url, "x"]);
    git(tmp.path(), &["clone", "-q", &url, "y"]);
    let (x, y) = (tmp.path().join("x"), tmp.path().join("y"));
    std::fs::write(x.join("counter"), "3\n").unwrap();
    std::fs::write(x.join("text"), "A\nb\nc\nd\ne\n").unwrap();
    git(&x, &["commit", "-qam", "x"]);
    std::fs::write(y.join("counter"), "6\n").unwrap();
    std::fs::write(y.join("text"), "a\nb\nc\nd\nE\n").unwrap();
    git(&y, &["commit", "-qam", "y"]);
    git(&x, &["push", "-q", "origin", "HEAD:main"]);
    // y is behind: a plain push is refused; with -o merge the server merges.
    assert!(!git_output(&y, &["push", "origin", "HEAD:main"]).status.success());
    let out = git_output(&y, &["push", "--force", "-o", "merge", "origin", "HEAD:main"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let main = Repo::open(&store).unwrap().branch("main").unwrap();
    assert_eq!(main.get(&p("counter")).unwrap().unwrap(), b"8\n");
    assert_eq!(main.get(&p("text")).unwrap().unwrap(), b"A\nb\nc\nd\nE\n");
    for clone in [&x, &y] {
        git(clone, &["pull", "-q", "--ff-only", "origin", "main"]);
        assert_eq!(std::fs::read_to_string(clone.join("counter")).unwrap(), "8\n");
    }
    // A conflicting merge is refused, naming the path, and nothing moves.
    let before = main.head().unwrap();
    std::fs::write(x.join("text"), "A\nX\nc\nd\nE\n").unwrap();
    git(&x, &["commit", "-qam", "x2"]);
    std::fs::write(y.join("text"), "A\nY\nc\nd\nE\n").unwrap();
    git(&y, &["commit", "-qam", "y2"]);
    git(&x, &["push", "-q", "origin", "HEAD:main"]);
    let after_x = Repo::open(&store)
        .unwrap()
        .branch("main")
        .unwrap()
        .head()
        .unwrap();
    assert_ne!(before, after_x);
    let out = git_output(&y, &["push", "--force", "-o", "merge", "origin", "HEAD:main"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("merge conflict: text"), "{err}");
    assert_eq!(
        Repo::open(&store)
            .unwrap()
            .branch("main")
            .unwrap()
            .head()
            .unwrap(),
        after_x
    );
    git(&store, &["fsck", "--strict"]);
}

#[test]
fn sha256_stores_and_empty_stores() {
    let tmp = tempfile::tempdir().unwrap();
    let store = tmp.path().join("store256");
    let repo = Repo::init_with(
        &store,
        &canopy::store::InitOptions {
            hash: canopy::HashKind::Sha256,
            branch: "main".into(),
        },
    )
    .unwrap();
    repo.branch("main")
        .unwrap()
        .set(&p("k"), "v\n", &CommitOptions::message("one"))
        .unwrap();
    let server = Server::start(canopy_handler(store.clone()));
    git(tmp.path(), &["clone", "-q", &server.url("/git"), "c256"]);
    let c = tmp.path().join("c256");
    assert_eq!(git(&c, &["rev-parse", "--show-object-format"]).trim(), "sha256");
    std::fs::write(c.join("k2"), "w\n").unwrap();
    git(&c, &["add", "."]);
    git(&c, &["commit", "-qm", "two"]);
    git(&c, &["push", "-q", "origin", "HEAD:main"]);
    assert_eq!(
        Repo::open(&store)
            .unwrap()
            .branch("main")
            .unwrap()
            .get(&p("k2"))
            .unwrap()
            .unwrap(),
        b"w\n"
    );
    git(&store, &["fsck", "--strict"]);

    // An empty store: git clones it (with a warning) and pushes the first commit.
    let empty = tmp.path().join("empty");
    Repo::init(&empty).unwrap();
    let server = Server::start(canopy_handler(empty.clone()));
    git(tmp.path(), &["clone", "-q", &server.url("/git"), "e"]);
    let e = tmp.path().join("e");
    std::fs::write(e.join("first"), "1\n").unwrap();
    git(&e, &["add", "."]);
    git(&e, &["commit", "-qm", "first"]);
    git(&e, &["push", "-q", "origin", "HEAD:main"]);
    assert_eq!(
        Repo::open(&empty)
            .unwrap()
            .branch("main")
            .unwrap()
            .get(&p("first"))
            .unwrap()
            .unwrap(),
        b"1\n"
    );
    git(
        tmp.path(),
        &[
            "-c",
            "protocol.version=0",
            "clone",
            "-q",
            &server.url("/git"),
            "e0",
        ],
    );
    git(&empty, &["fsck", "--strict"]);
}

#[test]
fn generated_packs_pass_index_pack_strict() {
    let tmp = tempfile::tempdir().unwrap();
    let store = tmp.path().join("store");
    let repo = store_with_history(&store, 20);
    // A git-made pack with deltas in the store, so entries are reused too.
    git(&store, &["repack", "-a", "-d", "-q"]);
    repo.branch("main")
        .unwrap()
        .set(&p("loose"), "x\n", &CommitOptions::message("loose"))
        .unwrap();
    let repo = Repo::open(&store).unwrap();
    let head = repo.branch("main").unwrap().head().unwrap().unwrap();
    let req = canopy::sync::pack::Request {
        wants: vec![head],
        ..Default::default()
    };
    let plan = canopy::sync::pack::plan(repo.objects(), None, &req).unwrap();
    for ofs in [true, false] {
        let mut pack = Vec::new();
        canopy::sync::pack::write_pack_for(&repo, &plan.objects, ofs, &mut pack, &mut |_| {}).unwrap();
        let out = tmp.path().join(format!("out-{ofs}.pack"));
        std::fs::write(&out, &pack).unwrap();
        let scratch = tmp.path().join(format!("scratch-{ofs}"));
        git(tmp.path(), &["init", "-q", "--bare", scratch.to_str().unwrap()]);
        git(&scratch, &["index-pack", "--strict", out.to_str().unwrap()]);
    }
    // Without a repository to reuse from: whole objects only.
    let mut pack = Vec::new();
    canopy::sync::pack::write_pack(repo.objects(), &plan.objects, &mut pack, &mut |_| {}).unwrap();
    let out = tmp.path().join("whole.pack");
    std::fs::write(&out, &pack).unwrap();
    git(&store, &["index-pack", "--strict", out.to_str().unwrap()]);
}

#[test]
fn tags_travel_both_ways() {
    let tmp = tempfile::tempdir().unwrap();
    let store = tmp.path().join("store");
    store_with_history(&store, 3);
    git(
        &store,
        &[
            "-c",
            "user.name=T",
            "-c",
            "user.email=t@example.com",
            "tag",
            "-a",
            "-m",
            "release",
            "v1",
            "main~1",
        ],
    );
    git(&store, &["tag", "light", "main"]);
    let server = Server::start(canopy_handler(store.clone()));
    git(tmp.path(), &["clone", "-q", &server.url("/git"), "c"]);
    let c = tmp.path().join("c");
    assert_eq!(git(&c, &["tag"]).trim(), "light\nv1");
    assert_eq!(git(&c, &["cat-file", "-t", "v1"]).trim(), "tag");
    // A tag pushed by git arrives; fsck stays clean on both sides.
    git(
        &c,
        &[
            "-c",
            "user.name=T",
            "-c",
            "user.email=t@example.com",
            "tag",
            "-a",
            "-m",
            "two",
            "v2",
        ],
    );
    git(&c, &["push", "-q", "origin", "v2"]);
    assert!(Repo::open(&store)
        .unwrap()
        .refs()
        .resolve("refs/tags/v2")
        .unwrap()
        .is_some());
    git(&store, &["fsck", "--strict"]);
    git(&c, &["fsck", "--strict"]);
}

/// Objects are served by id only while a reference reaches them (Git's
/// `uploadpack.allowReachableSHA1InWant`): an old commit and a value of the history can be
/// fetched by id, protocol v2 and v0; after `reset --force`, the dropped commit and the value
/// only it held cannot, and git says why.
#[test]
fn objects_no_reference_reaches_are_not_served_by_id() {
    let tmp = tempfile::tempdir().unwrap();
    let store = tmp.path().join("store");
    let repo = store_with_history(&store, 4);
    let main = repo.branch("main").unwrap();
    let kept = main.head().unwrap().unwrap();
    main.set(&p("secret"), "dropped later\n", &CommitOptions::message("oops"))
        .unwrap();
    let dropped = main.head().unwrap().unwrap();
    let secret = repo
        .objects()
        .read_kind(
            &repo.commit_info(dropped).unwrap().commit.tree,
            canopy::object::ObjectKind::Tree,
        )
        .unwrap();
    let secret_blob = canopy::object::TreeEntry::parse_all(repo.hash_kind(), &secret)
        .unwrap()
        .into_iter()
        .find(|e| e.name == b"secret")
        .unwrap()
        .id;
    let old_blob = git(&store, &["rev-parse", &format!("{kept}~2:items/1")])
        .trim()
        .to_string();
    let old_commit = git(&store, &["rev-parse", &format!("{kept}~1")])
        .trim()
        .to_string();
    main.reset(kept, &CommitOptions::message("reset")).unwrap();
    let server = Server::start(canopy_handler(store.clone()));
    let url = server.url("/git");

    git(tmp.path(), &["init", "-q", "--bare", "client"]);
    let client = tmp.path().join("client");
    for protocol in ["version=2", "version=0"] {
        let fetch = |what: &str| {
            git_output(
                &client,
                &["-c", &format!("protocol.{protocol}"), "fetch", "-q", &url, what],
            )
        };
        // Reachable from main: served, a commit and a value alike.
        for id in [&old_commit, &old_blob] {
            let out = fetch(id);
            assert!(
                out.status.success(),
                "{protocol} {id}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        // Reachable from nothing any more: refused.
        for id in [dropped.to_hex(), secret_blob.to_hex()] {
            let out = fetch(&id);
            let err = String::from_utf8_lossy(&out.stderr);
            assert!(!out.status.success(), "{protocol} {id} was served");
            assert!(err.contains("not our ref"), "{protocol} {id}: {err}");
        }
    }
    assert!(
        git_output(&client, &["cat-file", "-e", &dropped.to_hex()])
            .status
            .code()
            != Some(0)
    );
    assert!(
        git_output(&client, &["cat-file", "-e", &secret_blob.to_hex()])
            .status
            .code()
            != Some(0)
    );
}
