//! Who a commit is by, decided as Git decides it.
//!
//! For the author (and likewise the committer): `GIT_AUTHOR_NAME` / `GIT_AUTHOR_EMAIL`, else
//! `user.name` / `user.email` from the store's config, else from the user's global Git config
//! (`$GIT_CONFIG_GLOBAL`, or `$XDG_CONFIG_HOME/git/config` then `~/.gitconfig`, with their
//! `[include] path = …` files), else `$EMAIL` for the email, else `canopy <canopy@localhost>`
//! (a server must be able to commit on a machine nobody configured; `canopy init` says how to
//! set an identity). The date is `GIT_AUTHOR_DATE` / `GIT_COMMITTER_DATE` when set (any form
//! [`parse_git_date`] reads), else now, with the offset of the local time zone (`TZ`, else the
//! system's) at that moment. `includeIf` sections are not evaluated.

use super::{parse_git_date, Error, Repo, Result};
use crate::backend::git::Config;
use crate::object::Signature;

/// The name and email used when nothing configures one.
pub const FALLBACK_NAME: &str = "canopy";
pub const FALLBACK_EMAIL: &str = "canopy@localhost";

/// Which identity of a commit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Author,
    Committer,
}

impl Role {
    fn env(self, what: &str) -> Option<String> {
        let role = match self {
            Role::Author => "AUTHOR",
            Role::Committer => "COMMITTER",
        };
        std::env::var(format!("GIT_{role}_{what}"))
            .ok()
            .filter(|v| !v.is_empty())
    }
}

/// The user's global Git configuration files, lowest precedence first.
#[derive(Debug, Default)]
pub(crate) struct GlobalConfig {
    files: Vec<Config>,
}

impl GlobalConfig {
    /// Reads the files Git reads for `--global`, and the files they include.
    pub(crate) fn load() -> GlobalConfig {
        GlobalConfig {
            files: crate::backend::git::global_layers(),
        }
    }

    pub(crate) fn get(&self, key: &str) -> Option<String> {
        self.files
            .iter()
            .rev()
            .find_map(|c| c.get(key))
            .map(str::to_string)
    }
}

/// The offset of the local time zone at `time` (seconds since the epoch), in minutes.
pub fn local_offset_minutes(time: i64) -> i32 {
    let Ok(ts) = jiff::Timestamp::from_second(time) else {
        return 0;
    };
    jiff::tz::TimeZone::system().to_offset(ts).seconds() / 60
}

impl Repo {
    /// A setting from the store's config, else the user's global Git config.
    fn user_setting(&self, key: &str) -> Option<String> {
        self.config_value(key)
            .or_else(|| self.inner.global.get_or_init(GlobalConfig::load).get(key))
            .filter(|v| !v.is_empty())
    }

    /// Whether an identity is configured for commits (environment, store or global config), as
    /// opposed to the built-in `canopy <canopy@localhost>`.
    pub fn has_identity(&self) -> bool {
        (Role::Author.env("NAME").is_some() || self.user_setting("user.name").is_some())
            && (Role::Author.env("EMAIL").is_some()
                || self.user_setting("user.email").is_some()
                || std::env::var("EMAIL").is_ok_and(|e| !e.is_empty()))
    }

    /// The name and email of `role`.
    fn who(&self, role: Role) -> (String, String) {
        let name = role
            .env("NAME")
            .or_else(|| self.user_setting("user.name"))
            .unwrap_or_else(|| FALLBACK_NAME.into());
        let email = role
            .env("EMAIL")
            .or_else(|| self.user_setting("user.email"))
            .or_else(|| std::env::var("EMAIL").ok().filter(|e| !e.is_empty()))
            .unwrap_or_else(|| FALLBACK_EMAIL.into());
        (name, email)
    }

    /// The signature of `role` for a commit made now, as Git decides it: `GIT_AUTHOR_NAME` /
    /// `GIT_AUTHOR_EMAIL` (or `GIT_COMMITTER_*`), else `user.name` / `user.email` from the
    /// store's config, else from the user's global Git config (with its includes), else
    /// `$EMAIL` for the email, else `canopy <canopy@localhost>`; dated `GIT_AUTHOR_DATE` /
    /// `GIT_COMMITTER_DATE` when set, else now with the local time zone's offset. An unreadable
    /// date is an error.
    pub fn signature(&self, role: Role) -> Result<Signature> {
        let (name, email) = self.who(role);
        let (time, offset_minutes) = match role.env("DATE") {
            Some(date) => parse_git_date(&date).ok_or(Error::InvalidDate(date))?,
            None => now(),
        };
        Ok(Signature {
            name,
            email,
            time,
            offset_minutes,
        })
    }

    /// The committer's signature for a commit made now ([`Repo::signature`]); an unreadable
    /// `GIT_COMMITTER_DATE` gives the current time instead of an error.
    pub fn default_signature(&self) -> Signature {
        self.signature(Role::Committer).unwrap_or_else(|_| {
            let (name, email) = self.who(Role::Committer);
            let (time, offset_minutes) = now();
            Signature {
                name,
                email,
                time,
                offset_minutes,
            }
        })
    }
}

/// Now, in seconds since the epoch, with the local time zone's offset.
fn now() -> (i64, i32) {
    let secs = crate::platform::since_epoch().as_secs() as i64;
    (secs, local_offset_minutes(secs))
}
