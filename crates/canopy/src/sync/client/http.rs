//! Smart HTTP(S) with a blocking client (ureq): `GET <url>/info/refs?service=…` and
//! `POST <url>/<service>`, the `Git-Protocol: version=2` header for v2, content types checked
//! the way git checks them (a wrong advertisement type means a dumb server, which Canopy does
//! not support). Error responses become errors naming the URL, with the server's `text/plain`
//! message when it sent one. Credentials in the URL (`http://user:pass@host/…`) are sent as
//! Basic authentication; otherwise a `401` asks Git's credential helpers
//! ([`super::credential`]) once, retries with what they give, and tells them whether it
//! worked. `http.extraHeader` values go with every request.

use std::io::Read;
use std::path::PathBuf;

use super::credential::{self, Credential};
use super::{Service, Transport};
use crate::sync::{Error, Result};

/// Largest advertisement accepted (refs of a very large repository fit).
const MAX_ADVERTISEMENT: u64 = 256 << 20;

/// An HTTP(S) remote.
pub struct HttpTransport {
    url: String,
    agent: ureq::Agent,
    auth: Option<String>,
    /// `http.extraHeader` values as (name, value).
    extra_headers: Vec<(String, String)>,
    /// The store whose configuration `git credential` reads.
    git_dir: Option<PathBuf>,
    /// What to ask the credential helpers for (none if the URL carries a password).
    wanted: Option<Credential>,
    /// Credentials from a helper, with whether they were approved yet.
    filled: Option<(Credential, bool)>,
}

impl HttpTransport {
    pub fn new(url: &str) -> HttpTransport {
        HttpTransport::configured(url, Vec::new(), None)
    }

    /// With `http.extraHeader` values (`Name: value`) and the store whose configuration
    /// `git credential` should read.
    pub fn configured(url: &str, extra_headers: Vec<String>, git_dir: Option<PathBuf>) -> HttpTransport {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .user_agent(concat!("git/2.47.3 (", "canopy/", env!("CARGO_PKG_VERSION"), ")"))
            .build()
            .into();
        let mut base = url.trim_end_matches('/').to_string();
        let mut auth = None;
        let mut wanted = Credential::for_url(&base);
        if let Some((scheme, rest)) = base.split_once("://") {
            if let Some((creds, host)) = rest.split_once('@') {
                if !creds.contains('/') {
                    if creds.contains(':') {
                        auth = Some(basic(creds));
                        wanted = None;
                    }
                    base = format!("{scheme}://{host}");
                }
            }
        }
        let extra_headers = extra_headers
            .iter()
            .filter_map(|h| h.split_once(':'))
            .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
            .filter(|(k, _)| !k.is_empty())
            .collect();
        HttpTransport {
            url: base,
            agent,
            auth,
            extra_headers,
            git_dir,
            wanted,
            filled: None,
        }
    }

    /// Authorization, extra headers and the protocol version of every request.
    fn decorate<B>(&self, mut req: ureq::RequestBuilder<B>, v2: bool) -> ureq::RequestBuilder<B> {
        for (k, v) in &self.extra_headers {
            req = req.header(k.as_str(), v.as_str());
        }
        if v2 {
            req = req.header("Git-Protocol", "version=2");
        }
        if let Some(a) = &self.auth {
            req = req.header("Authorization", a);
        }
        req
    }

    /// After a `401`: whether credentials from a helper are worth a retry (asked once; a
    /// second refusal is reported to the helpers).
    fn ask_credentials(&mut self) -> bool {
        if let Some((cred, _)) = self.filled.take() {
            credential::reject(&cred, self.git_dir.as_ref());
            self.wanted = None;
            return false;
        }
        let Some(wanted) = self.wanted.take() else {
            return false;
        };
        let Some(cred) = credential::fill(&wanted, self.git_dir.as_ref()) else {
            return false;
        };
        let user = cred.username.clone().unwrap_or_default();
        let pass = cred.password.clone().unwrap_or_default();
        self.auth = Some(basic(&format!("{user}:{pass}")));
        self.filled = Some((cred, false));
        true
    }

