//! The durable write path, seen from outside: which sync calls a commit makes and in what order
//! (traced with `strace`), and what 16 concurrent writers are promised when a commit returns.
//!
//! The traced runs re-execute this test binary as a child (`child_writes`, ignored when run
//! directly) under `strace -f -y`, so only the commits themselves are traced.

use std::collections::HashMap;
use std::path::{Path as FsPath, PathBuf};
use std::process::Command;

use canopy::backend::git::RepoLayout;
use canopy::object::Signature;
use canopy::store::CommitOptions;
use canopy::{ObjectId, Path, Repo};

const CHILD_DIR: &str = "CANOPY_DURABILITY_CHILD_DIR";
const CHILD_THREADS: &str = "CANOPY_DURABILITY_CHILD_THREADS";
/// Commits one writer makes, one after another.
const CHILD_COMMITS: &str = "CANOPY_DURABILITY_CHILD_COMMITS";
const COMMITS_PER_THREAD: usize = 8;

fn opts(i: usize) -> CommitOptions {
    let who = Signature {
        name: "t".into(),
        email: "t@example.com".into(),
        time: 1_700_000_000 + i as i64,
        offset_minutes: 0,
    };
    CommitOptions {
        message: format!("commit {i}"),
        author: Some(who.clone()),
        committer: Some(who),
    }
}

/// A store with fsync on and roll-ups off (so each commit's objects stay in the pack its batch
/// wrote), with one commit on `main`.
fn store(dir: &FsPath) {
    let repo = Repo::init(dir).unwrap();
    repo.head_branch()
        .unwrap()
        .set(&Path::parse("seed").unwrap(), "0", &opts(0))
        .unwrap();
    let config = dir.join("config");
    let mut text = std::fs::read_to_string(&config).unwrap();
    text.push_str("[canopy]\n\tautoPackLimit = 0\n");
    std::fs::write(&config, text).unwrap();
}

/// The `.pack` holding `id`, read by a reader of its own (what is on disk, not in memory).
fn pack_on_disk(dir: &FsPath, id: &ObjectId) -> Option<String> {
    let objects = RepoLayout::open(dir).unwrap().objects().unwrap();
    objects
        .pack_holding(id)
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
}

/// Run as a child under `strace`: `threads` writers (1: one commit on `main`), each printing
/// `ACK <branch> <n> <commit> <pack>` once its commit returned.
#[test]
#[ignore = "run by the traced tests as a child process"]
fn child_writes() {
    let Ok(dir) = std::env::var(CHILD_DIR) else { return };
    let dir = PathBuf::from(dir);
    let threads: usize = std::env::var(CHILD_THREADS).unwrap().parse().unwrap();
    let repo = Repo::open(&dir).unwrap();
    if threads == 1 {
        let commits: usize = std::env::var(CHILD_COMMITS).map_or(1, |n| n.parse().unwrap());
        for n in 0..commits {
            let c = repo
                .head_branch()
                .unwrap()
                .set(&Path::parse(&format!("k{n}")).unwrap(), "v", &opts(n + 1))
                .unwrap();
            println!("ACK main {n} {c} {}", pack_on_disk(&dir, &c).unwrap());
        }
        return;
    }
    std::thread::scope(|s| {
        for t in 0..threads {
            let (repo, dir) = (repo.clone(), dir.clone());
            s.spawn(move || {
                let name = format!("w{t}");
                let branch = repo.branch(&name).unwrap();
                for n in 0..COMMITS_PER_THREAD {
                    let path = Path::parse(&format!("t{t}/k{n}")).unwrap();
                    let c = branch.set(&path, format!("{t}.{n}"), &opts(n)).unwrap();
                    println!("ACK {name} {n} {c} {}", pack_on_disk(&dir, &c).unwrap());
                }
            });
        }
    });
}

/// One traced system call.
#[derive(Debug, Clone)]
enum Event {
    /// `fsync`/`fdatasync` of a path (completed).
    Sync {
        pid: u32,
        data_only: bool,
        path: String,
    },
    Rename {
        pid: u32,
        from: String,
        to: String,
    },
    /// A write to the journal or to standard output (the ACK lines); `data` as strace shows it.
    Write {
        path: String,
        data: String,
    },
}

/// Runs the child under `strace`; returns the events in completion order and the ACK lines.
fn traced(dir: &FsPath, threads: usize) -> Option<(Vec<Event>, Vec<Vec<String>>)> {
    traced_commits(dir, threads, 1)
}

