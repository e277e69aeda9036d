//! A kill storm (owned by the attempts work): `dq up` is killed with SIGKILL every 0.3–0.8 s while healthy
//! runs are mid-attempt, and restarted on the same data directory each time. A redelivery after a restart is
//! an abandoned attempt (`run.attempt_abandoned`), not a failed one: once the storm is over every run
//! succeeds and none is dead-lettered.

use std::time::Duration;

use dq_testkit::eventually;
use serde_json::{Value, json};

use crate::util::Process;

/// Bounds the wait for the runs to end after the storm; a guard, never an assertion.
const GUARD: Duration = Duration::from_secs(120);

/// Healthy runs started before the storm.
const RUNS: usize = 20;

/// The pauses between a restart and the next kill: 8 kills, fewer than the abandoned-attempts budget (10), so
/// that even a run caught by every kill is not dead-lettered.
const KILL_AFTER_MS: [u64; 8] = [300, 550, 800, 420, 680, 350, 750, 500];

async fn get(url: &str) -> Value {
    dq_testkit::http::get(url).await.json
}

#[test]
fn no_healthy_run_is_dead_lettered_by_a_kill_storm() {
    let dir = tempfile::tempdir().expect("temp dir");
    let data = dir.path().to_str().expect("utf-8 path");
    // A few runs at a time, each spanning several kills' worth of pretend work, so that kills land mid-attempt.
    let args = [
        "--listen",
        "127.0.0.1:0",
        "--data-dir",
        data,
        "--step-delay",
        "250ms",
        "--concurrency",
        "4",
        "--backoff",
        "10ms",
    ];
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let (mut server, mut base) = Process::up(&args);
    let ids: Vec<String> = rt.block_on(async {
        let client = reqwest::Client::new();
        let mut ids = Vec::new();
        for _ in 0..RUNS {
            let answer: Value = client
                .post(format!("{base}/runs"))
                .json(&json!({}))
                .send()
                .await
                .expect("post")
                .json()
                .await
                .expect("json");
            ids.push(answer["run_id"].as_str().expect("run_id").to_owned());
        }
        ids
    });
    for pause in KILL_AFTER_MS {
        std::thread::sleep(Duration::from_millis(pause));
        server.sigkill();
        (server, base) = Process::up(&args);
    }
    rt.block_on(async {
        for run_id in &ids {
            let run = eventually(&format!("run {run_id} to end"), GUARD, || async {
                let run = get(&format!("{base}/runs/{run_id}")).await;
                if run["status"] == "succeeded" || run["status"] == "dead_lettered" {
                    Ok(run)
                } else {
                    Err(run)
                }
            })
            .await;
            assert_eq!(run["status"], "succeeded", "run {run_id}: {run}");
        }
        let dlq = get(&format!("{base}/dlq?limit=100")).await;
        assert_eq!(dlq["items"], json!([]), "nothing dead-lettered");
        // The storm did land mid-attempt: some run shows an abandoned attempt, and no failed one.
        let mut abandoned = 0;
        for run_id in &ids {
            let timeline = get(&format!("{base}/runs/{run_id}/timeline")).await;
            for item in timeline["events"].as_array().expect("events") {
                let kind = &item["event"]["type"];
                assert_ne!(kind, "run.attempt_failed", "run {run_id}: {timeline}");
                if kind == "run.attempt_abandoned" {
                    abandoned += 1;
                }
            }
        }
        assert!(abandoned > 0, "no kill landed mid-attempt");
    });
    server.sigkill();
}
