//! `merge_text` against `git merge-file`: the same random inputs, the same bytes out, the same
//! number of conflicts, for each diff algorithm, conflict style and resolution Git offers.

use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};

use super::{git, git_cases, show};
use crate::merge::text::{merge_text, ConflictStyle, DiffAlgorithm, Favor, MergeLevel, TextOptions};

/// Lines from a small alphabet, so that random edits collide, repeat and align ambiguously.
/// One has no final newline and one ends in CRLF.
fn line() -> impl Strategy<Value = &'static str> {
    prop::sample::select(vec![
        "a\n", "b\n", "c\n", "d\n", "\n", "}\n", "a", "e\r\n", "a\n", "b\n",
    ])
}

/// `base` with random insertions, deletions and replacements.
fn edit(base: Vec<&'static str>) -> impl Strategy<Value = Vec<u8>> {
    let n = base.len();
    prop::collection::vec((0u8..10, prop::collection::vec(line(), 1..3)), n + 1).prop_map(move |ops| {
        let mut out = Vec::new();
        for (i, (kind, extra)) in ops.iter().enumerate() {
            if *kind < 2 {
                extra.iter().for_each(|l| out.extend_from_slice(l.as_bytes()));
            }
            if let Some(l) = base.get(i) {
                match kind {
                    2 => {}
                    3 => extra.iter().for_each(|l| out.extend_from_slice(l.as_bytes())),
                    _ => out.extend_from_slice(l.as_bytes()),
                }
            }
        }
        out
    })
}

/// (base, ours, theirs).
pub(super) fn three_versions() -> impl Strategy<Value = (Vec<u8>, Vec<u8>, Vec<u8>)> {
    prop::collection::vec(line(), 0..12).prop_flat_map(|base| {
        let bytes = base.concat().into_bytes();
        (Just(bytes), edit(base.clone()), edit(base))
    })
}

