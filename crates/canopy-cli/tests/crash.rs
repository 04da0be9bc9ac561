//! Crash safety: a writer is killed with SIGKILL at random moments, again and again, and after
//! every kill the store must open and take a write with no manual step, hold every commit that
//! was acknowledged (with its value), and pass `git fsck --strict` and `canopy fsck`.
//!
//! Three writers: the library (this test binary re-run as a child, committing `k/<n> = n` and
//! printing `ACK n` after each commit returned), the CLI (`canopy set` processes, acknowledged
//! by their exit status) and the server (`canopy serve` taking PUTs, acknowledged by the HTTP
//! answer). Kill times come from a seeded generator; the seed is printed, and
//! `CANOPY_CRASH_SEED` replays it. `CANOPY_CRASH_KILLS` sets the kills per writer (50 by default).

mod common;

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use canopy::store::CommitOptions;
use canopy::Repo;
use common::{Sandbox, Served};

/// splitmix64: small, seedable, good enough to spread kill times.
struct Rng(u64);

impl Rng {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A duration in [0, max).
    fn below(&mut self, max: Duration) -> Duration {
        Duration::from_micros(self.next_u64() % max.as_micros().max(1) as u64)
    }
}

fn kills() -> usize {
    std::env::var("CANOPY_CRASH_KILLS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(50)
}

fn rng(mode: &str) -> Rng {
    let seed = std::env::var("CANOPY_CRASH_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos() as u64
        });
    eprintln!("crash test '{mode}': {} kills, CANOPY_CRASH_SEED={seed}", kills());
    Rng(seed)
}

/// What every round must leave true: the store opens and takes a write at once, every
/// acknowledged value is there, and both fsck's are clean.
/// Returns whether the kill had left a lock file behind (which the write then recovered).
fn check(sb: &Sandbox, store: &Path, acked: &BTreeSet<u64>, round: usize, mode: &str) -> bool {
    let left_lock = std::fs::read_dir(store.join("refs/heads"))
        .unwrap()
        .flatten()
        .any(|e| e.file_name().to_string_lossy().ends_with(".lock"));
    let started = Instant::now();
    sb.canopy_ok(store, &["set", &format!("probe/{mode}"), &round.to_string()]);
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "round {round}: the write after the kill waited {:?}",
        started.elapsed()
    );
    let repo = Repo::open(store).unwrap_or_else(|e| panic!("round {round}: open: {e}"));
    let branch = repo.branch("main").unwrap();
    // The directory `k` is read once and each acknowledged value is compared by its object id
    // (the hash of what was written), so a round costs one pass over the values, not one look-up
    // each: long runs stay linear.
    let view = branch.view().unwrap();
    let k = match view.find(&canopy::Path::parse("k").unwrap()) {
        Ok(Some(canopy::tree::Entry::Tree(t))) => t.entries(repo.objects()).unwrap(),
        other => panic!("round {round}: k is {other:?}"),
    };
    for n in acked {
        let expected = canopy::ObjectId::for_object(
            repo.hash_kind(),
            canopy::object::ObjectKind::Blob,
            n.to_string().as_bytes(),
        );
        let found = match k.get(n.to_string().as_bytes()) {
            Some(canopy::tree::Entry::Value { id, .. }) => Some(*id),
            _ => None,
        };
        assert_eq!(found, Some(expected), "round {round}: acknowledged k/{n} lost");
    }
    // The newest value is read too: its object is whole and holds what was written.
    if let Some(n) = acked.iter().next_back() {
        let value = branch
            .get(&canopy::Path::parse(&format!("k/{n}")).unwrap())
            .unwrap();
        assert_eq!(
            value.as_deref(),
            Some(n.to_string().as_bytes()),
            "round {round}: k/{n}"
        );
    }
    let git = sb.git(store, &["fsck", "--strict", "--no-progress", "--no-dangling"]);
    assert_eq!(git.code, 0, "round {round}: git fsck --strict: {git:?}");
    let all = format!("{}{}", git.out(), git.err()).to_lowercase();
    for word in ["error", "warning", "missing", "broken", "bad", "invalid", "fatal"] {
        assert!(
            !all.contains(word),
            "round {round}: git fsck says '{word}': {git:?}"
        );
    }
    let ours = sb.canopy(store, &["fsck"]);
    assert_eq!(ours.code, 0, "round {round}: canopy fsck: {ours:?}");
    assert!(
        !ours.out().contains("error"),
        "round {round}: canopy fsck: {ours:?}"
    );
    if (round + 1).is_multiple_of(50) {
        // Long runs (CANOPY_CRASH_KILLS) say how far they got (seen with --nocapture).
        eprintln!("crash test '{mode}': {} kills checked", round + 1);
    }
    left_lock
}

fn store(sb: &Sandbox) -> std::path::PathBuf {
    let store = sb.init_store("s", "sha1");
    sb.canopy_ok(&store, &["set", "k/0", "0"]);
    store
}

fn kill(child: &mut Child) {
    let _ = child.kill();
    let _ = child.wait();
}

