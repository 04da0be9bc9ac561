//! History and tracing as a user meets them, with the real `git` as the oracle: bisect (against
//! `git bisect run`), revert and rollback (against `git revert`, and `git fsck`), diff (against
//! `git diff --name-status` on random histories), blame and last-modified (against `git blame`
//! and `git log -- PATH`), and watch (seeing moves made by other processes and by `git push`).

mod common;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use common::{lines_of, Sandbox};
use proptest::prelude::*;
use serde_json::Value;

/// A store whose writes skip fsync (these tests make many commits and test no crash).
fn fast_store(sb: &Sandbox, name: &str) -> PathBuf {
    let store = sb.init_store(name, "sha1");
    sb.git_ok(&store, &["config", "canopy.fsync", "false"]);
    store
}

/// `PATH` with the directory of the `canopy` under test first, for commands that call it.
fn path_with_canopy() -> String {
    let bin = Path::new(env!("CARGO_BIN_EXE_canopy"))
        .parent()
        .expect("binary directory")
        .to_path_buf();
    let old = std::env::var("PATH").unwrap_or_default();
    format!("{}:{old}", bin.display())
}

/// Runs `canopy --root STORE ARGS` with `canopy` on `PATH` (for bisect's test command).
fn canopy_with_path(sb: &Sandbox, store: &Path, args: &[&str]) -> common::Run {
    let mut cmd = sb.canopy_command(store, args);
    cmd.env("PATH", path_with_canopy());
    common::run(cmd, format!("canopy {}", args.join(" ")), None)
}

/// Every commit of `rev`, oldest first.
fn commits(sb: &Sandbox, store: &Path, rev: &str) -> Vec<String> {
    lines_of(&sb.git_ok(store, &["rev-list", "--reverse", rev]))
}

const BROKEN_TEST: &str = r#"test "$(canopy get --at "$CANOPY_REV" status)" != broken"#;

/// Skips the commits where `n` is 19, 20, 21 or 24, then tests like [`BROKEN_TEST`].
const SKIPPING_TEST: &str = r#"case "$(canopy get --at "$CANOPY_REV" n)" in 19|20|21|24) exit 125;; esac
test "$(canopy get --at "$CANOPY_REV" status)" != broken"#;

/// The commits canopy bisect tested (its `[id]` lines), and the first bad commit it named.
fn canopy_bisect(sb: &Sandbox, store: &Path, good: &str, bad: &str) -> (Vec<String>, String) {
    canopy_bisect_with(sb, store, good, bad, BROKEN_TEST)
}

fn canopy_bisect_with(
    sb: &Sandbox,
    store: &Path,
    good: &str,
    bad: &str,
    test: &str,
) -> (Vec<String>, String) {
    let run = canopy_with_path(
        sb,
        store,
        &["bisect", "--good", good, "--bad", bad, "--", "sh", "-c", test],
    )
    .ok();
    let lines = run.lines();
    let tested: Vec<String> = lines
        .iter()
        .filter_map(|l| l.strip_prefix('[').and_then(|l| l.split(']').next()))
        .map(str::to_string)
        .collect();
    let verdicts = lines
        .iter()
        .filter(|l| l.ends_with(" is good") || l.ends_with(" is bad") || l.ends_with(" is skip"))
        .count();
    assert_eq!(verdicts, tested.len(), "one verdict per test: {run:?}");
    let first_bad = lines
        .iter()
        .find_map(|l| l.strip_suffix(" is the first bad commit"))
        .unwrap_or_else(|| panic!("no first bad commit named: {run:?}"))
        .to_string();
    (tested, first_bad)
}

