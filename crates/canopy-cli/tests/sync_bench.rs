//! Benchmark (ignored by default): cloning a 10,000-commit store over loopback from
//! `canopy serve` against cloning the same repository from stock `git http-backend`, with `git
//! clone` and `canopy clone` as clients. Run:
//!
//! ```sh
//! cargo test --release -p canopy-cli --test sync_bench -- --ignored --nocapture
//! ```
//!
//! `git http-backend` runs as CGI behind the small threaded HTTP host below (one process per
//! request, as a web server runs it). `CANOPY_SYNC_BENCH_COMMITS` (10,000) and
//! `CANOPY_SYNC_BENCH_RUNS` (5) change the size and the repetitions; each clone's peak resident
//! memory is printed beside its time.

mod common;

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use common::Sandbox;

fn knob(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Runs `cmd` to its end; its time in seconds and its peak resident memory in MiB.
fn timed(mut cmd: Command) -> (f64, f64) {
    use std::os::unix::process::ExitStatusExt;
    cmd.stdout(Stdio::null()).stderr(Stdio::inherit());
    let t = Instant::now();
    // Reaped by `wait4` below, which also reports its memory.
    #[allow(clippy::zombie_processes)]
    let child = cmd.spawn().unwrap();
    let mut status = 0;
    // SAFETY: `rusage` is plain data, and `wait4` fills it for this child only.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let pid = unsafe { libc::wait4(child.id() as i32, &mut status, 0, &mut usage) };
    let elapsed = t.elapsed().as_secs_f64();
    assert_eq!(pid, child.id() as i32);
    assert!(
        std::process::ExitStatus::from_raw(status).success(),
        "{cmd:?} failed"
    );
    (elapsed, usage.ru_maxrss as f64 / 1024.0)
}

fn fast_import(sb: &Sandbox, repo: &Path, commits: usize) {
    let mut script = String::new();
    for i in 0..commits {
        let value = format!("value {i}\n");
        script.push_str(&format!(
            "commit refs/heads/main\nmark :{}\ncommitter B <b@example.com> {} +0000\ndata 2\nc\n",
            i + 1,
            1_700_000_000 + i
        ));
        if i > 0 {
            script.push_str(&format!("from :{i}\n"));
        }
        script.push_str(&format!(
            "M 100644 inline items/{}/{}\ndata {}\n{value}\n",
            (i / 10) % 10,
            i % 10,
            value.len()
        ));
    }
    sb.git_with(repo, &["fast-import", "--quiet"], &[], Some(script.as_bytes()))
        .ok();
}

fn serve_cgi(root: PathBuf) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for conn in listener.incoming().flatten() {
            let root = root.clone();
            std::thread::spawn(move || {
                let _ = cgi_one(conn, &root);
            });
        }
    });
    port
}

fn cgi_one(conn: TcpStream, root: &Path) -> std::io::Result<()> {
    let mut reader = BufReader::new(conn.try_clone()?);
    let mut line = String::new();
    reader.read_line(&mut line)?;
    let mut parts = line.split_whitespace();
    let method = parts.next().unwrap_or("").to_string();
    let target = parts.next().unwrap_or("").to_string();
    let (path, query) = target.split_once('?').unwrap_or((&target, ""));
    let mut headers = HashMap::new();
    loop {
        let mut h = String::new();
        reader.read_line(&mut h)?;
        if h.trim().is_empty() {
            break;
        }
        if let Some((k, v)) = h.split_once(':') {
            headers.insert(k.trim().to_ascii_lowercase(), v.trim().to_string());
        }
    }
    let mut body = Vec::new();
    if headers
        .get("transfer-encoding")
        .is_some_and(|v| v.eq_ignore_ascii_case("chunked"))
    {
        loop {
            let mut size = String::new();
            reader.read_line(&mut size)?;
            let n = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
            if n == 0 {
                reader.read_line(&mut size)?;
                break;
            }
            let mut chunk = vec![0; n + 2];
            reader.read_exact(&mut chunk)?;
            body.extend_from_slice(&chunk[..n]);
        }
    } else if let Some(n) = headers.get("content-length").and_then(|v| v.parse().ok()) {
        body.resize(n, 0);
        reader.read_exact(&mut body)?;
    }
    let mut cmd = Command::new("git");
    cmd.arg("http-backend")
        .env("GIT_PROJECT_ROOT", root)
        .env("GIT_HTTP_EXPORT_ALL", "1")
        .env("REQUEST_METHOD", &method)
        .env("PATH_INFO", path)
        .env("QUERY_STRING", query)
        .env("REMOTE_USER", "bench")
        .env("CONTENT_LENGTH", body.len().to_string())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    for (h, env) in [
        ("content-type", "CONTENT_TYPE"),
        ("git-protocol", "GIT_PROTOCOL"),
        ("content-encoding", "HTTP_CONTENT_ENCODING"),
    ] {
        if let Some(v) = headers.get(h) {
            cmd.env(env, v);
        }
    }
    let mut child = cmd.spawn()?;
    let mut stdin = child.stdin.take().unwrap();
    let feeder = std::thread::spawn(move || stdin.write_all(&body));
    let out = child.wait_with_output()?;
    let _ = feeder.join();
    let raw = out.stdout;
    let at = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|p| (p, 4))
        .or_else(|| raw.windows(2).position(|w| w == b"\n\n").map(|p| (p, 2)));
    let Some((at, sep)) = at else { return Ok(()) };
    let mut status = "200 OK".to_string();
    let mut head = String::new();
    for l in String::from_utf8_lossy(&raw[..at]).lines() {
        match l.split_once(':') {
            Some((k, v)) if k.eq_ignore_ascii_case("status") => status = v.trim().to_string(),
            Some(_) => head.push_str(&format!("{l}\r\n")),
            None => {}
        }
    }
    let body = &raw[at + sep..];
    let mut conn = conn;
    write!(
        conn,
        "HTTP/1.1 {status}\r\n{head}Content-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )?;
    conn.write_all(body)
}