/// [`traced`], with `commits` commits one after another when there is one writer.
fn traced_commits(dir: &FsPath, threads: usize, commits: usize) -> Option<(Vec<Event>, Vec<Vec<String>>)> {
    if Command::new("strace").arg("-V").output().is_err() {
        eprintln!("strace is not installed: skipped (.ci/run installs it)");
        return None;
    }
    let log = dir.with_extension("strace");
    let out = Command::new("strace")
        .args([
            "-f",
            "-y",
            "-qq",
            "-s",
            "512",
            "-e",
            "trace=fsync,fdatasync,syncfs,rename,renameat,renameat2,linkat,pwrite64,write",
            "-o",
        ])
        .arg(&log)
        .arg(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "child_writes",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_DIR, dir)
        .env(CHILD_THREADS, threads.to_string())
        .env(CHILD_COMMITS, commits.to_string())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    if !out.status.success() && stderr.contains("ptrace") {
        eprintln!("strace cannot trace here ({stderr}): skipped");
        return None;
    }
    assert!(out.status.success(), "{stderr}");
    let acks = String::from_utf8_lossy(&out.stdout)
        .lines()
        // The harness may print "test child_writes ... " just before the first one.
        .filter_map(|l| l.find("ACK ").map(|at| &l[at + 4..]))
        .map(|l| l.split(' ').map(str::to_string).collect())
        .collect();
    Some((parse(&std::fs::read_to_string(&log).unwrap()), acks))
}

/// Parses `strace -f -y` output, joining `<unfinished ...>` calls with their resumption.
fn parse(text: &str) -> Vec<Event> {
    let mut unfinished: HashMap<u32, String> = HashMap::new();
    let mut events = Vec::new();
    for line in text.lines() {
        let Some((pid, rest)) = line.split_once(' ') else {
            continue;
        };
        let Ok(pid) = pid.trim().parse::<u32>() else {
            continue;
        };
        let rest = rest.trim_start();
        let call = if let Some(start) = rest.strip_suffix(" <unfinished ...>") {
            unfinished.insert(pid, start.to_string());
            continue;
        } else if rest.starts_with("<... ") {
            let Some(start) = unfinished.remove(&pid) else {
                continue;
            };
            let Some((_, tail)) = rest.split_once("resumed>") else {
                continue;
            };
            format!("{start}{tail}")
        } else {
            rest.to_string()
        };
        let quoted = quoted_strings(&call);
        let fd_path = || {
            call.split_once('<')
                .and_then(|(_, p)| p.split_once('>'))
                .map_or(String::new(), |(p, _)| p.to_string())
        };
        if call.starts_with("pwrite64(") || call.starts_with("write(") {
            let path = fd_path();
            let wanted = path.ends_with("canopy-journal") || call.starts_with("write(1<");
            if wanted && !call.contains("= -1") && !quoted.is_empty() {
                events.push(Event::Write {
                    path,
                    data: quoted[0].to_string(),
                });
            }
            continue;
        }
        if !call.trim_end().ends_with("= 0") {
            continue;
        }
        if call.starts_with("fsync(") || call.starts_with("fdatasync(") || call.starts_with("syncfs(") {
            let path = fd_path();
            events.push(Event::Sync {
                pid,
                data_only: call.starts_with("fdatasync("),
                path,
            });
        } else if call.starts_with("rename") && quoted.len() >= 2 {
            events.push(Event::Rename {
                pid,
                from: quoted[0].to_string(),
                to: quoted[1].to_string(),
            });
        } else if call.starts_with("linkat(") && quoted.len() >= 2 {
            // An unnamed file named (a lock file): a rename from the file the descriptor holds,
            // as far as the order of writes is concerned.
            let from = if quoted[0].is_empty() {
                fd_path()
            } else {
                quoted[0].to_string()
            };
            events.push(Event::Rename {
                pid,
                from,
                to: quoted[1].to_string(),
            });
        }
    }
    events
}

/// The double-quoted arguments of a traced call, as strace escapes them (`\"` stays inside).
fn quoted_strings(call: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut chars = call.chars();
    while chars.by_ref().any(|c| c == '"') {
        let mut s = String::new();
        while let Some(c) = chars.next() {
            match c {
                '\\' => {
                    s.push(c);
                    s.extend(chars.next());
                }
                '"' => break,
                _ => s.push(c),
            }
        }
        out.push(s);
    }
    out
}

fn file_name(path: &str) -> &str {
    path.rsplit('/').next().unwrap_or(path)
}

fn syncs(events: &[Event]) -> usize {
    events.iter().filter(|e| matches!(e, Event::Sync { .. })).count()
}

