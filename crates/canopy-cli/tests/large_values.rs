//! Values larger than memory should hold: `canopy set` from a pipe, a redirected file or
//! `--file`, `canopy get`, `canopy gc`, the server's `PUT` and `GET`, and `canopy --remote`
//! `set` and `get` against it, each with a value of
//! 256 MiB, each within 64 MiB of memory (the child's peak resident set, from the kernel). What comes back is
//! the value byte for byte, `git` reads it too, and `git fsck --strict` is clean. A value that
//! ends before the size announced is refused and stores nothing.

mod common;

use std::io::{Read, Write};
use std::process::{Command, Stdio};

use common::{Sandbox, Served};

const SIZE: u64 = 256 << 20;
const MEMORY: u64 = 64 << 20;

/// The `i`-th byte of the test value: varied, so that neither compression nor a wrong offset
/// goes unnoticed.
fn byte(i: u64) -> u8 {
    let block = i >> 16;
    (i as u8) ^ (block.wrapping_mul(0x9e37_79b9) >> 7) as u8 ^ ((i >> 8) as u8).rotate_left(3)
}

/// Writes the value's bytes from `start`, `n` of them, to `out` in 64 KiB pieces.
fn write_value(out: &mut impl Write, start: u64, n: u64) -> std::io::Result<()> {
    let mut piece = vec![0u8; 64 << 10];
    let mut at = start;
    while at < start + n {
        let len = (start + n - at).min(piece.len() as u64) as usize;
        for (k, b) in piece[..len].iter_mut().enumerate() {
            *b = byte(at + k as u64);
        }
        out.write_all(&piece[..len])?;
        at += len as u64;
    }
    Ok(())
}

/// Reads all of `input`, checking each byte against the value; the count read.
fn check_value(input: &mut impl Read) -> u64 {
    let mut piece = vec![0u8; 64 << 10];
    let mut at = 0u64;
    loop {
        let n = input.read(&mut piece).unwrap();
        if n == 0 {
            return at;
        }
        for (k, b) in piece[..n].iter().enumerate() {
            assert_eq!(*b, byte(at + k as u64), "byte {} differs", at + k as u64);
        }
        at += n as u64;
    }
}

/// Waits for `child` and returns (exit code, peak resident set in bytes): its `VmHWM`, read
/// every few milliseconds while it runs (the high-water mark only grows, so the last reading is
/// the peak up to a few milliseconds before the end). Not `wait4`'s figure: that counts the
/// pages the child shared with this test process before it ran `canopy`.
fn wait_with_peak(mut child: std::process::Child) -> (i32, u64) {
    let peak = watch_peak(child.id());
    let status = child.wait().unwrap();
    (status.code().unwrap_or(-1), peak.join().unwrap())
}

/// Reads process `pid`'s `VmHWM` every few milliseconds until it has exited; the highest.
fn watch_peak(pid: u32) -> std::thread::JoinHandle<u64> {
    std::thread::spawn(move || {
        let mut peak = 0;
        while let Some(hwm) = hwm_of(pid) {
            peak = peak.max(hwm);
            std::thread::sleep(std::time::Duration::from_millis(3));
        }
        peak
    })
}

/// The peak resident set of a running process (`VmHWM` in `/proc`), if it is still running.
fn hwm_of(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    Some(line.split_whitespace().nth(1)?.parse::<u64>().ok()? * 1024)
}

fn canopy(sb: &Sandbox, store: &std::path::Path, args: &[&str]) -> Command {
    let mut cmd = sb.canopy_command(store, args);
    cmd.stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    cmd
}

/// `canopy get PATH`, its output checked as it streams: (exit code, bytes read, peak memory).
fn get_with_peak(sb: &Sandbox, store: &std::path::Path, path: &str) -> (i32, u64, u64) {
    let mut get = canopy(sb, store, &["get", path]);
    let mut child = get.stdout(Stdio::piped()).spawn().unwrap();
    let peak = watch_peak(child.id());
    let read = check_value(&mut child.stdout.take().unwrap());
    let code = child.wait().unwrap().code().unwrap_or(-1);
    (code, read, peak.join().unwrap())
}

