//! SSE frames carry each event as the JSON it was stored with: an event written straight to a run's timeline
//! topic keeps its own key order, and one lacking a field every event has is sent with it filled in.

use std::time::Duration;

use futures::StreamExt;
use serde_json::json;

use crate::util::{GUARD, RunsApi, TestServer};

#[tokio::test]
async fn sse_sends_each_event_as_stored_and_fills_in_what_one_lacks() {
    let server = TestServer::with(|c| c.runs.workers = 0);
    let run_id = server.create(json!({})).await;
    let topic = format!("runs.events.{run_id}");
    let stored =
        format!(r#"{{"type":"note","run_id":"{run_id}","ts":5,"zeta":1,"alpha":{{"b":2,"a":1}}}}"#);
    let lacking = format!(r#"{{"type":"note.bare","run_id":"{run_id}"}}"#);
    for value in [&stored, &lacking] {
        let answer = server
            .post("/v1/produce", json!({"topic": topic, "value": value}))
            .await;
        assert_eq!(answer.status, reqwest::StatusCode::OK, "{}", answer.json);
    }
    let response = server
        .client()
        .get(server.url(&format!("/runs/{run_id}/events")))
        .timeout(Duration::from_secs(3600))
        .send()
        .await
        .unwrap();
    let mut body = response.bytes_stream();
    let mut text = String::new();
    let filled = format!(r#"data: {{"ts":0,"type":"note.bare","run_id":"{run_id}"}}"#);
    tokio::time::timeout(GUARD, async {
        while !text.contains(&filled) {
            let chunk = body.next().await.expect("the stream stays open").unwrap();
            text.push_str(&String::from_utf8_lossy(&chunk));
        }
    })
    .await
    .unwrap_or_else(|_| panic!("no frame for the bare event in: {text}"));
    assert!(text.contains(&format!("data: {stored}\n")), "{text}");
}
