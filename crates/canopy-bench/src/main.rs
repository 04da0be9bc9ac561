//! `canopy-bench`: Canopy against `git` (fast-import, cat-file, rev-list, diff, merge-tree, and
//! `log`/`merge-base`/`blame` on a deep history: `--only deep`, see `deep.rs`),
//! libgit2 (the `git2` crate) and doltlite, on the same machine in the same run, printed as a
//! markdown table of medians with their spread and the ratio to Canopy.
//!
//! ```text
//! cargo run --release -p canopy-bench -- --quick        # every workload, small, in seconds
//! cargo build --release -p canopy-cli && cargo run --release -p canopy-bench   # the full run
//! ```
//!
//! Each workload gets the same keys (`k/3f/3fa1…`), values and dates for every peer. Every
//! sample runs in a directory of its own set up untimed; all stay on disk until the run ends;
//! `sync` runs before each timed sample. Canopy is timed in-process through the library, and
//! through the `canopy` binary where a user would use it (the binary must be built next to this
//! one; otherwise those rows say so).

mod canopy_peer;
mod data;
mod deep;
mod doltlite;
mod git_peer;
mod harness;
mod libgit2_peer;

use std::path::{Path, PathBuf};

use clap::Parser;

use canopy::store::ImportMode;
use canopy::Repo;
use data::{fast_import_stream, key, random_indices, value};
use harness::{copy_dir, disk_usage, err, sample, BenchResult, Measure, Section};

#[derive(Parser, Debug)]
#[command(name = "canopy-bench", about = "Canopy against git, libgit2 and doltlite")]
struct Args {
    /// Small sizes, for a smoke run in seconds (flags below still override).
    #[arg(long)]
    quick: bool,
    /// (a) single-key commits.
    #[arg(long, value_name = "N")]
    commits: Option<u64>,
    /// (a) commits made through the `canopy` binary (one process each).
    #[arg(long, value_name = "N")]
    cli_commits: Option<u64>,
    /// (a) commits made with `canopy.fsync = true` (every commit waits for several fsyncs).
    #[arg(long, value_name = "N")]
    fsync_commits: Option<u64>,
    /// (b) keys of the bulk load.
    #[arg(long, value_name = "N")]
    bulk: Option<u64>,
    /// (c), diff and merge: keys in the store.
    #[arg(long, value_name = "N")]
    keys: Option<u64>,
    /// (c) random reads.
    #[arg(long, value_name = "N")]
    reads: Option<usize>,
    /// (d) commits in the history.
    #[arg(long, value_name = "N")]
    history: Option<u64>,
    /// Diff and merge: keys changed on each side.
    #[arg(long, value_name = "N")]
    changes: Option<u64>,
    /// deep: commits in the synthetic history.
    #[arg(long, value_name = "N")]
    deep: Option<u64>,
    /// deep: files in the synthetic history.
    #[arg(long, value_name = "N")]
    deep_files: Option<usize>,
    /// deep: long-lived side branches (about as many merge bases of `main` and `release`).
    #[arg(long, value_name = "N")]
    deep_sides: Option<usize>,
    /// Samples per peer.
    #[arg(long, value_name = "N")]
    reps: Option<usize>,
    /// Workloads to run, from a,b,c,d,e,diff,merge,packs,deep (default: all but packs and deep).
    #[arg(long, value_delimiter = ',', value_name = "LIST")]
    only: Vec<String>,
    /// Run only the samples whose name contains one of these (canopy, git, libgit2, doltlite…).
    #[arg(long, value_delimiter = ',', value_name = "LIST")]
    peers: Vec<String>,
    /// Keep every sample's files in DIR (default: a temporary directory removed at the end).
    #[arg(long, value_name = "DIR")]
    dir: Option<PathBuf>,
}

struct Sizes {
    commits: u64,
    cli_commits: u64,
    fsync_commits: u64,
    bulk: u64,
    keys: u64,
    reads: usize,
    history: u64,
    changes: u64,
    deep: u64,
    deep_files: usize,
    deep_sides: usize,
    reps: usize,
}

impl Args {
    fn sizes(&self) -> Sizes {
        let q = self.quick;
        Sizes {
            commits: self.commits.unwrap_or(if q { 50 } else { 10_000 }),
            cli_commits: self.cli_commits.unwrap_or(if q { 20 } else { 1_000 }),
            fsync_commits: self.fsync_commits.unwrap_or(if q { 20 } else { 1_000 }),
            bulk: self.bulk.unwrap_or(if q { 5_000 } else { 1_000_000 }),
            keys: self.keys.unwrap_or(if q { 2_000 } else { 100_000 }),
            reads: self.reads.unwrap_or(if q { 5_000 } else { 100_000 }),
            history: self.history.unwrap_or(if q { 1_000 } else { 100_000 }),
            changes: self.changes.unwrap_or(if q { 50 } else { 1_000 }),
            deep: self.deep.unwrap_or(if q { 3_000 } else { 40_000 }),
            deep_files: self.deep_files.unwrap_or(if q { 600 } else { 5_000 }),
            deep_sides: self.deep_sides.unwrap_or(if q { 6 } else { 20 }),
            reps: self.reps.unwrap_or(3).max(1),
        }
    }

