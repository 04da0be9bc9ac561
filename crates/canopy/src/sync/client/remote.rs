//! Remotes, stored as Git stores them: `remote.<name>.url` and
//! `remote.<name>.fetch = +refs/heads/*:refs/remotes/<name>/*` in the repository's config, so
//! `git remote -v` lists them. Fetched branches land in `refs/remotes/<name>/<branch>`.

use crate::backend::git::Config;
use crate::backend::{check_ref_name, Expected, RefLog};
use crate::sync::{Error, Result};
use crate::Repo;

fn config_path(repo: &Repo) -> Result<std::path::PathBuf> {
    repo.layout()
        .map(|l| l.git_dir.join("config"))
        .ok_or_else(|| Error::Unsupported("remotes need a store on disk".into()))
}

/// The configuration as it is on disk now (not as it was when the store was opened).
pub fn load_config(repo: &Repo) -> Result<Config> {
    Ok(Config::load(&config_path(repo)?)?)
}

fn save(repo: &Repo, config: &Config) -> Result<()> {
    let fsync = repo.layout().is_none_or(|l| l.fsync);
    Ok(config.save(&config_path(repo)?, fsync)?)
}

/// Whether `name` can name a remote (a valid ref name component).
pub fn check_name(name: &str) -> Result<()> {
    if name.is_empty() || name.contains('/') || check_ref_name(&format!("refs/remotes/{name}/x")).is_err() {
        return Err(Error::Refused(format!("'{name}' is not a valid remote name")));
    }
    Ok(())
}

/// Adds remote `name` with `url`; refuses an existing name.
pub fn add(repo: &Repo, name: &str, url: &str) -> Result<()> {
    check_name(name)?;
    let mut config = load_config(repo)?;
    if config.get(&format!("remote.{name}.url")).is_some() {
        return Err(Error::Refused(format!("remote '{name}' already exists")));
    }
    config.set(&format!("remote.{name}.url"), url);
    config.set(
        &format!("remote.{name}.fetch"),
        &format!("+refs/heads/*:refs/remotes/{name}/*"),
    );
    save(repo, &config)
}

/// Removes remote `name`, its configuration and its remote-tracking references.
pub fn remove(repo: &Repo, name: &str) -> Result<()> {
    let mut config = load_config(repo)?;
    if !config.remove_section(&format!("remote.{name}")) {
        return Err(Error::Refused(format!("no such remote '{name}'")));
    }
    save(repo, &config)?;
    let log = RefLog {
        who: repo.default_signature(),
        message: format!("remote: remove {name}"),
    };
    for (r, id) in repo.refs().list(&format!("refs/remotes/{name}/"))? {
        repo.refs().update(&r, Expected::Value(id), None, &log)?;
    }
    Ok(())
}

/// Every remote with its URL, in configuration order.
pub fn list(repo: &Repo) -> Result<Vec<(String, String)>> {
    let config = load_config(repo)?;
    Ok(config
        .subsections("remote")
        .into_iter()
        .filter_map(|n| {
            let url = config.get(&format!("remote.{n}.url"))?.to_string();
            Some((n, url))
        })
        .collect())
}

/// The URL of remote `name`.
pub fn url(repo: &Repo, name: &str) -> Result<String> {
    let config = load_config(repo)?;
    config
        .get(&format!("remote.{name}.url"))
        .map(str::to_string)
        .ok_or_else(|| Error::Refused(format!("no such remote '{name}'")))
}

/// Records that `name` is a promisor remote with `filter` (what `git clone --filter` writes).
pub fn set_promisor(repo: &Repo, name: &str, filter: &str) -> Result<()> {
    let mut config = load_config(repo)?;
    config.set("core.repositoryformatversion", "1");
    config.set(&format!("remote.{name}.promisor"), "true");
    config.set(&format!("remote.{name}.partialclonefilter"), filter);
    save(repo, &config)
}

/// The promisor remote of this repository, if it is a partial clone.
pub fn promisor(repo: &Repo) -> Result<Option<String>> {
    let config = load_config(repo)?;
    for n in config.subsections("remote") {
        if config.get_bool(&format!("remote.{n}.promisor"))?.unwrap_or(false) {
            return Ok(Some(n));
        }
    }
    Ok(None)
}
