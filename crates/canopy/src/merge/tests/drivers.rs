//! Edge cases of each built-in driver, the registry, and the typed combinators.

use std::collections::BTreeMap;

use serde_json::json;

use crate::merge::drivers::{canonical_json, from_merge};
use crate::merge::{
    atomic, map, option, pair, typed_json, AttrValue, Attributes, Conflict, Driver, Drivers, Merge,
    MergeContext, MergeResult,
};

fn run(
    name: &str,
    base: Option<&str>,
    ours: Option<&str>,
    theirs: Option<&str>,
) -> MergeResult<Option<String>> {
    run_ctx(name, &MergeContext::new("p"), base, ours, theirs)
}

fn run_ctx(
    name: &str,
    ctx: &MergeContext,
    base: Option<&str>,
    ours: Option<&str>,
    theirs: Option<&str>,
) -> MergeResult<Option<String>> {
    let drivers = Drivers::builtin();
    let driver = drivers.get(name).expect("built-in driver");
    driver
        .merge(
            ctx,
            base.map(str::as_bytes),
            ours.map(str::as_bytes),
            theirs.map(str::as_bytes),
        )
        .map(|v| v.map(|v| String::from_utf8(v).expect("utf-8 result")))
}

fn ok(s: &str) -> MergeResult<Option<String>> {
    Ok(Some(s.to_string()))
}

fn reason(r: MergeResult<Option<String>>) -> String {
    match r {
        Err(Conflict { reason }) => reason,
        Ok(v) => panic!("expected a conflict, got {v:?}"),
    }
}

#[test]
fn every_driver_follows_the_deletion_rules() {
    for name in ["text", "binary", "json", "counter", "lww", "set", "log", "union"] {
        // Deleted on one side, unchanged on the other: deleted.
        assert_eq!(run(name, Some("1\n"), None, Some("1\n")), Ok(None), "{name}");
        assert_eq!(run(name, Some("1\n"), Some("1\n"), None), Ok(None), "{name}");
        // Deleted on one side, modified on the other: conflict.
        assert!(
            reason(run(name, Some("1\n"), None, Some("2\n"))).contains("modify/delete"),
            "{name}"
        );
        assert!(
            reason(run(name, Some("1\n"), Some("2\n"), None)).contains("modify/delete"),
            "{name}"
        );
        // Added on one side only.
        assert_eq!(run(name, None, None, Some("7\n")), ok("7\n"), "{name}");
        // Both deleted.
        assert_eq!(run(name, Some("1\n"), None, None), Ok(None), "{name}");
    }
}

#[test]
fn counter_adds_both_sides_changes() {
    assert_eq!(
        run("counter", Some("10\n"), Some("15\n"), Some("13\n")),
        ok("18\n")
    );
    assert_eq!(run("counter", Some("10"), Some("15"), Some("13")), ok("18"));
    assert_eq!(run("counter", Some("10"), Some(" 7 "), Some("13\n")), ok("10\n"));
    assert_eq!(run("counter", None, Some("2\n"), Some("3\n")), ok("5\n"));
    assert_eq!(run("counter", Some("0"), Some("-4"), Some("9")), ok("5"));
    assert!(reason(run("counter", Some("1"), Some("x"), Some("2"))).contains("ours is not an integer"));
    let max = i64::MAX.to_string();
    assert!(reason(run("counter", Some("0"), Some(&max), Some("1"))).contains("overflow"));
    // The same increment on both sides is two increments (Irmin's `a + b - old`).
    assert_eq!(
        run("counter", Some("10\n"), Some("15\n"), Some("15\n")),
        ok("20\n")
    );
    assert_eq!(run("counter", Some("10"), Some("11"), Some("11")), ok("12"));
    // …but unchanged on both sides, or deleted on both, is nothing to add.
    assert_eq!(run("counter", Some("10"), Some("10"), Some("10")), ok("10"));
    assert_eq!(run("counter", Some("10"), None, None), Ok(None));
}