/// Checks, for a store whose writer could not take the journal, that the commit acknowledged as
/// the `nth` update of `branch`, held by `pack`, was made durable in the documented order before
/// its reference moved: pack and index data synced, both
/// renamed into place, `objects/pack` synced — all before the reference's lock file (itself
/// synced) was renamed onto the reference, and the reference's directory synced after that.
fn check_direct_order(events: &[Event], branch: &str, nth: usize, pack: &str) {
    let at =
        |pred: &dyn Fn(&Event) -> bool, from: usize| events[from..].iter().position(pred).map(|i| i + from);
    // The pack's installation and the sync of its data before it.
    let pack_rename = at(
        &|e| matches!(e, Event::Rename { to, .. } if file_name(to) == pack),
        0,
    )
    .unwrap_or_else(|| panic!("{pack} never renamed into place: {events:#?}"));
    let Event::Rename {
        pid: leader,
        from: tmp_pack,
        ..
    } = &events[pack_rename]
    else {
        unreachable!()
    };
    let idx = pack.replace(".pack", ".idx");
    let synced = |path: &str| {
        at(&|e| matches!(e, Event::Sync { path: p, .. } if p == path), 0).filter(|&i| i < pack_rename)
    };
    assert!(
        synced(tmp_pack).is_some(),
        "{pack}: data not synced before its rename"
    );
    let idx_rename = at(
        &|e| matches!(e, Event::Rename { to, .. } if file_name(to) == idx),
        0,
    )
    .unwrap();
    let Event::Rename { from: tmp_idx, .. } = &events[idx_rename] else {
        unreachable!()
    };
    assert!(
        synced(tmp_idx).is_some(),
        "{idx}: data not synced before the pack's rename"
    );
    assert!(pack_rename < idx_rename, "the index must appear last");
    let dir_sync = at(
        &|e| matches!(e, Event::Sync { pid, path, .. } if pid == leader && path.ends_with("objects/pack")),
        idx_rename,
    )
    .unwrap_or_else(|| panic!("objects/pack not synced after {pack}"));
    // The reference: the nth rename of its lock onto it.
    let lock = format!("refs/heads/{branch}.lock");
    let ref_rename = events
        .iter()
        .enumerate()
        .filter(|(_, e)| matches!(e, Event::Rename { from, .. } if from.ends_with(&lock)))
        .nth(nth)
        .map(|(i, _)| i)
        .unwrap_or_else(|| panic!("update {nth} of {branch} not found"));
    assert!(
        dir_sync < ref_rename,
        "{branch} update {nth} moved before {pack} was durable"
    );
    let Event::Rename {
        pid: writer,
        from: lock_path,
        ..
    } = &events[ref_rename]
    else {
        unreachable!()
    };
    // The lock file is made without a name (or under a private one) in the same directory and
    // linked into place, so its descriptor carries the unnamed file's `#<inode>` (or the
    // private name).
    let lock_dir = lock_path.rsplit_once('/').map_or("", |(d, _)| d);
    let lock_synced = events[..ref_rename].iter().rposition(|e| {
        matches!(e, Event::Sync { path, data_only: true, .. }
            if path.starts_with(lock_dir)
                && (path.contains(".lock") || path[lock_dir.len()..].starts_with("/#")))
    });
    assert!(
        lock_synced.is_some(),
        "{lock_path} not synced before its rename: {:?}",
        &events[..ref_rename]
    );
    assert!(
        at(
            &|e| matches!(e, Event::Sync { pid, path, .. } if pid == writer && path.ends_with("refs/heads")),
            ref_rename
        )
        .is_some(),
        "refs/heads not synced after {branch} moved"
    );
}