/// What `git bisect run` tests and finds on a checkout of the store.
fn git_bisect(sb: &Sandbox, store: &Path, good: &str, bad: &str) -> (Vec<String>, String) {
    git_bisect_with(sb, store, good, bad, r#"test "$(cat status)" != broken"#)
}

fn git_bisect_with(sb: &Sandbox, store: &Path, good: &str, bad: &str, test: &str) -> (Vec<String>, String) {
    let work = sb.path(&format!(
        "bisect-{}-{}",
        store.file_name().unwrap().to_string_lossy(),
        test.len()
    ));
    sb.git_ok(
        sb.path("").as_path(),
        &["clone", "-q", store.to_str().unwrap(), work.to_str().unwrap()],
    );
    let bad = sb.git_str(store, &["rev-parse", bad]);
    sb.git_ok(&work, &["bisect", "start", &bad, good]);
    let run = sb.git(&work, &["bisect", "run", "sh", "-c", test]).ok();
    let out = run.out();
    // The first test is announced by `bisect start`, the others by `bisect run`: ask the log
    // (where the commits given to `bisect start` appear only as comments).
    let log = sb.git_str(&work, &["bisect", "log"]);
    let tested: Vec<String> = log
        .lines()
        .filter(|l| {
            ["good", "bad", "skip"]
                .iter()
                .any(|w| l.starts_with(&format!("git bisect {w} ")))
        })
        .filter_map(|l| l.split_whitespace().nth(3).map(str::to_string))
        .collect();
    let first_bad = out
        .lines()
        .find_map(|l| l.strip_suffix(" is the first bad commit"))
        .unwrap_or_else(|| panic!("git named no first bad commit: {run:?}"))
        .to_string();
    (tested, first_bad)
}

/// The refs and reflogs of a store, to check that a command changed nothing.
fn ref_state(sb: &Sandbox, store: &Path) -> (String, String) {
    (
        sb.git_str(store, &["for-each-ref"]),
        sb.git_str(store, &["reflog", "show", "--format=%H %gs", "main"]),
    )
}

#[test]
fn bisect_finds_commit_27_of_40_in_at_most_7_runs() {
    let sb = Sandbox::new();
    let store = fast_store(&sb, "store");
    // Fixed commit ids (the sandbox's clock fixes the dates): where bisect goes after a skip
    // depends on how the candidates' ids sort, as in Git.
    sb.git_ok(&store, &["config", "canopy.replica", "0123456789abcdef"]);
    sb.canopy_ok(&store, &["set", "status", "ok", "-m", "commit 1"]);
    for i in 2..=40 {
        let msg = format!("commit {i}");
        if i == 27 {
            sb.canopy_ok(&store, &["set", "status", "broken", "-m", &msg]);
        } else {
            sb.canopy_ok(&store, &["set", "n", &i.to_string(), "-m", &msg]);
        }
    }
    let all = commits(&sb, &store, "main");
    assert_eq!(all.len(), 40);
    let before = ref_state(&sb, &store);
    let (tested, first_bad) = canopy_bisect(&sb, &store, &all[0], "main");
    assert_eq!(first_bad, all[26], "commit 27 is the first bad one");
    assert!(tested.len() <= 7, "{} runs: {tested:?}", tested.len());
    assert_eq!(
        ref_state(&sb, &store),
        before,
        "bisect changed nothing in the store"
    );
    // Git's own bisection tests the same commits.
    let (git_tested, git_first_bad) = git_bisect(&sb, &store, &all[0], "main");
    assert_eq!(git_first_bad, first_bad);
    assert_eq!(
        git_tested, tested,
        "the same commits, in the same order, as git bisect run"
    );
    // With commits that cannot be tested, the same skips (Git's pseudo-random skip-away).
    let (tested, first_bad) = canopy_bisect_with(&sb, &store, &all[0], "main", SKIPPING_TEST);
    let git_test = r#"case "$(cat n)" in 19|20|21|24) exit 125;; esac
test "$(cat status)" != broken"#;
    let (git_tested, git_first_bad) = git_bisect_with(&sb, &store, &all[0], "main", git_test);
    assert_eq!(first_bad, all[26]);
    let skipped = [18, 19, 20, 23]
        .iter()
        .filter(|&&i| tested.contains(&all[i]))
        .count();
    assert!(skipped >= 2, "the test skipped {skipped} commits: {tested:?}");
    assert_eq!(
        (tested, first_bad),
        (git_tested, git_first_bad),
        "skips as git bisect run skips"
    );
}

#[test]
fn bisect_agrees_with_git_on_histories_with_a_merge() {
    // The bug is introduced on the side branch, or on main after the fork.
    for (name, broken_on_side) in [("side", true), ("main", false)] {
        let sb = Sandbox::new();
        let store = fast_store(&sb, name);
        sb.canopy_ok(&store, &["set", "status", "ok", "-m", "m1"]);
        for i in 2..=6 {
            sb.canopy_ok(&store, &["set", "main", &i.to_string(), "-m", &format!("m{i}")]);
        }
        sb.canopy_ok(&store, &["branch", "side"]);
        for i in 1..=8 {
            let msg = format!("s{i}");
            if broken_on_side && i == 4 {
                sb.canopy_ok(
                    &store,
                    &["--branch", "side", "set", "status", "broken", "-m", &msg],
                );
            } else {
                sb.canopy_ok(
                    &store,
                    &["--branch", "side", "set", "side", &i.to_string(), "-m", &msg],
                );
            }
            // Interleave main's commits in time with the side branch's.
            let msg = format!("m{}", 6 + i);
            if !broken_on_side && i == 5 {
                sb.canopy_ok(&store, &["set", "status", "broken", "-m", &msg]);
            } else {
                sb.canopy_ok(&store, &["set", "main", &(6 + i).to_string(), "-m", &msg]);
            }
        }
        sb.canopy_ok(&store, &["merge", "side"]);
        for i in 15..=20 {
            sb.canopy_ok(&store, &["set", "main", &i.to_string(), "-m", &format!("m{i}")]);
        }
        assert_eq!(
            sb.git_str(&store, &["rev-list", "--merges", "--count", "main"]),
            "1"
        );
        let first = commits(&sb, &store, "main")[0].clone();
        let (tested, first_bad) = canopy_bisect(&sb, &store, &first, "main");
        let want = sb.git_str(
            &store,
            &[
                "log",
                "--format=%H",
                "--all",
                "--grep",
                if broken_on_side { "^s4$" } else { "^m11$" },
            ],
        );
        assert_eq!(first_bad, want, "{name}: the commit that set status to broken");
        let (git_tested, git_first_bad) = git_bisect(&sb, &store, &first, "main");
        assert_eq!(first_bad, git_first_bad, "{name}: same answer as git bisect run");
        assert_eq!(
            tested, git_tested,
            "{name}: same commits tested as git bisect run"
        );
    }
}

#[test]
fn bisect_skip_abort_and_usage() {
    let sb = Sandbox::new();
    let store = fast_store(&sb, "store");
    for i in 1..=12 {
        sb.canopy_ok(&store, &["set", "n", &i.to_string()]);
    }
    let all = commits(&sb, &store, "main");
    // Every commit untestable: only skipped commits are left; exit 1.
    let run = canopy_with_path(
        &sb,
        &store,
        &["bisect", "--good", &all[0], "--", "sh", "-c", "exit 125"],
    )
    .code(1);
    assert!(run.out().contains("could be any of"), "{run:?}");
    // 128 and above stop the bisection at once.
    let run = canopy_with_path(
        &sb,
        &store,
        &[
            "--json", "bisect", "--good", &all[0], "--", "sh", "-c", "exit 130",
        ],
    )
    .code(1);
    assert_eq!(run.json()["runs"], 1, "{run:?}");
    assert!(run.err().starts_with("canopy: bisect aborted"), "{run:?}");
    // The test command's output goes to stderr; the JSON stays parseable.
    let run = canopy_with_path(
        &sb,
        &store,
        &[
            "--json",
            "bisect",
            "--good",
            &all[0],
            "--",
            "sh",
            "-c",
            r#"echo testing; test "$(canopy get --at "$CANOPY_REV" n)" -lt 9"#,
        ],
    )
    .ok();
    assert_eq!(run.json()["first_bad"], all[8].as_str(), "{run:?}");
    assert!(run.err().contains("testing"));
    // No command, or no good commit: usage errors.
    sb.canopy(&store, &["bisect", "--good", &all[0]]).code(2);
    sb.canopy(&store, &["bisect", "--", "true"]).code(2);
    sb.canopy(&store, &["bisect", "--good", &all[0], "--", "/nonexistent/cmd"])
        .code(2)
        .assert_one_line_error();
}

#[test]
fn revert_and_rollback_restore_exactly_and_pass_fsck() {
    let sb = Sandbox::new();
    let store = fast_store(&sb, "store");
    for (k, v) in [("a", "1"), ("b", "1"), ("c", "1"), ("dir/x", "1"), ("dir/y", "1")] {
        sb.canopy_ok(&store, &["set", k, v]);
    }
    let old = sb.rev_parse(&store, "main");
    // A middle commit made with git that changes several values at once: changes a, removes b
    // and dir/x, adds d.
    let work = sb.path("work");
    sb.git_ok(
        &sb.path(""),
        &["clone", "-q", store.to_str().unwrap(), work.to_str().unwrap()],
    );
    std::fs::write(work.join("a"), "2").unwrap();
    std::fs::write(work.join("d"), "new").unwrap();
    sb.git_ok(&work, &["rm", "-q", "b", "dir/x"]);
    sb.git_ok(&work, &["add", "-A"]);
    sb.git_ok(&work, &["commit", "-q", "-m", "middle"]);
    sb.git_ok(&work, &["push", "-q", "origin", "main"]);
    let middle = sb.rev_parse(&store, "main");
    // Later commits, one of them next to the middle commit's changes.
    sb.canopy_ok(&store, &["set", "c", "2"]);
    sb.canopy_ok(&store, &["set", "dir/z", "1"]);
    sb.canopy_ok(&store, &["set", "e", "1"]);
    let before_revert = sb.rev_parse(&store, "main");

    sb.canopy_ok(&store, &["revert", &middle]);
    let values = |rev: &str| -> BTreeMap<String, String> {
        sb.canopy_ok(&store, &["tree", "--at", rev])
            .lines()
            .map(|p| (p.to_string(), sb.canopy_ok(&store, &["get", "--at", rev, p])))
            .collect()
    };
    let got = values("main");
    let mut want = values(&before_revert);
    want.insert("a".into(), "1".into());
    want.insert("b".into(), "1".into());
    want.insert("dir/x".into(), "1".into());
    want.remove("d");
    assert_eq!(got, want, "exactly the middle commit's changes are undone");
    assert_eq!(
        sb.rev_parse(&store, "main^"),
        before_revert,
        "a new commit on top"
    );
    let message = sb.git_str(&store, &["log", "-1", "--format=%B", "main"]);
    assert!(
        message.contains(&format!("This reverts commit {middle}.")),
        "{message}"
    );
    // Git's revert of the same commit gives the same tree.
    sb.git_ok(&work, &["pull", "-q", "--ff-only"]);
    sb.git_ok(&work, &["reset", "-q", "--hard", &before_revert]);
    sb.git_ok(&work, &["revert", "--no-edit", &middle]);
    assert_eq!(
        sb.rev_parse(&work, "HEAD^{tree}"),
        sb.rev_parse(&store, "main^{tree}")
    );
    sb.assert_fsck_clean(&store);
    // Reverting again: nothing left to undo (exit 1), nothing committed.
    let head = sb.rev_parse(&store, "main");
    sb.canopy(&store, &["revert", &middle])
        .code(1)
        .assert_one_line_error();
    assert_eq!(sb.rev_parse(&store, "main"), head);

    // A conflicting revert: a later commit changed the same value again.
    sb.canopy_ok(&store, &["set", "a", "3"]);
    let head = sb.rev_parse(&store, "main");
    let two = sb.git_str(&store, &["log", "-1", "--format=%H", "--grep", "^Revert"]);
    let run = sb.canopy(&store, &["revert", &two]).code(1);
    assert!(run.err().contains("conflict in a"), "{run:?}");
    assert_eq!(
        sb.rev_parse(&store, "main"),
        head,
        "branch unchanged after a conflict"
    );

    // Rollback: the tree of the old commit, on top of the history.
    sb.canopy_ok(&store, &["rollback", &old]);
    assert_eq!(
        sb.canopy_ok(&store, &["tree"]),
        sb.canopy_ok(&store, &["tree", "--at", &old]),
        "canopy tree equals the old commit's"
    );
    assert_eq!(values("main"), values(&old));
    assert_eq!(
        sb.rev_parse(&store, "main^{tree}"),
        sb.rev_parse(&store, &format!("{old}^{{tree}}"))
    );
    assert_eq!(sb.rev_parse(&store, "main^"), head, "history is kept");
    sb.assert_fsck_clean(&store);
}

#[test]
fn reset_needs_force_and_the_reflog_keeps_the_old_head() {
    let sb = Sandbox::new();
    let store = fast_store(&sb, "store");
    for i in 1..=3 {
        sb.canopy_ok(&store, &["set", "k", &i.to_string()]);
    }
    let head = sb.rev_parse(&store, "main");
    let target = sb.rev_parse(&store, "main~2");
    sb.canopy(&store, &["reset", "main~2"])
        .code(2)
        .assert_one_line_error();
    assert_eq!(sb.rev_parse(&store, "main"), head);
    let run = sb.canopy(&store, &["--json", "reset", "main~2", "--force"]).ok();
    assert_eq!(run.json()["old"], head.as_str());
    assert_eq!(sb.rev_parse(&store, "main"), target);
    // canopy reflog lists the old head, as git reflog does.
    let reflog = sb.canopy_ok(&store, &["reflog"]);
    let first: Vec<&str> = reflog.lines().take(2).collect();
    assert!(
        first[0].starts_with(&target) && first[0].contains("main@{0}: reset: moving to main~2"),
        "{reflog}"
    );
    assert!(first[1].starts_with(&head), "{reflog}");
    let git = sb.git_str(&store, &["reflog", "show", "--format=%H", "main"]);
    let ours: Vec<String> = reflog.lines().map(|l| l[..40].to_string()).collect();
    assert_eq!(ours, git.lines().collect::<Vec<_>>());
    let json = sb
        .canopy(&store, &["--json", "reflog", "--limit", "1"])
        .ok()
        .json();
    assert_eq!(json[0]["old"], head.as_str());
    assert_eq!(json.as_array().map(Vec::len), Some(1));
    // The old head is still reachable by id: reset back to it.
    sb.canopy_ok(&store, &["reset", &head, "--force"]);
    assert_eq!(sb.canopy_ok(&store, &["get", "k"]), "3");
    sb.assert_fsck_clean(&store);
}

#[test]
fn log_filters_show_blame_and_last_modified_agree_with_git() {
    let sb = Sandbox::new();
    let store = fast_store(&sb, "store");
    let ann = "Ann Example <ann@example.com>";
    let bob = "Bob Builder <bob@example.com>";
    sb.canopy_ok(&store, &["set", "doc", "a\nb\nc\n", "--author", ann]);
    sb.canopy_ok(&store, &["set", "other", "x", "--author", bob]);
    sb.canopy_ok(&store, &["set", "doc", "a\nB\nc\nd\n", "--author", bob]);
    sb.canopy_ok(&store, &["branch", "side"]);
    sb.canopy_ok(
        &store,
        &["--branch", "side", "set", "dir/s", "1", "--author", ann],
    );
    sb.canopy_ok(&store, &["set", "doc", "z\na\nB\nc\nd\n", "--author", ann]);
    sb.canopy_ok(&store, &["merge", "side", "--author", bob]);
    sb.canopy_ok(&store, &["set", "other", "y", "--author", ann]);

    let ids = |run: String| -> Vec<String> { run.lines().map(|l| l[..40].to_string()).collect() };
    let git_ids = |args: &[&str]| -> Vec<String> {
        let mut a = vec!["log", "--format=%H"];
        a.extend_from_slice(args);
        lines_of(&sb.git_ok(&store, &a))
    };
    assert_eq!(ids(sb.canopy_ok(&store, &["log"])), git_ids(&["main"]));
    assert_eq!(
        ids(sb.canopy_ok(&store, &["log", "--author", "Ann"])),
        git_ids(&["--author=Ann", "main"])
    );
    assert_eq!(
        ids(sb.canopy_ok(&store, &["log", "doc", "-n", "2"])),
        git_ids(&["-n", "2", "main", "--", "doc"])
    );
    let since = sb.git_str(&store, &["log", "-1", "--skip=3", "--format=%ct", "main"]);
    let since = format!("@{since}");
    assert_eq!(
        ids(sb.canopy_ok(&store, &["log", "--since", &since])),
        git_ids(&[&format!("--since={since}"), "main"])
    );
    // --graph: one '*' line per commit, with a lane for the side branch.
    let graph = sb.canopy_ok(&store, &["log", "--graph"]);
    assert_eq!(
        graph.lines().filter(|l| l.contains('*')).count(),
        git_ids(&["main"]).len(),
        "{graph}"
    );
    assert!(graph.lines().any(|l| l.starts_with("| *")), "{graph}");

    // show: metadata and the paths changed against the first parent.
    let show = sb.canopy_ok(&store, &["show", "main~1"]);
    assert!(
        show.starts_with(&format!("commit {}", sb.rev_parse(&store, "main~1"))),
        "{show}"
    );
    assert!(show.contains("Merge: "), "{show}");
    assert!(show.contains("Author: Bob Builder <bob@example.com>"), "{show}");
    let git_show = sb.git_str(&store, &["diff", "--name-status", "main~2", "main~1"]);
    assert!(show.ends_with(&format!("{git_show}\n")), "{show}");
    let git_date = sb.git_str(&store, &["log", "-1", "--format=%ad", "main~1"]);
    assert!(
        show.contains(&format!("Date:   {git_date}")),
        "{show}\n{git_date}"
    );
    let json = sb.canopy(&store, &["--json", "show", "main~1"]).ok().json();
    assert_eq!(json["changes"][0]["path"], "dir/s");

    // last-modified, as git log -- PATH.
    assert_eq!(
        ids(sb.canopy_ok(&store, &["last-modified", "doc"])),
        git_ids(&["-n", "1", "main", "--", "doc"])
    );
    assert_eq!(
        ids(sb.canopy_ok(&store, &["last-modified", "doc", "-n", "5"])),
        git_ids(&["main", "--", "doc"])
    );
    sb.canopy(&store, &["last-modified", "nothing"])
        .code(1)
        .assert_one_line_error();

    // blame, as git blame --first-parent.
    let blame = sb.canopy_ok(&store, &["blame", "doc"]);
    let git_blame = sb.git_str(
        &store,
        &["blame", "--first-parent", "-l", "-s", "main", "--", "doc"],
    );
    let owners = |text: &str| -> Vec<String> {
        text.lines()
            .map(|l| l.trim_start_matches('^').chars().take(8).collect())
            .collect()
    };
    assert_eq!(owners(&blame), owners(&git_blame), "{blame}\n{git_blame}");
    assert!(
        blame
            .lines()
            .nth(2)
            .is_some_and(|l| l.contains("Bob Builder") && l.ends_with(" B")),
        "{blame}"
    );
    let json = sb.canopy(&store, &["--json", "blame", "doc"]).ok().json();
    assert_eq!(json[0]["value"], "z\n");
    sb.canopy(&store, &["blame", "nothing"])
        .code(1)
        .assert_one_line_error();
    sb.canopy(&store, &["blame", "dir"])
        .code(2)
        .assert_one_line_error();
}

/// One random operation for the diff property test.
#[derive(Clone, Debug)]
enum Op {
    Set(usize, u8),
    Rm(usize),
}

/// Paths chosen to collide: a value and a directory of the same name, names that sort around
/// '/', nested directories.
const PATHS: &[&str] = &[
    "a", "a/b", "a/c", "a.b", "a-", "b/x/y", "b/x", "b/z", "c", "d/e/f/g",
];
const PREFIXES: &[&str] = &["", "a", "b", "b/x", "d/e", "zz"];

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => (0..PATHS.len(), 0u8..3).prop_map(|(p, v)| Op::Set(p, v)),
        1 => (0..PATHS.len()).prop_map(Op::Rm),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 16, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn diff_agrees_with_git_diff_name_status(
        ops in prop::collection::vec(op(), 2..12),
        pairs in prop::collection::vec((0usize..100, 0usize..100, 0..PREFIXES.len()), 4),
    ) {
        let sb = Sandbox::new();
        let store = fast_store(&sb, "store");
        sb.canopy_ok(&store, &["set", "seed", "0"]);
        for op in &ops {
            match op {
                Op::Set(p, v) => { sb.canopy_ok(&store, &["set", PATHS[*p], &format!("v{v}")]); }
                Op::Rm(p) => { let _ = sb.canopy(&store, &["rm", PATHS[*p]]); }
            }
        }
        let all = commits(&sb, &store, "main");
        for (i, j, prefix) in pairs {
            let (a, b) = (&all[i % all.len()], &all[j % all.len()]);
            let prefix = PREFIXES[prefix];
            let mut args = vec!["diff", a.as_str(), b.as_str()];
            let mut git_args = vec!["diff", "--name-status", a.as_str(), b.as_str()];
            if !prefix.is_empty() {
                args.push(prefix);
                git_args.extend(["--", prefix]);
            }
            let ours = sb.canopy_ok(&store, &args);
            let theirs = String::from_utf8_lossy(&sb.git_ok(&store, &git_args)).into_owned();
            prop_assert_eq!(&ours, &theirs, "canopy {:?} vs git {:?}", args, git_args);
            // The JSON form names the same paths with the old and new value ids.
            let json = sb.canopy(&store, &["--json", args[0], args[1], args[2], prefix]).ok().json();
            let mut raw_args = vec!["diff", "--raw", "--no-abbrev", "--no-renames", a.as_str(), b.as_str()];
            if !prefix.is_empty() {
                raw_args.extend(["--", prefix]);
            }
            let raw = String::from_utf8_lossy(&sb.git_ok(&store, &raw_args)).into_owned();
            let git_ids: Vec<(String, String, String)> = raw.lines().map(|l| {
                let (meta, path) = l.split_once('\t').unwrap();
                let f: Vec<&str> = meta.split(' ').collect();
                (path.to_string(), f[2].to_string(), f[3].to_string())
            }).collect();
            let null = "0".repeat(40);
            let our_ids: Vec<(String, String, String)> = json.as_array().unwrap().iter().map(|c| (
                c["path"].as_str().unwrap().to_string(),
                c["old"].as_str().unwrap_or(&null).to_string(),
                c["new"].as_str().unwrap_or(&null).to_string(),
            )).collect();
            prop_assert_eq!(our_ids, git_ids);
        }
    }
}

