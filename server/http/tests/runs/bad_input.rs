//! Bad input answers in FastAPI's shape: 404 for unknown runs, 422 naming the problem, 413 for big inputs.

use reqwest::StatusCode;
use serde_json::json;

use crate::util::TestServer;

const UNKNOWN: &str = "0123456789abcdef0123456789abcdef";

#[tokio::test]
async fn unknown_runs_are_404_with_a_json_detail() {
    let server = TestServer::start();
    for path in [
        format!("/runs/{UNKNOWN}"),
        format!("/runs/{UNKNOWN}/events"),
        format!("/runs/{UNKNOWN}/timeline"),
    ] {
        let (status, body) = server.get(&path).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}");
        assert_eq!(body, json!({"detail": "run not found"}), "{path}");
    }
    for path in [
        format!("/runs/{UNKNOWN}/replay"),
        format!("/runs/{UNKNOWN}/emit"),
    ] {
        let (status, body) = server.post(&path, json!({"event": {}})).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}");
        assert_eq!(body, json!({"detail": "run not found"}), "{path}");
    }
}

#[tokio::test]
async fn fail_at_that_is_no_step_is_422_naming_the_steps() {
    let server = TestServer::start();
    let (status, body) = server.post("/runs", json!({"fail_at": "deploy"})).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let msg = body["detail"][0]["msg"].as_str().unwrap();
    assert!(
        msg.contains("fetch_input, transform, tool_call, finalize"),
        "{msg}"
    );
    assert_eq!(body["detail"][0]["loc"], json!(["body", "fail_at"]));

    let run_id = server.create(json!({})).await;
    let (status, body) = server
        .post(
            &format!("/runs/{run_id}/replay"),
            json!({"fail_at": "deploy"}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    // A rejected replay burns no seq.
    let (_, answer) = server
        .post(&format!("/runs/{run_id}/replay"), json!({"fail_at": null}))
        .await;
    assert_eq!(answer["seq"], 1);
}

#[tokio::test]
async fn malformed_bodies_are_422_with_a_detail_list() {
    let server = TestServer::start();
    let (status, body) = server.post_raw("/runs", "{\"workflow\": ").await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(body["detail"][0]["type"], "json_invalid");
    let (status, body) = server.post_raw("/runs", "{\"input\": 5}").await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        body["detail"][0]["msg"].as_str().unwrap().contains("input") || body["detail"].is_array()
    );
    let (status, _) = server.post("/runs", json!({"workflow": "nope"})).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let (status, _) = server.post("/runs", json!({"max_attempts": 0})).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let run_id = server.create(json!({})).await;
    let (status, _) = server.post_raw(&format!("/runs/{run_id}/emit"), "{}").await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
}

#[tokio::test]
async fn an_input_over_the_limit_is_413() {
    let server = TestServer::with(|c| c.runs.max_input_bytes = 1024);
    let big = "x".repeat(2048);
    let (status, body) = server.post("/runs", json!({"input": {"blob": big}})).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    assert!(
        body["detail"].as_str().unwrap().contains("over the limit"),
        "{body}"
    );
}
