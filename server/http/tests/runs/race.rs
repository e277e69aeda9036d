//! Replays cannot race: a replay of a run still in flight (queued, running, retrying, or an earlier replay of
//! it) is refused with 409, also when two are asked for at once; `force: true` supersedes the chain in flight
//! (`run.superseded`, its worker stops at the next step boundary, nothing of it changes the run afterwards);
//! the run's status, its timeline, `/dlq` and `/dlq/latest` agree.

use std::time::Duration;

use dq_testkit::eventually;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::util::{Answer, RunsApi, TestServer, failing, types};

/// One worker running one command at a time, with `step` of pretend work per step.
fn slow(step: Duration) -> TestServer {
    TestServer::with(|config| {
        config.runs.step_delay = step;
        config.runs.concurrency = 1;
    })
}

/// Waits until the run is running at `replay_seq` with a step started.
async fn wait_mid_step(server: &TestServer, run_id: &str, replay_seq: u64) {
    server.wait_status(run_id, replay_seq, "running").await;
    eventually("a step to start", crate::util::GUARD, || async {
        let types = types(&server.events(run_id).await);
        if types.contains(&"step.started".to_owned()) {
            Ok(())
        } else {
            Err(types)
        }
    })
    .await;
}

#[tokio::test]
async fn a_replay_of_a_queued_or_running_run_is_409_saying_so() {
    // No worker: the run stays queued.
    let idle = TestServer::with(|config| config.runs.workers = 0);
    let run_id = idle.create(json!({})).await;
    let Answer {
        status, json: body, ..
    } = idle
        .post(&format!("/runs/{run_id}/replay"), json!({"fail_at": null}))
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(
        body,
        json!({"detail": format!("run {run_id} is still queued")})
    );

    let server = slow(Duration::from_millis(400));
    let run_id = server.create(json!({"max_attempts": 3})).await;
    wait_mid_step(&server, &run_id, 0).await;
    let Answer {
        status, json: body, ..
    } = server
        .post(&format!("/runs/{run_id}/replay"), json!({"fail_at": null}))
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(
        body,
        json!({"detail": format!("run {run_id} is still running (attempt 1/3)")})
    );
    // Once it ended, the same replay is accepted, and nothing of the refused one was written.
    server.wait_status(&run_id, 0, "succeeded").await;
    let Answer {
        status,
        json: answer,
        ..
    } = server
        .post(&format!("/runs/{run_id}/replay"), json!({"fail_at": null}))
        .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(answer["seq"], 1, "a refused replay burns no seq");
    // And a replay in flight refuses the next one too.
    let Answer {
        status, json: body, ..
    } = server
        .post(&format!("/runs/{run_id}/replay"), json!({}))
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    server.wait_status(&run_id, 1, "succeeded").await;
}

#[tokio::test]
async fn two_replays_asked_for_at_once_one_is_200_and_one_is_409() {
    let server = slow(Duration::from_millis(200));
    let run_id = server
        .create(json!({"fail_at": "fetch_input", "max_attempts": 1}))
        .await;
    server.wait_status(&run_id, 0, "dead_lettered").await;
    let path = format!("/runs/{run_id}/replay");
    let (a, b) = tokio::join!(
        server.post(&path, json!({"fail_at": null})),
        server.post(&path, json!({"fail_at": null})),
    );
    let mut statuses = [a.status, b.status];
    statuses.sort();
    assert_eq!(
        statuses,
        [StatusCode::OK, StatusCode::CONFLICT],
        "{a:?} {b:?}"
    );
    let (accepted, refused) = if a.status == StatusCode::OK {
        (a.json, b.json)
    } else {
        (b.json, a.json)
    };
    assert_eq!(accepted["seq"], 1);
    let detail = refused["detail"].as_str().unwrap();
    assert!(
        detail.starts_with(&format!("run {run_id} is still ")),
        "{detail}"
    );
    let run = server.wait_status(&run_id, 1, "succeeded").await;
    assert_eq!(run["replays"].as_array().unwrap().len(), 1, "{run}");
    let events = server.events(&run_id).await;
    let requested = types(&events)
        .iter()
        .filter(|t| *t == "run.replay_requested")
        .count();
    assert_eq!(requested, 1);
    assert_eq!(types(&events).last().unwrap(), "run.succeeded");
}

