//! `data::Log`: concurrent appends on replicas merge into one time-ordered log; pages newest
//! first return every entry once; an append writes a constant number of objects.

mod data_common;

use std::collections::BTreeSet;

use canopy::data::{Log, LogCursor};
use canopy::store::CommitOptions;
use canopy::{HashKind, Path, Repo};
use data_common::{disk_repo, fsck, git, sync, tree_of};

type Event = (String, u32);

#[test]
fn two_replicas_append_concurrently_and_merge_into_one_ordered_log() {
    let dir = tempfile::tempdir().unwrap();
    let repo = disk_repo(dir.path());
    let main = repo.branch("main").unwrap();
    let start = main
        .set(
            &Path::parse("README").unwrap(),
            "a log\n",
            &CommitOptions::message("start"),
        )
        .unwrap();
    let logs: Vec<Log<Event>> = ["a", "b"]
        .iter()
        .map(|r| {
            let b = repo.create_branch(r, start).unwrap();
            Log::open(b, Path::parse("events").unwrap())
                .with_replica(r)
                .unwrap()
        })
        .collect();
    const N: u32 = 100;
    std::thread::scope(|s| {
        for log in &logs {
            s.spawn(move || {
                for i in 0..N {
                    log.append(&(log.replica().to_string(), i)).unwrap();
                }
            });
        }
    });
    let (a, b) = (logs[0].branch(), logs[1].branch());
    sync(a, b);
    sync(b, a);
    assert_eq!(tree_of(a), tree_of(b));
    assert_eq!(logs[0].len().unwrap(), 2 * N as usize);

    // Page through, newest first, 7 at a time.
    let mut seen = Vec::new();
    let mut cursor: Option<LogCursor> = None;
    loop {
        let (page, next) = logs[1].page(cursor.as_ref(), 7).unwrap();
        assert!(page.len() <= 7);
        seen.extend(page);
        match next {
            Some(c) => cursor = Some(c),
            None => break,
        }
    }
    assert_eq!(seen.len(), 2 * N as usize);
    let distinct: BTreeSet<&Event> = seen.iter().map(|e| &e.value).collect();
    assert_eq!(distinct.len(), 2 * N as usize, "an entry came twice");
    // Newest first: by time, then replica.
    for w in seen.windows(2) {
        assert!(
            w[0].cursor > w[1].cursor,
            "{} before {}",
            w[0].cursor,
            w[1].cursor
        );
        assert!((&w[0].time, &w[0].replica) >= (&w[1].time, &w[1].replica));
    }
    // Each replica's own entries keep their order.
    for r in ["a", "b"] {
        let mine: Vec<u32> = seen
            .iter()
            .rev()
            .filter(|e| e.replica == r)
            .map(|e| e.value.1)
            .collect();
        assert_eq!(mine, (0..N).collect::<Vec<_>>());
        assert!(seen.iter().filter(|e| e.replica == r).all(|e| e.value.0 == r));
    }
    fsck(dir.path());
    let show = git(dir.path(), &["show", "a~1"]);
    assert!(show.contains("log events: append"), "{show}");
    assert!(show.contains("+  \"a\","), "the entry is readable JSON: {show}");
}

#[test]
fn pages_of_an_empty_log_and_past_the_oldest_entry() {
    let repo = Repo::in_memory(HashKind::Sha1);
    let log = Log::<u32>::open(repo.branch("main").unwrap(), Path::parse("l").unwrap());
    assert_eq!(log.page(None, 10).unwrap(), (Vec::new(), None));
    assert!(log.is_empty().unwrap());
    let first = log.append(&1).unwrap();
    let second = log.append(&2).unwrap();
    assert!(second > first);
    let (page, next) = log.page(None, 2).unwrap();
    assert_eq!(page.iter().map(|e| e.value).collect::<Vec<_>>(), [2, 1]);
    assert_eq!(next, None, "no entry is left");
    let (page, next) = log.page(Some(&second), 5).unwrap();
    assert_eq!(page.iter().map(|e| e.value).collect::<Vec<_>>(), [1]);
    assert_eq!(next, None);
    assert!(log.page(Some(&first), 5).unwrap().0.is_empty());
    assert_eq!(LogCursor::parse(first.as_str()), Some(first.clone()));
    assert_eq!(LogCursor::parse("../../x"), None);
}

#[test]
fn an_append_writes_a_constant_number_of_objects() {
    let repo = Repo::in_memory(HashKind::Sha1);
    let log = Log::<u32>::open(repo.branch("main").unwrap(), Path::parse("events").unwrap());
    let count = || repo.objects().ids_with_prefix("").unwrap().len();
    let mut most = 0;
    for i in 0..500 {
        let before = count();
        log.append(&i).unwrap();
        most = most.max(count() - before);
    }
    // One blob, the root, `events`, year, month, day, hour, and the commit.
    eprintln!("log: at most {most} objects per append (500 appends)");
    assert!(most <= 8, "{most} objects for one append");
    assert_eq!(log.len().unwrap(), 500);
}
