//! Helpers shared by the `data_*` tests: stores on disk checked with the real `git`.

#![allow(dead_code)]

use std::path::Path as FsPath;
use std::process::Command;

use canopy::store::{MergeOptions, MergeOutcome};
use canopy::{Branch, Repo};

/// A store on disk without fsync (these tests measure behaviour, not durability).
pub fn disk_repo(dir: &FsPath) -> Repo {
    Repo::init(dir).unwrap();
    git(dir, &["config", "canopy.fsync", "false"]);
    Repo::open(dir).unwrap()
}

/// Runs `git --git-dir DIR ARGS`, asserting success; returns stdout.
pub fn git(dir: &FsPath, args: &[&str]) -> String {
    let out = Command::new("git")
        .arg("--git-dir")
        .arg(dir)
        .args(args)
        .output()
        .expect("run git");
    assert!(
        out.status.success(),
        "git {args:?} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// `git fsck --strict` accepts the store.
pub fn fsck(dir: &FsPath) {
    git(dir, &["fsck", "--strict", "--no-progress"]);
}

/// Merges `from`'s head into `into`; panics on a conflict.
pub fn sync(into: &Branch, from: &Branch) {
    let Some(head) = from.head().unwrap() else { return };
    if let MergeOutcome::Conflicts(c) = into.merge(head, &MergeOptions::default()).unwrap() {
        panic!("merging {} into {}: {c:?}", from.name(), into.name());
    }
}

/// The id of a branch's root tree.
pub fn tree_of(b: &Branch) -> Option<canopy::ObjectId> {
    b.view().unwrap().tree().id()
}

/// A small deterministic generator (xorshift64*).
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}
