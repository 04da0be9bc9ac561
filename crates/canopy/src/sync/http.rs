//! Git's smart-HTTP endpoints as plain functions, for any HTTP server to mount
//! (`canopy-server` mounts them under `/git`):
//!
//! - `GET <base>/info/refs?service=git-upload-pack|git-receive-pack` → [`info_refs`]
//! - `POST <base>/git-upload-pack` → [`upload_pack`]
//! - `POST <base>/git-receive-pack` → [`receive_pack`]
//!
//! Each returns a [`Response`]: status, content type, headers and a body that is either bytes
//! or a writer callback (a clone streams its pack instead of building it in memory). Request
//! bodies may be gzip-encoded (`Content-Encoding: gzip`/`x-gzip`), inflated here with a bound.
//! Protocol v2 is used for upload-pack when the `Git-Protocol` header asks for `version=2`;
//! receive-pack always speaks v0. Errors are answered as http-backend answers them: 403 for an
//! unknown service, 415 for a wrong request content type, 400 (`text/plain`, which git echoes
//! as `remote: …`) for a malformed request.

use std::io::{self, Read, Write};

use flate2::read::GzDecoder;

use super::pktline::{write_flush, write_line};
use super::{receive, upload, Error};
use crate::Repo;

/// Largest request body accepted after gzip inflation (upload-pack requests are small).
pub const MAX_UPLOAD_REQUEST: u64 = 64 << 20;

/// Writes a streamed response body.
pub type BodyWriter = Box<dyn FnOnce(&mut dyn Write) -> io::Result<()> + Send>;

/// A response body: bytes, or a callback that writes them (run it on a blocking thread).
pub enum Body {
    Bytes(Vec<u8>),
    Stream(BodyWriter),
}

impl std::fmt::Debug for Body {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Body::Bytes(b) => write!(f, "Body::Bytes({} bytes)", b.len()),
            Body::Stream(_) => write!(f, "Body::Stream"),
        }
    }
}

impl Body {
    /// The whole body in memory (runs a stream to its end).
    pub fn into_bytes(self) -> io::Result<Vec<u8>> {
        match self {
            Body::Bytes(b) => Ok(b),
            Body::Stream(f) => {
                let mut out = Vec::new();
                f(&mut out)?;
                Ok(out)
            }
        }
    }
}

/// An HTTP response to send as is.
#[derive(Debug)]
pub struct Response {
    pub status: u16,
    pub content_type: String,
    /// Extra headers (no-cache ones, as `git http-backend` sends).
    pub headers: Vec<(String, String)>,
    pub body: Body,
}

fn no_cache() -> Vec<(String, String)> {
    vec![
        ("Expires".into(), "Fri, 01 Jan 1980 00:00:00 GMT".into()),
        ("Pragma".into(), "no-cache".into()),
        (
            "Cache-Control".into(),
            "no-cache, max-age=0, must-revalidate".into(),
        ),
    ]
}

fn response(status: u16, content_type: &str, body: Vec<u8>) -> Response {
    Response {
        status,
        content_type: content_type.into(),
        headers: no_cache(),
        body: Body::Bytes(body),
    }
}

fn text(status: u16, message: &str) -> Response {
    response(status, "text/plain", format!("{message}\n").into_bytes())
}

/// Which protocol version the `Git-Protocol` header asks for (`version=2` among `:`-separated
/// keys).
pub fn wants_v2(git_protocol: Option<&str>) -> bool {
    git_protocol.is_some_and(|h| h.split(':').any(|kv| kv.trim() == "version=2"))
}

/// `GET info/refs?service=…`.
pub fn info_refs(repo: &Repo, service: Option<&str>, git_protocol: Option<&str>) -> Response {
    let result = match service {
        Some("git-upload-pack") if wants_v2(git_protocol) => Ok(upload::advertise_v2(repo)),
        Some("git-upload-pack") => {
            upload::advertise_v0(repo).map(|refs| with_preamble("git-upload-pack", refs))
        }
        Some("git-receive-pack") => {
            receive::advertise(repo).map(|refs| with_preamble("git-receive-pack", refs))
        }
        Some(other) => return text(403, &format!("unsupported service '{other}'")),
        None => {
            return text(
                403,
                "dumb HTTP is not supported; use a Git client with smart HTTP",
            )
        }
    };
    let service = service.unwrap_or_default();
    match result {
        Ok(body) => response(200, &format!("application/x-{service}-advertisement"), body),
        Err(e) => text(500, &e.to_string()),
    }
}

fn with_preamble(service: &str, refs: Vec<u8>) -> Vec<u8> {
    let mut out = Vec::new();
    write_line(&mut out, &format!("# service={service}"));
    write_flush(&mut out);
    out.extend_from_slice(&refs);
    out
}

/// What the server needs from a POST's headers.
#[derive(Debug, Clone, Default)]
pub struct RequestHeaders {
    pub content_type: Option<String>,
    pub content_encoding: Option<String>,
    pub git_protocol: Option<String>,
}

/// Reads a possibly gzipped body, inflating at most `limit` bytes.
fn body_reader<'a>(
    body: &'a mut dyn Read,
    headers: &RequestHeaders,
    limit: u64,
) -> Result<Box<dyn Read + 'a>, Response> {
    match headers.content_encoding.as_deref().map(str::trim) {
        None | Some("") | Some("identity") => Ok(Box::new(body.take(limit))),
        Some("gzip") | Some("x-gzip") => Ok(Box::new(GzDecoder::new(body).take(limit))),
        Some(other) => Err(text(415, &format!("unsupported content encoding '{other}'"))),
    }
}

