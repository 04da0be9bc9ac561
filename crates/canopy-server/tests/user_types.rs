//! The server merges with the drivers of the store it was given: a merge function registered by
//! the program that embeds the server decides `POST …/merge`, `POST …/commits` on a moved head,
//! and `git push -o merge`; and a counter counts both clients' increments.

mod common;

use std::path::Path as FsPath;
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use canopy::merge::{MergeContext, MergeResult};
use canopy::Repo;
use common::{start_with, TestServer};
use serde_json::json;

/// Registers a max-register under `name` that counts its runs in `runs`.
fn register_max(repo: &Repo, name: &str, runs: Arc<AtomicUsize>) {
    repo.register(
        name,
        move |_: &MergeContext,
              _: Option<&[u8]>,
              o: Option<&[u8]>,
              t: Option<&[u8]>|
              -> MergeResult<Option<Vec<u8>>> {
            runs.fetch_add(1, Ordering::SeqCst);
            let n = |v: Option<&[u8]>| {
                v.and_then(|v| std::str::from_utf8(v).ok()?.trim().parse::<u64>().ok())
                    .unwrap_or(0)
            };
            Ok(Some(format!("{}\n", n(o).max(n(t))).into_bytes()))
        },
    );
}

async fn seeded(name: &'static str) -> (TestServer, Arc<AtomicUsize>) {
    let runs = Arc::new(AtomicUsize::new(0));
    let r = runs.clone();
    let s = start_with(Default::default(), move |repo| register_max(repo, name, r)).await;
    s.set("main", ".gitattributes", &format!("/best merge={name}\n"))
        .await;
    s.set("main", "best", "10\n").await;
    (s, runs)
}

#[tokio::test]
async fn post_merge_uses_the_registered_driver() {
    let (s, runs) = seeded("max-merge").await;
    let base = s.head("main").unwrap();
    let (status, _) = s
        .post_json("branches", &json!({"name": "topic", "from": base}))
        .await;
    assert_eq!(status, 201);
    s.set("main", "best", "30\n").await;
    s.set("topic", "best", "20\n").await;
    let (status, body) = s
        .post_json("branches/topic/merge", &json!({"from": "main"}))
        .await;
    assert_eq!(
        (status, body["outcome"].as_str()),
        (200, Some("merged")),
        "{body}"
    );
    assert_eq!(s.get_text("topic", "best").await.1, "30\n");
    assert_eq!(runs.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn commits_on_a_moved_head_use_the_registered_driver() {
    let (s, runs) = seeded("max-commits").await;
    let base = s.head("main").unwrap();
    s.set("main", "best", "40\n").await;
    let (status, body) = s
        .post_json(
            "branches/main/commits",
            &json!({"message": "stale", "parent": base, "changes": [{"path": "best", "value": "25\n"}]}),
        )
        .await;
    // The user's max keeps 40: nothing to commit.
    assert_eq!(status, 200, "{body}");
    assert_eq!(s.get_text("main", "best").await.1, "40\n");
    assert_eq!(runs.load(Ordering::SeqCst), 1);
    let (status, body) = s
        .post_json(
            "branches/main/commits",
            &json!({"message": "stale", "parent": base, "changes": [{"path": "best", "value": "45\n"}]}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["merged"], true);
    assert_eq!(s.get_text("main", "best").await.1, "45\n");
    assert_eq!(runs.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn two_clients_incrementing_a_counter_both_count() {
    let s = start_with(Default::default(), |_| {}).await;
    s.set("main", ".gitattributes", "/hits merge=counter\n").await;
    s.set("main", "hits", "10\n").await;
    let seen = s.head("main").unwrap();
    // Both clients read 10 at the same commit and write 11.
    for client in ["a", "b"] {
        let (status, body) = s
            .post_json(
                "branches/main/commits",
                &json!({"message": format!("visit from {client}"), "parent": seen, "changes": [{"path": "hits", "value": "11\n"}]}),
            )
            .await;
        assert_eq!(status, 200, "{body}");
    }
    assert_eq!(s.get_text("main", "hits").await.1, "12\n");
}

fn git(dir: &FsPath, args: &[&str]) -> std::process::Output {
    Command::new("git")
        .args(args)
        .current_dir(dir)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_AUTHOR_NAME", "t")
        .env("GIT_AUTHOR_EMAIL", "t@example.com")
        .env("GIT_COMMITTER_NAME", "t")
        .env("GIT_COMMITTER_EMAIL", "t@example.com")
        .output()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn git_push_with_merge_option_uses_the_registered_driver() {
    let (s, runs) = seeded("max-push").await;
    let tmp = tempfile::tempdir().unwrap();
    let url = format!("{}/git", s.url);
    let (x, y) = (tmp.path().join("x"), tmp.path().join("y"));
    let out = tokio::task::spawn_blocking(move || {
        for dir in [&x, &y] {
            let o = git(x.parent().unwrap(), &["clone", "-q", &url, dir.to_str().unwrap()]);
            assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        }
        std::fs::write(x.join("best"), "50\n").unwrap();
        assert!(git(&x, &["commit", "-qam", "50"]).status.success());
        assert!(git(&x, &["push", "-q", "origin", "HEAD:main"]).status.success());
        std::fs::write(y.join("best"), "35\n").unwrap();
        assert!(git(&y, &["commit", "-qam", "35"]).status.success());
        git(&y, &["push", "--force", "-o", "merge", "origin", "HEAD:main"])
    })
    .await
    .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(s.get_text("main", "best").await.1, "50\n");
    assert_eq!(runs.load(Ordering::SeqCst), 1);
}
