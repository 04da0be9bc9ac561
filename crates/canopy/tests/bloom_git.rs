//! Changed-path Bloom filters in the commit-graph, against the real `git` both ways: Canopy
//! writes the same filter bytes as `git commit-graph write --changed-paths` (versions 1 and 2),
//! `git log -- PATH` uses Canopy's filters (its trace2 statistics say so) and prints what it
//! prints without them, and Canopy's walks read git's filters and list what `git log` lists.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::Write as _;
use std::path::Path as FsPath;
use std::process::{Command, Stdio};

use canopy::backend::git::commit_graph::{self, Graph};
use canopy::backend::git::gc::{gc, GcOptions};
use canopy::backend::git::{GitObjects, RepoLayout};
use canopy::object::{HashKind, ObjectId};
use canopy::path::Path;
use canopy::store::Repo;

fn git_env(dir: &FsPath, args: &[&str], env: &[(&str, &str)]) -> (String, String) {
    let out = Command::new("git")
        .args(args)
        .current_dir(dir)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .envs(env.iter().copied())
        .output()
        .expect("git runs");
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn git(dir: &FsPath, args: &[&str]) -> String {
    git_env(dir, args, &[]).0
}

/// A history with every kind of change a filter records: files added, changed, deleted,
/// made executable, replaced by a directory; nested directories; a path with bytes ≥ 0x80; an
/// empty commit; a commit of more than 512 files; merges (filtered against the first parent).
fn history(dir: &FsPath) {
    git(dir, &["init", "-q", "--bare", "-b", "main", "."]);
    git(dir, &["config", "gc.auto", "0"]);
    let mut s = String::new();
    let mut mark = 0;
    let mut time = 1_000_000;
    let mut commit = |s: &mut String, branch: &str, parents: &[usize], ops: &[String]| -> usize {
        mark += 1;
        time += 10;
        let _ = writeln!(
            s,
            "commit refs/heads/{branch}\nmark :{mark}\ncommitter C <c@example.com> {time} +0000\ndata 3\nc{}",
            mark % 10
        );
        for (i, p) in parents.iter().enumerate() {
            let _ = writeln!(s, "{} :{p}", if i == 0 { "from" } else { "merge" });
        }
        for op in ops {
            let _ = writeln!(s, "{op}");
        }
        s.push('\n');
        mark
    };
    let m = |mode: &str, path: &str, v: &str| format!("M {mode} inline {path}\ndata {}\n{v}", v.len());
    let f = |path: &str, v: &str| m("100644", path, v);
    let root = commit(
        &mut s,
        "main",
        &[],
        &[
            f("a", "1"),
            f("d/x", "1"),
            f("d/e/y", "1"),
            f("d/e/z", "1"),
            f("t/k", "1"),
        ],
    );
    let c1 = commit(&mut s, "main", &[root], &[f("d/e/y", "2")]);
    let c2 = commit(&mut s, "main", &[c1], &[m("100755", "a", "1")]);
    let c3 = commit(&mut s, "main", &[c2], &["D d/x".into(), f("n/é/ü.txt", "1")]);
    let c4 = commit(&mut s, "main", &[c3], &[]);
    let big: Vec<String> = (0..600).map(|i| f(&format!("big/{}/f{i}", i % 7), "v")).collect();
    let c5 = commit(&mut s, "main", &[c4], &big);
    // Just over and just under the limit with directories counted.
    let near: Vec<String> = (0..480)
        .map(|i| f(&format!("near/{}/g{i}", i % 40), "v"))
        .collect();
    let c6 = commit(&mut s, "main", &[c5], &near);
    let s1 = commit(&mut s, "side", &[c2], &[f("d/e/z", "2"), f("side", "1")]);
    let s2 = commit(&mut s, "side", &[s1], &[f("n/é/ü.txt", "side")]);
    let m1 = commit(&mut s, "main", &[c6, s2], &[f("d/e/z", "2"), f("side", "1")]);
    let c7 = commit(&mut s, "main", &[m1], &["D t/k".into(), f("t", "now a file")]);
    let c8 = commit(&mut s, "main", &[c7], &[f("d/e/y", "3"), f("a", "2")]);
    let _ = commit(&mut s, "main", &[c8, s2], &[f("merged", "1")]);
    s.push_str("done\n");
    let mut child = Command::new("git")
        .args(["fast-import", "--quiet", "--done"])
        .current_dir(dir)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .stdin(Stdio::piped())
        .spawn()
        .expect("git fast-import runs");
    child.stdin.take().unwrap().write_all(s.as_bytes()).unwrap();
    assert!(child.wait().unwrap().success(), "fast-import failed");
}

const PATHS: &[&str] = &[
    "a",
    "d",
    "d/x",
    "d/e",
    "d/e/y",
    "d/e/z",
    "t",
    "t/k",
    "n",
    "n/é/ü.txt",
    "big",
    "big/3",
    "big/3/f3",
    "near",
    "side",
    "merged",
    "missing",
    "d/missing",
];

fn graph_path(dir: &FsPath) -> std::path::PathBuf {
    dir.join("objects/info/commit-graph")
}

fn all_commits(dir: &FsPath) -> Vec<ObjectId> {
    git(dir, &["rev-list", "--all"])
        .lines()
        .map(|l| ObjectId::from_hex(l.as_bytes()).unwrap())
        .collect()
}

/// Every commit's stored filter.
fn filters(dir: &FsPath) -> BTreeMap<ObjectId, Vec<u8>> {
    let graph = Graph::open(&dir.join("objects"), HashKind::Sha1).expect("a valid graph");
    all_commits(dir)
        .into_iter()
        .map(|id| {
            let pos = graph.position(&id).expect("listed");
            (id, graph.filter_at(pos).expect("a filter").to_vec())
        })
        .collect()
}

fn canopy_write(dir: &FsPath, version: u32) {
    let objects = GitObjects::open(&dir.join("objects"), HashKind::Sha1, false).unwrap();
    commit_graph::write(&objects, &dir.join("objects"), &all_commits(dir), false, version).unwrap();
}

fn git_log(dir: &FsPath, path: &str, graph: bool) -> (String, Option<serde_json::Value>) {
    let trace = dir.join("trace2.json");
    let _ = std::fs::remove_file(&trace);
    let flag = if graph {
        "core.commitGraph=true"
    } else {
        "core.commitGraph=false"
    };
    let (out, _) = git_env(
        dir,
        &["-c", flag, "log", "--format=%H", "main", "--", path],
        &[("GIT_TRACE2_EVENT", trace.to_str().unwrap())],
    );
    let stats = std::fs::read_to_string(&trace).ok().and_then(|t| {
        t.lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .find(|e| e["category"] == "bloom" && e["key"] == "statistics")
            .map(|e| e["value"].clone())
    });
    (out, stats)
}

fn canopy_log(dir: &FsPath, path: &str) -> String {
    let repo = Repo::open(dir).unwrap();
    let tip = repo.resolve("main").unwrap();
    repo.history(&[tip])
        .touching(Path::parse(path).unwrap())
        .map(|c| format!("{}\n", c.unwrap().id))
        .collect()
}

#[test]
fn canopy_writes_the_filters_git_writes() {
    for version in [1, 2] {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
        history(dir);
        let setting = format!("commitGraph.changedPathsVersion={version}");
        git(
            dir,
            &[
                "-c",
                &setting,
                "commit-graph",
                "write",
                "--reachable",
                "--changed-paths",
            ],
        );
        let graph = Graph::open(&dir.join("objects"), HashKind::Sha1).unwrap();
        assert_eq!(graph.filter_version(), Some(version));
        let from_git = filters(dir);
        let file_from_git = std::fs::read(graph_path(dir)).unwrap();
        canopy_write(dir, version);
        let from_canopy = filters(dir);
        for (id, f) in &from_git {
            assert_eq!(&from_canopy[id], f, "version {version}: filter of {id}");
        }
        // And so the whole file, chunk for chunk.
        assert!(
            std::fs::read(graph_path(dir)).unwrap() == file_from_git,
            "version {version}: the commit-graph differs from git's"
        );
        // The extremes are what Git's format says: one byte, all ones or all zeros.
        assert!(from_git.values().any(|f| f == &[0xFF]));
        assert!(from_git.values().any(|f| f == &[0]));
        git(dir, &["commit-graph", "verify"]);
        git(dir, &["fsck", "--strict", "--no-progress"]);
    }
}

#[test]
fn git_uses_canopys_filters_and_prints_the_same() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    history(dir);
    canopy_write(dir, 1);
    git(dir, &["commit-graph", "verify"]);
    git(dir, &["fsck", "--strict", "--no-progress"]);
    let mut ruled_out = 0;
    for path in PATHS {
        let (plain, _) = git_log(dir, path, false);
        let (with_filters, stats) = git_log(dir, path, true);
        assert_eq!(with_filters, plain, "git log -- {path}");
        let stats = stats.unwrap_or_else(|| panic!("git did not use the filters for {path}"));
        assert_eq!(stats["filter_not_present"], 0, "{path}: {stats}");
        ruled_out += stats["definitely_not"].as_u64().unwrap();
    }
    assert!(ruled_out > 50, "filters ruled out only {ruled_out} commits");
    // No "definitely not" where the path did change against the first parent.
    let graph = Graph::open(&dir.join("objects"), HashKind::Sha1).unwrap();
    for id in all_commits(dir) {
        let hex = id.to_hex();
        // Against the first parent only, as the filter is.
        let parents = git(dir, &["rev-list", "--parents", "-n1", &hex]);
        let changed = match parents.split_whitespace().nth(1) {
            Some(first) => git(dir, &["diff-tree", "-r", "--name-only", first, &hex]),
            None => git(
                dir,
                &["diff-tree", "-r", "--root", "--name-only", "--no-commit-id", &hex],
            ),
        };
        for path in PATHS {
            let Some(keys) = graph.path_keys(path.as_bytes()) else {
                continue;
            };
            let touched = changed
                .lines()
                .any(|l| l == *path || l.starts_with(&format!("{path}/")));
            if touched {
                assert_ne!(
                    graph.maybe_changed(graph.position(&id).unwrap(), &keys),
                    Some(false),
                    "{hex} changed {path}"
                );
            }
        }
    }
}

