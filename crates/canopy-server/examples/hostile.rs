//! Hostile load: a `canopy serve` child process on a loopback port, honest clients (each a PUT
//! then a GET of its value, in a loop) measured alone and then while attackers hold 1,000 idle
//! connections, send headers a byte a second (200), send bodies a byte a second (200), and
//! flood it with malformed HTTP and malformed pkt-lines. Prints the honest clients' latency
//! (median, p99) and failures in both phases, the attackers' fate, whether the server is still
//! up, and its peak resident memory (`VmHWM` of the server process alone). Exits non-zero when
//! an honest request failed or the server died.
//!
//! ```sh
//! cargo build --release -p canopy-cli -p canopy-server --examples
//! target/release/examples/hostile [SECONDS]      # CANOPY_BIN: the canopy binary (default: next to examples/)
//! ```

use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const HONEST: usize = 8;
const IDLE: usize = 1000;
const SLOW_HEADERS: usize = 200;
const SLOW_BODIES: usize = 200;
const FLOODERS: usize = 4;

#[tokio::main]
async fn main() {
    let seconds: u64 = std::env::args().nth(1).and_then(|a| a.parse().ok()).unwrap_or(15);
    let phase = Duration::from_secs(seconds);
    let bin = std::env::var("CANOPY_BIN")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|_| {
            let exe = std::env::current_exe().expect("own path");
            exe.parent()
                .and_then(|d| d.parent())
                .expect("target dir")
                .join("canopy")
        });
    let dir = tempfile::tempdir().expect("temporary directory");
    let store = dir.path().join("store");
    let status = Command::new(&bin)
        .args(["init"])
        .arg(&store)
        .stdout(Stdio::null())
        .status();
    assert!(
        status.is_ok_and(|s| s.success()),
        "cannot run {} init",
        bin.display()
    );
    let (mut server, addr) = start(&bin, &store);
    let pid = server.id();

    let alone = honest(addr, phase).await;
    report("honest clients alone", &alone);

    let stop = Arc::new(AtomicBool::new(false));
    let fate = Arc::new(Fate::default());
    let mut attackers = Vec::new();
    for _ in 0..IDLE {
        attackers.push(tokio::spawn(idle(addr, stop.clone(), fate.clone())));
    }
    for _ in 0..SLOW_HEADERS {
        attackers.push(tokio::spawn(slow(addr, stop.clone(), fate.clone())));
    }
    for i in 0..SLOW_BODIES {
        attackers.push(tokio::spawn(slow_body(addr, i, stop.clone(), fate.clone())));
    }
    for i in 0..FLOODERS {
        attackers.push(tokio::spawn(garbage(addr, i as u64, stop.clone(), fate.clone())));
        attackers.push(tokio::spawn(bad_pkt_lines(addr, stop.clone(), fate.clone())));
    }
    // Let the attack build up before measuring.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let attacked = honest(addr, phase).await;
    report("honest clients under attack", &attacked);
    stop.store(true, Ordering::Relaxed);
    for a in attackers {
        let _ = a.await;
    }
    let alive = server.try_wait().expect("server status").is_none();
    let after = honest(addr, Duration::from_secs(2)).await;
    println!(
        "attackers: {} idle connections held, {} slow-header and {} slow-body connections closed by the server (of {}), {} malformed HTTP requests and {} malformed pkt-line requests sent",
        fate.idle_open.load(Ordering::Relaxed),
        fate.slow_closed.load(Ordering::Relaxed),
        fate.body_closed.load(Ordering::Relaxed),
        SLOW_HEADERS + SLOW_BODIES,
        fate.garbage.load(Ordering::Relaxed),
        fate.bad_pkt.load(Ordering::Relaxed),
    );
    println!(
        "server: {}; after the attack {} of {} honest requests ok; peak RSS {} MiB",
        if alive { "up" } else { "DIED" },
        after.ok,
        after.ok + after.failed,
        peak_rss_mib(pid).map_or("?".into(), |m| m.to_string())
    );
    let _ = server.kill();
    let _ = server.wait();
    if !alive || alone.failed + attacked.failed + after.failed > 0 {
        std::process::exit(1);
    }
}

