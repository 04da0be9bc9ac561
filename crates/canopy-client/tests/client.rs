//! The client against the real server (`canopy_server`) on a free loopback port: every
//! method, the typed errors (404, 409 with conflicts, 412, 401, 403), and a live watch with a
//! resume.

use std::time::Duration;

use canopy::Repo;
use canopy_client::{
    Client, CommitRequest, Error, LogOptions, MergeOptions, TreeOptions, WatchEvent, WatchOptions,
    WriteOptions,
};
use canopy_server::tokens::TokenStore;
use canopy_server::{Limits, ServeOptions, Server};

struct TestServer {
    url: String,
    repo: Repo,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    runtime: Option<tokio::runtime::Runtime>,
    _dir: tempfile::TempDir,
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(rt) = self.runtime.take() {
            rt.shutdown_timeout(Duration::from_secs(2));
        }
    }
}

impl TestServer {
    fn client(&self) -> Client {
        Client::new(&self.url)
    }

    fn head(&self, branch: &str) -> Option<String> {
        self.repo
            .branch(branch)
            .unwrap()
            .head()
            .unwrap()
            .map(|h| h.to_hex())
    }
}

fn start() -> TestServer {
    start_with(|_| {})
}

/// A server over a new store on a runtime of its own; `setup` runs on the store first.
fn start_with(setup: impl FnOnce(&Repo)) -> TestServer {
    let dir = tempfile::tempdir().unwrap();
    Repo::init(dir.path().join("store")).unwrap();
    let config = dir.path().join("store/config");
    let mut text = std::fs::read_to_string(&config).unwrap();
    text.push_str("[canopy]\n\tfsync = false\n");
    std::fs::write(&config, text).unwrap();
    let repo = Repo::open(dir.path().join("store")).unwrap();
    setup(&repo);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let mut opts = ServeOptions::new(repo.clone(), "127.0.0.1:0".parse().unwrap());
    opts.limits = Limits {
        watch_poll_interval: Duration::from_millis(20),
        ..Limits::default()
    };
    let server = runtime.block_on(Server::bind(opts)).unwrap();
    let addr = server.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    runtime.spawn(server.run_until(async move {
        let _ = stopped.await;
    }));
    TestServer {
        url: format!("http://{addr}"),
        repo,
        stop: Some(stop),
        runtime: Some(runtime),
        _dir: dir,
    }
}

#[test]
fn service_endpoints() {
    let s = start();
    let c = s.client();
    c.healthz().unwrap();
    let doc = c.openapi().unwrap();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3.1"));
    assert!(doc["paths"]["/api/v1/branches"].is_object());
    // Nothing listens here.
    let dead = Client::new("http://127.0.0.1:9").with_timeout(Some(Duration::from_secs(5)));
    let e = dead.healthz().unwrap_err();
    assert!(matches!(e, Error::Transport { .. }), "{e:?}");
    assert_eq!(e.status(), None);
}

