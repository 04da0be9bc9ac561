//! Git's smart HTTP over an embedder's asynchronous `fetch()`.
//!
//! The sync client ([`canopy::sync::client`]) calls its [`Transport`] synchronously, and a web
//! page can only fetch asynchronously. A smart-HTTP exchange is a short, deterministic sequence
//! of stateless requests (`GET info/refs`, then one `POST` per round), so an operation runs as
//! a *replay*: it is started, and at the first request whose response is not known yet the
//! transport records the request and fails; the embedder fetches it, hands the response over
//! ([`Replay::provide`]), and starts the operation again from the beginning. Requests already
//! answered are answered from memory, so each run gets one step further; nothing is written to
//! the store before the last response is in (packs are installed and references moved only at
//! the end of an operation). A push runs twice, a clone or fetch three or four times.
//!
//! Requests are keyed by their place in the run (`GET <service>` and `POST <service> #n`), so a
//! request body that differs between runs (it does not today) could not be answered with the
//! response to another.

use std::collections::HashMap;
use std::io::Read;

use canopy::sync::client::{Service, Transport};
use canopy::sync::{Error, Result};

/// A request the embedder must make before the operation can go on.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Request {
    /// What to hand back to [`Replay::provide`] with the response.
    pub key: String,
    pub method: &'static str,
    pub url: String,
    pub headers: Vec<(String, String)>,
    /// The request body (empty for a `GET`).
    #[serde(skip)]
    pub body: Vec<u8>,
}

/// A response as the embedder received it.
struct Response {
    status: u16,
    content_type: Option<String>,
    body: Vec<u8>,
}

/// A [`Transport`] answering from responses handed over by the embedder.
pub struct Replay {
    url: String,
    responses: HashMap<String, Response>,
    posts: usize,
    needed: Option<Request>,
}

/// The message of the error a run stops with when it needs a response.
const NEEDS_RESPONSE: &str = "waiting for a response";

impl Replay {
    /// A transport for the repository at `url` (`http(s)://…`; a trailing `/` is dropped).
    pub fn new(url: &str) -> Result<Replay> {
        let lower = url.to_ascii_lowercase();
        if !(lower.starts_with("http://") || lower.starts_with("https://")) {
            return Err(Error::Transport {
                url: url.to_string(),
                message: "only http:// and https:// remotes can be reached from here".into(),
            });
        }
        Ok(Replay {
            url: url.trim_end_matches('/').to_string(),
            responses: HashMap::new(),
            posts: 0,
            needed: None,
        })
    }

    /// Gets ready for a new run of the operation.
    pub fn restart(&mut self) {
        self.posts = 0;
        self.needed = None;
    }

    /// The request the last run stopped at, if it stopped for want of a response.
    pub fn take_needed(&mut self) -> Option<Request> {
        self.needed.take()
    }

    /// Whether `result` is a run stopped for want of a response.
    pub fn is_waiting<T>(&self, result: &Result<T>) -> bool {
        self.needed.is_some()
            && matches!(result, Err(Error::Transport { message, .. }) if message == NEEDS_RESPONSE)
    }

    /// Hands over the response to the request named `key`.
    pub fn provide(&mut self, key: &str, status: u16, content_type: Option<String>, body: Vec<u8>) {
        self.responses.insert(
            key.to_string(),
            Response {
                status,
                content_type,
                body,
            },
        );
    }

    fn answer(&mut self, request: Request, expected_type: &str) -> Result<Vec<u8>> {
        let Some(resp) = self.responses.get(&request.key) else {
            self.needed = Some(request);
            return Err(self.err(NEEDS_RESPONSE.to_string()));
        };
        if resp.status != 200 {
            let text = String::from_utf8_lossy(&resp.body[..resp.body.len().min(300)])
                .trim()
                .to_string();
            let message = match resp.status {
                401 | 403 => format!(
                    "HTTP {}: authentication failed or not allowed: {text}",
                    resp.status
                ),
                s => format!("HTTP {s}: {text}"),
            };
            return Err(self.err(message));
        }
        // Parameters (`; charset=…`) are allowed after the media type.
        let media = resp
            .content_type
            .as_deref()
            .map(|t| t.split(';').next().unwrap_or("").trim().to_ascii_lowercase());
        if media.as_deref() != Some(expected_type) {
            return Err(self.err(format!(
                "not a smart HTTP Git server (content type {})",
                resp.content_type.as_deref().unwrap_or("missing")
            )));
        }
        Ok(resp.body.clone())
    }

    fn err(&self, message: String) -> Error {
        Error::Transport {
            url: self.url.clone(),
            message,
        }
    }

    fn headers(v2: bool, extra: &[(&str, String)]) -> Vec<(String, String)> {
        let mut h: Vec<(String, String)> = extra.iter().map(|(k, v)| (k.to_string(), v.clone())).collect();
        if v2 {
            h.push(("Git-Protocol".into(), "version=2".into()));
        }
        h
    }
}

