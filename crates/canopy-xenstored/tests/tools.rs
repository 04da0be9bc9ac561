//! The real clients against the daemon: Debian's `xenstore-utils` (libxenstore, which finds
//! the socket through `$XENSTORED_PATH`) and `pyxs`. A test whose client is not installed says
//! so and passes (`apt-get install xenstore-utils python3-pyxs` brings them).

mod common;

use std::process::{Command, Output, Stdio};
use std::time::Duration;

use common::{git_log, have, TestDaemon};

fn xs(d: &TestDaemon, tool: &str, args: &[&str]) -> Output {
    Command::new(tool)
        .args(args)
        .env("XENSTORED_PATH", d.socket())
        .output()
        .unwrap_or_else(|e| panic!("{tool}: {e}"))
}

fn ok(d: &TestDaemon, tool: &str, args: &[&str]) -> String {
    let out = xs(d, tool, args);
    assert!(
        out.status.success(),
        "{tool} {args:?}: {}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn tools_present() -> bool {
    if have("xenstore-read") {
        return true;
    }
    eprintln!("xenstore-utils is not installed: skipping (apt-get install xenstore-utils)");
    false
}

#[test]
fn xenstore_utils_read_write_list_remove() {
    if !tools_present() {
        return;
    }
    let d = TestDaemon::start();
    ok(
        &d,
        "xenstore-write",
        &["/vm/1/name", "guest one", "/vm/1/memory", "1024"],
    );
    assert_eq!(ok(&d, "xenstore-read", &["/vm/1/name"]), "guest one\n");
    assert_eq!(ok(&d, "xenstore-list", &["/vm/1"]), "memory\nname\n");
    assert_eq!(
        ok(&d, "xenstore-ls", &["/vm"]),
        "1 = \"\"\n memory = \"1024\"\n name = \"guest one\"\n"
    );
    assert!(xs(&d, "xenstore-exists", &["/vm/1/name"]).status.success());
    assert!(!xs(&d, "xenstore-exists", &["/vm/2"]).status.success());
    let missing = xs(&d, "xenstore-read", &["/vm/2/name"]);
    assert!(!missing.status.success());
    ok(&d, "xenstore-rm", &["/vm/1/memory"]);
    assert_eq!(ok(&d, "xenstore-list", &["/vm/1"]), "name\n");
    // The tools wrap each call in a transaction: one commit each.
    assert_eq!(git_log(&d.root()).len(), 2);
    assert!(git_log(&d.root())[0].contains("rm /vm/1/memory"));
}

#[test]
fn xenstore_chmod_sets_what_ls_p_shows() {
    if !tools_present() {
        return;
    }
    let d = TestDaemon::start();
    ok(&d, "xenstore-write", &["/local/domain/3/name", "three"]);
    ok(&d, "xenstore-chmod", &["/local/domain/3", "n3", "r0", "w4"]);
    let listing = ok(&d, "xenstore-ls", &["-p", "/local/domain"]);
    assert!(listing.contains("(n3,r0,w4)"), "{listing}");
    // The child created earlier kept its own permissions.
    assert!(listing.contains("name = \"three\""), "{listing}");
    let out = xs(&d, "xenstore-chmod", &["/local/domain/3", "x3"]);
    assert!(!out.status.success(), "a malformed permission was accepted");
}

#[test]
fn xenstore_watch_prints_the_initial_event_then_changes() {
    if !tools_present() {
        return;
    }
    let d = TestDaemon::start();
    ok(&d, "xenstore-write", &["/w", ""]);
    let watcher = Command::new("xenstore-watch")
        .args(["-n", "3", "/w"])
        .env("XENSTORED_PATH", d.socket())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    // Wait for the watch to be registered (its initial event is its first line).
    std::thread::sleep(Duration::from_millis(500));
    ok(&d, "xenstore-write", &["/w/a", "1"]);
    ok(&d, "xenstore-write", &["/unrelated", "1"]);
    ok(&d, "xenstore-rm", &["/w/a"]);
    let out = watcher.wait_with_output().unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), "/w\n/w/a\n/w/a\n");
}

#[test]
fn pyxs_drives_nodes_permissions_watches_and_retried_transactions() {
    let python = "/usr/bin/python3";
    let has_pyxs = Command::new(python)
        .args(["-c", "import pyxs"])
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !has_pyxs {
        eprintln!("python3-pyxs is not installed: skipping (apt-get install python3-pyxs)");
        return;
    }
    let d = TestDaemon::start();
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/scripts/pyxs_client.py");
    let out = Command::new(python)
        .arg(script)
        .env("XENSTORED_PATH", d.socket())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout), "pyxs ok\n");
}

#[test]
fn a_directory_too_big_for_one_message_is_listed_in_parts() {
    if !tools_present() {
        return;
    }
    let d = TestDaemon::start();
    // 300 names of 24 bytes: over 7000 bytes, so XS_DIRECTORY answers E2BIG and libxenstore
    // falls back to XS_DIRECTORY_PART.
    let names: Vec<String> = (0..300)
        .map(|i| format!("device-with-long-name-{i:03}"))
        .collect();
    let mut c = d.client();
    let tx = c.transaction_start().unwrap();
    for n in &names {
        c.write(tx, &format!("/big/{n}"), b"").unwrap();
    }
    c.transaction_end(tx, true).unwrap();
    let listed = ok(&d, "xenstore-list", &["/big"]);
    assert_eq!(listed.lines().collect::<Vec<_>>(), names);
}
