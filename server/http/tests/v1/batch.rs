//! The batch forms (dq additions): `POST /v1/produce` with `messages` and `POST /v1/ack` with `offsets`, all
//! or none, with their 400 / 413 errors, `/v1/version` announcing them, and dq's HTTP queue using them.

use std::time::Duration;

use dq_proto::broker::{FEATURE_BATCH, ProducedBatch, Version};
use dq_runs::queue::ConsumeSpec;
use dq_runs::{HttpQueue, Queue};
use futures::StreamExt;
use reqwest::StatusCode;
use serde_json::json;

use crate::counting_proxy::CountingProxy;
use crate::util::{GUARD, TestServer, V1Api};

#[tokio::test]
async fn version_announces_the_batch_forms() {
    let server = TestServer::start();
    let version: Version = serde_json::from_value(server.get("/v1/version").await.json).unwrap();
    assert_eq!(version.features, [FEATURE_BATCH]);
}

#[tokio::test]
async fn a_produce_batch_answers_per_message_and_an_ack_batch_settles_them() {
    let server = TestServer::start();
    server.create_topic("t", 2).await;
    let answer = server
        .post(
            "/v1/produce",
            json!({"topic": "t", "messages": [
                {"value": "a", "envelope": {"partition_override": 0, "idempotency_key": "k"}},
                {"value": "b", "envelope": {"partition_override": 1}},
                {"value": "a again", "envelope": {"partition_override": 0, "idempotency_key": "k"}},
                {"value": "c", "key": "x", "envelope": {"partition_override": 0}},
            ]}),
        )
        .await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.json);
    let batch: ProducedBatch = serde_json::from_value(answer.json).unwrap();
    let seen: Vec<(u32, u64, bool)> = batch
        .messages
        .iter()
        .map(|m| (m.partition, m.offset, m.duplicate))
        .collect();
    assert_eq!(
        seen,
        [(0, 0, false), (1, 0, false), (0, 0, true), (0, 1, false)]
    );

    let mut stream = server.consume("t", "g", "o", None).await;
    let mut items = Vec::new();
    for _ in 0..3 {
        items.push(stream.next_item().await);
    }
    let mut values: Vec<&str> = items.iter().map(|i| i.value.as_str()).collect();
    values.sort_unstable();
    assert_eq!(values, ["a", "b", "c"]);

    // One bad position refuses the whole batch: nothing is acked.
    let bad = server
        .post(
            "/v1/ack",
            json!({"topic": "t", "group": "g", "owner": "o",
                   "offsets": [{"partition": 0, "offset": 0}, {"partition": 0, "offset": 7}]}),
        )
        .await;
    assert_eq!(
        bad.error(400, "INVALID_ARGUMENT"),
        "message is not in-flight"
    );
    // Bare offsets take the request's partition; objects name their own.
    let acked = server
        .post(
            "/v1/ack",
            json!({"topic": "t", "group": "g", "owner": "o", "partition": 0,
                   "offsets": [0, 1, {"partition": 1, "offset": 0}]}),
        )
        .await;
    assert_eq!(acked.status, StatusCode::NO_CONTENT, "{}", acked.json);
    let again = server.settle("/v1/ack", "t", "g", "o", &items[0]).await;
    assert_eq!(
        again.error(400, "INVALID_ARGUMENT"),
        "message is not in-flight"
    );
}

