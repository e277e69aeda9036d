//! The broker's durability promise, tested on a real process: `dq up` is SIGKILLed while concurrent producers
//! write, restarted on the same data dir, and every produce that was answered 200 before the kill is delivered
//! by a fresh consumer group afterwards.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::StreamExt;
use serde_json::{Value, json};

use crate::util::Process;

/// A guard against hanging, never an assertion on speed.
const GUARD: Duration = Duration::from_secs(60);

/// `dq up` on a free port over `data`, with no workers; returns the process and its URL.
fn up(data: &std::path::Path) -> (Process, String) {
    let data = data.to_str().expect("a UTF-8 path");
    Process::up(&[
        "--listen",
        "127.0.0.1:0",
        "--workers",
        "0",
        "--data-dir",
        data,
    ])
}

/// Produces `p<producer>-<n>` values until a request fails (the server died), recording each one answered 200.
async fn produce_until_refused(url: String, producer: usize, acked: Arc<Mutex<Vec<String>>>) {
    let client = reqwest::Client::new();
    for n in 0.. {
        let value = format!("p{producer}-{n}");
        let answer = client
            .post(format!("{url}/v1/produce"))
            .json(&json!({"topic": "crash", "key": value, "value": value}))
            .timeout(Duration::from_secs(10))
            .send()
            .await;
        match answer {
            Ok(r) if r.status() == 200 => acked.lock().expect("lock").push(value),
            Ok(r) => panic!("produce answered {} before the kill", r.status()),
            Err(_) => return,
        }
    }
}

#[test]
fn every_acknowledged_produce_survives_sigkill() {
    let data = tempfile::tempdir().expect("a data dir");
    let runtime = tokio::runtime::Runtime::new().expect("a runtime");
    let (mut server, url) = up(data.path());
    let acked = Arc::new(Mutex::new(Vec::new()));
    runtime.block_on(async {
        let created = reqwest::Client::new()
            .post(format!("{url}/v1/topics"))
            .json(&json!({"name": "crash", "partitions": 4}))
            .send()
            .await
            .expect("create topic");
        assert_eq!(created.status(), 201);
        let producers: Vec<_> = (0..8)
            .map(|p| tokio::spawn(produce_until_refused(url.clone(), p, acked.clone())))
            .collect();
        // Kill mid-stream: once a good number of writes were acknowledged, with the producers still going.
        tokio::time::timeout(GUARD, async {
            while acked.lock().expect("lock").len() < 2_000 {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        })
        .await
        .expect("producers make progress");
        server.sigkill();
        for p in producers {
            p.await.expect("producer task");
        }
    });

    let acked: HashSet<String> = acked.lock().expect("lock").drain(..).collect();
    let (mut server, url) = up(data.path());
    let seen = runtime.block_on(async {
        let client = reqwest::Client::new();
        let response = client
            .get(format!("{url}/v1/consume"))
            .query(&[
                ("topic", "crash"),
                ("group", "after-the-crash"),
                ("owner", "checker"),
                ("lease_ms", "600000"),
            ])
            .send()
            .await
            .expect("consume");
        assert_eq!(response.status(), 200);
        let mut body = response.bytes_stream();
        let mut buffer = Vec::new();
        let mut seen = HashSet::new();
        // Read until every acknowledged value arrived (or the guard trips: then the assertion below names
        // what is missing).
        let _ = tokio::time::timeout(GUARD, async {
            while let Some(chunk) = body.next().await {
                buffer.extend_from_slice(&chunk.expect("a chunk"));
                while let Some(end) = buffer.iter().position(|&b| b == b'\n') {
                    let line: Vec<u8> = buffer.drain(..=end).collect();
                    if line.trim_ascii().is_empty() {
                        continue;
                    }
                    let item: Value = serde_json::from_slice(&line).expect("a consume item");
                    seen.insert(item["value"].as_str().expect("a value").to_owned());
                    // Ack, so that the in-flight limit never holds the rest of the backlog back.
                    let ack = client
                        .post(format!("{url}/v1/ack"))
                        .json(&json!({
                            "topic": "crash", "group": "after-the-crash", "owner": "checker",
                            "partition": item["partition"], "offset": item["offset"],
                        }))
                        .send()
                        .await
                        .expect("ack");
                    assert_eq!(ack.status(), 204);
                }
                if acked.is_subset(&seen) {
                    return;
                }
            }
        })
        .await;
        seen
    });
    server.sigkill();

    let lost: Vec<&String> = acked.difference(&seen).take(10).collect();
    assert!(
        lost.is_empty(),
        "{} of {} acknowledged produces lost after SIGKILL, e.g. {lost:?}",
        acked.difference(&seen).count(),
        acked.len()
    );
}