    fn wants(&self, w: &str) -> bool {
        // `packs` and `deep` make their own long runs: only when asked for.
        (self.only.is_empty() && w != "packs" && w != "deep") || self.only.iter().any(|o| o == w)
    }
}

fn main() {
    let args = Args::parse();
    let sizes = args.sizes();
    let _ = harness::PEERS.set(args.peers.clone());
    let tmp;
    let base = match &args.dir {
        Some(d) => d.clone(),
        None => match tempfile::Builder::new().prefix("canopy-bench-").tempdir() {
            Ok(t) => {
                tmp = t;
                tmp.path().to_path_buf()
            }
            Err(e) => {
                eprintln!("canopy-bench: cannot create a temporary directory: {e}");
                std::process::exit(2);
            }
        },
    };
    let env = Env::detect();
    let mut sections = Vec::new();
    let mut run = |name: &str, f: &dyn Fn(&Path) -> BenchResult<Vec<Section>>| {
        if !args.wants(name) {
            return;
        }
        let dir = base.join(name);
        eprintln!("== {name}");
        match std::fs::create_dir_all(&dir)
            .map_err(err("mkdir"))
            .and_then(|_| f(&dir))
        {
            Ok(s) => sections.extend(s),
            Err(e) => {
                let mut s = Section::new(format!("{name}: could not run"));
                s.note(e);
                sections.push(s);
            }
        }
    };
    // (e) reads the stores (a) left behind.
    let with_sizes = args.wants("e");
    run("a", &|d| commits_workload(d, &sizes, &env, with_sizes));
    run("b", &|d| bulk_workload(d, &sizes, &env));
    run("c", &|d| reads_workload(d, &sizes, &env));
    run("d", &|d| history_workload(d, &sizes, &env));
    run("diff", &|d| diff_workload(d, &sizes));
    run("merge", &|d| merge_workload(d, &sizes));
    run("packs", &|d| packs_workload(d, &sizes));
    run("deep", &|d| deep_workload(d, &sizes, &env));

    let command: Vec<String> = std::env::args().collect();
    println!("## canopy-bench\n");
    println!(
        "Command: `{}` ({} samples per row; median, min–max)\n",
        command.join(" "),
        sizes.reps
    );
    println!("{}\n", env.describe());
    print!("{}", harness::render(&sections));
}

/// The machine and the peers' versions.
struct Env {
    canopy_bin: Option<PathBuf>,
    doltlite: Result<String, String>,
}

impl Env {
    fn detect() -> Env {
        Env {
            canopy_bin: harness::canopy_bin(),
            doltlite: doltlite::check(),
        }
    }

    fn describe(&self) -> String {
        let cpu = std::fs::read_to_string("/proc/cpuinfo")
            .ok()
            .and_then(|t| {
                t.lines()
                    .find(|l| l.starts_with("model name"))
                    .map(|l| l.split(':').nth(1).unwrap_or("").trim().to_string())
            })
            .unwrap_or_else(|| "unknown CPU".into());
        let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0);
        let mem = std::fs::read_to_string("/proc/meminfo")
            .ok()
            .and_then(|t| {
                t.lines()
                    .next()
                    .map(|l| l.split_whitespace().nth(1).unwrap_or("0").to_string())
            })
            .and_then(|kb| kb.parse::<u64>().ok())
            .map(|kb| format!("{:.0} GiB", kb as f64 / 1024.0 / 1024.0))
            .unwrap_or_default();
        let kernel = std::process::Command::new("uname")
            .arg("-sr")
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
            .unwrap_or_default();
        let git = harness::run_ok(
            {
                let mut c = harness::git(Path::new("/"));
                c.arg("--version");
                c
            },
            "git",
        )
        .map(|o| String::from_utf8_lossy(&o).trim().to_string())
        .unwrap_or_else(|e| e);
        let dolt = match &self.doltlite {
            Ok(v) => format!("doltlite {v}"),
            Err(e) => format!("doltlite {e}"),
        };
        format!(
            "Machine: {cpu}, {cores} cores, {mem}, {kernel}. Peers: {git}, libgit2 {} (git2 crate, vendored), {dolt}.",
            libgit2_peer::version()
        )
    }
}

fn pairs(n: u64, generation: u32) -> Vec<(String, String)> {
    (0..n).map(|i| (key(i), value(i, generation))).collect()
}

fn split(pairs: &[(String, String)]) -> (Vec<String>, Vec<String>) {
    pairs.iter().cloned().unzip()
}

