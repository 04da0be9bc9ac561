//! A blocking client for Canopy's HTTP REST API (`canopy serve`, the `canopy-server` crate).
//!
//! One method per endpoint: branches, values (raw bytes, with test-and-set on the branch
//! head), tree listings, multi-path commits, merges, history, diffs and live watches. Errors
//! come back as [`Error`], with typed variants for the answers a program reacts to
//! ([`Error::NotFound`], [`Error::Conflict`] with the conflicting paths,
//! [`Error::PreconditionFailed`], [`Error::Unauthorized`], [`Error::Forbidden`]) and the
//! server's `code` and `message` for all of them.
//!
//! Paths are checked here with the library's rules ([`canopy::Path`]) before anything is
//! sent, so a bad path is an [`Error::BadRequest`] with code `bad_path`, exactly as the server
//! would answer. Branch names go in their URL segment percent-encoded (`feature%2Fx`).
//!
//! ```no_run
//! use canopy_client::{Client, CommitRequest, Error, WriteOptions};
//!
//! # fn main() -> Result<(), canopy_client::Error> {
//! let client = Client::new("http://127.0.0.1:8080").with_token("cnp_...");
//!
//! // Write, read back, and write again only if nobody moved the branch in between.
//! client.put("main", "config/colour", "blue")?;
//! let v = client.get("main", "config/colour")?;
//! assert_eq!(v.as_str(), Some("blue"));
//! let opts = WriteOptions::message("greener").if_match(v.commit.clone().unwrap());
//! match client.put_with("main", "config/colour", "green", &opts) {
//!     Ok(commit) => println!("now at {commit}"),
//!     Err(Error::PreconditionFailed { .. }) => println!("someone else wrote first"),
//!     Err(e) => return Err(e),
//! }
//!
//! // Several paths in one commit.
//! let req = CommitRequest::new("two at once").set("a", "1").delete("config/colour");
//! client.commit("main", &req)?;
//!
//! // History, newest first.
//! for c in client.log("main", &Default::default())? {
//!     println!("{} {}", c.id, c.summary);
//! }
//! # Ok(())
//! # }
//! ```

mod error;
mod types;
mod watch;

use std::io::Read;
use std::time::Duration;

use serde::de::DeserializeOwned;

pub use error::{Conflict, Error, Result};
pub use types::{
    BranchInfo, Change, ChangeSide, Commit, CommitDetails, CommitRequest, CommitResult, Diff, LogOptions,
    MergeOptions, MergeResult, PathChange, Signature, Tree, TreeEntry, TreeOptions, Value, WriteOptions,
};
pub use watch::{ChangeEvent, Watch, WatchEvent, WatchOptions};

/// The largest answer body read into memory (values, listings, logs).
const MAX_BODY: u64 = 1 << 30;

/// A client for one server. Cheap to clone; one connection pool per client.
#[derive(Clone)]
pub struct Client {
    base: String,
    token: Option<String>,
    timeout: Option<Duration>,
    agent: ureq::Agent,
    stream_agent: ureq::Agent,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("base", &self.base)
            .field("token", &self.token.as_ref().map(|_| "…"))
            .field("timeout", &self.timeout)
            .finish()
    }
}

/// Which body a request sends.
enum Body<'a> {
    None,
    Bytes(Vec<u8>),
    Json(serde_json::Value),
    /// `size` bytes read from a reader as they are sent.
    Stream(&'a mut dyn Read, u64),
}

/// `GET`, `PUT`, …
#[derive(Clone, Copy)]
enum Method {
    Get,
    Put,
    Post,
    Delete,
}