impl Transport for Replay {
    fn url(&self) -> &str {
        &self.url
    }

    fn info_refs(&mut self, service: Service, v2: bool) -> Result<Vec<u8>> {
        let request = Request {
            key: format!("GET {}{}", service.name(), if v2 { " v2" } else { "" }),
            method: "GET",
            url: format!("{}/info/refs?service={}", self.url, service.name()),
            headers: Replay::headers(v2, &[]),
            body: Vec::new(),
        };
        self.answer(
            request,
            &format!("application/x-{}-advertisement", service.name()),
        )
    }

    fn post(&mut self, service: Service, v2: bool, body: Vec<u8>) -> Result<Box<dyn Read + Send>> {
        self.posts += 1;
        let request = Request {
            key: format!("POST {} #{}", service.name(), self.posts),
            method: "POST",
            url: format!("{}/{}", self.url, service.name()),
            headers: Replay::headers(
                v2,
                &[
                    (
                        "Content-Type",
                        format!("application/x-{}-request", service.name()),
                    ),
                    ("Accept", format!("application/x-{}-result", service.name())),
                ],
            ),
            body,
        };
        let bytes = self.answer(request, &format!("application/x-{}-result", service.name()))?;
        Ok(Box::new(std::io::Cursor::new(bytes)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use canopy::sync::client::{fetch_with, FetchOptions, LocalTransport};
    use canopy::{HashKind, Path, Repo};

    /// Runs `op` to the end, answering each request the way a web page would, from `server`.
    fn drive<T>(
        replay: &mut Replay,
        server: &mut LocalTransport,
        mut op: impl FnMut(&mut Replay) -> Result<T>,
    ) -> (T, usize) {
        let mut runs = 0;
        loop {
            runs += 1;
            replay.restart();
            let result = op(replay);
            if !replay.is_waiting(&result) {
                return (result.unwrap(), runs);
            }
            let req = replay.take_needed().unwrap();
            let service = if req.url.contains("receive-pack") {
                Service::ReceivePack
            } else {
                Service::UploadPack
            };
            let v2 = req.headers.iter().any(|(k, _)| k == "Git-Protocol");
            let (ct, body) = if req.method == "GET" {
                let b = server.info_refs(service, v2).unwrap();
                (format!("application/x-{}-advertisement", service.name()), b)
            } else {
                let mut b = Vec::new();
                server
                    .post(service, v2, req.body.clone())
                    .unwrap()
                    .read_to_end(&mut b)
                    .unwrap();
                (format!("application/x-{}-result", service.name()), b)
            };
            replay.provide(&req.key, 200, Some(ct), body);
            assert!(runs < 20, "the operation does not converge");
        }
    }

    #[test]
    fn a_fetch_completes_over_replayed_requests_and_writes_only_at_the_end() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("remote");
        let remote = Repo::init(&dir).unwrap();
        let main = remote.branch("main").unwrap();
        main.set(&Path::parse("a").unwrap(), "1", &Default::default())
            .unwrap();
        let head = main.head().unwrap().unwrap();
        let mut server = LocalTransport::open("file://remote", dir.clone()).unwrap();

        let local = Repo::in_memory(HashKind::Sha1);
        let mut replay = Replay::new("http://example.invalid/git").unwrap();
        let (outcome, runs) = drive(&mut replay, &mut server, |t| {
            fetch_with(&local, t, "origin", &mut FetchOptions::default())
        });
        assert!(runs >= 3, "{runs} runs");
        assert_eq!(
            local.refs().resolve("refs/remotes/origin/main").unwrap(),
            Some(head)
        );
        assert!(outcome.objects >= 3);
    }

    #[test]
    fn an_error_status_or_a_foreign_content_type_is_reported() {
        let mut r = Replay::new("https://example.invalid/x").unwrap();
        assert!(r.info_refs(Service::UploadPack, true).is_err());
        let req = r.take_needed().unwrap();
        assert_eq!(
            req.url,
            "https://example.invalid/x/info/refs?service=git-upload-pack"
        );
        r.provide(&req.key, 404, None, b"no such repository".to_vec());
        r.restart();
        let e = r.info_refs(Service::UploadPack, true).unwrap_err().to_string();
        assert!(e.contains("HTTP 404: no such repository"), "{e}");
        r.provide(&req.key, 200, Some("text/html".into()), b"<html>".to_vec());
        let e = r.info_refs(Service::UploadPack, true).unwrap_err().to_string();
        assert!(
            e.contains("not a smart HTTP Git server (content type text/html)"),
            "{e}"
        );
        assert!(Replay::new("ssh://host/x").is_err());
    }
}
