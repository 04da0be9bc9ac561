//! `canopy gc` as a user meets it: the store stays a valid Git repository, gets smaller, keeps
//! every value, carries a commit-graph Git accepts, and loses nothing to a concurrent writer.

mod common;

use common::Sandbox;

#[test]
fn gc_packs_with_deltas_and_writes_gits_commit_graph() {
    let sb = Sandbox::new();
    let store = sb.init_store("s", "sha1");
    sb.git_ok(&store, &["config", "canopy.fsync", "false"]);
    for i in 0..120 {
        let text = format!("shared configuration text that repeats from version to version\nversion {i}\n");
        sb.canopy_ok(&store, &["set", &format!("cfg/{}/v", i % 6), &text]);
    }
    sb.canopy_ok(&store, &["rm", "cfg/5"]);
    sb.canopy_ok(&store, &["branch", "side"]);
    sb.canopy_ok(&store, &["--branch", "side", "set", "only/side", "x"]);
    let before = sb.git_str(&store, &["count-objects", "-v"]);
    let run = sb.canopy(&store, &["--json", "gc", "--grace", "now"]).ok();
    let report = run.json();
    assert!(report["deltas"].as_u64().unwrap() > 50, "{report}");
    assert!(
        report["bytes_after"].as_u64() < report["bytes_before"].as_u64(),
        "{report}"
    );
    sb.assert_fsck_clean(&store);
    let after = sb.git_str(&store, &["count-objects", "-v"]);
    assert!(
        after.contains("count: 0") && after.contains("packs: 1"),
        "{before}\n{after}"
    );
    sb.git_ok(&store, &["commit-graph", "verify"]);
    // The graph is exactly the one git itself writes for the same history.
    let ours = std::fs::read(store.join("objects/info/commit-graph")).unwrap();
    sb.git_ok(&store, &["commit-graph", "write", "--reachable"]);
    let gits = std::fs::read(store.join("objects/info/commit-graph")).unwrap();
    assert!(ours == gits, "commit-graph differs from git's");
    // Every value still reads the same through git and canopy.
    for i in 0..5 {
        let path = format!("cfg/{i}/v");
        let via_git = sb.git_ok(&store, &["show", &format!("main:{path}")]);
        assert_eq!(via_git, sb.canopy(&store, &["get", &path]).ok().stdout);
    }
    assert_eq!(sb.git_str(&store, &["rev-list", "--count", "main"]), "121");
    assert_eq!(
        sb.canopy_ok(&store, &["--branch", "side", "get", "only/side"]),
        "x"
    );
    // Deltas are real OFS_DELTA chains that git verifies.
    let verify = sb.git_str(
        &store,
        &["verify-pack", "-v", &format!("{}", pack_idx(&store).display())],
    );
    assert!(verify.contains("chain length"), "{verify}");
}

fn pack_idx(store: &std::path::Path) -> std::path::PathBuf {
    std::fs::read_dir(store.join("objects/pack"))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .find(|p| p.extension().is_some_and(|e| e == "idx"))
        .unwrap()
}

#[test]
fn gc_while_another_process_commits_loses_nothing() {
    let sb = Sandbox::new();
    let store = sb.init_store("s", "sha1");
    sb.git_ok(&store, &["config", "canopy.fsync", "false"]);
    for i in 0..20 {
        sb.canopy_ok(&store, &["set", &format!("seed/{i}"), "v"]);
    }
    std::thread::scope(|s| {
        let writer = s.spawn(|| {
            for i in 0..60 {
                sb.canopy_ok(&store, &["set", &format!("live/{i}"), &format!("value {i}")]);
            }
        });
        while !writer.is_finished() {
            sb.canopy(&store, &["gc"]).ok();
        }
    });
    sb.canopy(&store, &["gc"]).ok();
    sb.assert_fsck_clean(&store);
    for i in 0..60 {
        assert_eq!(
            sb.canopy_ok(&store, &["get", &format!("live/{i}")]),
            format!("value {i}")
        );
    }
    assert_eq!(sb.git_str(&store, &["rev-list", "--count", "main"]), "80");
}

#[test]
fn a_replica_that_pulls_a_squashed_history_adopts_it() {
    let sb = Sandbox::new();
    let a = sb.init_store("a", "sha1");
    for i in 0..30 {
        sb.canopy_ok(&a, &["set", &format!("k/{}", i % 7), &format!("v{i}")]);
    }
    let top = sb.path("");
    sb.canopy_ok(&top, &["clone", "-q", a.to_str().unwrap(), "b"]);
    let b = sb.path("b");
    // B works on top of the old history, A squashes it.
    sb.canopy_ok(&b, &["set", "own", "mine"]);
    sb.canopy_ok(&a, &["squash", "--before", "main~10"]);
    assert_eq!(sb.git_str(&a, &["rev-list", "--count", "main"]), "11");
    sb.canopy_ok(&b, &["pull"]);
    // B is on A's squashed history (same root, same ids), with its own commit on top.
    let root = |dir: &std::path::Path| sb.git_str(dir, &["rev-list", "--max-parents=0", "main"]);
    assert_eq!(root(&b), root(&a));
    assert_eq!(sb.git_str(&b, &["rev-parse", "main~1"]), sb.rev_parse(&a, "main"));
    assert_eq!(sb.canopy_ok(&b, &["get", "own"]), "mine");
    for i in 0..7 {
        let path = format!("k/{i}");
        assert_eq!(
            sb.canopy_ok(&b, &["get", &path]),
            sb.canopy_ok(&a, &["get", &path])
        );
    }
    sb.assert_fsck_clean(&b);
    // gc then frees the old history on B as well.
    sb.canopy(&b, &["gc", "--grace", "now"]).ok();
    sb.assert_fsck_clean(&b);
    assert_eq!(sb.git_str(&b, &["rev-list", "--count", "--all"]), "12");
}