fn check_content_type(headers: &RequestHeaders, service: &str) -> Result<(), Response> {
    let expected = format!("application/x-{service}-request");
    match headers.content_type.as_deref() {
        Some(ct) if ct.split(';').next().map(str::trim) == Some(expected.as_str()) => Ok(()),
        _ => Err(text(415, &format!("expected Content-Type {expected}"))),
    }
}

/// `POST git-upload-pack`.
pub fn upload_pack(repo: &Repo, body: &mut dyn Read, headers: &RequestHeaders) -> Response {
    if let Err(r) = check_content_type(headers, "git-upload-pack") {
        return r;
    }
    let mut reader = match body_reader(body, headers, MAX_UPLOAD_REQUEST) {
        Ok(r) => r,
        Err(r) => return r,
    };
    // Upload-pack requests are small: read it whole, so a truncated request is an error
    // before anything is answered.
    let mut request = Vec::new();
    if let Err(e) = reader.read_to_end(&mut request) {
        return text(400, &format!("cannot read the request body: {e}"));
    }
    if request.len() as u64 >= MAX_UPLOAD_REQUEST {
        return text(413, "request body too large");
    }
    const CT: &str = "application/x-git-upload-pack-result";
    if wants_v2(headers.git_protocol.as_deref()) {
        let req = match upload::parse_v2_request(&mut &request[..]) {
            Ok(Some(r)) => r,
            Ok(None) => return response(200, CT, Vec::new()),
            Err(e) => return text(400, &e.to_string()),
        };
        let answer = match req.command.as_str() {
            "ls-refs" => upload::ls_refs(repo, &req).map(|b| response(200, CT, b)),
            "fetch" => upload::fetch_v2(repo, &req).map(|r| match r {
                upload::FetchResponse::Acks(b) => response(200, CT, b),
                upload::FetchResponse::Pack {
                    preamble,
                    plan,
                    progress,
                    ofs_delta,
                } => {
                    let repo = repo.clone();
                    Response {
                        status: 200,
                        content_type: CT.into(),
                        headers: no_cache(),
                        body: Body::Stream(Box::new(move |out: &mut dyn Write| {
                            out.write_all(&preamble)?;
                            upload::stream_pack(&repo, &plan, progress, true, ofs_delta, out)
                        })),
                    }
                }
            }),
            other => Err(Error::Protocol(format!("unknown command '{other}'"))),
        };
        return answer.unwrap_or_else(|e| response(200, CT, upload::err_packet(&e.to_string())));
    }
    let req = match upload::parse_v0_request(repo, &mut &request[..]) {
        Ok(r) if r.empty => return response(200, CT, Vec::new()),
        Ok(r) => r,
        // A want the policy refuses is answered as git does, with an `ERR` packet git prints.
        Err(e @ Error::Refused(_)) => return response(200, CT, upload::err_packet(&e.to_string())),
        Err(e) => return text(400, &e.to_string()),
    };
    match upload::fetch_v0(repo, &req) {
        Ok((preamble, None)) => response(200, CT, preamble),
        Ok((preamble, Some(plan))) => {
            let repo = repo.clone();
            let large = req.caps.has("side-band-64k");
            let ofs_delta = req.fetch.ofs_delta;
            let band = large || req.caps.has("side-band");
            let progress = !req.fetch.no_progress;
            Response {
                status: 200,
                content_type: CT.into(),
                headers: no_cache(),
                body: Body::Stream(Box::new(move |out: &mut dyn Write| {
                    out.write_all(&preamble)?;
                    if band {
                        upload::stream_pack(&repo, &plan, progress, large, ofs_delta, out)
                    } else {
                        super::pack::write_pack_for(&repo, &plan.objects, ofs_delta, out, &mut |_| {})
                            .map(|_| ())
                            .map_err(io::Error::other)
                    }
                })),
            }
        }
        Err(e) => response(200, CT, upload::err_packet(&e.to_string())),
    }
}

/// `POST git-receive-pack`, with the repository's policy (`receive.*` configuration).
pub fn receive_pack(repo: &Repo, body: &mut dyn Read, headers: &RequestHeaders) -> Response {
    receive_pack_with(repo, body, headers, &receive::Policy::from_repo(repo)).0
}

/// `POST git-receive-pack` with a given policy; also returns the references that moved.
pub fn receive_pack_with(
    repo: &Repo,
    body: &mut dyn Read,
    headers: &RequestHeaders,
    policy: &receive::Policy,
) -> (Response, Vec<String>) {
    if let Err(r) = check_content_type(headers, "git-receive-pack") {
        return (r, Vec::new());
    }
    // The pack's own limit applies; the commands before it are bounded by pkt-line limits.
    let limit = policy.limits.max_pack_bytes.saturating_add(64 << 20);
    let mut reader = match body_reader(body, headers, limit) {
        Ok(r) => r,
        Err(r) => return (r, Vec::new()),
    };
    match receive::serve_report(repo, &mut reader, policy) {
        Ok((b, report)) => {
            let moved = report
                .map(|r| {
                    r.refs
                        .into_iter()
                        .filter(|s| s.error.is_none())
                        .map(|s| s.name)
                        .collect()
                })
                .unwrap_or_default();
            (response(200, "application/x-git-receive-pack-result", b), moved)
        }
        Err(e) => (text(400, &e.to_string()), Vec::new()),
    }
}