/// (a) single-key commits, and (e) the size of what they left.
fn commits_workload(dir: &Path, s: &Sizes, env: &Env, with_sizes: bool) -> BenchResult<Vec<Section>> {
    let n = s.commits;
    let all = pairs(n, 0);
    let (ks, vs) = split(&all);
    let paths = canopy_peer::parse_paths(&ks)?;
    let mut sec = Section::new(format!("(a) {n} single-key commits (keys k/xx/xxxxxxxxxxxxxxxx)"));
    let reps = s.reps;
    let m = sample(
        dir,
        "canopy-fsync-off",
        reps,
        n,
        "commits",
        &mut |d| canopy_peer::init(d, false),
        &mut |d| canopy_peer::commits(d, &paths, &vs).map(|_| None),
    );
    sec.push("Canopy (library, fsync off)", m);
    let n_sync = s.fsync_commits.min(n) as usize;
    let m = sample(
        dir,
        "canopy-fsync-on",
        reps,
        n_sync as u64,
        "commits",
        &mut |d| canopy_peer::init(d, true),
        &mut |d| canopy_peer::commits(d, &paths[..n_sync], &vs[..n_sync]).map(|_| None),
    );
    sec.push(format!("Canopy (library, fsync on, first {n_sync})"), m);
    let m = sample(
        dir,
        "canopy-fsync-on-no-journal",
        reps,
        n_sync as u64,
        "commits",
        &mut |d| canopy_peer::init_without_journal(d),
        &mut |d| canopy_peer::commits(d, &paths[..n_sync], &vs[..n_sync]).map(|_| None),
    );
    sec.push(
        format!("Canopy (library, fsync on, canopy.journal = false: each file synced, first {n_sync})"),
        m,
    );
    for (threads, shared) in [(16, false), (16, true)] {
        let name = if shared {
            "canopy-fsync-on-16-threads-one-branch"
        } else {
            "canopy-fsync-on-16-threads"
        };
        let m = sample(
            dir,
            name,
            reps,
            n_sync as u64,
            "commits",
            &mut |d| canopy_peer::init(d, true),
            &mut |d| {
                canopy_peer::threaded_commits(d, &paths[..n_sync], &vs[..n_sync], threads, shared)
                    .map(|_| None)
            },
        );
        let on = if shared {
            "all on one branch"
        } else {
            "a branch each"
        };
        sec.push(
            format!("Canopy (library, fsync on, {threads} threads, {on}, first {n_sync} in all)"),
            m,
        );
    }
    let n_cli = s.cli_commits.min(n) as usize;
    let m = match &env.canopy_bin {
        Some(bin) => sample(
            dir,
            "canopy-cli",
            reps,
            n_cli as u64,
            "commits",
            &mut |d| canopy_peer::init(d, false),
            &mut |d| canopy_peer::cli_commits(bin, d, &ks[..n_cli], &vs[..n_cli]).map(|_| None),
        ),
        None => Measure::Missing("not built (cargo build --release -p canopy-cli)".into()),
    };
    sec.push(
        format!("Canopy CLI, one `canopy set` process per commit (fsync off, first {n_cli})"),
        m,
    );
    let stream = fast_import_stream(&all, false);
    let m = sample(
        dir,
        "git-fast-import",
        reps,
        n,
        "commits",
        &mut |d| git_peer::init_bare(d),
        &mut |d| git_peer::fast_import(d, &stream).map(|_| None),
    );
    sec.push("git fast-import (one stream)", m);
    let m = sample(
        dir,
        "libgit2",
        reps,
        n,
        "commits",
        &mut |d| libgit2_peer::init(d),
        &mut |d| libgit2_peer::commits(d, &ks, &vs).map(|_| None),
    );
    sec.push("libgit2 (blob, tree update, commit per key)", m);
    let m = match &env.doltlite {
        Ok(_) => sample(
            dir,
            "doltlite",
            reps,
            n,
            "commits",
            &mut |d| doltlite::write_pairs(&d.join("pairs.tsv"), &all),
            &mut |d| doltlite::run(&[&d.join("db.sqlite"), &d.join("pairs.tsv")], "commits"),
        ),
        Err(e) => Measure::Missing(e.clone()),
    };
    sec.push("doltlite (INSERT + dolt_commit per key)", m);
    sec.note(
        "Ratios are time per commit / Canopy's (above 1: Canopy is faster). libgit2 writes loose \
         objects without fsync; fast-import writes one pack and moves the branch once, at the end.",
    );
    let mut out = vec![sec];
    if with_sizes {
        out.push(sizes_after_commits(dir, n)?);
    }
    Ok(out)
}

