//! Access control: tokens with read and write globs, 401 and 403, and the loopback rule.

mod common;

use canopy_server::tokens::TokenStore;
use canopy_server::{Limits, ServeError, ServeOptions, Server};
use common::{code, start_with};
use serde_json::{json, Value};
use std::sync::Mutex;

struct Tokens {
    admin: String,
    feature: String,
    reader: String,
}

async fn server_with_tokens() -> (common::TestServer, Tokens) {
    let made = Mutex::new(None);
    let s = start_with(Limits::default(), |repo| {
        let store = TokenStore::for_repo(repo);
        let admin = store.create("admin", &[], &["*".into()]).unwrap();
        let feature = store
            .create("feature-dev", &["main".into()], &["feature/*".into()])
            .unwrap();
        let reader = store.create("reader", &["*".into()], &[]).unwrap();
        *made.lock().unwrap() = Some(Tokens {
            admin,
            feature,
            reader,
        });
    })
    .await;
    let tokens = made.into_inner().unwrap().unwrap();
    (s, tokens)
}

#[tokio::test]
async fn missing_or_wrong_tokens_are_401() {
    let (s, t) = server_with_tokens().await;
    // Even on loopback, once a token exists.
    let r = s.client.get(s.api("branches")).send().await.unwrap();
    assert_eq!(r.status(), 401);
    assert!(r.headers()["www-authenticate"]
        .to_str()
        .unwrap()
        .starts_with("Bearer"));
    let body: Value = r.json().await.unwrap();
    assert_eq!(code(&body), "unauthorized");
    for bad in ["Bearer cnp_wrong", "Bearer", "Basic !!!", "Token x"] {
        let r = s
            .client
            .put(s.api("branches/main/values/k"))
            .header("authorization", bad)
            .body("v")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 401, "{bad}");
    }
    // A near miss of a real token.
    let mut near = t.admin.clone();
    let last = near.pop();
    // A different last character (the token's own could be 'A').
    near.push(if last == Some('A') { 'B' } else { 'A' });
    let r = s
        .client
        .get(s.api("branches"))
        .bearer_auth(&near)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    assert_eq!(s.head("main"), None, "nothing was written");
    // Health and the API document need no token.
    assert_eq!(
        s.client
            .get(format!("{}/healthz", s.url))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    assert_eq!(
        s.client.get(s.api("openapi.json")).send().await.unwrap().status(),
        200
    );
    // The right token works, as Bearer or as the password of Basic (what git sends).
    let r = s
        .client
        .get(s.api("branches"))
        .bearer_auth(&t.admin)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let r = s
        .client
        .get(s.api("branches"))
        .basic_auth("any", Some(&t.admin))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
}

