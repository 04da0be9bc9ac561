//! The OpenAPI document against the live server, by an outside fuzzer: `canopy serve` on a
//! temporary store and a loopback port, and schemathesis (`st`) generating requests for every
//! JSON operation from the document, with all its checks: no server error, only documented
//! statuses, answers that match their schemas, schema-valid requests accepted and
//! schema-violating ones refused.
//!
//! Without `st` the test prints a notice and passes, unless `CANOPY_REQUIRE_SCHEMATHESIS=1`
//! (`.ci/run` installs schemathesis and sets it). `CANOPY_SCHEMATHESIS` names the `st` to run;
//! `CANOPY_SCHEMATHESIS_EXAMPLES` the examples per operation (default 200),
//! `CANOPY_SCHEMATHESIS_PHASES` the phases (default `examples,fuzzing`; add `coverage` for every
//! schema boundary, which takes several times longer).
//!
//! Left out: the watch stream (`text/event-stream` never ends, so a fuzzer cannot read an
//! answer); it is covered by the watch tests.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const CANOPY: &str = env!("CARGO_BIN_EXE_canopy");

/// Where `st` is, if anywhere.
fn schemathesis() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("CANOPY_SCHEMATHESIS") {
        return Some(PathBuf::from(p));
    }
    let on_path = std::env::var_os("PATH")
        .map(|p| {
            std::env::split_paths(&p)
                .map(|d| d.join("st"))
                .collect::<Vec<_>>()
        })
        .unwrap_or_default();
    on_path
        .into_iter()
        .chain([PathBuf::from("/opt/schemathesis/bin/st")])
        .find(|p| p.is_file())
}

/// Kills the server when the test ends, however it ends.
struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn canopy(root: &std::path::Path, args: &[&str]) {
    let status = Command::new(CANOPY)
        .arg("--root")
        .arg(root)
        .args(args)
        .stdout(Stdio::null())
        .status()
        .unwrap();
    assert!(status.success(), "canopy {args:?}");
}

fn healthy(port: u16) -> bool {
    let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
    let request = format!("GET /healthz HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n");
    let mut answer = String::new();
    s.write_all(request.as_bytes()).is_ok()
        && s.read_to_string(&mut answer).is_ok()
        && answer.starts_with("HTTP/1.1 200")
}

