//! The client side: transports, remotes, fetch (protocol v2), push (v0 receive-pack), clone.
//!
//! A [`Transport`] is two calls, as in Git's smart HTTP: `GET info/refs` and `POST` of one
//! request. [`LocalTransport`] serves local paths and `file://` URLs by running the other
//! repository's server code ([`super::http`]) in-process; [`HttpTransport`] (feature
//! `http-client`) speaks HTTP(S) to `canopy serve`, `git http-backend` or any Git host.

mod fetch;
#[cfg(feature = "http-client")]
mod http;
mod push;
pub mod remote;

use std::io::Read;
use std::path::PathBuf;

pub use fetch::{
    adopt_remote_squash, clone, fetch, fetch_missing, fetch_pack, fetch_with, ls_refs, remote_squash_ref,
    CloneOptions, FetchOptions, FetchOutcome, RemoteInfo,
};
#[cfg(feature = "http-client")]
pub use http::HttpTransport;
pub use push::{push, PushOutcome, PushSpec, RefResult};

use super::{http as server, Error, Result};
use crate::Repo;

/// The two Git services.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Service {
    UploadPack,
    ReceivePack,
}

impl Service {
    pub fn name(self) -> &'static str {
        match self {
            Service::UploadPack => "git-upload-pack",
            Service::ReceivePack => "git-receive-pack",
        }
    }
}

/// Progress and status messages for the user (band 2 of the remote, and our own).
pub type Progress<'a> = &'a mut dyn FnMut(&str);

/// How a client reaches a remote repository.
pub trait Transport {
    /// The URL, for messages.
    fn url(&self) -> &str;
    /// `GET info/refs?service=…`: the advertisement body (content type checked).
    fn info_refs(&mut self, service: Service, v2: bool) -> Result<Vec<u8>>;
    /// `POST <service>` with one request; the response body.
    fn post(&mut self, service: Service, v2: bool, body: Vec<u8>) -> Result<Box<dyn Read + Send>>;
}

/// A repository on this machine, served in-process.
pub struct LocalTransport {
    url: String,
    repo: Repo,
}

impl LocalTransport {
    pub fn open(url: &str, path: PathBuf) -> Result<LocalTransport> {
        let repo = Repo::open(&path).map_err(|e| Error::Transport {
            url: url.to_string(),
            message: format!("not a repository: {e}"),
        })?;
        Ok(LocalTransport {
            url: url.to_string(),
            repo,
        })
    }

    fn check(&self, resp: server::Response, expected_type: &str) -> Result<Vec<u8>> {
        let body = resp.body.into_bytes()?;
        if resp.status != 200 || resp.content_type != expected_type {
            return Err(Error::Transport {
                url: self.url.clone(),
                message: format!("HTTP {}: {}", resp.status, String::from_utf8_lossy(&body).trim()),
            });
        }
        Ok(body)
    }
}

impl Transport for LocalTransport {
    fn url(&self) -> &str {
        &self.url
    }

    fn info_refs(&mut self, service: Service, v2: bool) -> Result<Vec<u8>> {
        let header = v2.then_some("version=2");
        let resp = server::info_refs(&self.repo, Some(service.name()), header);
        self.check(resp, &format!("application/x-{}-advertisement", service.name()))
    }

    fn post(&mut self, service: Service, v2: bool, body: Vec<u8>) -> Result<Box<dyn Read + Send>> {
        let headers = server::RequestHeaders {
            content_type: Some(format!("application/x-{}-request", service.name())),
            content_encoding: None,
            git_protocol: v2.then(|| "version=2".to_string()),
        };
        let resp = match service {
            Service::UploadPack => server::upload_pack(&self.repo, &mut &body[..], &headers),
            Service::ReceivePack => server::receive_pack(&self.repo, &mut &body[..], &headers),
        };
        let bytes = self.check(resp, &format!("application/x-{}-result", service.name()))?;
        Ok(Box::new(std::io::Cursor::new(bytes)))
    }
}

/// A transport for `url`: `http://`/`https://` (with the `http-client` feature), `file://`, or
/// a local path.
pub fn open_transport(url: &str) -> Result<Box<dyn Transport>> {
    if url.starts_with("http://") || url.starts_with("https://") {
        #[cfg(feature = "http-client")]
        {
            return Ok(Box::new(HttpTransport::new(url)));
        }
        #[cfg(not(feature = "http-client"))]
        {
            return Err(Error::Unsupported(format!(
                "{url}: this build has no HTTP client (feature http-client)"
            )));
        }
    }
    if let Some(path) = url.strip_prefix("file://") {
        return Ok(Box::new(LocalTransport::open(url, PathBuf::from(path))?));
    }
    if url.contains("://") {
        return Err(Error::Unsupported(format!("{url}: unknown URL scheme")));
    }
    Ok(Box::new(LocalTransport::open(url, PathBuf::from(url))?))
}