#[test]
fn diff_patch_matches_git_diff_for_text_values() {
    let sb = Sandbox::new();
    let store = fast_store(&sb, "store");
    // Lines that start with a digit, so that git puts no function name after the `@@`.
    let old: String = (1..=20).map(|i| format!("{i} line\n")).collect();
    sb.canopy_ok(&store, &["set", "doc", &old]);
    sb.canopy_ok(&store, &["set", "gone", "bye\n"]);
    let a = sb.rev_parse(&store, "main");
    let new = old
        .replace("\n3 line\n", "\n3 changed\n")
        .replace("\n17 line\n", "\n");
    sb.canopy_ok(&store, &["set", "doc", &new]);
    sb.canopy_ok(&store, &["rm", "gone"]);
    sb.canopy_ok(&store, &["set", "fresh", "no newline"]);
    let b = sb.rev_parse(&store, "main");
    let ours = sb.canopy_ok(&store, &["diff", &a, &b, "--patch"]);
    let theirs = String::from_utf8_lossy(&sb.git_ok(&store, &["diff", &a, &b])).into_owned();
    assert_eq!(ours, theirs);
}

/// A background `canopy watch --json` and the events it printed so far.
struct Watcher {
    child: Child,
    events: mpsc::Receiver<Value>,
}

impl Watcher {
    fn start(sb: &Sandbox, store: &Path) -> Watcher {
        let mut cmd = sb.canopy_command(store, &["--json", "watch"]);
        cmd.stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .stdin(Stdio::null());
        let mut child = cmd.spawn().expect("start canopy watch");
        let stdout = child.stdout.take().expect("piped stdout");
        let (tx, events) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                let v: Value =
                    serde_json::from_str(&line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
                if tx.send(v).is_err() {
                    break;
                }
            }
        });
        Watcher { child, events }
    }

    /// Events until one ends at `head`, within `limit`.
    fn until(&self, head: &str, limit: Duration) -> Vec<Value> {
        let deadline = Instant::now() + limit;
        let mut got = Vec::new();
        while Instant::now() < deadline {
            if let Ok(v) = self.events.recv_timeout(Duration::from_millis(50)) {
                let done = v["new"] == head;
                got.push(v);
                if done {
                    return got;
                }
            }
        }
        panic!("no event reached {head} within {limit:?}; got {got:?}");
    }
}

