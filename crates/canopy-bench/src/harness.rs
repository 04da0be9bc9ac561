//! Timing, statistics and the markdown table.
//!
//! Every sample gets a fresh directory of its own, set up untimed; all of them stay on disk until
//! the run ends (so deleting one repetition's files never competes with timing the next), and
//! `sync` runs before each timed sample so that write-back from earlier samples is not billed to
//! it. A sample either takes the wall clock of its run, or reports its own time (a peer driven
//! through a script times only its work, not the interpreter's start).

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

pub type BenchResult<T> = Result<T, String>;

/// Turns any error into the message the table shows.
pub fn err<E: std::fmt::Display>(what: &str) -> impl FnOnce(E) -> String + '_ {
    move |e| format!("{what}: {e}")
}

/// What one row measured.
pub enum Measure {
    /// Seconds per sample, for `ops` operations each.
    Times {
        secs: Vec<f64>,
        ops: u64,
        unit: &'static str,
    },
    /// Bytes on disk.
    Size { bytes: u64, note: String },
    /// The peer could not run; why.
    Missing(String),
}

pub struct Row {
    pub peer: String,
    pub measure: Measure,
    /// The row the ratios of this workload are taken against.
    pub reference: bool,
}

/// One workload's rows, with a title.
pub struct Section {
    pub title: String,
    pub rows: Vec<Row>,
    pub notes: Vec<String>,
}

impl Section {
    pub fn new(title: impl Into<String>) -> Section {
        Section {
            title: title.into(),
            rows: Vec::new(),
            notes: Vec::new(),
        }
    }

    pub fn push(&mut self, peer: impl Into<String>, measure: Measure) {
        let reference = self.rows.is_empty();
        let peer = peer.into();
        eprintln!("  {peer}: {}", summary(&measure));
        self.rows.push(Row {
            peer,
            measure,
            reference,
        });
    }

    pub fn note(&mut self, note: impl Into<String>) {
        self.notes.push(note.into());
    }
}

fn summary(m: &Measure) -> String {
    match m {
        Measure::Times { secs, ops, unit } => {
            let med = median(secs);
            format!("median {} ({:.0} {unit}/s)", fmt_secs(med), *ops as f64 / med)
        }
        Measure::Size { bytes, .. } => fmt_bytes(*bytes),
        Measure::Missing(why) => why.clone(),
    }
}

/// Runs `reps` samples of one peer: `setup(dir)` untimed in a fresh directory, `sync`, then
/// `run(dir)` timed. `run` may return its own measured time.
/// Sample names to run (`--peers`); empty runs every peer.
pub static PEERS: std::sync::OnceLock<Vec<String>> = std::sync::OnceLock::new();

pub fn sample(
    base: &Path,
    name: &str,
    reps: usize,
    ops: u64,
    unit: &'static str,
    setup: &mut dyn FnMut(&Path) -> BenchResult<()>,
    run: &mut dyn FnMut(&Path) -> BenchResult<Option<Duration>>,
) -> Measure {
    if let Some(only) = PEERS.get() {
        if !only.is_empty() && !only.iter().any(|p| name.contains(p.as_str())) {
            return Measure::Missing("skipped (--peers)".into());
        }
    }
    let mut secs = Vec::with_capacity(reps);
    for rep in 0..reps {
        let dir = base.join(format!("{}-{rep}", slug(name)));
        if let Err(e) = std::fs::create_dir_all(&dir) {
            return Measure::Missing(format!("cannot create {}: {e}", dir.display()));
        }
        if let Err(e) = setup(&dir) {
            return Measure::Missing(format!("setup failed: {e}"));
        }
        sync();
        let start = Instant::now();
        let reported = match run(&dir) {
            Ok(r) => r,
            Err(e) => return Measure::Missing(format!("failed: {e}")),
        };
        secs.push(reported.unwrap_or_else(|| start.elapsed()).as_secs_f64());
    }
    Measure::Times { secs, ops, unit }
}

/// Flushes dirty pages to disk before a timed sample.
pub fn sync() {
    let _ = Command::new("sync").status();
}

pub fn slug(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect::<String>()
        .split('-')
        .filter(|s| !s.is_empty())
        .collect::<Vec<_>>()
        .join("-")
}

pub fn median(v: &[f64]) -> f64 {
    let mut s = v.to_vec();
    s.sort_by(|a, b| a.total_cmp(b));
    match s.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => s[n / 2],
        n => (s[n / 2 - 1] + s[n / 2]) / 2.0,
    }
}

fn min_max(v: &[f64]) -> (f64, f64) {
    let min = v.iter().copied().fold(f64::INFINITY, f64::min);
    let max = v.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    (min, max)
}

pub fn fmt_secs(s: f64) -> String {
    if s < 1e-3 {
        format!("{:.1} µs", s * 1e6)
    } else if s < 1.0 {
        format!("{:.1} ms", s * 1e3)
    } else {
        format!("{s:.2} s")
    }
}

pub fn fmt_bytes(b: u64) -> String {
    let b = b as f64;
    if b < 1024.0 * 1024.0 {
        format!("{:.1} KiB", b / 1024.0)
    } else {
        format!("{:.1} MiB", b / 1024.0 / 1024.0)
    }
}