impl Client {
    /// A client for the server at `base_url` (`http://host:port`, with or without a trailing
    /// `/`). Requests time out after 60 seconds ([`Client::with_timeout`]); watches do not.
    ///
    /// ```
    /// let client = canopy_client::Client::new("http://127.0.0.1:8080/");
    /// assert_eq!(client.base_url(), "http://127.0.0.1:8080");
    /// ```
    pub fn new(base_url: impl AsRef<str>) -> Client {
        let base = base_url.as_ref().trim_end_matches('/').to_string();
        let timeout = Some(Duration::from_secs(60));
        Client {
            base,
            token: None,
            timeout,
            agent: agent(timeout),
            stream_agent: agent(None),
        }
    }

    /// Sends `Authorization: Bearer TOKEN` with every request (a token from
    /// `canopy token create`).
    pub fn with_token(mut self, token: impl Into<String>) -> Client {
        self.token = Some(token.into());
        self
    }

    /// How long an ordinary request may take in all (`None`: no limit). Watches are not
    /// limited.
    pub fn with_timeout(mut self, timeout: Option<Duration>) -> Client {
        self.timeout = timeout;
        self.agent = agent(timeout);
        self
    }

    /// The server's base URL, without a trailing `/`.
    pub fn base_url(&self) -> &str {
        &self.base
    }

    // ---- service ----

    /// `GET /healthz`: `Ok` if the server is up.
    pub fn healthz(&self) -> Result<()> {
        let url = format!("{}/healthz", self.base);
        self.json::<serde_json::Value>(Method::Get, &url, Body::None, &[])
            .map(|_| ())
    }

    /// `GET /api/v1/openapi.json`: the OpenAPI 3.1 document of the API.
    pub fn openapi(&self) -> Result<serde_json::Value> {
        self.json(Method::Get, &self.api("openapi.json"), Body::None, &[])
    }

    // ---- branches ----

    /// `GET /branches`: the branches the token may read, with their heads.
    ///
    /// ```no_run
    /// # let client = canopy_client::Client::new("http://127.0.0.1:8080");
    /// for b in client.branches()? {
    ///     println!("{} {}", b.name, b.head.unwrap_or_default());
    /// }
    /// # Ok::<(), canopy_client::Error>(())
    /// ```
    pub fn branches(&self) -> Result<Vec<BranchInfo>> {
        self.json(Method::Get, &self.api("branches"), Body::None, &[])
    }

    /// `GET /branches/{name}`: one branch and its head.
    pub fn branch(&self, name: &str) -> Result<BranchInfo> {
        let url = self.api(&format!("branches/{}", segment(name)));
        self.json(Method::Get, &url, Body::None, &[])
    }

    /// `POST /branches`: creates branch `name` at `from` (a revision; default: the head of
    /// the default branch).
    ///
    /// ```no_run
    /// # let client = canopy_client::Client::new("http://127.0.0.1:8080");
    /// let b = client.create_branch("feature/x", Some("main"))?;
    /// assert_eq!(b.name, "feature/x");
    /// # Ok::<(), canopy_client::Error>(())
    /// ```
    pub fn create_branch(&self, name: &str, from: Option<&str>) -> Result<BranchInfo> {
        let mut body = serde_json::json!({ "name": name });
        if let Some(from) = from {
            body["from"] = from.into();
        }
        self.json(Method::Post, &self.api("branches"), Body::Json(body), &[])
    }

    /// `DELETE /branches/{name}`: deletes a branch (not the default one); returns it with the
    /// head it had.
    pub fn delete_branch(&self, name: &str) -> Result<BranchInfo> {
        let url = self.api(&format!("branches/{}", segment(name)));
        self.json(Method::Delete, &url, Body::None, &[])
    }

    // ---- values ----

    /// `GET /branches/{b}/values/{path}`: the raw value at the branch head, with the commit
    /// it was read at. An absent path is [`Error::NotFound`] (code `no_such_path`).
    ///
    /// ```no_run
    /// # let client = canopy_client::Client::new("http://127.0.0.1:8080");
    /// match client.get("main", "users/ada/email") {
    ///     Ok(v) => println!("{} (at {:?})", String::from_utf8_lossy(&v.bytes), v.commit),
    ///     Err(canopy_client::Error::NotFound { .. }) => println!("no such value"),
    ///     Err(e) => eprintln!("{e}"),
    /// }
    /// ```
    pub fn get(&self, branch: &str, path: &str) -> Result<Value> {
        self.get_at(branch, path, None)
    }