#[test]
fn canopy_reads_gits_filters_and_lists_the_same() {
    for version in [1, 2] {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
        history(dir);
        let expected: Vec<String> = PATHS.iter().map(|p| git_log(dir, p, false).0).collect();
        let setting = format!("commitGraph.changedPathsVersion={version}");
        git(
            dir,
            &[
                "-c",
                &setting,
                "commit-graph",
                "write",
                "--reachable",
                "--changed-paths",
            ],
        );
        let graph = Graph::open(&dir.join("objects"), HashKind::Sha1).unwrap();
        // The filters answer "definitely not" for commits that did not touch a path.
        let keys = graph.path_keys(b"d/e/y").unwrap();
        let ruled_out = all_commits(dir)
            .iter()
            .filter(|id| graph.maybe_changed(graph.position(id).unwrap(), &keys) == Some(false))
            .count();
        assert!(ruled_out >= 8, "version {version}: {ruled_out}");
        for (path, want) in PATHS.iter().zip(&expected) {
            assert_eq!(&canopy_log(dir, path), want, "version {version}: log -- {path}");
        }
        // Filters that lie (every one empty: "definitely not" everywhere) change Canopy's answer:
        // the walk does consult them.
        let mut bytes = std::fs::read(graph_path(dir)).unwrap();
        let body = bytes.len() - 20;
        let count = graph.len();
        let bidx = find_chunk(&bytes, b"BIDX");
        let bdat = find_chunk(&bytes, b"BDAT");
        for i in 0..count {
            let end = u32::from_be_bytes(bytes[bidx + i * 4..bidx + i * 4 + 4].try_into().unwrap());
            let start = if i == 0 {
                0
            } else {
                u32::from_be_bytes(bytes[bidx + i * 4 - 4..bidx + i * 4].try_into().unwrap())
            };
            for b in &mut bytes[bdat + 12 + start as usize..bdat + 12 + end as usize] {
                *b = 0;
            }
        }
        let mut h = HashKind::Sha1.hasher();
        h.update(&bytes[..body]);
        bytes.truncate(body);
        bytes.extend_from_slice(h.finish().as_bytes());
        std::fs::write(graph_path(dir), &bytes).unwrap();
        assert_ne!(
            canopy_log(dir, "d/e/y"),
            expected[4],
            "zeroed filters were not consulted"
        );
    }
}