#[test]
fn values_trees_and_history() {
    let s = start();
    let c = s.client();
    // An empty store: the default branch is unborn.
    assert_eq!(c.branches().unwrap(), vec![]);
    let e = c.get("main", "k").unwrap_err();
    assert!(matches!(e, Error::NotFound { .. }), "{e:?}");
    assert_eq!(e.code(), Some("no_such_path"));

    let first = c.put("main", "users/ada/email", "ada@example.com").unwrap();
    assert_eq!(s.head("main").as_deref(), Some(first.as_str()));
    let opts = WriteOptions::message("name ada");
    let second = c.put_with("main", "users/ada/name", "Ada", &opts).unwrap();
    let bin = c.put("main", "bin", vec![0u8, 159, 255]).unwrap();

    let v = c.get("main", "users/ada/email").unwrap();
    assert_eq!(v.as_str(), Some("ada@example.com"));
    assert_eq!(v.commit.as_deref(), Some(bin.as_str()));
    assert_eq!(v.hash.as_ref().map(String::len), Some(40));
    assert_eq!(c.get("main", "bin").unwrap().bytes, vec![0u8, 159, 255]);
    // At an older commit.
    let e = c.get_at("main", "users/ada/name", Some(&first)).unwrap_err();
    assert!(matches!(e, Error::NotFound { .. }));
    let old = c.get_at("main", "users/ada/email", Some("main~2")).unwrap();
    assert_eq!(old.commit.as_deref(), Some(first.as_str()));
    // A well-formed revision naming nothing is a 404 `no_such_rev` from the server.
    let e = c.get_at("main", "bin", Some("nowhere")).unwrap_err();
    assert!(
        matches!(&e, Error::NotFound { code, .. } if code == "no_such_rev"),
        "{e:?}"
    );
    // A directory is not a value.
    let e = c.get("main", "users").unwrap_err();
    assert!(
        matches!(e, Error::Conflict { ref code, .. } if code == "not_a_value"),
        "{e:?}"
    );
    // Bad paths never leave the client.
    for bad in ["", "a/../b", "a//b", ".git/config", "x\0y"] {
        let e = c.put("main", bad, "v").unwrap_err();
        assert_eq!((e.status(), e.code()), (Some(400), Some("bad_path")), "{bad}");
    }
    assert_eq!(s.head("main").as_deref(), Some(bin.as_str()));

    // Trees.
    let root = c.tree("main", "", &TreeOptions::default()).unwrap();
    assert_eq!(root.commit.as_deref(), Some(bin.as_str()));
    let names: Vec<_> = root
        .entries
        .iter()
        .map(|e| (e.name.as_str(), e.is_tree()))
        .collect();
    assert_eq!(names, [("bin", false), ("users", true)]);
    let all = c
        .tree(
            "main",
            "users",
            &TreeOptions {
                recursive: true,
                at: None,
            },
        )
        .unwrap();
    let paths: Vec<_> = all
        .entries
        .iter()
        .filter(|e| !e.is_tree())
        .map(|e| e.path.as_str())
        .collect();
    assert_eq!(paths, ["users/ada/email", "users/ada/name"]);
    let then = c
        .tree(
            "main",
            "users/ada",
            &TreeOptions {
                recursive: false,
                at: Some(first.clone()),
            },
        )
        .unwrap();
    assert_eq!(then.entries.len(), 1);
    let e = c.tree("main", "nothing", &TreeOptions::default()).unwrap_err();
    assert!(matches!(e, Error::NotFound { .. }));
    let e = c.tree("main", "bin", &TreeOptions::default()).unwrap_err();
    assert_eq!(e.code(), Some("not_a_directory"));

    // Delete.
    let removed = c.delete("main", "bin").unwrap();
    assert!(matches!(
        c.get("main", "bin").unwrap_err(),
        Error::NotFound { .. }
    ));
    let e = c.delete("main", "bin").unwrap_err();
    assert!(matches!(e, Error::NotFound { .. }), "{e:?}");

    // History.
    let log = c.log("main", &LogOptions::default()).unwrap();
    let ids: Vec<_> = log.iter().map(|c| c.id.as_str()).collect();
    assert_eq!(ids, [&removed, &bin, &second, &first]);
    assert_eq!(log[2].summary, "name ada");
    assert_eq!(log[0].parents, std::slice::from_ref(&bin));
    let limited = c
        .log(
            "main",
            &LogOptions {
                limit: Some(1),
                path: None,
            },
        )
        .unwrap();
    assert_eq!(limited.len(), 1);
    let touching = c
        .log(
            "main",
            &LogOptions {
                limit: None,
                path: Some("users/ada/name".into()),
            },
        )
        .unwrap();
    assert_eq!(touching.len(), 1);
    assert_eq!(touching[0].id, second);

    let info = c.commit_info(&second).unwrap();
    assert_eq!(info.commit.id, second);
    assert_eq!(info.commit.message.trim_end(), "name ada");
    let changed: Vec<_> = info
        .changes
        .iter()
        .map(|c| (c.path.as_str(), c.status.as_str()))
        .collect();
    assert_eq!(changed, [("users/ada/name", "A")]);
    let e = c
        .commit_info("0000000000000000000000000000000000000000")
        .unwrap_err();
    assert!(e.status().is_some_and(|s| s == 400 || s == 404), "{e:?}");

    let diff = c.diff(&first, "main", None).unwrap();
    assert_eq!(diff.from, first);
    assert_eq!(diff.to, removed);
    let changed: Vec<_> = diff.changes.iter().map(|c| c.path.as_str()).collect();
    assert_eq!(changed, ["users/ada/name"]);
    let diff = c.diff(&first, &bin, Some("users")).unwrap();
    assert_eq!(diff.changes.len(), 1);
}