#[tokio::test]
async fn malformed_batches_get_clear_400s_and_oversized_ones_413s() {
    let server = TestServer::start();
    server.create_topic("t", 1).await;
    let cases = [
        (
            json!({"topic": "t", "messages": []}),
            "messages is empty: a batch needs at least one item",
        ),
        (
            json!({"topic": "t", "messages": [{"value": "a"}, {"key": "k"}]}),
            "messages[1]: value is required",
        ),
        (json!({"messages": [{"value": "a"}]}), "topic is required"),
        (
            json!({"topic": "t", "value": "a", "messages": [{"value": "a"}]}),
            "a batch takes key, value and envelope per message in messages, not at the top",
        ),
    ];
    for (body, expected) in cases {
        let message = server
            .post("/v1/produce", body)
            .await
            .error(400, "INVALID_ARGUMENT");
        assert_eq!(message, expected);
    }
    let unknown = server
        .post("/v1/produce", json!({"topic": "t", "messages": [{"value": "a"}, {"value": "b", "envelope": {"target_topic": "nope"}}]}))
        .await;
    assert_eq!(
        unknown.error(400, "INVALID_ARGUMENT"),
        "messages[1]: topic does not exist (create it first)"
    );
    let stored = server
        .get("/v1/read?topic=t&partition=0&from=0&limit=10")
        .await;
    assert_eq!(
        stored.json["messages"],
        json!([]),
        "a refused batch stores nothing"
    );

    let over: Vec<_> = (0..=dq_broker::MAX_BATCH)
        .map(|_| json!({"value": "v"}))
        .collect();
    let message = server
        .post("/v1/produce", json!({"topic": "t", "messages": over}))
        .await
        .error(413, "PAYLOAD_TOO_LARGE");
    assert_eq!(
        message,
        "messages holds 1001 items, over the limit of 1000 per request"
    );
    let offsets: Vec<u64> = (0..=1000).collect();
    let message = server
        .post(
            "/v1/ack",
            json!({"topic": "t", "group": "g", "owner": "o", "partition": 0, "offsets": offsets}),
        )
        .await
        .error(413, "PAYLOAD_TOO_LARGE");
    assert!(message.starts_with("offsets holds 1001 items"));

    let ack_cases = [
        (
            json!({"topic": "t", "group": "g", "owner": "o", "offsets": [3]}),
            "offsets[0]: a bare offset needs the request's partition",
        ),
        (
            json!({"topic": "t", "group": "g", "owner": "o", "partition": 0, "offsets": [-1]}),
            "offsets[0]: partition 0 offset -1 is not a position",
        ),
        (
            json!({"topic": "t", "group": "g", "owner": "o", "partition": 0, "offset": 1, "offsets": [1]}),
            "give offset (one message) or offsets (a batch), not both",
        ),
        (
            json!({"topic": "t", "group": "g", "owner": "o", "partition": 0, "offsets": [1, 1]}),
            "partition 0 offset 1 is listed twice",
        ),
    ];
    for (body, expected) in ack_cases {
        let message = server
            .post("/v1/ack", body)
            .await
            .error(400, "INVALID_ARGUMENT");
        assert_eq!(message, expected);
    }
    let nack = server
        .post(
            "/v1/nack",
            json!({"topic": "t", "group": "g", "owner": "o", "partition": 0, "offsets": [1]}),
        )
        .await;
    assert_eq!(
        nack.error(400, "INVALID_ARGUMENT"),
        "offsets is for ack only: nack one message at a time"
    );
}

/// dq's HTTP queue (a remote `dq worker`) sends acks made while another is under way as one batch request.
#[tokio::test]
async fn the_http_queue_sends_acks_made_together_as_one_batch() {
    let server = TestServer::start();
    server.create_topic("t", 1).await;
    for i in 0..40 {
        server.produce("t", &format!("v{i}"), None).await;
    }
    let base = server.url("");
    let base = base.trim_end_matches('/');
    let spec = ConsumeSpec {
        topic: "t".into(),
        group: "g".into(),
        owner: "o".into(),
        lease: Duration::from_secs(30),
    };
    let direct = HttpQueue::new(base, None).unwrap();
    let mut stream = direct.consume(&spec).await.unwrap();
    let mut items = Vec::new();
    for _ in 0..40 {
        let item = tokio::time::timeout(GUARD, stream.next()).await.unwrap();
        items.push(item.unwrap().unwrap());
    }
    let proxy = CountingProxy::start(base.to_owned(), "/v1/ack", "offsets", false).await;
    let queue = HttpQueue::new(&proxy.url, None).unwrap();
    // The first ack learns from /v1/version that the server takes batches; the 39 made together (before this
    // current-thread test yields to the task that sends them) go out in one request.
    queue
        .ack(&spec, items[0].partition, items[0].offset)
        .await
        .unwrap();
    let acks = items[1..]
        .iter()
        .map(|item| queue.ack(&spec, item.partition, item.offset));
    for result in futures::future::join_all(acks).await {
        result.unwrap();
    }
    assert_eq!(*proxy.items_per_request.lock().unwrap(), [1, 39]);
    let again = direct.ack(&spec, items[5].partition, items[5].offset).await;
    assert!(again.is_err(), "every message is acked: {again:?}");
    proxy.task.abort();
}

/// Against a broker that does not announce the batch forms (the original), every ack stays its own request.
#[tokio::test]
async fn the_http_queue_acks_one_by_one_when_the_server_lacks_the_batch_forms() {
    let server = TestServer::start();
    server.create_topic("t", 1).await;
    for i in 0..10 {
        server.produce("t", &format!("v{i}"), None).await;
    }
    let base = server.url("");
    let base = base.trim_end_matches('/');
    let spec = ConsumeSpec {
        topic: "t".into(),
        group: "g".into(),
        owner: "o".into(),
        lease: Duration::from_secs(30),
    };
    let direct = HttpQueue::new(base, None).unwrap();
    let mut stream = direct.consume(&spec).await.unwrap();
    let mut items = Vec::new();
    for _ in 0..10 {
        let item = tokio::time::timeout(GUARD, stream.next()).await.unwrap();
        items.push(item.unwrap().unwrap());
    }
    let proxy = CountingProxy::start(base.to_owned(), "/v1/ack", "offsets", true).await;
    let queue = HttpQueue::new(&proxy.url, None).unwrap();
    let acks = items
        .iter()
        .map(|item| queue.ack(&spec, item.partition, item.offset));
    for result in futures::future::join_all(acks).await {
        result.unwrap();
    }
    assert_eq!(*proxy.items_per_request.lock().unwrap(), [1; 10]);
    proxy.task.abort();
}