#[test]
fn set_and_get_stream_a_value_larger_than_memory_allows() {
    let sb = Sandbox::new();
    let store = sb.init_store("store", "sha1");

    // From a pipe.
    let mut set = canopy(&sb, &store, &["set", "big/piped", "-"]);
    let mut child = set.stdin(Stdio::piped()).spawn().unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let feeder = std::thread::spawn(move || write_value(&mut stdin, 0, SIZE));
    let (code, peak) = wait_with_peak(child);
    feeder.join().unwrap().unwrap();
    assert_eq!(code, 0, "canopy set from a pipe");
    assert!(
        peak < MEMORY,
        "canopy set of {SIZE} bytes from a pipe peaked at {peak} bytes"
    );
    eprintln!("set from a pipe: peak {} MiB", peak >> 20);

    // From a file, redirected and with --file.
    let file = sb.path("value.bin");
    write_value(
        &mut std::io::BufWriter::new(std::fs::File::create(&file).unwrap()),
        0,
        SIZE,
    )
    .unwrap();
    let mut set = canopy(&sb, &store, &["set", "big/redirected", "-"]);
    set.stdin(std::fs::File::open(&file).unwrap());
    let (code, peak) = wait_with_peak(set.spawn().unwrap());
    assert_eq!(code, 0);
    assert!(peak < MEMORY, "canopy set < file peaked at {peak} bytes");
    let (code, peak) = wait_with_peak(
        canopy(
            &sb,
            &store,
            &["set", "big/file", "--file", file.to_str().unwrap()],
        )
        .spawn()
        .unwrap(),
    );
    assert_eq!(code, 0);
    assert!(peak < MEMORY, "canopy set --file peaked at {peak} bytes");

    // The same value three times: one object, read back whole by `canopy get` and by git.
    for path in ["big/piped", "big/redirected", "big/file"] {
        let (code, read, peak) = get_with_peak(&sb, &store, path);
        assert_eq!((code, read), (0, SIZE), "canopy get {path}");
        assert!(peak < MEMORY, "canopy get {path} peaked at {peak} bytes");
        eprintln!("get {path}: peak {} MiB", peak >> 20);
    }
    // gc leaves the large value loose and unread, in bounded memory.
    let (code, peak) = wait_with_peak(canopy(&sb, &store, &["gc", "--grace", "now"]).spawn().unwrap());
    assert_eq!(code, 0, "canopy gc");
    assert!(peak < MEMORY, "canopy gc peaked at {peak} bytes");
    let ids = sb.git_str(&store, &["rev-parse", "main:big/piped", "main:big/file"]);
    let ids: Vec<&str> = ids.lines().collect();
    assert_eq!(ids[0], ids[1]);
    assert_eq!(sb.git_str(&store, &["cat-file", "-s", ids[0]]), SIZE.to_string());
    assert!(
        store
            .join("objects")
            .join(&ids[0][..2])
            .join(&ids[0][2..])
            .is_file(),
        "still loose after gc"
    );
    let mut git = sb.git_command(&store, &["cat-file", "blob", ids[0]]);
    let mut child = git.stdout(Stdio::piped()).spawn().unwrap();
    assert_eq!(check_value(&mut child.stdout.take().unwrap()), SIZE);
    assert!(child.wait().unwrap().success());
    // `canopy fsck` checks it in bounded memory too.
    let (code, peak) = wait_with_peak(canopy(&sb, &store, &["fsck"]).spawn().unwrap());
    assert_eq!(code, 0, "canopy fsck");
    assert!(peak < MEMORY, "canopy fsck peaked at {peak} bytes");
    // Packed by git (stored whole: one object, no base for a delta), it still streams out.
    sb.git(&store, &["repack", "-a", "-d", "-q"]).ok();
    let loose = store.join("objects").join(&ids[0][..2]).join(&ids[0][2..]);
    assert!(!loose.exists(), "git repack left the value loose");
    let (code, read, peak) = get_with_peak(&sb, &store, "big/file");
    assert_eq!((code, read), (0, SIZE), "canopy get of a packed value");
    assert!(
        peak < MEMORY,
        "canopy get of a packed value peaked at {peak} bytes"
    );
    eprintln!("get from a pack: peak {} MiB", peak >> 20);
    sb.assert_fsck_clean(&store);
    sb.canopy(&store, &["fsck"]).ok();
}

