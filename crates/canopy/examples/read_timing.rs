//! Times random reads at the head of `main`, after one walk that lists every value path:
//! `cargo run --release -p canopy --example read_timing -- STORE [ROUNDS]` (for profiling the
//! read path alone; `canopy-bench --only c` is the comparison with the peers).
//!
//! Environment: `BENCH_ORDER=1` reads `canopy-bench`'s keys in its order (random, with
//! repeats) instead of a shuffle of the paths listed; `AGAIN=1` reads them all a second time
//! through the same view (every directory already loaded); `SYNC=1` runs `sync` before each
//! round, as `canopy-bench` does before each sample; `SCATTERED=1` (with `BENCH_ORDER`) keeps
//! the paths in key order and reads them by index, as `canopy-bench` holds them, instead of
//! laying them out in the order they are read (about 10 ms more per 100,000 reads here).

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
    if std::env::var_os("BENCH_ORDER").is_some() {
        // canopy-bench's keys and order: key(i) for every i, read at splitmix64 indices.
        let mix = |mut x: u64| {
            x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
            x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            x ^ (x >> 31)
        };
        let n = paths.len() as u64;
        let keys: Vec<Path> = (0..n)
            .map(|i| {
                let h = mix(i);
                Path::parse(&format!("k/{:02x}/{h:016x}", h >> 56)).unwrap()
            })
            .collect();
        let order: Vec<usize> = (0..n).map(|i| (mix(i ^ 0x5eed) % n) as usize).collect();
        if std::env::var_os("SCATTERED").is_some() {
            // As `canopy-bench` holds them: the paths in key order, read by index.
            read_rounds(store, rounds, &keys, &order);
            return;
        }
        paths = order.iter().map(|&i| keys[i].clone()).collect();
    }
    let order: Vec<usize> = (0..paths.len()).collect();
    read_rounds(store, rounds, &paths, &order);
}

/// Reads `paths[i]` for every `i` in `order`, `rounds` times, each on a newly opened store.
fn read_rounds(store: &str, rounds: usize, paths: &[Path], order: &[usize]) {
    for _ in 0..rounds {
        if std::env::var_os("SYNC").is_some() {
            let _ = std::process::Command::new("sync").status();
        }
        // A fresh store and view each round, as `canopy-bench` opens one per sample: its
        // directories are read again, and the time includes the open.
        let t = Instant::now();
        let repo = Repo::open(store).expect("open");
        let view = repo.branch("main").and_then(|b| b.view()).expect("view");
        let opened = t.elapsed();
        let mut bytes = 0;
        for &i in order {
            bytes += view.get(&paths[i]).expect("get").expect("a value").len();
        }
        let s = t.elapsed().as_secs_f64();
        if std::env::var_os("AGAIN").is_some() {
            let t2 = Instant::now();
            for &i in order {
                bytes += view.get(&paths[i]).expect("get").expect("a value").len();
            }
            println!(
                "  again on the same view: {:.1} ms",
                t2.elapsed().as_secs_f64() * 1e3
            );
        }
        println!(
            "{} reads in {:.1} ms (the open: {:.2} ms): {:.0}k reads/s ({bytes} bytes)",
            paths.len(),
            s * 1e3,
            opened.as_secs_f64() * 1e3,
            paths.len() as f64 / s / 1e3
        );
    }
}