fn find_chunk(bytes: &[u8], id: &[u8; 4]) -> usize {
    let n = bytes[6] as usize;
    (0..n)
        .find(|i| &bytes[8 + i * 12..12 + i * 12] == id)
        .map(|i| u64::from_be_bytes(bytes[12 + i * 12..20 + i * 12].try_into().unwrap()) as usize)
        .expect("chunk present")
}

#[test]
fn gc_keeps_the_filters_current() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    history(dir);
    let layout = RepoLayout::open(dir).unwrap();
    gc(&layout, &GcOptions::default()).unwrap();
    let graph = Graph::open(&dir.join("objects"), HashKind::Sha1).unwrap();
    assert_eq!(graph.filter_version(), Some(1));
    // A new commit, then gc again: the new commit has a filter git uses.
    let repo = Repo::open(dir).unwrap();
    let main = repo.branch("main").unwrap();
    main.set(&Path::parse("late/x").unwrap(), b"1", &Default::default())
        .unwrap();
    gc(&layout, &GcOptions::default()).unwrap();
    let (with_filters, stats) = git_log(dir, "late/x", true);
    assert_eq!(with_filters, git_log(dir, "late/x", false).0);
    assert_eq!(with_filters.lines().count(), 1);
    let stats = stats.expect("git used the filters");
    assert_eq!(stats["filter_not_present"], 0, "{stats}");
    assert!(stats["definitely_not"].as_u64().unwrap() > 0, "{stats}");
    // Version 2 is kept once chosen.
    git(dir, &["config", "commitGraph.changedPathsVersion", "2"]);
    let layout = RepoLayout::open(dir).unwrap();
    gc(&layout, &GcOptions::default()).unwrap();
    git(dir, &["config", "--unset", "commitGraph.changedPathsVersion"]);
    let layout = RepoLayout::open(dir).unwrap();
    gc(&layout, &GcOptions::default()).unwrap();
    let graph = Graph::open(&dir.join("objects"), HashKind::Sha1).unwrap();
    assert_eq!(graph.filter_version(), Some(2));
    git(dir, &["commit-graph", "verify"]);
    git(dir, &["fsck", "--strict", "--no-progress"]);
}

