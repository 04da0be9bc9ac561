//! `git log -- PATH` as the oracle for history walks: histories are built with `git fast-import`
//! (branches, merges taking a path from one side, from both, evil merges, renamed directories,
//! deleted and re-added paths, several roots, clock skew and equal dates), and Canopy's walk must
//! list exactly the commits `git log` lists, in its order — without a commit-graph, with one
//! written by `git` (with and without changed-path filters) or by Canopy, with a stale one, and
//! with a damaged one.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::Write as _;
use std::path::Path as FsPath;
use std::process::{Command, Stdio};

use canopy::backend::git::commit_graph::{self, Graph};
use canopy::backend::git::GitObjects;
use canopy::object::{Commit, HashKind, ObjectId};
use canopy::path::Path;
use canopy::store::Repo;

fn git(dir: &FsPath, args: &[&str]) -> String {
    let out = Command::new("git")
        .args(args)
        .current_dir(dir)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .output()
        .expect("git runs");
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn fast_import(dir: &FsPath, stream: &str) {
    let mut child = Command::new("git")
        .args(["fast-import", "--quiet", "--done"])
        .current_dir(dir)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .stdin(Stdio::piped())
        .spawn()
        .expect("git fast-import runs");
    child.stdin.take().unwrap().write_all(stream.as_bytes()).unwrap();
    assert!(child.wait().unwrap().success(), "fast-import failed");
}

fn new_repo(dir: &FsPath) {
    git(dir, &["init", "-q", "--bare", "-b", "main", "."]);
    // Keep every object loose or in fast-import's pack; no automatic graph or gc.
    git(dir, &["config", "gc.auto", "0"]);
    git(dir, &["config", "fetch.writeCommitGraph", "false"]);
}

/// A commit for the stream: its parents (`:mark` or an id, first parent first) and its whole
/// tree.
struct Spec<'a> {
    mark: usize,
    parents: Vec<String>,
    time: i64,
    files: &'a BTreeMap<String, String>,
}

fn commit_cmd(out: &mut String, branch: &str, c: &Spec) {
    let _ = writeln!(out, "commit refs/heads/{branch}\nmark :{}", c.mark);
    let _ = writeln!(out, "committer C O Mitter <c@example.com> {} +0000", c.time);
    let msg = format!("commit {}", c.mark);
    let _ = writeln!(out, "data {}\n{msg}", msg.len());
    match c.parents.first() {
        Some(p) => {
            let _ = writeln!(out, "from {p}");
        }
        // A root commit, even on a branch that exists.
        None => {
            let _ = writeln!(out, "from 0000000000000000000000000000000000000000");
        }
    }
    for p in c.parents.iter().skip(1) {
        let _ = writeln!(out, "merge {p}");
    }
    out.push_str("deleteall\n");
    for (path, value) in c.files {
        let _ = writeln!(out, "M 100644 inline {path}\ndata {}\n{value}", value.len());
    }
    out.push('\n');
}

fn git_log(dir: &FsPath, tip: &str, limit: Option<usize>, path: &str) -> Vec<String> {
    let n = limit.map(|n| format!("-n{n}"));
    // Git trusts a commit-graph without checking it: the oracle reads the objects.
    let mut args = vec!["-c", "core.commitGraph=false", "log", "--format=%H"];
    if let Some(n) = &n {
        args.push(n);
    }
    args.push(tip);
    if !path.is_empty() {
        args.extend(["--", path]);
    }
    git(dir, &args).lines().map(str::to_string).collect()
}

fn canopy_log(repo: &Repo, tip: ObjectId, limit: Option<usize>, path: &str) -> Vec<String> {
    let history = repo.history(&[tip]);
    let walk: Box<dyn Iterator<Item = _>> = if path.is_empty() {
        Box::new(history)
    } else {
        Box::new(history.touching(Path::parse(path).unwrap()))
    };
    walk.take(limit.unwrap_or(usize::MAX))
        .map(|c| c.unwrap().id.to_hex())
        .collect()
}

