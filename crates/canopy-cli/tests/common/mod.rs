//! Helpers shared by the CLI tests: run the built `canopy` binary and the real `git` binary (the
//! reference implementation) inside a sandbox directory.
//!
//! Every process gets a private `HOME` and no system configuration, and inherits no `GIT_*` or
//! `CANOPY_*` variable from the caller, so a developer's own git setup cannot change what a test
//! sees. Each `canopy` call gets a later author/committer date than the one before, so histories
//! are reproducible and strictly ordered in time.

#![allow(dead_code)]

use std::io::{BufRead, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, Instant};

/// A process that runs longer than this is killed and the test fails (a hang is a bug too).
pub const TIMEOUT: Duration = Duration::from_secs(180);

/// The first date given to a `canopy` commit (2023-11-14), in seconds since the epoch.
const FIRST_DATE: i64 = 1_700_000_000;

/// What a finished process left behind.
pub struct Run {
    pub what: String,
    pub code: i32,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
}

impl std::fmt::Debug for Run {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "`{}` exited with {}\n--- stdout ---\n{}\n--- stderr ---\n{}",
            self.what,
            self.code,
            String::from_utf8_lossy(&self.stdout),
            String::from_utf8_lossy(&self.stderr)
        )
    }
}

impl Run {
    /// Asserts exit status 0 and returns the run.
    #[track_caller]
    pub fn ok(self) -> Run {
        assert_eq!(self.code, 0, "expected success: {self:?}");
        self
    }

    /// Asserts the given exit status and returns the run.
    #[track_caller]
    pub fn code(self, expected: i32) -> Run {
        assert_eq!(self.code, expected, "expected exit code {expected}: {self:?}");
        self
    }

    /// Standard output as text (it must be UTF-8).
    #[track_caller]
    pub fn out(&self) -> String {
        match String::from_utf8(self.stdout.clone()) {
            Ok(s) => s,
            Err(_) => panic!("stdout is not UTF-8: {self:?}"),
        }
    }

    /// Standard error as text (lossy).
    pub fn err(&self) -> String {
        String::from_utf8_lossy(&self.stderr).into_owned()
    }

    /// Standard output split into lines (without their newlines).
    #[track_caller]
    pub fn lines(&self) -> Vec<String> {
        self.out().lines().map(str::to_string).collect()
    }

    /// Standard output parsed as one JSON document.
    #[track_caller]
    pub fn json(&self) -> serde_json::Value {
        match serde_json::from_slice(&self.stdout) {
            Ok(v) => v,
            Err(e) => panic!("stdout is not JSON ({e}): {self:?}"),
        }
    }

    /// Asserts that the process did not panic (Rust prints "panicked" on a panic) and was not
    /// killed by a signal.
    #[track_caller]
    pub fn assert_no_panic(&self) {
        assert!(!self.err().contains("panicked"), "the process panicked: {self:?}");
        assert!(self.code >= 0, "the process was killed by a signal: {self:?}");
        assert!(
            self.code != 101,
            "exit code 101 is Rust's panic exit code: {self:?}"
        );
    }

    /// Asserts the shape of a failure report: no panic, nothing on stdout that a script could
    /// mistake for a result, and one line on stderr that starts with `canopy:`.
    #[track_caller]
    pub fn assert_one_line_error(&self) {
        self.assert_no_panic();
        let err = self.err();
        assert!(
            err.starts_with("canopy:"),
            "stderr must start with 'canopy:': {self:?}"
        );
        assert_eq!(
            err.trim_end().lines().count(),
            1,
            "stderr must be one line: {self:?}"
        );
    }
}

