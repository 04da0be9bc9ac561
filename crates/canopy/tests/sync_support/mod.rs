//! Test helpers for the sync tests: a tiny threaded HTTP/1.1 server (Content-Length and chunked
//! request bodies, one request per connection) that serves either Canopy's smart-HTTP
//! functions or stock `git http-backend` as a CGI program, and a `git` runner.
#![allow(dead_code)]

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use canopy::sync::http::{self, Body, RequestHeaders};
use canopy::Repo;

pub struct Request {
    pub method: String,
    pub path: String,
    pub query: String,
    pub headers: HashMap<String, String>,
    pub body: Vec<u8>,
}

pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

pub type Handler = Arc<dyn Fn(Request) -> Reply + Send + Sync>;

pub struct Server {
    pub port: u16,
    stop: Arc<AtomicBool>,
}

impl Server {
    pub fn start(handler: Handler) -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let stop = Arc::new(AtomicBool::new(false));
        let stop2 = stop.clone();
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                if stop2.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(conn) = conn else { continue };
                let h = handler.clone();
                std::thread::spawn(move || {
                    let _ = serve_one(conn, &h);
                });
            }
        });
        Server { port, stop }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(("127.0.0.1", self.port));
    }
}

fn serve_one(conn: TcpStream, handler: &Handler) -> std::io::Result<()> {
    conn.set_read_timeout(Some(Duration::from_secs(60)))?;
    let mut reader = BufReader::new(conn.try_clone()?);
    let mut line = String::new();
    reader.read_line(&mut line)?;
    let mut parts = line.trim_end().split(' ');
    let method = parts.next().unwrap_or("").to_string();
    let target = parts.next().unwrap_or("").to_string();
    let (path, query) = target
        .split_once('?')
        .map_or((target.clone(), String::new()), |(p, q)| {
            (p.to_string(), q.to_string())
        });
    let mut headers = HashMap::new();
    loop {
        let mut h = String::new();
        reader.read_line(&mut h)?;
        let h = h.trim_end();
        if h.is_empty() {
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
            let n = usize::from_str_radix(size.trim().split(';').next().unwrap_or("0"), 16).unwrap_or(0);
            if n == 0 {
                let mut end = String::new();
                reader.read_line(&mut end)?;
                break;
            }
            let mut chunk = vec![0u8; n];
            reader.read_exact(&mut chunk)?;
            body.extend_from_slice(&chunk);
            let mut crlf = [0u8; 2];
            reader.read_exact(&mut crlf)?;
        }
    } else if let Some(n) = headers
        .get("content-length")
        .and_then(|v| v.parse::<usize>().ok())
    {
        body.resize(n, 0);
        reader.read_exact(&mut body)?;
    }
    if headers
        .get("expect")
        .is_some_and(|v| v.eq_ignore_ascii_case("100-continue"))
    {
        // Handled above by reading the body; curl waits briefly then sends anyway.
    }
    let reply = handler(Request {
        method,
        path,
        query,
        headers,
        body,
    });
    let mut out = conn;
    let reason = match reply.status {
        200 => "OK",
        400 => "Bad Request",
        403 => "Forbidden",
        404 => "Not Found",
        415 => "Unsupported Media Type",
        _ => "Status",
    };
    write!(out, "HTTP/1.1 {} {reason}\r\n", reply.status)?;
    for (k, v) in &reply.headers {
        write!(out, "{k}: {v}\r\n")?;
    }
    write!(
        out,
        "Content-Length: {}\r\nConnection: close\r\n\r\n",
        reply.body.len()
    )?;
    out.write_all(&reply.body)?;
    out.flush()
}

/// Serves the Canopy store at `root` under `/git`.
pub fn canopy_handler(root: PathBuf) -> Handler {
    Arc::new(move |req: Request| {
        let repo = match Repo::open(&root) {
            Ok(r) => r,
            Err(e) => return text(500, &e.to_string()),
        };
        let headers = RequestHeaders {
            content_type: req.headers.get("content-type").cloned(),
            content_encoding: req.headers.get("content-encoding").cloned(),
            git_protocol: req.headers.get("git-protocol").cloned(),
        };
        let resp = match (req.method.as_str(), req.path.as_str()) {
            ("GET", "/git/info/refs") => {
                let service = req
                    .query
                    .split('&')
                    .find_map(|kv| kv.strip_prefix("service="))
                    .map(str::to_string);
                http::info_refs(&repo, service.as_deref(), headers.git_protocol.as_deref())
            }
            ("POST", "/git/git-upload-pack") => http::upload_pack(&repo, &mut &req.body[..], &headers),
            ("POST", "/git/git-receive-pack") => http::receive_pack(&repo, &mut &req.body[..], &headers),
            _ => return text(404, "not found"),
        };
        let mut hs = resp.headers.clone();
        hs.push(("Content-Type".into(), resp.content_type.clone()));
        let body = match resp.body {
            Body::Bytes(b) => b,
            Body::Stream(f) => {
                let mut v = Vec::new();
                f(&mut v).unwrap();
                v
            }
        };
        Reply {
            status: resp.status,
            headers: hs,
            body,
        }
    })
}

