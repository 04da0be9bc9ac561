//! Tests of the merge module: driver edge cases, the merge laws as properties, and differential
//! tests against the real `git` (`git merge-file`, `git check-attr`).

mod drivers;
mod git_attr;
mod git_text;
mod laws;

use std::path::Path;
use std::process::{Command, Output};

/// Runs `git` in `dir`, isolated from the user's and the system's configuration.
fn git(dir: &Path, args: &[&str]) -> Output {
    Command::new("git")
        .args(args)
        .current_dir(dir)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("HOME", dir)
        .env_remove("GIT_DIR")
        .env_remove("GIT_WORK_TREE")
        .output()
        .expect("git runs")
}

/// How many random cases the differential tests try (`CANOPY_GIT_CASES`, default 256).
fn git_cases() -> u32 {
    std::env::var("CANOPY_GIT_CASES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(256)
}

/// Shows bytes readably in assertion messages.
fn show(bytes: &[u8]) -> String {
    format!("{:?}", String::from_utf8_lossy(bytes))
}
