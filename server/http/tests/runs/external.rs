//! Topologies over HTTP: a standalone worker (`dq worker --url`) against a server's `/v1`, and a server whose
//! runs service and worker use another dq server as an external DriftQ v1 broker (`dq up --broker URL`); a
//! worker that takes a command over `/v1/consume` and vanishes leaves an abandoned attempt, not a failed one.

use std::time::Duration;

use futures::StreamExt;

use dq_runs::RunsConfig;
use serde_json::json;
use tokio_util::sync::CancellationToken;

use crate::util::{Answer, RunsApi, TestServer, failing};

#[tokio::test(flavor = "multi_thread")]
async fn a_standalone_worker_over_http_executes_retries_and_dead_letters() {
    let server = TestServer::with(|c| c.runs.workers = 0);
    let shutdown = CancellationToken::new();
    let config = RunsConfig {
        step_delay: Duration::from_millis(2),
        backoff: Duration::from_millis(2),
        ..RunsConfig::default()
    };
    let worker = tokio::spawn(dq_runs::run_worker(
        &server.url(""),
        None,
        config,
        shutdown.clone(),
    ));
    let run_id = server.create(failing("tool_call")).await;
    let run = server.wait_status(&run_id, 0, "dead_lettered").await;
    assert_eq!(run["attempts"], 3);
    let Answer { json: list, .. } = server.get(&format!("/dlq?run_id={run_id}")).await;
    assert_eq!(list["count"], 1);
    server
        .post(&format!("/runs/{run_id}/replay"), json!({"fail_at": null}))
        .await;
    server.wait_status(&run_id, 1, "succeeded").await;
    shutdown.cancel();
    tokio::time::timeout(crate::util::GUARD, worker)
        .await
        .expect("the worker ends promptly on shutdown")
        .expect("worker task")
        .expect("worker result");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_server_with_an_external_broker_keeps_its_runs_there() {
    let mut broker = TestServer::with(|c| c.runs.workers = 0);
    let url = broker.url("");
    let mut server = TestServer::with(move |c| c.external_broker = Some(url));
    let Answer { json: health, .. } = server.get("/healthz").await;
    assert_eq!(health["driftq"]["status"], "ok");
    let run_id = server.create(failing("transform")).await;
    server.wait_status(&run_id, 0, "dead_lettered").await;
    let Answer { json: topics, .. } = broker.get("/v1/topics").await;
    let topics = topics["topics"].as_array().unwrap();
    assert!(topics.contains(&json!(format!("runs.events.{run_id}"))));
    assert!(topics.contains(&json!("runs.dlq")));

    // The server keeps nothing of its own: restarted, it rebuilds its registry from the external broker.
    server.restart();
    let Answer { json: record, .. } = server.get(&format!("/runs/{run_id}/dlq")).await;
    assert_eq!(record["error"], "forced failure at transform");
    server
        .post(&format!("/runs/{run_id}/replay"), json!({"fail_at": null}))
        .await;
    server.wait_status(&run_id, 1, "succeeded").await;

    // As the original: the runs API stays up and says the broker is down.
    broker.stop();
    let Answer {
        status,
        json: health,
        ..
    } = server.get("/healthz").await;
    assert_eq!(status, reqwest::StatusCode::SERVICE_UNAVAILABLE);
    let detail = health["detail"].as_str().unwrap();
    assert!(detail.starts_with("driftq unhealthy: "), "{detail}");
}

/// Takes one command over `GET /v1/consume` with a 100 ms lease, as a worker that then vanishes (never acks).
async fn take_and_vanish(server: &TestServer) {
    let response = server
        .client()
        .get(server.url("/v1/consume"))
        .query(&[
            ("topic", "runs.commands"),
            ("group", "demo-worker"),
            ("owner", "vanished"),
            ("lease_ms", "100"),
        ])
        .send()
        .await
        .expect("GET /v1/consume");
    let mut body = response.bytes_stream();
    let mut buffer = Vec::new();
    tokio::time::timeout(crate::util::GUARD, async {
        while !buffer.contains(&b'{') || !buffer.ends_with(b"\n") {
            let chunk = body.next().await.expect("a delivery").expect("bytes");
            buffer.extend_from_slice(&chunk);
        }
    })
    .await
    .expect("a delivery in time");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_worker_vanishing_over_http_leaves_an_abandoned_attempt_and_the_run_succeeds() {
    let server = TestServer::with(|c| c.runs.workers = 0);
    // One attempt allowed: were the vanished worker's delivery an attempt, the run would be dead-lettered.
    let run_id = server.create(json!({"max_attempts": 1})).await;
    take_and_vanish(&server).await;

    let shutdown = CancellationToken::new();
    let config = RunsConfig {
        step_delay: Duration::from_millis(2),
        ..RunsConfig::default()
    };
    let worker = tokio::spawn(dq_runs::run_worker(
        &server.url(""),
        None,
        config,
        shutdown.clone(),
    ));
    let run = server.wait_status(&run_id, 0, "succeeded").await;
    assert_eq!(run["attempts"], 1);
    let events = server.events(&run_id).await;
    let abandoned: Vec<&serde_json::Value> = events
        .iter()
        .filter(|e| e["type"] == "run.attempt_abandoned")
        .collect();
    assert_eq!(abandoned.len(), 1, "{events:?}");
    assert_eq!(abandoned[0]["reason"], "lease expired");
    assert_eq!(abandoned[0]["attempt"], 1);
    assert!(!events.iter().any(|e| e["type"] == "run.attempt_failed"));
    shutdown.cancel();
    tokio::time::timeout(crate::util::GUARD, worker)
        .await
        .expect("the worker ends promptly on shutdown")
        .expect("worker task")
        .expect("worker result");
}