/// (e) store sizes after (a), as left and after `git gc`.
fn sizes_after_commits(dir: &Path, n: u64) -> BenchResult<Section> {
    eprintln!("== e");
    let mut sec = Section::new(format!("(e) store size after (a)'s {n} commits"));
    let size = |name: &str| disk_usage(&dir.join(format!("{name}-0")));
    let gc_copy = |name: &str| -> Measure {
        let from = dir.join(format!("{name}-0"));
        let to = dir.join(format!("{name}-gc"));
        match copy_dir(&from, &to).and_then(|_| git_peer::gc(&to)) {
            Ok(()) => Measure::Size {
                bytes: disk_usage(&to),
                note: "after `git gc` (default settings)".into(),
            },
            Err(e) => Measure::Missing(e),
        }
    };
    sec.push(
        "Canopy (fsync off run)",
        Measure::Size {
            bytes: size("canopy-fsync-off"),
            note: "loose objects, as written".into(),
        },
    );
    sec.push("Canopy, then `canopy gc` (library)", canopy_gc(dir));
    sec.push("Canopy, then `git gc` on its store", gc_copy("canopy-fsync-off"));
    sec.push(
        "git fast-import",
        Measure::Size {
            bytes: size("git-fast-import"),
            note: "one pack, as written".into(),
        },
    );
    sec.push("git fast-import, then `git gc`", gc_copy("git-fast-import"));
    sec.push(
        "libgit2",
        Measure::Size {
            bytes: size("libgit2"),
            note: "loose objects, as written".into(),
        },
    );
    let dolt = dir.join("doltlite-0");
    if dolt.exists() {
        let bytes = disk_usage(&dolt) - disk_usage(&dolt.join("pairs.tsv"));
        sec.push(
            "doltlite",
            Measure::Size {
                bytes,
                note: "database file".into(),
            },
        );
    }
    sec.note(
        "`canopy gc` is `canopy::backend::git::gc::gc` with default options (one pack with deltas, \
         window 10, depth 50, plus a commit-graph); `git gc` runs with default settings.",
    );
    Ok(sec)
}

/// Runs `canopy gc` on a copy of (a)'s fsync-off store.
fn canopy_gc(dir: &Path) -> Measure {
    let from = dir.join("canopy-fsync-off-0");
    let to = dir.join("canopy-fsync-off-canopy-gc");
    let run = || -> BenchResult<Measure> {
        copy_dir(&from, &to)?;
        let layout = canopy::backend::git::RepoLayout::open(&to).map_err(err("open"))?;
        let start = std::time::Instant::now();
        let report = canopy::backend::git::gc::gc(&layout, &canopy::backend::git::gc::GcOptions::default())
            .map_err(err("canopy gc"))?;
        Ok(Measure::Size {
            bytes: disk_usage(&to),
            note: format!(
                "after `canopy gc` ({:.1} s, {} objects, {} deltas; objects/pack holds {})",
                start.elapsed().as_secs_f64(),
                report.reachable_objects,
                report.deltas,
                harness::fmt_bytes(disk_usage(&to.join("objects/pack")))
            ),
        })
    };
    run().unwrap_or_else(Measure::Missing)
}

/// (b) one commit of many keys.
fn bulk_workload(dir: &Path, s: &Sizes, env: &Env) -> BenchResult<Vec<Section>> {
    let n = s.bulk;
    let all = pairs(n, 0);
    let mut sec = Section::new(format!("(b) bulk load of {n} keys in one commit"));
    let reps = s.reps;
    let m = sample(
        dir,
        "canopy-import",
        reps,
        n,
        "keys",
        &mut |d| canopy_peer::init(d, true),
        &mut |d| canopy_peer::import(d, &all, ImportMode::Merge, 0).map(|_| None),
    );
    sec.push("Canopy (library, store::Importer, one pack)", m);
    let n_tx = n.min(20_000);
    let m = sample(
        dir,
        "canopy-transaction",
        reps,
        n_tx,
        "keys",
        &mut |d| canopy_peer::init(d, true),
        &mut |d| canopy_peer::transaction_load(d, &all[..n_tx as usize]).map(|_| None),
    );
    sec.push(
        format!("Canopy (library, one Transaction of Change::Set, Tree::with per key; first {n_tx})"),
        m,
    );
    let m = match &env.canopy_bin {
        Some(bin) => {
            let input = data::jsonl(&all);
            sample(
                dir,
                "canopy-cli-import",
                reps,
                n,
                "keys",
                &mut |d| {
                    std::fs::write(d.join("input.jsonl"), &input).map_err(err("input"))?;
                    canopy_peer::init(&d.join("store"), true)
                },
                &mut |d| canopy_peer::cli_import(bin, &d.join("store"), &d.join("input.jsonl")).map(|_| None),
            )
        }
        None => Measure::Missing("not built (cargo build --release -p canopy-cli)".into()),
    };
    sec.push("Canopy CLI (`canopy import FILE.jsonl`)", m);
    let stream = fast_import_stream(&all, true);
    let m = sample(
        dir,
        "git-fast-import",
        reps,
        n,
        "keys",
        &mut |d| git_peer::init_bare(d),
        &mut |d| git_peer::fast_import(d, &stream).map(|_| None),
    );
    sec.push("git fast-import", m);
    let m = match &env.doltlite {
        Ok(_) => sample(
            dir,
            "doltlite",
            reps,
            n,
            "keys",
            &mut |d| doltlite::write_pairs(&d.join("pairs.tsv"), &all),
            &mut |d| doltlite::run(&[&d.join("db.sqlite"), &d.join("pairs.tsv")], "bulk"),
        ),
        Err(e) => Measure::Missing(e.clone()),
    };
    sec.push("doltlite (one transaction + dolt_commit)", m);
    Ok(vec![sec])
}

