//! Many clients at once: no lost update, no server error, and the request limit answers 503
//! rather than queueing without bound.

mod common;

use std::time::Duration;

use common::{start, start_with};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn parallel_puts_on_distinct_keys_lose_nothing() {
    let s = start().await;
    const CLIENTS: usize = 40;
    const PUTS: usize = 10;
    let mut tasks = Vec::new();
    for c in 0..CLIENTS {
        let client = reqwest::Client::builder().no_proxy().build().unwrap();
        let base = s.api("branches/main/values");
        tasks.push(tokio::spawn(async move {
            let mut statuses = Vec::new();
            for i in 0..PUTS {
                let r = client
                    .put(format!("{base}/c{c}/k{i}"))
                    .body(format!("{c}-{i}"))
                    .send()
                    .await
                    .unwrap();
                statuses.push(r.status().as_u16());
            }
            statuses
        }));
    }
    for t in tasks {
        let statuses = t.await.unwrap();
        assert!(statuses.iter().all(|&s| s == 200), "{statuses:?}");
    }
    let view = s.repo.branch("main").unwrap().view().unwrap();
    let paths = view.paths(&canopy::Path::root()).unwrap();
    assert_eq!(paths.len(), CLIENTS * PUTS, "every value is there");
    for c in 0..CLIENTS {
        for i in 0..PUTS {
            let p = canopy::Path::parse(&format!("c{c}/k{i}")).unwrap();
            assert_eq!(view.get(&p).unwrap(), Some(format!("{c}-{i}").into_bytes()));
        }
    }
    let log = s.repo.branch("main").unwrap().history().unwrap().count();
    assert_eq!(log, CLIENTS * PUTS, "one commit per PUT");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn beyond_the_request_limit_is_503_and_slow_clients_do_not_block_others() {
    let s = start_with(
        canopy_server::Limits {
            max_concurrent_requests: 2,
            request_timeout: Duration::from_secs(2),
            header_read_timeout: Duration::from_secs(1),
            ..Default::default()
        },
        |_| {},
    )
    .await;
    s.set("main", "k", "v").await;
    // Two slow uploads hold both slots: they announce a body and send it slowly.
    let mut slow = Vec::new();
    for _ in 0..2 {
        let mut stream = tokio::net::TcpStream::connect(s.addr).await.unwrap();
        use tokio::io::AsyncWriteExt;
        stream
            .write_all(
                b"PUT /api/v1/branches/main/values/slow HTTP/1.1\r\nHost: localhost\r\nContent-Length: 100\r\n\r\nab",
            )
            .await
            .unwrap();
        slow.push(stream);
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let r = s.client.get(s.api("branches")).send().await.unwrap();
    assert_eq!(r.status(), 503);
    assert!(r.headers().contains_key("retry-after"));
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["error"]["code"], "busy");
    // The request timeout frees the slots.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let r = s.client.get(s.api("branches")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    // A client that never finishes its headers is dropped; others are served meanwhile.
    let mut idle = tokio::net::TcpStream::connect(s.addr).await.unwrap();
    {
        use tokio::io::AsyncWriteExt;
        idle.write_all(b"GET /healthz HTTP/1.1\r\nHost:").await.unwrap();
    }
    assert_eq!(s.get_text("main", "k").await, (200, "v".into()));
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let mut buf = Vec::new();
    use tokio::io::AsyncReadExt;
    let n = tokio::time::timeout(Duration::from_secs(5), idle.read_to_end(&mut buf))
        .await
        .expect("the server closes a connection whose headers never come")
        .unwrap_or(0);
    let _ = n;
    drop(slow);
    assert_eq!(
        s.get_text("main", "slow").await.0,
        404,
        "the slow uploads wrote nothing"
    );
}