    /// Like [`Client::get`], at revision `at` (`main~2`, a commit id, …) when given.
    pub fn get_at(&self, branch: &str, path: &str, at: Option<&str>) -> Result<Value> {
        let mut bytes = Vec::new();
        let value = self.get_to(branch, path, at, &mut bytes)?;
        Ok(Value { bytes, ..value })
    }

    /// `PUT /branches/{b}/values/{path}`: sets the value, one commit; returns the commit.
    ///
    /// ```no_run
    /// # let client = canopy_client::Client::new("http://127.0.0.1:8080");
    /// let commit = client.put("main", "counters/visits", b"42".to_vec())?;
    /// # Ok::<(), canopy_client::Error>(())
    /// ```
    pub fn put(&self, branch: &str, path: &str, value: impl Into<Vec<u8>>) -> Result<String> {
        self.put_with(branch, path, value, &WriteOptions::default())
    }

    /// [`Client::put`] with a message, an author, and a test-and-set on the branch head
    /// (`if_match`: [`Error::PreconditionFailed`] if it moved, nothing written).
    ///
    /// ```no_run
    /// # use canopy_client::{Client, Error, WriteOptions};
    /// # let client = Client::new("http://127.0.0.1:8080");
    /// let seen = client.get("main", "stock/apples")?;
    /// let n: u32 = seen.as_str().unwrap_or("0").parse().unwrap_or(0);
    /// let opts = WriteOptions::message("sold one").if_match(seen.commit.unwrap_or_default());
    /// match client.put_with("main", "stock/apples", (n - 1).to_string(), &opts) {
    ///     Err(Error::PreconditionFailed { .. }) => println!("moved meanwhile: read again"),
    ///     other => { other?; }
    /// }
    /// # Ok::<(), canopy_client::Error>(())
    /// ```
    pub fn put_with(
        &self,
        branch: &str,
        path: &str,
        value: impl Into<Vec<u8>>,
        opts: &WriteOptions,
    ) -> Result<String> {
        self.put_body(branch, path, Body::Bytes(value.into()), opts)
    }

    /// [`Client::put_with`] for a value read from `reader` (`size` bytes), sent as it is read:
    /// a large value is never held in memory (the server streams it into the store).
    pub fn put_from(
        &self,
        branch: &str,
        path: &str,
        reader: &mut dyn Read,
        size: u64,
        opts: &WriteOptions,
    ) -> Result<String> {
        self.put_body(branch, path, Body::Stream(reader, size), opts)
    }

    /// `PUT` of a value's `body`, with the options' message, author and preconditions.
    fn put_body(&self, branch: &str, path: &str, body: Body<'_>, opts: &WriteOptions) -> Result<String> {
        let url = self.write_url(&self.value_url(branch, path)?, opts);
        let mut headers = write_headers(opts);
        if opts.if_absent {
            headers.push(("if-none-match", "*".to_string()));
        }
        let answer: CommitAnswer = self.json(Method::Put, &url, body, &headers)?;
        Ok(answer.commit)
    }

    /// [`Client::get_at`] with the value's bytes written to `out` as they arrive (a large
    /// value is never held in memory); returns the commit read at and the value's hash.
    pub fn get_to(
        &self,
        branch: &str,
        path: &str,
        at: Option<&str>,
        out: &mut dyn std::io::Write,
    ) -> Result<Value> {
        let url = self.with_query(&self.value_url(branch, path)?, &[("at", at)]);
        let response = self.send(Method::Get, &url, Body::None, &[])?;
        let header = |name: &str| {
            response
                .headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
        };
        let commit = header("x-canopy-commit");
        let hash = header("etag").map(|t| t.trim_matches('"').to_string());
        let mut body = response.into_body().into_with_config().limit(u64::MAX).reader();
        std::io::copy(&mut body, out).map_err(|e| Error::Transport {
            url: url.clone(),
            message: e.to_string(),
        })?;
        Ok(Value {
            bytes: Vec::new(),
            commit,
            hash,
        })
    }