/// Blame (first parent, as `git blame --first-parent`) gives every line the same commit with
/// Canopy's filters, git's filters and none.
#[test]
fn blame_is_the_same_with_filters() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    history(dir);
    let owners = |dir: &FsPath, path: &str| -> Vec<ObjectId> {
        let repo = Repo::open(dir).unwrap();
        let tip = repo.resolve("main").unwrap();
        repo.blame(tip, &Path::parse(path).unwrap())
            .unwrap()
            .unwrap()
            .into_iter()
            .map(|l| l.commit)
            .collect()
    };
    for path in ["d/e/y", "a", "d/e/z", "merged"] {
        let git_blame = git(
            dir,
            &["blame", "--first-parent", "--porcelain", "main", "--", path],
        );
        let want: Vec<ObjectId> = git_blame
            .lines()
            .filter(|l| !l.starts_with('\t') && l.split(' ').count() >= 3)
            .filter_map(|l| ObjectId::from_hex(l.split(' ').next().unwrap().as_bytes()))
            .collect();
        assert!(!want.is_empty());
        let _ = std::fs::remove_file(graph_path(dir));
        assert_eq!(owners(dir, path), want, "{path}, no graph");
        git(dir, &["commit-graph", "write", "--reachable", "--changed-paths"]);
        assert_eq!(owners(dir, path), want, "{path}, git's graph");
        canopy_write(dir, 2);
        assert_eq!(owners(dir, path), want, "{path}, Canopy's graph");
    }
}