/// Every path of `paths` (and the whole history) lists as `git log` lists it, also through
/// `last_modified` with a few limits.
fn assert_agrees(dir: &FsPath, tip: &str, paths: &[&str], what: &str) {
    let repo = Repo::open(dir).unwrap();
    let id = repo.resolve(tip).unwrap();
    for path in paths.iter().copied().chain([""]) {
        let want = git_log(dir, tip, None, path);
        assert_eq!(canopy_log(&repo, id, None, path), want, "{what}: log -- '{path}'");
        if path.is_empty() {
            // The id-only walk (by graph positions when there is a graph) lists the same.
            let ids: Vec<String> = repo.history(&[id]).ids().map(|c| c.unwrap().to_hex()).collect();
            assert_eq!(ids, want, "{what}: ids");
            continue;
        }
        for limit in [1, 3] {
            let got: Vec<String> = repo
                .last_modified(id, &Path::parse(path).unwrap(), limit)
                .unwrap()
                .into_iter()
                .map(|c| c.id.to_hex())
                .collect();
            assert_eq!(
                got,
                git_log(dir, tip, Some(limit), path),
                "{what}: -n{limit} -- '{path}'"
            );
        }
    }
}

fn graph_file(dir: &FsPath) -> std::path::PathBuf {
    dir.join("objects/info/commit-graph")
}

fn canopy_write_graph(dir: &FsPath, tips: &[&str]) {
    let repo = Repo::open(dir).unwrap();
    let ids: Vec<ObjectId> = tips.iter().map(|t| repo.resolve(t).unwrap()).collect();
    let objects = GitObjects::open(&dir.join("objects"), HashKind::Sha1, false).unwrap();
    commit_graph::write(&objects, &dir.join("objects"), &ids, false, 1).unwrap();
}

/// The same checks without a graph, with git's graph, with Canopy's, and with damaged ones.
fn assert_agrees_with_every_graph(dir: &FsPath, tip: &str, paths: &[&str]) {
    let _ = std::fs::remove_file(graph_file(dir));
    assert_agrees(dir, tip, paths, "no commit-graph");
    git(dir, &["commit-graph", "write", "--reachable"]);
    assert!(Graph::open(&dir.join("objects"), HashKind::Sha1).is_some());
    assert_agrees(dir, tip, paths, "git's commit-graph");
    let from_git = std::fs::read(graph_file(dir)).unwrap();
    for version in ["1", "2"] {
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
        assert_agrees(
            dir,
            tip,
            paths,
            &format!("git's commit-graph, filters v{version}"),
        );
    }
    canopy_write_graph(dir, &[tip]);
    assert_agrees(dir, tip, paths, "Canopy's commit-graph");

    // Damaged: a flipped byte (checksum fails), a truncated file, garbage.
    let mut flipped = from_git.clone();
    flipped[from_git.len() / 2] ^= 0x40;
    for (what, bytes) in [
        ("flipped byte", flipped),
        ("truncated", from_git[..from_git.len() / 3].to_vec()),
        ("garbage", b"CGPH\x01\x01\x03\x00 not a graph at all".to_vec()),
    ] {
        std::fs::write(graph_file(dir), &bytes).unwrap();
        assert!(
            Graph::open(&dir.join("objects"), HashKind::Sha1).is_none(),
            "{what}"
        );
        assert_agrees(dir, tip, paths, what);
    }
    std::fs::remove_file(graph_file(dir)).unwrap();
}

/// The graph lists every commit with the object's tree, parents and date.
fn assert_graph_matches_objects(dir: &FsPath) {
    let graph = Graph::open(&dir.join("objects"), HashKind::Sha1).expect("a valid graph");
    let repo = Repo::open(dir).unwrap();
    let all = git(dir, &["rev-list", "--all"]);
    assert_eq!(graph.len(), all.lines().count());
    for hex in all.lines() {
        let id = ObjectId::from_hex(hex.as_bytes()).unwrap();
        let c: Commit = repo.commit_info(id).unwrap().commit;
        let g = graph.commit(&id).expect("listed");
        assert_eq!(
            (g.tree, &g.parents, g.time),
            (c.tree, &c.parents, c.committer.time)
        );
    }
}

