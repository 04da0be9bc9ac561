//! Concurrent writers never lose an update: separate `canopy` processes writing to one branch
//! at the same time each get their commit in, one after the other, in one linear history.

mod common;

use std::collections::BTreeSet;
use std::sync::{Arc, Barrier};
use std::time::Instant;

use common::{lines_of, Sandbox};

const WRITERS: usize = 4;
const WRITES_EACH: usize = 50;

/// 4 writers × 50 `canopy set` on distinct keys, started at once, on a branch with no commit
/// yet (so even the first commit is raced for). Each writer runs its commands one after the
/// other, so at any moment up to 4 processes compete for the branch.
///
/// With fsync on (the default), the 200 writes took about 1.7 s on the development machine
/// (ext4, 2 CPUs, debug build) and the whole test about 2 s, so fsync stays on.
#[test]
fn four_processes_fifty_sets_each_lose_nothing() {
    let sb = Arc::new(Sandbox::new());
    let store = sb.init_store("store", "sha1");
    let start = Instant::now();
    let barrier = Arc::new(Barrier::new(WRITERS));
    let writers: Vec<_> = (0..WRITERS)
        .map(|w| {
            let (sb, store, barrier) = (Arc::clone(&sb), store.clone(), Arc::clone(&barrier));
            std::thread::spawn(move || {
                barrier.wait();
                let mut failures = Vec::new();
                for i in 0..WRITES_EACH {
                    let run = sb.canopy(&store, &["set", &format!("k/{w}/{i}"), &format!("v {w} {i}")]);
                    if run.code != 0 {
                        failures.push(format!("{run:?}"));
                    }
                }
                failures
            })
        })
        .collect();
    let failures: Vec<String> = writers
        .into_iter()
        .flat_map(|h| h.join().expect("writer thread"))
        .collect();
    let elapsed = start.elapsed();
    assert!(
        failures.is_empty(),
        "{} of 200 writes failed; first:\n{}",
        failures.len(),
        failures[0]
    );
    eprintln!("{} concurrent canopy set took {elapsed:?}", WRITERS * WRITES_EACH);

    // All 200 keys are there, each with its own value.
    let expected: BTreeSet<String> = (0..WRITERS)
        .flat_map(|w| (0..WRITES_EACH).map(move |i| format!("k/{w}/{i}")))
        .collect();
    let listed: Vec<String> = sb.canopy(&store, &["tree"]).ok().lines();
    assert_eq!(
        listed.len(),
        WRITERS * WRITES_EACH,
        "canopy tree lists every key once"
    );
    assert_eq!(listed.iter().cloned().collect::<BTreeSet<_>>(), expected);
    let mut sorted = listed.clone();
    sorted.sort();
    assert_eq!(listed, sorted, "canopy tree is sorted");
    let batch: String = expected.iter().map(|k| format!("main:{k}\n")).collect();
    let cat = sb
        .git_with(&store, &["cat-file", "--batch"], &[], Some(batch.as_bytes()))
        .ok();
    let mut rest = &cat.stdout[..];
    for key in &expected {
        let header_end = rest.iter().position(|&b| b == b'\n').expect("cat-file header");
        let header = String::from_utf8_lossy(&rest[..header_end]).into_owned();
        let size: usize = header
            .rsplit(' ')
            .next()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| panic!("git cannot read {key}: {header}"));
        let value = &rest[header_end + 1..header_end + 1 + size];
        let mut parts = key.split('/').skip(1);
        let (w, i) = (parts.next().unwrap(), parts.next().unwrap());
        assert_eq!(value, format!("v {w} {i}").as_bytes(), "value of {key}");
        rest = &rest[header_end + 2 + size..];
    }

    // 200 commits, one per write, in one linear history.
    assert_eq!(sb.git_str(&store, &["rev-list", "--count", "main"]), "200");
    assert_eq!(sb.git_str(&store, &["rev-list", "--merges", "main"]), "");
    assert_eq!(
        sb.git_str(&store, &["rev-list", "--count", "--max-parents=0", "main"]),
        "1"
    );
    let subjects: BTreeSet<String> = lines_of(&sb.git_ok(&store, &["log", "--format=%s", "main"]))
        .into_iter()
        .collect();
    let wanted: BTreeSet<String> = expected.iter().map(|k| format!("set {k}")).collect();
    assert_eq!(subjects, wanted, "one commit per write, each with its message");
    sb.assert_fsck_clean(&store);
}