/// Checks that the commit acknowledged as `ack` (`branch n commit pack`) went through the
/// journal in the documented order: its pack installed (`.pack`, then `.idx`) and recorded in
/// the journal, then the reference's move recorded after it, then an `fdatasync` of the journal
/// completed — all before the lock was renamed onto the reference, and that before the commit
/// was acknowledged.
fn check_journaled_order(events: &[Event], ack: &[String]) {
    let (branch, commit, pack) = (&ack[0], &ack[2], &ack[3]);
    let stem = pack.trim_end_matches(".pack");
    let at =
        |pred: &dyn Fn(&Event) -> bool, from: usize| events[from..].iter().position(pred).map(|i| i + from);
    let pack_rename = at(
        &|e| matches!(e, Event::Rename { to, .. } if file_name(to) == pack),
        0,
    )
    .unwrap_or_else(|| panic!("{pack} never renamed into place"));
    let idx = format!("{stem}.idx");
    let idx_rename = at(
        &|e| matches!(e, Event::Rename { to, .. } if file_name(to) == idx),
        0,
    )
    .unwrap();
    assert!(pack_rename < idx_rename, "the index must appear last");
    let journal_write = |needle: &str, from: usize| {
        at(
            &|e| matches!(e, Event::Write { path, data } if path.ends_with("canopy-journal") && data.contains(needle)),
            from,
        )
    };
    let pack_record = journal_write(stem, idx_rename).unwrap_or_else(|| panic!("{stem}: no journal record"));
    let ref_record = journal_write(commit, pack_record)
        .unwrap_or_else(|| panic!("{branch} → {commit}: no journal record after its pack's"));
    let Event::Write { data, .. } = &events[ref_record] else {
        unreachable!()
    };
    assert!(data.contains(&format!("refs/heads/{branch}")), "{data}");
    let synced = at(
        &|e| matches!(e, Event::Sync { path, data_only: true, .. } if path.ends_with("canopy-journal")),
        ref_record,
    )
    .unwrap_or_else(|| panic!("{commit}: record never synced"));
    let lock = format!("refs/heads/{branch}.lock");
    let moved = at(
        &|e| matches!(e, Event::Rename { from, .. } if from.ends_with(&lock)),
        ref_record,
    )
    .unwrap_or_else(|| panic!("{branch} never moved after its record"));
    assert!(
        synced < moved,
        "{branch} moved to {commit} before its records were durable"
    );
    let acked = at(
        &|e| matches!(e, Event::Write { path, data } if !path.ends_with("canopy-journal") && data.contains(&format!("ACK {branch} {} {commit}", ack[1]))),
        0,
    )
    .unwrap_or_else(|| panic!("the ACK of {commit} was not traced"));
    assert!(moved < acked, "{commit} acknowledged before {branch} moved");
}

#[test]
fn one_commit_syncs_the_journal_once_in_order() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("store");
    store(&dir);
    let Some((events, acks)) = traced(&dir, 1) else {
        return;
    };
    assert_eq!(acks.len(), 1);
    check_journaled_order(&events, &acks[0]);
    // One `fdatasync` of the journal; nothing else is synced (a process this short leaves its
    // records to the next owner rather than checkpointing).
    let synced: Vec<&Event> = events
        .iter()
        .filter(|e| matches!(e, Event::Sync { .. }))
        .collect();
    assert_eq!(synced.len(), 1, "{synced:#?}");
}

#[test]
fn without_the_journal_each_commit_syncs_five_times_in_order() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("store");
    store(&dir);
    // Another process owns the journal (an OS lock on the file): this writer syncs each file.
    let held = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(dir.join("canopy-journal"))
        .unwrap();
    held.lock().unwrap();
    // Three commits, one after another: each is durable before its reference moves.
    let Some((events, acks)) = traced_commits(&dir, 1, 3) else {
        return;
    };
    assert_eq!(acks.len(), 3);
    for (n, ack) in acks.iter().enumerate() {
        check_direct_order(&events, "main", n, &ack[3]);
    }
    assert_eq!(syncs(&events), 15, "{events:#?}");
    drop(held);
}

#[test]
fn sixteen_writers_share_syncs_and_each_commit_is_durable_before_its_reference() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("store");
    store(&dir);
    let Some((events, acks)) = traced(&dir, 16) else {
        return;
    };
    let commits = 16 * COMMITS_PER_THREAD;
    assert_eq!(acks.len(), commits);
    for ack in &acks {
        check_journaled_order(&events, ack);
    }
    let packs: std::collections::HashSet<&String> = acks.iter().map(|a| &a[3]).collect();
    let n = syncs(&events);
    eprintln!("{commits} commits: {} packs, {n} sync calls", packs.len());
    // Alone, each commit would make its own pack and sync the journal once.
    assert!(packs.len() < commits, "no batch was shared");
    assert!(n < commits, "{n} syncs for {commits} commits");
}