impl Drop for Watcher {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn watch_sees_100_quick_sets_and_a_git_push_in_order_without_gaps() {
    let sb = Sandbox::new();
    let store = fast_store(&sb, "store");
    sb.canopy_ok(&store, &["set", "start", "0"]);
    let watcher = Watcher::start(&sb, &store);
    // Wait until the watcher is looking: poke the branch until an event comes back.
    let mut start = String::new();
    for i in 0.. {
        assert!(i < 100, "canopy watch never reported anything");
        sb.canopy_ok(&store, &["set", "probe", &i.to_string()]);
        start = sb.rev_parse(&store, "main");
        if let Ok(v) = watcher.events.recv_timeout(Duration::from_millis(200)) {
            if v["new"] != start.as_str() {
                watcher.until(&start, Duration::from_secs(5));
            }
            break;
        }
    }
    // 100 quick writes from other processes.
    for i in 0..100 {
        sb.canopy_ok(&store, &["set", &format!("k/{i:03}"), &i.to_string()]);
    }
    let after_sets = sb.rev_parse(&store, "main");
    let mut events = watcher.until(&after_sets, Duration::from_secs(20));
    // And a push from a git clone: changes one key, removes another, adds one.
    let work = sb.path("work");
    sb.git_ok(
        &sb.path(""),
        &["clone", "-q", store.to_str().unwrap(), work.to_str().unwrap()],
    );
    std::fs::write(work.join("k/000"), "changed").unwrap();
    std::fs::remove_file(work.join("k/001")).unwrap();
    std::fs::create_dir_all(work.join("g")).unwrap();
    std::fs::write(work.join("g/pushed"), "1").unwrap();
    sb.git_ok(&work, &["add", "-A"]);
    sb.git_ok(&work, &["commit", "-q", "-m", "pushed"]);
    sb.git_ok(&work, &["push", "-q", "origin", "main"]);
    let end = sb.rev_parse(&store, "main");
    assert_ne!(end, after_sets);
    events.extend(watcher.until(&end, Duration::from_secs(20)));

