//! Merging with conflicts settled by the client: the preview shows each conflict's three sides,
//! the merge accepts one resolution per conflicting path and commits them as a merge commit.
//! Also the diff's line diffs (`patch=true`), which the UI shows.

mod common;

use common::{code, start, TestServer};
use serde_json::{json, Value};

/// `main` and `topic` both changed `text` (a conflict) and one path each (clean).
async fn conflicting(s: &TestServer) -> (String, String) {
    s.set("main", "text", "one\n").await;
    s.set("main", "gone", "x").await;
    let (status, _) = s
        .post_json("branches", &json!({"name": "topic", "from": "main"}))
        .await;
    assert_eq!(status, 201);
    s.set("topic", "text", "uno\n").await;
    s.set("topic", "t-only", "t").await;
    s.set("main", "text", "eins\n").await;
    let main = s.set("main", "m-only", "m").await;
    let topic = s.head("topic").unwrap();
    (main, topic)
}

async fn preview(s: &TestServer, branch: &str, from: &str) -> (u16, Value) {
    s.get_json(&format!("branches/{branch}/merge/preview?from={from}"))
        .await
}

async fn merge(s: &TestServer, body: Value, if_match: Option<&str>) -> (u16, Value) {
    let mut r = s.client.post(s.api("branches/main/merge")).json(&body);
    if let Some(m) = if_match {
        r = r.header("If-Match", format!("\"{m}\""));
    }
    let r = r.send().await.unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn preview_lists_conflicts_with_their_sides_and_writes_nothing() {
    let s = start().await;
    let (main, topic) = conflicting(&s).await;
    let (status, body) = preview(&s, "main", "topic").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["outcome"], "conflicts");
    assert_eq!(body["ours"], main.as_str());
    assert_eq!(body["theirs"], topic.as_str());
    let conflicts = body["conflicts"].as_array().unwrap();
    assert_eq!(conflicts.len(), 1);
    let c = &conflicts[0];
    assert_eq!(c["path"], "text");
    assert_eq!(c["base"]["value"], "one\n");
    assert_eq!(c["ours"]["value"], "eins\n");
    assert_eq!(c["theirs"]["value"], "uno\n");
    assert_eq!(c["ours"]["kind"], "value");
    assert_eq!(c["ours"]["size"], 5);
    // The clean part of the merge: topic's new path comes in.
    let changed: Vec<&str> = body["changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["path"].as_str().unwrap())
        .collect();
    assert_eq!(changed, ["t-only"]);
    assert_eq!(s.head("main").unwrap(), main, "nothing written");

    // The other outcomes.
    let (_, body) = preview(&s, "topic", "topic~1").await;
    assert_eq!(body["outcome"], "up_to_date");
    s.post_json("branches", &json!({"name": "behind", "from": "main~1"}))
        .await;
    let (_, body) = preview(&s, "behind", "main").await;
    assert_eq!(body["outcome"], "fast_forward");
    assert_eq!(body["changes"][0]["path"], "m-only");
    s.set("behind", "b-only", "b").await;
    let (_, body) = preview(&s, "behind", "main").await;
    assert_eq!(body["outcome"], "clean");
    assert_eq!(body["conflicts"], json!([]));
    // A binary side comes as base64; a missing side as null.
    s.set("topic", "bin", "\0\u{1}").await;
    s.set("main", "bin", "\0\u{2}").await;
    s.client
        .delete(s.api("branches/topic/values/gone"))
        .send()
        .await
        .unwrap();
    s.set("main", "gone", "changed").await;
    let (_, body) = preview(&s, "main", "topic").await;
    let by_path = |p: &str| {
        body["conflicts"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["path"] == p)
            .unwrap_or_else(|| panic!("no conflict on {p}: {body}"))
            .clone()
    };
    assert_eq!(by_path("bin")["ours"]["value_base64"], "AAI=");
    assert_eq!(by_path("bin")["base"], Value::Null);
    assert_eq!(by_path("gone")["theirs"], Value::Null);
    assert_eq!(by_path("gone")["ours"]["value"], "changed");
    let (status, _) = preview(&s, "main", "nowhere").await;
    assert_eq!(status, 404);
    let (status, _) = preview(&s, "nobranch", "topic").await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn resolutions_make_a_merge_commit_with_both_parents() {
    let s = start().await;
    let (main, topic) = conflicting(&s).await;
    // Without resolutions: 409, as before.
    let (status, body) = merge(&s, json!({"from": "topic"}), None).await;
    assert_eq!((status, code(&body)), (409, "conflict"));
    // A resolution for a path that merges cleanly is refused; so is a missing one.
    let (status, body) = merge(
        &s,
        json!({"from": "topic", "resolutions": [
            {"path": "text", "value": "both\n"}, {"path": "t-only", "value": "no"}]}),
        None,
    )
    .await;
    assert_eq!((status, code(&body)), (409, "not_in_conflict"), "{body}");
    let (status, body) = merge(
        &s,
        json!({"from": "topic", "resolutions": [{"path": "text", "value": "x", "delete": true}]}),
        None,
    )
    .await;
    assert_eq!((status, code(&body)), (400, "bad_json"), "{body}");
    // A malformed body is a 400 whatever the precondition says: a stale If-Match, or one
    // that is no commit of this store, does not hide it behind a 412.
    let sha256_like = "aF27c3f960b10E8aF01c4b1a20b5cC1f3FAEd85f54c748fDcAA08e6E7535CFBa";
    for stale in [topic.as_str(), sha256_like] {
        for bad in [
            json!({"from": "topic", "resolutions": [{"path": "text", "value_base64": "6"}]}),
            json!({"from": "topic", "resolutions": [{"path": "../x", "value": "y"}]}),
            json!({"from": "topic", "author": "no address", "resolutions": [{"path": "text", "value": "y"}]}),
        ] {
            let (status, body) = merge(&s, bad.clone(), Some(stale)).await;
            assert_eq!(status, 400, "{bad} with If-Match {stale}: {body}");
        }
    }
    // Two resolutions for one path keep to the document but contradict each other.
    let (status, body) = merge(
        &s,
        json!({"from": "topic", "resolutions": [
            {"path": "text", "value": "a"}, {"path": "text", "take": "ours"}]}),
        None,
    )
    .await;
    assert_eq!((status, code(&body)), (422, "resolved_twice"), "{body}");
    // If-Match names the head the resolutions were decided on.
    let (status, body) = merge(
        &s,
        json!({"from": "topic", "resolutions": [{"path": "text", "value": "both\n"}]}),
        Some(&topic),
    )
    .await;
    assert_eq!((status, code(&body)), (412, "precondition_failed"));
    assert_eq!(s.head("main").unwrap(), main, "nothing written");

    let (status, body) = merge(
        &s,
        json!({"from": "topic", "message": "settled", "resolutions": [{"path": "text", "value": "both\n"}]}),
        Some(&main),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["outcome"], "merged");
    let commit = body["commit"].as_str().unwrap().to_string();
    assert_eq!(s.head("main").unwrap(), commit);
    let (_, c) = s.get_json(&format!("commits/{commit}")).await;
    assert_eq!(c["parents"], json!([main, topic]));
    assert_eq!(c["summary"], "settled");
    assert_eq!(s.get_text("main", "text").await.1, "both\n");
    assert_eq!(
        s.get_text("main", "t-only").await.1,
        "t",
        "the clean part is merged"
    );
    assert_eq!(s.get_text("main", "m-only").await.1, "m");
    // Now up to date: resolutions have nothing to resolve.
    let (status, body) = merge(
        &s,
        json!({"from": "topic", "resolutions": [{"path": "text", "take": "theirs"}]}),
        None,
    )
    .await;
    assert_eq!((status, code(&body)), (409, "not_in_conflict"));
}

#[tokio::test]
async fn a_resolution_can_take_a_side_or_delete() {
    for (resolution, expected) in [
        (json!({"path": "text", "take": "theirs"}), Some("uno\n")),
        (json!({"path": "text", "take": "ours"}), Some("eins\n")),
        (json!({"path": "text", "take": "base"}), Some("one\n")),
        (json!({"path": "text", "delete": true}), None),
        (json!({"path": "text", "value_base64": "AAE="}), Some("\0\u{1}")),
    ] {
        let s = start().await;
        let (main, topic) = conflicting(&s).await;
        let (status, body) = merge(&s, json!({"from": "topic", "resolutions": [resolution]}), None).await;
        assert_eq!(status, 200, "{body}");
        let (_, c) = s
            .get_json(&format!("commits/{}", body["commit"].as_str().unwrap()))
            .await;
        assert_eq!(c["parents"], json!([main, topic]));
        let (status, text) = s.get_text("main", "text").await;
        match expected {
            Some(v) => assert_eq!((status, text.as_str()), (200, v)),
            None => assert_eq!(status, 404),
        }
    }
}

#[tokio::test]
async fn diff_with_patches() {
    let s = start().await;
    let c1 = s.set("main", "a.txt", "one\ntwo\nthree\n").await;
    s.set("main", "bin", "\0\u{1}").await;
    s.set("main", "a.txt", "one\nTWO\nthree\n").await;
    s.set("main", "bin", "\0\u{2}").await;
    let c2 = s.set("main", "new", "fresh").await;
    let (status, body) = s.get_json(&format!("diff?from={c1}&to={c2}&patch=true")).await;
    assert_eq!(status, 200, "{body}");
    let changes = body["changes"].as_array().unwrap();
    let by = |p: &str| changes.iter().find(|c| c["path"] == p).unwrap();
    assert_eq!(
        by("a.txt")["patch"],
        "@@ -1,3 +1,3 @@\n one\n-two\n+TWO\n three\n"
    );
    assert_eq!(by("a.txt")["binary"], false);
    assert_eq!(by("bin")["binary"], true);
    assert_eq!(by("bin")["patch"], Value::Null);
    assert_eq!(
        by("new")["patch"],
        "@@ -0,0 +1 @@\n+fresh\n\\ No newline at end of file\n"
    );
    // Without patch=true the answer is as before.
    let (_, body) = s.get_json(&format!("diff?from={c1}&to={c2}")).await;
    assert!(body["changes"][0].get("patch").is_none());
}