#[test]
fn schemathesis_finds_no_difference_between_the_document_and_the_server() {
    let Some(st) = schemathesis() else {
        if std::env::var("CANOPY_REQUIRE_SCHEMATHESIS").as_deref() == Ok("1") {
            panic!("schemathesis (st) is not installed, and CANOPY_REQUIRE_SCHEMATHESIS=1");
        }
        eprintln!("notice: schemathesis (st) is not installed; the OpenAPI fuzz test is skipped");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("store");
    canopy(&root, &["init"]);
    // Durability is not under test here; thousands of commits without fsync keep the run short.
    let git = Command::new("git")
        .arg("-C")
        .arg(&root)
        .args(["config", "canopy.fsync", "false"])
        .status()
        .unwrap();
    assert!(git.success(), "git config canopy.fsync false");
    canopy(&root, &["set", "a/b", "1"]);
    canopy(&root, &["set", "c", "2"]);
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let server = Command::new(CANOPY)
        .arg("--root")
        .arg(&root)
        .args(["serve", "--addr", &format!("127.0.0.1:{port}")])
        .stdout(Stdio::null())
        // Kept: a failure shows the incidents the server logged.
        .stderr(std::fs::File::create(root.with_extension("serve.log")).unwrap())
        .spawn()
        .unwrap();
    let _server = Server(server);
    let started = Instant::now();
    while !healthy(port) {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "the server did not start"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    // A precondition that fails (412) answers a well-formed request about a state; it is no
    // refusal of valid input. Nor is a 422: a body that keeps to the document but contradicts
    // itself in a way a schema cannot express (two resolutions for one path).
    let config = dir.path().join("schemathesis.toml");
    std::fs::write(
        &config,
        "[checks.positive_data_acceptance]\n\
         expected-statuses = [\"2xx\", \"3xx\", \"401\", \"403\", \"404\", \"409\", \"412\", \"422\", \"429\", \"5xx\"]\n",
    )
    .unwrap();
    let examples = std::env::var("CANOPY_SCHEMATHESIS_EXAMPLES").unwrap_or_else(|_| "200".into());
    // The coverage phase (every boundary of every schema, deterministic) is left to a run that
    // asks for it: examples and fuzzing reach the examples per operation on their own.
    let phases = std::env::var("CANOPY_SCHEMATHESIS_PHASES").unwrap_or_else(|_| "examples,fuzzing".into());
    let url = format!("http://127.0.0.1:{port}/api/v1/openapi.json");
    // schemathesis spends its time generating inputs, on one core per process: two processes,
    // each on about half of the operations, take half the time on two cores.
    let halves = [["--include-tag", "structures"], ["--exclude-tag", "structures"]];
    let started = Instant::now();
    let runs: Vec<_> = halves
        .iter()
        .enumerate()
        .map(|(i, half)| {
            let mut command = Command::new(&st);
            command
                .current_dir(dir.path())
                .arg("--config-file")
                .arg(&config)
                .args(["run", &url, "--checks", "all", "--max-examples", &examples])
                .args(["--exclude-operation-id", "watch", "--phases", &phases])
                .args(half)
                .args(["--workers", "2", "--request-timeout", "30", "--no-shrink"])
                // Each process its own example database (they share a directory), and no
                // failure for how many generated inputs a pattern filters out: that says how
                // hard the patterns are to generate, not whether the server keeps to them.
                .args(["--generation-database", &format!("examples-{i}")])
                .args(["--suppress-health-check", "filter_too_much"])
                .args([
                    "--report",
                    "ndjson",
                    "--report-ndjson-path",
                    &format!("events-{i}.ndjson"),
                ])
                .stdout(Stdio::piped())
                .stderr(Stdio::piped());
            if let Ok(seed) = std::env::var("CANOPY_SCHEMATHESIS_SEED") {
                command.args(["--seed", &seed]);
            }
            command.spawn().unwrap()
        })
        .collect();
    let outs: Vec<_> = runs
        .into_iter()
        .map(|run| run.wait_with_output().unwrap())
        .collect();
    let events: Vec<Vec<serde_json::Value>> = (0..halves.len())
        .map(|i| {
            std::fs::read_to_string(dir.path().join(format!("events-{i}.ndjson")))
                .unwrap_or_default()
                .lines()
                .map(|line| serde_json::from_str(line).unwrap())
                .collect()
        })
        .collect();
    let document: serde_json::Value = serde_json::from_slice(&fetch_document(port)).unwrap();
    for (out, events) in outs.iter().zip(&events) {
        let misjudged = misjudged_failures(events, &document);
        let report = String::from_utf8_lossy(&out.stdout);
        eprintln!(
            "schemathesis: {examples} examples per operation, {:.0} s\n{}",
            started.elapsed().as_secs_f64(),
            report
                .lines()
                .rev()
                .take(12)
                .collect::<Vec<_>>()
                .into_iter()
                .rev()
                .collect::<Vec<_>>()
                .join("\n")
        );
        let misjudged = misjudged.filter(|m| !out.status.success() && !m.is_empty());
        assert!(
            out.status.success() || misjudged.is_some(),
            "schemathesis found differences between the document and the server:\n{report}\n{}\nthe server's log:\n{}",
            String::from_utf8_lossy(&out.stderr),
            std::fs::read_to_string(root.with_extension("serve.log")).unwrap_or_default()
        );
        assert!(
            report.contains("passed"),
            "schemathesis tested nothing:\n{report}"
        );
        if let Some(misjudged) = misjudged {
            eprintln!(
                "notice: schemathesis called these requests valid, but a parameter breaks its own pattern in \
                 the document, so the server's 4xx was right:\n{}",
                misjudged.join("\n")
            );
        }
    }
    // How many requests each operation got, from the run's event log.
    let mut cases = std::collections::BTreeMap::<String, usize>::new();
    for event in events.iter().flatten() {
        let finished = &event["ScenarioFinished"]["recorder"];
        if let (Some(label), Some(n)) = (finished["label"].as_str(), finished["cases"].as_object()) {
            *cases.entry(label.to_string()).or_default() += n.len();
        }
    }
    let table: Vec<String> = cases.iter().map(|(op, n)| format!("{n:>6}  {op}")).collect();
    eprintln!("requests per operation:\n{}", table.join("\n"));
    let operations: Vec<String> = document["paths"]
        .as_object()
        .unwrap()
        .iter()
        .flat_map(|(path, item)| {
            item.as_object()
                .unwrap()
                .keys()
                .map(move |method| format!("{} {path}", method.to_uppercase()))
        })
        .collect();
    // Every operation was exercised but the watch stream (left out above) and the document
    // itself (which schemathesis does not test).
    let untested: Vec<&String> = operations.iter().filter(|op| !cases.contains_key(*op)).collect();
    assert!(
        untested
            .iter()
            .all(|op| op.ends_with("/watch") || op.ends_with("/openapi.json")),
        "operations schemathesis did not reach: {untested:?}"
    );
}

/// The failed checks in a run's events, when every one of them is schemathesis misjudging its
/// own input: a "valid request rejected" (`positive_data_acceptance`) whose path or query
/// parameter does not match the pattern the document gives it. schemathesis's generator
/// sometimes marks such a request valid (its lookahead-heavy patterns are hard to generate
/// from); the server is right to refuse it. `None` if any failure is anything else, so the run
/// fails as schemathesis says.
fn misjudged_failures(events: &[serde_json::Value], document: &serde_json::Value) -> Option<Vec<String>> {
    let mut misjudged = Vec::new();
    for event in events {
        let recorder = &event["ScenarioFinished"]["recorder"];
        let Some(checks) = recorder["checks"].as_object() else {
            continue;
        };
        for (id, results) in checks {
            let failed: Vec<&str> = results
                .as_array()
                .into_iter()
                .flatten()
                .filter(|r| r["status"] != "success" && r["status"] != "skip")
                .filter_map(|r| r["name"].as_str())
                .collect();
            if failed.is_empty() {
                continue;
            }
            if failed != ["positive_data_acceptance"] {
                return None;
            }
            let case = &recorder["cases"][id]["value"];
            let broken = broken_parameters(case, document);
            if broken.is_empty() {
                return None;
            }
            misjudged.push(format!(
                "  {} {} ({id}): {}",
                case["method"].as_str().unwrap_or("?"),
                case["path"].as_str().unwrap_or("?"),
                broken.join(", ")
            ));
        }
    }
    Some(misjudged)
}

/// The path and query parameters of a recorded case that do not match their documented
/// pattern or length, as `name = value`.
fn broken_parameters(case: &serde_json::Value, document: &serde_json::Value) -> Vec<String> {
    let (Some(path), Some(method)) = (case["path"].as_str(), case["method"].as_str()) else {
        return Vec::new();
    };
    let operation = &document["paths"][path][method.to_lowercase()];
    let mut broken = Vec::new();
    for (location, values) in [("path", &case["path_parameters"]), ("query", &case["query"])] {
        let Some(values) = values.as_object() else {
            continue;
        };
        for (name, value) in values {
            let Some(value) = value.as_str() else {
                continue;
            };
            let Some(parameter) = operation["parameters"]
                .as_array()
                .into_iter()
                .flatten()
                .find(|p| p["in"] == location && p["name"] == name.as_str())
            else {
                continue;
            };
            let mut schema = &parameter["schema"];
            if let Some(name) = schema["$ref"]
                .as_str()
                .and_then(|r| r.strip_prefix("#/components/schemas/"))
            {
                schema = &document["components"]["schemas"][name];
            }
            let too_long = schema["maxLength"]
                .as_u64()
                .is_some_and(|max| value.chars().count() as u64 > max);
            let unmatched = schema["pattern"].as_str().is_some_and(|pattern| {
                fancy_regex::Regex::new(pattern)
                    .ok()
                    .and_then(|re| re.is_match(value).ok())
                    == Some(false)
            });
            if too_long || unmatched {
                broken.push(format!("{name} = {value:?}"));
            }
        }
    }
    broken
}

/// The OpenAPI document the server serves.
fn fetch_document(port: u16) -> Vec<u8> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    let request =
        format!("GET /api/v1/openapi.json HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n");
    s.write_all(request.as_bytes()).unwrap();
    let mut answer = Vec::new();
    s.read_to_end(&mut answer).unwrap();
    let body = answer.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
    answer[body..].to_vec()
}

#[test]
fn only_requests_that_break_their_own_patterns_are_excused() {
    let document = serde_json::json!({
        "paths": {"/b/{branch}": {"put": {"parameters": [
            {"in": "path", "name": "branch", "schema": {"$ref": "#/components/schemas/Name"}}
        ]}}},
        "components": {"schemas": {"Name": {"type": "string", "pattern": "^[a-z]+$", "maxLength": 4}}}
    });
    let events = |branch: &str, failed: &[&str]| {
        let checks: Vec<_> = [
            "not_a_server_error",
            "positive_data_acceptance",
            "negative_data_rejection",
        ]
        .iter()
        .map(|name| {
            let status = if failed.contains(name) {
                "failure"
            } else {
                "success"
            };
            serde_json::json!({"name": name, "status": status})
        })
        .collect();
        vec![serde_json::json!({"ScenarioFinished": {"recorder": {
            "label": "PUT /b/{branch}",
            "cases": {"X": {"value": {"method": "PUT", "path": "/b/{branch}", "path_parameters": {"branch": branch}}}},
            "checks": {"X": checks}
        }}})]
    };
    // A ':' the pattern refuses, or a name over the length: the server's refusal was right.
    for branch in [":x", "abcde"] {
        let excused = misjudged_failures(&events(branch, &["positive_data_acceptance"]), &document).unwrap();
        assert_eq!(excused.len(), 1, "{branch}");
    }
    // A name the pattern accepts, refused: a real difference.
    assert!(misjudged_failures(&events("ab", &["positive_data_acceptance"]), &document).is_none());
    // Any other failed check is never excused.
    assert!(misjudged_failures(&events(":x", &["not_a_server_error"]), &document).is_none());
    assert!(misjudged_failures(
        &events(":x", &["positive_data_acceptance", "negative_data_rejection"]),
        &document
    )
    .is_none());
    // Nothing failed: nothing to excuse.
    assert_eq!(misjudged_failures(&events("ab", &[]), &document), Some(vec![]));
}
