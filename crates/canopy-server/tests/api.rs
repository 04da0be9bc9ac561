//! Every REST endpoint against a real server on a loopback port: happy paths and the error
//! statuses a client must be able to rely on.

mod common;

use common::{code, start, start_with};
use serde_json::{json, Value};

#[tokio::test]
async fn values_round_trip_with_etag_and_commit_headers() {
    let s = start().await;
    // An empty store: the default branch is unborn but writable.
    let c1 = s.set("main", "config/db/host", "db1").await;
    let r = s
        .client
        .get(s.api("branches/main/values/config/db/host"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["x-canopy-commit"], c1.as_str());
    let etag = r.headers()["etag"].to_str().unwrap().to_string();
    let blob = canopy::ObjectId::for_object(canopy::HashKind::Sha1, canopy::object::ObjectKind::Blob, b"db1");
    assert_eq!(etag, format!("\"{blob}\""));
    assert_eq!(r.bytes().await.unwrap().as_ref(), b"db1");
    // Conditional GET.
    let r = s
        .client
        .get(s.api("branches/main/values/config/db/host"))
        .header("if-none-match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 304);
    // Binary values survive.
    let bytes: Vec<u8> = (0..=255).collect();
    let r = s
        .client
        .put(s.api("branches/main/values/bin"))
        .body(bytes.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let r = s
        .client
        .get(s.api("branches/main/values/bin"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.bytes().await.unwrap().as_ref(), &bytes[..]);
    // ?at= reads an older commit; the message is the one given.
    s.set("main", "config/db/host", "db2").await;
    let (status, body) = s.get_json(&format!("commits/{c1}")).await;
    assert_eq!(status, 200);
    assert_eq!(body["summary"], "set config/db/host");
    let r = s
        .client
        .get(s.api(&format!("branches/main/values/config/db/host?at={c1}")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.text().await.unwrap(), "db1");
    assert_eq!(s.get_text("main", "config/db/host").await, (200, "db2".into()));
    let r = s
        .client
        .put(s.api("branches/main/values/x?message=hello%20world&author=Ann%20%3Cann%40example.com%3E"))
        .body("1")
        .send()
        .await
        .unwrap();
    let commit: Value = r.json().await.unwrap();
    let (_, info) = s
        .get_json(&format!("commits/{}", commit["commit"].as_str().unwrap()))
        .await;
    assert_eq!(info["message"], "hello world\n");
    assert_eq!(info["author"]["name"], "Ann");
    assert_eq!(info["author"]["email"], "ann@example.com");
}

#[tokio::test]
async fn delete_values_and_missing_ones() {
    let s = start().await;
    s.set("main", "a/b", "1").await;
    s.set("main", "a/c", "2").await;
    let r = s
        .client
        .delete(s.api("branches/main/values/a/b"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(s.get_text("main", "a/b").await.0, 404);
    assert_eq!(s.get_text("main", "a/c").await, (200, "2".into()));
    let r = s
        .client
        .delete(s.api("branches/main/values/a/b"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    let body: Value = r.json().await.unwrap();
    assert_eq!(code(&body), "no_such_path");
    // A directory is not a value.
    let (status, body) = s.get_text("main", "a").await;
    assert_eq!(status, 409, "{body}");
}

#[tokio::test]
async fn if_match_is_test_and_set_on_the_head() {
    let s = start().await;
    let c1 = s.set("main", "k", "1").await;
    let c2 = s.set("main", "other", "x").await;
    // Stale: 412 and nothing written.
    let r = s
        .client
        .put(s.api("branches/main/values/k"))
        .header("if-match", format!("\"{c1}\""))
        .body("2")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 412);
    let body: Value = r.json().await.unwrap();
    assert_eq!(code(&body), "precondition_failed");
    assert_eq!(s.get_text("main", "k").await.1, "1");
    assert_eq!(s.head("main").unwrap(), c2);
    // Current: written, on top of exactly that head.
    let r = s
        .client
        .put(s.api("branches/main/values/k"))
        .header("if-match", format!("\"{c2}\""))
        .body("2")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let body: Value = r.json().await.unwrap();
    let (_, info) = s
        .get_json(&format!("commits/{}", body["commit"].as_str().unwrap()))
        .await;
    assert_eq!(info["parents"], json!([c2]));
    assert_eq!(s.get_text("main", "k").await.1, "2");
    // DELETE with a stale If-Match: 412, value kept.
    let r = s
        .client
        .delete(s.api("branches/main/values/k"))
        .header("if-match", format!("\"{c2}\""))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 412);
    assert_eq!(s.get_text("main", "k").await.1, "2");
    // If-None-Match on a write is `*` or nothing: empty is refused, nothing written.
    let before = s.head("main");
    let r = s
        .client
        .put(s.api("branches/main/values/fresh"))
        .header("if-none-match", "")
        .body("x")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert_eq!(s.head("main"), before);
    // If-None-Match: * only creates.
    let r = s
        .client
        .put(s.api("branches/main/values/k"))
        .header("if-none-match", "*")
        .body("3")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 412);
    let r = s
        .client
        .put(s.api("branches/main/values/fresh"))
        .header("if-none-match", "*")
        .body("3")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    // A malformed If-None-Match is a 400 even beside an If-Match that would fail as a
    // precondition (an id of the other hash kind).
    let before = s.head("main");
    let r = s
        .client
        .put(s.api("branches/main/values/k"))
        .header("if-match", format!("\"{}\"", "ab".repeat(32)))
        .header("if-none-match", "$&2>")
        .body("4")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert_eq!(s.head("main"), before);
    // A malformed If-Match is a 400.
    let r = s
        .client
        .put(s.api("branches/main/values/k"))
        .header("if-match", "\"nope\"")
        .body("4")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
}

#[tokio::test]
async fn bad_paths_are_400_and_write_nothing() {
    let s = start().await;
    let before = s.set("main", "ok", "1").await;
    for path in [
        "a/%2e%2e/b",
        "a/%2E%2E/b",
        "a/../b",
        "..",
        ".git/config",
        "a/.GIT/b",
        "a/%00/b",
        "a//b",
        "a/./b",
        "a/",
    ] {
        let (status, body) = s
            .raw(
                &format!("PUT /api/v1/branches/main/values/{path} HTTP/1.1"),
                b"evil",
            )
            .await;
        assert_eq!(status, 400, "PUT {path}: {body}");
        let body: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(code(&body), "bad_path", "{path}");
        let (status, _) = s
            .raw(&format!("GET /api/v1/branches/main/values/{path} HTTP/1.1"), b"")
            .await;
        assert_eq!(status, 400, "GET {path}");
    }
    assert_eq!(s.head("main").unwrap(), before, "nothing was written");
    // Bad revisions are 400 too.
    let r = s
        .client
        .get(s.api("branches/main/values/ok?at=nonsense~x"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    // A malformed revision is a 400 `bad_rev`; a well-formed one naming nothing a 404.
    let (status, body) = s.get_json("commits/nonsense~x").await;
    assert_eq!((status, code(&body)), (400, "bad_rev"));
    let (status, body) = s.get_json("commits/doesnotexist").await;
    assert_eq!((status, code(&body)), (404, "no_such_rev"));
    let (status, body) = s.get_json("branches/main/values/ok?at=nowhere").await;
    assert_eq!((status, code(&body)), (404, "no_such_rev"));
    // A bad branch name.
    let r = s
        .client
        .get(s.api("branches/a..b/values/ok"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
}

#[tokio::test]
async fn unknown_branches_and_routes_are_404() {
    let s = start().await;
    s.set("main", "k", "v").await;
    for url in [
        "branches/nope/values/k",
        "branches/nope/tree",
        "branches/nope/log",
        "branches/nope",
    ] {
        let (status, body) = s.get_json(url).await;
        assert_eq!((status, code(&body)), (404, "no_such_branch"), "{url}");
    }
    let r = s.put("nope", "k", "v").await;
    assert_eq!(r.status(), 404);
    let (status, body) = s.get_json("no/such/route").await;
    assert_eq!((status, code(&body)), (404, "no_such_route"));
    assert_eq!(s.get_text("main", "absent").await.0, 404);
}

#[tokio::test]
async fn huge_bodies_are_413() {
    let s = start_with(
        canopy_server::Limits {
            max_body_bytes: 1000,
            max_value_bytes: 1000,
            ..Default::default()
        },
        |_| {},
    )
    .await;
    let r = s.put("main", "big", &"x".repeat(1001)).await;
    assert_eq!(r.status(), 413);
    let body: Value = r.json().await.unwrap();
    assert_eq!(code(&body), "too_large");
    // Also when the length is not declared up front (chunked).
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> = (0..20).map(|_| Ok(vec![b'y'; 100])).collect();
    let r = s
        .client
        .put(s.api("branches/main/values/big"))
        .body(reqwest::Body::wrap_stream(futures_util::stream::iter(chunks)))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 413);
    let (status, body) = s
        .post_json(
            "branches/main/commits",
            &json!({"message": "m", "changes": [{"path": "a", "value": "z".repeat(2000)}]}),
        )
        .await;
    assert_eq!((status, code(&body)), (413, "too_large"));
    assert_eq!(s.head("main"), None, "nothing was written");
    assert_eq!(s.set("main", "small", "ok").await.len(), 40);
}

#[tokio::test]
async fn branches_list_create_delete() {
    let s = start().await;
    let (status, body) = s.get_json("branches").await;
    assert_eq!((status, body), (200, json!([])));
    let c1 = s.set("main", "k", "v").await;
    let (status, body) = s.post_json("branches", &json!({"name": "feature/x"})).await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body, json!({"name": "feature/x", "head": c1}));
    let (status, body) = s
        .post_json("branches", &json!({"name": "feature/x", "from": "main"}))
        .await;
    assert_eq!((status, code(&body)), (409, "branch_exists"));
    // A name that is a directory of branches, or has a branch as a directory: a conflict with
    // the branches there, not a server error; and reading it finds no branch.
    for name in ["feature", "feature/x/y", "main/sub"] {
        let (status, body) = s.post_json("branches", &json!({"name": name})).await;
        assert_eq!((status, code(&body)), (409, "name_conflict"), "{name}: {body}");
    }
    let (status, body) = s.get_json("branches/feature/counters/0").await;
    assert_eq!((status, code(&body)), (404, "no_such_branch"), "{body}");
    let (status, body) = s
        .post_json("branches", &json!({"name": "bad..name", "from": "main"}))
        .await;
    assert_eq!((status, code(&body)), (400, "bad_branch_name"));
    let (status, body) = s
        .post_json("branches", &json!({"name": "y", "from": "nowhere"}))
        .await;
    assert_eq!((status, code(&body)), (404, "no_such_rev"));
    let (status, body) = s.post_json("branches", &json!({"nam": "y"})).await;
    assert_eq!(status, 400);
    assert!(
        body["error"]["message"].as_str().unwrap().contains("nam"),
        "{body}"
    );
    // Percent-encoded slash in the branch segment.
    s.set("feature%2Fx", "k", "on feature").await;
    assert_eq!(s.get_text("feature%2Fx", "k").await.1, "on feature");
    assert_eq!(s.get_text("main", "k").await.1, "v");
    let (_, body) = s.get_json("branches").await;
    let names: Vec<&str> = body
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["feature/x", "main"]);
    let (status, body) = s.get_json("branches/feature%2Fx").await;
    assert_eq!(status, 200);
    assert_eq!(body["head"].as_str().unwrap(), s.head("feature/x").unwrap());
    let r = s
        .client
        .delete(s.api("branches/feature%2Fx"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(s.head("feature/x"), None);
    let r = s
        .client
        .delete(s.api("branches/feature%2Fx"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    let r = s.client.delete(s.api("branches/main")).send().await.unwrap();
    assert_eq!(r.status(), 409, "the default branch stays");
}

#[tokio::test]
async fn tree_listing() {
    let s = start().await;
    let (status, body) = s.get_json("branches/main/tree").await;
    assert_eq!(status, 200);
    assert_eq!(body["entries"], json!([]));
    s.set("main", "a/b/c", "1").await;
    s.set("main", "a/d", "2").await;
    let c = s.set("main", "e", "3").await;
    let (_, body) = s.get_json("branches/main/tree").await;
    assert_eq!(body["commit"], c.as_str());
    let kinds: Vec<(String, String)> = body["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["name"].as_str().unwrap().into(),
                e["kind"].as_str().unwrap().into(),
            )
        })
        .collect();
    assert_eq!(kinds, [("a".into(), "tree".into()), ("e".into(), "value".into())]);
    let (_, body) = s.get_json("branches/main/tree/a").await;
    let paths: Vec<&str> = body["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["path"].as_str().unwrap())
        .collect();
    assert_eq!(paths, ["a/b", "a/d"]);
    let (_, body) = s.get_json("branches/main/tree/a?recursive=true").await;
    let paths: Vec<&str> = body["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["path"].as_str().unwrap())
        .collect();
    assert_eq!(paths, ["a/b/c", "a/d"]);
    let hash = body["entries"][0]["hash"].as_str().unwrap();
    assert_eq!(hash.len(), 40);
    let (_, body) = s.get_json("branches/main/tree?recursive=true").await;
    assert_eq!(body["entries"].as_array().unwrap().len(), 3);
    let (status, _) = s.get_json("branches/main/tree/nope").await;
    assert_eq!(status, 404);
    let (status, _) = s.get_json("branches/main/tree/e").await;
    assert_eq!(status, 409);
    let (status, body) = s.get_json("branches/main/tree?recursive=maybe").await;
    assert_eq!((status, code(&body)), (400, "bad_query"));
}

#[tokio::test]
async fn commits_with_several_changes_and_stale_parents() {
    let s = start().await;
    s.client
        .put(s.api("branches/main/values/.gitattributes"))
        .body("counters/* merge=counter\n")
        .send()
        .await
        .unwrap();
    let (status, body) = s
        .post_json(
            "branches/main/commits",
            &json!({
                "message": "several",
                "author": "Bob <bob@example.com>",
                "changes": [
                    {"path": "a", "value": "1"},
                    {"path": "bin", "value_base64": "AAEC"},
                    {"path": "counters/hits", "value": "10\n"},
                    {"path": "text", "value": "one\ntwo\nthree\n"}
                ]
            }),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let base = body["commit"].as_str().unwrap().to_string();
    let r = s
        .client
        .get(s.api("branches/main/values/bin"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.bytes().await.unwrap().as_ref(), &[0u8, 1, 2]);
    let (_, info) = s.get_json(&format!("commits/{base}")).await;
    assert_eq!(info["author"]["name"], "Bob");
    let changed: Vec<&str> = info["changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["path"].as_str().unwrap())
        .collect();
    assert_eq!(changed, ["a", "bin", "counters/hits", "text"]);

    // Someone else moves the branch on.
    let (status, _) = s
        .post_json(
            "branches/main/commits",
            &json!({"message": "theirs", "changes": [
                {"path": "counters/hits", "value": "15\n"},
                {"path": "text", "value": "ONE\ntwo\nthree\n"}
            ]}),
        )
        .await;
    assert_eq!(status, 200);
    // A client still on `base`: a mergeable change → merged, 200.
    let (status, body) = s
        .post_json(
            "branches/main/commits",
            &json!({"message": "ours", "parent": base, "changes": [
                {"path": "counters/hits", "value": "12\n"},
                {"path": "text", "value": "one\ntwo\nTHREE\n"},
                {"path": "a", "delete": true}
            ]}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["merged"], true);
    assert_eq!(s.get_text("main", "counters/hits").await.1, "17\n");
    assert_eq!(s.get_text("main", "text").await.1, "ONE\ntwo\nTHREE\n");
    assert_eq!(s.get_text("main", "a").await.0, 404);
    // A conflicting change → 409 naming the path, nothing written.
    let head = s.head("main").unwrap();
    let (status, body) = s
        .post_json(
            "branches/main/commits",
            &json!({"message": "conflict", "parent": base, "changes": [
                {"path": "text", "value": "uno\ntwo\nthree\n"}
            ]}),
        )
        .await;
    assert_eq!((status, code(&body)), (409, "conflict"), "{body}");
    assert_eq!(body["conflicts"][0]["path"], "text");
    assert_eq!(s.head("main").unwrap(), head);
    // Malformed requests: 400 naming the field.
    let (status, body) = s
        .post_json(
            "branches/main/commits",
            &json!({"message": "m", "changes": [{"value": "1"}]}),
        )
        .await;
    assert_eq!((status, code(&body)), (400, "bad_json"));
    assert!(
        body["error"]["message"].as_str().unwrap().contains("changes[0]"),
        "{body}"
    );
    assert!(
        body["error"]["message"].as_str().unwrap().contains("path"),
        "{body}"
    );
    let (status, body) = s
        .post_json(
            "branches/main/commits",
            &json!({"message": "m", "changes": [{"path": "x", "value": "1", "delete": true}]}),
        )
        .await;
    assert_eq!(status, 400);
    assert!(
        body["error"]["message"].as_str().unwrap().contains("changes[0]"),
        "{body}"
    );
    let (status, body) = s
        .post_json(
            "branches/main/commits",
            &json!({"message": "m", "changes": [{"path": "../x", "value": "1"}]}),
        )
        .await;
    assert_eq!(status, 400, "{body}");
    let (status, body) = s
        .post_json("branches/main/commits", &json!({"message": 5, "changes": []}))
        .await;
    assert_eq!(status, 400);
    assert!(
        body["error"]["message"].as_str().unwrap().contains("message"),
        "{body}"
    );
    let r = s
        .client
        .post(s.api("branches/main/commits"))
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert_eq!(s.head("main").unwrap(), head, "nothing was written");
}

#[tokio::test]
async fn merge_branches() {
    let s = start().await;
    s.set("main", "text", "one\ntwo\nthree\n").await;
    let (status, _) = s
        .post_json("branches", &json!({"name": "topic", "from": "main"}))
        .await;
    assert_eq!(status, 201);
    s.set("topic", "text", "ONE\ntwo\nthree\n").await;
    s.set("main", "text", "one\ntwo\nTHREE\n").await;
    let (status, body) = s
        .post_json("branches/main/merge", &json!({"from": "topic"}))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["outcome"], "merged");
    assert_eq!(s.get_text("main", "text").await.1, "ONE\ntwo\nTHREE\n");
    let (_, body) = s
        .post_json("branches/main/merge", &json!({"from": "topic"}))
        .await;
    assert_eq!(body["outcome"], "up_to_date");
    // Fast-forward.
    let (_, body) = s
        .post_json("branches/topic/merge", &json!({"from": "main"}))
        .await;
    assert_eq!(body["outcome"], "fast_forward");
    // Conflict: 409 with the paths, branch unchanged.
    s.set("topic", "text", "uno\n").await;
    s.set("main", "text", "eins\n").await;
    let head = s.head("main").unwrap();
    let (status, body) = s
        .post_json("branches/main/merge", &json!({"from": "topic", "message": "m"}))
        .await;
    assert_eq!((status, code(&body)), (409, "conflict"));
    assert_eq!(
        body["conflicts"],
        json!([{"path": "text", "reason": body["conflicts"][0]["reason"]}])
    );
    assert_eq!(s.head("main").unwrap(), head);
    let (status, _) = s
        .post_json("branches/main/merge", &json!({"from": "nowhere"}))
        .await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn log_commit_and_diff() {
    let s = start().await;
    let c1 = s.set("main", "a", "1").await;
    let c2 = s.set("main", "b", "2").await;
    let c3 = s.set("main", "a", "3").await;
    let (status, body) = s.get_json("branches/main/log").await;
    assert_eq!(status, 200);
    let ids: Vec<&str> = body
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [c3.as_str(), c2.as_str(), c1.as_str()]);
    let (_, body) = s.get_json("branches/main/log?limit=1").await;
    assert_eq!(body.as_array().unwrap().len(), 1);
    let (_, body) = s.get_json("branches/main/log?path=a").await;
    let ids: Vec<&str> = body
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [c3.as_str(), c1.as_str()]);
    let (status, _) = s.get_json("branches/main/log?limit=-1").await;
    assert_eq!(status, 400);

    let (status, body) = s.get_json("commits/main~1").await;
    assert_eq!(status, 200);
    assert_eq!(body["id"], c2.as_str());
    assert_eq!(body["parents"], json!([c1]));
    assert_eq!(
        body["changes"],
        json!([{"path": "b", "kind": "added", "status": "A", "old": null, "new": body["changes"][0]["new"]}])
    );
    let (_, body) = s.get_json(&format!("commits/{}", &c1[..8])).await;
    assert_eq!(body["id"], c1.as_str());

    let (status, body) = s.get_json(&format!("diff?from={c1}&to=main")).await;
    assert_eq!(status, 200);
    assert_eq!(body["from"], c1.as_str());
    assert_eq!(body["to"], c3.as_str());
    let kinds: Vec<(&str, &str)> = body["changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| (c["path"].as_str().unwrap(), c["kind"].as_str().unwrap()))
        .collect();
    assert_eq!(kinds, [("a", "changed"), ("b", "added")]);
    let (_, body) = s.get_json(&format!("diff?from={c1}&to=main&path=b")).await;
    assert_eq!(body["changes"].as_array().unwrap().len(), 1);
    let (status, body) = s.get_json("diff?from=main").await;
    assert_eq!((status, code(&body)), (400, "bad_query"));
    let (status, body) = s.get_json("diff?from=main&to=zzz").await;
    assert_eq!((status, code(&body)), (404, "no_such_rev"));
}

#[tokio::test]
async fn health_and_method_errors() {
    let s = start().await;
    let r = s.client.get(format!("{}/healthz", s.url)).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.json::<Value>().await.unwrap(), json!({"status": "ok"}));
    let r = s.client.patch(s.api("branches")).send().await.unwrap();
    assert_eq!(r.status(), 405);
}

#[tokio::test]
async fn over_long_paths_are_a_400() {
    let s = start().await;
    let long = format!("a/{}", "b".repeat(4095));
    let r = s.put("main", &long, "x").await;
    assert_eq!(r.status(), 400);
    let body: Value = r.json().await.unwrap();
    assert_eq!(code(&body), "bad_path", "{body}");
    assert!(s.head("main").is_none(), "nothing was written");
}

/// A tokenless loopback server is for this machine's own clients: a web page the user visits
/// cannot write to it (another origin, or a form or `text/plain` post) and DNS rebinding cannot
/// read it (another host name).
#[tokio::test]
async fn a_tokenless_loopback_server_refuses_other_hosts_other_origins_and_non_json_posts() {
    let s = start().await;
    s.set("main", "k", "v").await;
    let head = s.head("main");
    let own = format!("http://{}", s.addr);
    let commit = json!({"message": "m", "changes": [{"path": "k", "value": "evil"}]});
    // A page on another site posting JSON as text/plain (a "simple" request, no preflight).
    let r = s
        .client
        .post(s.api("branches/main/commits"))
        .header("content-type", "text/plain")
        .body(commit.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 415);
    let r = s
        .client
        .post(s.api("branches/main/commits"))
        .header("origin", "http://evil.example")
        .json(&commit)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    let body: Value = r.json().await.unwrap();
    assert_eq!(code(&body), "cross_origin");
    let r = s
        .client
        .post(s.api("branches/main/pop/jobs"))
        .header("origin", "null")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    // DNS rebinding: the page's own host name pointing at 127.0.0.1.
    let (status, body) = s
        .raw(
            "GET /api/v1/branches/main/values/k HTTP/1.1\r\nHost: evil.example:8080\r\nX-Ignore: 1",
            b"",
        )
        .await;
    assert_eq!(status, 403, "{body}");
    assert!(body.contains("bad_host"), "{body}");
    assert_eq!(s.head("main"), head, "nothing was written");
    // The server's own origin, localhost and a plain client still work.
    let r = s
        .client
        .post(s.api("branches/main/commits"))
        .header("origin", &own)
        .json(&json!({"message": "m", "changes": [{"path": "k", "value": "mine"}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let r = s
        .client
        .get(format!(
            "http://localhost:{}/api/v1/branches/main/values/k",
            s.addr.port()
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.text().await.unwrap(), "mine");
}

/// What schemathesis found, answered as the OpenAPI document says: a well-formed revision
/// naming nothing is a 404, unknown query parameters and over-large pages are refused, JSON
/// bodies are objects, branch names are at most 240 bytes, an `If-Match` commit the store has
/// never seen is a failed precondition, and no structure lives at `.gitattributes`.
#[tokio::test]
async fn documented_answers_to_fuzzed_requests() {
    let s = start().await;
    s.set("main", "k", "1").await;
    // Revisions: malformed 400, unknown 404.
    for rest in [
        "commits/0123456789abcdef0123456789abcdef01234567",
        "commits/nowhere",
        "branches/main/values/k?at=nowhere",
        "diff?from=nowhere&to=main",
    ] {
        let (status, body) = s.get_json(rest).await;
        assert_eq!((status, code(&body)), (404, "no_such_rev"), "{rest}: {body}");
    }
    let (status, body) = s.get_json("commits/main~~~x").await;
    assert_eq!((status, code(&body)), (400, "bad_rev"), "{body}");
    // An author with a control character would break the commit's header: a 400, nothing
    // written, and the branch reads as before.
    let head = s.head("main");
    for author in ["a\u{0}b <x@y>", "a <x\n@y>", "a\u{1b} <x@y>"] {
        let (status, body) = s
            .post_json("branches/main/counters/c", &json!({"add": 1, "author": author}))
            .await;
        assert_eq!((status, code(&body)), (400, "bad_identity"), "{author:?}: {body}");
    }
    assert_eq!(s.head("main"), head, "nothing was written");
    let (status, body) = s.get_json("branches/main/counters/c").await;
    assert_eq!((status, body), (200, json!({"value": 0})));
    // Unknown query parameters are refused, not ignored: by operations that take some and by
    // those that take none, reads and writes alike; nothing is written.
    for rest in [
        "branches/main/tree?recurse=true",
        "branches/main/log?limit=1&colour=red",
        "diff?from=main&to=main&x=1",
        "branches?x=1",
        "branches/main?verbose=1",
        "branches/main/counters/c?at=main",
        "openapi.json?v=2",
    ] {
        let (status, body) = s.get_json(rest).await;
        assert_eq!((status, code(&body)), (400, "bad_query"), "{rest}: {body}");
        assert!(
            body["error"]["message"]
                .as_str()
                .unwrap()
                .contains("unknown query parameter"),
            "{body}"
        );
    }
    let before = s.head("main");
    let (status, body) = s
        .post_json("branches/main/counters/c?dry_run=1", &json!({"add": 1}))
        .await;
    assert_eq!((status, code(&body)), (400, "bad_query"), "{body}");
    let (status, body) = s
        .post_json("branches/main/merge?strategy=ours", &json!({"from": "main"}))
        .await;
    assert_eq!((status, code(&body)), (400, "bad_query"), "{body}");
    assert_eq!(s.head("main"), before);
    let r = s
        .client
        .get(format!("{}/healthz?deep=1", s.url))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    // Declared parameters still work, percent-encoded or not.
    let (status, body) = s.get_json("branches/main/tree?%72ecursive=true").await;
    assert_eq!(status, 200, "{body}");
    // A page of at most 10000.
    let (status, _) = s.get_json("branches/main/log?limit=10000").await;
    assert_eq!(status, 200);
    let (status, body) = s.get_json("branches/main/log?limit=10001").await;
    assert_eq!((status, code(&body)), (400, "bad_query"), "{body}");
    // JSON bodies are objects.
    for body in [json!([]), json!("main"), json!(1), json!(null)] {
        let (status, answer) = s.post_json("branches", &body).await;
        assert_eq!(status, 400, "{body}: {answer}");
    }
    // A pop takes no body or `null`, else an object: an array pops nothing.
    s.post_json("branches/main/queues/jobs", &json!({"item": "a"}))
        .await;
    let before = s.head("main");
    for body in [json!([]), json!(["m"]), json!("m"), json!(1)] {
        let (status, answer) = s.post_json("branches/main/pop/jobs", &body).await;
        assert_eq!((status, code(&answer)), (400, "bad_json"), "{body}: {answer}");
    }
    assert_eq!(s.head("main"), before);
    let (status, answer) = s.post_json("branches/main/pop/jobs", &json!(null)).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["value"], "a");
    // Branch names: 240 bytes at most, in a body or in the URL.
    let long = "b".repeat(241);
    let (status, body) = s
        .post_json("branches", &json!({"name": long, "from": "main"}))
        .await;
    assert_eq!((status, code(&body)), (400, "bad_branch_name"), "{body}");
    let (status, body) = s.get_json(&format!("branches/{long}/values/k")).await;
    assert_eq!(status, 400, "{body}");
    let ok = "b".repeat(240);
    let (status, body) = s
        .post_json("branches", &json!({"name": ok, "from": "main"}))
        .await;
    assert_eq!(status, 201, "{body}");
    // If-Match naming a commit the store does not have: 412 on a delete, nothing written.
    let before = s.head("main");
    let r = s
        .client
        .delete(s.api("branches/main/values/k"))
        .header("if-match", "\"ffffffffffffffffffffffffffffffffffffffff\"")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 412);
    let body: Value = r.json().await.unwrap();
    assert_eq!(code(&body), "precondition_failed", "{body}");
    assert_eq!(s.head("main"), before);
    assert_eq!(s.get_text("main", "k").await.1, "1");
    // A structure at (or below) the attributes file is a bad path, answered at once.
    for path in [".gitattributes", ".gitattributes/jobs"] {
        let t = std::time::Instant::now();
        let (status, body) = s
            .post_json(&format!("branches/main/queues/{path}"), &json!({"item": 1}))
            .await;
        assert_eq!((status, code(&body)), (400, "bad_path"), "{path}: {body}");
        assert!(t.elapsed().as_secs() < 5, "{path}: {:?}", t.elapsed());
    }
    assert_eq!(s.head("main"), before);
}
