//! Access tokens: named bearer secrets with read and write globs over branch names.
//!
//! Only the SHA-256 of a token is kept, in the store's Git configuration file (never in a
//! branch, so it is neither committed nor served over `/git`):
//!
//! ```text
//! [canopy "token.ci"]
//!     hash = 5e884898da28047151d0e56f8dc6292773603d0d6aabbdd62a11ef721d1542d8
//!     read = *
//!     write = feature/*
//!     created = 1764000000
//! ```
//!
//! `read` and `write` hold space-separated globs (branch names cannot contain spaces): `*`
//! matches any run of characters, `/` included, and `?` any one character. Write access
//! implies read access. A presented token is hashed and compared with every stored hash in
//! constant time, so neither the match nor its position leaks through timing.
//!
//! Stores without a configuration file (in memory) keep their tokens in memory.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use base64::Engine;
use canopy::backend::git::Config;
use canopy::Repo;
use sha2::{Digest, Sha256};

/// What the token store can fail with.
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    #[error("invalid token name '{0}': use letters, digits, '.', '_' and '-'")]
    InvalidName(String),
    #[error("invalid branch glob '{0}'")]
    InvalidGlob(String),
    #[error("token '{0}' already exists")]
    Exists(String),
    #[error("no token named '{0}'")]
    NoSuchToken(String),
    #[error("cannot read or write the token configuration: {0}")]
    Storage(#[from] canopy::backend::Error),
    #[error("no source of randomness: {0}")]
    Random(String),
}

/// A token as stored: its name, rights and hash (never the token itself).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct TokenInfo {
    pub name: String,
    pub read: Vec<String>,
    pub write: Vec<String>,
    /// Unix time of creation.
    pub created: i64,
    #[serde(skip)]
    hash: [u8; 32],
}

impl TokenInfo {
    /// Whether this token may read `branch` (write access implies read access).
    pub fn can_read(&self, branch: &str) -> bool {
        self.can_write(branch)
            || self
                .read
                .iter()
                .any(|g| glob_match(g.as_bytes(), branch.as_bytes()))
    }

    /// Whether this token may write `branch`.
    pub fn can_write(&self, branch: &str) -> bool {
        self.write
            .iter()
            .any(|g| glob_match(g.as_bytes(), branch.as_bytes()))
    }
}

/// Where tokens live: the store's Git config file, or memory.
#[derive(Clone)]
pub struct TokenStore {
    source: Source,
    /// The last parse of the config file and the (mtime, length) it was parsed at.
    cache: Arc<Mutex<Option<Cached>>>,
}

/// The config file's (mtime, length) when parsed, and what it held.
type Cached = (FileStamp, Arc<Vec<TokenInfo>>);
type FileStamp = (Option<SystemTime>, u64);

#[derive(Clone)]
enum Source {
    Config { path: PathBuf, fsync: bool },
    Memory(Arc<Mutex<Vec<TokenInfo>>>),
}

impl std::fmt::Debug for TokenStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.source {
            Source::Config { path, .. } => write!(f, "TokenStore({})", path.display()),
            Source::Memory(_) => write!(f, "TokenStore(<memory>)"),
        }
    }
}

const SECTION: &str = "canopy";
const PREFIX: &str = "token.";

impl TokenStore {
    /// The tokens of `repo`: its Git config file, or memory for an in-memory store.
    pub fn for_repo(repo: &Repo) -> TokenStore {
        let source = match repo.layout() {
            Some(layout) => Source::Config {
                path: layout.git_dir.join("config"),
                fsync: layout.fsync,
            },
            None => Source::Memory(Arc::default()),
        };
        TokenStore {
            source,
            cache: Arc::default(),
        }
    }