    /// `DELETE /branches/{b}/values/{path}`: removes a value or a whole directory; returns the
    /// commit. Nothing there is [`Error::NotFound`].
    pub fn delete(&self, branch: &str, path: &str) -> Result<String> {
        self.delete_with(branch, path, &WriteOptions::default())
    }

    /// [`Client::delete`] with a message, an author and a test-and-set on the branch head.
    pub fn delete_with(&self, branch: &str, path: &str, opts: &WriteOptions) -> Result<String> {
        let url = self.write_url(&self.value_url(branch, path)?, opts);
        let answer: CommitAnswer = self.json(Method::Delete, &url, Body::None, &write_headers(opts))?;
        Ok(answer.commit)
    }

    /// `GET /branches/{b}/tree/{path}`: the children of a directory (`""` is the root), or
    /// everything below it with `recursive`. A value is [`Error::Conflict`] (code
    /// `not_a_directory`); nothing there is [`Error::NotFound`].
    ///
    /// ```no_run
    /// # use canopy_client::{Client, TreeOptions};
    /// # let client = Client::new("http://127.0.0.1:8080");
    /// let opts = TreeOptions { recursive: true, ..Default::default() };
    /// for e in client.tree("main", "users", &opts)?.entries {
    ///     println!("{} {}", e.kind, e.path);
    /// }
    /// # Ok::<(), canopy_client::Error>(())
    /// ```
    pub fn tree(&self, branch: &str, path: &str, opts: &TreeOptions) -> Result<Tree> {
        let p = canopy::Path::parse(path)?;
        let mut url = self.api(&format!("branches/{}/tree", segment(branch)));
        if !p.is_root() {
            url.push('/');
            url.push_str(&path_segments(&p));
        }
        let recursive = opts.recursive.then_some("true");
        let url = self.with_query(&url, &[("recursive", recursive), ("at", opts.at.as_deref())]);
        self.json(Method::Get, &url, Body::None, &[])
    }

    // ---- commits ----

    /// `POST /branches/{b}/commits`: several changes in one commit. With a `parent` that is
    /// no longer the head, the server merges the changes onto the head with the per-path
    /// drivers, or answers [`Error::Conflict`] listing the paths it could not merge.
    ///
    /// ```no_run
    /// # use canopy_client::{Client, CommitRequest, Error};
    /// # let client = Client::new("http://127.0.0.1:8080");
    /// let base = client.branch("main")?.head.unwrap_or_default();
    /// let req = CommitRequest::new("import").parent(base).set("a", "1").set("b", vec![0u8, 159]);
    /// match client.commit("main", &req) {
    ///     Ok(done) => println!("{} (merged: {})", done.commit, done.merged),
    ///     Err(Error::Conflict { conflicts, .. }) => {
    ///         for c in conflicts {
    ///             println!("conflict in {}: {}", c.path, c.reason);
    ///         }
    ///     }
    ///     Err(e) => return Err(e),
    /// }
    /// # Ok::<(), canopy_client::Error>(())
    /// ```
    pub fn commit(&self, branch: &str, req: &CommitRequest) -> Result<CommitResult> {
        for change in &req.changes {
            let p = canopy::Path::parse(change.path())?;
            if p.is_root() {
                return Err(bad_path("the root is not a value"));
            }
        }
        let url = self.api(&format!("branches/{}/commits", segment(branch)));
        self.json(Method::Post, &url, Body::Json(req.to_json()), &[])
    }

