//! The original starter's behavioural tests against the real server, and dq's additions.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::util::{Answer, RunsApi, TestServer, failing, types};

const STEPS: [&str; 4] = ["fetch_input", "transform", "tool_call", "finalize"];

#[tokio::test]
async fn create_answers_the_run_id_and_events_topic() {
    let server = TestServer::start();
    let Answer {
        status, json: body, ..
    } = server.post("/runs", json!({})).await;
    assert_eq!(status, StatusCode::OK);
    let run_id = body["run_id"].as_str().unwrap();
    assert_eq!(run_id.len(), 32);
    assert!(
        run_id
            .chars()
            .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase())
    );
    assert_eq!(body["events_topic"], format!("runs.events.{run_id}"));
}

#[tokio::test]
async fn the_success_path_emits_exactly_the_original_sequence() {
    let server = TestServer::start();
    let run_id = server
        .create(json!({"workflow": "demo", "input": {"k": 1}}))
        .await;
    server.wait_status(&run_id, 0, "succeeded").await;
    let events = server.events(&run_id).await;
    let mut expected = vec!["run.created", "worker.received", "run.started"];
    for _ in STEPS {
        expected.extend(["step.started", "step.completed"]);
    }
    expected.push("run.succeeded");
    assert_eq!(types(&events), expected);
    let steps: Vec<&str> = events
        .iter()
        .filter(|e| e["type"] == "step.started")
        .map(|e| e["step"].as_str().unwrap())
        .collect();
    assert_eq!(steps, STEPS);
    assert_eq!(events[1]["attempt"], 1);
    assert_eq!(events[1]["replay_seq"], 0);
    for event in &events {
        assert_eq!(event["run_id"], run_id.as_str());
        assert!(
            event["ts"].as_u64().unwrap() > 1_600_000_000_000,
            "ts is unix ms"
        );
    }
}

#[tokio::test]
async fn a_failing_path_stops_at_the_failing_step_and_dead_letters_once() {
    let server = TestServer::start();
    let run_id = server.create(failing("transform")).await;
    let run = server.wait_status(&run_id, 0, "dead_lettered").await;
    assert_eq!(run["attempts"], 3);
    assert_eq!(run["last_error"], "forced failure at transform");
    let events = server.events(&run_id).await;
    // The first attempt completes fetch_input; the retries start at the failed step, not from the first.
    let mut expected = vec!["run.created"];
    for attempt in 1..=3 {
        expected.extend(["worker.received", "run.started", "step.started"]);
        if attempt == 1 {
            expected.extend(["step.completed", "step.started"]);
        }
        expected.push("run.attempt_failed");
        if attempt < 3 {
            expected.push("run.retry_scheduled");
        }
    }
    expected.extend(["run.dlq", "run.failed"]);
    assert_eq!(types(&events), expected);
    assert!(
        !events
            .iter()
            .any(|e| e["type"] == "step.completed" && e["step"] == "transform")
    );
    let attempts: Vec<&Value> = events
        .iter()
        .filter(|e| e["type"] == "worker.received")
        .map(|e| &e["attempt"])
        .collect();
    assert_eq!(attempts, [1, 2, 3]);
    let scheduled: Vec<(Value, Value)> = events
        .iter()
        .filter(|e| e["type"] == "run.retry_scheduled")
        .map(|e| (e["attempt"].clone(), e["max_attempts"].clone()))
        .collect();
    assert_eq!(scheduled, [(json!(2), json!(3)), (json!(3), json!(3))]);
    let dlq_event = events.iter().find(|e| e["type"] == "run.dlq").unwrap();
    assert_eq!(dlq_event["reason"], "max_attempts");
    assert_eq!(dlq_event["dlq_topic"], "runs.dlq");
    assert_eq!(dlq_event["dlq_idem"], format!("dlq:{run_id}:0:3"));

    let Answer { json: list, .. } = server.get(&format!("/dlq?run_id={run_id}")).await;
    assert_eq!(list["count"], 1, "exactly one DLQ record: {list}");
    let record = &list["items"][0];
    assert_eq!(record["type"], "runs.dlq");
    assert_eq!(record["attempts"], 3);
    assert_eq!(record["max_attempts"], 3);
    assert_eq!(record["replay_seq"], 0);
    assert_eq!(record["reason"], "max_attempts");
    assert_eq!(record["error"], "forced failure at transform");
    assert_eq!(record["command"]["type"], "run.command");
    assert_eq!(record["command"]["fail_at"], "transform");
}