fn files(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// A hand-made history with every case the simplification has to get right.
fn scripted_history(dir: &FsPath) {
    let mut s = String::new();
    let mut mark = 0;
    let mut commit = |s: &mut String, branch: &str, parents: &[usize], time: i64, f: &[(&str, &str)]| {
        mark += 1;
        let files = files(f);
        commit_cmd(
            s,
            branch,
            &Spec {
                mark,
                parents: parents.iter().map(|p| format!(":{p}")).collect(),
                time,
                files: &files,
            },
        );
        mark
    };
    // 1: root without `doc` or `dir`.
    let r = commit(&mut s, "main", &[], 1000, &[("other", "o")]);
    let a = commit(
        &mut s,
        "main",
        &[r],
        1010,
        &[("other", "o"), ("doc", "1"), ("dir/a", "a")],
    );
    // A side branch changes `doc`; main changes `other`: the merge takes `doc` from the side.
    let s1 = commit(
        &mut s,
        "side",
        &[a],
        1020,
        &[("other", "o"), ("doc", "2"), ("dir/a", "a")],
    );
    let m1 = commit(
        &mut s,
        "main",
        &[a],
        1030,
        &[("other", "p"), ("doc", "1"), ("dir/a", "a")],
    );
    let m2 = commit(
        &mut s,
        "main",
        &[m1, s1],
        1040,
        &[("other", "p"), ("doc", "2"), ("dir/a", "a")],
    );
    // Both sides change `doc`; the merge resolves to a third value (an evil merge) for `doc`
    // and takes `dir` from the first parent.
    let s2 = commit(
        &mut s,
        "side2",
        &[m2],
        1050,
        &[("other", "p"), ("doc", "3"), ("dir/a", "b")],
    );
    let m3 = commit(
        &mut s,
        "main",
        &[m2],
        1050,
        &[("other", "q"), ("doc", "4"), ("dir/a", "a")],
    );
    let m4 = commit(
        &mut s,
        "main",
        &[m3, s2],
        1060,
        &[("other", "q"), ("doc", "5"), ("dir/a", "a")],
    );
    // A side branch that changes `doc` and changes it back: TREESAME to both parents.
    let s3 = commit(
        &mut s,
        "side3",
        &[m4],
        1070,
        &[("other", "q"), ("doc", "x"), ("dir/a", "a")],
    );
    let s4 = commit(
        &mut s,
        "side3",
        &[s3],
        1080,
        &[("other", "q"), ("doc", "5"), ("dir/a", "a")],
    );
    let m5 = commit(
        &mut s,
        "main",
        &[m4, s4],
        1090,
        &[("other", "r"), ("doc", "5"), ("dir/a", "a")],
    );
    // `dir` renamed to `moved`, `doc` deleted, then re-added.
    let m6 = commit(&mut s, "main", &[m5], 1100, &[("other", "r"), ("moved/a", "a")]);
    let m7 = commit(
        &mut s,
        "main",
        &[m6],
        1110,
        &[("other", "r"), ("moved/a", "a"), ("doc", "5")],
    );
    // A second root with `doc`, merged in; its history also has clock skew and equal dates.
    let o1 = commit(&mut s, "orphan", &[], 1005, &[("doc", "o"), ("dir/z", "z")]);
    let o2 = commit(&mut s, "orphan", &[o1], 1200, &[("doc", "o2"), ("dir/z", "z")]);
    let o3 = commit(&mut s, "orphan", &[o2], 1115, &[("doc", "o2"), ("dir/z", "zz")]);
    let m8 = commit(
        &mut s,
        "main",
        &[m7, o3],
        1115,
        &[("other", "r"), ("moved/a", "a"), ("doc", "o2"), ("dir/z", "zz")],
    );
    // An octopus merge: one side changes `moved`, another `other`, the third nothing.
    let t1 = commit(
        &mut s,
        "t1",
        &[m8],
        1120,
        &[("other", "r"), ("moved/a", "b"), ("doc", "o2"), ("dir/z", "zz")],
    );
    let t2 = commit(
        &mut s,
        "t2",
        &[m8],
        1120,
        &[("other", "s"), ("moved/a", "a"), ("doc", "o2"), ("dir/z", "zz")],
    );
    let t3 = commit(
        &mut s,
        "t3",
        &[m8],
        1121,
        &[
            ("other", "r"),
            ("moved/a", "a"),
            ("doc", "o2"),
            ("dir/z", "zz"),
            ("e", ""),
        ],
    );
    let m9 = commit(
        &mut s,
        "main",
        &[m8, t1, t2, t3],
        1130,
        &[
            ("other", "s"),
            ("moved/a", "b"),
            ("doc", "o2"),
            ("dir/z", "zz"),
            ("e", ""),
        ],
    );
    let _ = commit(
        &mut s,
        "main",
        &[m9],
        1140,
        &[
            ("other", "s"),
            ("moved/a", "b"),
            ("doc", "o3"),
            ("dir/z", "zz"),
            ("e", ""),
        ],
    );
    s.push_str("done\n");
    fast_import(dir, &s);
}

const SCRIPTED_PATHS: &[&str] = &[
    "doc",
    "other",
    "dir",
    "dir/a",
    "dir/z",
    "moved",
    "moved/a",
    "e",
    "missing",
    "dir/missing",
    "doc/x",
];

#[test]
fn log_path_is_git_log_path_on_a_scripted_history() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    new_repo(dir);
    scripted_history(dir);
    git(dir, &["commit-graph", "write", "--reachable"]);
    assert_graph_matches_objects(dir);
    assert_agrees_with_every_graph(dir, "main", SCRIPTED_PATHS);
    for branch in ["side", "side3", "orphan"] {
        assert_agrees(dir, branch, SCRIPTED_PATHS, branch);
    }
}