/// Single-key commits (fsync off), then random reads on the store they leave: how many packs
/// the pack-per-batch write path leaves behind (rolled up as it goes) and what reads cost then.
fn packs_workload(dir: &Path, s: &Sizes) -> BenchResult<Vec<Section>> {
    let n = s.commits;
    let all = pairs(n, 0);
    let (ks, vs) = split(&all);
    let paths = canopy_peer::parse_paths(&ks)?;
    let store = dir.join("store");
    canopy_peer::init(&store, false)?;
    harness::sync();
    let started = std::time::Instant::now();
    canopy_peer::commits(&store, &paths, &vs)?;
    let commit_secs = started.elapsed().as_secs_f64();
    let packs = std::fs::read_dir(store.join("objects/pack"))
        .map_err(err("list packs"))?
        .flatten()
        .filter(|e| e.path().extension().is_some_and(|x| x == "pack"))
        .count();
    let r = s.reads.min(n as usize);
    let order = random_indices(r, n as usize);
    let mut sec = Section::new(format!(
        "{n} single-key commits (fsync off), then {r} random reads"
    ));
    sec.push(
        "Canopy: the commits (library, Branch::set)",
        Measure::Times {
            secs: vec![commit_secs],
            ops: n,
            unit: "commits",
        },
    );
    let none = &mut |_: &Path| Ok(());
    let m = sample(dir, "canopy-reads", s.reps, r as u64, "reads", none, &mut |_| {
        canopy_peer::reads(&store, &paths, &order).map(|_| None)
    });
    sec.push("Canopy: random reads at the head afterwards (View::get)", m);
    sec.note(format!(
        "{packs} packs in objects/pack after the {n} commits (one pack per batch, rolled up \
         geometrically past 8)."
    ));
    Ok(vec![sec])
}

/// (c) random point reads at the head.
fn reads_workload(dir: &Path, s: &Sizes, env: &Env) -> BenchResult<Vec<Section>> {
    let (k, r) = (s.keys, s.reads);
    let all = pairs(k, 0);
    let (ks, _) = split(&all);
    let paths = canopy_peer::parse_paths(&ks)?;
    let order = random_indices(r, k as usize);
    let store = dir.join("store");
    canopy_peer::init(&store, false)?;
    canopy_peer::import(&store, &all, ImportMode::Merge, 0)?;
    let mut sec = Section::new(format!("(c) {r} random reads at the head of a {k}-key store"));
    let reps = s.reps;
    let none = &mut |_: &Path| Ok(());
    let m = sample(dir, "canopy", reps, r as u64, "reads", none, &mut |_| {
        canopy_peer::reads(&store, &paths, &order).map(|_| None)
    });
    sec.push("Canopy (library, View::get)", m);
    let m = sample(dir, "libgit2", reps, r as u64, "reads", none, &mut |_| {
        libgit2_peer::reads(&store, &ks, &order).map(|_| None)
    });
    sec.push("libgit2 (tree get_path + find_blob)", m);
    let m = sample(dir, "git-cat-file", reps, r as u64, "reads", none, &mut |_| {
        git_peer::cat_file_reads(&store, &ks, &order).map(|_| None)
    });
    sec.push("git cat-file --batch (main:PATH)", m);
    let m = match &env.doltlite {
        Ok(_) => sample(
            dir,
            "doltlite",
            reps,
            r as u64,
            "reads",
            &mut |d| {
                doltlite::write_pairs(&d.join("pairs.tsv"), &all)?;
                doltlite::write_lines(&d.join("keys.txt"), order.iter().map(|&i| ks[i].clone()))
            },
            &mut |d| {
                doltlite::run(
                    &[&d.join("db.sqlite"), &d.join("pairs.tsv"), &d.join("keys.txt")],
                    "reads",
                )
            },
        ),
        Err(e) => Measure::Missing(e.clone()),
    };
    sec.push("doltlite (SELECT by primary key)", m);
    sec.note("Canopy, libgit2 and git read the same repository (one pack written by `canopy import`).");
    Ok(vec![sec])
}

