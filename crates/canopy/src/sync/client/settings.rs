//! The Git configuration a client honours when it opens a remote: the user's global files
//! ([`global_layers`](crate::backend::git::global_layers): `$GIT_CONFIG_GLOBAL`, else
//! `$XDG_CONFIG_HOME/git/config` then `~/.gitconfig`, with their includes) under the store's own
//! `config`, the later file winning as in Git. The system file is not read.
//!
//! Keys used: `url.<base>.insteadOf`/`pushInsteadOf` (rewriting, longest prefix wins),
//! `remote.<name>.url`/`pushurl`/`uploadpack`/`receivepack`, `core.sshCommand`, `ssh.variant`,
//! `http.extraHeader` (multi-valued; an empty value clears the list, as in Git).

use std::path::PathBuf;

use crate::backend::git::Config;
use crate::sync::Result;
use crate::Repo;

/// Layers of configuration, lowest priority first.
#[derive(Default)]
pub struct Settings {
    layers: Vec<Config>,
    /// The store's Git directory, for `git credential` to read its configuration too.
    pub(crate) git_dir: Option<PathBuf>,
}

impl Settings {
    /// The user's global configuration only (for a clone, before the store exists).
    pub fn global() -> Result<Settings> {
        Ok(Settings {
            layers: crate::backend::git::global_layers(),
            git_dir: None,
        })
    }

    /// The global configuration under `repo`'s.
    pub fn for_repo(repo: &Repo) -> Result<Settings> {
        let mut s = Settings::global()?;
        s.layers.push(super::remote::load_config(repo)?);
        s.git_dir = repo.layout().map(|l| l.git_dir.clone());
        Ok(s)
    }

    /// The value of `key` from the highest-priority file that sets it.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.layers.iter().rev().find_map(|c| c.get(key))
    }

    /// Every value of `key`, lowest priority first.
    pub fn get_all(&self, key: &str) -> Vec<&str> {
        self.layers.iter().flat_map(|c| c.get_all(key)).collect()
    }

    /// The `url.<base>.<key>` rules as (prefix, base).
    fn rules(&self, key: &str) -> Vec<(String, String)> {
        let mut out = Vec::new();
        for c in &self.layers {
            for base in c.subsections("url") {
                for prefix in c.get_all(&format!("url.{base}.{key}")) {
                    out.push((prefix.to_string(), base.clone()));
                }
            }
        }
        out
    }

    /// `url` rewritten by `insteadOf` (for a push: `pushInsteadOf` first).
    pub fn rewrite(&self, url: &str, push: bool) -> String {
        if push {
            if let Some(u) = super::url::rewrite(url, &self.rules("pushinsteadof")) {
                return u;
            }
        }
        super::url::rewrite(url, &self.rules("insteadof")).unwrap_or_else(|| url.to_string())
    }

    /// `http.extraHeader` values in effect.
    pub fn extra_headers(&self) -> Vec<String> {
        let mut out = Vec::new();
        for v in self.get_all("http.extraheader") {
            if v.is_empty() {
                out.clear();
            } else {
                out.push(v.to_string());
            }
        }
        out
    }
}
