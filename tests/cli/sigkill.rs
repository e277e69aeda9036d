//! The runs story across real processes (owned by the runs service work): a standalone `dq worker`
//! SIGKILLed mid-run leaves its run to a second worker (an abandoned attempt, not a failed one); a `dq up` SIGKILLed mid-run restarts with the same
//! runs and DLQ records and finishes every interrupted run; `dq up --broker URL` keeps its runs in a second
//! `dq up`; a forced replay supersedes the chain of a killed worker. Redelivery waits for the lease of the
//! killed worker (30 s by default), so the tests with a killed worker take that long.

use std::collections::BTreeMap;
use std::time::Duration;

use dq_testkit::eventually;
use serde_json::{Value, json};

use crate::util::{Process, TestServer};

/// Longer than the worker lease (30 s) plus the runs themselves; a guard, never an assertion.
const GUARD: Duration = Duration::from_secs(120);

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
}

async fn get(url: &str) -> Value {
    dq_testkit::http::get(url).await.json
}

async fn create(base: &str, body: Value) -> String {
    let answer = dq_testkit::http::post(&format!("{base}/runs"), &body)
        .await
        .json;
    answer["run_id"].as_str().expect("run_id").to_owned()
}

async fn events(base: &str, run_id: &str) -> Vec<Value> {
    get(&format!("{base}/runs/{run_id}/timeline")).await["events"]
        .as_array()
        .expect("events")
        .iter()
        .map(|item| item["event"].clone())
        .collect()
}

/// Polls until `done` holds for the JSON at `url`.
async fn wait_for(url: &str, what: &str, done: impl Fn(&Value) -> bool) -> Value {
    eventually(what, GUARD, || async {
        let value = get(url).await;
        if done(&value) { Ok(value) } else { Err(value) }
    })
    .await
}

/// Waits until the run's worker has started a step (and is in its pretend work).
async fn wait_for_a_step(base: &str, run_id: &str) {
    wait_for(
        &format!("{base}/runs/{run_id}/timeline"),
        "started a step",
        |t| {
            t["events"]
                .as_array()
                .is_some_and(|e| e.iter().any(|i| i["event"]["type"] == "step.started"))
        },
    )
    .await;
}

#[test]
fn a_killed_worker_leaves_its_run_to_a_second_worker() {
    let server = TestServer::with(|c| c.runs.workers = 0);
    let base = server.url().to_owned();
    let mut slow = Process::spawn(&["worker", "--url", &base, "--step-delay", "2s"]);
    runtime().block_on(async {
        let run_id = create(&base, json!({})).await;
        wait_for_a_step(&base, &run_id).await;
        slow.sigkill();

        let mut second = Process::spawn(&["worker", "--url", &base, "--step-delay", "0ms"]);
        wait_for(&format!("{base}/runs/{run_id}"), "succeeded", |r| {
            r["status"] == "succeeded"
        })
        .await;
        second.sigkill();

        let events = events(&base, &run_id).await;
        let attempts: Vec<&Value> = events
            .iter()
            .filter(|e| e["type"] == "worker.received")
            .map(|e| &e["attempt"])
            .collect();
        assert_eq!(
            attempts,
            [1, 1],
            "the timeline shows the redelivery, which is not a second attempt"
        );
        let abandoned: Vec<&Value> = events
            .iter()
            .filter(|e| e["type"] == "run.attempt_abandoned")
            .collect();
        assert_eq!(abandoned.len(), 1, "{events:?}");
        assert_eq!(abandoned[0]["reason"], "lease expired");
        assert_eq!(abandoned[0]["attempt"], 1);
        assert_eq!(events.last().unwrap()["type"], "run.succeeded");
    });
}

/// `replay --force` while the worker of the chain in flight was killed mid-step: the replay runs at once on
/// another worker, and when the killed worker's lease runs out its command is redelivered, found superseded
/// and settled without writing anything, so the run stays the replay's success.
#[test]
fn a_forced_replay_supersedes_a_chain_whose_worker_was_killed_mid_step() {
    let server = TestServer::with(|c| c.runs.workers = 0);
    let base = server.url().to_owned();
    let mut slow = Process::spawn(&["worker", "--url", &base, "--step-delay", "2s"]);
    runtime().block_on(async {
        let run_id = create(&base, json!({"fail_at": "tool_call"})).await;
        wait_for_a_step(&base, &run_id).await;
        slow.sigkill();

        let answer = reqwest::Client::new()
            .post(format!("{base}/runs/{run_id}/replay"))
            .json(&json!({"fail_at": null, "force": true}))
            .send()
            .await
            .expect("post");
        assert_eq!(answer.status(), 200);
        let mut second = Process::spawn(&["worker", "--url", &base, "--step-delay", "0ms"]);
        wait_for(&format!("{base}/runs/{run_id}"), "succeeded", |r| {
            r["status"] == "succeeded" && r["replay_seq"] == 1
        })
        .await;
        // The killed worker's command comes back once its lease (30 s) has run out, and is settled.
        let metrics = format!("{base}/metrics");
        eventually("the superseded command to be settled", GUARD, || async {
            let text = dq_testkit::http::get(&metrics).await.text();
            let settled = |metric: &str| {
                text.lines().any(|line| {
                    line.starts_with(metric)
                        && line.contains("topic=\"runs.commands\"")
                        && line.ends_with(" 0")
                })
            };
            if settled("dq_in_flight_messages") && settled("dq_consumer_lag_messages") {
                Ok(())
            } else {
                Err(text)
            }
        })
        .await;
        second.sigkill();

        let events = events(&base, &run_id).await;
        let superseded = events
            .iter()
            .position(|e| e["type"] == "run.superseded")
            .expect("run.superseded in the timeline");
        assert_eq!(events[superseded]["replay_seq"], 0);
        assert!(
            events[superseded + 1..]
                .iter()
                .all(|e| e["replay_seq"] != 0),
            "the superseded chain wrote after it was superseded: {events:#?}"
        );
        assert_eq!(events.last().unwrap()["type"], "run.succeeded");
        let run = get(&format!("{base}/runs/{run_id}")).await;
        assert_eq!(
            (&run["status"], &run["replay_seq"]),
            (&json!("succeeded"), &json!(1))
        );
    });
}