    /// `POST /branches/{b}/merge`: merges branch or commit `from` into `branch`.
    /// [`Error::Conflict`] lists the conflicting paths; the branch is then unchanged.
    ///
    /// ```no_run
    /// # use canopy_client::{Client, Error};
    /// # let client = Client::new("http://127.0.0.1:8080");
    /// match client.merge("main", "feature/x", &Default::default()) {
    ///     Ok(m) => println!("{}: {}", m.outcome, m.commit),
    ///     Err(Error::Conflict { conflicts, .. }) => println!("{} conflicts", conflicts.len()),
    ///     Err(e) => return Err(e),
    /// }
    /// # Ok::<(), canopy_client::Error>(())
    /// ```
    pub fn merge(&self, branch: &str, from: &str, opts: &MergeOptions) -> Result<MergeResult> {
        let mut body = serde_json::to_value(opts).map_err(|e| self.invalid(&self.base, e))?;
        body["from"] = from.into();
        let url = self.api(&format!("branches/{}/merge", segment(branch)));
        self.json(Method::Post, &url, Body::Json(body), &[])
    }

    // ---- history ----

    /// `GET /branches/{b}/log`: commits, newest first (at most `limit`; only those that
    /// changed `path` when given).
    ///
    /// ```no_run
    /// # use canopy_client::{Client, LogOptions};
    /// # let client = Client::new("http://127.0.0.1:8080");
    /// let opts = LogOptions { limit: Some(10), path: Some("config".into()) };
    /// for c in client.log("main", &opts)? {
    ///     println!("{} {} <{}>", c.id, c.summary, c.author.email);
    /// }
    /// # Ok::<(), canopy_client::Error>(())
    /// ```
    pub fn log(&self, branch: &str, opts: &LogOptions) -> Result<Vec<Commit>> {
        if let Some(p) = &opts.path {
            canopy::Path::parse(p)?;
        }
        let limit = opts.limit.map(|n| n.to_string());
        let url = self.with_query(
            &self.api(&format!("branches/{}/log", segment(branch))),
            &[("limit", limit.as_deref()), ("path", opts.path.as_deref())],
        );
        self.json(Method::Get, &url, Body::None, &[])
    }

    /// `GET /commits/{rev}`: a commit's metadata and the paths it changed against its first
    /// parent.
    pub fn commit_info(&self, rev: &str) -> Result<CommitDetails> {
        let url = self.api(&format!("commits/{}", segment(rev)));
        self.json(Method::Get, &url, Body::None, &[])
    }

    /// `GET /diff`: the paths that changed from revision `from` to `to` (below `path`).
    ///
    /// ```no_run
    /// # let client = canopy_client::Client::new("http://127.0.0.1:8080");
    /// for c in client.diff("main~1", "main", None)?.changes {
    ///     println!("{} {}", c.status, c.path);
    /// }
    /// # Ok::<(), canopy_client::Error>(())
    /// ```
    pub fn diff(&self, from: &str, to: &str, path: Option<&str>) -> Result<Diff> {
        if let Some(p) = path {
            canopy::Path::parse(p)?;
        }
        let url = self.with_query(
            &self.api("diff"),
            &[("from", Some(from)), ("to", Some(to)), ("path", path)],
        );
        self.json(Method::Get, &url, Body::None, &[])
    }

