//! Load test: N concurrent clients × M PUTs to distinct keys against an in-process server on
//! a loopback port. Checks that every value is there and that no answer was ≥ 500, and prints
//! requests per second, the median and 99th-percentile latency, and the peak resident memory.
//!
//! ```sh
//! cargo run --release -p canopy-server --example load -- [CLIENTS] [PUTS] [--no-fsync | --no-journal]
//! ```
//!
//! `--no-journal` keeps fsync on but syncs each file instead of the write-ahead journal.

use std::time::{Duration, Instant};

use canopy::{Path, Repo};
use canopy_server::{ServeOptions, Server};

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let numbers: Vec<usize> = args.iter().filter_map(|a| a.parse().ok()).collect();
    let clients = numbers.first().copied().unwrap_or(200);
    let puts = numbers.get(1).copied().unwrap_or(50);
    let fsync = !args.iter().any(|a| a == "--no-fsync");
    let journal = !args.iter().any(|a| a == "--no-journal");

    let dir = tempfile::tempdir().expect("temporary directory");
    let root = dir.path().join("store");
    Repo::init(&root).expect("init");
    if !fsync || !journal {
        let config = root.join("config");
        let mut text = std::fs::read_to_string(&config).expect("config");
        let setting = if fsync { "journal" } else { "fsync" };
        text.push_str(&format!("[canopy]\n\t{setting} = false\n"));
        std::fs::write(&config, text).expect("config");
    }
    let repo = Repo::open(&root).expect("open");
    let server = Server::bind(ServeOptions::new(
        repo.clone(),
        "127.0.0.1:0".parse().expect("addr"),
    ))
    .await
    .expect("bind");
    let addr = server.local_addr().expect("address");
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let running = tokio::spawn(server.run_until(async move {
        let _ = stopped.await;
    }));

    let started = Instant::now();
    let mut tasks = Vec::new();
    for c in 0..clients {
        let client = reqwest::Client::builder()
            .no_proxy()
            .timeout(Duration::from_secs(120))
            .build()
            .expect("client");
        tasks.push(tokio::spawn(async move {
            let (mut ok, mut errors, mut failed) = (0usize, 0usize, 0usize);
            let mut latencies = Vec::with_capacity(puts);
            for i in 0..puts {
                let url = format!("http://{addr}/api/v1/branches/main/values/c{c}/k{i}");
                let sent = Instant::now();
                let answer = client.put(url).body(format!("{c}-{i}")).send().await;
                latencies.push(sent.elapsed());
                match answer {
                    Ok(r) if r.status().is_success() => ok += 1,
                    Ok(r) if r.status().is_server_error() => errors += 1,
                    Ok(_) => failed += 1,
                    Err(_) => failed += 1,
                }
            }
            (ok, errors, failed, latencies)
        }));
    }
    let (mut ok, mut errors, mut failed) = (0, 0, 0);
    let mut latencies = Vec::new();
    for t in tasks {
        let (o, e, f, l) = t.await.expect("client task");
        ok += o;
        errors += e;
        failed += f;
        latencies.extend(l);
    }
    latencies.sort();
    let percentile = |p: f64| {
        latencies
            .get(((latencies.len() as f64 * p) as usize).min(latencies.len().saturating_sub(1)))
            .map_or(0.0, |d| d.as_secs_f64() * 1000.0)
    };
    let elapsed = started.elapsed();
    let _ = stop.send(());
    let _ = running.await;

    let view = repo.branch("main").and_then(|b| b.view()).expect("view");
    let mut present = 0;
    for c in 0..clients {
        for i in 0..puts {
            let path = Path::parse(&format!("c{c}/k{i}")).expect("path");
            if view.get(&path).ok().flatten() == Some(format!("{c}-{i}").into_bytes()) {
                present += 1;
            }
        }
    }
    let total = clients * puts;
    println!(
        "{clients} clients x {puts} PUTs (fsync {}): {ok} ok, {errors} >= 500, {failed} other; {present}/{total} values present; {:.1} s, {:.0} requests/s; latency median {:.1} ms, p99 {:.1} ms; peak RSS {} MiB",
        match (fsync, journal) {
            (false, _) => "off",
            (true, true) => "on, journal",
            (true, false) => "on, each file synced",
        },
        elapsed.as_secs_f64(),
        total as f64 / elapsed.as_secs_f64(),
        percentile(0.5),
        percentile(0.99),
        peak_rss_mib().map_or("?".into(), |m| m.to_string()),
    );
    if errors > 0 || present != total {
        std::process::exit(1);
    }
}

/// The process's peak resident set (`VmHWM`), on Linux.
fn peak_rss_mib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024)
}