#[test]
fn binary_conflicts_on_two_changes() {
    assert_eq!(run("binary", Some("a"), Some("b"), Some("a")), ok("b"));
    assert_eq!(run("binary", Some("a"), Some("b"), Some("b")), ok("b"));
    assert!(reason(run("binary", Some("a"), Some("b"), Some("c"))).contains("both sides changed"));
    assert!(reason(run("binary", None, Some("b"), Some("c"))).contains("add/add"));
}

#[test]
fn text_merges_lines_and_names_conflicting_lines() {
    let base = "1\n2\n3\n4\n5\n6\n";
    assert_eq!(
        run(
            "text",
            Some(base),
            Some("1\nX\n3\n4\n5\n6\n"),
            Some("1\n2\n3\n4\nY\n6\n")
        ),
        ok("1\nX\n3\n4\nY\n6\n")
    );
    let r = reason(run(
        "text",
        Some(base),
        Some("1\n2\nA\nB\nC\n6\n"),
        Some("1\n2\nX\nY\nZ\n6\n"),
    ));
    assert_eq!(r, "both sides changed lines 3-5");
    // Adjacent lines changed on different sides conflict, as in Git.
    assert!(run(
        "text",
        Some(base),
        Some("1\nX\n3\n4\n5\n6\n"),
        Some("1\n2\nY\n4\n5\n6\n")
    )
    .is_err());
    // Both added different content: conflict; the same content: that content.
    assert!(run("text", None, Some("a\n"), Some("b\n")).is_err());
    assert_eq!(run("text", None, Some("a\n"), Some("a\n")), ok("a\n"));
    // Binary content follows the binary rule.
    assert!(reason(run("text", Some("a\0"), Some("b\0"), Some("c\0"))).contains("binary"));
    assert_eq!(run("text", Some("a\0"), Some("a\0"), Some("c\0")), ok("c\0"));
}

#[test]
fn union_keeps_both_sides_lines() {
    assert_eq!(
        run("union", Some("a\nb\nc\n"), Some("a\nX\nc\n"), Some("a\nY\nc\n")),
        ok("a\nX\nY\nc\n")
    );
    assert_eq!(run("union", None, Some("x\n"), Some("y\n")), ok("x\ny\n"));
    assert_eq!(run("union", None, Some("x"), Some("y")), ok("x\ny"));
    assert!(run("union", Some("\0"), Some("\0a"), Some("\0b")).is_err());
}