    /// `GET /branches/{b}/watch`: a live stream of the branch's commits (server-sent events),
    /// as a blocking iterator. The first event is [`WatchEvent::Ready`]; then one
    /// [`WatchEvent::Change`] per commit, in order.
    ///
    /// ```no_run
    /// # use canopy_client::{Client, WatchEvent, WatchOptions};
    /// # let client = Client::new("http://127.0.0.1:8080");
    /// let mut resume = None;
    /// loop {
    ///     let opts = WatchOptions { path: Some("config".into()), last_event_id: resume.clone() };
    ///     let mut watch = client.watch("main", &opts)?;
    ///     for event in &mut watch {
    ///         match event {
    ///             Ok(WatchEvent::Change(c)) => println!("{} changed {} paths", c.commit.id, c.changes.len()),
    ///             Ok(_) => {}
    ///             Err(e) => eprintln!("{e}"),
    ///         }
    ///     }
    ///     // The connection ended: resume where it stopped, without gaps.
    ///     resume = watch.last_event_id().map(str::to_string);
    /// }
    /// # Ok::<(), canopy_client::Error>(())
    /// ```
    pub fn watch(&self, branch: &str, opts: &WatchOptions) -> Result<Watch> {
        if let Some(p) = &opts.path {
            canopy::Path::parse(p)?;
        }
        let url = self.with_query(
            &self.api(&format!("branches/{}/watch", segment(branch))),
            &[("path", opts.path.as_deref())],
        );
        let mut headers = vec![("accept", "text/event-stream".to_string())];
        if let Some(id) = &opts.last_event_id {
            headers.push(("last-event-id", id.clone()));
        }
        let response = self.send_with(&self.stream_agent, Method::Get, &url, Body::None, &headers)?;
        let reader = response.into_body().into_reader();
        Ok(Watch::new(Box::new(reader), url, opts.last_event_id.clone()))
    }

    // ---- plumbing ----

    fn api(&self, rest: &str) -> String {
        format!("{}/api/v1/{rest}", self.base)
    }

    /// The URL of a value: the path is checked, and must not be the root.
    fn value_url(&self, branch: &str, path: &str) -> Result<String> {
        let p = canopy::Path::parse(path)?;
        if p.is_root() {
            return Err(bad_path("path '': the root is a directory, not a value"));
        }
        Ok(self.api(&format!(
            "branches/{}/values/{}",
            segment(branch),
            path_segments(&p)
        )))
    }

    fn write_url(&self, url: &str, opts: &WriteOptions) -> String {
        self.with_query(
            url,
            &[
                ("message", opts.message.as_deref()),
                ("author", opts.author.as_deref()),
            ],
        )
    }

    fn with_query(&self, url: &str, pairs: &[(&str, Option<&str>)]) -> String {
        let mut out = url.to_string();
        let mut first = !url.contains('?');
        for (k, v) in pairs {
            if let Some(v) = v {
                out.push(if first { '?' } else { '&' });
                first = false;
                out.push_str(k);
                out.push('=');
                out.push_str(&encode(v.as_bytes()));
            }
        }
        out
    }

    fn invalid(&self, url: &str, e: impl std::fmt::Display) -> Error {
        Error::InvalidResponse {
            url: url.to_string(),
            message: e.to_string(),
        }
    }

    /// Sends a request and parses a JSON answer.
    fn json<T: DeserializeOwned>(
        &self,
        method: Method,
        url: &str,
        body: Body,
        headers: &[(&str, String)],
    ) -> Result<T> {
        let response = self.send(method, url, body, headers)?;
        let bytes = read_body(url, response)?;
        serde_json::from_slice(&bytes).map_err(|e| self.invalid(url, e))
    }

    fn send(
        &self,
        method: Method,
        url: &str,
        body: Body,
        headers: &[(&str, String)],
    ) -> Result<ureq::http::Response<ureq::Body>> {
        self.send_with(&self.agent, method, url, body, headers)
    }

