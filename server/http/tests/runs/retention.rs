//! Retention: a finished run's timeline is archived and its topic deleted, so runs keep coming past the
//! broker's topic cap, and an archived run answers as before — detail, timeline, SSE, replay, after a
//! restart too.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};

use dq_testkit::eventually;

use crate::util::{Answer, GUARD, RunsApi, TestServer, failing, sse_until, types};

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
    eventually("POST /runs to find room under the topic cap", GUARD, || {
        let body = body.clone();
        async move {
            let Answer { status, json, .. } = server.post("/runs", body).await;
            if status == StatusCode::OK {
                Ok(json["run_id"].as_str().expect("run_id").to_owned())
            } else {
                Err(format!("{status} {json}"))
            }
        }
    })
    .await
}

/// Whether the broker still holds the run's timeline topic.
async fn has_topic(server: &TestServer, run_id: &str) -> bool {
    let Answer {
        status,
        json: topics,
        ..
    } = server.get("/v1/topics").await;
    assert_eq!(status, StatusCode::OK, "{topics}");
    topics
        .to_string()
        .contains(&format!("\"runs.events.{run_id}\""))
}

async fn wait_archived(server: &TestServer, run_id: &str) {
    let what = format!("run {run_id}'s topic to be deleted");
    eventually(&what, GUARD, || async {
        if has_topic(server, run_id).await {
            Err("still there")
        } else {
            Ok(())
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn runs_keep_coming_past_the_topic_cap_once_finished_runs_are_archived() {
    let server = archiving_at_once(2);
    let mut runs = Vec::new();
    for i in 0..12 {
        let run_id = create_when_room(&server, json!({"input": {"i": i}})).await;
        server.wait_status(&run_id, 0, "succeeded").await;
        // Retention creates its archive topic at its first pass, under the same cap: once the first run is
        // archived it has one, where runs that finish faster than that pass could take its room for good.
        if i == 0 {
            wait_archived(&server, &run_id).await;
        }
        runs.push(run_id);
    }
    // More runs than the cap allows timelines, and every one of them answers.
    let list = server.get("/runs?limit=100").await.json;
    assert_eq!(list["total"], 12, "{list}");
    for run_id in &runs {
        let run = server.get(&format!("/runs/{run_id}")).await.json;
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
    let before = server.get(&format!("/runs/{run_id}/timeline")).await.json;
    let detail = server.get(&format!("/runs/{run_id}")).await.json;
    let dlq = server.get(&format!("/runs/{run_id}/dlq")).await.json;
    wait_archived(&server, &run_id).await;

    // The same JSON, seq for seq, from the archive.
    assert_eq!(
        server.get(&format!("/runs/{run_id}/timeline")).await.json,
        before
    );
    assert_eq!(server.get(&format!("/runs/{run_id}")).await.json, detail);
    assert_eq!(server.get(&format!("/runs/{run_id}/dlq")).await.json, dlq);
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
        server.get(&format!("/runs/{run_id}/timeline")).await.json,
        before
    );
    assert_eq!(server.get(&format!("/runs/{run_id}")).await.json, detail);

    // A replay gives the run its topic back, and its events follow the archived ones.
    let Answer {
        status,
        json: answer,
        ..
    } = server
        .post(&format!("/runs/{run_id}/replay"), json!({"fail_at": null}))
        .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    server.wait_status(&run_id, 1, "succeeded").await;
    let after = server.get(&format!("/runs/{run_id}/timeline")).await.json;
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
    let Answer {
        status, json: body, ..
    } = server
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
