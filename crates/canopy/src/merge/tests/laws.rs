//! The merge laws, as properties of every built-in driver:
//!
//! - identity: `merge(b, b, x) = x` and `merge(b, x, b) = x`, for every driver;
//! - idempotence: `merge(b, x, x) = x`, only for the state-like drivers (not `counter` or `log`,
//!   whose equal changes on both sides are two changes);
//! - commutativity where promised (`binary`, `counter`, `set`, `json`, `log`, `lww` with the
//!   commits swapped along with the sides): swapping the sides gives the same result, or a
//!   conflict both ways;
//! - and each driver's own rule (counter arithmetic, set algebra, canonical JSON, log order,
//!   `union` agreeing with `text` wherever `text` is clean).

use std::collections::BTreeSet;

use proptest::prelude::*;

use super::git_text::three_versions;
use crate::merge::drivers::canonical_json;
use crate::merge::{Driver, Drivers, EqualChanges, MergeContext, MergeResult};

type Value = Option<Vec<u8>>;

fn drivers() -> Drivers {
    Drivers::builtin()
}

fn ctx() -> MergeContext {
    MergeContext::new("p").with_commits((100, "a".repeat(40)), (100, "b".repeat(40)))
}

fn merge(d: &dyn Driver, ctx: &MergeContext, b: &Value, o: &Value, t: &Value) -> MergeResult<Value> {
    d.merge(ctx, b.as_deref(), o.as_deref(), t.as_deref())
}

/// Values each driver is meant for, absent sometimes; equal values come up often.
fn values(name: &str) -> BoxedStrategy<Value> {
    let present: BoxedStrategy<Vec<u8>> = match name {
        "text" | "union" => three_versions().prop_map(|(b, _, _)| b).boxed(),
        "binary" | "lww" => prop::collection::vec(prop::sample::select(vec![0u8, 1, b'a']), 0..4).boxed(),
        "counter" => (-3i64..12, prop::bool::ANY)
            .prop_map(|(n, nl)| format!("{n}{}", if nl { "\n" } else { "" }).into_bytes())
            .boxed(),
        "set" => prop::collection::vec(prop::sample::select(vec!["a", "b", "c", "d", ""]), 0..5)
            .prop_map(|v| v.join("\n").into_bytes())
            .boxed(),
        "log" => prop::collection::vec(prop::sample::select(vec!["1 a", "2 b", "3 c", "x y"]), 0..4)
            .prop_map(|v| {
                v.iter()
                    .map(|l| format!("{l}\n"))
                    .collect::<String>()
                    .into_bytes()
            })
            .boxed(),
        "json" => json_text().boxed(),
        "register" => (0i64..3, prop::sample::select(vec!["a", "b"]), 0u8..3)
            .prop_map(|(at, by, v)| {
                format!("{{\"written_at_ms\": {at}, \"replica\": \"{by}\", \"value\": {v}}}\n").into_bytes()
            })
            .boxed(),
        other => unreachable!("no strategy for {other}"),
    };
    prop::option::weighted(0.85, present).boxed()
}

/// Small JSON objects (nested once), sometimes not JSON at all.
fn json_text() -> impl Strategy<Value = Vec<u8>> {
    let scalar = prop::sample::select(vec![json!(1), json!(2), json!("s"), json!(null), json!([1])]);
    let inner = prop::collection::btree_map(prop::sample::select(vec!["x", "y"]), scalar.clone(), 0..3)
        .prop_map(|m| serde_json::Value::Object(m.into_iter().map(|(k, v)| (k.to_string(), v)).collect()));
    let field = prop_oneof![scalar, inner];
    let object = prop::collection::btree_map(prop::sample::select(vec!["a", "b", "c"]), field, 0..4)
        .prop_map(|m| serde_json::Value::Object(m.into_iter().map(|(k, v)| (k.to_string(), v)).collect()));
    prop_oneof![
        9 => object.prop_map(|v| serde_json::to_vec(&v).unwrap_or_default()),
        1 => Just(b"{oops".to_vec()),
    ]
}

use serde_json::json;

const ALL: [&str; 9] = [
    "text", "binary", "json", "counter", "lww", "set", "log", "union", "register",
];
const COMMUTATIVE: [&str; 6] = ["binary", "counter", "set", "json", "log", "register"];

