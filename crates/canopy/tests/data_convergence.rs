//! Replicas of the ready-made structures converge: random operations on three replicas (branches
//! that exchange merges at random moments), then every replica's history merged in two different
//! orders — the values are the same whatever the order, no counter increment is lost, and no
//! merge ever conflicts.

use canopy::data::{Counter, Register, Set};
use canopy::store::{CommitOptions, MergeOptions, MergeOutcome};
use canopy::{Branch, HashKind, ObjectId, Path, Repo};
use proptest::prelude::*;

#[derive(Debug, Clone)]
enum Op {
    Add(usize, i64),
    Insert(usize, u8),
    Remove(usize, u8),
    Write(usize, u8),
    /// Replica `to` merges replica `from`.
    Exchange(usize, usize),
}

fn op() -> impl Strategy<Value = Op> {
    let r = 0usize..3;
    prop_oneof![
        (r.clone(), -5i64..6).prop_map(|(r, n)| Op::Add(r, n)),
        (r.clone(), 0u8..6).prop_map(|(r, e)| Op::Insert(r, e)),
        (r.clone(), 0u8..6).prop_map(|(r, e)| Op::Remove(r, e)),
        (r.clone(), 0u8..6).prop_map(|(r, v)| Op::Write(r, v)),
        (r.clone(), r).prop_map(|(a, b)| Op::Exchange(a, b)),
    ]
}

fn p(s: &str) -> Path {
    Path::parse(s).unwrap()
}

fn merge(into: &Branch, from: ObjectId) {
    let out = into.merge(from, &MergeOptions::default()).unwrap();
    assert!(!matches!(out, MergeOutcome::Conflicts(_)), "{out:?}");
}

/// The structures' values on a branch.
fn state(b: &Branch) -> (i64, Vec<u8>, Option<u8>) {
    let counter = Counter::open(b.clone(), p("hits")).get().unwrap();
    let mut set = Set::<u8>::open(b.clone(), p("members")).elements().unwrap();
    set.sort();
    let register = Register::<u8>::open(b.clone(), p("leader")).get().unwrap();
    (counter, set, register)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn replicas_end_equal_whatever_the_order_of_merges(ops in prop::collection::vec(op(), 1..30)) {
        let repo = Repo::in_memory(HashKind::Sha1);
        let root = repo.branch("main").unwrap();
        root.set(&p("readme"), "replicas\n", &CommitOptions::message("start")).unwrap();
        let start = root.head().unwrap().unwrap();
        let replicas: Vec<Branch> = (0..3)
            .map(|i| repo.create_branch(&format!("r{i}"), start).unwrap())
            .collect();
        let mut total = 0;
        for (n, op) in ops.iter().enumerate() {
            let msg = CommitOptions::message(format!("op {n}"));
            match *op {
                Op::Add(r, k) => {
                    Counter::open(replicas[r].clone(), p("hits")).with_commit(msg).add(k).unwrap();
                    total += k;
                }
                Op::Insert(r, e) => {
                    Set::<u8>::open(replicas[r].clone(), p("members")).with_commit(msg).insert(&e).unwrap();
                }
                Op::Remove(r, e) => {
                    Set::<u8>::open(replicas[r].clone(), p("members")).with_commit(msg).remove(&e).unwrap();
                }
                Op::Write(r, v) => {
                    Register::<u8>::open(replicas[r].clone(), p("leader")).with_commit(msg).set(&v).unwrap();
                }
                Op::Exchange(from, to) => {
                    if from != to {
                        if let Some(h) = replicas[from].head().unwrap() {
                            merge(&replicas[to], h);
                        }
                    }
                }
            }
        }
        let heads: Vec<ObjectId> = replicas.iter().map(|b| b.head().unwrap().unwrap()).collect();
        // Two orders of bringing everything together.
        let x = repo.create_branch("x", heads[0]).unwrap();
        merge(&x, heads[1]);
        merge(&x, heads[2]);
        let y = repo.create_branch("y", heads[2]).unwrap();
        merge(&y, heads[1]);
        merge(&y, heads[0]);
        let (sx, sy) = (state(&x), state(&y));
        prop_assert_eq!(&sx, &sy);
        prop_assert_eq!(sx.0, total, "every increment counts once");
        // …and the replicas, each catching up with the others, agree too.
        for r in &replicas {
            merge(r, x.head().unwrap().unwrap());
            prop_assert_eq!(state(r), sx.clone());
        }
    }
}

/// The case the property test found when sets were plain blobs: r0 adds 3 and r2 takes it;
/// r1 adds 3 on its own; r0 removes 3. Whether r1's addition meets r0's removal first or r2's
/// copy of r0's addition first, 3 stays: the removal never saw r1's addition.
#[test]
fn a_removal_does_not_take_an_addition_it_never_saw() {
    let repo = Repo::in_memory(HashKind::Sha1);
    let root = repo.branch("main").unwrap();
    root.set(&p("readme"), "x\n", &CommitOptions::message("start"))
        .unwrap();
    let start = root.head().unwrap().unwrap();
    let r: Vec<Branch> = (0..3)
        .map(|i| repo.create_branch(&format!("r{i}"), start).unwrap())
        .collect();
    let set = |b: &Branch| Set::<u8>::open(b.clone(), p("members"));
    set(&r[0]).insert(&3).unwrap();
    merge(&r[2], r[0].head().unwrap().unwrap());
    set(&r[1]).insert(&3).unwrap();
    set(&r[0]).remove(&3).unwrap();
    let heads: Vec<ObjectId> = r.iter().map(|b| b.head().unwrap().unwrap()).collect();
    let x = repo.create_branch("x", heads[0]).unwrap();
    merge(&x, heads[1]);
    merge(&x, heads[2]);
    let y = repo.create_branch("y", heads[2]).unwrap();
    merge(&y, heads[1]);
    merge(&y, heads[0]);
    assert_eq!(set(&x).elements().unwrap(), vec![3]);
    assert_eq!(set(&y).elements().unwrap(), vec![3]);
}
