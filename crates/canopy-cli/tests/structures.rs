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

#[test]
fn queue_journal_and_rope_from_the_command_line() {
    let sb = Sandbox::new();
    let store = sb.init_store("store", "sha1");
    for item in [r#"{"job": 1}"#, r#"{"job": 2}"#, "plain text"] {
        sb.canopy_ok(&store, &["queue", "push", "jobs", item]);
    }
    let listed = sb.canopy_ok(&store, &["queue", "list", "jobs"]);
    assert_eq!(listed.lines().count(), 3, "{listed}");
    let peeked: serde_json::Value =
        serde_json::from_str(&sb.canopy_ok(&store, &["queue", "peek", "jobs"])).unwrap();
    assert_eq!(peeked["value"]["job"], 1);
    let popped: serde_json::Value =
        serde_json::from_str(&sb.canopy_ok(&store, &["queue", "pop", "jobs", "-m", "take job 1"])).unwrap();
    assert_eq!(popped["value"]["job"], 1);
    assert!(sb
        .git_str(&store, &["log", "-1", "--format=%s"])
        .contains("take job 1"));
    sb.canopy_ok(&store, &["queue", "pop", "jobs"]);
    let last: serde_json::Value =
        serde_json::from_str(&sb.canopy_ok(&store, &["queue", "pop", "jobs"])).unwrap();
    assert_eq!(last["value"], "plain text");
    let empty = sb.canopy(&store, &["queue", "pop", "jobs"]);
    assert_eq!(empty.code, 1, "{empty:?}");
    assert!(empty.err().contains("is empty"), "{empty:?}");

    for n in 1..=3 {
        sb.canopy_ok(
            &store,
            &["journal", "append", "events", &format!(r#"{{"n": {n}}}"#)],
        );
    }
    let page = sb.canopy_ok(&store, &["journal", "read", "events", "--limit", "2"]);
    let entries: Vec<serde_json::Value> = page.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(entries.len(), 2);
    assert_eq!(entries[0]["value"]["n"], 3);
    let cursor = entries[1]["cursor"].as_str().unwrap().to_string();
    let rest = sb.canopy_ok(&store, &["journal", "read", "events", "--before", &cursor]);
    assert_eq!(rest.lines().count(), 1);
    assert!(rest.contains(r#""n":1"#), "{rest}");

    let text: String = (0..2000).map(|i| format!("line {i}\n")).collect();
    std::fs::write(sb.path("doc.txt"), &text).unwrap();
    let doc = sb.path("doc.txt");
    sb.canopy_ok(&store, &["rope", "create", "doc", doc.to_str().unwrap()]);
    assert_eq!(sb.canopy_ok(&store, &["rope", "read", "doc"]), text);
    sb.canopy_ok(&store, &["rope", "splice", "doc", "7", "1", "ZERO"]);
    // "line 1" lost its "l" for "ZERO".
    assert_eq!(
        sb.canopy_ok(&store, &["rope", "read", "doc", "--len", "12"]),
        "line 0\nZEROi"
    );
    let spliced = sb.canopy_ok(&store, &["rope", "read", "doc", "--offset", "5", "--len", "11"]);
    assert_eq!(spliced, "0\nZEROine 1");
    assert_eq!(
        sb.canopy_ok(&store, &["rope", "read", "doc"]).len(),
        text.len() + 3
    );
    let bad = sb.canopy(&store, &["rope", "splice", "doc", "999999", "0", "x"]);
    assert_eq!(bad.code, 2, "{bad:?}");
    bad.assert_one_line_error();
    sb.assert_fsck_clean(&store);
}

#[test]
fn a_queue_popped_on_two_disconnected_stores_reports_the_double_delivery() {
    let sb = Sandbox::new();
    let origin = sb.init_store("origin", "sha1");
    sb.canopy_ok(&origin, &["queue", "push", "jobs", "one"]);
    sb.canopy_ok(&origin, &["queue", "push", "jobs", "two"]);
    let top = sb.path("");
    let url = origin.display().to_string();
    sb.canopy_ok(&top, &["clone", "-q", &url, "a"]);
    sb.canopy_ok(&top, &["clone", "-q", &url, "b"]);
    let (a, b) = (sb.path("a"), sb.path("b"));
    assert!(sb.canopy_ok(&a, &["queue", "pop", "jobs"]).contains("one"));
    assert!(sb.canopy_ok(&b, &["queue", "pop", "jobs"]).contains("one"));
    for r in [&a, &b, &a] {
        sb.canopy_ok(r, &["sync", "-q"]);
    }
    for r in [&a, &b] {
        let doubles = sb.canopy_ok(r, &["queue", "doubles", "jobs"]);
        assert_eq!(doubles.lines().count(), 1, "{doubles}");
        assert_eq!(doubles.matches("\"replica\"").count(), 2, "{doubles}");
        let left = sb.canopy_ok(r, &["queue", "list", "jobs"]);
        assert_eq!(left.lines().count(), 1);
        assert!(left.contains("two"));
    }
}

#[test]
fn concurrent_canopy_queue_pop_processes_take_each_item_once() {
    let sb = Sandbox::new();
    let store = sb.init_store("store", "sha1");
    sb.git_ok(&store, &["config", "canopy.fsync", "false"]);
    const ITEMS: usize = 40;
    for n in 0..ITEMS {
        sb.canopy_ok(&store, &["queue", "push", "work", &n.to_string()]);
    }
    let taken: Vec<Vec<u64>> = std::thread::scope(|s| {
        let workers: Vec<_> = (0..4)
            .map(|_| {
                s.spawn(|| {
                    let mut got = Vec::new();
                    loop {
                        let run = sb.canopy(&store, &["queue", "pop", "work"]);
                        if run.code == 1 {
                            return got;
                        }
                        let item: serde_json::Value = serde_json::from_str(&run.ok().out()).unwrap();
                        got.push(item["value"].as_u64().unwrap());
                    }
                })
            })
            .collect();
        workers.into_iter().map(|w| w.join().unwrap()).collect()
    });
    let mut all: Vec<u64> = taken.into_iter().flatten().collect();
    all.sort();
    assert_eq!(
        all,
        (0..ITEMS as u64).collect::<Vec<_>>(),
        "every item exactly once"
    );
    assert_eq!(sb.canopy_ok(&store, &["queue", "doubles", "work"]), "");
    sb.assert_fsck_clean(&store);
}
