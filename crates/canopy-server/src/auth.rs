//! Who is asking, and may they? The helper every endpoint calls, REST and Git alike.
//!
//! Credentials are either `Authorization: Bearer TOKEN` (the REST API) or HTTP Basic with the
//! token as the password and any user name (what `git clone http://any:TOKEN@host/git`
//! sends). Both are accepted everywhere; the [`Challenge`] only decides which scheme a 401
//! answer asks for.
//!
//! With no token defined, everyone is allowed everything — but only when the server was
//! started on a loopback address or with `--allow-anonymous` ([`Auth::new`]'s `anonymous`).
//! Once a token exists, every request must present one.
//!
//! ```
//! # use canopy_server::auth::{Access, Auth, Challenge};
//! # use canopy_server::tokens::TokenStore;
//! # let repo = canopy::Repo::in_memory(canopy::HashKind::Sha1);
//! let auth = Auth::new(TokenStore::for_repo(&repo), true);
//! let headers = axum::http::HeaderMap::new();
//! // A Git push handler checks each ref it is asked to update:
//! let who = auth.authenticate(&headers, Challenge::Basic).unwrap();
//! assert!(who.can("main", Access::Write));
//! // Or in one step, for one branch (401 or 403 as an `ApiError` otherwise):
//! auth.check(&headers, "main", Access::Read, Challenge::Bearer).unwrap();
//! ```

use axum::http::{header, HeaderMap};
use base64::Engine;

use crate::error::ApiError;
use crate::tokens::{TokenInfo, TokenStore};

/// A right on a branch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    Read,
    Write,
}

/// Which scheme a 401 answer asks the client for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Challenge {
    /// REST clients: `WWW-Authenticate: Bearer realm="canopy"`.
    Bearer,
    /// Git clients (they prompt for a user name and password): `Basic realm="canopy"`.
    Basic,
}

impl Challenge {
    fn header(self) -> &'static str {
        match self {
            Challenge::Bearer => "Bearer realm=\"canopy\"",
            Challenge::Basic => "Basic realm=\"canopy\"",
        }
    }
}

/// An authenticated caller.
#[derive(Debug, Clone)]
pub enum Identity {
    /// No tokens are defined and anonymous access is on: every right.
    Anonymous,
    Token(TokenInfo),
}

impl Identity {
    /// `anonymous` or the token's name, for logs.
    pub fn name(&self) -> &str {
        match self {
            Identity::Anonymous => "anonymous",
            Identity::Token(t) => &t.name,
        }
    }

    /// Whether the caller has `access` on `branch`.
    pub fn can(&self, branch: &str, access: Access) -> bool {
        match (self, access) {
            (Identity::Anonymous, _) => true,
            (Identity::Token(t), Access::Read) => t.can_read(branch),
            (Identity::Token(t), Access::Write) => t.can_write(branch),
        }
    }

    /// `Ok` if the caller has `access` on `branch`, else a 403.
    pub fn require(&self, branch: &str, access: Access) -> Result<(), ApiError> {
        if self.can(branch, access) {
            return Ok(());
        }
        let what = match access {
            Access::Read => "read",
            Access::Write => "write",
        };
        Err(ApiError::forbidden(format!(
            "token '{}' may not {what} branch '{branch}'",
            self.name()
        )))
    }

    /// Whether the caller may read every branch (a read glob of `*`), so that any commit of
    /// the store may be shown to it.
    pub fn reads_everything(&self) -> bool {
        match self {
            Identity::Anonymous => true,
            Identity::Token(t) => t.read.iter().chain(&t.write).any(|g| g == "*"),
        }
    }
}

/// The server's authentication policy: its tokens and whether anonymous access is possible.
#[derive(Debug, Clone)]
pub struct Auth {
    tokens: TokenStore,
    anonymous: bool,
    /// Anonymous callers must name a loopback host and come from this server's own origin
    /// (a loopback server: no web page can use it through the browser of whoever runs it).
    local_only: bool,
}

impl Auth {
    /// `anonymous`: whether to let everyone in while no token is defined (the server listens
    /// on loopback, or was started with `--allow-anonymous`).
    pub fn new(tokens: TokenStore, anonymous: bool) -> Auth {
        Auth {
            tokens,
            anonymous,
            local_only: anonymous,
        }
    }

    /// The same policy, with anonymous callers restricted to loopback `Host` names and this
    /// server's own `Origin` (`true`, the default for anonymous access) or not (`false`: the
    /// operator opened the server to everyone with `--allow-anonymous`).
    pub fn local_only(mut self, on: bool) -> Auth {
        self.local_only = on;
        self
    }

