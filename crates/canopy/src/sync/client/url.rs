//! Remote URLs as Git reads them (`man git-clone`, "GIT URLS"): `http[s]://`, `ssh://` (also
//! `git+ssh://` and `ssh+git://`), the scp-like `[user@]host:path`, `git://`, `file://` and
//! plain paths. A string with a `:` and no `/` before it is scp-like; otherwise it is a path.
//! In `ssh://` and `git://` URLs a path starting with `/~` is home-relative (`~user/…`).
//!
//! Hosts, ports and paths that a program could mistake for options (a leading `-`, as in
//! `ssh://-oProxyCommand=…/x`) are refused, as Git refuses them, so no part of a URL ever
//! becomes an argument of `ssh` other than the host (and the quoted remote command).

use std::path::PathBuf;

use crate::sync::{Error, Result};

/// Where a URL points, and how to reach it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    /// A repository on this machine (a path or `file://`).
    Local(PathBuf),
    /// Smart HTTP(S); the URL as given.
    Http(String),
    /// A program run through `ssh`.
    Ssh {
        /// `host` or `user@host`, passed to `ssh` as one argument.
        host: String,
        port: Option<u16>,
        /// The path given to the remote `git-upload-pack`/`git-receive-pack`.
        path: String,
    },
    /// The `git daemon` protocol over TCP.
    Git {
        host: String,
        port: Option<u16>,
        path: String,
    },
}

fn looks_like_option(s: &str) -> bool {
    s.starts_with('-')
}

fn refuse(url: &str, what: &str) -> Error {
    Error::Refused(format!("{url}: {what}"))
}

/// Splits `authority` (`[user@]host[:port]` or `[user@][v6]:port`) into host and port.
fn host_and_port(url: &str, authority: &str) -> Result<(String, Option<u16>)> {
    let (user, rest) = match authority.rfind('@') {
        Some(at) => (Some(&authority[..at]), &authority[at + 1..]),
        None => (None, authority),
    };
    let (host, port) = if let Some(inner) = rest.strip_prefix('[') {
        let Some(end) = inner.find(']') else {
            return Err(refuse(url, "unterminated '[' in the host"));
        };
        let after = &inner[end + 1..];
        let port = match after.strip_prefix(':') {
            Some(p) => Some(p),
            None if after.is_empty() => None,
            None => return Err(refuse(url, "bad host")),
        };
        (&inner[..end], port)
    } else {
        match rest.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (rest, None),
        }
    };
    let port = match port {
        None | Some("") => None,
        Some(p) => Some(
            p.parse::<u16>()
                .ok()
                .filter(|_| p.bytes().all(|b| b.is_ascii_digit()))
                .ok_or_else(|| refuse(url, &format!("strange port '{p}' blocked")))?,
        ),
    };
    check_host(url, host)?;
    let host = match user {
        Some(u) => {
            check_host(url, u).map_err(|_| refuse(url, &format!("strange user name '{u}' blocked")))?;
            format!("{u}@{host}")
        }
        None if rest.starts_with('[') && host.contains(':') => host.to_string(),
        None => host.to_string(),
    };
    Ok((host, port))
}

fn check_host(url: &str, host: &str) -> Result<()> {
    if host.is_empty() {
        return Err(refuse(url, "no host"));
    }
    if looks_like_option(host) {
        return Err(refuse(url, &format!("strange hostname '{host}' blocked")));
    }
    if host
        .bytes()
        .any(|b| b.is_ascii_control() || b == b' ' || b == b'\'' || b == b'"')
    {
        return Err(refuse(url, &format!("strange hostname '{host}' blocked")));
    }
    Ok(())
}

fn check_path(url: &str, path: &str) -> Result<()> {
    if path.is_empty() {
        return Err(refuse(url, "no repository path"));
    }
    if looks_like_option(path) {
        return Err(refuse(url, &format!("strange pathname '{path}' blocked")));
    }
    if path.bytes().any(|b| b == 0 || b == b'\n' || b == b'\r') {
        return Err(refuse(url, "control character in the repository path"));
    }
    Ok(())
}

