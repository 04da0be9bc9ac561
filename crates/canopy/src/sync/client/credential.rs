//! HTTP credentials from Git's credential helpers, through `git credential fill|approve|reject`
//! (`man git-credential`): the description `protocol=…`, `host=…` (with the port), `path=…`
//! and the user name from the URL if any, then a blank line; `fill` answers with
//! `username=…` and `password=…`. Git applies the user's and the store's `credential.*`
//! configuration (helpers, `useHttpPath`, prompting), so Canopy behaves as `git fetch` does.
//!
//! `git` is the only program started for this; without it, a server asking for credentials is
//! an authentication error. Its stderr is dropped (a prompt goes to the terminal, not stderr);
//! a failed `fill` leaves the server's `401` as the error.

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};

/// One credential: what it is for and, once filled, the user name and password.
#[derive(Debug, Clone, Default)]
pub(crate) struct Credential {
    pub protocol: String,
    pub host: String,
    pub path: String,
    pub username: Option<String>,
    pub password: Option<String>,
}

impl Credential {
    /// The description of `url` (`scheme://[user@]host[:port]/path`).
    pub fn for_url(url: &str) -> Option<Credential> {
        let (protocol, rest) = url.split_once("://")?;
        let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
        let (username, host) = match authority.rsplit_once('@') {
            Some((u, h)) => (Some(u.split(':').next().unwrap_or(u).to_string()), h),
            None => (None, authority),
        };
        Some(Credential {
            protocol: protocol.to_string(),
            host: host.to_string(),
            path: path.to_string(),
            username,
            password: None,
        })
    }

    fn describe(&self) -> Vec<u8> {
        let mut out = format!(
            "protocol={}\nhost={}\npath={}\n",
            self.protocol, self.host, self.path
        );
        if let Some(u) = &self.username {
            out.push_str(&format!("username={u}\n"));
        }
        if let Some(p) = &self.password {
            out.push_str(&format!("password={p}\n"));
        }
        out.push('\n');
        out.into_bytes()
    }

    /// Whether every field can travel in the line-based protocol.
    fn well_formed(&self) -> bool {
        [&self.protocol, &self.host, &self.path]
            .into_iter()
            .chain(self.username.as_ref())
            .chain(self.password.as_ref())
            .all(|v| !v.contains(['\n', '\0']))
    }
}

/// Runs `git credential <action>` with `cred` as input; its standard output.
fn run(action: &str, cred: &Credential, git_dir: Option<&PathBuf>) -> Option<Vec<u8>> {
    if !cred.well_formed() {
        return None;
    }
    let mut cmd = Command::new("git");
    cmd.args(["credential", action])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    if let Some(d) = git_dir {
        cmd.env("GIT_DIR", d);
    }
    let mut child = cmd.spawn().ok()?;
    let input = cred.describe();
    if let Some(mut stdin) = child.stdin.take() {
        let _ = stdin.write_all(&input);
    }
    let out = child.wait_with_output().ok()?;
    out.status.success().then_some(out.stdout)
}

/// Asks the helpers (or the user) for a user name and password.
pub(crate) fn fill(cred: &Credential, git_dir: Option<&PathBuf>) -> Option<Credential> {
    let out = run("fill", cred, git_dir)?;
    let mut filled = cred.clone();
    for line in String::from_utf8_lossy(&out).lines() {
        if let Some(v) = line.strip_prefix("username=") {
            filled.username = Some(v.to_string());
        } else if let Some(v) = line.strip_prefix("password=") {
            filled.password = Some(v.to_string());
        }
    }
    filled.password.as_ref()?;
    Some(filled)
}

/// Tells the helpers that `cred` worked (they may store it).
pub(crate) fn approve(cred: &Credential, git_dir: Option<&PathBuf>) {
    let _ = run("approve", cred, git_dir);
}

/// Tells the helpers that `cred` was refused (they may forget it).
pub(crate) fn reject(cred: &Credential, git_dir: Option<&PathBuf>) {
    let _ = run("reject", cred, git_dir);
}

#[cfg(test)]
mod tests {
    use super::Credential;

    #[test]
    fn describes_a_url_as_git_does() {
        let c = Credential::for_url("https://me@example.com:8443/git/repo.git").unwrap();
        assert_eq!(
            String::from_utf8(c.describe()).unwrap(),
            "protocol=https\nhost=example.com:8443\npath=git/repo.git\nusername=me\n\n"
        );
    }
}
