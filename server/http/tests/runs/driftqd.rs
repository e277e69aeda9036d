//! dq on the original DriftQ broker: a server whose runs service and worker use, as their external broker, a
//! stand-in for driftqd (the test kit's `driftqd`: a proxy in front of a real dq `/v1` that lacks `GET /v1/read`
//! and refuses nack's `delay_ms`, as driftqd does). Reads fall back to consume and ack, and the story
//! (fail → DLQ → replay with the fix → success) works end to end, through restarts.

use std::sync::atomic::Ordering;

use dq_testkit::driftqd::Driftqd;
use dq_testkit::eventually;
use serde_json::json;

use crate::util::{Answer, RunsApi, TestServer, failing, sse_until, types};

#[tokio::test(flavor = "multi_thread")]
async fn the_story_runs_on_a_broker_without_reads_and_survives_a_restart() {
    let broker = TestServer::with(|c| c.runs.workers = 0);
    let driftqd = Driftqd::start(&broker.url(""));
    let url = driftqd.url();
    let mut server = TestServer::with(move |c| c.external_broker = Some(url));

    let run_id = server.create(failing("tool_call")).await;
    let run = server.wait_status(&run_id, 0, "dead_lettered").await;
    assert_eq!(run["attempts"], 3, "{run}");
    let events = server.events(&run_id).await;
    let kinds = types(&events);
    assert_eq!(kinds.first().map(String::as_str), Some("run.created"));
    assert_eq!(
        kinds.iter().filter(|k| *k == "run.attempt_failed").count(),
        3,
        "{kinds:?}"
    );
    assert_eq!(
        kinds.iter().filter(|k| *k == "run.retry_scheduled").count(),
        2,
        "{kinds:?}"
    );
    // Every redelivery was accounted for by the timeline the worker read back: none taken for abandoned.
    assert!(
        !kinds.contains(&"run.attempt_abandoned".to_owned()),
        "{kinds:?}"
    );
    assert_eq!(kinds.last().map(String::as_str), Some("run.failed"));
    let Answer { json: record, .. } = server.get(&format!("/runs/{run_id}/dlq")).await;
    assert_eq!(record["error"], "forced failure at tool_call");
    assert_eq!(record["command"]["fail_at"], "tool_call");

    // The broker refused the first nack's delay_ms; every later nack went without it.
    assert!(driftqd.counts.reads_refused.load(Ordering::Relaxed) >= 1);
    assert_eq!(driftqd.counts.nacks_with_delay.load(Ordering::Relaxed), 1);
    assert_eq!(driftqd.counts.nacks.load(Ordering::Relaxed), 2);

    let Answer {
        status,
        json: replay,
        ..
    } = server
        .post(&format!("/runs/{run_id}/replay"), json!({"fail_at": null}))
        .await;
    assert_eq!(status, reqwest::StatusCode::OK, "{replay}");
    // Live over SSE: the whole timeline, then the replay's success.
    let frames = sse_until(&server, &format!("/runs/{run_id}/events"), &[], |f| {
        f.data["type"] == "run.succeeded"
    })
    .await;
    assert_eq!(frames[0].data["type"], "sse.connected");
    assert_eq!(frames[1].data["type"], "dlq.available");
    let run = server.wait_status(&run_id, 1, "succeeded").await;
    assert_eq!(run["attempts"], 1, "{run}");

    // Restarted, the server reads the broker again from the start: the run, its status and its DLQ record.
    server.restart();
    let run = server.wait_status(&run_id, 1, "succeeded").await;
    assert_eq!(run["replays"][0]["outcome"], "succeeded", "{run}");
    let Answer { json: list, .. } = server.get("/runs").await;
    assert_eq!(list["runs"][0]["run_id"], run_id.as_str(), "{list}");
    let Answer { json: record, .. } = server.get(&format!("/runs/{run_id}/dlq")).await;
    assert_eq!(record["replay_seq"], 0, "{record}");

    // The broker gone, a timeline read fails as it would over `/v1/read` (once the reader has seen it go),
    // rather than pass off what was kept as the whole timeline.
    drop(driftqd);
    eventually(
        "reads to fail with the broker gone",
        crate::util::GUARD,
        || async {
            let Answer {
                status, json: body, ..
            } = server.get(&format!("/runs/{run_id}/timeline")).await;
            if status == reqwest::StatusCode::SERVICE_UNAVAILABLE {
                assert!(
                    body["detail"]
                        .as_str()
                        .unwrap_or_default()
                        .contains("broker unavailable"),
                    "{body}"
                );
                return Ok(());
            }
            assert_eq!(status, reqwest::StatusCode::OK, "{body}");
            Err(body)
        },
    )
    .await;
}

