//! `dq up` on a full disk, as a supervisor sees it: the data dir is a 4 MiB tmpfs filled by produces. The
//! produce that fails answers 507 naming the full disk and the data dir, the process exits non-zero with that
//! reason as its last line of stderr, and once the tmpfs is enlarged a restarted `dq up` on the same dir
//! serves every acknowledged message. Mounting needs root: elsewhere the test prints a note and passes.

use std::time::Duration;

use dq_testkit::full_disk::{Tmpfs, incompressible};
use serde_json::{Value, json};

use crate::util::Process;

/// A guard against hanging, never an assertion on speed.
const GUARD: Duration = Duration::from_secs(60);

#[test]
fn a_full_disk_stops_dq_up_with_the_reason_and_a_restart_serves_every_acknowledged_write() {
    let Some(disk) = Tmpfs::mount("4m") else {
        return;
    };
    let data = disk.path().to_str().expect("a UTF-8 path").to_owned();
    let args = [
        "--listen",
        "127.0.0.1:0",
        "--workers",
        "0",
        "--data-dir",
        &data,
    ];
    let runtime = tokio::runtime::Runtime::new().expect("a runtime");
    let (mut server, url, stderr) = Process::up_with_stderr(&args);
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .expect("a client");
    let acked = runtime.block_on(async {
        let created = http
            .post(format!("{url}/v1/topics"))
            .json(&json!({"name": "t"}))
            .send()
            .await
            .expect("create topic");
        assert_eq!(created.status(), 201);
        let mut acked: Vec<String> = Vec::new();
        let failed = loop {
            assert!(acked.len() < 2_000, "4 MiB never filled up");
            let value = format!(
                "{}-{}",
                acked.len(),
                incompressible(acked.len() as u64, 10_000)
            );
            let answer = http
                .post(format!("{url}/v1/produce"))
                .json(&json!({"topic": "t", "value": value}))
                .send()
                .await
                .expect("an answer: the server answers the failing write before it stops");
            if answer.status() != 200 {
                break answer;
            }
            acked.push(value);
        };
        assert_eq!(failed.status(), 507);
        let body: Value = failed.json().await.expect("a JSON error body");
        assert_eq!(body["error"], "INSUFFICIENT_STORAGE", "{body}");
        let message = body["message"].as_str().expect("a message");
        assert!(
            message.starts_with(&format!("storage failed: disk full in {data}")),
            "{message}"
        );
        // Until it has stopped, the health check says why; after, nothing answers.
        if let Ok(health) = http.get(format!("{url}/v1/healthz")).send().await {
            assert_eq!(health.status(), 503);
        }
        acked
    });
    let status = server.exits_within(GUARD);
    assert_eq!(status.code(), Some(1), "dq up exits non-zero on its own");
    let stderr = stderr.join().expect("stderr lines");
    let last = stderr.last().expect("a last line");
    assert!(
        last.contains(&format!("storage failed: disk full in {data}"))
            && last.ends_with("acknowledged writes are safe, restart when space is free"),
        "{stderr:#?}"
    );

    disk.resize("64m");
    let (mut server, url) = Process::up(&args);
    runtime.block_on(async {
        let read: Value = http
            .get(format!("{url}/v1/read"))
            .query(&[("topic", "t"), ("limit", "1000")])
            .send()
            .await
            .expect("read")
            .json()
            .await
            .expect("a JSON answer");
        let stored: Vec<&str> = read["messages"]
            .as_array()
            .expect("messages")
            .iter()
            .map(|m| m["value"].as_str().expect("a value"))
            .collect();
        assert!(
            stored.len() >= acked.len(),
            "{} acknowledged, {} stored",
            acked.len(),
            stored.len()
        );
        assert!(
            stored[..acked.len()] == acked[..],
            "every acknowledged write, in order"
        );
        let after = http
            .post(format!("{url}/v1/produce"))
            .json(&json!({"topic": "t", "value": "after the restart"}))
            .send()
            .await
            .expect("produce");
        assert_eq!(after.status(), 200, "writes work again");
    });
    server.terminate();
}