#[test]
fn a_stale_graph_is_completed_from_the_objects() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    new_repo(dir);
    scripted_history(dir);
    git(dir, &["commit-graph", "write", "--reachable"]);
    // New commits on top, and a merge of a branch the graph has never seen.
    let head = git(dir, &["rev-parse", "main"]).trim().to_string();
    let mut s = String::new();
    let f1 = files(&[("doc", "new"), ("late/x", "1")]);
    let f2 = files(&[("doc", "new"), ("late/x", "2")]);
    let f3 = files(&[("doc", "newer"), ("late/x", "2")]);
    let late = |mark, parents: &[&str], time, files| Spec {
        mark,
        parents: parents.iter().map(|p| p.to_string()).collect(),
        time,
        files,
    };
    commit_cmd(&mut s, "late", &late(1, &[&head], 2000, &f1));
    commit_cmd(&mut s, "late", &late(2, &[":1"], 2010, &f2));
    commit_cmd(&mut s, "main", &late(3, &[&head, ":2"], 2020, &f3));
    s.push_str("done\n");
    fast_import(dir, &s);
    let graph = Graph::open(&dir.join("objects"), HashKind::Sha1).expect("the old graph is valid");
    let tip = git(dir, &["rev-parse", "main"]);
    assert!(graph
        .commit(&ObjectId::from_hex(tip.trim().as_bytes()).unwrap())
        .is_none());
    let mut paths = SCRIPTED_PATHS.to_vec();
    paths.extend(["late", "late/x"]);
    assert_agrees(dir, "main", &paths, "stale graph");
    // Merge bases agree with git's, with the stale graph.
    let repo = Repo::open(dir).unwrap();
    for (a, b) in [
        ("main", "side3"),
        ("late", "orphan"),
        ("t1", "t2"),
        ("late", "main~1"),
    ] {
        let want = git(dir, &["merge-base", "--all", a, b]);
        let mut want: Vec<&str> = want.lines().collect();
        let got = repo
            .merge_bases(repo.resolve(a).unwrap(), repo.resolve(b).unwrap())
            .unwrap();
        let mut got: Vec<String> = got.iter().map(ObjectId::to_hex).collect();
        want.sort();
        got.sort();
        assert_eq!(got, want, "merge-base {a} {b}");
    }
}