#[test]
fn json_merges_objects_key_by_key() {
    let base = r#"{"a": 1, "b": {"x": 1, "y": 2}, "c": [1]}"#;
    let ours = r#"{"a": 2, "b": {"x": 1, "y": 2}, "c": [1]}"#;
    let theirs = r#"{"a": 1, "b": {"x": 1, "y": 3, "z": 4}}"#;
    let merged = run("json", Some(base), Some(ours), Some(theirs))
        .unwrap()
        .unwrap();
    let value: serde_json::Value = serde_json::from_str(&merged).unwrap();
    assert_eq!(value, json!({"a": 2, "b": {"x": 1, "y": 3, "z": 4}}));
    assert_eq!(merged.as_bytes(), canonical_json(&value));

    let r = reason(run(
        "json",
        Some(r#"{"a":{"b":1}}"#),
        Some(r#"{"a":{"b":2}}"#),
        Some(r#"{"a":{"b":3}}"#),
    ));
    assert!(r.contains("/a/b"), "{r}");
    let r = reason(run(
        "json",
        Some(r#"{"k":[1]}"#),
        Some(r#"{"k":[1,2]}"#),
        Some(r#"{"k":[0,1]}"#),
    ));
    assert!(r.contains("/k"), "{r}");
    let r = reason(run("json", Some(r#"{"k":1}"#), Some(r#"{}"#), Some(r#"{"k":2}"#)));
    assert!(r.contains("modify/delete") && r.contains("/k"), "{r}");
    assert!(reason(run("json", Some("{}"), Some("{"), Some(r#"{"a":1}"#))).contains("not valid JSON"));
    // Both added: key by key with no base.
    let merged = run("json", None, Some(r#"{"a":1}"#), Some(r#"{"b":2}"#))
        .unwrap()
        .unwrap();
    assert_eq!(merged, "{\n  \"a\": 1,\n  \"b\": 2\n}\n");
    // A side that kept the base gives the other side's bytes unchanged (not re-encoded).
    assert_eq!(
        run("json", Some("{}"), Some("{}"), Some("not json")),
        ok("not json")
    );
}

#[test]
fn lww_picks_the_later_commit_deterministically() {
    let id = |c: char| c.to_string().repeat(40);
    let later_ours = MergeContext::new("p").with_commits((200, id('a')), (100, id('f')));
    assert_eq!(
        run_ctx("lww", &later_ours, Some("b"), Some("o"), Some("t")),
        ok("o")
    );
    let later_theirs = MergeContext::new("p").with_commits((100, id('a')), (200, id('f')));
    assert_eq!(
        run_ctx("lww", &later_theirs, Some("b"), Some("o"), Some("t")),
        ok("t")
    );
    let tie = MergeContext::new("p").with_commits((100, id('a')), (100, id('F')));
    assert_eq!(run_ctx("lww", &tie, Some("b"), Some("o"), Some("t")), ok("t"));
    assert!(reason(run("lww", Some("b"), Some("o"), Some("t"))).contains("commits"));
    // One side unchanged: no stamps needed.
    assert_eq!(run("lww", Some("b"), Some("b"), Some("t")), ok("t"));
}

#[test]
fn set_applies_both_sides_additions_and_removals() {
    assert_eq!(
        run("set", Some("a\nb\nc\n"), Some("a\nb\nd\n"), Some("b\nc\ne\n")),
        ok("b\nd\ne\n")
    );
    assert_eq!(
        run("set", None, Some("z\ny\ny\n"), Some("x\n\n")),
        ok("x\ny\nz\n")
    );
    assert_eq!(run("set", Some("a\n"), Some("b\na\n"), Some("")), ok("b\n"));
}

#[test]
fn log_keeps_both_sides_appends_in_time_order() {
    let base = "1 start\n5 base\n";
    let ours = "1 start\n5 base\n20 ours late\n7 ours early\n";
    let theirs = "1 start\n5 base\n10 theirs\n";
    assert_eq!(
        run("log", Some(base), Some(ours), Some(theirs)),
        ok("1 start\n5 base\n7 ours early\n10 theirs\n20 ours late\n")
    );
    let r = reason(run(
        "log",
        Some(base),
        Some("1 start\n5 changed\n9 x\n"),
        Some("1 start\n5 base\n9 y\n"),
    ));
    assert!(r.contains("ours changed existing entries"), "{r}");
    assert_eq!(
        run(
            "log",
            Some("2024-01-01T00:00:00Z a"),
            Some("2024-01-01T00:00:00Z a\n2024-03-01T00:00:00Z c"),
            Some("2024-01-01T00:00:00Z a\n2024-02-01T00:00:00Z b\n")
        ),
        ok("2024-01-01T00:00:00Z a\n2024-02-01T00:00:00Z b\n2024-03-01T00:00:00Z c\n")
    );
    assert_eq!(run("log", None, Some("3 c\n"), Some("2 b\n")), ok("2 b\n3 c\n"));
}

#[test]
fn registry_selects_like_git() {
    let drivers = Drivers::builtin();
    let names: Vec<&str> = drivers.names().collect();
    assert_eq!(
        names,
        ["binary", "counter", "json", "log", "lww", "register", "set", "text", "union"]
    );
    let pick = |v: AttrValue| drivers.select(&v).map(|(n, _)| n.to_string());
    assert_eq!(pick(AttrValue::Set).as_deref(), Some("text"));
    assert_eq!(pick(AttrValue::Unset).as_deref(), Some("binary"));
    assert_eq!(pick(AttrValue::Unspecified).as_deref(), Some("text"));
    assert_eq!(
        pick(AttrValue::Value("counter".into())).as_deref(),
        Some("counter")
    );
    assert_eq!(pick(AttrValue::Value("nonesuch".into())).as_deref(), Some("text"));
    assert!(Drivers::empty().select(&AttrValue::Set).is_none());

    // The path's attribute picks the driver.
    let attrs = Attributes::parse(b"counters/* merge=counter\n");
    let (name, driver) = drivers.select(&attrs.merge_attr("counters/hits")).unwrap();
    assert_eq!(name, "counter");
    let merged = driver.merge(
        &MergeContext::new("counters/hits"),
        Some(b"10\n"),
        Some(b"15\n"),
        Some(b"13\n"),
    );
    assert_eq!(merged, Ok(Some(b"18\n".to_vec())));
    assert_eq!(
        drivers.merge(
            "counter",
            &MergeContext::new("x"),
            Some(b"1"),
            Some(b"2"),
            Some(b"3")
        ),
        Ok(Some(b"4".to_vec()))
    );
}

#[test]
fn users_register_their_own_drivers() {
    let mut drivers = Drivers::builtin();
    let longest = |_: &MergeContext,
                   _: Option<&[u8]>,
                   o: Option<&[u8]>,
                   t: Option<&[u8]>|
     -> MergeResult<Option<Vec<u8>>> {
        Ok([o, t]
            .into_iter()
            .flatten()
            .max_by_key(|v| v.len())
            .map(<[u8]>::to_vec))
    };
    assert!(drivers.register("longest", longest).is_none());
    let d = drivers.get("longest").unwrap();
    assert_eq!(
        d.merge(&MergeContext::new("p"), None, Some(b"ab"), Some(b"c")),
        Ok(Some(b"ab".to_vec()))
    );
    // Replacing a built-in returns the old one.
    assert!(drivers
        .register("text", crate::merge::drivers::BinaryDriver)
        .is_some());
    assert!(drivers
        .merge(
            "text",
            &MergeContext::new("p"),
            Some(b"a\nb\n"),
            Some(b"x\nb\n"),
            Some(b"a\ny\n")
        )
        .is_err());
}

#[test]
fn combinators_compose() {
    let m = map(atomic::<i32>());
    let bm = |kv: &[(&str, i32)]| {
        kv.iter()
            .map(|(k, v)| (k.to_string(), *v))
            .collect::<BTreeMap<_, _>>()
    };
    let r = m.merge(
        Some(&bm(&[("a", 1), ("b", 1)])),
        Some(&bm(&[("a", 2), ("b", 2)])),
        Some(&bm(&[("a", 3), ("b", 3)])),
    );
    let reason = r.unwrap_err().reason;
    assert!(
        reason.contains("key \"a\"") && reason.contains("key \"b\""),
        "{reason}"
    );
    // A key deleted on one side and unchanged on the other goes.
    let r = m.merge(
        Some(&bm(&[("a", 1)])),
        Some(&bm(&[])),
        Some(&bm(&[("a", 1), ("c", 5)])),
    );
    assert_eq!(r, Ok(Some(bm(&[("c", 5)]))));

    let p = pair(atomic::<i32>(), atomic::<i32>());
    assert!(p
        .merge(Some(&(1, 1)), Some(&(2, 1)), Some(&(3, 1)))
        .unwrap_err()
        .reason
        .starts_with("first of pair"));

    let t = typed_json::<BTreeMap<String, i64>, _>(map(crate::merge::counter()));
    let merged = t
        .merge(
            Some(&br#"{"a":1}"#.to_vec()),
            Some(&br#"{"a":3}"#.to_vec()),
            Some(&br#"{"a":2,"b":1}"#.to_vec()),
        )
        .unwrap()
        .unwrap();
    assert_eq!(merged, b"{\n  \"a\": 4,\n  \"b\": 1\n}\n");
    let bad = t.merge(
        Some(&b"{}".to_vec()),
        Some(&b"[]".to_vec()),
        Some(&br#"{"a":1}"#.to_vec()),
    );
    assert!(bad.unwrap_err().reason.starts_with("ours does not decode"));

    let sum = option(|b: Option<&i32>, o: &i32, t: &i32| Ok(o + t - b.copied().unwrap_or(0)));
    let driver = from_merge(typed_json::<i32, _>(sum));
    assert_eq!(
        driver.merge(&MergeContext::new("n"), Some(b"1"), Some(b"2"), Some(b"3")),
        Ok(Some(b"4\n".to_vec()))
    );
}