#[test]
fn branches_with_slashes() {
    let s = start();
    let c = s.client();
    let head = c.put("main", "k", "v").unwrap();
    let b = c.create_branch("feature/x", Some("main")).unwrap();
    assert_eq!(
        (b.name.as_str(), b.head.as_deref()),
        ("feature/x", Some(head.as_str()))
    );
    let names: Vec<_> = c.branches().unwrap().into_iter().map(|b| b.name).collect();
    assert_eq!(names, ["feature/x", "main"]);
    let on_feature = c.put("feature/x", "k", "w").unwrap();
    assert_eq!(c.branch("feature/x").unwrap().head, Some(on_feature.clone()));
    assert_eq!(c.get("feature/x", "k").unwrap().as_str(), Some("w"));
    assert_eq!(c.get("main", "k").unwrap().as_str(), Some("v"));
    // Default start: the default branch's head.
    assert_eq!(c.create_branch("other", None).unwrap().head, Some(head.clone()));

    let e = c.create_branch("feature/x", None).unwrap_err();
    assert!(
        matches!(e, Error::Conflict { ref code, .. } if code == "branch_exists"),
        "{e:?}"
    );
    let e = c.create_branch("bad..name", None).unwrap_err();
    assert!(matches!(e, Error::BadRequest { .. }), "{e:?}");
    let e = c.delete_branch("main").unwrap_err();
    assert_eq!(e.code(), Some("default_branch"));

    let gone = c.delete_branch("feature/x").unwrap();
    assert_eq!(gone.head, Some(on_feature));
    let e = c.branch("feature/x").unwrap_err();
    assert!(
        matches!(e, Error::NotFound { ref code, .. } if code == "no_such_branch"),
        "{e:?}"
    );
    let e = c.put("feature/x", "k", "v").unwrap_err();
    assert!(matches!(e, Error::NotFound { .. }), "{e:?}");
}

#[test]
fn test_and_set_is_412_when_the_head_moved() {
    let s = start();
    let c = s.client();
    c.put("main", "stock", "10").unwrap();
    let seen = c.get("main", "stock").unwrap();
    let stale = seen.commit.clone().unwrap();
    // Someone else writes.
    let moved = c.put("main", "other", "x").unwrap();
    let e = c
        .put_with(
            "main",
            "stock",
            "9",
            &WriteOptions::message("sold").if_match(&stale),
        )
        .unwrap_err();
    assert!(matches!(e, Error::PreconditionFailed { .. }), "{e:?}");
    assert_eq!(e.status(), Some(412));
    assert_eq!(s.head("main").as_deref(), Some(moved.as_str()), "nothing written");
    let e = c
        .delete_with("main", "stock", &WriteOptions::default().if_match(&stale))
        .unwrap_err();
    assert!(matches!(e, Error::PreconditionFailed { .. }), "{e:?}");
    // With the current head it goes through.
    let done = c
        .put_with("main", "stock", "9", &WriteOptions::default().if_match(&moved))
        .unwrap();
    assert_eq!(c.get("main", "stock").unwrap().as_str(), Some("9"));
    let removed = c
        .delete_with("main", "stock", &WriteOptions::message("gone").if_match(&done))
        .unwrap();
    assert_eq!(c.log("main", &LogOptions::default()).unwrap()[0].id, removed);
    // Create-only.
    let create = WriteOptions {
        if_absent: true,
        ..WriteOptions::default()
    };
    c.put_with("main", "fresh", "1", &create).unwrap();
    let e = c.put_with("main", "fresh", "2", &create).unwrap_err();
    assert!(matches!(e, Error::PreconditionFailed { .. }), "{e:?}");
    assert_eq!(c.get("main", "fresh").unwrap().as_str(), Some("1"));
}