#[test]
fn a_value_cut_short_stores_nothing() {
    let sb = Sandbox::new();
    let store = sb.init_store("store", "sha1");
    sb.canopy(&store, &["set", "k", "v"]).ok();
    let head = sb.rev_parse(&store, "main");
    // A server PUT announcing more bytes than it sends, then closing: nothing is stored.
    let served = Served::start(&sb, &store);
    let mut s = std::net::TcpStream::connect(&served.addr).unwrap();
    write!(
        s,
        "PUT /api/v1/branches/main/values/cut HTTP/1.1\r\nHost: localhost\r\nContent-Length: {}\r\n\r\n",
        64 << 20
    )
    .unwrap();
    write_value(&mut s, 0, 20 << 20).unwrap();
    s.shutdown(std::net::Shutdown::Write).unwrap();
    let mut answer = Vec::new();
    let _ = s.read_to_end(&mut answer);
    drop(served);
    assert_eq!(sb.rev_parse(&store, "main"), head, "no commit");
    let loose_or_spooled: Vec<String> = walk(&store)
        .into_iter()
        .filter(|path| path.rsplit('/').next().is_some_and(|name| name.contains("tmp")))
        .collect();
    assert!(loose_or_spooled.is_empty(), "left behind: {loose_or_spooled:?}");
    sb.assert_fsck_clean(&store);
}

/// Every file name below `dir`.
fn walk(dir: &std::path::Path) -> Vec<String> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let entry = entry.unwrap();
        if entry.file_type().unwrap().is_dir() {
            out.extend(walk(&entry.path()));
        } else {
            out.push(entry.path().display().to_string());
        }
    }
    out
}

