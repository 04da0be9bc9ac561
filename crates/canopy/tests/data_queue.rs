//! `data::Queue`: exact delivery on one branch, reported double delivery across replicas,
//! convergence of replicas merged in any order.

mod data_common;

use std::collections::{BTreeMap, BTreeSet};
use std::time::Instant;

use canopy::data::Queue;
use canopy::store::CommitOptions;
use canopy::{Branch, HashKind, Path, Repo};
use data_common::{disk_repo, fsck, git, sync, tree_of, Rng};
use proptest::prelude::*;

type Job = (u32, u32);

fn replicas(repo: &Repo, n: usize) -> Vec<(Branch, Queue<Job>)> {
    let main = repo.branch("main").unwrap();
    let start = main
        .set(
            &Path::parse("README").unwrap(),
            "replicas of a queue\n",
            &CommitOptions::message("start"),
        )
        .unwrap();
    (0..n)
        .map(|i| {
            let b = repo.create_branch(&format!("r{i}"), start).unwrap();
            let q = Queue::open(b.clone(), Path::parse("jobs").unwrap())
                .with_replica(&format!("r{i}"))
                .unwrap();
            (b, q)
        })
        .collect()
}

/// Every replica merges every other: afterwards all hold the same tree.
fn full_sync(reps: &[(Branch, Queue<Job>)]) {
    for (b, _) in &reps[1..] {
        sync(&reps[0].0, b);
    }
    for (b, _) in &reps[1..] {
        sync(b, &reps[0].0);
    }
}

