//! Canopy, driven in-process through the library (and through the `canopy` binary where a user
//! would use it).

use std::path::Path as FsPath;
use std::process::{Command, Stdio};

use canopy::object::Signature;
use canopy::store::{CommitOptions, ImportMode, Importer};
use canopy::{ObjectId, Path, Repo};

use crate::data::FIRST_DATE;
use crate::harness::{err, run_ok, BenchResult};

pub fn opts(n: usize, message: String) -> CommitOptions {
    let who = Signature {
        name: "Bench".into(),
        email: "bench@example.com".into(),
        time: FIRST_DATE + n as i64,
        offset_minutes: 0,
    };
    CommitOptions {
        message,
        author: Some(who.clone()),
        committer: Some(who),
    }
}

/// Creates a store in `dir` with `canopy.fsync` set as asked.
pub fn init(dir: &FsPath, fsync: bool) -> BenchResult<()> {
    Repo::init(dir).map_err(err("canopy init"))?;
    if !fsync {
        configure(dir, "fsync = false")?;
    }
    Ok(())
}

/// Creates a durable store that syncs each file a commit writes (`canopy.journal = false`).
pub fn init_without_journal(dir: &FsPath) -> BenchResult<()> {
    Repo::init(dir).map_err(err("canopy init"))?;
    configure(dir, "journal = false")
}

fn configure(dir: &FsPath, setting: &str) -> BenchResult<()> {
    let config = dir.join("config");
    let mut text = std::fs::read_to_string(&config).map_err(err("read config"))?;
    text.push_str(&format!("[canopy]\n\t{setting}\n"));
    std::fs::write(&config, text).map_err(err("write config"))
}

pub fn parse_paths(keys: &[String]) -> BenchResult<Vec<Path>> {
    keys.iter().map(|k| Path::parse(k).map_err(err("path"))).collect()
}

/// One commit per key with `Branch::set`.
pub fn commits(dir: &FsPath, paths: &[Path], values: &[String]) -> BenchResult<()> {
    let repo = Repo::open(dir).map_err(err("open"))?;
    let main = repo.branch("main").map_err(err("branch"))?;
    for (i, (p, v)) in paths.iter().zip(values).enumerate() {
        main.set(p, v.as_bytes(), &opts(i, format!("set {p}")))
            .map_err(err("set"))?;
    }
    Ok(())
}

/// One `canopy set` process per key.
pub fn cli_commits(bin: &FsPath, dir: &FsPath, keys: &[String], values: &[String]) -> BenchResult<()> {
    for (k, v) in keys.iter().zip(values) {
        let mut cmd = Command::new(bin);
        cmd.arg("--root")
            .arg(dir)
            .args(["set", k, v])
            .stdin(Stdio::null());
        run_ok(cmd, "canopy set")?;
    }
    Ok(())
}

/// All pairs in one commit through `store::Importer`; returns the new head.
pub fn import(dir: &FsPath, pairs: &[(String, String)], mode: ImportMode, n: usize) -> BenchResult<ObjectId> {
    let repo = Repo::open(dir).map_err(err("open"))?;
    let main = repo.branch("main").map_err(err("branch"))?;
    let mut imp = Importer::new(&main, mode).map_err(err("import"))?;
    for (k, v) in pairs {
        imp.add(k.as_bytes(), v.as_bytes()).map_err(err("import"))?;
    }
    let out = imp.commit(&opts(n, "bulk load".into())).map_err(err("import"))?;
    Ok(out.commit)
}

/// `threads` threads commit the keys (dealt round-robin), one commit per key: each on a branch
/// of its own (`shared == false`), or all on `main`.
pub fn threaded_commits(
    dir: &FsPath,
    paths: &[Path],
    values: &[String],
    threads: usize,
    shared: bool,
) -> BenchResult<()> {
    let repo = Repo::open(dir).map_err(err("open"))?;
    std::thread::scope(|s| {
        let workers: Vec<_> = (0..threads)
            .map(|t| {
                let repo = repo.clone();
                s.spawn(move || -> BenchResult<()> {
                    let name = if shared {
                        "main".to_string()
                    } else {
                        format!("writer-{t}")
                    };
                    let branch = repo.branch(&name).map_err(err("branch"))?;
                    for i in (t..paths.len()).step_by(threads) {
                        branch
                            .set(
                                &paths[i],
                                values[i].as_bytes(),
                                &opts(i, format!("set {}", paths[i])),
                            )
                            .map_err(err("set"))?;
                    }
                    Ok(())
                })
            })
            .collect();
        for w in workers {
            w.join().map_err(|_| "writer thread panicked".to_string())??;
        }
        Ok(())
    })
}

/// All pairs in one ordinary transaction (one `Change::Set` each, applied with `Tree::with`
/// per key): what `store::Importer` replaces for bulk loads.
pub fn transaction_load(dir: &FsPath, pairs: &[(String, String)]) -> BenchResult<()> {
    let repo = Repo::open(dir).map_err(err("open"))?;
    let main = repo.branch("main").map_err(err("branch"))?;
    let mut tx = main.transaction();
    for (k, v) in pairs {
        tx = tx.set(Path::parse(k).map_err(err("path"))?, v.as_bytes());
    }
    tx.commit(&opts(0, "bulk load".into())).map_err(err("commit"))?;
    Ok(())
}