    /// Every token, in the order they were created.
    pub fn list(&self) -> Result<Arc<Vec<TokenInfo>>, TokenError> {
        match &self.source {
            Source::Memory(tokens) => Ok(Arc::new(lock(tokens).clone())),
            Source::Config { path, .. } => {
                let stamp = std::fs::metadata(path)
                    .map(|m| (m.modified().ok(), m.len()))
                    .unwrap_or((None, 0));
                let mut cache = lock(&self.cache);
                if let Some((cached, tokens)) = &*cache {
                    if *cached == stamp && stamp.0.is_some() {
                        return Ok(tokens.clone());
                    }
                }
                let tokens = Arc::new(parse_config(&Config::load(path)?));
                *cache = Some((stamp, tokens.clone()));
                Ok(tokens)
            }
        }
    }

    /// Whether any token is defined (with none, the server may run without authentication).
    pub fn is_empty(&self) -> Result<bool, TokenError> {
        Ok(self.list()?.is_empty())
    }

    /// Creates token `name` with the given rights; returns the secret, which is shown only now.
    pub fn create(&self, name: &str, read: &[String], write: &[String]) -> Result<String, TokenError> {
        check_name(name)?;
        for glob in read.iter().chain(write) {
            if glob.is_empty()
                || glob
                    .bytes()
                    .any(|c| c.is_ascii_whitespace() || c.is_ascii_control())
            {
                return Err(TokenError::InvalidGlob(glob.clone()));
            }
        }
        let secret = new_secret()?;
        let info = TokenInfo {
            name: name.to_string(),
            read: read.to_vec(),
            write: write.to_vec(),
            created: now(),
            hash: hash_token(&secret),
        };
        match &self.source {
            Source::Memory(tokens) => {
                let mut tokens = lock(tokens);
                if tokens.iter().any(|t| t.name == name) {
                    return Err(TokenError::Exists(name.to_string()));
                }
                tokens.push(info);
            }
            Source::Config { path, fsync } => {
                let mut config = Config::load(path)?;
                if parse_config(&config).iter().any(|t| t.name == name) {
                    return Err(TokenError::Exists(name.to_string()));
                }
                let key = |k: &str| format!("{SECTION}.{PREFIX}{name}.{k}");
                config.set(&key("hash"), &hex(&info.hash));
                config.set(&key("read"), &info.read.join(" "));
                config.set(&key("write"), &info.write.join(" "));
                config.set(&key("created"), &info.created.to_string());
                config.save(path, *fsync)?;
            }
        }
        Ok(secret)
    }

    /// Removes token `name`.
    pub fn revoke(&self, name: &str) -> Result<(), TokenError> {
        match &self.source {
            Source::Memory(tokens) => {
                let mut tokens = lock(tokens);
                let before = tokens.len();
                tokens.retain(|t| t.name != name);
                if tokens.len() == before {
                    return Err(TokenError::NoSuchToken(name.to_string()));
                }
            }
            Source::Config { path, fsync } => {
                let mut config = Config::load(path)?;
                if !config.remove_section(&format!("{SECTION}.{PREFIX}{name}")) {
                    return Err(TokenError::NoSuchToken(name.to_string()));
                }
                config.save(path, *fsync)?;
            }
        }
        Ok(())
    }

    /// The token whose secret is `secret`, if any. Every stored hash is compared, in constant
    /// time each.
    pub fn authenticate(&self, secret: &str) -> Result<Option<TokenInfo>, TokenError> {
        let presented = hash_token(secret);
        let mut found = None;
        for token in self.list()?.iter() {
            if constant_time_eq(&presented, &token.hash) && found.is_none() {
                found = Some(token.clone());
            }
        }
        Ok(found)
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn parse_config(config: &Config) -> Vec<TokenInfo> {
    let mut out = Vec::new();
    for sub in config.subsections(SECTION) {
        let Some(name) = sub.strip_prefix(PREFIX) else {
            continue;
        };
        let get = |k: &str| {
            config
                .get(&format!("{SECTION}.{sub}.{k}"))
                .unwrap_or("")
                .to_string()
        };
        let Some(hash) = parse_hex32(&get("hash")) else {
            tracing::warn!(token = name, "ignoring a token without a valid hash");
            continue;
        };
        let globs = |s: String| s.split_ascii_whitespace().map(str::to_string).collect::<Vec<_>>();
        out.push(TokenInfo {
            name: name.to_string(),
            read: globs(get("read")),
            write: globs(get("write")),
            created: get("created").parse().unwrap_or(0),
            hash,
        });
    }
    out
}

fn check_name(name: &str) -> Result<(), TokenError> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && !name.starts_with(['-', '.'])
        && name
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'.' | b'_' | b'-'));
    if ok {
        Ok(())
    } else {
        Err(TokenError::InvalidName(name.to_string()))
    }
}

