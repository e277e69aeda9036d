//! Retention's archive topic is created outside the broker's topic cap: runs that fill the cap before
//! retention's first pass (which creates the archive) cannot keep it from archiving them and making room.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::json;

use dq_testkit::eventually;

use crate::util::{Answer, GUARD, RunsApi, TestServer};

/// Topics the runs service makes at start: commands, DLQ, index.
const TOPICS_AT_START: usize = 3;

#[tokio::test(flavor = "multi_thread")]
async fn runs_that_fill_the_topic_cap_before_the_first_archive_pass_are_archived_all_the_same() {
    let server = TestServer::with(|config| {
        config.broker.max_topics = TOPICS_AT_START + 2;
        // Long enough that both runs below fill the cap before any pass finds a run to archive.
        config.runs.archive_after = Some(Duration::from_secs(3));
    });
    for i in 0..2 {
        let run_id = server.create(json!({"input": {"i": i}})).await;
        server.wait_status(&run_id, 0, "succeeded").await;
    }
    // Room comes only from archiving, which needs the archive topic the cap is full for.
    let run_id = eventually(
        "POST /runs to find room under the topic cap",
        GUARD,
        || async {
            let Answer { status, json, .. } = server.post("/runs", json!({})).await;
            if status == StatusCode::OK {
                Ok(json["run_id"].as_str().expect("run_id").to_owned())
            } else {
                Err(format!("{status} {json}"))
            }
        },
    )
    .await;
    server.wait_status(&run_id, 0, "succeeded").await;
}