/// `canopy import FILE`.
pub fn cli_import(bin: &FsPath, dir: &FsPath, file: &FsPath) -> BenchResult<()> {
    let mut cmd = Command::new(bin);
    cmd.arg("--root")
        .arg(dir)
        .arg("import")
        .arg(file)
        .stdin(Stdio::null());
    run_ok(cmd, "canopy import").map(|_| ())
}

/// Reads every path in `order` at the head with `View::get`; returns the bytes read.
pub fn reads(dir: &FsPath, paths: &[Path], order: &[usize]) -> BenchResult<usize> {
    let repo = Repo::open(dir).map_err(err("open"))?;
    let view = repo.branch("main").and_then(|b| b.view()).map_err(err("view"))?;
    let mut total = 0;
    for &i in order {
        let v = view
            .get(&paths[i])
            .map_err(err("get"))?
            .ok_or_else(|| format!("{} missing", paths[i]))?;
        total += v.len();
    }
    Ok(total)
}

/// Walks the whole history of `main` with `Branch::history`; returns the number of commits.
pub fn history(dir: &FsPath) -> BenchResult<usize> {
    let repo = Repo::open(dir).map_err(err("open"))?;
    let main = repo.branch("main").map_err(err("branch"))?;
    let mut n = 0;
    for c in main.history().map_err(err("history"))? {
        c.map_err(err("history"))?;
        n += 1;
    }
    Ok(n)
}

/// Walks the whole history of `main` for ids only (`History::ids`, as `git rev-list`);
/// returns the number of commits.
pub fn history_ids(dir: &FsPath) -> BenchResult<usize> {
    let repo = Repo::open(dir).map_err(err("open"))?;
    let main = repo.branch("main").map_err(err("branch"))?;
    let mut n = 0;
    for id in main.history().map_err(err("history"))?.ids() {
        id.map_err(err("history"))?;
        n += 1;
    }
    Ok(n)
}

/// `canopy log --count`; returns the count it printed.
pub fn cli_log_count(bin: &FsPath, dir: &FsPath) -> BenchResult<usize> {
    let mut cmd = Command::new(bin);
    cmd.arg("--root")
        .arg(dir)
        .args(["log", "--count"])
        .stdin(Stdio::null());
    let out = cmd.output().map_err(err("canopy log --count"))?;
    if !out.status.success() {
        return Err("canopy log --count failed".into());
    }
    String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .map_err(|e| format!("canopy log --count printed no count: {e}"))
}

/// `canopy log > /dev/null`.
pub fn cli_log(bin: &FsPath, dir: &FsPath) -> BenchResult<()> {
    let mut cmd = Command::new(bin);
    cmd.arg("--root")
        .arg(dir)
        .arg("log")
        .stdout(Stdio::null())
        .stdin(Stdio::null());
    let status = cmd.status().map_err(err("canopy log"))?;
    if !status.success() {
        return Err("canopy log failed".into());
    }
    Ok(())
}

/// The paths that differ between two commits.
pub fn diff(dir: &FsPath, a: ObjectId, b: ObjectId) -> BenchResult<usize> {
    let repo = Repo::open(dir).map_err(err("open"))?;
    let changes = repo
        .diff_commits(Some(a), Some(b), &Path::root())
        .map_err(err("diff"))?;
    Ok(changes.len())
}

/// Merges two commits' trees and writes the result (as `git merge-tree --write-tree` does);
/// returns the number of conflicts.
pub fn merge(dir: &FsPath, ours: ObjectId, theirs: ObjectId) -> BenchResult<usize> {
    let repo = Repo::open(dir).map_err(err("open"))?;
    let merged = repo.merge_commits(ours, theirs, None).map_err(err("merge"))?;
    repo.write_tree(&merged.tree).map_err(err("write tree"))?;
    repo.objects().flush().map_err(err("flush"))?;
    Ok(merged.conflicts.len())
}

/// Writes the commit-graph of everything reachable from `branches`, as `canopy gc` does (the
/// same code, without gc's repack).
pub fn write_commit_graph(dir: &FsPath, branches: &[String]) -> BenchResult<usize> {
    let repo = Repo::open(dir).map_err(err("open"))?;
    let mut tips = Vec::new();
    for b in branches {
        if let Some(head) = repo.branch(b).and_then(|b| b.head()).map_err(err("branch"))? {
            tips.push(head);
        }
    }
    let layout = canopy::backend::git::RepoLayout::open(dir).map_err(err("open"))?;
    let objects = layout.objects().map_err(err("open"))?;
    canopy::backend::git::commit_graph::write(&objects, &dir.join("objects"), &tips, false, 1)
        .map_err(err("commit-graph write"))
}