/// A small deterministic generator (xorshift), so that a failure names its seed.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

const RANDOM_PATHS: &[&str] = &["a", "b", "d/x", "d/y", "d/e/z", "f/g"];

/// A random DAG of `n` commits: merges of two or three earlier commits, each path taken from a
/// random parent (so merges are often TREESAME to one side), random changes to few values (so
/// changes are often undone), dates with skew and ties.
fn random_history(dir: &FsPath, seed: u64, n: usize) {
    let mut rng = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
    let mut trees: Vec<BTreeMap<String, String>> = Vec::new();
    let mut s = String::new();
    let values = ["1", "2", "3"];
    for i in 0..n {
        let parents: Vec<usize> = if i == 0 || rng.below(12) == 0 {
            Vec::new()
        } else {
            let k = match rng.below(10) {
                0..=5 => 1,
                6..=8 => 2,
                _ => 3,
            };
            let mut ps = vec![i - 1 - rng.below(i.min(4) as u64) as usize];
            for _ in 1..k {
                let p = rng.below(i as u64) as usize;
                if !ps.contains(&p) {
                    ps.push(p);
                }
            }
            ps
        };
        let mut files = BTreeMap::new();
        for path in RANDOM_PATHS {
            let from = match parents.len() {
                0 => None,
                len => Some(&trees[parents[rng.below(len as u64) as usize]]),
            };
            let mut v = from.and_then(|t| t.get(*path).cloned());
            if rng.below(5) == 0 {
                v = match rng.below(4) {
                    0 => None,
                    k => Some(values[k as usize - 1].to_string()),
                };
            }
            if let Some(v) = v {
                files.insert(path.to_string(), v);
            }
        }
        let time = 1_000_000 + (i as i64) * 10 - rng.below(25) as i64;
        commit_cmd(
            &mut s,
            "main",
            &Spec {
                mark: i + 1,
                parents: parents.iter().map(|p| format!(":{}", p + 1)).collect(),
                time,
                files: &files,
            },
        );
        trees.push(files);
    }
    s.push_str("done\n");
    fast_import(dir, &s);
}

#[test]
fn log_path_is_git_log_path_on_random_histories() {
    let paths = [
        "a", "b", "d", "d/x", "d/y", "d/e", "d/e/z", "f", "f/g", "nope", "d/nope",
    ];
    for seed in 1..=12 {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
        new_repo(dir);
        random_history(dir, seed, 60);
        let what = format!("seed {seed}");
        std::fs::remove_file(graph_file(dir)).ok();
        assert_agrees(dir, "main", &paths, &what);
        // Half the history in a graph, the rest from the objects.
        let all = git(dir, &["rev-list", "main"]);
        let mid = all.lines().nth(all.lines().count() / 2).unwrap();
        canopy_write_graph(dir, &[mid]);
        assert_agrees(dir, "main", &paths, &format!("{what}, partial graph"));
    }
}