/// Runs `cmd` with `stdin` as its standard input, collecting its output; kills it after
/// [`TIMEOUT`].
pub fn run(mut cmd: Command, what: String, stdin: Option<&[u8]>) -> Run {
    cmd.stdin(if stdin.is_some() {
        Stdio::piped()
    } else {
        Stdio::null()
    })
    .stdout(Stdio::piped())
    .stderr(Stdio::piped());
    let mut child = cmd
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start `{what}`: {e}"));
    let feeder = stdin.map(|bytes| {
        let mut pipe = child.stdin.take().expect("stdin is piped");
        let bytes = bytes.to_vec();
        std::thread::spawn(move || {
            // The process may exit without reading everything; that is its business.
            let _ = pipe.write_all(&bytes);
        })
    });
    let mut out_pipe = child.stdout.take().expect("stdout is piped");
    let mut err_pipe = child.stderr.take().expect("stderr is piped");
    let out_reader = std::thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = out_pipe.read_to_end(&mut buf);
        buf
    });
    let err_reader = std::thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = err_pipe.read_to_end(&mut buf);
        buf
    });
    let deadline = Instant::now() + TIMEOUT;
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if Instant::now() > deadline => {
                let _ = child.kill();
                let _ = child.wait();
                panic!("`{what}` did not finish within {TIMEOUT:?}");
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(5)),
            Err(e) => panic!("waiting for `{what}`: {e}"),
        }
    };
    if let Some(f) = feeder {
        let _ = f.join();
    }
    let stdout = out_reader.join().expect("stdout reader");
    let stderr = err_reader.join().expect("stderr reader");
    // A process killed by a signal has no code; report it as a negative number.
    let code = status.code().unwrap_or_else(|| {
        use std::os::unix::process::ExitStatusExt;
        -status.signal().unwrap_or(1)
    });
    Run {
        what,
        code,
        stdout,
        stderr,
    }
}

/// Removes every inherited variable that would change what `git` or `canopy` do.
fn scrub(cmd: &mut Command) {
    for (key, _) in std::env::vars_os() {
        let k = key.to_string_lossy();
        if k.starts_with("GIT_") || k.starts_with("CANOPY_") || k == "RUST_LOG" || k == "EMAIL" {
            cmd.env_remove(&key);
        }
    }
}

/// A private directory for one test: stores, clones and the `HOME` of every process.
pub struct Sandbox {
    tmp: tempfile::TempDir,
    home: PathBuf,
    clock: AtomicI64,
}

impl Default for Sandbox {
    fn default() -> Sandbox {
        Sandbox::new()
    }
}

impl Sandbox {
    pub fn new() -> Sandbox {
        let tmp = tempfile::tempdir().expect("temporary directory");
        let home = tmp.path().join("home");
        std::fs::create_dir(&home).expect("home directory");
        Sandbox {
            tmp,
            home,
            clock: AtomicI64::new(FIRST_DATE),
        }
    }

    /// A path inside the sandbox.
    pub fn path(&self, rel: &str) -> PathBuf {
        self.tmp.path().join(rel)
    }

    /// A `git` command run in `dir` with a fixed identity and no global or system config.
    pub fn git_command(&self, dir: &Path, args: &[&str]) -> Command {
        let mut cmd = Command::new("git");
        scrub(&mut cmd);
        cmd.current_dir(dir)
            .args(args)
            .env("HOME", &self.home)
            .env("XDG_CONFIG_HOME", self.home.join(".config"))
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("GIT_AUTHOR_NAME", "Grace Git")
            .env("GIT_AUTHOR_EMAIL", "grace@example.com")
            .env("GIT_COMMITTER_NAME", "Grace Git")
            .env("GIT_COMMITTER_EMAIL", "grace@example.com")
            .env("GIT_TERMINAL_PROMPT", "0")
            .env("LC_ALL", "C");
        cmd
    }

    /// Runs `git ARGS` in `dir`.
    pub fn git(&self, dir: &Path, args: &[&str]) -> Run {
        self.git_with(dir, args, &[], None)
    }

    /// Runs `git ARGS` in `dir` and returns its stdout; fails the test if git fails.
    #[track_caller]
    pub fn git_ok(&self, dir: &Path, args: &[&str]) -> Vec<u8> {
        self.git(dir, args).ok().stdout
    }

    /// Runs `git ARGS` in `dir` and returns its stdout as text without the final newline.
    #[track_caller]
    pub fn git_str(&self, dir: &Path, args: &[&str]) -> String {
        let out = self.git(dir, args).ok().out();
        out.strip_suffix('\n').unwrap_or(&out).to_string()
    }

    /// Runs `git ARGS` in `dir` with extra environment variables and standard input.
    pub fn git_with(&self, dir: &Path, args: &[&str], env: &[(&str, &str)], stdin: Option<&[u8]>) -> Run {
        let mut cmd = self.git_command(dir, args);
        for (k, v) in env {
            cmd.env(k, v);
        }
        run(cmd, format!("git {}", args.join(" ")), stdin)
    }