fn fmt_rate(r: f64) -> String {
    if r >= 1e6 {
        format!("{:.2}M", r / 1e6)
    } else if r >= 1e4 {
        format!("{:.0}k", r / 1e3)
    } else if r >= 1e3 {
        format!("{:.1}k", r / 1e3)
    } else {
        format!("{r:.0}")
    }
}

/// The markdown for a list of sections.
pub fn render(sections: &[Section]) -> String {
    let mut out = String::new();
    for s in sections {
        let _ = writeln!(out, "### {}\n", s.title);
        let reference = s.rows.iter().find(|r| r.reference);
        let ref_value = reference.and_then(|r| match &r.measure {
            Measure::Times { secs, ops, .. } => Some(median(secs) / *ops as f64),
            Measure::Size { bytes, .. } => Some(*bytes as f64),
            Measure::Missing(_) => None,
        });
        let ref_name = reference.map(|r| r.peer.as_str()).unwrap_or("");
        let sizes = s.rows.iter().any(|r| matches!(r.measure, Measure::Size { .. }));
        if sizes {
            let _ = writeln!(
                out,
                "| store | size on disk | vs {ref_name} | note |\n|---|---:|---:|---|"
            );
        } else {
            let _ = writeln!(
                out,
                "| peer | median | spread (min–max) | throughput | vs {ref_name} |\n|---|---:|---:|---:|---:|"
            );
        }
        for r in &s.rows {
            match &r.measure {
                Measure::Times { secs, ops, unit } => {
                    let med = median(secs);
                    let (lo, hi) = min_max(secs);
                    let ratio = ratio(ref_value, med / *ops as f64, r.reference);
                    let _ = writeln!(
                        out,
                        "| {} | {} | {} – {} | {} {unit}/s | {ratio} |",
                        r.peer,
                        fmt_secs(med),
                        fmt_secs(lo),
                        fmt_secs(hi),
                        fmt_rate(*ops as f64 / med)
                    );
                }
                Measure::Size { bytes, note } => {
                    let ratio = ratio(ref_value, *bytes as f64, r.reference);
                    let _ = writeln!(out, "| {} | {} | {ratio} | {note} |", r.peer, fmt_bytes(*bytes));
                }
                Measure::Missing(why) => {
                    if sizes {
                        let _ = writeln!(out, "| {} | — | — | {why} |", r.peer);
                    } else {
                        let _ = writeln!(out, "| {} | — | {why} | — | — |", r.peer);
                    }
                }
            }
        }
        for n in &s.notes {
            let _ = writeln!(out, "\n{n}");
        }
        out.push('\n');
    }
    out
}

/// `value / reference`: for times (per operation, so rows with different counts compare), how
/// many times longer the peer takes than Canopy.
fn ratio(reference: Option<f64>, value: f64, is_reference: bool) -> String {
    if is_reference {
        return "1.00×".into();
    }
    match reference {
        Some(r) if r > 0.0 => format!("{:.2}×", value / r),
        _ => "—".into(),
    }
}

/// Disk usage of everything below `path` (allocated blocks, as `du` counts).
pub fn disk_usage(path: &Path) -> u64 {
    use std::os::unix::fs::MetadataExt;
    let Ok(meta) = std::fs::symlink_metadata(path) else {
        return 0;
    };
    let mut total = meta.blocks() * 512;
    if meta.is_dir() {
        if let Ok(entries) = std::fs::read_dir(path) {
            for e in entries.flatten() {
                total += disk_usage(&e.path());
            }
        }
    }
    total
}

/// Copies a directory tree (`cp -a`).
pub fn copy_dir(from: &Path, to: &Path) -> BenchResult<()> {
    let status = Command::new("cp")
        .arg("-a")
        .arg(from)
        .arg(to)
        .status()
        .map_err(err("cp"))?;
    if !status.success() {
        return Err(format!("cp -a {} {} failed", from.display(), to.display()));
    }
    Ok(())
}

/// A `git` command with no user or system configuration and a fixed identity.
pub fn git(dir: &Path) -> Command {
    let mut cmd = Command::new("git");
    cmd.current_dir(dir)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_AUTHOR_NAME", "Bench")
        .env("GIT_AUTHOR_EMAIL", "bench@example.com")
        .env("GIT_COMMITTER_NAME", "Bench")
        .env("GIT_COMMITTER_EMAIL", "bench@example.com")
        .env("GIT_AUTHOR_DATE", "1700000000 +0000")
        .env("GIT_COMMITTER_DATE", "1700000000 +0000")
        .stdin(Stdio::null());
    cmd
}

/// Runs a command to completion; its stdout, or an error with its stderr.
pub fn run_ok(mut cmd: Command, what: &str) -> BenchResult<Vec<u8>> {
    let out = cmd
        .stderr(Stdio::piped())
        .stdout(Stdio::piped())
        .output()
        .map_err(err(what))?;
    if !out.status.success() {
        return Err(format!("{what}: {}", String::from_utf8_lossy(&out.stderr).trim()));
    }
    Ok(out.stdout)
}

/// The `canopy` binary built next to this one (`cargo build --release -p canopy-cli`).
pub fn canopy_bin() -> Option<PathBuf> {
    let exe = std::env::current_exe().ok()?;
    let bin = exe.parent()?.join("canopy");
    bin.is_file().then_some(bin)
}