/// (d) walking a long linear history.
fn history_workload(dir: &Path, s: &Sizes, env: &Env) -> BenchResult<Vec<Section>> {
    let h = s.history;
    let plain = dir.join("history");
    git_peer::init_bare(&plain)?;
    git_peer::fast_import(&plain, &fast_import_stream(&pairs(h, 0), false))?;
    let graph = dir.join("history-commit-graph");
    copy_dir(&plain, &graph)?;
    git_peer::write_commit_graph(&graph)?;
    let mut sec = Section::new(format!("(d) history walk of {h} commits"));
    let reps = s.reps;
    let none = &mut |_: &Path| Ok(());
    let check = |n: usize| {
        if n as u64 == h {
            Ok(None)
        } else {
            Err(format!("walked {n} commits, expected {h}"))
        }
    };
    let m = sample(dir, "canopy", reps, h, "commits", none, &mut |_| {
        canopy_peer::history(&plain).and_then(check)
    });
    sec.push("Canopy (library, Branch::history)", m);
    let m = match &env.canopy_bin {
        Some(bin) => sample(dir, "canopy-log", reps, h, "commits", none, &mut |_| {
            canopy_peer::cli_log(bin, &plain).map(|_| None)
        }),
        None => Measure::Missing("not built (cargo build --release -p canopy-cli)".into()),
    };
    sec.push("Canopy CLI (`canopy log > /dev/null`)", m);
    let m = sample(dir, "canopy-ids", reps, h, "commits", none, &mut |_| {
        canopy_peer::history_ids(&plain).and_then(check)
    });
    sec.push("Canopy (library, History::ids, no commit-graph)", m);
    let m = sample(dir, "canopy-ids-cg", reps, h, "commits", none, &mut |_| {
        canopy_peer::history_ids(&graph).and_then(check)
    });
    sec.push("Canopy (library, History::ids, git's commit-graph)", m);
    let m = match &env.canopy_bin {
        Some(bin) => sample(dir, "canopy-count-cg", reps, h, "commits", none, &mut |_| {
            canopy_peer::cli_log_count(bin, &graph).and_then(check)
        }),
        None => Measure::Missing("not built (cargo build --release -p canopy-cli)".into()),
    };
    sec.push("Canopy CLI (`canopy log --count`, git's commit-graph)", m);
    let m = sample(dir, "rev-list", reps, h, "commits", none, &mut |_| {
        git_peer::rev_list_count(&plain, false).and_then(check)
    });
    sec.push("git rev-list --count (no commit-graph)", m);
    let m = sample(dir, "rev-list-cg", reps, h, "commits", none, &mut |_| {
        git_peer::rev_list_count(&graph, true).and_then(check)
    });
    sec.push("git rev-list --count (commit-graph)", m);
    let m = sample(dir, "libgit2", reps, h, "commits", none, &mut |_| {
        libgit2_peer::revwalk(&plain).and_then(check)
    });
    sec.push("libgit2 revwalk", m);
    sec.note("The history is written by `git fast-import` (one pack); the commit-graph rows read the graph `git commit-graph write --reachable` wrote. `Branch::history` and `canopy log` read every commit they list; `History::ids` and `--count` read none the graph lists.");
    Ok(vec![sec])
}

/// Builds a `keys`-key store with `main` at the base plus `changes` changed keys, and a branch
/// `theirs` from the base with `changes` other keys changed. Returns (base, main, theirs).
fn two_heads(store: &Path, s: &Sizes) -> BenchResult<(canopy::ObjectId, canopy::ObjectId, canopy::ObjectId)> {
    canopy_peer::init(store, false)?;
    let base = canopy_peer::import(store, &pairs(s.keys, 0), ImportMode::Merge, 0)?;
    let c = s.changes.min(s.keys / 2);
    let ours: Vec<(String, String)> = (0..c).map(|i| (key(i), value(i, 1))).collect();
    let theirs: Vec<(String, String)> = (c..2 * c).map(|i| (key(i), value(i, 2))).collect();
    let head = canopy_peer::import(store, &ours, ImportMode::Merge, 1)?;
    let repo = Repo::open(store).map_err(err("open"))?;
    let branch = repo.create_branch("theirs", base).map_err(err("branch"))?;
    let mut imp = canopy::store::Importer::new(&branch, ImportMode::Merge).map_err(err("import"))?;
    for (k, v) in &theirs {
        imp.add(k.as_bytes(), v.as_bytes()).map_err(err("import"))?;
    }
    let other = imp
        .commit(&canopy_peer::opts(2, "theirs".into()))
        .map_err(err("import"))?
        .commit;
    Ok((base, head, other))
}

/// Issue 5: tree diff of two heads.
fn diff_workload(dir: &Path, s: &Sizes) -> BenchResult<Vec<Section>> {
    let store = dir.join("store");
    let (base, head, _) = two_heads(&store, s)?;
    let c = s.changes.min(s.keys / 2);
    let (a, b) = (base.to_hex(), head.to_hex());
    let mut sec = Section::new(format!(
        "Tree diff of two heads of a {}-key store ({c} keys changed)",
        s.keys
    ));
    let reps = s.reps;
    let none = &mut |_: &Path| Ok(());
    let check = |n: usize| {
        if n as u64 == c {
            Ok(None)
        } else {
            Err(format!("{n} paths differ, expected {c}"))
        }
    };
    let m = sample(dir, "canopy", reps, 1, "diffs", none, &mut |_| {
        canopy_peer::diff(&store, base, head).and_then(check)
    });
    sec.push("Canopy (library, Repo::diff_commits)", m);
    let m = sample(dir, "git-diff", reps, 1, "diffs", none, &mut |_| {
        git_peer::diff_names(&store, &a, &b).and_then(check)
    });
    sec.push("git diff --name-only", m);
    let m = sample(dir, "libgit2", reps, 1, "diffs", none, &mut |_| {
        libgit2_peer::diff(&store, &a, &b).and_then(check)
    });
    sec.push("libgit2 diff_tree_to_tree", m);
    Ok(vec![sec])
}

