//! The WebAssembly package's Node tests (`crates/canopy-wasm/tests/`) and the browser tests
//! (`web/tests/`, Chromium driven by playwright-core), run against this crate's `canopy` binary.
//!
//! They need Node (and, for the browser, `/usr/bin/chromium` and `web/node_modules`), which
//! `.ci/run` installs; where one is missing the test says so and passes, unless
//! `CANOPY_REQUIRE_WEB=1` (set by `.ci/run`) makes the absence a failure.

use std::path::{Path, PathBuf};
use std::process::Command;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Whether a missing tool fails the test instead of skipping it.
fn required() -> bool {
    std::env::var("CANOPY_REQUIRE_WEB").is_ok_and(|v| v == "1")
}

fn skip(what: &str) {
    assert!(!required(), "{what} is missing and CANOPY_REQUIRE_WEB=1");
    eprintln!("notice: {what} is missing; skipping (.ci/run installs it)");
}

fn have_node() -> bool {
    Command::new("node")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}

/// Runs `node --test <dir>` from the repository root; fails with node's report.
fn node_test(dir: &str) {
    let out = Command::new("node")
        .args(["--test", "--test-reporter=spec", dir])
        .current_dir(root())
        .env("CANOPY_BIN", env!("CARGO_BIN_EXE_canopy"))
        .output()
        .expect("node runs");
    let report = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "node --test {dir} failed:\n{report}");
    eprintln!("{report}");
}

#[test]
fn the_wasm_package_passes_its_node_tests() {
    if !have_node() {
        return skip("node");
    }
    if !root()
        .join("crates/canopy-server/ui/wasm/canopy_wasm_bg.wasm")
        .exists()
    {
        return skip("the WebAssembly bundle (scripts/build-wasm)");
    }
    node_test("crates/canopy-wasm/tests/");
}

#[test]
fn the_web_ui_and_the_page_replicas_pass_in_chromium() {
    if !have_node() {
        return skip("node");
    }
    if !Path::new("/usr/bin/chromium").exists() {
        return skip("/usr/bin/chromium (apt-get install chromium)");
    }
    if !root().join("web/node_modules/playwright-core").exists() {
        return skip("playwright-core (cd web && npm ci)");
    }
    node_test("web/tests/");
}
