//! The counters scenario as a user meets it: `hits` at 10, node A and node B each count one
//! visit (10 → 11). Merged with `canopy merge`, or synchronised with `canopy sync` between two
//! stores on disk, the result is 12: no increment is lost, and equal changes on both sides are
//! two changes for a counter.

mod common;

use common::Sandbox;

#[test]
fn counter_increments_on_two_branches_merge_to_their_sum() {
    let sb = Sandbox::new();
    let store = sb.init_store("store", "sha1");
    assert_eq!(
        sb.canopy_ok(&store, &["counter", "add", "hits", "10"]).trim(),
        "10"
    );
    sb.canopy_ok(&store, &["branch", "b"]);
    assert_eq!(
        sb.canopy_ok(&store, &["counter", "add", "hits", "1"]).trim(),
        "11"
    );
    assert_eq!(
        sb.canopy_ok(&store, &["--branch", "b", "counter", "add", "hits", "1"])
            .trim(),
        "11"
    );
    sb.canopy_ok(&store, &["merge", "b"]);
    assert_eq!(sb.canopy_ok(&store, &["counter", "get", "hits"]).trim(), "12");
    assert_eq!(sb.canopy_ok(&store, &["get", "hits"]), "12\n");
    // The counter is plain text in Git, bound to its driver by .gitattributes.
    assert_eq!(sb.git_str(&store, &["show", "main:hits"]).trim(), "12");
    assert!(sb
        .git_str(&store, &["show", "main:.gitattributes"])
        .contains("/hits merge=counter"));
    // Negative additions, JSON output, and a bad value is a clear error.
    let run = sb
        .canopy(&store, &["--json", "counter", "add", "hits", "-2"])
        .ok();
    assert_eq!(run.json()["value"], 10);
    sb.canopy_ok(&store, &["set", "broken", "ten"]);
    let run = sb.canopy(&store, &["counter", "add", "broken", "1"]);
    assert_eq!(run.code, 2, "{run:?}");
    run.assert_one_line_error();
    assert!(run.err().contains("not a decimal integer"), "{run:?}");
    sb.assert_fsck_clean(&store);
}

#[test]
fn the_same_set_on_two_branches_counts_twice_under_merge_counter() {
    let sb = Sandbox::new();
    let store = sb.init_store("store", "sha1");
    sb.canopy_ok(&store, &["set", ".gitattributes", "counters/* merge=counter\n"]);
    sb.canopy_ok(&store, &["set", "counters/hits", "10\n"]);
    sb.canopy_ok(&store, &["branch", "b"]);
    sb.canopy_ok(&store, &["set", "counters/hits", "11\n", "-m", "visit on a"]);
    sb.canopy_ok(
        &store,
        &[
            "--branch",
            "b",
            "set",
            "counters/hits",
            "11\n",
            "-m",
            "visit on b",
        ],
    );
    sb.canopy_ok(&store, &["merge", "b"]);
    assert_eq!(sb.canopy_ok(&store, &["get", "counters/hits"]), "12\n");
    sb.assert_fsck_clean(&store);
}

#[test]
fn sync_between_two_stores_counts_both_increments() {
    let sb = Sandbox::new();
    let origin = sb.init_store("origin", "sha1");
    sb.canopy_ok(&origin, &["counter", "add", "hits", "10"]);
    let top = sb.path("");
    let url = origin.display().to_string();
    sb.canopy_ok(&top, &["clone", "-q", &url, "a"]);
    sb.canopy_ok(&top, &["clone", "-q", &url, "b"]);
    let (a, b) = (sb.path("a"), sb.path("b"));
    // Two replicas, the same change, the same second, the same default identity: their
    // commits still differ (each store has its own replica id), so both increments survive.
    sb.canopy_ok(&a, &["set", "hits", "11\n"]);
    sb.canopy_ok(&b, &["set", "hits", "11\n"]);
    assert_ne!(sb.rev_parse(&a, "main"), sb.rev_parse(&b, "main"));
    for r in [&a, &b, &a] {
        sb.canopy_ok(r, &["sync", "-q"]);
    }
    for r in [&a, &b, &origin] {
        assert_eq!(sb.canopy_ok(r, &["counter", "get", "hits"]).trim(), "12");
        sb.assert_fsck_clean(r);
    }
    let replica = |r: &std::path::Path| sb.git_str(r, &["config", "canopy.replica"]).trim().to_string();
    assert_ne!(replica(&a), replica(&b));
    assert_eq!(replica(&a).len(), 16);
}
