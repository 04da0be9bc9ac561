//! `canopy gc` as a user meets it: the store stays a valid Git repository, gets smaller, keeps
//! every value, carries a commit-graph Git accepts, and loses nothing to a concurrent writer.

mod common;

use std::os::unix::process::CommandExt;

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

/// Makes `path`'s mtime `secs` seconds old.
fn age(path: &std::path::Path, secs: u64) {
    let f = std::fs::OpenOptions::new().write(true).open(path).unwrap();
    f.set_modified(std::time::SystemTime::now() - std::time::Duration::from_secs(secs))
        .unwrap();
}

#[test]
fn gc_removes_what_dead_writers_left_but_nothing_a_live_one_uses() {
    let sb = Sandbox::new();
    let store = sb.init_store("s", "sha1");
    sb.canopy_ok(&store, &["set", "a", "1"]);
    let write = |rel: &str, secs: u64| {
        let p = store.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, b"partial").unwrap();
        age(&p, secs);
        p
    };
    // Two hours untouched: a dead writer's.
    let dead = [
        write("objects/ab/tmp_obj_dead", 7200),
        // A large value being streamed in when its writer died.
        write("objects/tmp_obj_streamed", 7200),
        write("objects/pack/tmp_pack_dead", 7200),
        write("objects/pack/tmp_idx_dead", 7200),
        // An unmarked lock far older than any live git keeps one.
        write("refs/heads/main.lock", 7200),
        write("packed-refs.lock", 7200),
    ];
    // Being written right now, or locked a moment ago by another program.
    let alive = [
        write("objects/cd/tmp_obj_live", 0),
        write("objects/tmp_obj_streaming", 0),
        write("objects/pack/tmp_pack_live", 0),
        write("refs/heads/feature.lock", 0),
    ];
    let report = sb.canopy(&store, &["--json", "gc"]).ok().json();
    assert_eq!(report["leftovers_removed"], 6, "{report}");
    for p in &dead {
        assert!(!p.exists(), "{} left", p.display());
    }
    for p in &alive {
        assert!(p.exists(), "{} removed", p.display());
    }
    // An old lock whose holder is alive (it holds the advisory lock) stays.
    if std::process::Command::new("flock")
        .arg("--version")
        .output()
        .is_ok()
    {
        let held = write("refs/heads/held.lock", 7200);
        let mut holder = std::process::Command::new("flock")
            .args(["-x", "-n"])
            .arg(&held)
            .args(["sleep", "20"])
            .process_group(0)
            .spawn()
            .unwrap();
        std::thread::sleep(std::time::Duration::from_millis(300));
        let report = sb.canopy(&store, &["--json", "gc"]).ok().json();
        // flock(1) and its `sleep`, which holds the lock too.
        std::process::Command::new("kill")
            .args(["-KILL", "--", &format!("-{}", holder.id())])
            .status()
            .unwrap();
        holder.wait().unwrap();
        assert_eq!(report["leftovers_removed"], 0, "{report}");
        assert!(held.exists());
    }
    sb.canopy_ok(&store, &["set", "a", "2"]);
    assert_eq!(sb.canopy_ok(&store, &["get", "a"]), "2");
}
