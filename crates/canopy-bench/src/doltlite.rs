//! doltlite, driven through `doltlite_bench.py` (it times its own work, not Python's start).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use crate::harness::{err, run_ok, BenchResult};

fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("doltlite_bench.py")
}

fn python() -> String {
    std::env::var("PYTHON").unwrap_or_else(|_| "python3".into())
}

/// `Ok(version)` when the Python package is importable, else why not.
pub fn check() -> Result<String, String> {
    let mut cmd = Command::new(python());
    cmd.arg(script()).arg("check");
    match run_ok(cmd, "doltlite") {
        Ok(out) => {
            let v: serde_json::Value = serde_json::from_slice(&out).map_err(err("doltlite check"))?;
            Ok(v["doltlite"].as_str().unwrap_or("?").to_string())
        }
        Err(_) => Err("not installed (run crates/canopy-bench/setup.sh)".into()),
    }
}

/// Writes `key<TAB>value` lines (values without their final newline).
pub fn write_pairs(path: &Path, pairs: &[(String, String)]) -> BenchResult<()> {
    let mut f = std::io::BufWriter::new(std::fs::File::create(path).map_err(err("pairs file"))?);
    for (k, v) in pairs {
        writeln!(f, "{k}\t{}", v.trim_end()).map_err(err("pairs file"))?;
    }
    f.flush().map_err(err("pairs file"))
}

pub fn write_lines(path: &Path, lines: impl Iterator<Item = String>) -> BenchResult<()> {
    let mut f = std::io::BufWriter::new(std::fs::File::create(path).map_err(err("keys file"))?);
    for l in lines {
        writeln!(f, "{l}").map_err(err("keys file"))?;
    }
    f.flush().map_err(err("keys file"))
}

/// Runs a driver command; returns the time it reports.
pub fn run(args: &[&Path], command: &str) -> BenchResult<Option<Duration>> {
    let mut cmd = Command::new(python());
    cmd.arg(script()).arg(command).args(args);
    let out = run_ok(cmd, "doltlite driver")?;
    let v: serde_json::Value = serde_json::from_slice(&out).map_err(err("doltlite driver output"))?;
    let secs = v["seconds"].as_f64().ok_or("doltlite driver printed no time")?;
    Ok(Some(Duration::from_secs_f64(secs)))
}