#[test]
fn commits_merge_or_conflict() {
    let s = start();
    let c = s.client();
    let base = c
        .commit(
            "main",
            &CommitRequest::new("base")
                .set("text", "one\ntwo\nthree\n")
                .set("a", "1")
                .set("bin", vec![0u8, 200]),
        )
        .unwrap();
    assert!(!base.merged);
    assert_eq!(c.get("main", "bin").unwrap().bytes, vec![0u8, 200]);
    // Someone else moves the branch on.
    c.commit(
        "main",
        &CommitRequest::new("theirs").set("text", "ONE\ntwo\nthree\n"),
    )
    .unwrap();
    // A client still on `base`: mergeable → merged.
    let ours = c
        .commit(
            "main",
            &CommitRequest::new("ours")
                .parent(&base.commit)
                .set("text", "one\ntwo\nTHREE\n")
                .delete("a"),
        )
        .unwrap();
    assert!(ours.merged);
    assert_eq!(c.get("main", "text").unwrap().as_str(), Some("ONE\ntwo\nTHREE\n"));
    assert!(matches!(c.get("main", "a").unwrap_err(), Error::NotFound { .. }));
    // Conflicting → 409 with the path, nothing written.
    let e = c
        .commit(
            "main",
            &CommitRequest::new("conflict")
                .parent(&base.commit)
                .set("text", "uno\ntwo\nthree\n"),
        )
        .unwrap_err();
    match &e {
        Error::Conflict { code, conflicts, .. } => {
            assert_eq!(code, "conflict");
            assert_eq!(conflicts.len(), 1);
            assert_eq!(conflicts[0].path, "text");
            assert!(!conflicts[0].reason.is_empty());
        }
        other => panic!("expected a conflict, got {other:?}"),
    }
    assert_eq!(s.head("main").as_deref(), Some(ours.commit.as_str()));
    // Bad requests.
    let e = c
        .commit("main", &CommitRequest::new("m").set("../x", "1"))
        .unwrap_err();
    assert_eq!(e.code(), Some("bad_path"));
    let e = c
        .commit("main", &CommitRequest::new("m").parent("nowhere").set("x", "1"))
        .unwrap_err();
    assert!(
        matches!(&e, Error::NotFound { code, .. } if code == "no_such_rev"),
        "{e:?}"
    );
}

#[test]
fn merges() {
    let s = start();
    let c = s.client();
    c.put("main", "text", "one\ntwo\nthree\n").unwrap();
    c.create_branch("topic", Some("main")).unwrap();
    c.put("topic", "text", "ONE\ntwo\nthree\n").unwrap();
    c.put("main", "text", "one\ntwo\nTHREE\n").unwrap();
    let m = c.merge("main", "topic", &MergeOptions::default()).unwrap();
    assert_eq!(m.outcome, "merged");
    assert_eq!(c.get("main", "text").unwrap().as_str(), Some("ONE\ntwo\nTHREE\n"));
    let m = c.merge("main", "topic", &MergeOptions::default()).unwrap();
    assert_eq!(m.outcome, "up_to_date");
    let m = c.merge("topic", "main", &MergeOptions::default()).unwrap();
    assert_eq!(m.outcome, "fast_forward");
    c.put("topic", "text", "uno\n").unwrap();
    let head = c.put("main", "text", "eins\n").unwrap();
    let opts = MergeOptions {
        message: Some("m".into()),
        ..MergeOptions::default()
    };
    let e = c.merge("main", "topic", &opts).unwrap_err();
    match &e {
        Error::Conflict { conflicts, .. } => {
            let paths: Vec<_> = conflicts.iter().map(|c| c.path.as_str()).collect();
            assert_eq!(paths, ["text"]);
        }
        other => panic!("expected a conflict, got {other:?}"),
    }
    assert_eq!(s.head("main"), Some(head));
    let e = c.merge("main", "nowhere", &MergeOptions::default()).unwrap_err();
    assert!(
        matches!(&e, Error::NotFound { code, .. } if code == "no_such_rev"),
        "{e:?}"
    );
}

