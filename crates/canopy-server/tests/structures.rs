//! Structures over HTTP under concurrency: eight clients popping one queue through one server
//! receive every item exactly once.

mod common;

use std::collections::BTreeSet;

use common::start;
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn eight_concurrent_poppers_receive_every_item_exactly_once() {
    let s = std::sync::Arc::new(start().await);
    const ITEMS: u64 = 200;
    for n in 0..ITEMS {
        let (st, body) = s
            .post_json("branches/main/queues/work", &json!({"item": n}))
            .await;
        assert_eq!(st, 200, "{body}");
    }
    let mut poppers = Vec::new();
    for _ in 0..8 {
        let s = s.clone();
        poppers.push(tokio::spawn(async move {
            let mut got = Vec::new();
            loop {
                let (st, body) = s.post_json("branches/main/pop/work", &json!({})).await;
                match st {
                    200 => got.push(body["value"].as_u64().unwrap()),
                    404 => return got,
                    other => panic!("{other}: {body}"),
                }
            }
        }));
    }
    let mut all = Vec::new();
    for p in poppers {
        all.extend(p.await.unwrap());
    }
    let distinct: BTreeSet<u64> = all.iter().copied().collect();
    assert_eq!(all.len() as u64, ITEMS, "no item delivered twice");
    assert_eq!(distinct, (0..ITEMS).collect::<BTreeSet<_>>(), "no item lost");
    let (_, body) = s.get_json("branches/main/queues/work").await;
    assert_eq!(body["items"].as_array().unwrap().len(), 0);
    assert_eq!(body["double_deliveries"].as_array().unwrap().len(), 0);
}