/// `merge-base --all` of every pair in `pairs`, as git (without a graph) finds them, checked
/// without a graph, with git's (generation numbers) and with Canopy's. Returns how many pairs
/// have several bases.
fn assert_merge_bases_agree(dir: &FsPath, pairs: &[(String, String)], what: &str) -> usize {
    let want: Vec<Vec<String>> = pairs
        .iter()
        .map(|(a, b)| {
            let out = Command::new("git")
                .args(["-c", "core.commitGraph=false", "merge-base", "--all", a, b])
                .current_dir(dir)
                .env("GIT_CONFIG_NOSYSTEM", "1")
                .env("GIT_CONFIG_GLOBAL", "/dev/null")
                .output()
                .unwrap();
            let mut v: Vec<String> = String::from_utf8_lossy(&out.stdout)
                .lines()
                .map(str::to_string)
                .collect();
            v.sort();
            v
        })
        .collect();
    for graph in ["none", "git", "canopy"] {
        std::fs::remove_file(graph_file(dir)).ok();
        match graph {
            "git" => {
                git(dir, &["commit-graph", "write", "--reachable"]);
            }
            "canopy" => canopy_write_graph(dir, &["main"]),
            _ => {}
        }
        let repo = Repo::open(dir).unwrap();
        for ((a, b), want) in pairs.iter().zip(&want) {
            let id = |h: &str| ObjectId::from_hex(h.as_bytes()).unwrap();
            let mut got: Vec<String> = repo
                .merge_bases(id(a), id(b))
                .unwrap()
                .iter()
                .map(ObjectId::to_hex)
                .collect();
            got.sort();
            assert_eq!(&got, want, "{what}, graph {graph}: merge-base {a} {b}");
        }
    }
    want.iter().filter(|w| w.len() > 1).count()
}

#[test]
fn merge_bases_are_gits_on_random_histories() {
    for seed in 1..=16 {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
        new_repo(dir);
        random_history(dir, seed, 80);
        let all: Vec<String> = git(dir, &["rev-list", "main"])
            .lines()
            .map(str::to_string)
            .collect();
        let mut rng = Rng(seed);
        let pairs: Vec<(String, String)> = (0..30)
            .map(|_| {
                let a = &all[rng.below(all.len() as u64) as usize];
                let b = &all[rng.below(all.len() as u64) as usize];
                (a.clone(), b.clone())
            })
            .collect();
        assert_merge_bases_agree(dir, &pairs, &format!("seed {seed}"));
    }
}

/// Criss-cross merges, and side branches each merged into two branches: pairs with two to
/// five best common ancestors, and every other pair of the history.
#[test]
fn merge_bases_are_gits_with_many_bases() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    new_repo(dir);
    let mut s = String::new();
    let mut mark = 0;
    let mut time = 5_000;
    let mut commit = |s: &mut String, branch: &str, parents: &[usize], skew: i64| {
        mark += 1;
        time += 10;
        let f = files(&[("k", &format!("{mark}"))]);
        commit_cmd(
            s,
            branch,
            &Spec {
                mark,
                parents: parents.iter().map(|p| format!(":{p}")).collect(),
                time: time + skew,
                files: &f,
            },
        );
        mark
    };
    let root = commit(&mut s, "main", &[], 0);
    let sides: Vec<usize> = (0..5)
        .map(|i| {
            let a = commit(&mut s, "side", &[root], 0);
            commit(&mut s, "side", &[a], if i == 2 { -100 } else { 0 })
        })
        .collect();
    let mut x = commit(&mut s, "x", &[root], 0);
    let mut y = commit(&mut s, "y", &[root], 0);
    for (i, &side) in sides.iter().enumerate() {
        x = commit(&mut s, "x", &[x, side], 0);
        y = commit(&mut s, "y", &[y, sides[sides.len() - 1 - i]], 0);
    }
    let (mut a, mut b) = (commit(&mut s, "a", &[x], 0), commit(&mut s, "b", &[y], 0));
    for _ in 0..3 {
        let (a1, b1) = (commit(&mut s, "a", &[a, b], 0), commit(&mut s, "b", &[b, a], 0));
        a = commit(&mut s, "a", &[a1], 0);
        b = commit(&mut s, "b", &[b1], 0);
    }
    commit(&mut s, "main", &[a, b], 0);
    s.push_str("done\n");
    fast_import(dir, &s);
    let all: Vec<String> = git(dir, &["rev-list", "main"])
        .lines()
        .map(str::to_string)
        .collect();
    let mut pairs = Vec::new();
    for (i, a) in all.iter().enumerate() {
        for b in &all[i + 1..] {
            pairs.push((a.clone(), b.clone()));
        }
    }
    let tip = |b: &str| git(dir, &["rev-parse", b]).trim().to_string();
    pairs.push((tip("x"), tip("y")));
    let several = assert_merge_bases_agree(dir, &pairs, "criss-cross");
    assert!(several >= 10, "only {several} pairs have several merge bases");
    let five = git(dir, &["merge-base", "--all", "x", "y"]);
    assert_eq!(five.lines().count(), 5);
}