fn start(bin: &std::path::Path, store: &std::path::Path) -> (Child, std::net::SocketAddr) {
    use std::io::BufRead;
    let mut child = Command::new(bin)
        .arg("--root")
        .arg(store)
        .args(["serve", "--addr", "127.0.0.1:0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start canopy serve");
    let out = child.stdout.take().expect("stdout");
    for line in std::io::BufReader::new(out).lines() {
        let line = line.expect("server output");
        if let Some(rest) = line.split("on http://").nth(1) {
            let addr = rest.split('/').next().expect("address");
            return (child, addr.parse().expect("socket address"));
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    panic!("canopy serve did not say where it listens");
}

#[derive(Default)]
struct Fate {
    idle_open: AtomicUsize,
    slow_closed: AtomicUsize,
    body_closed: AtomicUsize,
    garbage: AtomicUsize,
    bad_pkt: AtomicUsize,
}

struct Measured {
    ok: usize,
    failed: usize,
    latencies: Vec<Duration>,
}

fn report(what: &str, m: &Measured) {
    let mut l = m.latencies.clone();
    l.sort();
    let at = |p: f64| {
        l.get(((l.len() as f64 * p) as usize).min(l.len().saturating_sub(1)))
            .map_or(0.0, |d| d.as_secs_f64() * 1000.0)
    };
    println!(
        "{what}: {} requests ok, {} failed; latency median {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        m.ok,
        m.failed,
        at(0.5),
        at(0.99),
        l.last().map_or(0.0, |d| d.as_secs_f64() * 1000.0)
    );
}

/// `HONEST` clients, each a PUT of its own key then a GET of it, for `time`.
async fn honest(addr: std::net::SocketAddr, time: Duration) -> Measured {
    let until = Instant::now() + time;
    let mut tasks = Vec::new();
    for c in 0..HONEST {
        let client = reqwest::Client::builder()
            .no_proxy()
            .timeout(Duration::from_secs(30))
            .build()
            .expect("client");
        tasks.push(tokio::spawn(async move {
            let mut m = Measured {
                ok: 0,
                failed: 0,
                latencies: Vec::new(),
            };
            let mut i = 0u64;
            while Instant::now() < until {
                let url = format!("http://{addr}/api/v1/branches/main/values/honest/{c}");
                let value = format!("{c}-{i}");
                let sent = Instant::now();
                let put = client.put(&url).body(value.clone()).send().await;
                m.latencies.push(sent.elapsed());
                let sent = Instant::now();
                let got = match put {
                    Ok(r) if r.status().is_success() => match client.get(&url).send().await {
                        Ok(r) if r.status().is_success() => r.text().await.ok(),
                        _ => None,
                    },
                    _ => None,
                };
                m.latencies.push(sent.elapsed());
                if got.as_deref() == Some(value.as_str()) {
                    m.ok += 2;
                } else {
                    m.failed += 1;
                }
                i += 1;
            }
            m
        }));
    }
    let mut all = Measured {
        ok: 0,
        failed: 0,
        latencies: Vec::new(),
    };
    for t in tasks {
        let m = t.await.expect("honest client");
        all.ok += m.ok;
        all.failed += m.failed;
        all.latencies.extend(m.latencies);
    }
    all
}

/// Opens a connection and sends nothing.
async fn idle(addr: std::net::SocketAddr, stop: Arc<AtomicBool>, fate: Arc<Fate>) {
    let Ok(mut s) = TcpStream::connect(addr).await else {
        return;
    };
    fate.idle_open.fetch_add(1, Ordering::Relaxed);
    let mut buf = [0u8; 64];
    while !stop.load(Ordering::Relaxed) {
        match tokio::time::timeout(Duration::from_millis(500), s.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => {
                fate.idle_open.fetch_sub(1, Ordering::Relaxed);
                return;
            }
            _ => {}
        }
    }
}

/// Sends a request line, then one header byte a second; counts a close by the server.
async fn slow(addr: std::net::SocketAddr, stop: Arc<AtomicBool>, fate: Arc<Fate>) {
    let Ok(mut s) = TcpStream::connect(addr).await else {
        return;
    };
    if s.write_all(b"GET /api/v1/branches HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
        .await
        .is_err()
    {
        return;
    }
    while !stop.load(Ordering::Relaxed) {
        if s.write_all(b"a").await.is_err() || closed(&mut s).await {
            fate.slow_closed.fetch_add(1, Ordering::Relaxed);
            return;
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

/// A PUT announcing a megabyte, sent a byte a second.
async fn slow_body(addr: std::net::SocketAddr, i: usize, stop: Arc<AtomicBool>, fate: Arc<Fate>) {
    let Ok(mut s) = TcpStream::connect(addr).await else {
        return;
    };
    let head = format!(
        "PUT /api/v1/branches/main/values/slow/{i} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 1000000\r\n\r\n"
    );
    if s.write_all(head.as_bytes()).await.is_err() {
        return;
    }
    while !stop.load(Ordering::Relaxed) {
        if s.write_all(b"x").await.is_err() || closed(&mut s).await {
            fate.body_closed.fetch_add(1, Ordering::Relaxed);
            return;
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

/// Whether the server closed (or answered and closed) the connection.
async fn closed(s: &mut TcpStream) -> bool {
    let mut buf = [0u8; 512];
    matches!(
        tokio::time::timeout(Duration::from_millis(10), s.read(&mut buf)).await,
        Ok(Ok(0)) | Ok(Err(_))
    )
}

/// Random bytes as a request, again and again.
async fn garbage(addr: std::net::SocketAddr, seed: u64, stop: Arc<AtomicBool>, fate: Arc<Fate>) {
    let mut x = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    while !stop.load(Ordering::Relaxed) {
        let Ok(mut s) = TcpStream::connect(addr).await else {
            tokio::time::sleep(Duration::from_millis(10)).await;
            continue;
        };
        let bytes: Vec<u8> = (0..512)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as u8
            })
            .collect();
        let mut request = b"POST /git/git-upload-pack HTTP/1.1\r\nHost: 127.0.0.1\r\n".to_vec();
        request.extend_from_slice(&bytes);
        let _ = s.write_all(&request).await;
        let mut sink = Vec::new();
        let _ = tokio::time::timeout(Duration::from_secs(2), s.read_to_end(&mut sink)).await;
        fate.garbage.fetch_add(1, Ordering::Relaxed);
    }
}

/// Well-formed HTTP carrying malformed pkt-lines to upload-pack.
async fn bad_pkt_lines(addr: std::net::SocketAddr, stop: Arc<AtomicBool>, fate: Arc<Fate>) {
    let client = reqwest::Client::builder().no_proxy().build().expect("client");
    let bodies: [&[u8]; 4] = [
        b"zzzzwant 0000",
        b"0032want 0123456789012345678901234567890123456789\n0000",
        b"0014command=fetch\n0001ffff",
        b"0009done\n0000000",
    ];
    let mut n = 0;
    while !stop.load(Ordering::Relaxed) {
        let _ = client
            .post(format!("http://{addr}/git/git-upload-pack"))
            .header("Content-Type", "application/x-git-upload-pack-request")
            .header("Git-Protocol", if n % 2 == 0 { "version=2" } else { "" })
            .body(bodies[n % bodies.len()])
            .send()
            .await;
        n += 1;
        fate.bad_pkt.fetch_add(1, Ordering::Relaxed);
    }
}

/// The peak resident set (`VmHWM`) of process `pid`, on Linux.
fn peak_rss_mib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024)
}