/// A standalone worker on the original broker (`dq worker --url http://driftqd`), a separate process from the
/// server: each reads the other's writes once its reader has them delivered.
#[tokio::test(flavor = "multi_thread")]
async fn a_standalone_worker_and_the_server_meet_only_on_a_broker_without_reads() {
    let broker = TestServer::with(|c| c.runs.workers = 0);
    let driftqd = Driftqd::start(&broker.url(""));
    let url = driftqd.url();
    let server = TestServer::with({
        let url = url.clone();
        move |c| {
            c.external_broker = Some(url);
            c.runs.workers = 0;
        }
    });
    let shutdown = tokio_util::sync::CancellationToken::new();
    let config = dq_runs::RunsConfig {
        step_delay: std::time::Duration::from_millis(2),
        backoff: std::time::Duration::from_millis(2),
        ..dq_runs::RunsConfig::default()
    };
    let worker = tokio::spawn(dq_runs::run_worker(&url, None, config, shutdown.clone()));

    let run_id = server.create(failing("transform")).await;
    let run = server.wait_status(&run_id, 0, "dead_lettered").await;
    assert_eq!(run["attempts"], 3, "{run}");
    let kinds = types(&server.events(&run_id).await);
    assert!(
        !kinds.contains(&"run.attempt_abandoned".to_owned()),
        "{kinds:?}"
    );
    server
        .post(&format!("/runs/{run_id}/replay"), json!({"fail_at": null}))
        .await;
    server.wait_status(&run_id, 1, "succeeded").await;
    assert_eq!(driftqd.counts.nacks_with_delay.load(Ordering::Relaxed), 1);

    shutdown.cancel();
    tokio::time::timeout(crate::util::GUARD, worker)
        .await
        .expect("the worker ends promptly on shutdown")
        .expect("worker task")
        .expect("worker result");
}

/// The server's readers lose their consume streams (a broker restart, a network cut): they join their groups
/// again, and no write made before or after the cut goes missing.
#[tokio::test(flavor = "multi_thread")]
async fn readers_whose_streams_break_join_again_and_miss_nothing() {
    let broker = TestServer::with(|c| c.runs.workers = 0);
    let driftqd = Driftqd::start(&broker.url(""));
    let url = driftqd.url();
    let server = TestServer::with(move |c| c.external_broker = Some(url));
    let first = server.create(json!({})).await;
    server.wait_status(&first, 0, "succeeded").await;
    let before = server.events(&first).await;

    driftqd.cut_streams();
    let second = server.create(failing("fetch_input")).await;
    server.wait_status(&second, 0, "dead_lettered").await;
    server
        .post(&format!("/runs/{first}/replay"), json!({}))
        .await;
    server.wait_status(&first, 1, "succeeded").await;
    let after = server.events(&first).await;
    assert_eq!(
        after[..before.len()],
        before[..],
        "the timeline read before the cut is kept"
    );
    let kinds = types(&after[before.len()..]);
    assert_eq!(
        kinds.first().map(String::as_str),
        Some("run.replay_requested"),
        "{kinds:?}"
    );
    assert_eq!(
        kinds.last().map(String::as_str),
        Some("run.succeeded"),
        "{kinds:?}"
    );
    let Answer { json: list, .. } = server.get("/runs").await;
    assert_eq!(list["total"], 2, "{list}");
}