fn text(status: u16, msg: &str) -> Reply {
    Reply {
        status,
        headers: vec![("Content-Type".into(), "text/plain".into())],
        body: format!("{msg}\n").into_bytes(),
    }
}

/// Serves every repository under `project_root` through `git http-backend` (CGI), pushes
/// enabled, at `/<repo path>`.
pub fn cgi_handler(project_root: PathBuf) -> Handler {
    Arc::new(move |req: Request| {
        let mut cmd = Command::new("git");
        cmd.arg("http-backend")
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("GIT_PROJECT_ROOT", &project_root)
            .env("GIT_HTTP_EXPORT_ALL", "1")
            .env("REQUEST_METHOD", &req.method)
            .env("PATH_INFO", &req.path)
            .env("QUERY_STRING", &req.query)
            .env("REMOTE_USER", "tester")
            .env("REMOTE_ADDR", "127.0.0.1")
            .env("CONTENT_LENGTH", req.body.len().to_string())
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("HOME", &project_root)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        if let Some(ct) = req.headers.get("content-type") {
            cmd.env("CONTENT_TYPE", ct);
        }
        if let Some(p) = req.headers.get("git-protocol") {
            cmd.env("GIT_PROTOCOL", p);
            cmd.env("HTTP_GIT_PROTOCOL", p);
        }
        if let Some(e) = req.headers.get("content-encoding") {
            cmd.env("HTTP_CONTENT_ENCODING", e);
        }
        let mut child = cmd.spawn().unwrap();
        let mut stdin = child.stdin.take().unwrap();
        let body = req.body.clone();
        let writer = std::thread::spawn(move || {
            let _ = stdin.write_all(&body);
        });
        let out = child.wait_with_output().unwrap();
        let _ = writer.join();
        // CGI output: headers, blank line, body.
        let raw = out.stdout;
        let split = raw
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .map(|p| (p, 4))
            .or_else(|| raw.windows(2).position(|w| w == b"\n\n").map(|p| (p, 2)));
        let Some((at, sep)) = split else {
            return text(500, &String::from_utf8_lossy(&out.stderr));
        };
        let mut status = 200;
        let mut headers = Vec::new();
        for line in String::from_utf8_lossy(&raw[..at]).lines() {
            if let Some((k, v)) = line.split_once(':') {
                if k.eq_ignore_ascii_case("status") {
                    status = v
                        .trim()
                        .split(' ')
                        .next()
                        .and_then(|s| s.parse().ok())
                        .unwrap_or(500);
                } else {
                    headers.push((k.trim().to_string(), v.trim().to_string()));
                }
            }
        }
        Reply {
            status,
            headers,
            body: raw[at + sep..].to_vec(),
        }
    })
}

/// Runs git in `dir` with a clean, deterministic environment; panics with its output on failure.
pub fn git(dir: &Path, args: &[&str]) -> String {
    let out = git_output(dir, args);
    assert!(
        out.status.success(),
        "git {args:?} failed:\nstdout: {}\nstderr: {}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

pub fn git_output(dir: &Path, args: &[&str]) -> std::process::Output {
    Command::new("git")
        .args(args)
        .current_dir(dir)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_AUTHOR_NAME", "Tester")
        .env("GIT_AUTHOR_EMAIL", "tester@example.com")
        .env("GIT_COMMITTER_NAME", "Tester")
        .env("GIT_COMMITTER_EMAIL", "tester@example.com")
        .env("GIT_TERMINAL_PROMPT", "0")
        .env_remove("GIT_DIR")
        .output()
        .unwrap()
}

/// Sends raw bytes as one HTTP request and returns (status, body).
pub fn raw_post(
    port: u16,
    path: &str,
    content_type: &str,
    extra_headers: &[(&str, &str)],
    body: &[u8],
) -> (u16, Vec<u8>) {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    let mut req = format!(
        "POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (k, v) in extra_headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    s.write_all(req.as_bytes()).unwrap();
    s.write_all(body).unwrap();
    let mut resp = Vec::new();
    s.read_to_end(&mut resp).unwrap();
    let head_end = resp.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
    let status: u16 = String::from_utf8_lossy(&resp[9..12]).parse().unwrap();
    (status, resp[head_end + 4..].to_vec())
}
