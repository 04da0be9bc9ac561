//! A daemon on a fresh store in a temporary directory, per test.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use canopy_xenstored::client::Client;
use canopy_xenstored::{Config, Daemon, Running};

pub struct TestDaemon {
    pub running: Option<Running>,
    pub dir: tempfile::TempDir,
}

impl Drop for TestDaemon {
    fn drop(&mut self) {
        // Before the directory goes.
        if let Some(r) = self.running.take() {
            r.stop();
        }
    }
}

impl TestDaemon {
    pub fn start() -> TestDaemon {
        let dir = tempfile::tempdir().unwrap();
        let daemon = TestDaemon::at(dir.path().join("store"), dir.path().join("socket"));
        TestDaemon {
            dir,
            running: Some(daemon),
        }
    }

    pub fn at(root: PathBuf, socket: PathBuf) -> Running {
        Daemon::bind(&Config {
            root,
            branch: "main".into(),
            socket,
        })
        .unwrap()
        .spawn()
    }

    pub fn socket(&self) -> PathBuf {
        self.dir.path().join("socket")
    }

    pub fn root(&self) -> PathBuf {
        self.dir.path().join("store")
    }

    pub fn client(&self) -> Client {
        Client::connect(self.socket()).unwrap()
    }

    pub fn repo(&self) -> canopy::Repo {
        canopy::Repo::open(self.root()).unwrap()
    }
}

/// Waits for an event on `path` (skipping others) and returns its token.
pub fn wait_event(c: &mut Client, path: &str) -> Option<String> {
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if let Some((p, token)) = c.next_event(Duration::from_millis(200)).unwrap() {
            if p == path {
                return Some(token);
            }
        }
    }
    None
}

/// Whether the `program` is on the PATH (the Xen tools are installed).
pub fn have(program: &str) -> bool {
    std::env::var_os("PATH")
        .map(|paths| std::env::split_paths(&paths).any(|d| d.join(program).is_file()))
        .unwrap_or(false)
}

pub fn git_log(root: &Path) -> Vec<String> {
    let repo = canopy::Repo::open(root).unwrap();
    repo.branch("main")
        .unwrap()
        .history()
        .unwrap()
        .map(|c| c.unwrap().summary())
        .collect()
}