    /// A `canopy --root ROOT ARGS` command with the next commit date.
    pub fn canopy_command(&self, root: &Path, args: &[&str]) -> Command {
        let t = self.clock.fetch_add(60, Ordering::SeqCst);
        let date = format!("{t} +0000");
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_canopy"));
        scrub(&mut cmd);
        cmd.arg("--root")
            .arg(root)
            .args(args)
            .env("HOME", &self.home)
            .env("XDG_CONFIG_HOME", self.home.join(".config"))
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("GIT_AUTHOR_DATE", &date)
            .env("GIT_COMMITTER_DATE", &date)
            .env("RUST_BACKTRACE", "0");
        cmd
    }

    /// Runs `canopy --root ROOT ARGS`.
    pub fn canopy(&self, root: &Path, args: &[&str]) -> Run {
        self.canopy_in(root, args, None)
    }

    /// Runs `canopy --root ROOT ARGS` with `stdin` as standard input.
    pub fn canopy_in(&self, root: &Path, args: &[&str], stdin: Option<&[u8]>) -> Run {
        let cmd = self.canopy_command(root, args);
        run(cmd, format!("canopy {}", args.join(" ")), stdin)
    }

    /// Runs `canopy --root ROOT ARGS`, asserts success and returns stdout as text.
    #[track_caller]
    pub fn canopy_ok(&self, root: &Path, args: &[&str]) -> String {
        self.canopy(root, args).ok().out()
    }

    /// Creates a store with `canopy init` in the sandbox directory `name`.
    #[track_caller]
    pub fn init_store(&self, name: &str, object_format: &str) -> PathBuf {
        let store = self.path(name);
        let run = self
            .canopy(&store, &["init", "--object-format", object_format])
            .ok();
        assert!(
            run.out().starts_with("Initialized empty Canopy store in"),
            "unexpected init output: {run:?}"
        );
        store
    }

    /// The commit a branch points at, as `git rev-parse` sees it.
    #[track_caller]
    pub fn rev_parse(&self, store: &Path, rev: &str) -> String {
        self.git_str(store, &["rev-parse", "--verify", "--quiet", rev])
    }

    /// Asserts that `git fsck --strict` accepts the repository at `dir`: exit status 0 and no
    /// line that reports a problem.
    #[track_caller]
    /// Turns every pack of `store` into loose objects (`git unpack-objects`), as a store
    /// written by `git` or an older Canopy holds them.
    pub fn unpack_all(&self, store: &Path) {
        let pack_dir = store.join("objects/pack");
        let packs: Vec<PathBuf> = std::fs::read_dir(&pack_dir)
            .unwrap()
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|e| e == "pack"))
            .collect();
        for pack in packs {
            let moved = self.path("unpacking.pack");
            std::fs::rename(&pack, &moved).unwrap();
            std::fs::remove_file(pack.with_extension("idx")).unwrap();
            let status = std::process::Command::new("git")
                .args(["unpack-objects", "-q"])
                .current_dir(store)
                .stdin(std::fs::File::open(&moved).unwrap())
                .status()
                .unwrap();
            assert!(status.success(), "git unpack-objects failed");
        }
    }

    pub fn assert_fsck_clean(&self, dir: &Path) {
        let run = self.git(dir, &["fsck", "--strict", "--no-progress", "--no-dangling"]);
        assert_eq!(run.code, 0, "git fsck --strict failed: {run:?}");
        let all = format!("{}{}", run.out(), run.err()).to_lowercase();
        for word in ["error", "warning", "missing", "broken", "bad", "invalid", "fatal"] {
            assert!(
                !all.contains(word),
                "git fsck --strict reported '{word}': {run:?}"
            );
        }
    }
}

/// Splits NUL-terminated output (`git ... -z`) into byte strings.
pub fn split_z(bytes: &[u8]) -> Vec<Vec<u8>> {
    bytes
        .split(|&b| b == 0)
        .filter(|s| !s.is_empty())
        .map(<[u8]>::to_vec)
        .collect()
}

/// Splits text into lines, dropping the final newline.
pub fn lines_of(bytes: &[u8]) -> Vec<String> {
    String::from_utf8_lossy(bytes)
        .lines()
        .map(str::to_string)
        .collect()
}

