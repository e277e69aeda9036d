//! Topologies over HTTP: a standalone worker (`dq worker --url`) against a server's `/v1`, and a server whose
//! runs service and worker use another dq server as an external DriftQ v1 broker (`dq up --broker URL`).

use std::time::Duration;

use dq_runs::RunsConfig;
use serde_json::json;
use tokio_util::sync::CancellationToken;

use crate::util::{TestServer, failing};

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
    let (_, list) = server.get(&format!("/dlq?run_id={run_id}")).await;
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
    let (_, health) = server.get("/healthz").await;
    assert_eq!(health["driftq"]["status"], "ok");
    let run_id = server.create(failing("transform")).await;
    server.wait_status(&run_id, 0, "dead_lettered").await;
    let (_, topics) = broker.get("/v1/topics").await;
    let topics = topics["topics"].as_array().unwrap();
    assert!(topics.contains(&json!(format!("runs.events.{run_id}"))));
    assert!(topics.contains(&json!("runs.dlq")));

    // The server keeps nothing of its own: restarted, it rebuilds its registry from the external broker.
    server.restart();
    let (_, record) = server.get(&format!("/runs/{run_id}/dlq")).await;
    assert_eq!(record["error"], "forced failure at transform");
    server
        .post(&format!("/runs/{run_id}/replay"), json!({"fail_at": null}))
        .await;
    server.wait_status(&run_id, 1, "succeeded").await;

    // As the original: the runs API stays up and says the broker is down.
    broker.stop();
    let (status, health) = server.get("/healthz").await;
    assert_eq!(status, reqwest::StatusCode::SERVICE_UNAVAILABLE);
    let detail = health["detail"].as_str().unwrap();
    assert!(detail.starts_with("driftq unhealthy: "), "{detail}");
}