fn three_replicas(per_replica: u32) {
    let dir = tempfile::tempdir().unwrap();
    let repo = disk_repo(dir.path());
    let reps = replicas(&repo, 3);
    let started = Instant::now();

    // Every replica pushes its items at the same time, on its own branch.
    let pushed: BTreeMap<String, Job> = std::thread::scope(|s| {
        let handles: Vec<_> = reps
            .iter()
            .enumerate()
            .map(|(i, (_, q))| {
                s.spawn(move || {
                    (0..per_replica)
                        .map(|j| (q.push(&(i as u32, j)).unwrap(), (i as u32, j)))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles.into_iter().flat_map(|h| h.join().unwrap()).collect()
    });
    let pushing = started.elapsed();

    // Rounds: the replicas pop concurrently, then a few merges in random directions.
    let mut rng = Rng(0x5eed_0001);
    let mut deliveries: BTreeMap<String, Vec<(usize, Job)>> = BTreeMap::new();
    let mut rounds = 0;
    loop {
        rounds += 1;
        let quotas: Vec<u64> = (0..3).map(|_| rng.below(25)).collect();
        let popped: Vec<Vec<_>> = std::thread::scope(|s| {
            let handles: Vec<_> = reps
                .iter()
                .zip(&quotas)
                .map(|((_, q), &k)| {
                    s.spawn(move || (0..k).map_while(|_| q.pop_item().unwrap()).collect::<Vec<_>>())
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        for (r, items) in popped.into_iter().enumerate() {
            for item in items {
                deliveries.entry(item.key).or_default().push((r, item.value));
            }
        }
        for _ in 0..rng.below(3) {
            let a = rng.below(3) as usize;
            let b = (a + 1 + rng.below(2) as usize) % 3;
            sync(&reps[a].0, &reps[b].0);
        }
        if reps.iter().all(|(_, q)| q.is_empty().unwrap()) {
            break;
        }
        assert!(rounds < 10_000, "the queues never emptied");
    }
    full_sync(&reps);
    let popping = started.elapsed() - pushing;

    // All replicas are equal, and empty.
    let tree = tree_of(&reps[0].0);
    for (b, q) in &reps {
        assert_eq!(tree_of(b), tree, "replica {} differs", b.name());
        assert_eq!(q.len().unwrap(), 0);
    }
    // No item lost; each delivered the item that was pushed.
    assert_eq!(deliveries.len(), pushed.len(), "items never delivered");
    for (key, got) in &deliveries {
        for (_, value) in got {
            assert_eq!(Some(value), pushed.get(key));
        }
    }
    // Every double delivery is reported, with one receipt per pop, and nothing else is.
    let doubles: BTreeMap<String, usize> = deliveries
        .iter()
        .filter(|(_, d)| d.len() > 1)
        .map(|(k, d)| (k.clone(), d.len()))
        .collect();
    for (_, q) in &reps {
        let reported: BTreeMap<String, usize> = q
            .double_deliveries()
            .unwrap()
            .into_iter()
            .map(|d| (d.key, d.pops.len()))
            .collect();
        assert_eq!(reported, doubles);
    }
    assert!(
        !doubles.is_empty(),
        "replicas popping apart should have delivered some item twice"
    );
    eprintln!(
        "queue, 3 replicas × {per_replica}: push {pushing:?}, pop+sync {popping:?} in {rounds} rounds; \
         {} items delivered twice (all reported)",
        doubles.len()
    );

    fsck(dir.path());
    let show = git(dir.path(), &["show", "r0"]);
    assert!(show.contains("Merge") || show.contains("queue jobs"), "{show}");
    let attrs = git(dir.path(), &["show", "r0:.gitattributes"]);
    assert_eq!(attrs, "/jobs/popped/** merge=set\n");
    let (key, _) = doubles.iter().next().unwrap();
    let dir_of = format!("{}/{}", &key[..8], &key[8..11]);
    let receipt = git(dir.path(), &["show", &format!("r0:jobs/popped/{dir_of}/{key}")]);
    assert_eq!(receipt.lines().count(), doubles[key], "{receipt}");
}

#[test]
fn three_replicas_pop_apart_lose_nothing_and_report_double_delivery() {
    // The size: 1,000 items pushed on each replica.
    three_replicas(1000);
}

#[test]
fn eight_threads_on_one_branch_get_every_item_exactly_once() {
    let dir = tempfile::tempdir().unwrap();
    let repo = disk_repo(dir.path());
    let q = Queue::<u32>::open(repo.branch("main").unwrap(), Path::parse("work").unwrap());
    const N: u32 = 200;
    for i in 0..N {
        q.push(&i).unwrap();
    }
    assert_eq!(q.len().unwrap(), N as usize);
    let started = Instant::now();
    let got: Vec<Vec<u32>> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..8)
            .map(|_| {
                let q = q.clone();
                s.spawn(move || std::iter::from_fn(|| q.pop().unwrap()).collect::<Vec<_>>())
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    eprintln!("8 threads popped {N} items in {:?}", started.elapsed());
    for per_thread in &got {
        // Each thread sees the queue's order.
        assert!(per_thread.windows(2).all(|w| w[0] < w[1]), "{per_thread:?}");
    }
    let mut all: Vec<u32> = got.into_iter().flatten().collect();
    all.sort_unstable();
    assert_eq!(all, (0..N).collect::<Vec<_>>(), "lost or duplicated items");
    assert!(q.is_empty().unwrap());
    assert!(q.double_deliveries().unwrap().is_empty());
    fsck(dir.path());
}

#[test]
fn items_are_readable_and_in_push_order() {
    let dir = tempfile::tempdir().unwrap();
    let repo = disk_repo(dir.path());
    let main = repo.branch("main").unwrap();
    let q = Queue::<String>::open(main.clone(), Path::parse("mail/outbox").unwrap())
        .with_replica("alpha")
        .unwrap();
    for w in ["one", "two", "three"] {
        q.push(&w.to_string()).unwrap();
    }
    let items = q.items().unwrap();
    assert_eq!(
        items.iter().map(|i| i.value.as_str()).collect::<Vec<_>>(),
        ["one", "two", "three"]
    );
    assert!(items.iter().all(|i| i.key.contains("-alpha-")));
    assert_eq!(q.peek().unwrap().as_deref(), Some("one"));
    let show = git(dir.path(), &["show", "main"]);
    assert!(show.contains("+\"three\""), "{show}");
    assert!(show.contains("queue mail/outbox: push"), "{show}");
    assert_eq!(q.pop().unwrap().as_deref(), Some("one"));
    let show = git(dir.path(), &["show", "main"]);
    assert!(show.contains("-\"one\""), "{show}");
    assert!(
        show.contains("+alpha 20"),
        "the receipt names the replica: {show}"
    );
    // The attributes line is written once.
    let attrs = git(dir.path(), &["show", "main:.gitattributes"]);
    assert_eq!(attrs, "/mail/outbox/popped/** merge=set\n");
    fsck(dir.path());

    // A value that is not the item's type is a decoding error naming the path.
    let bad = Queue::<u64>::open(main, Path::parse("mail/outbox").unwrap());
    let err = bad.pop().unwrap_err();
    assert!(matches!(err, canopy::store::Error::Decode { .. }), "{err}");
    assert!(err.to_string().contains("mail/outbox/items/"), "{err}");
}

#[derive(Debug, Clone)]
enum Op {
    Push(usize),
    Pop(usize),
    Sync(usize, usize),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => (0..3usize).prop_map(Op::Push),
        2 => (0..3usize).prop_map(Op::Pop),
        2 => (0..3usize, 0..3usize).prop_map(|(a, b)| Op::Sync(a, b)),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    /// Whatever the order of pushes, pops and merges, replicas that finally merge each other end
    /// equal: every item pushed and never popped is there, every popped one is gone, and the
    /// items popped on more than one replica are exactly the reported double deliveries.
    #[test]
    fn replicas_converge_whatever_the_merge_order(ops in proptest::collection::vec(op(), 1..40)) {
        let repo = Repo::in_memory(HashKind::Sha1);
        let reps = replicas(&repo, 3);
        let mut pushed = BTreeSet::new();
        let mut pops: BTreeMap<String, usize> = BTreeMap::new();
        let mut n = 0;
        for op in ops {
            match op {
                Op::Push(r) => {
                    n += 1;
                    pushed.insert(reps[r].1.push(&(r as u32, n)).unwrap());
                }
                Op::Pop(r) => {
                    if let Some(item) = reps[r].1.pop_item().unwrap() {
                        *pops.entry(item.key).or_default() += 1;
                    }
                }
                Op::Sync(a, b) => sync(&reps[a].0, &reps[b].0),
            }
        }
        full_sync(&reps);
        let tree = tree_of(&reps[0].0);
        for (b, _) in &reps {
            prop_assert_eq!(tree_of(b), tree);
        }
        let left: BTreeSet<String> = reps[0].1.items().unwrap().into_iter().map(|i| i.key).collect();
        let expected: BTreeSet<String> = pushed.iter().filter(|k| !pops.contains_key(*k)).cloned().collect();
        prop_assert_eq!(left, expected);
        let doubles: BTreeSet<String> = pops.iter().filter(|(_, n)| **n > 1).map(|(k, _)| k.clone()).collect();
        let reported: BTreeSet<String> =
            reps[0].1.double_deliveries().unwrap().into_iter().map(|d| d.key).collect();
        prop_assert_eq!(reported, doubles);
    }
}

/// A structure cannot be the root `.gitattributes` or lie below it: that file holds the
/// structures' merge drivers, so such a queue's commit could never hold. Refused at once as a
/// bad structure path, not retried until the retries run out.
#[test]
fn a_structure_at_gitattributes_is_refused_at_once() {
    let repo = Repo::in_memory(HashKind::Sha1);
    let main = repo.branch("main").unwrap();
    for p in [".gitattributes", ".gitattributes/jobs"] {
        let q = Queue::<Job>::open(main.clone(), Path::parse(p).unwrap());
        let t = Instant::now();
        let e = q.push(&(1, 2)).unwrap_err();
        assert!(
            matches!(
                e,
                canopy::store::Error::InvalidValue {
                    type_name: "structure path",
                    ..
                }
            ),
            "{p}: {e:?}"
        );
        assert!(t.elapsed().as_secs() < 2, "{p}: took {:?}", t.elapsed());
        let counter = canopy::data::Counter::open(main.clone(), Path::parse(p).unwrap());
        assert!(counter.add(1).is_err(), "{p}");
    }
    assert_eq!(main.head().unwrap(), None, "nothing written");
    // A name that only starts like it is an ordinary path.
    let q = Queue::<Job>::open(main.clone(), Path::parse(".gitattributes2").unwrap());
    q.push(&(1, 2)).unwrap();
    assert_eq!(q.pop().unwrap(), Some((1, 2)));
}