#[test]
fn the_server_streams_a_large_value_in_and_out() {
    let sb = Sandbox::new();
    let store = sb.init_store("store", "sha1");
    let served = Served::start(&sb, &store);
    let mut s = std::net::TcpStream::connect(&served.addr).unwrap();
    write!(
        s,
        "PUT /api/v1/branches/main/values/big HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nContent-Length: {SIZE}\r\n\r\n"
    )
    .unwrap();
    write_value(&mut std::io::BufWriter::new(&mut s), 0, SIZE).unwrap();
    let mut answer = String::new();
    s.read_to_string(&mut answer).unwrap();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    let peak = hwm_of(served.pid()).unwrap();
    assert!(peak < MEMORY, "the server peaked at {peak} bytes storing {SIZE}");
    eprintln!("server PUT: peak {} MiB", peak >> 20);

    let mut s = std::net::TcpStream::connect(&served.addr).unwrap();
    write!(
        s,
        "GET /api/v1/branches/main/values/big HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut reader = std::io::BufReader::new(s);
    let mut head = String::new();
    loop {
        let mut line = String::new();
        std::io::BufRead::read_line(&mut reader, &mut line).unwrap();
        if line == "\r\n" {
            break;
        }
        head.push_str(&line);
    }
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert!(
        head.to_ascii_lowercase()
            .contains(&format!("content-length: {SIZE}")),
        "{head}"
    );
    assert_eq!(check_value(&mut reader), SIZE);
    let peak = hwm_of(served.pid()).unwrap();
    assert!(peak < MEMORY, "the server peaked at {peak} bytes serving {SIZE}");
    eprintln!("server GET: peak {} MiB", peak >> 20);

    // The CLI against the server (`--remote`) streams too, both ways.
    let url = format!("http://{}", served.addr);
    let file = sb.path("value.bin");
    write_value(
        &mut std::io::BufWriter::new(std::fs::File::create(&file).unwrap()),
        0,
        SIZE,
    )
    .unwrap();
    let set = canopy(
        &sb,
        &store,
        &[
            "--remote",
            &url,
            "set",
            "remote/big",
            "--file",
            file.to_str().unwrap(),
        ],
    );
    let (code, peak) = wait_with_peak({ set }.spawn().unwrap());
    assert_eq!(code, 0, "canopy --remote set");
    assert!(peak < MEMORY, "canopy --remote set peaked at {peak} bytes");
    let mut get = canopy(&sb, &store, &["--remote", &url, "get", "remote/big"]);
    let mut child = get.stdout(Stdio::piped()).spawn().unwrap();
    let watched = watch_peak(child.id());
    assert_eq!(check_value(&mut child.stdout.take().unwrap()), SIZE);
    assert!(child.wait().unwrap().success());
    let peak = watched.join().unwrap();
    assert!(peak < MEMORY, "canopy --remote get peaked at {peak} bytes");
    eprintln!("--remote get: peak {} MiB", peak >> 20);
    drop(served);
    sb.assert_fsck_clean(&store);
}

/// Anonymous resident memory of a process, in bytes (`RssAnon`: heap and stacks, not mapped
/// files).
fn anon_of(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status.lines().find(|l| l.starts_with("RssAnon:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse::<u64>().unwrap() * 1024
}

/// `streams` watch streams on `main`, open while `commits` PUTs of 27 KB values are made, each
/// read until it has seen every commit, then closed.
fn watch_burst(served: &Served, streams: usize, first: usize, commits: usize) {
    let readers: Vec<_> = (0..streams)
        .map(|_| {
            let mut s = std::net::TcpStream::connect(&served.addr).unwrap();
            s.write_all(b"GET /api/v1/branches/main/watch HTTP/1.1\r\nHost: localhost\r\nAccept: text/event-stream\r\n\r\n")
                .unwrap();
            s.set_read_timeout(Some(std::time::Duration::from_secs(120))).unwrap();
            std::thread::spawn(move || {
                let (mut seen, mut buf) = (Vec::new(), [0u8; 16384]);
                let events = |seen: &[u8]| seen.windows(13).filter(|w| w == b"event: change").count();
                while events(&seen) < commits {
                    let n = s.read(&mut buf).expect("the stream stays open");
                    assert!(n > 0, "the stream ended early");
                    seen.extend_from_slice(&buf[..n]);
                }
            })
        })
        .collect();
    // Every stream is registered before the first commit: 'ready' is sent once it is.
    std::thread::sleep(std::time::Duration::from_secs(1));
    for i in first..first + commits {
        let value: Vec<u8> = format!("{i}-").bytes().cycle().take(27_000).collect();
        let path = format!("/api/v1/branches/main/values/v/{}", i % 20);
        let (status, body) = served.raw(
            "PUT",
            &path,
            &[("Content-Type", "application/octet-stream")],
            &value,
        );
        assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    }
    for r in readers {
        r.join().unwrap();
    }
}

#[test]
fn server_memory_returns_to_its_base_after_watch_streams() {
    const COMMITS: usize = 200;
    let sb = Sandbox::new();
    let store = sb.init_store("store", "sha1");
    let served = Served::start(&sb, &store);
    let pid = served.pid();
    // The base: after one stream has followed the same kind of work (caches are warm, the
    // runtime's threads have come and gone).
    watch_burst(&served, 1, 0, COMMITS);
    std::thread::sleep(std::time::Duration::from_secs(14));
    let base = anon_of(pid);
    watch_burst(&served, 250, COMMITS, COMMITS);
    let during = anon_of(pid);
    // Freed memory is handed back when the last stream ends and again once the runtime's idle
    // blocking threads have gone (about 11 s).
    let started = std::time::Instant::now();
    let mut after = anon_of(pid);
    while after > base + (3 << 20) && started.elapsed() < std::time::Duration::from_secs(20) {
        std::thread::sleep(std::time::Duration::from_millis(500));
        after = anon_of(pid);
    }
    eprintln!(
        "server memory (anonymous): base {} KiB, with 250 streams {} KiB, after {} KiB ({:?})",
        base >> 10,
        during >> 10,
        after >> 10,
        started.elapsed()
    );
    assert!(
        after <= base + (3 << 20),
        "memory did not come back: base {base} bytes, after the streams {after}"
    );
}
