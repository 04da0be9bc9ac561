//! Smart HTTP(S) with a blocking client (ureq): `GET <url>/info/refs?service=…` and
//! `POST <url>/<service>`, the `Git-Protocol: version=2` header for v2, content types checked
//! the way git checks them (a wrong advertisement type means a dumb server, which Canopy does
//! not support). Error responses become errors naming the URL, with the server's `text/plain`
//! message when it sent one. Credentials in the URL (`http://user:pass@host/…`) are sent as
//! Basic authentication.

use std::io::Read;

use super::{Service, Transport};
use crate::sync::{Error, Result};

/// Largest advertisement accepted (refs of a very large repository fit).
const MAX_ADVERTISEMENT: u64 = 256 << 20;

/// An HTTP(S) remote.
pub struct HttpTransport {
    url: String,
    agent: ureq::Agent,
    auth: Option<String>,
}

impl HttpTransport {
    pub fn new(url: &str) -> HttpTransport {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .user_agent(concat!("git/2.47.3 (", "canopy/", env!("CARGO_PKG_VERSION"), ")"))
            .build()
            .into();
        let mut base = url.trim_end_matches('/').to_string();
        let mut auth = None;
        if let Some((scheme, rest)) = base.split_once("://") {
            if let Some((creds, host)) = rest.split_once('@') {
                if !creds.contains('/') {
                    auth = Some(basic(creds));
                    base = format!("{scheme}://{host}");
                }
            }
        }
        HttpTransport {
            url: base,
            agent,
            auth,
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
        let mut req = self.agent.get(&url).header("Pragma", "no-cache");
        if v2 {
            req = req.header("Git-Protocol", "version=2");
        }
        if let Some(a) = &self.auth {
            req = req.header("Authorization", a);
        }
        let resp = req.call().map_err(|e| self.err(e.to_string()))?;
        let status = resp.status().as_u16();
        let ct = content_type(&resp);
        if status != 200 {
            return Err(self.failure(status, ct, resp.into_body()));
        }
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
        let mut req = self
            .agent
            .post(&url)
            .header(
                "Content-Type",
                format!("application/x-{}-request", service.name()),
            )
            .header("Accept", format!("application/x-{}-result", service.name()));
        if v2 {
            req = req.header("Git-Protocol", "version=2");
        }
        if let Some(a) = &self.auth {
            req = req.header("Authorization", a);
        }
        let resp = req.send(&body[..]).map_err(|e| self.err(e.to_string()))?;
        let status = resp.status().as_u16();
        let ct = content_type(&resp);
        if status != 200 {
            return Err(self.failure(status, ct, resp.into_body()));
        }
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