#[test]
fn tokens_401_and_403() {
    let mut made = None;
    let s = start_with(|repo| {
        let store = TokenStore::for_repo(repo);
        let admin = store.create("admin", &[], &["*".into()]).unwrap();
        let feature = store
            .create("feature-dev", &["main".into()], &["feature/*".into()])
            .unwrap();
        made = Some((admin, feature));
    });
    let (admin, feature) = made.unwrap();
    // No token, a wrong one.
    for c in [s.client(), s.client().with_token("cnp_wrong")] {
        let e = c.branches().unwrap_err();
        assert!(matches!(e, Error::Unauthorized { .. }), "{e:?}");
        assert_eq!(e.status(), Some(401));
        let e = c.put("main", "k", "v").unwrap_err();
        assert!(matches!(e, Error::Unauthorized { .. }), "{e:?}");
    }
    // Health and the document need no token.
    s.client().healthz().unwrap();
    s.client().openapi().unwrap();

    let admin = s.client().with_token(admin);
    admin.put("main", "k", "v").unwrap();
    admin.create_branch("feature/x", Some("main")).unwrap();

    let dev = s.client().with_token(feature);
    let e = dev.put("main", "k", "w").unwrap_err();
    assert!(matches!(e, Error::Forbidden { .. }), "{e:?}");
    assert_eq!(e.status(), Some(403));
    assert_eq!(dev.get("main", "k").unwrap().as_str(), Some("v"));
    dev.put("feature/x", "k", "w").unwrap();
    assert_eq!(dev.get("feature/x", "k").unwrap().as_str(), Some("w"));
    let e = dev
        .merge("main", "feature/x", &MergeOptions::default())
        .unwrap_err();
    assert!(matches!(e, Error::Forbidden { .. }), "{e:?}");
    let e = dev.watch("secret", &WatchOptions::default()).unwrap_err();
    assert!(matches!(e, Error::Forbidden { .. }), "{e:?}");
}

#[test]
fn watch_receives_every_commit_and_resumes() {
    let s = start();
    let c = s.client();
    let start = c.put("main", "config/a", "0").unwrap();
    let mut watch = c.watch("main", &WatchOptions::default()).unwrap();
    match watch.next().unwrap().unwrap() {
        WatchEvent::Ready { branch, head } => {
            assert_eq!(branch, "main");
            assert_eq!(head.as_deref(), Some(start.as_str()));
        }
        other => panic!("expected ready, got {other:?}"),
    }
    assert_eq!(watch.last_event_id(), Some(start.as_str()));
    let writer = {
        let c = c.clone();
        std::thread::spawn(move || {
            (1..=20)
                .map(|i| c.put("main", &format!("config/{i}"), i.to_string()).unwrap())
                .collect::<Vec<_>>()
        })
    };
    let commits = writer.join().unwrap();
    let mut seen = Vec::new();
    for event in watch.by_ref().take(commits.len()) {
        match event.unwrap() {
            WatchEvent::Change(change) => {
                assert_eq!(change.branch, "main");
                assert_eq!(change.changes.len(), 1);
                seen.push(change.commit.id.clone());
            }
            other => panic!("expected a change, got {other:?}"),
        }
    }
    assert_eq!(seen, commits, "one event per commit, in order");
    assert_eq!(watch.last_event_id(), commits.last().map(String::as_str));
    drop(watch);

    // Resume after the 5th: exactly the 15 after it.
    let opts = WatchOptions {
        path: None,
        last_event_id: Some(commits[4].clone()),
    };
    let mut resumed = c.watch("main", &opts).unwrap();
    assert!(matches!(
        resumed.next().unwrap().unwrap(),
        WatchEvent::Ready { .. }
    ));
    let again: Vec<String> = resumed
        .by_ref()
        .take(15)
        .map(|e| match e.unwrap() {
            WatchEvent::Change(c) => c.commit.id,
            other => panic!("expected a change, got {other:?}"),
        })
        .collect();
    assert_eq!(again, commits[5..]);
    drop(resumed);

    // A path filter: only commits below it.
    let opts = WatchOptions {
        path: Some("only".into()),
        last_event_id: Some(start),
    };
    let mut filtered = c.watch("main", &opts).unwrap();
    let wanted = c.put("main", "only/x", "1").unwrap();
    assert!(matches!(
        filtered.next().unwrap().unwrap(),
        WatchEvent::Ready { .. }
    ));
    match filtered.next().unwrap().unwrap() {
        WatchEvent::Change(ch) => {
            assert_eq!(ch.commit.id, wanted);
            assert_eq!(ch.changes[0].path, "only/x");
        }
        other => panic!("expected a change, got {other:?}"),
    }
    // A bad resume point is a 400 before the stream starts.
    let opts = WatchOptions {
        path: None,
        last_event_id: Some("nope".into()),
    };
    let e = c.watch("main", &opts).unwrap_err();
    assert!(matches!(e, Error::BadRequest { .. }), "{e:?}");
}