/// Parses `url` (after any `insteadOf` rewriting).
pub fn parse(url: &str) -> Result<Location> {
    if url.starts_with("http://") || url.starts_with("https://") {
        return Ok(Location::Http(url.to_string()));
    }
    if let Some(path) = url.strip_prefix("file://") {
        return Ok(Location::Local(PathBuf::from(path)));
    }
    if let Some((scheme, rest)) = url.split_once("://") {
        let ssh = matches!(scheme, "ssh" | "git+ssh" | "ssh+git");
        if !ssh && scheme != "git" {
            return Err(Error::Unsupported(format!("{url}: unknown URL scheme")));
        }
        let (authority, path) = match rest.find('/') {
            Some(n) => (&rest[..n], &rest[n..]),
            None => (rest, ""),
        };
        let (host, port) = host_and_port(url, authority)?;
        // `/~user/x` names a home directory.
        let path = if path.starts_with("/~") { &path[1..] } else { path };
        check_path(url, path)?;
        let path = path.to_string();
        return Ok(if ssh {
            Location::Ssh { host, port, path }
        } else {
            Location::Git { host, port, path }
        });
    }
    // scp-like: a ':' before any '/'; `[host]:path` may hide colons in brackets.
    let colon = if url.starts_with('[') {
        url.find("]:").map(|n| n + 1)
    } else {
        url.find(':')
    };
    let slash = url.find('/');
    match colon {
        Some(c) if slash.is_none_or(|s| c < s) => {
            let authority = &url[..c];
            let path = &url[c + 1..];
            let (user, hostpart) = match authority.rfind('@') {
                Some(at) => (Some(&authority[..at]), &authority[at + 1..]),
                None => (None, authority),
            };
            let host = hostpart
                .strip_prefix('[')
                .and_then(|h| h.strip_suffix(']'))
                .unwrap_or(hostpart);
            check_host(url, host)?;
            if let Some(u) = user {
                check_host(url, u).map_err(|_| refuse(url, &format!("strange user name '{u}' blocked")))?;
            }
            check_path(url, path)?;
            let host = match user {
                Some(u) => format!("{u}@{host}"),
                None => host.to_string(),
            };
            Ok(Location::Ssh {
                host,
                port: None,
                path: path.to_string(),
            })
        }
        _ => Ok(Location::Local(PathBuf::from(url))),
    }
}

/// Quotes `s` for a POSIX shell as Git does (`sq_quote_buf`): in single quotes, with `'` and
/// `!` taken out of them (`'\''`, `'\!'`).
pub fn shell_quote(s: &str) -> String {
    let mut out = String::from("'");
    for c in s.chars() {
        match c {
            '\'' | '!' => {
                out.push('\'');
                out.push('\\');
                out.push(c);
                out.push('\'');
            }
            c => out.push(c),
        }
    }
    out.push('\'');
    out
}

/// Applies the longest matching `url.<base>.insteadOf` prefix (`rules` = (prefix, base)).
pub fn rewrite(url: &str, rules: &[(String, String)]) -> Option<String> {
    rules
        .iter()
        .filter(|(prefix, _)| !prefix.is_empty() && url.starts_with(prefix.as_str()))
        .max_by_key(|(prefix, _)| prefix.len())
        .map(|(prefix, base)| format!("{base}{}", &url[prefix.len()..]))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ssh(host: &str, port: Option<u16>, path: &str) -> Location {
        Location::Ssh {
            host: host.into(),
            port,
            path: path.into(),
        }
    }

    #[test]
    fn urls_parse_as_git_reads_them() {
        assert_eq!(parse("ssh://h/srv/r.git").unwrap(), ssh("h", None, "/srv/r.git"));
        assert_eq!(
            parse("ssh://me@h:2222/srv/r").unwrap(),
            ssh("me@h", Some(2222), "/srv/r")
        );
        assert_eq!(parse("git+ssh://h/~me/r").unwrap(), ssh("h", None, "~me/r"));
        assert_eq!(parse("ssh://[::1]:22/r").unwrap(), ssh("::1", Some(22), "/r"));
        assert_eq!(parse("me@h:r.git").unwrap(), ssh("me@h", None, "r.git"));
        assert_eq!(parse("h:/srv/r").unwrap(), ssh("h", None, "/srv/r"));
        assert_eq!(parse("[::1]:r").unwrap(), ssh("::1", None, "r"));
        assert_eq!(
            parse("git://h:9000/r").unwrap(),
            Location::Git {
                host: "h".into(),
                port: Some(9000),
                path: "/r".into()
            }
        );
        assert_eq!(parse("./a:b").unwrap(), Location::Local("./a:b".into()));
        assert_eq!(parse("dir/x").unwrap(), Location::Local("dir/x".into()));
        assert_eq!(parse("file:///x").unwrap(), Location::Local("/x".into()));
        assert!(matches!(parse("ftp://h/x"), Err(Error::Unsupported(_))));
    }

    #[test]
    fn option_like_parts_are_refused() {
        for bad in [
            "ssh://-oProxyCommand=touch%20x/r",
            "ssh://-oProxyCommand=x@h/r",
            "ssh://h:-1/r",
            "-oProxyCommand=x:r",
            "h:-r",
            "git://-h/r",
            "ssh:///r",
            "ssh://h",
            "ssh://h:22x/r",
        ] {
            assert!(matches!(parse(bad), Err(Error::Refused(_))), "{bad}");
        }
    }

    #[test]
    fn quoting_and_rewriting() {
        assert_eq!(shell_quote("/a b/it's!"), r"'/a b/it'\''s'\!''");
        let rules = vec![
            ("gh:".to_string(), "ssh://git@h/".to_string()),
            ("gh:long/".to_string(), "git://h/".to_string()),
        ];
        assert_eq!(rewrite("gh:x", &rules).unwrap(), "ssh://git@h/x");
        assert_eq!(rewrite("gh:long/x", &rules).unwrap(), "git://h/x");
        assert_eq!(rewrite("other", &rules), None);
    }
}
