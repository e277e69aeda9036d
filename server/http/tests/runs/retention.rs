//! Retention: a finished run's timeline is archived and its topic deleted, so runs keep coming past the
//! broker's topic cap, and an archived run answers as before — detail, timeline, SSE, replay, after a
//! restart too.

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::util::{GUARD, TestServer, failing, sse_until, types};

/// Topics the runs service keeps besides timelines: commands, DLQ, index, archive.
const RUNS_TOPICS: usize = 4;

fn archiving_at_once(cap_for_runs: usize) -> TestServer {
    TestServer::with(|config| {
        config.broker.max_topics = RUNS_TOPICS + cap_for_runs;
        config.runs.archive_after = Some(Duration::ZERO);
    })
}

/// Starts a run, trying again while the topic cap refuses it (until retention deleted a finished run's topic).
async fn create_when_room(server: &TestServer, body: Value) -> String {
    let started = Instant::now();
    loop {
        let (status, answer) = server.post("/runs", body.clone()).await;
        if status == StatusCode::OK {
            return answer["run_id"].as_str().expect("run_id").to_owned();
        }
        assert!(
            started.elapsed() < GUARD,
            "POST /runs never found room: {status} {answer}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Whether the broker still holds the run's timeline topic.
async fn has_topic(server: &TestServer, run_id: &str) -> bool {
    let (status, topics) = server.get("/v1/topics").await;
    assert_eq!(status, StatusCode::OK, "{topics}");
    topics
        .to_string()
        .contains(&format!("\"runs.events.{run_id}\""))
}

async fn wait_archived(server: &TestServer, run_id: &str) {
    let started = Instant::now();
    while has_topic(server, run_id).await {
        assert!(
            started.elapsed() < GUARD,
            "run {run_id}'s topic was never deleted"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn runs_keep_coming_past_the_topic_cap_once_finished_runs_are_archived() {
    let server = archiving_at_once(2);
    let mut runs = Vec::new();
    for i in 0..12 {
        let run_id = create_when_room(&server, json!({"input": {"i": i}})).await;
        server.wait_status(&run_id, 0, "succeeded").await;
        runs.push(run_id);
    }
    // More runs than the cap allows timelines, and every one of them answers.
    let (_, list) = server.get("/runs?limit=100").await;
    assert_eq!(list["total"], 12, "{list}");
    for run_id in &runs {
        let (_, run) = server.get(&format!("/runs/{run_id}")).await;
        assert_eq!(run["status"], "succeeded", "{run}");
    }
    wait_archived(&server, &runs[0]).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_archived_run_answers_as_before_and_replays_and_survives_a_restart() {
    let mut server = TestServer::with(|config| {
        config.runs.archive_after = Some(Duration::ZERO);
        config.runs.max_attempts = 1;
    });
    let run_id = server.create(failing("transform")).await;
    server.wait_status(&run_id, 0, "dead_lettered").await;
    let before = server.get(&format!("/runs/{run_id}/timeline")).await.1;
    let detail = server.get(&format!("/runs/{run_id}")).await.1;
    let dlq = server.get(&format!("/runs/{run_id}/dlq")).await.1;
    wait_archived(&server, &run_id).await;

    // The same JSON, seq for seq, from the archive.
    assert_eq!(
        server.get(&format!("/runs/{run_id}/timeline")).await.1,
        before
    );
    assert_eq!(server.get(&format!("/runs/{run_id}")).await.1, detail);
    assert_eq!(server.get(&format!("/runs/{run_id}/dlq")).await.1, dlq);
    let frames = sse_until(&server, &format!("/runs/{run_id}/events"), &[], |f| {
        f.data["type"] == "run.failed"
    })
    .await;
    let seqs: Vec<u64> = frames.iter().filter_map(|f| f.id).collect();
    let stored: Vec<u64> = before["events"]
        .as_array()
        .expect("events")
        .iter()
        .map(|item| item["seq"].as_u64().expect("seq"))
        .collect();
    assert_eq!(seqs, stored);
    assert!(frames.iter().any(|f| f.data["type"] == "dlq.available"));

    server.restart();
    assert_eq!(
        server.get(&format!("/runs/{run_id}/timeline")).await.1,
        before
    );
    assert_eq!(server.get(&format!("/runs/{run_id}")).await.1, detail);

    // A replay gives the run its topic back, and its events follow the archived ones.
    let (status, answer) = server
        .post(&format!("/runs/{run_id}/replay"), json!({"fail_at": null}))
        .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    server.wait_status(&run_id, 1, "succeeded").await;
    let after = server.get(&format!("/runs/{run_id}/timeline")).await.1;
    let items = after["events"].as_array().expect("events");
    let old = before["events"].as_array().expect("events");
    assert_eq!(
        &items[..old.len()],
        &old[..],
        "the archived events, unchanged"
    );
    for (i, item) in items.iter().enumerate() {
        assert_eq!(item["seq"], i as u64, "dense seqs: {after}");
    }
    let events: Vec<Value> = items.iter().map(|item| item["event"].clone()).collect();
    assert!(types(&events).contains(&"run.replay_requested".to_owned()));

    // Archived again once finished, and a user's event restores it once more.
    wait_archived(&server, &run_id).await;
    let (status, body) = server
        .post(
            &format!("/runs/{run_id}/emit"),
            json!({"event": {"type": "note", "text": "after the archive"}}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let last = server.events(&run_id).await;
    assert_eq!(last.len(), items.len() + 1);
    assert_eq!(last.last().expect("an event")["text"], "after the archive");
}
