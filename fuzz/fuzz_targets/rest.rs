//! The REST API's JSON bodies, end to end: each input is one request to a JSON-taking operation
//! of the real router (`canopy_server::router`), on a fresh in-memory store that already holds a
//! counter, a queue, a log, a rope and a second branch. The first byte picks the operation, the
//! rest is the body. Whatever the body, the server answers: never a 5xx, always a JSON body (an
//! error names its code), and the store stays readable with every seeded value in place unless
//! the request was accepted.
#![no_main]

use std::sync::OnceLock;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use canopy::{HashKind, Repo};
use canopy_server::{router, AppState, Limits};
use libfuzzer_sys::fuzz_target;
use tower::ServiceExt;

/// The operations that take a body, on the seeded store.
const OPERATIONS: [(Method, &str, &str); 9] = [
    (Method::POST, "/api/v1/branches", "application/json"),
    (Method::POST, "/api/v1/branches/main/commits", "application/json"),
    (Method::POST, "/api/v1/branches/main/merge", "application/json"),
    (
        Method::POST,
        "/api/v1/branches/main/counters/c",
        "application/json",
    ),
    (Method::POST, "/api/v1/branches/main/queues/q", "application/json"),
    (Method::POST, "/api/v1/branches/main/pop/q", "application/json"),
    (Method::POST, "/api/v1/branches/main/logs/l", "application/json"),
    (Method::PUT, "/api/v1/branches/main/ropes/new", "text/plain"),
    (Method::POST, "/api/v1/branches/main/ropes/r", "application/json"),
];

/// What the store holds before each input: (method, path, content type, body).
const SEED: [(Method, &str, &str, &str); 7] = [
    (Method::PUT, "/api/v1/branches/main/values/v", "text/plain", "1"),
    (
        Method::POST,
        "/api/v1/branches/main/counters/c",
        "application/json",
        r#"{"add": 5}"#,
    ),
    (
        Method::POST,
        "/api/v1/branches/main/queues/q",
        "application/json",
        r#"{"item": 1}"#,
    ),
    (
        Method::POST,
        "/api/v1/branches/main/logs/l",
        "application/json",
        r#"{"item": "a"}"#,
    ),
    (
        Method::PUT,
        "/api/v1/branches/main/ropes/r",
        "text/plain",
        "hello",
    ),
    (
        Method::POST,
        "/api/v1/branches",
        "application/json",
        r#"{"name": "other"}"#,
    ),
    (Method::PUT, "/api/v1/branches/other/values/v", "text/plain", "2"),
];

fn runtime() -> &'static tokio::runtime::Runtime {
    static RT: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RT.get_or_init(|| {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
    })
}

async fn send(
    app: &axum::Router,
    method: Method,
    uri: &str,
    media: &str,
    body: Vec<u8>,
) -> (StatusCode, Vec<u8>) {
    let request = Request::builder()
        .method(method)
        .uri(uri)
        .header("host", "127.0.0.1")
        .header("content-type", media)
        .body(Body::from(body))
        .unwrap();
    let response = app.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .unwrap();
    (status, bytes.to_vec())
}

fuzz_target!(|data: &[u8]| {
    let Some((&pick, body)) = data.split_first() else {
        return;
    };
    runtime().block_on(async {
        let repo = Repo::in_memory(HashKind::Sha1);
        let app = router(AppState::new(repo.clone(), true, Limits::default()));
        for (method, uri, media, body) in SEED {
            let (status, answer) = send(&app, method, uri, media, body.as_bytes().to_vec()).await;
            assert!(
                status.is_success(),
                "seeding {uri}: {status} {}",
                String::from_utf8_lossy(&answer)
            );
        }
        let (method, uri, media) = OPERATIONS[pick as usize % OPERATIONS.len()].clone();
        let (status, answer) = send(&app, method, uri, media, body.to_vec()).await;
        assert!(
            !status.is_server_error(),
            "{uri}: {status} {}",
            String::from_utf8_lossy(&answer)
        );
        let json: serde_json::Value = serde_json::from_slice(&answer)
            .unwrap_or_else(|e| panic!("{uri}: {status}, the answer is not JSON ({e})"));
        if !status.is_success() {
            assert!(
                json["error"]["code"].is_string(),
                "{uri}: {status} without an error code: {json}"
            );
            // A refused request changed nothing.
            let (status, value) = send(
                &app,
                Method::GET,
                "/api/v1/branches/main/values/v",
                "text/plain",
                vec![],
            )
            .await;
            assert_eq!((status, value.as_slice()), (StatusCode::OK, &b"1"[..]));
            let (status, _) = send(
                &app,
                Method::GET,
                "/api/v1/branches/main/counters/c",
                "text/plain",
                vec![],
            )
            .await;
            assert_eq!(status, StatusCode::OK);
        }
        // Whatever happened, every value of the branch can be listed and read.
        let (status, tree) = send(
            &app,
            Method::GET,
            "/api/v1/branches/main/tree?recursive=true",
            "text/plain",
            vec![],
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{}", String::from_utf8_lossy(&tree));
    });
});