/// Decodes standard base64 (RFC 4648, with padding).
pub fn base64_decode(s: &str) -> Vec<u8> {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = Vec::new();
    let mut acc: u32 = 0;
    let mut bits = 0;
    for c in s.bytes().filter(|&c| c != b'=') {
        let v = ALPHABET
            .iter()
            .position(|&a| a == c)
            .unwrap_or_else(|| panic!("not base64: {s:?}")) as u32;
        acc = (acc << 6) | v;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    out
}

/// Every file below `dir` (not `.git`), as `/`-separated paths relative to `dir`, with their
/// contents, sorted by path.
pub fn files_below(dir: &Path) -> Vec<(String, Vec<u8>)> {
    fn walk(root: &Path, dir: &Path, out: &mut Vec<(String, Vec<u8>)>) {
        for entry in std::fs::read_dir(dir).expect("read_dir") {
            let entry = entry.expect("dir entry");
            let path = entry.path();
            if path.file_name().is_some_and(|n| n == ".git") {
                continue;
            }
            if entry.file_type().expect("file type").is_dir() {
                walk(root, &path, out);
            } else {
                let rel = path.strip_prefix(root).expect("below root");
                let rel = rel.to_str().expect("UTF-8 name").replace('\\', "/");
                out.push((rel, std::fs::read(&path).expect("read file")));
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, dir, &mut out);
    out.sort();
    out
}

/// A running `canopy serve`, killed when dropped.
pub struct Served {
    child: std::process::Child,
    pub addr: String,
}

impl Served {
    pub fn start(sb: &Sandbox, store: &Path) -> Served {
        Served::start_with(sb, store, |cmd| {
            cmd.stderr(std::process::Stdio::null());
        })
    }

    /// As [`Served::start`], with `configure` applied to the command first (its stderr, its
    /// environment).
    pub fn start_with(sb: &Sandbox, store: &Path, configure: impl FnOnce(&mut Command)) -> Served {
        let mut cmd = sb.canopy_command(store, &["serve", "--addr", "127.0.0.1:0"]);
        configure(&mut cmd);
        cmd.stdout(std::process::Stdio::piped());
        let mut child = cmd.spawn().expect("canopy serve starts");
        let stdout = child.stdout.take().expect("stdout");
        let mut line = String::new();
        std::io::BufReader::new(stdout)
            .read_line(&mut line)
            .expect("serve prints its address");
        let addr = line
            .split("http://")
            .nth(1)
            .and_then(|rest| rest.split('/').next())
            .unwrap_or_else(|| panic!("unexpected serve output: {line}"))
            .to_string();
        Served { child, addr }
    }

    /// The server's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The Git endpoint.
    pub fn url(&self) -> String {
        format!("http://{}/git", self.addr)
    }

    /// One raw HTTP request; returns (status, body).
    pub fn raw(&self, method: &str, path: &str, headers: &[(&str, &str)], body: &[u8]) -> (u16, Vec<u8>) {
        let mut s = std::net::TcpStream::connect(&self.addr).unwrap();
        let mut req = format!(
            "{method} {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nContent-Length: {}\r\n",
            body.len()
        );
        for (k, v) in headers {
            req.push_str(&format!("{k}: {v}\r\n"));
        }
        req.push_str("\r\n");
        s.write_all(req.as_bytes()).unwrap();
        s.write_all(body).unwrap();
        let mut resp = Vec::new();
        s.read_to_end(&mut resp).unwrap();
        let status = String::from_utf8_lossy(&resp[9..12]).parse().unwrap();
        let at = resp.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
        let mut body = resp[at..].to_vec();
        let head = String::from_utf8_lossy(&resp[..at]).to_ascii_lowercase();
        if head.contains("transfer-encoding: chunked") {
            body = dechunk(&body);
        }
        (status, body)
    }
}

fn dechunk(mut data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(eol) = data.windows(2).position(|w| w == b"\r\n") {
        let n = usize::from_str_radix(String::from_utf8_lossy(&data[..eol]).trim(), 16).unwrap_or(0);
        if n == 0 {
            break;
        }
        out.extend_from_slice(&data[eol + 2..eol + 2 + n]);
        data = &data[eol + 4 + n..];
    }
    out
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
