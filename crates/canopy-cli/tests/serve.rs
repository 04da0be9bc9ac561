//! `canopy serve` and `canopy token` from the command line: the default store, the printed
//! URL, tokens created by the CLI being required by the server, and the loopback rule.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

fn canopy(dir: &Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_canopy"));
    cmd.current_dir(dir)
        .env_remove("CANOPY_ROOT")
        .env_remove("CANOPY_AUTHOR");
    cmd
}

fn run(dir: &Path, args: &[&str]) -> Output {
    canopy(dir).args(args).output().unwrap()
}

/// A running `canopy serve` and the address it printed.
struct Serving {
    child: Child,
    addr: String,
}

impl Drop for Serving {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn serve(dir: &Path, args: &[&str]) -> Serving {
    let mut child = canopy(dir)
        .arg("serve")
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let addr = line
        .split("http://")
        .nth(1)
        .and_then(|rest| rest.split('/').next())
        .unwrap_or_else(|| panic!("no URL in {line:?}"))
        .to_string();
    Serving { child, addr }
}

/// One HTTP/1.1 request; the status and body.
fn http(addr: &str, method: &str, path: &str, headers: &[&str], body: &[u8]) -> (u16, String) {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let mut head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for h in headers {
        head.push_str(h);
        head.push_str("\r\n");
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes()).unwrap();
    stream.write_all(body).unwrap();
    let mut out = String::new();
    stream.read_to_string(&mut out).unwrap();
    let status = out.split(' ').nth(1).unwrap().parse().unwrap();
    let body = out
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (status, body)
}

#[test]
fn serve_creates_the_default_store_and_answers() {
    let dir = tempfile::tempdir().unwrap();
    let server = serve(dir.path(), &["--addr", "127.0.0.1:0"]);
    assert!(
        dir.path().join("canopy-data/HEAD").is_file(),
        "./canopy-data was created"
    );
    let (status, body) = http(&server.addr, "GET", "/healthz", &[], b"");
    assert_eq!((status, body.as_str()), (200, r#"{"status":"ok"}"#));
    let (status, body) = http(
        &server.addr,
        "PUT",
        "/api/v1/branches/main/values/a/b",
        &[],
        b"hello",
    );
    assert_eq!(status, 200, "{body}");
    // The CLI sees the value in the same store.
    let out = run(dir.path(), &["--root", "canopy-data", "get", "a/b"]);
    assert_eq!(out.stdout, b"hello");
}

#[test]
fn tokens_made_by_the_cli_are_required_by_the_server() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store");
    assert!(run(dir.path(), &["--root", store.to_str().unwrap(), "init"])
        .status
        .success());
    let root = ["--root", store.to_str().unwrap()];
    let out = run(
        dir.path(),
        &[
            &root[..],
            &["token", "create", "ci", "--read", "*", "--write", "feature/*"],
        ]
        .concat(),
    );
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let token = String::from_utf8(out.stdout).unwrap().trim().to_string();
    assert!(token.starts_with("cnp_"));
    let config = std::fs::read_to_string(store.join("config")).unwrap();
    assert!(!config.contains(&token), "only the hash is stored");
    let out = run(dir.path(), &[&root[..], &["token", "list"]].concat());
    assert_eq!(
        String::from_utf8(out.stdout).unwrap(),
        "ci\tread=*\twrite=feature/*\n"
    );
    let out = run(
        dir.path(),
        &[&root[..], &["token", "create", "ci", "--read", "*"]].concat(),
    );
    assert_eq!(out.status.code(), Some(2), "a second 'ci' is refused");

    let server = serve(dir.path(), &[&root[..], &["--addr", "127.0.0.1:0"]].concat());
    let (status, _) = http(&server.addr, "GET", "/api/v1/branches", &[], b"");
    assert_eq!(status, 401);
    let auth = format!("Authorization: Bearer {token}");
    let (status, _) = http(
        &server.addr,
        "PUT",
        "/api/v1/branches/main/values/k",
        &[&auth],
        b"v",
    );
    assert_eq!(status, 403);
    let (status, _) = http(&server.addr, "GET", "/api/v1/branches", &[&auth], b"");
    assert_eq!(status, 200);

    let out = run(dir.path(), &[&root[..], &["token", "revoke", "ci"]].concat());
    assert!(out.status.success());
    let (status, _) = http(&server.addr, "GET", "/api/v1/branches", &[&auth], b"");
    assert_eq!(status, 200, "no token left: a loopback server lets everyone in");
    let out = run(dir.path(), &[&root[..], &["token", "revoke", "ci"]].concat());
    assert_eq!(out.status.code(), Some(1));
}

#[test]
fn a_public_address_without_tokens_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let out = run(dir.path(), &["serve", "--addr", "0.0.0.0:0"]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("--allow-anonymous"), "{err}");
    let out = run(dir.path(), &["serve", "--addr", "not an address"]);
    assert_eq!(out.status.code(), Some(2));
}