    pub fn tokens(&self) -> &TokenStore {
        &self.tokens
    }

    /// Who sent `headers`: 401 without valid credentials (unless anonymous access applies).
    pub fn authenticate(&self, headers: &HeaderMap, challenge: Challenge) -> Result<Identity, ApiError> {
        let unauthorized = |message: &str| ApiError::unauthorized(message, challenge.header());
        let tokens = self
            .tokens
            .list()
            .map_err(|e| ApiError::internal(format!("cannot read tokens: {e}")))?;
        if tokens.is_empty() {
            return if self.anonymous {
                if self.local_only {
                    check_local(headers)?;
                }
                Ok(Identity::Anonymous)
            } else {
                Err(unauthorized(
                    "no access token is defined and anonymous access is off (create one with `canopy token create`)",
                ))
            };
        }
        let Some(secret) = credentials(headers) else {
            return Err(unauthorized(
                "an access token is required (Authorization: Bearer TOKEN)",
            ));
        };
        match self.tokens.authenticate(&secret) {
            Ok(Some(token)) => Ok(Identity::Token(token)),
            Ok(None) => Err(unauthorized("invalid access token")),
            Err(e) => Err(ApiError::internal(format!("cannot read tokens: {e}"))),
        }
    }

    /// Authenticates, then requires `access` on `branch`: 401 or 403 otherwise.
    pub fn check(
        &self,
        headers: &HeaderMap,
        branch: &str,
        access: Access,
        challenge: Challenge,
    ) -> Result<Identity, ApiError> {
        let who = self.authenticate(headers, challenge)?;
        who.require(branch, access)?;
        Ok(who)
    }
}

/// The token in `Authorization: Bearer TOKEN`, or the password of `Authorization: Basic`.
fn credentials(headers: &HeaderMap) -> Option<String> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?.trim();
    let (scheme, rest) = value.split_once(' ')?;
    let rest = rest.trim();
    if scheme.eq_ignore_ascii_case("bearer") {
        return Some(rest.to_string());
    }
    if scheme.eq_ignore_ascii_case("basic") {
        let decoded = base64::engine::general_purpose::STANDARD.decode(rest).ok()?;
        let decoded = String::from_utf8(decoded).ok()?;
        let (_user, password) = decoded.split_once(':')?;
        return Some(password.to_string());
    }
    None
}

/// Whether `host` (a `Host` header's value, or an origin's host and port) names this machine's
/// loopback interface: `localhost`, `127.x.x.x` or `[::1]`, with any port.
fn is_loopback_host(host: &str) -> bool {
    let name = if let Some(rest) = host.strip_prefix('[') {
        rest.split(']').next().unwrap_or("")
    } else {
        host.rsplit_once(':').map_or(host, |(h, port)| {
            if port.bytes().all(|c| c.is_ascii_digit()) {
                h
            } else {
                host
            }
        })
    };
    name.eq_ignore_ascii_case("localhost")
        || name.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// Refuses a request to a tokenless loopback server that names another host (DNS rebinding) or
/// comes from another origin (a web page the user visits): 403, before anything is read.
fn check_local(headers: &HeaderMap) -> Result<(), ApiError> {
    let host = headers
        .get(axum::http::header::HOST)
        .and_then(|h| h.to_str().ok());
    if let Some(host) = host {
        if !is_loopback_host(host) {
            return Err(ApiError::new(
                axum::http::StatusCode::FORBIDDEN,
                "bad_host",
                "this server has no access tokens and answers only to a loopback host name",
            ));
        }
    }
    if let Some(origin) = headers.get(axum::http::header::ORIGIN) {
        let same = match (origin.to_str().ok(), host) {
            (Some(o), Some(h)) => o
                .strip_prefix("http://")
                .is_some_and(|rest| rest.eq_ignore_ascii_case(h)),
            _ => false,
        };
        if !same {
            return Err(ApiError::new(
                axum::http::StatusCode::FORBIDDEN,
                "cross_origin",
                "this server has no access tokens and accepts no requests from other origins",
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod local_tests {
    use super::*;

    #[test]
    fn loopback_hosts() {
        for h in [
            "localhost",
            "localhost:8080",
            "127.0.0.1",
            "127.0.0.1:80",
            "127.1.2.3:9",
            "[::1]:8080",
            "[::1]",
            "LOCALHOST",
        ] {
            assert!(is_loopback_host(h), "{h}");
        }
        for h in [
            "example.com",
            "evil.localhost.example:80",
            "10.0.0.1:8080",
            "[::2]:1",
            "0.0.0.0",
            "",
        ] {
            assert!(!is_loopback_host(h), "{h}");
        }
    }
}
