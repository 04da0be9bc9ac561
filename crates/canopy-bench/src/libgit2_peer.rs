//! libgit2 through the `git2` crate (vendored libgit2, default options: loose objects, no fsync).

use std::path::Path;

use git2::build::TreeUpdateBuilder;
use git2::{FileMode, Oid, Repository, Signature, Time};

use crate::data::FIRST_DATE;
use crate::harness::{err, BenchResult};

fn sig(n: usize) -> BenchResult<Signature<'static>> {
    Signature::new("Bench", "bench@example.com", &Time::new(FIRST_DATE + n as i64, 0))
        .map_err(err("signature"))
}

pub fn version() -> String {
    let v = git2::Version::get();
    let (a, b, c) = v.libgit2_version();
    format!("{a}.{b}.{c}")
}

pub fn init(dir: &Path) -> BenchResult<()> {
    Repository::init_bare(dir)
        .map(|_| ())
        .map_err(err("libgit2 init"))
}

/// One commit per key: blob, tree update from the previous tree, commit, ref update.
pub fn commits(dir: &Path, keys: &[String], values: &[String]) -> BenchResult<()> {
    let repo = Repository::open_bare(dir).map_err(err("open"))?;
    let empty = repo
        .treebuilder(None)
        .and_then(|b| b.write())
        .map_err(err("empty tree"))?;
    let mut tree = repo.find_tree(empty).map_err(err("find tree"))?;
    let mut parent: Option<Oid> = None;
    for (i, (k, v)) in keys.iter().zip(values).enumerate() {
        let blob = repo.blob(v.as_bytes()).map_err(err("blob"))?;
        let mut update = TreeUpdateBuilder::new();
        update.upsert(k.as_str(), blob, FileMode::Blob);
        let tree_id = update.create_updated(&repo, &tree).map_err(err("tree"))?;
        tree = repo.find_tree(tree_id).map_err(err("find tree"))?;
        let s = sig(i)?;
        let parents = match parent {
            Some(p) => vec![repo.find_commit(p).map_err(err("find commit"))?],
            None => Vec::new(),
        };
        let refs: Vec<&git2::Commit<'_>> = parents.iter().collect();
        let id = repo
            .commit(Some("refs/heads/main"), &s, &s, &format!("set {k}"), &tree, &refs)
            .map_err(err("commit"))?;
        parent = Some(id);
    }
    Ok(())
}

/// Reads every key in `order` at the head of `main`; returns the bytes read.
pub fn reads(dir: &Path, keys: &[String], order: &[usize]) -> BenchResult<usize> {
    let repo = Repository::open_bare(dir).map_err(err("open"))?;
    let head = repo
        .find_reference("refs/heads/main")
        .and_then(|r| r.peel_to_tree())
        .map_err(err("head"))?;
    let mut total = 0;
    for &i in order {
        let entry = head.get_path(Path::new(&keys[i])).map_err(err("get_path"))?;
        let blob = repo.find_blob(entry.id()).map_err(err("find_blob"))?;
        total += blob.content().len();
    }
    Ok(total)
}

/// Counts the commits of `main` with a revwalk.
pub fn revwalk(dir: &Path) -> BenchResult<usize> {
    let repo = Repository::open_bare(dir).map_err(err("open"))?;
    let mut walk = repo.revwalk().map_err(err("revwalk"))?;
    walk.push_ref("refs/heads/main").map_err(err("revwalk"))?;
    let mut n = 0;
    for c in walk {
        c.map_err(err("revwalk"))?;
        n += 1;
    }
    Ok(n)
}

/// Tree-to-tree diff of two commits; returns the number of deltas.
pub fn diff(dir: &Path, a: &str, b: &str) -> BenchResult<usize> {
    let repo = Repository::open_bare(dir).map_err(err("open"))?;
    let ta = repo
        .revparse_single(a)
        .and_then(|o| o.peel_to_tree())
        .map_err(err("tree a"))?;
    let tb = repo
        .revparse_single(b)
        .and_then(|o| o.peel_to_tree())
        .map_err(err("tree b"))?;
    let d = repo
        .diff_tree_to_tree(Some(&ta), Some(&tb), None)
        .map_err(err("diff"))?;
    Ok(d.deltas().len())
}

/// Merges two commits and writes the merged tree; returns whether it had conflicts.
pub fn merge(dir: &Path, a: &str, b: &str) -> BenchResult<bool> {
    let repo = Repository::open_bare(dir).map_err(err("open"))?;
    let ca = repo
        .revparse_single(a)
        .and_then(|o| o.peel_to_commit())
        .map_err(err("commit a"))?;
    let cb = repo
        .revparse_single(b)
        .and_then(|o| o.peel_to_commit())
        .map_err(err("commit b"))?;
    let mut index = repo.merge_commits(&ca, &cb, None).map_err(err("merge"))?;
    let conflicts = index.has_conflicts();
    index.write_tree_to(&repo).map_err(err("write tree"))?;
    Ok(conflicts)
}