#[tokio::test]
async fn a_forced_replay_supersedes_the_chain_in_flight_which_changes_nothing_after() {
    let server = slow(Duration::from_millis(400));
    // Left alone, the first start would succeed; the forced replay dead-letters at once.
    let run_id = server.create(json!({})).await;
    wait_mid_step(&server, &run_id, 0).await;
    let Answer {
        status,
        json: answer,
        ..
    } = server
        .post(
            &format!("/runs/{run_id}/replay"),
            json!({"force": true, "fail_at": "fetch_input", "max_attempts": 1}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(answer["seq"], 1);
    // One command at a time: replay 1 runs only once the superseded command was settled, so when it has
    // ended, the old chain has written all it ever will.
    let run = server.wait_status(&run_id, 1, "dead_lettered").await;
    assert_eq!(run["last_error"], "forced failure at fetch_input");

    let events = server.events(&run_id).await;
    let kinds = types(&events);
    let at = kinds
        .iter()
        .position(|t| t == "run.superseded")
        .unwrap_or_else(|| panic!("no run.superseded: {kinds:?}"));
    assert_eq!(events[at]["replay_seq"], 0);
    assert_eq!(events[at]["by"], 1);
    assert_eq!(kinds[at + 1], "run.replay_requested");
    assert!(!kinds.contains(&"run.succeeded".to_owned()), "{kinds:?}");
    // After it, the old chain wrote at most the end of the step it was in, and nothing else naming replay 0.
    let late: Vec<&Value> = events[at + 1..]
        .iter()
        .filter(|e| e["replay_seq"] == 0)
        .collect();
    assert!(
        late.len() <= 1 && late.iter().all(|e| e["type"] == "step.completed"),
        "the superseded chain went on: {late:?}"
    );
    for event in &events[at + 1..] {
        if event["replay_seq"] == 0 {
            continue;
        }
        assert_ne!(
            event["type"], "step.started",
            "{event}: only replay 1's first step"
        );
        if event["type"] == "worker.received" {
            break;
        }
    }
    assert!(
        events[at + 1..]
            .iter()
            .filter(|e| e["type"] == "step.started")
            .count()
            == 1,
        "replay 1 started fetch_input, the old chain no further step: {kinds:?}"
    );
    assert_eq!(kinds.last().unwrap(), "run.failed");
    assert_eq!(events.last().unwrap()["replay_seq"], 1);

    // Status, timeline and DLQ views agree on replay 1.
    let Answer { json: latest, .. } = server.get("/dlq/latest").await;
    assert_eq!(
        (latest["run_id"].as_str(), &latest["replay_seq"]),
        (Some(run_id.as_str()), &json!(1))
    );
    let Answer { json: list, .. } = server.get("/dlq").await;
    assert_eq!(list["count"], 1, "{list}");
    let Answer { json: record, .. } = server.get(&format!("/runs/{run_id}/dlq")).await;
    assert_eq!(record["replay_seq"], 1);
}

#[tokio::test]
async fn dlq_and_dlq_latest_list_only_runs_dead_lettered_now() {
    let server = TestServer::start();
    let still_dead = server.create(failing("transform")).await;
    server.wait_status(&still_dead, 0, "dead_lettered").await;
    let fixed = server.create(failing("tool_call")).await;
    server.wait_status(&fixed, 0, "dead_lettered").await;
    let Answer { json: latest, .. } = server.get("/dlq/latest").await;
    assert_eq!(latest["run_id"], fixed.as_str());

    let Answer { status, .. } = server
        .post(&format!("/runs/{fixed}/replay"), json!({"fail_at": null}))
        .await;
    assert_eq!(status, StatusCode::OK);
    server.wait_status(&fixed, 1, "succeeded").await;

    let Answer { json: latest, .. } = server.get("/dlq/latest").await;
    assert_eq!(latest["run_id"], still_dead.as_str(), "{latest}");
    let Answer { json: list, .. } = server.get("/dlq").await;
    let runs: Vec<&Value> = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| &r["run_id"])
        .collect();
    assert_eq!(runs, [still_dead.as_str()]);
    // The run's own DLQ route keeps showing its latest record, as the original.
    let Answer {
        status,
        json: record,
        ..
    } = server.get(&format!("/runs/{fixed}/dlq")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(record["replay_seq"], 0);
}
