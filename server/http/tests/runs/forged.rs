//! Forged and poison input written straight through `/v1`: garbage on `runs.commands` is parked in
//! `runs.commands.poison` and acked, never retried; records forged into `runs.index` and `runs.dlq` (garbage,
//! a well-formed record of a run never created, an ill-formed run id) make no run and no DLQ record, before
//! and after a restart; lifecycle events forged into a run's timeline never change its status, before and
//! after a restart.

use dq_testkit::{Endpoint, eventually};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::util::{Answer, GUARD, RunsApi, TestServer, app_with, failing};

/// Produces `value` to `topic` through `/v1/produce`.
async fn produce(server: &impl Endpoint, topic: &str, value: &str) {
    let Answer {
        status, json: body, ..
    } = server
        .post("/v1/produce", json!({"topic": topic, "value": value}))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

/// The values stored in partition 0 of `topic`.
async fn values(server: &impl Endpoint, topic: &str) -> Vec<String> {
    let Answer {
        status, json: body, ..
    } = server
        .get(&format!("/v1/read?topic={topic}&limit=1000"))
        .await;
    if status == StatusCode::NOT_FOUND || body["error"] == "NOT_FOUND" {
        return Vec::new();
    }
    assert_eq!(status, StatusCode::OK, "{body}");
    body["messages"]
        .as_array()
        .expect("messages")
        .iter()
        .map(|m| m["value"].as_str().expect("value").to_owned())
        .collect()
}

fn run_ids(list: &Value, key: &str) -> Vec<String> {
    list[key]
        .as_array()
        .expect("a list")
        .iter()
        .map(|r| r["run_id"].as_str().expect("run_id").to_owned())
        .collect()
}

#[tokio::test]
async fn poison_commands_are_parked_and_acked_and_real_runs_go_on() {
    let server = app_with(|c| c.runs.backoff = std::time::Duration::ZERO).await;
    // The first run makes the runs topics.
    let first = server.create(json!({})).await;
    server.wait_status(&first, 0, "succeeded").await;
    let long = "a".repeat(65);
    let poison = [
        "not json".to_owned(),
        json!({"ts": 1, "type": "run.command", "run_id": 5}).to_string(),
        json!({"ts": 1, "type": "run.command", "run_id": "a b"}).to_string(),
        json!({"ts": 1, "type": "run.command", "run_id": long}).to_string(),
        json!({"ts": 1, "type": "run.command", "run_id": ""}).to_string(),
        json!([1, 2]).to_string(),
    ];
    for value in &poison {
        produce(&server, "runs.commands", value).await;
    }
    let run_id = server.create(json!({})).await;
    server.wait_status(&run_id, 0, "succeeded").await;

    let parked = eventually("all the poison to be parked", GUARD, || async {
        let parked = values(&server, "runs.commands.poison").await;
        if parked.len() >= poison.len() {
            Ok(parked)
        } else {
            Err(parked)
        }
    })
    .await;
    let mut originals: Vec<String> = parked
        .iter()
        .map(|p| {
            let record: Value = serde_json::from_str(p).expect("a JSON poison record");
            assert_eq!(record["type"], "runs.commands.poison");
            assert_eq!(record["topic"], "runs.commands");
            assert!(record["reason"].as_str().is_some_and(|r| !r.is_empty()));
            record["value"].as_str().expect("value").to_owned()
        })
        .collect();
    originals.sort();
    let mut expected = poison.to_vec();
    expected.sort();
    assert_eq!(originals, expected, "each poison message parked once");

    // Acked, not retried: nothing of runs.commands is in flight or behind, and nothing was nacked.
    eventually("the commands to be settled", GUARD, || async {
        let metrics = server.get("/metrics").await.text();
        let of_commands = |name: &str| {
            metrics
                .lines()
                .filter(|l| l.starts_with(name) && l.contains("topic=\"runs.commands\""))
                .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
                .sum::<u64>()
        };
        assert_eq!(of_commands("dq_nacked_messages_total"), 0, "{metrics}");
        if of_commands("dq_in_flight_messages") == 0 && of_commands("dq_consumer_lag_messages") == 0
        {
            Ok(())
        } else {
            Err(metrics)
        }
    })
    .await;
    // No run, timeline or DLQ record came of them.
    let Answer { json: runs, .. } = server.get("/runs").await;
    let mut listed = run_ids(&runs, "runs");
    listed.sort();
    let mut real = vec![first, run_id];
    real.sort();
    assert_eq!(listed, real);
    let Answer { json: dlq, .. } = server.get("/dlq").await;
    assert_eq!(dlq["count"], 0, "{dlq}");
    let Answer { json: topics, .. } = server.get("/v1/topics").await;
    assert!(
        !topics.to_string().contains(&format!("runs.events.{long}")),
        "{topics}"
    );
}

#[tokio::test]
async fn forged_index_and_dlq_records_make_no_runs_and_no_dlq_records() {
    let mut server = TestServer::start();
    let real = server
        .create(json!({"fail_at": "transform", "max_attempts": 1}))
        .await;
    server.wait_status(&real, 0, "dead_lettered").await;
    let Answer {
        json: real_record, ..
    } = server.get("/dlq/latest").await;
    assert_eq!(real_record["run_id"], real.as_str());
    let ok = server.create(json!({})).await;
    server.wait_status(&ok, 0, "succeeded").await;

    // Newer than anything real, so that a forged record that got in would be listed first.
    let ts = u64::MAX / 2;
    let never = "f".repeat(32);
    let created = |run_id: &str| {
        json!({"kind": "created", "run_id": run_id, "workflow": "demo", "input": {}, "fail_at": null,
               "max_attempts": null, "ts": ts})
        .to_string()
    };
    for value in [
        "garbage".to_owned(),
        json!({"kind": "created"}).to_string(),
        created(&never),
        created("bad id!"),
        created(&"e".repeat(65)),
        json!({"kind": "replay", "run_id": "bad id!", "seq": 1, "fail_at": null, "input": {},
               "max_attempts": null, "ts": ts})
        .to_string(),
    ] {
        produce(&server, "runs.index", &value).await;
    }
    let dlq_record = |run_id: &str| {
        json!({"ts": ts, "type": "runs.dlq", "run_id": run_id, "workflow": "demo", "attempts": 3,
               "max_attempts": 3, "replay_seq": 0, "reason": "max_attempts", "error": "forged",
               "command": {}})
        .to_string()
    };
    for value in [
        "garbage".to_owned(),
        json!({"type": "runs.dlq"}).to_string(),
        dlq_record(&"d".repeat(32)),
        dlq_record(&never),
        dlq_record("bad id!"),
    ] {
        produce(&server, "runs.dlq", &value).await;
    }

    for pass in ["before", "after"] {
        let Answer {
            status, json: runs, ..
        } = server.get("/runs").await;
        assert_eq!(status, StatusCode::OK, "{runs}");
        assert_eq!(
            run_ids(&runs, "runs"),
            [ok.clone(), real.clone()],
            "{pass} the restart: {runs}"
        );
        let Answer {
            status, json: body, ..
        } = server.get(&format!("/runs/{never}")).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{pass}: {body}");
        let Answer {
            status, json: body, ..
        } = server.get(&format!("/runs/{never}/events")).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{pass}: {body}");
        let Answer {
            status, json: dlq, ..
        } = server.get("/dlq").await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(run_ids(&dlq, "items"), [real.as_str()], "{pass}: {dlq}");
        let Answer { json: peek, .. } = server.get("/debug/dlq/peek").await;
        assert_eq!(run_ids(&peek, "items"), [real.as_str()], "{pass}: {peek}");
        let Answer {
            status,
            json: latest,
            ..
        } = server.get("/dlq/latest").await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(latest, real_record, "{pass}");
        let Answer {
            status, json: body, ..
        } = server.get(&format!("/runs/{never}/dlq")).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{pass}: {body}");
        server.restart();
    }
    // The real runs still work.
    let Answer {
        status,
        json: answer,
        ..
    } = server
        .post(&format!("/runs/{real}/replay"), json!({"fail_at": null}))
        .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    server.wait_status(&real, 1, "succeeded").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_standalone_worker_over_http_parks_poison_too() {
    let server = TestServer::with(|c| c.runs.workers = 0);
    let shutdown = tokio_util::sync::CancellationToken::new();
    let config = dq_runs::RunsConfig {
        step_delay: std::time::Duration::from_millis(2),
        backoff: std::time::Duration::ZERO,
        ..dq_runs::RunsConfig::default()
    };
    let worker = tokio::spawn(dq_runs::run_worker(
        &server.url(""),
        None,
        config,
        shutdown.clone(),
    ));
    // The first run makes the runs topics.
    let first = server.create(json!({})).await;
    let poison = json!({"ts": 1, "type": "run.command", "run_id": "../x"}).to_string();
    produce(&server, "runs.commands", &poison).await;
    let second = server.create(json!({})).await;
    server.wait_status(&first, 0, "succeeded").await;
    server.wait_status(&second, 0, "succeeded").await;
    let parked = eventually("the poison to be parked", GUARD, || async {
        let parked = values(&server, "runs.commands.poison").await;
        if parked.is_empty() {
            Err(parked)
        } else {
            Ok(parked)
        }
    })
    .await;
    let record: Value = serde_json::from_str(&parked[0]).expect("a JSON poison record");
    assert_eq!(record["value"], poison.as_str());
    assert_eq!(parked.len(), 1);
    shutdown.cancel();
    tokio::time::timeout(GUARD, worker)
        .await
        .expect("the worker ends promptly on shutdown")
        .expect("worker task")
        .expect("worker result");
}

#[tokio::test]
async fn forged_lifecycle_events_never_change_a_dead_lettered_run_even_after_a_restart() {
    let mut server = TestServer::with(|c| c.runs.backoff = std::time::Duration::ZERO);
    let run_id = server.create(failing("transform")).await;
    let dead = server.wait_status(&run_id, 0, "dead_lettered").await;
    // The reserved namespaces are refused whole, not only the types the worker writes today.
    for kind in ["run.succeeded", "run.anything", "step.x", "worker.gone"] {
        let Answer {
            status, json: body, ..
        } = server
            .post(
                &format!("/runs/{run_id}/emit"),
                json!({"event": {"type": kind}}),
            )
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{kind}: {body}");
    }
    // A user's event is stored as the user's, in the run's current replay, whatever it claims.
    let Answer {
        status, json: body, ..
    } = server
        .post(
            &format!("/runs/{run_id}/emit"),
            json!({"event": {"type": "note", "source": "worker", "replay_seq": 7}}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let note = server.events(&run_id).await.pop().unwrap();
    assert_eq!(
        (&note["type"], &note["source"], &note["replay_seq"]),
        (&json!("note"), &json!("user"), &json!(0))
    );
    // Forged straight into the timeline: a success marked as the user's, and one as an emit stored it before
    // emit refused lifecycle types (no source), after the run had ended.
    let topic = format!("runs.events.{run_id}");
    for forged in [
        json!({"ts": 1, "type": "run.succeeded", "run_id": run_id, "replay_seq": 0, "source": "user"}),
        json!({"ts": 1, "type": "run.succeeded", "run_id": run_id}),
        json!({"ts": 1, "type": "worker.received", "run_id": run_id, "attempt": 9, "replay_seq": 0}),
    ] {
        produce(&server, &topic, &forged.to_string()).await;
    }
    let status_of = |run: &Value| (run["status"].clone(), run["attempts"].clone());
    let Answer { json: run, .. } = server.get(&format!("/runs/{run_id}")).await;
    assert_eq!(status_of(&run), status_of(&dead), "{run}");

    server.restart();

    let Answer { json: run, .. } = server.get(&format!("/runs/{run_id}")).await;
    assert_eq!(status_of(&run), (json!("dead_lettered"), json!(3)), "{run}");
    let Answer { json: list, .. } = server.get("/runs?status=dead_lettered").await;
    assert_eq!(run_ids(&list, "runs"), [run_id.as_str()]);
    // A replay still works and is credited to replay 1 only.
    server
        .post(&format!("/runs/{run_id}/replay"), json!({"fail_at": null}))
        .await;
    server.wait_status(&run_id, 1, "succeeded").await;
}