#[test]
#[ignore]
fn clone_10k_commits_canopy_serve_vs_git_http_backend() {
    let commits = knob("CANOPY_SYNC_BENCH_COMMITS", 10_000);
    let runs = knob("CANOPY_SYNC_BENCH_RUNS", 5);
    let sb = Sandbox::new();
    let root = sb.path("srv");
    std::fs::create_dir(&root).unwrap();
    sb.git_ok(&root, &["init", "-q", "--bare", "-b", "main", "repo.git"]);
    let repo = root.join("repo.git");
    fast_import(&sb, &repo, commits);
    assert_eq!(
        sb.git_str(&repo, &["rev-list", "--count", "main"]),
        commits.to_string()
    );
    let objects = sb.git_str(&repo, &["count-objects", "-v"]);

    let mut serve = sb.canopy_command(&repo, &["serve", "--addr", "127.0.0.1:0"]);
    serve.stdout(Stdio::piped()).stderr(Stdio::null());
    let mut child = serve.spawn().unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let addr = line
        .split("http://")
        .nth(1)
        .and_then(|r| r.split('/').next())
        .unwrap()
        .to_string();
    let canopy_url = format!("http://{addr}/git");
    let git_url = format!("http://127.0.0.1:{}/repo.git", serve_cgi(root.clone()));
    let top = sb.path("");

    println!("\nclone of {commits} commits over loopback (best of {runs}); the store: {objects:?}");
    let run = |what: &str, git_client: bool, url: &str, dir: &str| -> f64 {
        let (mut best, mut peak) = (f64::MAX, 0f64);
        for i in 0..runs {
            let target = format!("{dir}-{i}");
            let cmd = if git_client {
                sb.git_command(&top, &["clone", "-q", "--bare", url, &target])
            } else {
                let mut cmd = sb.canopy_command(&top, &["clone", "-q", url, &target]);
                cmd.current_dir(&top);
                cmd
            };
            let (time, rss) = timed(cmd);
            best = best.min(time);
            peak = peak.max(rss);
            if i + 1 < runs {
                std::fs::remove_dir_all(sb.path(&target)).unwrap();
            }
        }
        println!("{what:<48} {best:>8.2} s, peak RSS {peak:.0} MiB");
        best
    };
    let a = run("git clone    <- canopy serve", true, &canopy_url, "g-from-canopy");
    let b = run("git clone    <- git http-backend", true, &git_url, "g-from-git");
    let c = run(
        "canopy clone <- canopy serve",
        false,
        &canopy_url,
        "c-from-canopy",
    );
    let d = run("canopy clone <- git http-backend", false, &git_url, "c-from-git");
    println!("ratio (canopy serve / http-backend), git client:    {:.2}", a / b);
    println!("ratio (canopy serve / http-backend), canopy client: {:.2}", c / d);
    for dir in ["g-from-canopy", "g-from-git", "c-from-canopy", "c-from-git"] {
        let dir = format!("{dir}-{}", runs - 1);
        let size: u64 = std::fs::read_dir(sb.path(&dir).join("objects/pack"))
            .unwrap()
            .flatten()
            .map(|e| e.metadata().map(|m| m.len()).unwrap_or(0))
            .sum();
        println!("{dir:<20} pack + idx bytes {size}");
        assert_eq!(
            sb.git_str(&sb.path(&dir), &["rev-list", "--count", "main"]),
            commits.to_string()
        );
    }
    let _ = child.kill();
    let _ = child.wait();
}
