//! The requests of the original starter's Python DriftQ client (`api/app/driftq_client.py`), byte for byte
//! in shape: JSON bodies for topics / produce / ack / nack, query parameters for consume, and the client's
//! habit of adding `owner` to each consumed message and echoing it back.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::util::{Consumer, GUARD, TestServer, V1Api, client};

#[tokio::test]
async fn the_original_python_client_works_unchanged() {
    let server = TestServer::start();
    let http = client();

    // healthz(): raise_for_status() then .json().
    let health = http.get(server.url("/v1/healthz")).send().await.unwrap();
    assert!(health.status().is_success());
    let health: Value = health.json().await.unwrap();
    assert_eq!(health["status"], "ok");

    // ensure_topic(): {"name", "partitions": 1}; 200/201/204/409 all count as success, twice in a row.
    for _ in 0..2 {
        let created = http
            .post(server.url("/v1/topics"))
            .json(&json!({"name": "runs.commands", "partitions": 1}))
            .send()
            .await
            .unwrap();
        assert!([200, 201, 204, 409].contains(&created.status().as_u16()));
    }

    // produce(): the value is a compact JSON string; the envelope carries tenant and idempotency key (the
    // starter's API also puts run_id there).
    let run_id = "0123456789abcdef0123456789abcdef";
    let command = json!({"ts": 1, "type": "run.command", "run_id": run_id, "workflow": "demo",
                         "input": {}, "fail_at": "tool_call"});
    let value = serde_json::to_string(&command).unwrap();
    let payload = json!({
        "topic": "runs.commands",
        "value": value,
        "envelope": {"run_id": run_id, "idempotency_key": format!("cmd:{run_id}:0")},
    });
    for _ in 0..2 {
        let produced = http
            .post(server.url("/v1/produce"))
            .json(&payload)
            .send()
            .await
            .unwrap();
        assert!([200, 201, 202, 204].contains(&produced.status().as_u16()));
    }
    // The same call with a key and a tenant, to another topic (so the stream below holds one message).
    server.create_topic("runs.dlq", 1).await;
    let with_key = json!({"topic": "runs.dlq", "value": "{\"run_id\":\"x\"}", "key": "k",
                          "envelope": {"tenant_id": "t1", "idempotency_key": "dlq:x:0:3"}});
    let produced = http
        .post(server.url("/v1/produce"))
        .json(&with_key)
        .send()
        .await
        .unwrap();
    assert_eq!(produced.status(), StatusCode::OK);

    // consume_stream(): query parameters, lease_ms as a string, blank lines skipped.
    let params = [
        ("topic", "runs.commands"),
        ("group", "demo-worker"),
        ("owner", "demo-worker"),
        ("lease_ms", "30000"),
    ];
    let response = tokio::time::timeout(
        GUARD,
        http.get(server.url("/v1/consume")).query(&params).send(),
    )
    .await
    .unwrap()
    .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let mut stream = Consumer::new(response);
    let line = loop {
        let line = stream.next_line().await.expect("a message");
        if !line.is_empty() {
            break line;
        }
    };
    let mut msg: Value = serde_json::from_str(&line).unwrap();
    let decoded: Value = serde_json::from_str(msg["value"].as_str().unwrap()).unwrap();
    assert_eq!(decoded, command);
    msg["owner"] = json!("demo-worker");

    // nack(): exactly these five fields, then the same message comes back.
    let settle_body = |msg: &Value| {
        json!({"topic": "runs.commands", "group": "demo-worker", "owner": msg["owner"],
               "partition": msg["partition"], "offset": msg["offset"]})
    };
    let nacked = http
        .post(server.url("/v1/nack"))
        .json(&settle_body(&msg))
        .send()
        .await
        .unwrap();
    assert!([200, 204].contains(&nacked.status().as_u16()));
    let again: Value = loop {
        let line = stream.next_line().await.expect("the redelivery");
        if !line.is_empty() {
            break serde_json::from_str(&line).unwrap();
        }
    };
    assert_eq!(again["offset"], msg["offset"]);
    assert_eq!(again["attempts"], 2);

    // ack(): the same five fields.
    let acked = http
        .post(server.url("/v1/ack"))
        .json(&settle_body(&msg))
        .send()
        .await
        .unwrap();
    assert!([200, 204].contains(&acked.status().as_u16()));
}