/// A fresh secret: `cnp_` and 32 random bytes in URL-safe base64.
fn new_secret() -> Result<String, TokenError> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|e| TokenError::Random(e.to_string()))?;
    Ok(format!(
        "cnp_{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
    ))
}

fn hash_token(secret: &str) -> [u8; 32] {
    Sha256::digest(secret.as_bytes()).into()
}

/// Compares in constant time (`subtle`), so the time taken does not depend on where the first
/// differing byte is.
fn constant_time_eq(a: &[u8; 32], b: &[u8; 32]) -> bool {
    use subtle::ConstantTimeEq;
    a.ct_eq(b).into()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn parse_hex32(s: &str) -> Option<[u8; 32]> {
    let s = s.as_bytes();
    if s.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, pair) in s.chunks(2).enumerate() {
        let digit = |c: u8| (c as char).to_digit(16);
        out[i] = (digit(pair[0])? * 16 + digit(pair[1])?) as u8;
    }
    Some(out)
}

fn now() -> i64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// `*` matches any run of bytes (`/` included), `?` any one byte, anything else itself.
pub fn glob_match(pattern: &[u8], text: &[u8]) -> bool {
    // Iterative matching with one backtrack point: linear in practice, never exponential.
    let (mut p, mut t) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        match pattern.get(p) {
            Some(b'*') => {
                star = Some((p, t));
                p += 1;
            }
            Some(&c) if c == b'?' || c == text[t] => {
                p += 1;
                t += 1;
            }
            _ => match star {
                Some((sp, st)) => {
                    p = sp + 1;
                    t = st + 1;
                    star = Some((sp, st + 1));
                }
                None => return false,
            },
        }
    }
    pattern[p..].iter().all(|&c| c == b'*')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs() {
        assert!(glob_match(b"*", b"main"));
        assert!(glob_match(b"*", b"feature/x"));
        assert!(glob_match(b"feature/*", b"feature/x"));
        assert!(glob_match(b"feature/*", b"feature/x/y"));
        assert!(!glob_match(b"feature/*", b"main"));
        assert!(!glob_match(b"feature/*", b"feature"));
        assert!(glob_match(b"ma?n", b"main"));
        assert!(glob_match(b"main", b"main"));
        assert!(!glob_match(b"main", b"mainline"));
        assert!(glob_match(b"*-dev", b"a-b-dev"));
    }

    #[test]
    fn tokens_in_config_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let repo = Repo::init(dir.path().join("s")).unwrap();
        let store = TokenStore::for_repo(&repo);
        assert!(store.is_empty().unwrap());
        let secret = store.create("ci", &["*".into()], &["feature/*".into()]).unwrap();
        assert!(matches!(store.create("ci", &[], &[]), Err(TokenError::Exists(_))));
        assert!(matches!(
            store.create("bad name", &[], &[]),
            Err(TokenError::InvalidName(_))
        ));
        let config = std::fs::read_to_string(dir.path().join("s/config")).unwrap();
        assert!(!config.contains(&secret), "the secret itself is never stored");
        let info = store.authenticate(&secret).unwrap().unwrap();
        assert_eq!(info.name, "ci");
        assert!(info.can_read("main") && !info.can_write("main") && info.can_write("feature/x"));
        assert!(store.authenticate("cnp_wrong").unwrap().is_none());
        // A second handle (another process) sees the same tokens.
        let again = TokenStore::for_repo(&Repo::open(dir.path().join("s")).unwrap());
        assert_eq!(again.list().unwrap().len(), 1);
        again.revoke("ci").unwrap();
        assert!(store.authenticate(&secret).unwrap().is_none());
        assert!(matches!(store.revoke("ci"), Err(TokenError::NoSuchToken(_))));
    }
}