fn config() -> ProptestConfig {
    ProptestConfig {
        cases: 128,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

#[test]
fn identity_and_idempotence_hold_for_every_driver() {
    let drivers = drivers();
    for name in ALL {
        let d = drivers.get(name).expect("driver");
        proptest!(config(), |(b in values(name), x in values(name))| {
            prop_assert_eq!(merge(d, &ctx(), &b, &b, &x), Ok(x.clone()), "{}: merge(b, b, x)", name);
            prop_assert_eq!(merge(d, &ctx(), &b, &x, &b), Ok(x.clone()), "{}: merge(b, x, b)", name);
            if d.equal_changes() == EqualChanges::Once {
                prop_assert_eq!(merge(d, &ctx(), &b, &x, &x), Ok(x.clone()), "{}: merge(b, x, x)", name);
            }
        });
    }
}

#[test]
fn commutative_drivers_ignore_which_side_is_ours() {
    let drivers = drivers();
    for name in COMMUTATIVE {
        let d = drivers.get(name).expect("driver");
        proptest!(config(), |(b in values(name), x in values(name), y in values(name))| {
            let xy = merge(d, &ctx(), &b, &x, &y);
            let yx = merge(d, &ctx(), &b, &y, &x);
            match (&xy, &yx) {
                (Ok(a), Ok(c)) => prop_assert_eq!(a, c, "{}", name),
                (Err(_), Err(_)) => {}
                _ => prop_assert!(false, "{}: {:?} vs {:?}", name, xy, yx),
            }
        });
    }
}

#[test]
fn lww_is_deterministic_and_takes_the_later_commit() {
    let drivers = drivers();
    let d = drivers.get("lww").expect("lww");
    let stamp = (0i64..3, prop::sample::select(vec!["a", "b", "c"]));
    proptest!(config(), |(b in values("lww"), x in values("lww"), y in values("lww"), s1 in stamp.clone(), s2 in stamp)| {
        let stamp = |(t, c): (i64, &str)| (t, c.repeat(40));
        let forward = MergeContext::new("p").with_commits(stamp(s1), stamp(s2));
        let backward = MergeContext::new("p").with_commits(stamp(s2), stamp(s1));
        let r1 = merge(d, &forward, &b, &x, &y);
        let r2 = merge(d, &backward, &b, &y, &x);
        // The same value, or a conflict both ways (whose wording names the sides).
        prop_assert_eq!(r1.as_ref().ok(), r2.as_ref().ok());
        if x != y && x != b && y != b && x.is_some() && y.is_some() {
            let later = if (s1.0, s1.1) >= (s2.0, s2.1) { &x } else { &y };
            if s1 != s2 {
                prop_assert_eq!(r1, Ok(later.clone()));
            }
        }
    });
}

#[test]
fn only_counter_and_log_count_equal_changes_twice() {
    let d = drivers();
    for name in ALL {
        let twice = d.get(name).expect("driver").equal_changes() == EqualChanges::Twice;
        assert_eq!(twice, matches!(name, "counter" | "log"), "{name}");
    }
    let counter = d.get("counter").expect("counter");
    let v = |s: &str| Some(s.as_bytes().to_vec());
    assert_eq!(merge(counter, &ctx(), &v("10"), &v("11"), &v("11")), Ok(v("12")));
    let log = d.get("log").expect("log");
    assert_eq!(
        merge(log, &ctx(), &v("1 a\n"), &v("1 a\n2 b\n"), &v("1 a\n2 b\n")),
        Ok(v("1 a\n2 b\n2 b\n"))
    );
}

#[test]
fn counter_adds_changes() {
    let d = drivers();
    let d = d.get("counter").expect("counter");
    proptest!(config(), |(b in -50i64..50, x in -50i64..50, y in -50i64..50)| {
        let v = |n: i64| Some(n.to_string().into_bytes());
        // Equal changes count twice, so the formula holds for every case.
        let expected = b + (x - b) + (y - b);
        prop_assert_eq!(merge(d, &ctx(), &v(b), &v(x), &v(y)), Ok(v(expected)));
    });
}

#[test]
fn set_result_is_the_set_formula_sorted() {
    let drivers = drivers();
    let d = drivers.get("set").expect("set");
    proptest!(config(), |(b in values("set"), x in values("set"), y in values("set"))| {
        prop_assume!(x.is_some() && y.is_some() && x != y && x != b && y != b);
        let elems = |v: &Value| -> BTreeSet<Vec<u8>> {
            v.as_deref().unwrap_or_default().split(|&c| c == b'\n').filter(|l| !l.is_empty()).map(<[u8]>::to_vec).collect()
        };
        let (eb, ex, ey) = (elems(&b), elems(&x), elems(&y));
        let expected: BTreeSet<Vec<u8>> = ex.union(&ey).filter(|e| {
            let removed = eb.contains(*e) && (!ex.contains(*e) || !ey.contains(*e));
            !removed
        }).cloned().collect();
        let merged = merge(d, &ctx(), &b, &x, &y).expect("set merges never conflict").expect("present");
        let lines: Vec<Vec<u8>> = merged.split(|&c| c == b'\n').filter(|l| !l.is_empty()).map(<[u8]>::to_vec).collect();
        prop_assert_eq!(lines.iter().cloned().collect::<BTreeSet<_>>(), expected);
        prop_assert!(lines.windows(2).all(|w| w[0] < w[1]), "sorted and without duplicates");
    });
}

#[test]
fn json_results_are_canonical() {
    let drivers = drivers();
    let d = drivers.get("json").expect("json");
    proptest!(config(), |(b in values("json"), x in values("json"), y in values("json"))| {
        prop_assume!(x.is_some() && y.is_some() && x != y && x != b && y != b);
        if let Ok(Some(merged)) = merge(d, &ctx(), &b, &x, &y) {
            let value: serde_json::Value = serde_json::from_slice(&merged).expect("the result is JSON");
            prop_assert_eq!(canonical_json(&value), merged);
        }
    });
}

#[test]
fn json_edits_of_different_keys_always_merge() {
    let drivers = drivers();
    let d = drivers.get("json").expect("json");
    let v = prop::sample::select(vec![1, 2, 3]);
    proptest!(config(), |(a0 in v.clone(), a1 in v.clone(), c0 in v.clone(), c1 in v)| {
        let doc = |a: i32, c: i32| Some(serde_json::to_vec(&json!({"a": a, "b": {"c": c}})).unwrap_or_default());
        let merged = merge(d, &ctx(), &doc(a0, c0), &doc(a1, c0), &doc(a0, c1)).expect("disjoint keys merge");
        let value: serde_json::Value = serde_json::from_slice(&merged.unwrap_or_default()).expect("JSON");
        prop_assert_eq!(value, json!({"a": a1, "b": {"c": c1}}));
    });
}

#[test]
fn log_keeps_every_appended_line_in_order() {
    let drivers = drivers();
    let d = drivers.get("log").expect("log");
    let entry = (0u32..30, prop::sample::select(vec!["x", "y"])).prop_map(|(t, s)| format!("{t} {s}\n"));
    let entries = prop::collection::vec(entry, 0..4);
    proptest!(config(), |(base in entries.clone(), ours in entries.clone(), theirs in entries)| {
        let b = base.concat();
        let (x, y) = (format!("{b}{}", ours.concat()), format!("{b}{}", theirs.concat()));
        let merged = merge(d, &ctx(), &Some(b.clone().into_bytes()), &Some(x.into_bytes()), &Some(y.into_bytes()))
            .expect("appends merge")
            .expect("present");
        let merged = String::from_utf8(merged).expect("utf-8");
        prop_assert!(merged.starts_with(&b));
        let tail: Vec<&str> = merged[b.len()..].lines().collect();
        let mut expected: Vec<String> = ours.iter().chain(theirs.iter()).map(|l| l.trim_end().to_string()).collect();
        expected.sort_by_key(|l| (l.split(' ').next().and_then(|t| t.parse::<u32>().ok()), l.clone()));
        if ours.is_empty() || theirs.is_empty() || ours == theirs {
            // Settled by the shared rules, in the side's own order.
            return Ok(());
        }
        prop_assert_eq!(tail, expected.iter().map(String::as_str).collect::<Vec<_>>());
    });
}

#[test]
fn union_never_conflicts_on_text_and_agrees_with_text_when_clean() {
    let drivers = drivers();
    let (text, union) = (
        drivers.get("text").expect("text"),
        drivers.get("union").expect("union"),
    );
    proptest!(config(), |((b, x, y) in three_versions())| {
        let (b, x, y) = (Some(b), Some(x), Some(y));
        let u = merge(union, &ctx(), &b, &x, &y);
        prop_assert!(u.is_ok(), "union conflicted: {:?}", u);
        if let Ok(t) = merge(text, &ctx(), &b, &x, &y) {
            prop_assert_eq!(u, Ok(t));
        }
    });
}
