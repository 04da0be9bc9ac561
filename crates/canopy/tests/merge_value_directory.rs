//! Regression input from the `model` fuzzer (fuzz/corpus/model/value-vs-directory): base has
//! `a/a` and `a/b`; ours removes `a/b`; theirs replaces the directory `a/` by the value `a`.
//! Path by path nothing conflicts (`a/a` kept by ours, so theirs' removal wins; `a/b` removed on
//! both sides), and `git merge` (ort) merges it cleanly to `a = 1`; so does the tree merge. When
//! the directory side changed something inside that the removal cannot take, it stays a conflict.

use canopy::store::{CommitOptions, MergeOptions, MergeOutcome};
use canopy::{HashKind, Path, Repo};

fn p(s: &str) -> Path {
    Path::parse(s).unwrap()
}

#[test]
fn directory_replaced_by_a_value_while_the_other_side_edits_inside_it() {
    let repo = Repo::in_memory(HashKind::Sha1);
    let opts = CommitOptions::message("t");
    let main = repo.branch("main").unwrap();
    main.set(&p("a/a"), "1", &opts).unwrap();
    let base = main.set(&p("a/b"), "0", &opts).unwrap();
    let side = repo.create_branch("side", base).unwrap();
    main.remove(&p("a/b"), &opts).unwrap();
    side.remove(&p("a"), &opts).unwrap();
    side.set(&p("a"), "1", &opts).unwrap();
    let from = side.head().unwrap().unwrap();
    let outcome = main.merge(from, &MergeOptions::default()).unwrap();
    assert!(matches!(outcome, MergeOutcome::Merged(_)), "{outcome:?}");
    assert_eq!(main.get(&p("a")).unwrap().as_deref(), Some(&b"1"[..]));
}

/// The directory side added a value inside: the removal cannot take it, so it is a conflict
/// that leaves the branch unchanged (as `git merge`'s file/directory conflict).
#[test]
fn a_directory_with_new_content_against_a_value_is_a_conflict_that_changes_nothing() {
    let repo = Repo::in_memory(HashKind::Sha1);
    let opts = CommitOptions::message("t");
    let main = repo.branch("main").unwrap();
    main.set(&p("a/a"), "1", &opts).unwrap();
    let base = main.set(&p("a/b"), "0", &opts).unwrap();
    let side = repo.create_branch("side", base).unwrap();
    let ours = main.set(&p("a/c"), "new", &opts).unwrap();
    side.remove(&p("a"), &opts).unwrap();
    side.set(&p("a"), "1", &opts).unwrap();
    let from = side.head().unwrap().unwrap();
    match main.merge(from, &MergeOptions::default()).unwrap() {
        MergeOutcome::Conflicts(c) => assert_eq!(c[0].path, "a"),
        other => panic!("{other:?}"),
    }
    assert_eq!(main.head().unwrap(), Some(ours));
    assert_eq!(main.get(&p("a/c")).unwrap().as_deref(), Some(&b"new"[..]));
}