/// Canopy and git on one store at once: two `canopy set` processes and a thread of the
/// library committing to `main`, `git commit` in a worktree of the store committing to its
/// own branch, and `git gc`, `git pack-refs --all` and `canopy gc` packing objects and
/// references underneath them, all until the writers are done. Every write that was
/// acknowledged is there afterwards, git's commits are all on their branch, and both
/// `git fsck --strict` and `canopy fsck` find nothing wrong.
#[test]
fn canopy_git_commit_and_git_gc_at_once_lose_nothing() {
    use std::sync::atomic::{AtomicBool, Ordering};

    const EACH: usize = 20;
    let sb = Arc::new(Sandbox::new());
    let store = sb.init_store("store", "sha1");
    sb.canopy(&store, &["set", "seed", "0"]).ok();
    let worktree = sb.path("worktree");
    sb.git(
        &store,
        &[
            "worktree",
            "add",
            "-q",
            "-b",
            "gitside",
            worktree.to_str().unwrap(),
            "main",
        ],
    )
    .ok();

    let done = Arc::new(AtomicBool::new(false));
    let barrier = Arc::new(Barrier::new(5));
    let mut writers = Vec::new();
    for w in 0..2 {
        let (sb, store, barrier) = (Arc::clone(&sb), store.clone(), Arc::clone(&barrier));
        writers.push(std::thread::spawn(move || {
            barrier.wait();
            (0..EACH)
                .map(|i| sb.canopy(&store, &["set", &format!("cli/{w}/{i}"), &format!("{w} {i}")]))
                .filter(|run| run.code != 0)
                .map(|run| format!("{run:?}"))
                .collect::<Vec<_>>()
        }));
    }
    {
        let (store, barrier) = (store.clone(), Arc::clone(&barrier));
        writers.push(std::thread::spawn(move || {
            let repo = canopy::Repo::open(&store).unwrap();
            let branch = repo.branch("main").unwrap();
            barrier.wait();
            (0..EACH)
                .filter_map(|i| {
                    let path = canopy::Path::parse(&format!("lib/{i}")).unwrap();
                    let opts = canopy::store::CommitOptions::message(format!("lib {i}"));
                    branch
                        .set(&path, i.to_string(), &opts)
                        .err()
                        .map(|e| format!("library set {i}: {e}"))
                })
                .collect()
        }));
    }
    {
        let (sb, worktree, barrier) = (Arc::clone(&sb), worktree.clone(), Arc::clone(&barrier));
        writers.push(std::thread::spawn(move || {
            barrier.wait();
            let mut failures = Vec::new();
            for i in 0..EACH {
                std::fs::write(worktree.join(format!("git-{i}")), format!("{i}\n")).unwrap();
                for args in [
                    &["add", "-A"][..],
                    &["commit", "-q", "-m", &format!("git {i}")][..],
                ] {
                    // Git creates a loose object's fan-out directory and retries its temporary
                    // file once; a prune (`git gc`'s, or `canopy gc`'s of a directory it
                    // emptied) removing the empty directory in between fails the command
                    // cleanly, with nothing written. Git's answer is to run it again; any other
                    // failure counts.
                    let mut run = sb.git(&worktree, args);
                    for _ in 0..3 {
                        let stderr = String::from_utf8_lossy(&run.stderr);
                        if run.code == 0 || !stderr.contains("unable to create temporary file: No such file")
                        {
                            break;
                        }
                        run = sb.git(&worktree, args);
                    }
                    if run.code != 0 {
                        failures.push(format!("{run:?}"));
                    }
                }
            }
            failures
        }));
    }
    let packer = {
        let (sb, store, barrier, done) = (
            Arc::clone(&sb),
            store.clone(),
            Arc::clone(&barrier),
            Arc::clone(&done),
        );
        std::thread::spawn(move || {
            barrier.wait();
            let (mut rounds, mut refused) = (0, Vec::new());
            while !done.load(Ordering::SeqCst) {
                for run in [
                    sb.git(&store, &["gc", "--quiet"]),
                    sb.git(&store, &["pack-refs", "--all"]),
                    sb.canopy(&store, &["gc"]),
                ] {
                    // A packer may find a lock taken by a writer and give up, as git's own do;
                    // what matters is that no writer loses anything.
                    if run.code != 0 {
                        refused.push(format!("{run:?}"));
                    }
                }
                rounds += 1;
            }
            (rounds, refused)
        })
    };
    let failures: Vec<String> = writers
        .into_iter()
        .flat_map(|h| h.join().expect("writer thread"))
        .collect();
    done.store(true, Ordering::SeqCst);
    let (rounds, refused) = packer.join().expect("packer thread");
    eprintln!("{rounds} rounds of git gc, git pack-refs and canopy gc ran beside the writers; {} refused: {refused:?}", refused.len());
    assert!(
        failures.is_empty(),
        "{} writes failed; first: {}",
        failures.len(),
        failures[0]
    );
    assert!(
        rounds >= 1 && refused.len() < rounds * 3,
        "no packing round completed: {refused:?}"
    );

    // Every acknowledged write is on main, with its value.
    let mut expected: BTreeSet<String> = ["seed".to_string()].into();
    expected.extend((0..2).flat_map(|w| (0..EACH).map(move |i| format!("cli/{w}/{i}"))));
    expected.extend((0..EACH).map(|i| format!("lib/{i}")));
    let listed: BTreeSet<String> = sb.canopy(&store, &["tree"]).ok().lines().into_iter().collect();
    assert_eq!(listed, expected);
    for w in 0..2 {
        for i in 0..EACH {
            assert_eq!(
                sb.canopy_ok(&store, &["get", &format!("cli/{w}/{i}")]),
                format!("{w} {i}")
            );
        }
    }
    let main_commits = sb.git_str(&store, &["rev-list", "--count", "main"]);
    assert_eq!(
        main_commits,
        (1 + 3 * EACH).to_string(),
        "one commit per write on main"
    );
    // git's commits are all on their branch, and its worktree is clean.
    let git_commits = sb.git_str(&store, &["rev-list", "--count", "main..gitside"]);
    assert_eq!(git_commits, EACH.to_string());
    assert_eq!(sb.git_str(&worktree, &["status", "--porcelain"]), "");
    sb.assert_fsck_clean(&store);
    sb.canopy(&store, &["fsck"]).ok();
}
