//! The `git` command line: fast-import, cat-file --batch, rev-list, diff, merge-tree.

use std::io::{BufRead, BufReader, Read, Write};
use std::path::Path;
use std::process::Stdio;

use crate::harness::{err, git, run_ok, BenchResult};

pub fn init_bare(dir: &Path) -> BenchResult<()> {
    std::fs::create_dir_all(dir).map_err(err("mkdir"))?;
    let mut cmd = git(dir);
    cmd.args(["init", "--bare", "-q", "-b", "main", "."]);
    run_ok(cmd, "git init").map(|_| ())
}

/// Feeds a stream to `git fast-import` in `dir`.
pub fn fast_import(dir: &Path, stream: &[u8]) -> BenchResult<()> {
    let mut child = git(dir)
        .args(["fast-import", "--quiet"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(err("git fast-import"))?;
    let mut stdin = child.stdin.take().ok_or("no stdin")?;
    let written = stdin.write_all(stream);
    drop(stdin);
    let out = child.wait_with_output().map_err(err("git fast-import"))?;
    written.map_err(err("writing to git fast-import"))?;
    if !out.status.success() {
        return Err(format!(
            "git fast-import: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    Ok(())
}

/// Reads `main:<key>` for every key in order through one `git cat-file --batch`; returns the
/// bytes read.
pub fn cat_file_reads(dir: &Path, keys: &[String], order: &[usize]) -> BenchResult<usize> {
    let mut child = git(dir)
        .args(["cat-file", "--batch"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .map_err(err("git cat-file"))?;
    let mut stdin = child.stdin.take().ok_or("no stdin")?;
    let stdout = child.stdout.take().ok_or("no stdout")?;
    let requests: Vec<u8> = order
        .iter()
        .flat_map(|&i| format!("main:{}\n", keys[i]).into_bytes())
        .collect();
    let writer = std::thread::spawn(move || {
        let r = stdin.write_all(&requests);
        drop(stdin);
        r
    });
    let mut reader = BufReader::with_capacity(1 << 16, stdout);
    let mut total = 0;
    let mut header = String::new();
    let mut body = Vec::new();
    for _ in order {
        header.clear();
        reader.read_line(&mut header).map_err(err("git cat-file"))?;
        let size: usize = header
            .split_whitespace()
            .nth(2)
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| format!("git cat-file: unexpected '{}'", header.trim()))?;
        body.resize(size + 1, 0);
        reader.read_exact(&mut body).map_err(err("git cat-file"))?;
        total += size;
    }
    writer
        .join()
        .map_err(|_| "writer panicked")?
        .map_err(err("writing to git cat-file"))?;
    child.wait().map_err(err("git cat-file"))?;
    Ok(total)
}

/// `git rev-list --count main`, with or without the commit-graph.
pub fn rev_list_count(dir: &Path, commit_graph: bool) -> BenchResult<usize> {
    let mut cmd = git(dir);
    cmd.args([
        "-c",
        if commit_graph {
            "core.commitGraph=true"
        } else {
            "core.commitGraph=false"
        },
    ]);
    cmd.args(["rev-list", "--count", "main"]);
    let out = run_ok(cmd, "git rev-list")?;
    String::from_utf8_lossy(&out)
        .trim()
        .parse()
        .map_err(err("git rev-list output"))
}

pub fn write_commit_graph(dir: &Path) -> BenchResult<()> {
    let mut cmd = git(dir);
    cmd.args(["commit-graph", "write", "--reachable"]);
    run_ok(cmd, "git commit-graph write").map(|_| ())
}

/// `git diff --name-only A B`; returns the number of paths.
pub fn diff_names(dir: &Path, a: &str, b: &str) -> BenchResult<usize> {
    let mut cmd = git(dir);
    cmd.args(["diff", "--name-only", a, b]);
    Ok(run_ok(cmd, "git diff")?
        .split(|&c| c == b'\n')
        .filter(|l| !l.is_empty())
        .count())
}

/// `git merge-tree --write-tree A B`.
pub fn merge_tree(dir: &Path, a: &str, b: &str) -> BenchResult<()> {
    let mut cmd = git(dir);
    cmd.args(["merge-tree", "--write-tree", a, b]);
    run_ok(cmd, "git merge-tree").map(|_| ())
}

/// `git gc` (default settings).
pub fn gc(dir: &Path) -> BenchResult<()> {
    let mut cmd = git(dir);
    cmd.args(["gc", "--quiet"]);
    run_ok(cmd, "git gc").map(|_| ())
}