#[test]
fn acknowledged_commits_are_on_disk_and_in_order() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("store");
    store(&dir);
    let repo = Repo::open(&dir).unwrap();
    let acked: Vec<Vec<ObjectId>> = std::thread::scope(|s| {
        let writers: Vec<_> = (0..16)
            .map(|t| {
                let (repo, dir) = (repo.clone(), dir.clone());
                s.spawn(move || {
                    let branch = repo.branch(&format!("w{t}")).unwrap();
                    let mut acked = Vec::new();
                    for n in 0..20 {
                        let path = Path::parse(&format!("t{t}/k{n}")).unwrap();
                        let c = branch.set(&path, format!("{t}.{n}"), &opts(n)).unwrap();
                        // A reader of its own sees the commit and its value: it is on disk.
                        let reader = Repo::open(&dir).unwrap();
                        let view = reader.view_at(c).unwrap();
                        assert_eq!(
                            view.get(&path).unwrap().as_deref(),
                            Some(format!("{t}.{n}").as_bytes())
                        );
                        acked.push(c);
                    }
                    acked
                })
            })
            .collect();
        writers.into_iter().map(|w| w.join().unwrap()).collect()
    });
    let reader = Repo::open(&dir).unwrap();
    for (t, acked) in acked.iter().enumerate() {
        let branch = reader.branch(&format!("w{t}")).unwrap();
        let mut history: Vec<ObjectId> = branch.history().unwrap().map(|c| c.unwrap().id).collect();
        history.reverse();
        assert_eq!(
            &history, acked,
            "w{t}'s history is its commits in the order acknowledged"
        );
    }
}

/// Threads of two stores opened on the same directory (two processes, as far as each can tell)
/// commit to one branch at once: within a store, commits are chained and published together;
/// between the two, compare-and-swap decides, and a chain built on a head the other replaced is
/// built again. Every acknowledged commit is in the branch's history, each with its value.
#[test]
fn writers_on_one_branch_each_get_their_own_commit() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("store");
    store(&dir);
    let stores = [Repo::open(&dir).unwrap(), Repo::open(&dir).unwrap()];
    let acked: Vec<(String, ObjectId)> = std::thread::scope(|s| {
        let writers: Vec<_> = (0..16)
            .map(|t| {
                let repo = stores[t % 2].clone();
                s.spawn(move || {
                    let main = repo.branch("main").unwrap();
                    (0..15)
                        .map(|n| {
                            let key = format!("t{t}/k{n}");
                            let c = main
                                .set(&Path::parse(&key).unwrap(), key.clone(), &opts(n))
                                .unwrap();
                            (key, c)
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        writers.into_iter().flat_map(|w| w.join().unwrap()).collect()
    });
    let reader = Repo::open(&dir).unwrap();
    let main = reader.branch("main").unwrap();
    let history: Vec<ObjectId> = main.history().unwrap().map(|c| c.unwrap().id).collect();
    let head = main.view().unwrap();
    for (key, commit) in &acked {
        assert!(
            history.contains(commit),
            "{key}: acknowledged commit {commit} is not in main's history"
        );
        let at = reader.view_at(*commit).unwrap();
        assert_eq!(
            at.get(&Path::parse(key).unwrap()).unwrap().as_deref(),
            Some(key.as_bytes())
        );
        assert_eq!(
            head.get(&Path::parse(key).unwrap()).unwrap().as_deref(),
            Some(key.as_bytes())
        );
    }
    // One commit per write (and the seed), in one line of history.
    assert_eq!(history.len(), acked.len() + 1);
    for c in &history {
        assert!(reader.commit_info(*c).unwrap().commit.parents.len() <= 1);
    }
    // Published together: fewer reference updates than commits.
    let updates = reader.refs().reflog("refs/heads/main").unwrap().len();
    eprintln!("{} commits, {updates} updates of main", acked.len());
    assert!(
        updates < acked.len(),
        "{updates} updates for {} commits",
        acked.len()
    );
}

/// A write that changes nothing, made while other threads' commits to the branch are still on
/// their way to disk, waits for them and answers the head — it neither hangs nor commits.
#[test]
fn a_write_that_changes_nothing_waits_for_the_unpublished_head() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("store");
    store(&dir);
    let repo = Repo::open(&dir).unwrap();
    let (done, finished) = std::sync::mpsc::channel();
    // Detached threads: a hung writer fails the test instead of hanging it.
    for t in 0..4 {
        let (repo, done) = (repo.clone(), done.clone());
        std::thread::spawn(move || {
            let main = repo.branch("main").unwrap();
            for n in 0..40 {
                if t == 0 {
                    // The same value again and again: a change only the first time.
                    main.set(&Path::parse("same").unwrap(), "x", &opts(n)).unwrap();
                } else {
                    let key = format!("t{t}/k{n}");
                    main.set(&Path::parse(&key).unwrap(), key.clone(), &opts(n))
                        .unwrap();
                }
            }
            done.send(()).unwrap();
        });
    }
    for _ in 0..4 {
        finished
            .recv_timeout(std::time::Duration::from_secs(120))
            .expect("a writer hung");
    }
    let main = Repo::open(&dir).unwrap().branch("main").unwrap();
    let history = main.history().unwrap().count();
    // The seed, 3 × 40 distinct keys, and "same" once.
    assert_eq!(history, 1 + 120 + 1);
}
