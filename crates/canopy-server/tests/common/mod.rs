//! Test helpers: a real server on a free loopback port over a temporary store, an HTTP
//! client, a raw HTTP/1.1 client for requests an URL library would normalise, and an SSE
//! reader.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::time::Duration;

use canopy::Repo;
use canopy_server::{Limits, ServeOptions, Server};
use futures_util::StreamExt;
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

pub struct TestServer {
    pub url: String,
    pub addr: SocketAddr,
    pub repo: Repo,
    pub client: reqwest::Client,
    _dir: tempfile::TempDir,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

pub async fn start() -> TestServer {
    start_with(Limits::default(), |_| {}).await
}

/// A server over a new store; `setup` runs on the store first (to create tokens, say).
pub async fn start_with(limits: Limits, setup: impl FnOnce(&Repo)) -> TestServer {
    let dir = tempfile::tempdir().unwrap();
    Repo::init(dir.path().join("store")).unwrap();
    // Speed: these tests do not need durability.
    let config = dir.path().join("store/config");
    let mut text = std::fs::read_to_string(&config).unwrap();
    text.push_str("[canopy]\n\tfsync = false\n");
    std::fs::write(&config, text).unwrap();
    let repo = Repo::open(dir.path().join("store")).unwrap();
    setup(&repo);
    let mut opts = ServeOptions::new(repo.clone(), "127.0.0.1:0".parse().unwrap());
    opts.limits = Limits {
        watch_poll_interval: Duration::from_millis(20),
        ..limits
    };
    let server = Server::bind(opts).await.unwrap();
    let addr = server.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(server.run_until(async move {
        let _ = stopped.await;
    }));
    TestServer {
        url: format!("http://{addr}"),
        addr,
        repo,
        client: reqwest::Client::builder().no_proxy().build().unwrap(),
        _dir: dir,
        stop: Some(stop),
    }
}

impl TestServer {
    pub fn api(&self, rest: &str) -> String {
        format!("{}/api/v1/{rest}", self.url)
    }

    pub async fn put(&self, branch: &str, path: &str, value: &str) -> reqwest::Response {
        self.client
            .put(self.api(&format!("branches/{branch}/values/{path}")))
            .body(value.to_string())
            .send()
            .await
            .unwrap()
    }

    /// PUTs and returns the new commit.
    pub async fn set(&self, branch: &str, path: &str, value: &str) -> String {
        let r = self.put(branch, path, value).await;
        assert_eq!(r.status(), 200, "PUT {path}: {}", r.text().await.unwrap());
        let body: Value = r.json().await.unwrap();
        body["commit"].as_str().unwrap().to_string()
    }

    pub async fn get_text(&self, branch: &str, path: &str) -> (u16, String) {
        let r = self
            .client
            .get(self.api(&format!("branches/{branch}/values/{path}")))
            .send()
            .await
            .unwrap();
        (r.status().as_u16(), r.text().await.unwrap())
    }

    pub async fn get_json(&self, rest: &str) -> (u16, Value) {
        let r = self.client.get(self.api(rest)).send().await.unwrap();
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    pub async fn post_json(&self, rest: &str, body: &Value) -> (u16, Value) {
        let r = self.client.post(self.api(rest)).json(body).send().await.unwrap();
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    /// Sends `request_head` (without the final blank line) and `body` on a fresh connection,
    /// exactly as written; returns the status and body.
    pub async fn raw(&self, request_head: &str, body: &[u8]) -> (u16, String) {
        let mut stream = tokio::net::TcpStream::connect(self.addr).await.unwrap();
        let head = format!(
            "{request_head}\r\nHost: {}\r\nConnection: close\r\nContent-Length: {}\r\n\r\n",
            self.addr,
            body.len()
        );
        stream.write_all(head.as_bytes()).await.unwrap();
        stream.write_all(body).await.unwrap();
        let mut out = Vec::new();
        let _ = tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut out)).await;
        let text = String::from_utf8_lossy(&out).into_owned();
        let status = text
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| panic!("no status line in {text:?}"));
        let body = text
            .split_once("\r\n\r\n")
            .map(|(_, b)| b.to_string())
            .unwrap_or_default();
        (status, body)
    }

    pub fn head(&self, branch: &str) -> Option<String> {
        self.repo
            .branch(branch)
            .unwrap()
            .head()
            .unwrap()
            .map(|h| h.to_hex())
    }
}

/// The error code of an error body.
pub fn code(body: &Value) -> &str {
    body["error"]["code"].as_str().unwrap_or("")
}

/// One server-sent event.
#[derive(Debug, Clone)]
pub struct SseEvent {
    pub event: String,
    pub id: Option<String>,
    pub data: Value,
}

/// Reads events from an SSE response.
pub struct SseReader {
    stream: futures_util::stream::BoxStream<'static, reqwest::Result<bytes::Bytes>>,
    buffer: String,
}

impl SseReader {
    pub fn new(response: reqwest::Response) -> SseReader {
        assert_eq!(response.status(), 200);
        SseReader {
            stream: response.bytes_stream().boxed(),
            buffer: String::new(),
        }
    }

    /// The next event (comments skipped); panics after `timeout`.
    pub async fn next(&mut self, timeout: Duration) -> SseEvent {
        tokio::time::timeout(timeout, self.next_inner())
            .await
            .expect("timed out waiting for an event")
            .expect("the stream ended")
    }

    async fn next_inner(&mut self) -> Option<SseEvent> {
        loop {
            while let Some(end) = self.buffer.find("\n\n") {
                let block: String = self.buffer.drain(..end + 2).collect();
                let mut event = SseEvent {
                    event: "message".into(),
                    id: None,
                    data: Value::Null,
                };
                let mut data = String::new();
                let mut any = false;
                for line in block.lines() {
                    if let Some(v) = line.strip_prefix("event:") {
                        event.event = v.trim().to_string();
                        any = true;
                    } else if let Some(v) = line.strip_prefix("id:") {
                        event.id = Some(v.trim().to_string());
                        any = true;
                    } else if let Some(v) = line.strip_prefix("data:") {
                        data.push_str(v.trim_start());
                        any = true;
                    }
                }
                if any {
                    event.data = serde_json::from_str(&data).unwrap_or(Value::String(data));
                    return Some(event);
                }
            }
            let chunk = self.stream.next().await?.ok()?;
            self.buffer.push_str(&String::from_utf8_lossy(&chunk));
        }
    }

    /// The event that arrives within `wait`, if any (`None` too when the stream ends).
    pub async fn quiet_for(&mut self, wait: Duration) -> Option<SseEvent> {
        tokio::time::timeout(wait, self.next_inner()).await.ok().flatten()
    }
}