#[tokio::test]
async fn max_attempts_per_run_bounds_the_attempts() {
    let server = TestServer::start();
    let run_id = server
        .create(json!({"fail_at": "tool_call", "max_attempts": 1}))
        .await;
    let run = server.wait_status(&run_id, 0, "dead_lettered").await;
    assert_eq!(run["attempts"], 1);
    let events = server.events(&run_id).await;
    assert!(!types(&events).contains(&"run.retry_scheduled".to_owned()));
    let Answer { json: record, .. } = server.get(&format!("/runs/{run_id}/dlq")).await;
    assert_eq!(record["max_attempts"], 1);
}

#[tokio::test]
async fn dlq_is_404_until_the_run_dead_letters_then_200() {
    let server = TestServer::start();
    let ok_run = server.create(json!({})).await;
    server.wait_status(&ok_run, 0, "succeeded").await;
    let Answer {
        status, json: body, ..
    } = server.get(&format!("/runs/{ok_run}/dlq")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body, json!({"detail": "No DLQ record for this run_id"}));

    let bad_run = server.create(failing("tool_call")).await;
    server.wait_status(&bad_run, 0, "dead_lettered").await;
    let Answer {
        status,
        json: record,
        ..
    } = server.get(&format!("/runs/{bad_run}/dlq")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(record["run_id"], bad_run.as_str());
    assert_eq!(record["error"], "forced failure at tool_call");
}

#[tokio::test]
async fn replay_inherits_overrides_and_clears_fail_at_and_increments_seq() {
    let server = TestServer::start();
    let run_id = server
        .create(json!({"fail_at": "tool_call", "input": {"a": 1, "b": 2}}))
        .await;
    server.wait_status(&run_id, 0, "dead_lettered").await;

    // Key absent: inherit.
    let Answer {
        status,
        json: answer,
        ..
    } = server
        .post(&format!("/runs/{run_id}/replay"), json!({}))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        answer,
        json!({"ok": true, "run_id": run_id, "seq": 1, "fail_at": "tool_call"})
    );
    server.wait_status(&run_id, 1, "dead_lettered").await;

    // A string: override; input overrides merge into the original input.
    let Answer { json: answer, .. } = server
        .post(
            &format!("/runs/{run_id}/replay"),
            json!({"fail_at": "transform", "input": {"b": 3}}),
        )
        .await;
    assert_eq!(answer["seq"], 2);
    assert_eq!(answer["fail_at"], "transform");
    let run = server.wait_status(&run_id, 2, "dead_lettered").await;
    assert_eq!(run["last_error"], "forced failure at transform");
    // The original input + this replay's overrides: no `"replay": true` injected.
    assert_eq!(run["input"], json!({"a": 1, "b": 3}));
    assert_eq!(run["replays"][1]["overrides"], json!({"b": 3}));
    assert_eq!(run["replays"][0]["outcome"], "dead_lettered");
    assert!(run["replays"][0]["ended_ms"].is_u64());

    // null: the fix is applied.
    let Answer { json: answer, .. } = server
        .post(&format!("/runs/{run_id}/replay"), json!({"fail_at": null}))
        .await;
    assert_eq!(
        answer,
        json!({"ok": true, "run_id": run_id, "seq": 3, "fail_at": null})
    );
    let run = server.wait_status(&run_id, 3, "succeeded").await;
    assert_eq!(run["fail_at"], Value::Null);
    let seqs: Vec<&Value> = run["replays"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| &r["seq"])
        .collect();
    assert_eq!(seqs, [1, 2, 3]);

    // The run is no longer dead-lettered: /dlq lists it no more, its own DLQ route keeps its latest record.
    let Answer { json: list, .. } = server.get(&format!("/dlq?run_id={run_id}")).await;
    assert_eq!(list["count"], 0, "{list}");
    let Answer {
        status,
        json: record,
        ..
    } = server.get(&format!("/runs/{run_id}/dlq")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(record["replay_seq"], 2);

    let events = server.events(&run_id).await;
    let requested: Vec<(Value, Value)> = events
        .iter()
        .filter(|e| e["type"] == "run.replay_requested")
        .map(|e| (e["seq"].clone(), e["fail_at"].clone()))
        .collect();
    assert_eq!(
        requested,
        [
            (json!(1), json!("tool_call")),
            (json!(2), json!("transform")),
            (json!(3), Value::Null)
        ]
    );
    assert_eq!(types(&events).last().unwrap(), "run.succeeded");
    // Every event names its start or replay: the one requested last before it.
    let mut current = 0;
    for event in &events {
        if event["type"] == "run.replay_requested" {
            current = event["seq"].as_u64().unwrap();
        }
        assert_eq!(event["replay_seq"], current, "{event}");
    }
}

#[tokio::test]
async fn replay_overrides_start_from_the_original_input_unless_kept() {
    let server = TestServer::start();
    let run_id = server
        .create(json!({"fail_at": "tool_call", "input": {"a": 1}}))
        .await;
    server.wait_status(&run_id, 0, "dead_lettered").await;
    server
        .post(
            &format!("/runs/{run_id}/replay"),
            json!({"input": {"b": 2}}),
        )
        .await;
    let run = server.wait_status(&run_id, 1, "dead_lettered").await;
    assert_eq!(run["input"], json!({"a": 1, "b": 2}));
    // The next replay starts from the original input again: `b` is gone.
    server
        .post(
            &format!("/runs/{run_id}/replay"),
            json!({"input": {"c": 3}}),
        )
        .await;
    let run = server.wait_status(&run_id, 2, "dead_lettered").await;
    assert_eq!(run["input"], json!({"a": 1, "c": 3}));
    // keep_overrides: from the previous replay's input.
    let Answer { status, .. } = server
        .post(
            &format!("/runs/{run_id}/replay"),
            json!({"fail_at": null, "input": {"d": 4}, "keep_overrides": true}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let run = server.wait_status(&run_id, 3, "succeeded").await;
    assert_eq!(run["input"], json!({"a": 1, "c": 3, "d": 4}));
    let replays = run["replays"].as_array().unwrap();
    assert_eq!(replays[2]["keep_overrides"], true);
    assert_eq!(replays[2]["outcome"], "succeeded");
    assert_eq!(replays[0]["keep_overrides"], false);
    // The replay's command (kept in its DLQ record) carries the marker; its input stays the user's.
    // The run has succeeded since, so its records are read where every record is: the original's peek.
    let Answer { json: peek, .. } = server.get("/debug/dlq/peek?limit=10").await;
    let record = |seq: u64| {
        peek["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["run_id"] == run_id.as_str() && r["replay_seq"] == seq)
            .unwrap_or_else(|| panic!("no record of replay {seq}: {peek}"))
            .clone()
    };
    let command = &record(2)["command"];
    assert_eq!(command["replay"], true);
    assert_eq!(command["input"], json!({"a": 1, "c": 3}));
    assert_eq!(record(1)["command"]["input"], json!({"a": 1, "b": 2}));
}

#[tokio::test]
async fn dlq_filters_by_error_workflow_and_since_and_lists_runs_dead_lettered_now() {
    let server = TestServer::start();
    let transform = server.create(failing("transform")).await;
    server.wait_status(&transform, 0, "dead_lettered").await;
    let tool = server.create(failing("tool_call")).await;
    let tool_record = {
        server.wait_status(&tool, 0, "dead_lettered").await;
        let Answer { json: record, .. } = server.get(&format!("/runs/{tool}/dlq")).await;
        record
    };
    let ids = |list: &Value| -> Vec<String> {
        list["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["run_id"].as_str().unwrap().to_owned())
            .collect()
    };

    let Answer {
        status, json: list, ..
    } = server.get("/dlq?error=AT%20TRANSFORM").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(ids(&list), [transform.as_str()]);
    let Answer { json: list, .. } = server.get("/dlq?error=forced&workflow=demo").await;
    assert_eq!(ids(&list), [tool.as_str(), transform.as_str()]);
    let Answer { json: list, .. } = server.get("/dlq?workflow=other").await;
    assert_eq!(list["count"], 0);
    let Answer { json: list, .. } = server.get("/dlq?error=no%20such%20error").await;
    assert_eq!(list["count"], 0);
    let since = tool_record["ts"].as_u64().unwrap();
    let Answer { json: list, .. } = server.get(&format!("/dlq?since={since}")).await;
    assert_eq!(ids(&list), [tool.as_str()]);
    let Answer { json: list, .. } = server.get("/dlq?limit=1").await;
    assert_eq!(ids(&list), [tool.as_str()]);
    let Answer { status, .. } = server.get("/dlq?since=yesterday").await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);

    // A run replayed since it dead-lettered is not dead-lettered now: its records leave the list, and a run
    // dead-lettered again shows only its latest record.
    server
        .post(&format!("/runs/{tool}/replay"), json!({"fail_at": null}))
        .await;
    server.wait_status(&tool, 1, "succeeded").await;
    server
        .post(&format!("/runs/{transform}/replay"), json!({}))
        .await;
    server.wait_status(&transform, 1, "dead_lettered").await;
    let Answer { json: current, .. } = server.get("/dlq").await;
    assert_eq!(ids(&current), [transform.as_str()]);
    assert_eq!(current["items"][0]["replay_seq"], 1);
}

#[tokio::test]
async fn an_empty_replay_body_inherits_like_the_original() {
    let server = TestServer::start();
    let run_id = server.create(failing("transform")).await;
    server.wait_status(&run_id, 0, "dead_lettered").await;
    let response = server
        .client()
        .post(server.url(&format!("/runs/{run_id}/replay")))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let answer: Value = response.json().await.unwrap();
    assert_eq!(answer["fail_at"], "transform");
    assert_eq!(answer["seq"], 1);
}

#[tokio::test]
async fn emit_pushes_an_event_into_the_timeline() {
    let server = TestServer::start();
    let run_id = server.create(json!({})).await;
    let Answer {
        status,
        json: answer,
        ..
    } = server
        .post(
            &format!("/runs/{run_id}/emit"),
            json!({"event": {"type": "debug.note", "text": "hi"}}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(answer, json!({"ok": true}));
    let events = server.events(&run_id).await;
    let note = events.iter().find(|e| e["type"] == "debug.note").unwrap();
    assert_eq!(note["text"], "hi");
    assert_eq!(note["run_id"], run_id.as_str());
    assert!(note["ts"].is_u64());
}

#[tokio::test]
async fn runs_list_is_newest_first_and_filters_by_status() {
    let server = TestServer::start();
    let first = server.create(json!({})).await;
    server.wait_status(&first, 0, "succeeded").await;
    let second = server.create(failing("transform")).await;
    server.wait_status(&second, 0, "dead_lettered").await;

    let Answer { json: list, .. } = server.get("/runs").await;
    let ids: Vec<&str> = list["runs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["run_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [second.as_str(), first.as_str()]);
    let Answer { json: dead, .. } = server.get("/runs?status=dead_lettered").await;
    assert_eq!(dead["count"], 1);
    assert_eq!(dead["runs"][0]["run_id"], second.as_str());
    let Answer { json: limited, .. } = server.get("/runs?limit=1").await;
    assert_eq!(limited["count"], 1);
    let Answer { status, .. } = server.get("/runs?status=sleeping").await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);

    let Answer { json: latest, .. } = server.get("/dlq/latest").await;
    assert_eq!(latest["run_id"], second.as_str());
    let Answer { json: peek, .. } = server.get("/debug/dlq/peek?limit=5").await;
    assert_eq!(peek["count"], 1);
    assert_eq!(peek["items"][0]["run_id"], second.as_str());
}

#[tokio::test]
async fn runs_and_dlq_pages_say_the_total_and_the_next_cursor() {
    let server = TestServer::start();
    let first = server.create(failing("transform")).await;
    server.wait_status(&first, 0, "dead_lettered").await;
    let second = server.create(failing("tool_call")).await;
    server.wait_status(&second, 0, "dead_lettered").await;

    let Answer { json: page, .. } = server.get("/runs?limit=1").await;
    assert_eq!(
        (page["count"].clone(), page["total"].clone()),
        (json!(1), json!(2))
    );
    assert_eq!(page["runs"][0]["run_id"], second.as_str());
    assert_eq!(page["next"], second.as_str());
    let Answer { json: rest, .. } = server.get(&format!("/runs?limit=1&after={second}")).await;
    assert_eq!(rest["runs"][0]["run_id"], first.as_str());
    assert!(rest.get("next").is_none(), "the last page: {rest}");

    let Answer { json: dlq, .. } = server.get("/dlq?limit=1").await;
    assert_eq!(dlq["total"], 2);
    assert_eq!(dlq["next"], second.as_str());
    let Answer { json: rest, .. } = server.get(&format!("/dlq?limit=1&after={second}")).await;
    assert_eq!(rest["items"][0]["run_id"], first.as_str());
    assert!(rest.get("next").is_none(), "the last page: {rest}");
    // The original starter's peek is unchanged.
    let Answer { json: peek, .. } = server.get("/debug/dlq/peek").await;
    assert!(peek.get("total").is_none() && peek.get("next").is_none());
}

#[tokio::test]
async fn timeline_since_skips_what_was_seen() {
    let server = TestServer::start();
    let run_id = server.create(json!({})).await;
    server.wait_status(&run_id, 0, "succeeded").await;
    let Answer { json: all, .. } = server.get(&format!("/runs/{run_id}/timeline")).await;
    let all = all["events"].as_array().unwrap().clone();
    let Answer { json: rest, .. } = server
        .get(&format!("/runs/{run_id}/timeline?since=3"))
        .await;
    let rest = rest["events"].as_array().unwrap();
    assert_eq!(rest.len(), all.len() - 4);
    assert_eq!(rest[0]["seq"], 4);
    assert_eq!(rest[0], all[4]);
}

#[tokio::test]
async fn healthz_reports_the_broker() {
    let server = TestServer::start();
    let Answer {
        status, json: body, ..
    } = server.get("/healthz").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["ok"], true);
    assert_eq!(body["driftq"]["status"], "ok");
}

#[tokio::test]
async fn get_workflows_lists_the_built_in_demo_with_its_steps() {
    let server = TestServer::start();
    let Answer {
        status, json: body, ..
    } = server.get("/workflows").await;
    assert_eq!(status, 200);
    let demo = &body["workflows"][0];
    assert_eq!(demo["name"], "demo");
    assert_eq!(demo["source"], "built-in");
    let steps: Vec<&str> = demo["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert_eq!(steps, STEPS);
    assert_eq!(demo["steps"][0]["action"], json!({"kind": "sleep"}));
}