/// `git merge-file -p` on the three versions with extra `args`: (exit code, output).
fn merge_file(base: &[u8], ours: &[u8], theirs: &[u8], args: &[&str]) -> (i32, Vec<u8>) {
    let dir = tempfile::tempdir().expect("tempdir");
    for (name, data) in [("base", base), ("ours", ours), ("theirs", theirs)] {
        std::fs::write(dir.path().join(name), data).expect("write");
    }
    let mut all = vec!["merge-file", "-p", "-L", "ours", "-L", "base", "-L", "theirs"];
    all.extend_from_slice(args);
    all.extend_from_slice(&["ours", "base", "theirs"]);
    let out = git(dir.path(), &all);
    let code = out.status.code().expect("exit code");
    assert!(
        (0..128).contains(&code),
        "git merge-file failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    (code, out.stdout)
}

/// The variants compared: Git's arguments and the options that should reproduce them.
fn variants() -> Vec<(&'static str, Vec<&'static str>, TextOptions)> {
    let file = TextOptions::merge_file();
    let hist = TextOptions {
        algorithm: DiffAlgorithm::Histogram,
        ..TextOptions::merge_file()
    };
    let with = |favor: Favor| TextOptions {
        favor: Some(favor),
        ..TextOptions::merge_file()
    };
    let styled = |style: ConflictStyle| TextOptions {
        style,
        ..TextOptions::merge_file()
    };
    vec![
        ("myers", vec![], file.clone()),
        ("histogram", vec!["--diff-algorithm=histogram"], hist.clone()),
        ("union", vec!["--union"], with(Favor::Union)),
        ("ours", vec!["--ours"], with(Favor::Ours)),
        ("theirs", vec!["--theirs"], with(Favor::Theirs)),
        ("diff3", vec!["--diff3"], styled(ConflictStyle::Diff3)),
        ("zdiff3", vec!["--zdiff3"], styled(ConflictStyle::ZealousDiff3)),
        (
            "histogram-union",
            vec!["--diff-algorithm=histogram", "--union"],
            TextOptions {
                favor: Some(Favor::Union),
                ..hist
            },
        ),
        (
            "marker-size",
            vec!["--marker-size=3"],
            TextOptions {
                marker_size: 3,
                ..file
            },
        ),
    ]
}

#[test]
fn merge_text_gives_the_bytes_git_merge_file_gives() {
    let variants = variants();
    let mut runner = TestRunner::new(Config {
        cases: git_cases(),
        failure_persistence: None,
        ..Config::default()
    });
    runner
        .run(&three_versions(), |(base, ours, theirs)| {
            for (name, args, options) in &variants {
                let (code, expected) = merge_file(&base, &ours, &theirs, args);
                let ours_merge = merge_text(&base, &ours, &theirs, options);
                let context = format!(
                    "variant {name}: base {} ours {} theirs {}\n git ({code}): {}\n ours ({}): {}",
                    show(&base),
                    show(&ours),
                    show(&theirs),
                    show(&expected),
                    ours_merge.conflicts.len(),
                    show(&ours_merge.content)
                );
                prop_assert_eq!(code == 0, ours_merge.is_clean(), "clean differs; {}", context);
                prop_assert_eq!(
                    code as usize,
                    ours_merge.conflicts.len().min(127),
                    "conflict count; {}",
                    context
                );
                prop_assert_eq!(&expected, &ours_merge.content, "bytes differ; {}", context);
            }
            Ok(())
        })
        .unwrap();
}

/// The level `git merge` uses (zealous, not zealous-alnum) only joins conflicts differently, so
/// it is clean exactly when `git merge-file` is.
#[test]
fn zealous_level_is_clean_where_merge_file_is() {
    let mut runner = TestRunner::new(Config {
        cases: git_cases(),
        failure_persistence: None,
        ..Config::default()
    });
    runner
        .run(&three_versions(), |(base, ours, theirs)| {
            let alnum = merge_text(&base, &ours, &theirs, &TextOptions::merge_file());
            let zealous = TextOptions {
                level: MergeLevel::Zealous,
                ..TextOptions::merge_file()
            };
            let z = merge_text(&base, &ours, &theirs, &zealous);
            prop_assert_eq!(alnum.is_clean(), z.is_clean());
            if z.is_clean() {
                prop_assert_eq!(alnum.content, z.content);
            }
            Ok(())
        })
        .unwrap();
}

/// Larger inputs, where xdiff's discarding of frequent lines and its cost limits (edit costs
/// past 256, long-snake cuts) come into play.
#[test]
fn large_inputs_match_git_merge_file() {
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    // (lines, distinct lines, one line in `rate` is edited)
    let rounds = [
        (600, 4, 12),
        (600, 30, 12),
        (600, 400, 12),
        (4000, 400, 3),
        (4000, 8, 3),
        (3000, 3000, 2),
        (40000, 40000, 2),
        (40000, 50, 4),
    ];
    for (round, &(size, alphabet, rate)) in rounds.iter().enumerate() {
        let base: Vec<String> = (0..size)
            .map(|_| format!("line {}\n", next() % alphabet))
            .collect();
        let mut mutate = |lines: &[String]| -> Vec<u8> {
            let mut out = String::new();
            for l in lines {
                match next() % rate {
                    0 => match next() % 3 {
                        0 => {}
                        1 => out.push_str(&format!("new {}\n", next() % alphabet)),
                        _ => {
                            out.push_str(l);
                            out.push_str(&format!("line {}\n", next() % alphabet));
                        }
                    },
                    _ => out.push_str(l),
                }
            }
            out.into_bytes()
        };
        let (ours, theirs) = (mutate(&base), mutate(&base));
        let base = base.concat().into_bytes();
        for (name, args, options) in variants().into_iter().take(3) {
            let (code, expected) = merge_file(&base, &ours, &theirs, &args);
            let merged = merge_text(&base, &ours, &theirs, &options);
            assert_eq!(
                code as usize,
                merged.conflicts.len().min(127),
                "round {round} {name}: conflict count"
            );
            assert!(expected == merged.content, "round {round} {name}: bytes differ");
        }
    }
}

/// The built-in `text` driver against a real `git merge` (the `ort` strategy, which diffs with
/// the histogram algorithm) of one file changed on two branches: clean exactly when Git is, with
/// the bytes Git commits.
#[test]
fn text_driver_matches_git_merge() {
    use crate::merge::{Drivers, MergeContext};

    let drivers = Drivers::builtin();
    let text = drivers.get("text").expect("text driver");
    let mut runner = TestRunner::new(Config {
        cases: (git_cases() / 8).max(16),
        failure_persistence: None,
        ..Config::default()
    });
    runner
        .run(&three_versions(), |(base, ours, theirs)| {
            prop_assume!(base != ours && base != theirs && ours != theirs);
            let dir = tempfile::tempdir().expect("tempdir");
            let d = dir.path();
            let run = |args: &[&str]| {
                let mut all = vec![
                    "-c",
                    "user.name=t",
                    "-c",
                    "user.email=t@t",
                    "-c",
                    "core.autocrlf=false",
                ];
                all.extend_from_slice(args);
                git(d, &all)
            };
            let write = |data: &[u8]| std::fs::write(d.join("f"), data).expect("write");
            run(&["init", "-q", "-b", "main", "."]);
            write(&base);
            run(&["add", "f"]);
            run(&["commit", "-q", "-m", "base"]);
            run(&["checkout", "-q", "-b", "theirs"]);
            write(&theirs);
            run(&["commit", "-q", "-a", "-m", "theirs"]);
            run(&["checkout", "-q", "main"]);
            write(&ours);
            run(&["commit", "-q", "-a", "-m", "ours"]);
            let merged = run(&["merge", "-q", "--no-edit", "theirs"]);
            let ours_result = text.merge(&MergeContext::new("f"), Some(&base), Some(&ours), Some(&theirs));
            let context = format!(
                "base {} ours {} theirs {}",
                show(&base),
                show(&ours),
                show(&theirs)
            );
            if merged.status.success() {
                let committed = run(&["show", "HEAD:f"]).stdout;
                prop_assert_eq!(ours_result, Ok(Some(committed)), "{}", context);
            } else {
                prop_assert!(
                    ours_result.is_err(),
                    "git conflicted, the driver did not: {}",
                    context
                );
            }
            Ok(())
        })
        .unwrap();
}