/// Issue 4: merge of two branches with disjoint changes.
fn merge_workload(dir: &Path, s: &Sizes) -> BenchResult<Vec<Section>> {
    let store = dir.join("store");
    let (_, head, other) = two_heads(&store, s)?;
    let c = s.changes.min(s.keys / 2);
    let (a, b) = (head.to_hex(), other.to_hex());
    let mut sec = Section::new(format!(
        "Merge of two branches with {c} changed keys each on a {}-key store (result tree written)",
        s.keys
    ));
    let reps = s.reps;
    // Each sample merges in a fresh copy, so objects written by one sample do not help the next.
    let fresh = &mut |d: &Path| copy_dir(&store, &d.join("store"));
    let m = sample(
        dir,
        "canopy",
        reps,
        1,
        "merges",
        fresh,
        &mut |d| match canopy_peer::merge(&d.join("store"), head, other)? {
            0 => Ok(None),
            n => Err(format!("{n} conflicts")),
        },
    );
    sec.push("Canopy (library, Repo::merge_commits + Repo::write_tree)", m);
    let m = sample(dir, "git-merge-tree", reps, 1, "merges", fresh, &mut |d| {
        git_peer::merge_tree(&d.join("store"), &a, &b).map(|_| None)
    });
    sec.push("git merge-tree --write-tree", m);
    let m = sample(
        dir,
        "libgit2",
        reps,
        1,
        "merges",
        fresh,
        &mut |d| match libgit2_peer::merge(&d.join("store"), &a, &b)? {
            false => Ok(None),
            true => Err("conflicts".into()),
        },
    );
    sec.push("libgit2 merge_commits + write_tree_to", m);
    Ok(vec![sec])
}