/// Not a test: run by [`library_writer_survives_kills`] as its child. Commits `k/<n> = n` from
/// `CANOPY_CRASH_START` on into the store `CANOPY_CRASH_WRITER`, printing `ACK n` after each.
#[test]
#[ignore]
fn library_writer() {
    let Some(store) = std::env::var_os("CANOPY_CRASH_WRITER") else {
        return;
    };
    let start: u64 = std::env::var("CANOPY_CRASH_START").unwrap().parse().unwrap();
    let repo = Repo::open(&store).unwrap();
    let branch = repo.branch("main").unwrap();
    let mut out = std::io::stdout().lock();
    for n in start.. {
        let path = canopy::Path::parse(&format!("k/{n}")).unwrap();
        branch
            .set(&path, n.to_string(), &CommitOptions::message(format!("k/{n}")))
            .unwrap();
        writeln!(out, "ACK {n}").unwrap();
        out.flush().unwrap();
    }
}

#[test]
fn library_writer_survives_kills() {
    let sb = Sandbox::new();
    let store = store(&sb);
    let mut rng = rng("library");
    let mut acked = BTreeSet::from([0]);
    let mut locks = 0;
    for round in 0..kills() {
        let start = acked.last().unwrap() + 1;
        // The environment (identity, dates) a `canopy` process would get.
        let like = sb.canopy_command(&store, &[]);
        let mut cmd = Command::new(std::env::current_exe().unwrap());
        for (k, v) in like.get_envs() {
            match v {
                Some(v) => cmd.env(k, v),
                None => cmd.env_remove(k),
            };
        }
        cmd.args([
            "--exact",
            "library_writer",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("CANOPY_CRASH_WRITER", &store)
        .env("CANOPY_CRASH_START", start.to_string())
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
        let mut child = cmd.spawn().unwrap();
        let stdout = child.stdout.take().unwrap();
        let reader = std::thread::spawn(move || {
            let mut got = Vec::new();
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if let Some(n) = line.strip_prefix("ACK ") {
                    got.push(n.parse::<u64>().unwrap());
                }
            }
            got
        });
        std::thread::sleep(rng.below(Duration::from_millis(150)));
        kill(&mut child);
        acked.extend(reader.join().unwrap());
        locks += usize::from(check(&sb, &store, &acked, round, "library"));
    }
    eprintln!(
        "library: {} kills ({locks} left a lock), {} commits acknowledged",
        kills(),
        acked.len() - 1
    );
}

#[test]
fn cli_writer_survives_kills() {
    let sb = Sandbox::new();
    let store = store(&sb);
    let mut rng = rng("cli");
    let mut acked = BTreeSet::from([0]);
    let mut locks = 0;
    let mut n = 1;
    let mut round = 0;
    while round < kills() {
        // A few `canopy set`s; the one running at the deadline is killed.
        let deadline = Instant::now() + rng.below(Duration::from_millis(200));
        loop {
            let mut child = sb
                .canopy_command(&store, &["set", &format!("k/{n}"), &n.to_string()])
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap();
            let status = loop {
                if let Some(status) = child.try_wait().unwrap() {
                    break Some(status);
                }
                if Instant::now() >= deadline {
                    break None;
                }
                std::thread::sleep(Duration::from_micros(200));
            };
            match status {
                Some(status) => {
                    let mut err = String::new();
                    let _ = child.stderr.take().unwrap().read_to_string(&mut err);
                    assert!(status.success(), "round {round}: canopy set k/{n} failed: {err}");
                    acked.insert(n);
                    n += 1;
                }
                None => {
                    kill(&mut child);
                    n += 1;
                    break;
                }
            }
        }
        locks += usize::from(check(&sb, &store, &acked, round, "cli"));
        round += 1;
    }
    eprintln!(
        "cli: {} kills ({locks} left a lock), {} commits acknowledged",
        kills(),
        acked.len() - 1
    );
}

/// One `PUT` of `k/<n> = n`; the status, or `None` if the server went away.
fn put(addr: &str, n: u64) -> Option<u16> {
    let mut s = std::net::TcpStream::connect(addr).ok()?;
    let body = n.to_string();
    let req = format!(
        "PUT /api/v1/branches/main/values/k/{n} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    s.write_all(req.as_bytes()).ok()?;
    let mut resp = Vec::new();
    s.read_to_end(&mut resp).ok()?;
    String::from_utf8_lossy(resp.get(9..12)?).parse().ok()
}

#[test]
fn server_writer_survives_kills() {
    let sb = Sandbox::new();
    let store = store(&sb);
    let mut rng = rng("server");
    let acked = Arc::new(Mutex::new(BTreeSet::from([0])));
    let mut locks = 0;
    let mut n = 1;
    for round in 0..kills() {
        let served = Served::start(&sb, &store);
        let addr = served.addr.clone();
        let writer = {
            let acked = acked.clone();
            let first = n;
            std::thread::spawn(move || {
                let mut n = first;
                while let Some(status) = put(&addr, n) {
                    assert!(status == 200 || status == 201, "PUT k/{n}: {status}");
                    acked.lock().unwrap().insert(n);
                    n += 1;
                }
                n + 1
            })
        };
        std::thread::sleep(rng.below(Duration::from_millis(150)));
        drop(served); // SIGKILL
        n = writer.join().unwrap();
        locks += usize::from(check(&sb, &store, &acked.lock().unwrap(), round, "server"));
    }
    eprintln!(
        "server: {} kills ({locks} left a lock), {} commits acknowledged",
        kills(),
        acked.lock().unwrap().len() - 1
    );
}
