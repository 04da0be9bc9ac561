//! Regression input from the `model` fuzzer (fuzz/corpus/model/value-vs-directory): base has
//! `a/a` and `a/b`; ours removes `a/b`; theirs replaces the directory `a/` by the value `a`.
//! Path by path nothing conflicts (`a/a` kept by ours, so theirs' removal wins; `a/b` removed on
//! both sides), and `git merge` (ort) merges it cleanly to `a = 1`. The tree merge decides per
//! name and reports "a value on one side and a directory on the other" instead. Kept ignored
//! until the tree merge (`merge/tree.rs`) settles whether it should follow Git here.

use canopy::store::{CommitOptions, MergeOptions, MergeOutcome};
use canopy::{HashKind, Path, Repo};

fn p(s: &str) -> Path {
    Path::parse(s).unwrap()
}

#[test]
#[ignore = "the tree merge is stricter than git for a directory replaced by a value"]
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

/// What the store does today: a conflict that leaves the branch unchanged.
#[test]
fn directory_replaced_by_a_value_is_a_conflict_that_changes_nothing() {
    let repo = Repo::in_memory(HashKind::Sha1);
    let opts = CommitOptions::message("t");
    let main = repo.branch("main").unwrap();
    main.set(&p("a/a"), "1", &opts).unwrap();
    let base = main.set(&p("a/b"), "0", &opts).unwrap();
    let side = repo.create_branch("side", base).unwrap();
    let ours = main.remove(&p("a/b"), &opts).unwrap();
    side.remove(&p("a"), &opts).unwrap();
    side.set(&p("a"), "1", &opts).unwrap();
    let from = side.head().unwrap().unwrap();
    match main.merge(from, &MergeOptions::default()).unwrap() {
        MergeOutcome::Conflicts(c) => assert_eq!(c[0].path, "a"),
        // Should the tree merge follow Git, the ignored test above takes over.
        MergeOutcome::Merged(_) => return,
        other => panic!("{other:?}"),
    }
    assert_eq!(main.head().unwrap(), Some(ours));
    assert_eq!(main.get(&p("a/a")).unwrap().as_deref(), Some(&b"1"[..]));
}
