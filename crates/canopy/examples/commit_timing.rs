//! Times single-key commits with `Branch::set`, as `canopy-bench --only a` makes them:
//! `cargo run --release -p canopy --example commit_timing -- DIR [COMMITS] [fsync]` creates a
//! store in DIR (which must not exist) and commits to it (for profiling and tracing the write
//! path alone; `canopy-bench` is the comparison with the peers).

use std::time::Instant;

use canopy::store::CommitOptions;
use canopy::{Path, Repo};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let dir = args.get(1).expect("usage: commit_timing DIR [COMMITS] [fsync]");
    let n: u64 = args
        .get(2)
        .map_or(2000, |n| n.parse().expect("a number of commits"));
    let fsync = args.get(3).is_some_and(|a| a == "fsync");
    let repo = Repo::init(dir).expect("init");
    drop(repo);
    if !fsync {
        let config = std::path::Path::new(dir).join("config");
        let mut text = std::fs::read_to_string(&config).expect("config");
        text.push_str("[canopy]\n\tfsync = false\n");
        std::fs::write(&config, text).expect("config");
    }
    let repo = Repo::open(dir).expect("open");
    let main = repo.branch("main").expect("main");
    let t = Instant::now();
    for i in 0..n {
        let h = i.wrapping_mul(0x9e37_79b9_7f4a_7c15);
        let path = Path::parse(&format!("k/{:02x}/{h:016x}", h >> 56)).expect("path");
        let value = format!("value {i}\n");
        main.set(
            &path,
            value.as_bytes(),
            &CommitOptions::message(format!("set {path}")),
        )
        .expect("set");
    }
    let s = t.elapsed().as_secs_f64();
    println!("{n} commits in {:.2} s: {:.0} commits/s", s, n as f64 / s);
}
