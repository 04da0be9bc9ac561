//! Times random reads at the head of `main`, after one walk that lists every value path:
//! `cargo run --release -p canopy --example read_timing -- STORE [ROUNDS]` (for profiling the
//! read path alone; `canopy-bench --only c` is the comparison with the peers).

use std::time::Instant;

use canopy::tree::EntryKind;
use canopy::{Path, Repo};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let store = args.get(1).expect("usage: read_timing STORE [ROUNDS]");
    let rounds: usize = args.get(2).map_or(5, |n| n.parse().expect("a number of rounds"));
    let repo = Repo::open(store).expect("open");
    let view = repo.branch("main").and_then(|b| b.view()).expect("view");
    let mut paths = Vec::new();
    let mut dirs = vec![Path::root()];
    while let Some(dir) = dirs.pop() {
        for (name, kind) in view.list(&dir).expect("list") {
            let path = dir.join(&name).expect("a path");
            match kind {
                EntryKind::Tree => dirs.push(path),
                _ => paths.push(path),
            }
        }
    }
    // A fixed shuffle (xorshift), so that runs read in the same order.
    let mut x = 0x9e37_79b9_7f4a_7c15u64;
    for i in (1..paths.len()).rev() {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        paths.swap(i, (x % (i as u64 + 1)) as usize);
    }
    drop(view);
    for _ in 0..rounds {
        // A fresh store and view each round, as `canopy-bench` opens one per sample: its
        // directories are read again, and the time includes the open.
        let t = Instant::now();
        let repo = Repo::open(store).expect("open");
        let view = repo.branch("main").and_then(|b| b.view()).expect("view");
        let opened = t.elapsed();
        let mut bytes = 0;
        for p in &paths {
            bytes += view.get(p).expect("get").expect("a value").len();
        }
        let s = t.elapsed().as_secs_f64();
        println!(
            "{} reads in {:.1} ms (the open: {:.2} ms): {:.0}k reads/s ({bytes} bytes)",
            paths.len(),
            s * 1e3,
            opened.as_secs_f64() * 1e3,
            paths.len() as f64 / s / 1e3
        );
    }
}
