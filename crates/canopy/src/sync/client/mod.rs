//! The client side: transports, remotes, fetch (protocol v2), push (v0 receive-pack), clone.
//!
//! A [`Transport`] is two calls, as in Git's smart HTTP: `GET info/refs` and `POST` of one
//! request. [`LocalTransport`] serves local paths and `file://` URLs by running the other
//! repository's server code ([`super::http`]) in-process; [`HttpTransport`] (feature
//! `http-client`) speaks HTTP(S) to `canopy serve`, `git http-backend` or any Git host;
//! [`ConnectTransport`] carries the same calls over `ssh` (`ssh://`, scp-like `host:path`) and
//! `git://`, one connection per call.
//!
//! [`pull`], [`push_branch`] and [`sync`] are what `canopy pull/push/sync` run.
//!
//! [`open_remote`] and [`open_transport`] apply Git's configuration first
//! ([`settings::Settings`]: `url.<base>.insteadOf`, `core.sshCommand`, `http.extraHeader`, …).

mod connect;
#[cfg(feature = "http-client")]
mod credential;
mod daemon;
mod fetch;
#[cfg(feature = "http-client")]
mod http;
mod pull;
mod push;
pub mod remote;
pub mod settings;
mod ssh;
pub mod url;

use std::io::Read;
use std::path::PathBuf;

pub use connect::ConnectTransport;
pub use fetch::{
    adopt_remote_squash, clone, fetch, fetch_missing, fetch_missing_with, fetch_pack, fetch_with, ls_refs,
    remote_squash_ref, CloneOptions, FetchOptions, FetchOutcome, RemoteInfo,
};
#[cfg(feature = "http-client")]
pub use http::HttpTransport;
pub use pull::{
    pull, push_branch, remote_for, sync, with_missing, PullOptions, PullOutcome, SyncOutcome, SYNC_ATTEMPTS,
};
pub use push::{push, PushOutcome, PushSpec, RefResult};
pub use settings::Settings;

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

/// What a remote is opened for: a push uses `pushurl` and `pushInsteadOf`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    Fetch,
    Push,
}

/// A transport for `url` with the user's global Git configuration (a clone's case):
/// `http://`/`https://` (with the `http-client` feature), `ssh://`, scp-like `[user@]host:path`,
/// `git://`, `file://`, or a local path.
pub fn open_transport(url: &str) -> Result<Box<dyn Transport>> {
    open_with(&Settings::global()?, url, None, Direction::Fetch)
}

/// A transport for remote `name` of `repo`, with the global and the store's configuration.
pub fn open_remote(repo: &Repo, name: &str, direction: Direction) -> Result<Box<dyn Transport>> {
    let settings = Settings::for_repo(repo)?;
    let push_url = match direction {
        Direction::Push => settings
            .get(&format!("remote.{name}.pushurl"))
            .map(str::to_string),
        Direction::Fetch => None,
    };
    // As in Git, a `pushurl` is rewritten by `insteadOf` only.
    let (url, push_rules) = match push_url {
        Some(u) => (u, false),
        None => (remote::url(repo, name)?, direction == Direction::Push),
    };
    let url = settings.rewrite(&url, push_rules);
    open_with(&settings, &url, Some(name), direction)
}

/// A transport for `url` as configured by `settings` (`url` is rewritten by `insteadOf` unless
/// `remote` is given, in which case the caller has rewritten it).
pub fn open_with(
    settings: &Settings,
    url: &str,
    remote: Option<&str>,
    direction: Direction,
) -> Result<Box<dyn Transport>> {
    let rewritten;
    let url = if remote.is_none() {
        rewritten = settings.rewrite(url, direction == Direction::Push);
        rewritten.as_str()
    } else {
        url
    };
    match url::parse(url)? {
        url::Location::Local(path) => Ok(Box::new(LocalTransport::open(url, path)?)),
        url::Location::Http(u) => {
            #[cfg(feature = "http-client")]
            {
                Ok(Box::new(HttpTransport::configured(
                    &u,
                    settings.extra_headers(),
                    settings.git_dir.clone(),
                )))
            }
            #[cfg(not(feature = "http-client"))]
            {
                Err(Error::Unsupported(format!(
                    "{u}: this build has no HTTP client (feature http-client)"
                )))
            }
        }
        url::Location::Ssh { host, port, path } => {
            let remote_key = |k: &str| {
                remote
                    .and_then(|r| settings.get(&format!("remote.{r}.{k}")))
                    .map(str::to_string)
            };
            let ssh_settings = ssh::SshSettings {
                core_ssh_command: settings.get("core.sshcommand").map(str::to_string),
                variant: settings.get("ssh.variant").map(str::to_string),
                upload_pack: remote_key("uploadpack"),
                receive_pack: remote_key("receivepack"),
            };
            let c = ssh::SshConnector::new(url, host, port, path, ssh_settings)?;
            Ok(Box::new(ConnectTransport::new(Box::new(c))))
        }
        url::Location::Git { host, port, path } => {
            let c = daemon::DaemonConnector::new(url, host, port, path);
            Ok(Box::new(ConnectTransport::new(Box::new(c))))
        }
    }
}
