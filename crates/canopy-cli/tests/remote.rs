//! `canopy --remote URL`: get, set, rm, list and log against a `canopy serve` started here,
//! with the local commands' output and exit codes (1 absent path, 2 bad path, 3 server or
//! network error).

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};

fn canopy(dir: &Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_canopy"));
    cmd.current_dir(dir)
        .env_remove("CANOPY_ROOT")
        .env_remove("CANOPY_AUTHOR")
        .env_remove("CANOPY_REMOTE")
        .env_remove("CANOPY_TOKEN");
    cmd
}

/// A running `canopy serve` on a free loopback port.
struct Serving {
    child: Child,
    url: String,
}

impl Drop for Serving {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn serve(dir: &Path) -> Serving {
    let mut child = canopy(dir)
        .args(["serve", "--addr", "127.0.0.1:0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let addr = line
        .split("http://")
        .nth(1)
        .and_then(|rest| rest.split('/').next())
        .unwrap_or_else(|| panic!("no URL in {line:?}"))
        .to_string();
    Serving {
        child,
        url: format!("http://{addr}"),
    }
}

/// Runs `canopy --remote URL ARGS…` in an empty directory (no local store anywhere).
fn remote(url: &str, args: &[&str]) -> Output {
    let work = tempfile::tempdir().unwrap();
    canopy(work.path())
        .arg("--remote")
        .arg(url)
        .args(args)
        .output()
        .unwrap()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[track_caller]
fn ok(o: Output) -> String {
    assert_eq!(o.status.code(), Some(0), "stderr: {}", stderr(&o));
    stdout(&o)
}

#[test]
fn round_trip_through_the_server() {
    let dir = tempfile::tempdir().unwrap();
    let s = serve(dir.path());
    let url = s.url.as_str();

    // An empty store: nothing to list, no history.
    assert_eq!(ok(remote(url, &["list"])), "");
    assert_eq!(ok(remote(url, &["log"])), "");

    assert_eq!(
        ok(remote(url, &["set", "users/ada/email", "ada@example.com"])),
        ""
    );
    let set: serde_json::Value = serde_json::from_str(&ok(remote(
        url,
        &["--json", "set", "users/ada/name", "Ada", "-m", "name"],
    )))
    .unwrap();
    let commit = set["commit"].as_str().unwrap().to_string();
    assert_eq!(commit.len(), 40);

    assert_eq!(ok(remote(url, &["get", "users/ada/email"])), "ada@example.com");
    let got: serde_json::Value =
        serde_json::from_str(&ok(remote(url, &["--json", "get", "users/ada/name"]))).unwrap();
    assert_eq!(got["path"], "users/ada/name");
    assert_eq!(got["value"], "Ada");
    assert_eq!(got["commit"], commit.as_str());
    // --at.
    let at_first = remote(url, &["get", "users/ada/name", "--at", "main~1"]);
    assert_eq!(at_first.status.code(), Some(1), "{}", stderr(&at_first));

    assert_eq!(ok(remote(url, &["list"])), "users/\n");
    // `/` and the empty path are the root, and a trailing `/` is allowed, as locally.
    assert_eq!(ok(remote(url, &["list", "/"])), "users/\n");
    assert_eq!(ok(remote(url, &["list", ""])), "users/\n");
    assert_eq!(ok(remote(url, &["list", "users/ada/"])), "email\nname\n");
    for bad in ["//", "users//ada", "/users"] {
        assert_eq!(remote(url, &["list", bad]).status.code(), Some(2), "{bad}");
    }
    assert_eq!(ok(remote(url, &["list", "users/ada"])), "email\nname\n");
    let listed: serde_json::Value =
        serde_json::from_str(&ok(remote(url, &["--json", "list", "users/ada"]))).unwrap();
    assert_eq!(
        listed,
        serde_json::json!([{"name": "email", "kind": "value"}, {"name": "name", "kind": "value"}])
    );

    let log = ok(remote(url, &["log"]));
    let lines: Vec<&str> = log.lines().collect();
    assert_eq!(lines.len(), 2, "{log}");
    assert_eq!(lines[0], format!("{commit} name"));
    assert!(lines[1].ends_with(" set users/ada/email"), "{log}");
    assert_eq!(ok(remote(url, &["log", "-n", "1"])).lines().count(), 1);
    assert_eq!(ok(remote(url, &["log", "users/ada/email"])).lines().count(), 1);
    let log: serde_json::Value =
        serde_json::from_str(&ok(remote(url, &["--json", "log", "-n", "1"]))).unwrap();
    assert_eq!(log[0]["id"], commit.as_str());
    assert_eq!(log[0]["summary"], "name");
    assert_eq!(log[0]["author"]["zone"], "+0000");

    // rm, then the path is absent.
    assert_eq!(ok(remote(url, &["rm", "users/ada/name", "-m", "forget"])), "");
    let gone = remote(url, &["get", "users/ada/name"]);
    assert_eq!(gone.status.code(), Some(1));
    assert!(
        stderr(&gone).contains("canopy: path 'users/ada/name' not found"),
        "{}",
        stderr(&gone)
    );
    assert!(ok(remote(url, &["log", "-n", "1"])).ends_with(" forget\n"));

    // The server's store holds it all.
    let local = canopy(dir.path())
        .args(["--root", "canopy-data", "get", "users/ada/email"])
        .output()
        .unwrap();
    assert_eq!(ok(local), "ada@example.com");
}

#[test]
fn exit_codes() {
    let dir = tempfile::tempdir().unwrap();
    let s = serve(dir.path());
    let url = s.url.clone();
    let url = url.as_str();
    ok(remote(url, &["set", "a/b", "1"]));
    // Absent path: 1.
    for args in [&["get", "nope"][..], &["rm", "nope"], &["list", "nope"]] {
        let o = remote(url, args);
        assert_eq!(o.status.code(), Some(1), "{args:?}: {}", stderr(&o));
        assert!(stderr(&o).starts_with("canopy: "), "{}", stderr(&o));
    }
    // Absent branch: 1.
    let o = remote(url, &["--branch", "nowhere", "get", "a/b"]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    // Bad paths and input: 2, nothing written.
    for args in [
        &["get", "a/../b"][..],
        &["set", "a//b", "v"],
        &["set", ".git/config", "v"],
        &["rm", ""],
        &["get", ""],
        &["list", "a/b"],
        &["get", "a"],
        &["get", "a/b", "--at", "nowhere"],
        &["log", "--graph"],
        &["log", "--count"],
        &["tree"],
    ] {
        let o = remote(url, args);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", stderr(&o));
        assert_eq!(stderr(&o).lines().count(), 1, "one line: {}", stderr(&o));
    }
    assert_eq!(
        ok(remote(url, &["log"])).lines().count(),
        1,
        "nothing was written"
    );
    // No server there: 3.
    drop(s);
    let o = remote(url, &["get", "a/b"]);
    assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
    assert!(stderr(&o).contains("cannot reach"), "{}", stderr(&o));
}

#[test]
fn tokens_and_the_environment() {
    let dir = tempfile::tempdir().unwrap();
    // The server creates ./canopy-data; tokens made afterwards apply at once.
    let s = serve(dir.path());
    let made = canopy(dir.path())
        .args(["--json", "token", "create", "dev", "--write", "main"])
        .output()
        .unwrap();
    let made: serde_json::Value = serde_json::from_str(&ok(made)).unwrap();
    let token = made["token"].as_str().unwrap().to_string();
    // Without a token, or a wrong one: 3 (the server refuses).
    let o = remote(&s.url, &["set", "k", "v"]);
    assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
    let o = remote(&s.url, &["--token", "cnp_wrong", "get", "k"]);
    assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
    // With it, from the flag or the environment.
    ok(remote(&s.url, &["--token", &token, "set", "k", "v"]));
    let work = tempfile::tempdir().unwrap();
    let o = canopy(work.path())
        .env("CANOPY_REMOTE", &s.url)
        .env("CANOPY_TOKEN", &token)
        .args(["get", "k"])
        .output()
        .unwrap();
    assert_eq!(ok(o), "v");
}