#[test]
fn a_killed_server_restarts_with_the_same_runs_and_dlq_and_finishes_them() {
    let dir = tempfile::tempdir().expect("temp dir");
    let data = dir.path().to_str().expect("utf-8 path");
    let args = [
        "--listen",
        "127.0.0.1:0",
        "--data-dir",
        data,
        "--step-delay",
        "100ms",
        "--backoff",
        "10ms",
        "--max-attempts",
        "2",
    ];
    let (mut server, base) = Process::up(&args);
    let rt = runtime();
    let (runs_before, dlq_before, ids) = rt.block_on(async {
        let dead = create(&base, json!({"fail_at": "fetch_input"})).await;
        wait_for(&format!("{base}/runs/{dead}"), "dead-lettered", |r| {
            r["status"] == "dead_lettered"
        })
        .await;
        let mut ids = vec![dead];
        for fail_at in [Value::Null, json!("tool_call"), Value::Null] {
            ids.push(create(&base, json!({"fail_at": fail_at})).await);
        }
        // Kill while the later runs are mid-way.
        let last = ids.last().unwrap().clone();
        wait_for(&format!("{base}/runs/{last}"), "running", |r| {
            r["status"] == "running"
        })
        .await;
        let runs = get(&format!("{base}/runs?limit=100")).await;
        let dlq = get(&format!("{base}/dlq?limit=100")).await;
        (runs, dlq, ids)
    });
    server.sigkill();

    let (mut server, base) = Process::up(&args);
    rt.block_on(async {
        let runs_after = get(&format!("{base}/runs?limit=100")).await;
        let dlq_after = get(&format!("{base}/dlq?limit=100")).await;
        let key = |runs: &Value| -> BTreeMap<String, (Value, Value)> {
            runs["runs"]
                .as_array()
                .unwrap()
                .iter()
                .map(|r| {
                    (
                        r["run_id"].as_str().unwrap().to_owned(),
                        (r["workflow"].clone(), r["created_ms"].clone()),
                    )
                })
                .collect()
        };
        assert_eq!(key(&runs_after), key(&runs_before), "the same runs");
        for record in dlq_before["items"].as_array().unwrap() {
            assert!(
                dlq_after["items"].as_array().unwrap().contains(record),
                "DLQ record kept: {record}"
            );
        }
        let expected = ["dead_lettered", "succeeded", "dead_lettered", "succeeded"];
        for (run_id, status) in ids.iter().zip(expected) {
            wait_for(&format!("{base}/runs/{run_id}"), status, |r| {
                r["status"] == status
            })
            .await;
        }
        let dlq = get(&format!("{base}/dlq?limit=100")).await;
        let mut per_run: BTreeMap<(String, u64), usize> = BTreeMap::new();
        for record in dlq["items"].as_array().unwrap() {
            let key = (
                record["run_id"].as_str().unwrap().to_owned(),
                record["replay_seq"].as_u64().unwrap(),
            );
            *per_run.entry(key).or_default() += 1;
        }
        assert!(
            per_run.values().all(|n| *n == 1),
            "one DLQ record per (run, replay_seq): {per_run:?}"
        );
        assert_eq!(per_run.len(), 2);
    });
    server.sigkill();
}

#[test]
fn up_with_an_external_broker_tells_the_whole_story_through_it() {
    let broker_dir = tempfile::tempdir().expect("temp dir");
    let server_dir = tempfile::tempdir().expect("temp dir");
    let (mut broker, broker_url) = Process::up(&[
        "--listen",
        "127.0.0.1:0",
        "--data-dir",
        broker_dir.path().to_str().expect("utf-8 path"),
        "--workers",
        "0",
    ]);
    let (mut server, base) = Process::up(&[
        "--listen",
        "127.0.0.1:0",
        "--data-dir",
        server_dir.path().to_str().expect("utf-8 path"),
        "--broker",
        &broker_url,
        "--step-delay",
        "0ms",
        "--backoff",
        "0ms",
    ]);
    let run = crate::util::dq()
        .args([
            "--url",
            &base,
            "run",
            "--fail",
            "transform",
            "--max-attempts",
            "2",
            "--json",
        ])
        .output()
        .expect("dq run");
    assert_eq!(run.status.code(), Some(3), "dead-lettered");
    let run = crate::util::parse(&run.stdout);
    let run_id = run["run_id"].as_str().expect("run_id").to_owned();
    let replay = crate::util::dq()
        .args(["--url", &base, "replay", &run_id, "--fix", "--json"])
        .output()
        .expect("dq replay");
    assert_eq!(replay.status.code(), Some(0), "the replay succeeded");

    runtime().block_on(async {
        let topics = get(&format!("{broker_url}/v1/topics")).await;
        let topics = topics["topics"].as_array().expect("topics");
        assert!(topics.contains(&json!(format!("runs.events.{run_id}"))));
        assert!(topics.contains(&json!("runs.dlq")));
        let health = get(&format!("{base}/healthz")).await;
        assert_eq!(health["driftq"]["status"], "ok");
    });
    server.sigkill();
    broker.sigkill();
}