#[tokio::test]
async fn a_token_writes_only_its_branches() {
    let (s, t) = server_with_tokens().await;
    let put = |token: &str, branch: &str, value: &str| {
        s.client
            .put(s.api(&format!("branches/{branch}/values/k")))
            .bearer_auth(token)
            .body(value.to_string())
            .send()
    };
    assert_eq!(put(&t.admin, "main", "from admin").await.unwrap().status(), 200);
    // feature-dev: 403 on main, nothing written.
    let head = s.head("main");
    let r = put(&t.feature, "main", "nope").await.unwrap();
    assert_eq!(r.status(), 403);
    let body: Value = r.json().await.unwrap();
    assert_eq!(code(&body), "forbidden");
    assert_eq!(s.head("main"), head);
    // It may create and write feature/x.
    let r = s
        .client
        .post(s.api("branches"))
        .bearer_auth(&t.feature)
        .json(&json!({"name": "feature/x", "from": "main"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    assert_eq!(
        put(&t.feature, "feature%2Fx", "on x").await.unwrap().status(),
        200
    );
    let r = s
        .client
        .post(s.api("branches"))
        .bearer_auth(&t.feature)
        .json(&json!({"name": "release", "from": "main"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    // Commits and merges are writes too.
    let r = s
        .client
        .post(s.api("branches/main/commits"))
        .bearer_auth(&t.feature)
        .json(&json!({"message": "m", "changes": [{"path": "a", "value": "1"}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    let r = s
        .client
        .post(s.api("branches/main/merge"))
        .bearer_auth(&t.feature)
        .json(&json!({"from": "feature/x"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    let r = s
        .client
        .delete(s.api("branches/main/values/k"))
        .bearer_auth(&t.feature)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    // The read-only token reads everything and writes nothing.
    let r = s
        .client
        .get(s.api("branches/feature%2Fx/values/k"))
        .bearer_auth(&t.reader)
        .send()
        .await
        .unwrap();
    assert_eq!(r.text().await.unwrap(), "on x");
    assert_eq!(put(&t.reader, "main", "nope").await.unwrap().status(), 403);
    assert_eq!(put(&t.reader, "feature%2Fx", "nope").await.unwrap().status(), 403);
}

#[tokio::test]
async fn reads_are_limited_to_readable_branches() {
    let (s, t) = server_with_tokens().await;
    let admin_put = |branch: &str, value: &str| {
        s.client
            .put(s.api(&format!("branches/{branch}/values/k")))
            .bearer_auth(&t.admin)
            .body(value.to_string())
            .send()
    };
    admin_put("main", "m").await.unwrap();
    let r = s
        .client
        .post(s.api("branches"))
        .bearer_auth(&t.admin)
        .json(&json!({"name": "secret", "from": "main"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let secret_commit: Value = admin_put("secret", "hidden").await.unwrap().json().await.unwrap();
    let secret_commit = secret_commit["commit"].as_str().unwrap().to_string();
    // feature-dev reads main (its --read) but not `secret`.
    let get = |url: String| s.client.get(url).bearer_auth(&t.feature).send();
    assert_eq!(get(s.api("branches/main/values/k")).await.unwrap().status(), 200);
    assert_eq!(
        get(s.api("branches/secret/values/k")).await.unwrap().status(),
        403
    );
    assert_eq!(get(s.api("branches/secret/log")).await.unwrap().status(), 403);
    assert_eq!(get(s.api("branches/secret/watch")).await.unwrap().status(), 403);
    // Nor through a revision naming it or a commit only it has.
    assert_eq!(
        get(s.api("branches/main/values/k?at=secret"))
            .await
            .unwrap()
            .status(),
        403
    );
    assert_eq!(
        get(s.api(&format!("commits/{secret_commit}")))
            .await
            .unwrap()
            .status(),
        403
    );
    assert_eq!(get(s.api("commits/secret")).await.unwrap().status(), 403);
    assert_eq!(
        get(s.api("diff?from=main&to=secret")).await.unwrap().status(),
        403
    );
    // Nor whether an object exists or what it is: a blob's id, a missing id and a bad revision
    // get the same answer.
    let blob = canopy::ObjectId::for_object(
        canopy::HashKind::Sha1,
        canopy::object::ObjectKind::Blob,
        b"hidden",
    );
    let missing = "1".repeat(40);
    let mut answers = Vec::new();
    for rev in [blob.to_hex(), missing, "no-such-rev".to_string()] {
        let r = get(s.api(&format!("branches/main/values/k?at={rev}")))
            .await
            .unwrap();
        let status = r.status();
        let body: Value = r.json().await.unwrap();
        answers.push((status, body["error"]["code"].clone()));
    }
    assert!(answers.iter().all(|a| a == &answers[0]), "{answers:?}");
    assert_eq!(answers[0].0, 403);
    // A commit that main has is fine, by id too.
    let main_head = s.head("main").unwrap();
    assert_eq!(
        get(s.api(&format!("commits/{main_head}")))
            .await
            .unwrap()
            .status(),
        200
    );
    assert_eq!(get(s.api("commits/main")).await.unwrap().status(), 200);
    // The list shows only readable branches.
    let list: Value = get(s.api("branches")).await.unwrap().json().await.unwrap();
    let names: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["main"]);
}

#[tokio::test]
async fn revoked_tokens_stop_working_at_once() {
    let (s, t) = server_with_tokens().await;
    let r = s
        .client
        .get(s.api("branches"))
        .bearer_auth(&t.reader)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    TokenStore::for_repo(&canopy::Repo::open(s.repo.layout().unwrap().git_dir.clone()).unwrap())
        .revoke("reader")
        .unwrap();
    let r = s
        .client
        .get(s.api("branches"))
        .bearer_auth(&t.reader)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
}

#[tokio::test]
async fn non_loopback_without_tokens_is_refused_unless_allowed() {
    let dir = tempfile::tempdir().unwrap();
    let repo = canopy::Repo::init(dir.path().join("s")).unwrap();
    let opts = ServeOptions::new(repo.clone(), "0.0.0.0:0".parse().unwrap());
    match Server::bind(opts).await {
        Err(ServeError::AnonymousRefused(_)) => {}
        Err(e) => panic!("unexpected error {e}"),
        Ok(_) => panic!("a non-loopback server without tokens must not start"),
    }
    // Loopback without tokens is fine: everyone may do everything.
    let opts = ServeOptions::new(repo.clone(), "127.0.0.1:0".parse().unwrap());
    assert!(Server::bind(opts).await.is_ok());
}

#[tokio::test]
async fn anonymous_access_is_off_when_not_allowed() {
    // A state built for a non-loopback listener without --allow-anonymous (its tokens all
    // revoked since): every request is 401.
    let repo = canopy::Repo::in_memory(canopy::HashKind::Sha1);
    let state = canopy_server::AppState::new(repo, false, Limits::default());
    let app = canopy_server::router(state);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    let r = reqwest::Client::builder()
        .no_proxy()
        .build()
        .unwrap()
        .get(format!("http://{addr}/api/v1/branches"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
}

#[tokio::test]
async fn unauthenticated_uploads_are_refused_before_the_body() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let (s, _t) = server_with_tokens().await;
    let mut stream = tokio::net::TcpStream::connect(s.addr).await.unwrap();
    // Announces 10 MB and sends none of it: the answer must not wait for the body.
    stream
        .write_all(
            b"PUT /api/v1/branches/main/values/k HTTP/1.1\r\nHost: t\r\nContent-Length: 10000000\r\n\r\n",
        )
        .await
        .unwrap();
    let mut buf = vec![0u8; 4096];
    let n = tokio::time::timeout(std::time::Duration::from_secs(5), stream.read(&mut buf))
        .await
        .expect("answered without the body")
        .unwrap();
    let head = String::from_utf8_lossy(&buf[..n]);
    assert!(head.starts_with("HTTP/1.1 401"), "{head}");
}

#[tokio::test]
async fn a_revoked_token_stops_receiving_watch_events() {
    let (s, t) = server_with_tokens().await;
    let put = |value: &str| {
        s.client
            .put(s.api("branches/main/values/k"))
            .bearer_auth(&t.admin)
            .body(value.to_string())
            .send()
    };
    put("1").await.unwrap();
    let r = s
        .client
        .get(s.api("branches/main/watch"))
        .bearer_auth(&t.reader)
        .send()
        .await
        .unwrap();
    let mut events = common::SseReader::new(r);
    let wait = std::time::Duration::from_secs(10);
    assert_eq!(events.next(wait).await.event, "ready");
    put("2").await.unwrap();
    assert_eq!(events.next(wait).await.event, "change");
    TokenStore::for_repo(&s.repo).revoke("reader").unwrap();
    put("3").await.unwrap();
    let e = events.next(wait).await;
    assert_eq!(e.event, "error");
    assert_eq!(e.data["error"]["code"], "unauthorized");
    assert!(events
        .quiet_for(std::time::Duration::from_millis(300))
        .await
        .is_none());
}

/// Write rights are checked from the request's head: a token that may only read `main` is
/// refused at once, without the server waiting for (or reading) the body it announced.
#[tokio::test]
async fn write_rights_are_checked_before_the_body_is_read() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let (s, t) = server_with_tokens().await;
    let head_before = s.head("main");
    for (method, path) in [
        ("PUT", "/api/v1/branches/main/values/big"),
        ("POST", "/api/v1/branches/main/commits"),
        ("POST", "/api/v1/branches/main/queues/jobs"),
    ] {
        let mut stream = tokio::net::TcpStream::connect(s.addr).await.unwrap();
        let head = format!(
            "{method} {path} HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer {}\r\nContent-Type: application/json\r\nContent-Length: 1000000\r\n\r\n",
            t.feature
        );
        stream.write_all(head.as_bytes()).await.unwrap();
        // No body is sent: the answer must come anyway.
        let mut buf = vec![0u8; 512];
        let n = tokio::time::timeout(std::time::Duration::from_secs(5), stream.read(&mut buf))
            .await
            .expect("answered without the body")
            .unwrap();
        let text = String::from_utf8_lossy(&buf[..n]);
        assert!(text.starts_with("HTTP/1.1 403"), "{method} {path}: {text}");
    }
    assert_eq!(s.head("main"), head_before);
}