/// A graph recorded as checked is opened without its checks; damaged in place behind that
/// record (same length, time, trailer and inode), every walk stays in bounds: parent positions
/// past the end are refused as a corrupt graph, never followed, and nothing panics.
#[test]
fn a_graph_damaged_in_place_behind_its_record_gives_errors_not_panics() {
    use std::time::{Duration, SystemTime};
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    new_repo(dir);
    scripted_history(dir);
    git(dir, &["commit-graph", "write", "--reachable"]);
    let path = graph_file(dir);
    let old = SystemTime::now() - Duration::from_secs(3600);
    let set_time = |t| {
        let f = std::fs::File::options().write(true).open(&path).unwrap();
        f.set_modified(t).unwrap();
    };
    set_time(old);
    let mut perms = std::fs::metadata(&path).unwrap().permissions();
    #[allow(clippy::permissions_set_readonly_false)]
    perms.set_readonly(false);
    std::fs::set_permissions(&path, perms).unwrap();
    let count = {
        let g = Graph::open(&dir.join("objects"), HashKind::Sha1).unwrap();
        g.len() as u32
    };
    assert!(dir.join("objects/info/canopy-commit-graph-checked").exists());
    // Every commit's first parent (and second, unless it uses the edge list) pointed past the
    // end, written in place over the same bytes, the time put back.
    let mut bytes = std::fs::read(&path).unwrap();
    let cdat = {
        let chunks = bytes[6] as usize;
        (0..chunks)
            .map(|i| 8 + i * 12)
            .find(|&at| &bytes[at..at + 4] == b"CDAT")
            .map(|at| u64::from_be_bytes(bytes[at + 4..at + 12].try_into().unwrap()) as usize)
            .unwrap()
    };
    for pos in 0..count as usize {
        let at = cdat + pos * 36 + 20;
        bytes[at..at + 4].copy_from_slice(&(count + 7).to_be_bytes());
    }
    {
        use std::io::{Seek, Write};
        let mut f = std::fs::File::options().write(true).open(&path).unwrap();
        f.seek(std::io::SeekFrom::Start(0)).unwrap();
        f.write_all(&bytes).unwrap();
    }
    set_time(old);
    let graph = Graph::open(&dir.join("objects"), HashKind::Sha1).expect("opened on its record");
    let mut out = Vec::new();
    let head = git(dir, &["rev-parse", "main"]);
    let head = ObjectId::from_hex(head.trim().as_bytes()).unwrap();
    let pos = graph.position(&head).unwrap();
    assert!(graph.parent_positions(pos, &mut out).is_none());
    let repo = Repo::open(dir).unwrap();
    let walked: Vec<_> = repo.history(&[head]).ids().collect();
    assert!(
        walked.iter().any(|r| r.is_err()),
        "the walk reports the damage: {walked:?}"
    );
    for path in SCRIPTED_PATHS {
        let _ = repo.history(&[head]).touching(Path::parse(path).unwrap()).count();
        let _ = repo.last_modified(head, &Path::parse(path).unwrap(), 3);
    }
    for (a, b) in [("main", "side3"), ("t1", "t2")] {
        let r = repo.merge_bases(repo.resolve(a).unwrap(), repo.resolve(b).unwrap());
        assert!(r.is_err(), "merge-base {a} {b}: {r:?}");
    }
}