    // Without gaps: each event starts where the previous one ended, from `start` to `end`.
    let mut at = start.clone();
    for e in &events {
        assert_eq!(e["old"], at.as_str(), "a gap before {e}");
        at = e["new"].as_str().expect("new head").to_string();
    }
    assert_eq!(at, end);
    // In order: every head reported is on the branch, newer than the one before.
    let history = commits(&sb, &store, "main");
    let pos: Vec<usize> = events
        .iter()
        .map(|e| {
            history
                .iter()
                .position(|c| e["new"] == c.as_str())
                .expect("a commit of main")
        })
        .collect();
    assert!(pos.windows(2).all(|w| w[0] < w[1]), "{pos:?}");
    // Every change, in order (moves seen together list their paths in path order, and the keys
    // sort in the order they were written).
    let changes: Vec<(String, String)> = events
        .iter()
        .flat_map(|e| e["changes"].as_array().cloned().unwrap_or_default())
        .map(|c| {
            (
                c["change"].as_str().unwrap_or("").to_string(),
                c["path"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect();
    let mut want: Vec<(String, String)> = (0..100)
        .map(|i| ("added".to_string(), format!("k/{i:03}")))
        .collect();
    want.extend([
        ("added".to_string(), "g/pushed".to_string()),
        ("changed".to_string(), "k/000".to_string()),
        ("removed".to_string(), "k/001".to_string()),
    ]);
    assert_eq!(changes, want);
    eprintln!("{} events for 101 moves", events.len());
    // The plain-text form: `<new head> <change> <path>`.
    drop(watcher);
    let mut cmd = sb.canopy_command(&store, &["watch", "k"]);
    cmd.stdout(Stdio::piped()).stdin(Stdio::null());
    let mut child = cmd.spawn().expect("start canopy watch");
    let stdout = child.stdout.take().expect("stdout");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let mut line = None;
    for i in 0..50 {
        sb.canopy_ok(&store, &["set", "elsewhere", &i.to_string()]);
        sb.canopy_ok(&store, &["set", "k/new", &i.to_string()]);
        if let Ok(l) = rx.recv_timeout(Duration::from_millis(300)) {
            line = Some(l);
            break;
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    let line = line.expect("canopy watch k printed a change");
    let parts: Vec<&str> = line.split(' ').collect();
    assert_eq!(parts.len(), 3, "{line}");
    assert_eq!(parts[0].len(), 40);
    assert!(parts[1] == "added" || parts[1] == "changed", "{line}");
    assert_eq!(parts[2], "k/new", "only changes below k are printed: {line}");
}

#[test]
fn watch_exec_runs_per_new_head() {
    let sb = Sandbox::new();
    let store = fast_store(&sb, "store");
    sb.canopy_ok(&store, &["set", "a", "0"]);
    let log = sb.path("exec.log");
    let script = format!("echo \"$CANOPY_OLD $CANOPY_NEW\" >> '{}'", log.display());
    let mut cmd = sb.canopy_command(&store, &["watch", "--exec", &script]);
    cmd.stdout(Stdio::null()).stdin(Stdio::null());
    let mut child = cmd.spawn().expect("start canopy watch --exec");
    let read = || std::fs::read_to_string(&log).unwrap_or_default();
    let mut ok = false;
    for i in 1..100 {
        sb.canopy_ok(&store, &["set", "a", &i.to_string()]);
        std::thread::sleep(Duration::from_millis(100));
        if !read().is_empty() {
            ok = true;
            break;
        }
    }
    let head = sb.rev_parse(&store, "main");
    let deadline = Instant::now() + Duration::from_secs(5);
    while !read().contains(&head) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = child.kill();
    let _ = child.wait();
    assert!(ok, "the command never ran");
    let text = read();
    let last = text.lines().last().unwrap_or("");
    let (old, new) = last.split_once(' ').unwrap_or(("", ""));
    assert_eq!(new, head, "{text}");
    assert_eq!(old.len(), 40, "{text}");
}

#[test]
fn log_path_simplifies_history_as_git_log_does() {
    let sb = Sandbox::new();
    let store = fast_store(&sb, "store");
    sb.canopy_ok(&store, &["set", "doc", "1"]);
    sb.canopy_ok(&store, &["branch", "side"]);
    sb.canopy_ok(&store, &["--branch", "side", "set", "doc", "side"]);
    sb.canopy_ok(&store, &["--branch", "side", "set", "dir/s", "1"]);
    sb.canopy_ok(&store, &["set", "doc", "main"]);
    // The merge keeps main's `doc`: the side's change to it is not part of doc's history.
    sb.canopy_ok(&store, &["merge", "side", "-X", "ours"]);
    sb.canopy_ok(&store, &["set", "other", "x"]);
    assert_eq!(sb.canopy_ok(&store, &["get", "doc"]), "main");
    let side_doc = sb.rev_parse(&store, "side~1");

    let check = |what: &str| {
        for path in ["doc", "dir", "dir/s", "other", "missing"] {
            let log = sb.canopy_ok(&store, &["log", path]);
            let git = lines_of(&sb.git_ok(&store, &["log", "--format=%H %s", "main", "--", path]));
            assert_eq!(lines_of(log.as_bytes()), git, "{what}: log {path}");
            if path == "doc" {
                assert!(!log.contains(&side_doc), "{log}");
            }
            let count = sb.canopy_ok(&store, &["log", "--count", path]);
            let git = sb.git_str(&store, &["rev-list", "--count", "main", "--", path]);
            assert_eq!(count.trim(), git.trim(), "{what}: log --count {path}");
        }
        let count = sb.canopy_ok(&store, &["log", "--count"]);
        let git = sb.git_str(&store, &["rev-list", "--count", "main"]);
        assert_eq!(count.trim(), git.trim(), "{what}: log --count");
        let json = sb
            .canopy(&store, &["--json", "log", "--count", "--limit", "2"])
            .ok()
            .json();
        assert_eq!(json["count"], 2, "{what}");
        let last = sb.canopy_ok(&store, &["last-modified", "doc", "-n", "5"]);
        let git = lines_of(&sb.git_ok(&store, &["log", "-n5", "--format=%H %s", "main", "--", "doc"]));
        assert_eq!(lines_of(last.as_bytes()), git, "{what}: last-modified doc");
    };
    check("without a commit-graph");
    sb.canopy_ok(&store, &["gc"]);
    assert!(store.join("objects/info/commit-graph").exists());
    check("with the commit-graph gc wrote");
    sb.canopy_ok(&store, &["set", "doc", "after the graph"]);
    check("with a stale commit-graph");
}

/// Per line of `git blame --first-parent --line-porcelain`: (commit, original line, path).
fn git_blame_lines(sb: &Sandbox, repo: &Path, path: &str) -> Vec<(String, u64, String)> {
    let out = sb.git_str(
        repo,
        &["blame", "--first-parent", "--line-porcelain", "main", "--", path],
    );
    let mut lines = Vec::new();
    for l in out.lines() {
        let words: Vec<&str> = l.split(' ').collect();
        if words.len() >= 3 && words[0].len() == 40 && words[0].bytes().all(|b| b.is_ascii_hexdigit()) {
            lines.push((words[0].to_string(), words[1].parse().unwrap(), String::new()));
        } else if let Some(name) = l.strip_prefix("filename ") {
            lines.last_mut().unwrap().2 = name.to_string();
        }
    }
    lines
}

/// The same from `canopy --json blame`.
fn canopy_blame_lines(sb: &Sandbox, store: &Path, path: &str) -> Vec<(String, u64, String)> {
    let json = sb.canopy(store, &["--json", "blame", path]).ok().json();
    json.as_array()
        .unwrap()
        .iter()
        .map(|l| {
            (
                l["commit"].as_str().unwrap().to_string(),
                l["original_line"].as_u64().unwrap(),
                l["path"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

/// `canopy blame` on a history made by `git`: it follows a file renamed with edits back to the
/// commit that wrote each line under the old name, and gives a line that can slide (an added
/// block whose first line equals the line after it) to the commit `git blame` gives it to
/// (Git's indent heuristic); commit, original line and path agree line for line with `git blame
/// --first-parent --line-porcelain`.
#[test]
fn blame_follows_renames_and_slides_lines_as_git_does() {
    let sb = Sandbox::new();
    let store = fast_store(&sb, "store");
    sb.canopy_ok(&store, &["set", "seed", "planted by canopy"]);
    sb.git_ok(&sb.path(""), &["clone", "-q", store.to_str().unwrap(), "work"]);
    let work = sb.path("work");
    let mut clock = 1_710_000_000;
    let mut commit = |msg: &str| {
        clock += 60;
        let date = format!("{clock} +0000");
        sb.git_ok(&work, &["add", "-A"]);
        sb.git_with(
            &work,
            &["commit", "-qm", msg],
            &[("GIT_AUTHOR_DATE", &date), ("GIT_COMMITTER_DATE", &date)],
            None,
        )
        .ok();
    };
    let body: String = (1..=12)
        .map(|i| format!("fn f{i}() -> u32 {{\n    {i}\n}}\n\n"))
        .collect();
    std::fs::write(work.join("old.rs"), &body).unwrap();
    std::fs::write(work.join("other.rs"), "unrelated\n").unwrap();
    commit("write old.rs");
    std::fs::write(work.join("other.rs"), "still unrelated\n").unwrap();
    commit("touch other.rs");
    // Renamed with edits: one line changed, one function added.
    std::fs::remove_file(work.join("old.rs")).unwrap();
    let renamed = body.replace("    5\n", "    50\n") + "fn extra() {}\n";
    std::fs::write(work.join("new.rs"), &renamed).unwrap();
    commit("rename old.rs to new.rs, with edits");
    std::fs::write(work.join("new.rs"), renamed.replace("    7\n", "    70\n")).unwrap();
    commit("edit new.rs");

    let slide_old = "// x\nfn a() {\n    1\n}\n\n// x\nfn c() {\n    3\n}\n";
    let slide_new = "// x\nfn a() {\n    1\n}\n\n// x\nfn b() {\n    2\n}\n\n// x\nfn c() {\n    3\n}\n";
    std::fs::write(work.join("slide.rs"), slide_old).unwrap();
    commit("a and c");
    std::fs::write(work.join("slide.rs"), slide_new).unwrap();
    commit("b between them");
    sb.git_ok(&work, &["push", "-q", "origin", "HEAD:main"]);

    let git = git_blame_lines(&sb, &store, "new.rs");
    let first = sb.rev_parse(&store, "main~5");
    assert!(
        git.iter().any(|(c, _, p)| *c == first && p == "old.rs"),
        "git blame follows the rename: {git:?}"
    );
    assert_eq!(canopy_blame_lines(&sb, &store, "new.rs"), git);
    let text = sb.canopy_ok(&store, &["blame", "new.rs"]);
    assert!(
        text.lines().next().is_some_and(|l| l.contains(" old.rs ")),
        "{text}"
    );

    let git = git_blame_lines(&sb, &store, "slide.rs");
    let added = sb.rev_parse(&store, "main");
    // The comment above `fn b` is the new one; the one above `fn c` is the old one.
    assert_eq!(git[5].0, added, "{git:?}");
    assert_ne!(git[10].0, added, "{git:?}");
    assert_eq!(canopy_blame_lines(&sb, &store, "slide.rs"), git);
    assert!(!sb
        .canopy_ok(&store, &["blame", "slide.rs"])
        .contains(" slide.rs "));
}

/// One file's content in a random history: `None` removes it.
type Content = Option<Vec<u8>>;

const PATCH_PATHS: &[&str] = &["a", "b.txt", "dir/c", "dir/sub/d", "dir/sub/e", "z"];
const PATCH_LINES: &[&str] = &[
    "alpha",
    "beta",
    "gamma",
    "delta",
    "1",
    "2",
    "3",
    "",
    "    indented",
    "_under",
    "$dollar",
    "{",
    "}",
    "int main(void)",
    "return 0;",
    "# comment",
];

/// A file: lines from a small alphabet (so that edits repeat and move lines), sometimes with
/// no newline at the end, sometimes binary, sometimes empty.
fn patch_content() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        8 => (prop::collection::vec(0..PATCH_LINES.len(), 0..40), any::<bool>()).prop_map(|(lines, eol)| {
            let mut out: Vec<u8> = lines.iter().flat_map(|&i| format!("{}\n", PATCH_LINES[i]).into_bytes()).collect();
            if !eol && !out.is_empty() {
                out.pop();
            }
            out
        }),
        1 => prop::collection::vec(any::<u8>(), 1..64).prop_map(|mut b| { b.push(0); b }),
    ]
}

/// A file edited: some lines replaced, inserted or removed (the common case in real histories).
fn patch_edit(old: &[u8], edits: &[(usize, usize, usize)]) -> Vec<u8> {
    let mut lines: Vec<Vec<u8>> = old.split_inclusive(|&b| b == b'\n').map(<[u8]>::to_vec).collect();
    for &(kind, at, word) in edits {
        let line = format!("{}\n", PATCH_LINES[word % PATCH_LINES.len()]).into_bytes();
        let at = if lines.is_empty() {
            0
        } else {
            at % (lines.len() + 1)
        };
        match kind % 3 {
            0 if at < lines.len() => lines[at] = line,
            1 => lines.insert(at, line),
            _ if at < lines.len() => {
                lines.remove(at);
            }
            _ => lines.push(line),
        }
    }
    lines.concat()
}

/// One file of a commit: (path index, what to do, fresh content, edits to apply).
type PatchFile = (usize, u8, Vec<u8>, Vec<(usize, usize, usize)>);

fn patch_step() -> impl Strategy<Value = Vec<PatchFile>> {
    prop::collection::vec(
        (
            0..PATCH_PATHS.len(),
            0u8..10,
            patch_content(),
            prop::collection::vec((0usize..3, 0usize..50, 0usize..50), 1..6),
        ),
        1..4,
    )
}

/// `git fast-import` input for commits that set each file as listed (a `None` deletes it).
fn fast_import_stream(commits: &[Vec<(String, Content)>]) -> Vec<u8> {
    let mut out = Vec::new();
    for (n, files) in commits.iter().enumerate() {
        out.extend_from_slice(
            format!(
                "commit refs/heads/main\ncommitter T <t@example.com> {} +0000\ndata 2\nc{n}\n",
                1_700_000_000 + n
            )
            .as_bytes(),
        );
        for (path, content) in files {
            match content {
                Some(bytes) => {
                    out.extend_from_slice(
                        format!("M 100644 inline {path}\ndata {}\n", bytes.len()).as_bytes(),
                    );
                    out.extend_from_slice(bytes);
                    out.push(b'\n');
                }
                None => out.extend_from_slice(format!("D {path}\n").as_bytes()),
            }
        }
        out.push(b'\n');
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 50, failure_persistence: None, ..ProptestConfig::default() })]

    /// `canopy diff --patch A B` is `git diff A B`, byte for byte, on random histories of text
    /// edits, new and removed files, binary files and files with no newline at the end.
    #[test]
    fn diff_patch_is_git_diff_on_random_histories(steps in prop::collection::vec(patch_step(), 2..6)) {
        let sb = Sandbox::new();
        let store = fast_store(&sb, "store");
        let mut current: std::collections::BTreeMap<String, Vec<u8>> = Default::default();
        let mut commits = Vec::new();
        for step in &steps {
            let mut files = Vec::new();
            for (p, what, fresh, edits) in step {
                let path = PATCH_PATHS[*p].to_string();
                // A path is a value or a directory, never both: `dir/sub` stays a directory.
                let content = match (current.get(&path), what) {
                    (Some(_), 0) => None,
                    (Some(old), 1..=6) => Some(patch_edit(old, edits)),
                    _ => Some(fresh.clone()),
                };
                match &content {
                    Some(c) => current.insert(path.clone(), c.clone()),
                    None => current.remove(&path),
                };
                files.push((path, content));
            }
            commits.push(files);
        }
        let run = sb.git_with(&store, &["fast-import", "--quiet"], &[], Some(&fast_import_stream(&commits)));
        prop_assert!(run.code == 0, "fast-import: {}", String::from_utf8_lossy(&run.stderr));
        let ids: Vec<String> = (0..commits.len()).rev().map(|n| sb.rev_parse(&store, &format!("main~{n}"))).collect();
        let mut pairs: Vec<(usize, usize)> = (1..ids.len()).map(|i| (i - 1, i)).collect();
        pairs.push((0, ids.len() - 1));
        pairs.push((ids.len() - 1, 0));
        for (i, j) in pairs {
            let (a, b) = (ids[i].as_str(), ids[j].as_str());
            let ours = sb.canopy(&store, &["diff", a, b, "--patch"]);
            prop_assert!(ours.code == 0, "canopy diff: {}", String::from_utf8_lossy(&ours.stderr));
            let theirs = sb.git_ok(&store, &["diff", a, b]);
            prop_assert_eq!(
                String::from_utf8_lossy(&ours.stdout),
                String::from_utf8_lossy(&theirs),
                "canopy diff {} {} --patch differs from git diff", a, b
            );
        }
    }
}
