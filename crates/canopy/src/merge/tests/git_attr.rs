//! `Attributes` against `git check-attr merge`: random `.gitattributes` files and paths.

use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};

use super::{git, git_cases};
use crate::merge::{AttrValue, Attributes};

fn segment() -> impl Strategy<Value = String> {
    prop::sample::select(vec![
        "a",
        "b",
        "ab",
        "x.txt",
        "c.json",
        "*",
        "?",
        "*.json",
        "a*",
        "*b",
        "[ab]",
        "[!a]*",
        "**",
        "[a-c]?",
        "\\a",
        "a?b",
        "[[:alpha:]]*",
        "x.*",
        "a**",
        "**b",
    ])
    .prop_map(str::to_string)
}

fn pattern() -> impl Strategy<Value = String> {
    (0u8..8, prop::collection::vec(segment(), 1..4), 0u8..8).prop_map(|(lead, segs, trail)| {
        let mut p = String::new();
        match lead {
            0 => p.push('/'),
            1 => p.push('!'),
            _ => {}
        }
        p.push_str(&segs.join("/"));
        match trail {
            0 => p.push('/'),
            1 => p.push_str("/**"),
            _ => {}
        }
        p
    })
}

fn assignment() -> impl Strategy<Value = &'static str> {
    prop::sample::select(vec![
        "merge",
        "-merge",
        "!merge",
        "merge=json",
        "merge=counter",
        "merge=union",
        "binary",
        "-binary",
        "text",
        "mymacro",
        "merge=log",
    ])
}

fn line() -> impl Strategy<Value = String> {
    (pattern(), prop::collection::vec(assignment(), 1..3)).prop_map(|(p, a)| format!("{p} {}", a.join(" ")))
}

fn path() -> impl Strategy<Value = String> {
    prop::collection::vec(
        prop::sample::select(vec!["a", "b", "ab", "x.txt", "c.json", "d", "aab", "b.x"]),
        1..5,
    )
    .prop_map(|s| s.join("/"))
}

fn shown(v: &AttrValue) -> String {
    match v {
        AttrValue::Unspecified => "unspecified".into(),
        AttrValue::Set => "set".into(),
        AttrValue::Unset => "unset".into(),
        AttrValue::Value(s) => s.clone(),
    }
}

#[test]
fn merge_attribute_matches_git_check_attr() {
    let mut runner = TestRunner::new(Config {
        cases: git_cases(),
        failure_persistence: None,
        ..Config::default()
    });
    let strategy = (
        prop::collection::vec(line(), 1..7),
        prop::bool::ANY,
        prop::collection::vec(path(), 1..12),
    );
    runner
        .run(&strategy, |(lines, with_macro, paths)| {
            let dir = tempfile::tempdir().expect("tempdir");
            let init = git(dir.path(), &["init", "-q", "."]);
            prop_assert!(init.status.success());
            let mut file = String::new();
            if with_macro {
                file.push_str("[attr]mymacro merge=set -text\n");
            }
            for l in &lines {
                file.push_str(l);
                file.push('\n');
            }
            std::fs::write(dir.path().join(".gitattributes"), &file).expect("write");
            let mut args = vec!["check-attr", "merge", "--"];
            args.extend(paths.iter().map(String::as_str));
            let out = git(dir.path(), &args);
            prop_assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
            let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
            let attrs = Attributes::parse(file.as_bytes());
            for (p, git_line) in paths.iter().zip(stdout.lines()) {
                let expected = git_line
                    .strip_prefix(&format!("{p}: merge: "))
                    .unwrap_or_else(|| panic!("unexpected check-attr line {git_line:?}"));
                prop_assert_eq!(
                    expected,
                    shown(&attrs.merge_attr(p)),
                    "path {} with .gitattributes:\n{}",
                    p,
                    file
                );
            }
            Ok(())
        })
        .unwrap();
}

/// Lines Git ignores: over-long ones, invalid names, negative patterns, directory patterns.
#[test]
fn ignored_lines_agree_with_git() {
    let dir = tempfile::tempdir().expect("tempdir");
    assert!(git(dir.path(), &["init", "-q", "."]).status.success());
    let long_pattern = "a".repeat(2030);
    let file = format!(
        "* merge=json\n{long_pattern}* merge=counter\n{}* merge=set\n*.x me@rge merge=union\n!*.y merge=union\nd/ merge=union\n\"q z\" merge=log\n",
        "b".repeat(2050)
    );
    std::fs::write(dir.path().join(".gitattributes"), &file).expect("write");
    let paths = ["a", "aa", "b.x", "c.y", "d/e", "q z"];
    let mut args = vec!["check-attr", "merge", "--"];
    args.extend(paths);
    let out = git(dir.path(), &args);
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let attrs = Attributes::parse(file.as_bytes());
    for (p, line) in paths.iter().zip(stdout.lines()) {
        let expected = line.rsplit(": ").next().unwrap_or_default();
        assert_eq!(expected, shown(&attrs.merge_attr(p)), "{p}: {line}");
    }
}