    /// After a successful request: helper credentials are approved once.
    fn succeeded(&mut self) {
        if let Some((cred, approved)) = self.filled.as_mut() {
            if !*approved {
                *approved = true;
                credential::approve(cred, self.git_dir.as_ref());
            }
        }
    }

    fn err(&self, message: impl Into<String>) -> Error {
        Error::Transport {
            url: self.url.clone(),
            message: message.into(),
        }
    }

    fn failure(&self, status: u16, content_type: Option<String>, body: ureq::Body) -> Error {
        let mut text = String::new();
        if content_type
            .as_deref()
            .is_some_and(|c| c.starts_with("text/plain"))
        {
            let mut b = body;
            text = b
                .with_config()
                .limit(64 << 10)
                .read_to_string()
                .unwrap_or_default();
        }
        let what = match status {
            404 | 410 => "repository not found".to_string(),
            401 => "authentication required".to_string(),
            403 => "access denied".to_string(),
            s => format!("the requested URL returned error: {s}"),
        };
        if text.trim().is_empty() {
            self.err(what)
        } else {
            self.err(format!("{what}: {}", text.trim()))
        }
    }
}

fn basic(creds: &str) -> String {
    const TABLE: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let bytes = creds.as_bytes();
    let mut out = String::from("Basic ");
    for chunk in bytes.chunks(3) {
        let b = [chunk[0], *chunk.get(1).unwrap_or(&0), *chunk.get(2).unwrap_or(&0)];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(TABLE[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

fn content_type(resp: &ureq::http::Response<ureq::Body>) -> Option<String> {
    resp.headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

impl Transport for HttpTransport {
    fn url(&self) -> &str {
        &self.url
    }

    fn info_refs(&mut self, service: Service, v2: bool) -> Result<Vec<u8>> {
        let url = format!("{}/info/refs?service={}", self.url, service.name());
        let resp = loop {
            let req = self.decorate(self.agent.get(&url).header("Pragma", "no-cache"), v2);
            let resp = req.call().map_err(|e| self.err(e.to_string()))?;
            if resp.status().as_u16() == 401 && self.ask_credentials() {
                continue;
            }
            break resp;
        };
        let status = resp.status().as_u16();
        let ct = content_type(&resp);
        if status != 200 {
            return Err(self.failure(status, ct, resp.into_body()));
        }
        self.succeeded();
        let expected = format!("application/x-{}-advertisement", service.name());
        if ct.as_deref() != Some(expected.as_str()) {
            return Err(self.err(format!(
                "not a smart HTTP Git server (content type {})",
                ct.unwrap_or_else(|| "missing".into())
            )));
        }
        resp.into_body()
            .with_config()
            .limit(MAX_ADVERTISEMENT)
            .read_to_vec()
            .map_err(|e| self.err(e.to_string()))
    }

    fn post(&mut self, service: Service, v2: bool, body: Vec<u8>) -> Result<Box<dyn Read + Send>> {
        let url = format!("{}/{}", self.url, service.name());
        let resp = loop {
            let req = self.agent.post(&url).header(
                "Content-Type",
                format!("application/x-{}-request", service.name()),
            );
            let req = req.header("Accept", format!("application/x-{}-result", service.name()));
            let req = self.decorate(req, v2);
            let resp = req.send(&body[..]).map_err(|e| self.err(e.to_string()))?;
            if resp.status().as_u16() == 401 && self.ask_credentials() {
                continue;
            }
            break resp;
        };
        let status = resp.status().as_u16();
        let ct = content_type(&resp);
        if status != 200 {
            return Err(self.failure(status, ct, resp.into_body()));
        }
        self.succeeded();
        let expected = format!("application/x-{}-result", service.name());
        if ct.as_deref() != Some(expected.as_str()) {
            return Err(self.err(format!(
                "unexpected content type {} for {}",
                ct.unwrap_or_else(|| "missing".into()),
                service.name()
            )));
        }
        Ok(Box::new(resp.into_body().into_reader()))
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn basic_auth_is_base64() {
        assert_eq!(super::basic("user:pass"), "Basic dXNlcjpwYXNz");
        assert_eq!(super::basic("a:b"), "Basic YTpi");
    }
}
