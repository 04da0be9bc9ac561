//! Watches as server-sent events: one event per commit, in order; resuming with
//! Last-Event-ID without gaps or repeats.

mod common;

use std::time::Duration;

use common::{start, SseReader};
use serde_json::json;

const WAIT: Duration = Duration::from_secs(20);

async fn connect(s: &common::TestServer, query: &str, last: Option<&str>) -> SseReader {
    let mut req = s.client.get(s.api(&format!("branches/main/watch{query}")));
    if let Some(id) = last {
        req = req.header("last-event-id", id);
    }
    SseReader::new(req.send().await.unwrap())
}

#[tokio::test]
async fn every_commit_arrives_in_order_and_resume_has_no_gaps() {
    let s = start().await;
    let first = s.set("main", "k", "0").await;
    let mut watch = connect(&s, "", None).await;
    let ready = watch.next(WAIT).await;
    assert_eq!(ready.event, "ready");
    assert_eq!(ready.id.as_deref(), Some(first.as_str()));

    // 200 rapid writes from 4 concurrent writers: one event each, in the branch's order.
    let mut writers = Vec::new();
    for w in 0..4 {
        let client = s.client.clone();
        let base = s.api("branches/main/values");
        writers.push(tokio::spawn(async move {
            for i in 0..50 {
                let r = client
                    .put(format!("{base}/w{w}/k{i}"))
                    .body(i.to_string())
                    .send()
                    .await
                    .unwrap();
                assert_eq!(r.status(), 200);
            }
        }));
    }
    let mut events = Vec::new();
    for _ in 0..200 {
        let e = watch.next(WAIT).await;
        assert_eq!(e.event, "change");
        assert_eq!(e.data["branch"], "main");
        assert_eq!(
            e.data["changes"].as_array().unwrap().len(),
            1,
            "one path per commit"
        );
        events.push(e);
    }
    for w in writers {
        w.await.unwrap();
    }
    // The branch's history, oldest first, after `first`.
    let mut commits: Vec<String> = s
        .repo
        .branch("main")
        .unwrap()
        .history()
        .unwrap()
        .map(|c| c.unwrap().id.to_hex())
        .take_while(|id| *id != first)
        .collect();
    commits.reverse();
    assert_eq!(commits.len(), 200);
    let ids: Vec<&str> = events.iter().map(|e| e.id.as_deref().unwrap()).collect();
    assert_eq!(ids, commits, "every commit once, in order");
    for e in &events {
        assert_eq!(e.data["id"].as_str(), e.id.as_deref());
    }
    assert!(
        watch.quiet_for(Duration::from_millis(300)).await.is_none(),
        "no extra events"
    );
    drop(watch);

    // Disconnected: 30 commits are missed; reconnecting with the last id gets exactly those.
    let last_seen = commits.last().unwrap().clone();
    let mut missed = Vec::new();
    for i in 0..30 {
        missed.push(s.set("main", "m", &i.to_string()).await);
    }
    let mut watch = connect(&s, "", Some(&last_seen)).await;
    let ready = watch.next(WAIT).await;
    assert_eq!(ready.event, "ready");
    assert_eq!(ready.id, None, "a resumed stream keeps the client's last id");
    for commit in &missed {
        let e = watch.next(WAIT).await;
        assert_eq!(e.id.as_deref(), Some(commit.as_str()));
    }
    assert!(
        watch.quiet_for(Duration::from_millis(300)).await.is_none(),
        "no repeats"
    );
    // And it keeps following.
    let next = s.set("main", "m", "after").await;
    assert_eq!(watch.next(WAIT).await.id.as_deref(), Some(next.as_str()));
}

#[tokio::test]
async fn writes_by_other_processes_are_seen() {
    let s = start().await;
    s.set("main", "k", "0").await;
    let mut watch = connect(&s, "", None).await;
    watch.next(WAIT).await;
    // Straight through the library, as another process would.
    let branch = s.repo.branch("main").unwrap();
    let commit = branch
        .set(
            &canopy::Path::parse("outside").unwrap(),
            "x",
            &canopy::store::CommitOptions::message("outside"),
        )
        .unwrap();
    let e = watch.next(WAIT).await;
    assert_eq!(e.id, Some(commit.to_hex()));
    assert_eq!(e.data["summary"], "outside");
}

#[tokio::test]
async fn path_filter_and_merges() {
    let s = start().await;
    s.set("main", "a/x", "0").await;
    let mut watch = connect(&s, "?path=a", None).await;
    watch.next(WAIT).await;
    s.set("main", "b", "1").await; // not below a: no event
    let c = s.set("main", "a/y", "2").await;
    let e = watch.next(WAIT).await;
    assert_eq!(e.id.as_deref(), Some(c.as_str()));
    assert_eq!(
        e.data["changes"],
        json!([{"path": "a/y", "kind": "added", "status": "A", "old": null, "new": e.data["changes"][0]["new"]}])
    );
    // A multi-path commit through the commits endpoint is one event.
    let (status, body) = s
        .post_json(
            "branches/main/commits",
            &json!({"message": "two", "changes": [{"path": "a/1", "value": "1"}, {"path": "a/2", "value": "2"}]}),
        )
        .await;
    assert_eq!(status, 200);
    let e = watch.next(WAIT).await;
    assert_eq!(e.id.as_deref(), body["commit"].as_str());
    assert_eq!(e.data["changes"].as_array().unwrap().len(), 2);
}

#[tokio::test]
async fn resuming_from_a_commit_no_longer_in_history_sends_the_whole_diff() {
    let s = start().await;
    let c1 = s.set("main", "k", "1").await;
    s.set("main", "k", "2").await;
    let (status, _) = s
        .post_json("branches", &json!({"name": "side", "from": c1}))
        .await;
    assert_eq!(status, 201);
    let side = s.set("side", "s", "side only").await;
    // A client last saw `side`'s commit on main's stream (say main was reset since).
    let mut watch = connect(&s, "", Some(&side)).await;
    assert_eq!(watch.next(WAIT).await.event, "ready");
    let e = watch.next(WAIT).await;
    assert_eq!(e.data["reset"], true);
    assert_eq!(e.id, s.head("main"));
    let paths: Vec<&str> = e.data["changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["path"].as_str().unwrap())
        .collect();
    assert_eq!(paths, ["k", "s"]);
    // A malformed id is a 400.
    let r = s
        .client
        .get(s.api("branches/main/watch"))
        .header("last-event-id", "nope")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
}

#[tokio::test]
async fn watch_connections_are_limited() {
    let s = common::start_with(
        canopy_server::Limits {
            max_watch_connections: 2,
            ..Default::default()
        },
        |_| {},
    )
    .await;
    let mut a = connect(&s, "", None).await;
    let mut b = connect(&s, "", None).await;
    a.next(WAIT).await;
    b.next(WAIT).await;
    let r = s.client.get(s.api("branches/main/watch")).send().await.unwrap();
    assert_eq!(r.status(), 503);
    assert!(r.headers().contains_key("retry-after"));
    // Ordinary requests are not affected.
    s.set("main", "k", "v").await;
    drop(a);
    // The slot comes back once the server notices the stream is gone.
    let mut ok = false;
    for _ in 0..100 {
        tokio::time::sleep(Duration::from_millis(50)).await;
        s.set("main", "k", &format!("{}", rand_u32())).await; // a write makes the server write to the dead stream
        let r = s.client.get(s.api("branches/main/watch")).send().await.unwrap();
        if r.status() == 200 {
            ok = true;
            break;
        }
    }
    assert!(ok, "a closed watch frees its slot");
}

fn rand_u32() -> u32 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos()
}