/// Issue 15, item 6: history queries on a deep history with many merges, each with and without
/// a commit-graph on both sides (see `deep.rs` for the history's shape).
fn deep_workload(dir: &Path, s: &Sizes, env: &Env) -> BenchResult<Vec<Section>> {
    let started = std::time::Instant::now();
    let d = deep::generate(s.deep, s.deep_files, s.deep_sides);
    let plain = dir.join("plain");
    git_peer::init_bare(&plain)?;
    git_peer::fast_import(&plain, &d.stream)?;
    let mut repack = harness::git(&plain);
    repack.args(["repack", "-a", "-d", "-q"]);
    harness::run_ok(repack, "git repack")?;
    // git's graph, with changed-path filters, as `git commit-graph write` makes it.
    let git_graph = dir.join("git-graph");
    copy_dir(&plain, &git_graph)?;
    let mut write = harness::git(&git_graph);
    write.args(["commit-graph", "write", "--reachable", "--changed-paths"]);
    harness::run_ok(write, "git commit-graph write")?;
    // Canopy's graph, as `canopy gc` writes it (without gc's repack, so that every peer reads
    // the same pack).
    let canopy_graph = dir.join("canopy-graph");
    copy_dir(&plain, &canopy_graph)?;
    canopy_peer::write_commit_graph(&canopy_graph, &d.branches)?;
    // Canopy hashes a graph file on every open until the file is two seconds old, when it
    // records it as checked (a younger file could be rewritten in place within the clock's
    // granularity); a store is queried long after its `gc`, so the queries start past that.
    std::thread::sleep(std::time::Duration::from_millis(2100));
    eprintln!(
        "  {} commits ({} merges), {} files, {} branches; set up in {:.1} s",
        d.commits,
        d.merges,
        s.deep_files.max(128),
        d.branches.len(),
        started.elapsed().as_secs_f64()
    );
    let bin = env.canopy_bin.clone();
    let shape = format!(
        "{} commits, {} merges, {} files",
        d.commits,
        d.merges,
        s.deep_files.max(128)
    );
    // (row name, directory, the command of one query)
    type Query<'a> = &'a dyn Fn(&Path) -> std::process::Command;
    let rows = |canopy: Query, git: Query| -> Vec<(&'static str, PathBuf, std::process::Command)> {
        vec![
            ("Canopy CLI, no commit-graph", plain.clone(), canopy(&plain)),
            ("git, no commit-graph", plain.clone(), {
                let mut c = git(&plain);
                c.env("GIT_CONFIG_COUNT", "1")
                    .env("GIT_CONFIG_KEY_0", "core.commitGraph")
                    .env("GIT_CONFIG_VALUE_0", "false");
                c
            }),
            (
                "Canopy CLI, Canopy's commit-graph",
                canopy_graph.clone(),
                canopy(&canopy_graph),
            ),
            (
                "git, git's commit-graph (--changed-paths)",
                git_graph.clone(),
                git(&git_graph),
            ),
            (
                "Canopy CLI, git's commit-graph",
                git_graph.clone(),
                canopy(&git_graph),
            ),
            (
                "git, Canopy's commit-graph",
                canopy_graph.clone(),
                git(&canopy_graph),
            ),
        ]
    };
    let canopy_cmd = |args: Vec<String>| {
        let bin = bin.clone();
        move |root: &Path| {
            let mut c = std::process::Command::new(bin.clone().unwrap_or_default());
            c.arg("--root")
                .arg(root)
                .args(&args)
                .stdin(std::process::Stdio::null());
            c
        }
    };
    let git_cmd = |args: Vec<String>| {
        move |root: &Path| {
            let mut c = harness::git(root);
            c.args(&args);
            c
        }
    };
    let sv = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    let mut sections = Vec::new();
    // Each query's output, as what must match: commit ids in order (or as a set).
    type Norm<'a> = &'a dyn Fn(&[u8]) -> Vec<String>;
    let mut bench = |title: String, canopy: Query, git: Query, canopy_norm: Norm, git_norm: Norm| {
        let mut sec = Section::new(format!("{title} ({shape})"));
        // What every row must print: git's answer without a graph.
        let expected = match harness::run_ok(rows(canopy, git).remove(1).2, "git") {
            Ok(out) => git_norm(&out),
            Err(e) => {
                sec.note(format!("git failed: {e}"));
                sections.push(sec);
                return;
            }
        };
        for (name, _, _) in rows(canopy, git) {
            let is_canopy = name.starts_with("Canopy");
            if is_canopy && bin.is_none() {
                sec.push(
                    name,
                    Measure::Missing("not built (cargo build --release -p canopy-cli)".into()),
                );
                continue;
            }
            let m = sample(
                dir,
                &format!("{title} {name}"),
                s.reps,
                1,
                "queries",
                &mut |_| Ok(()),
                &mut |_| {
                    let cmd = rows(canopy, git)
                        .into_iter()
                        .find(|r| r.0 == name)
                        .map(|r| r.2)
                        .ok_or("no such row")?;
                    let out = harness::run_ok(cmd, name)?;
                    let got = if is_canopy {
                        canopy_norm(&out)
                    } else {
                        git_norm(&out)
                    };
                    if got == expected {
                        Ok(None)
                    } else {
                        let msg = format!(
                            "MISMATCH with git: {} lines {:?}…, git without a graph: {} lines {:?}…",
                            got.len(),
                            got.iter().take(2).collect::<Vec<_>>(),
                            expected.len(),
                            expected.iter().take(2).collect::<Vec<_>>()
                        );
                        eprintln!("!!! {title}, {name}: {msg}");
                        Err(msg)
                    }
                },
            );
            sec.push(name, m);
        }
        sections.push(sec);
    };
    let ids = |out: &[u8]| deep::ids(out);
    let id_set = |out: &[u8]| {
        let mut v = deep::ids(out);
        v.sort();
        v
    };
    for (what, path) in [
        ("a hot file", &d.hot),
        ("a file changed a few times", &d.cold),
        ("a file changed only early on", &d.rare),
        ("a directory changed often", &d.hot_dir),
        ("a directory changed only early on", &d.rare_dir),
    ] {
        let c = canopy_cmd(sv(&["log", path, "--limit", "50"]));
        let g = git_cmd(sv(&["log", "-n", "50", "--format=%H %s", "main", "--", path]));
        bench(
            format!("`log {path} --limit 50` vs `git log -n 50 -- {path}`: {what}"),
            &c,
            &g,
            &ids,
            &ids,
        );
    }
    for (what, path) in [
        ("a file changed a few times", &d.cold),
        ("a file changed only early on", &d.rare),
    ] {
        let c = canopy_cmd(sv(&["last-modified", path]));
        let g = git_cmd(sv(&["log", "-1", "--format=%H %s", "main", "--", path]));
        bench(
            format!("`last-modified {path}` vs `git log -1 -- {path}`: {what}"),
            &c,
            &g,
            &ids,
            &ids,
        );
    }
    let c = canopy_cmd(sv(&["merge-base", "main", "release"]));
    let g = git_cmd(sv(&["merge-base", "--all", "main", "release"]));
    bench(
        "`merge-base main release` vs `git merge-base --all main release`".into(),
        &c,
        &g,
        &id_set,
        &id_set,
    );
    let c = canopy_cmd(sv(&["--json", "blame", &d.hot]));
    let g = git_cmd(sv(&[
        "blame",
        "--first-parent",
        "--porcelain",
        "main",
        "--",
        &d.hot,
    ]));
    let canopy_owners = |out: &[u8]| -> Vec<String> {
        serde_json::from_slice::<serde_json::Value>(out)
            .ok()
            .and_then(|v| v.as_array().cloned())
            .unwrap_or_default()
            .iter()
            .map(|l| l["commit"].as_str().unwrap_or("").to_string())
            .collect()
    };
    let git_owners = |out: &[u8]| deep::blame_owners(out);
    bench(
        format!("`blame {}` vs `git blame --first-parent`", d.hot),
        &c,
        &g,
        &canopy_owners,
        &git_owners,
    );
    if let Some(first) = sections.first_mut() {
        first.note(format!(
            "{} commits ({} merges), {} files under lib/ in 640 directories, {} branches; written by \
         `git fast-import`, then `git repack -a -d`. Canopy's graph is written by the code \
         `canopy gc` runs (`commit_graph::write`); git's by `git commit-graph write --reachable \
         --changed-paths`. Every row must print what git prints without a graph (same commits, \
         same order; merge bases as a set; blame: the same commit for every line), else it says \
         MISMATCH.",
            d.commits,
            d.merges,
            s.deep_files.max(128),
            d.branches.len()
        ));
    }
    Ok(sections)
}
