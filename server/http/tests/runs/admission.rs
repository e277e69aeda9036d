//! Admission: past `max_unfinished` runs queued or running, `POST /runs` answers 429 with `Retry-After` and a
//! FastAPI-shaped body, and takes runs again once the workers end some; finished runs do not count.

use reqwest::StatusCode;
use reqwest::header::RETRY_AFTER;
use serde_json::json;

use dq_testkit::eventually;

use crate::util::{Answer, GUARD, RunsApi, TestServer, app_with};

#[tokio::test]
async fn past_the_limit_of_unfinished_runs_a_new_run_gets_429_with_retry_after() {
    // No worker: every run stays queued.
    let app = app_with(|config| {
        config.runs.workers = 0;
        config.runs.max_unfinished = Some(3);
    })
    .await;
    for _ in 0..3 {
        app.create(json!({"workflow": "demo"})).await;
    }
    let Answer {
        status,
        headers,
        json: body,
        ..
    } = app.post("/runs", json!({"workflow": "demo"})).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{body}");
    assert_eq!(headers[RETRY_AFTER], "1");
    let detail = body["detail"].as_str().expect("a FastAPI detail message");
    assert!(
        detail.contains("too many unfinished runs (3, the limit is 3)"),
        "{detail}"
    );
    let Answer { status, json, .. } = app.get("/runs").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(json["runs"].as_array().map(Vec::len), Some(3), "{json}");
}

#[tokio::test]
async fn finished_runs_leave_room_for_new_ones() {
    let server = TestServer::with(|config| config.runs.max_unfinished = Some(1));
    for _ in 0..4 {
        // Room comes back once the worker settled the previous run's command, just after its last event.
        let run_id = eventually("POST /runs to be taken", GUARD, || async {
            let Answer { status, json, .. } =
                server.post("/runs", json!({"workflow": "demo"})).await;
            match status {
                StatusCode::OK => Ok(json["run_id"].as_str().expect("run_id").to_owned()),
                StatusCode::TOO_MANY_REQUESTS => Err(json),
                other => panic!("{other}: {json}"),
            }
        })
        .await;
        server.wait_status(&run_id, 0, "succeeded").await;
    }
}