    /// Sends a request; a success answer is returned, an error answer becomes an [`Error`].
    fn send_with(
        &self,
        agent: &ureq::Agent,
        method: Method,
        url: &str,
        body: Body,
        headers: &[(&str, String)],
    ) -> Result<ureq::http::Response<ureq::Body>> {
        let mut builder = ureq::http::Request::builder().uri(url).method(match method {
            Method::Get => "GET",
            Method::Put => "PUT",
            Method::Post => "POST",
            Method::Delete => "DELETE",
        });
        if let Some(token) = &self.token {
            builder = builder.header("authorization", format!("Bearer {token}"));
        }
        for (k, v) in headers {
            builder = builder.header(*k, v.as_str());
        }
        let transport = |e: ureq::Error| Error::Transport {
            url: url.to_string(),
            message: e.to_string(),
        };
        let bad_request = |e: ureq::http::Error| Error::BadRequest {
            code: "bad_request".into(),
            message: format!("cannot build a request for {url}: {e}"),
        };
        let response = match body {
            Body::None => agent.run(builder.body(()).map_err(bad_request)?),
            Body::Bytes(b) => agent.run(
                builder
                    .header("content-type", "application/octet-stream")
                    .body(b)
                    .map_err(bad_request)?,
            ),
            Body::Json(v) => agent.run(
                builder
                    .header("content-type", "application/json")
                    .body(v.to_string())
                    .map_err(bad_request)?,
            ),
            Body::Stream(reader, size) => agent.run(
                builder
                    .header("content-type", "application/octet-stream")
                    .header("content-length", size)
                    .body(ureq::SendBody::from_reader(reader))
                    .map_err(bad_request)?,
            ),
        }
        .map_err(transport)?;
        let status = response.status().as_u16();
        if (200..300).contains(&status) {
            return Ok(response);
        }
        let body = read_body(url, response).unwrap_or_default();
        Err(Error::from_answer(status, &body))
    }
}

use canopy_wire::api::Written as CommitAnswer;

fn agent(timeout: Option<Duration>) -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .user_agent(concat!("canopy-client/", env!("CARGO_PKG_VERSION")))
        .timeout_global(timeout)
        .timeout_connect(Some(Duration::from_secs(30)))
        .build()
        .into()
}

fn read_body(url: &str, response: ureq::http::Response<ureq::Body>) -> Result<Vec<u8>> {
    let mut bytes = Vec::new();
    response
        .into_body()
        .into_with_config()
        .limit(MAX_BODY)
        .reader()
        .read_to_end(&mut bytes)
        .map_err(|e| Error::Transport {
            url: url.to_string(),
            message: e.to_string(),
        })?;
    Ok(bytes)
}

fn write_headers(opts: &WriteOptions) -> Vec<(&'static str, String)> {
    match &opts.if_match {
        Some(commit) => vec![("if-match", format!("\"{commit}\""))],
        None => Vec::new(),
    }
}

fn bad_path(message: &str) -> Error {
    Error::BadRequest {
        code: "bad_path".into(),
        message: message.to_string(),
    }
}

/// A branch name or revision as one URL segment: everything but unreserved characters is
/// percent-encoded (`feature/x` → `feature%2Fx`).
fn segment(s: &str) -> String {
    encode(s.as_bytes())
}

/// A checked path as URL segments: each step encoded, joined with `/`.
fn path_segments(p: &canopy::Path) -> String {
    p.steps().map(encode).collect::<Vec<_>>().join("/")
}

fn encode(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len());
    for &b in bytes {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segments_are_percent_encoded() {
        assert_eq!(segment("feature/x"), "feature%2Fx");
        assert_eq!(segment("main~2"), "main~2");
        assert_eq!(segment("a b%"), "a%20b%25");
        let p = canopy::Path::parse("dir/é x").unwrap();
        assert_eq!(path_segments(&p), "dir/%C3%A9%20x");
    }

    #[test]
    fn bad_paths_are_refused_before_sending() {
        // Nothing listens on port 9: a request would be a transport error.
        let c = Client::new("http://127.0.0.1:9");
        for bad in ["", "a/../b", "a//b", ".git/x"] {
            let e = c.get("main", bad).unwrap_err();
            assert_eq!(e.code(), Some("bad_path"), "{bad}: {e}");
            assert_eq!(e.status(), Some(400));
        }
    }
}
