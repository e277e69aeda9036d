//! Delivery semantics over HTTP: lease owners, ack and nack, lease expiry, dead-lettering, and what survives a
//! restart.

use dq_proto::broker::ConsumeItem;
use reqwest::StatusCode;
use serde_json::json;

use crate::util::{TestServer, V1Api};

#[tokio::test]
async fn ack_by_another_owner_is_409_and_a_double_ack_is_400() {
    let server = TestServer::start();
    server.create_topic("jobs", 1).await;
    server.produce("jobs", "work", None).await;
    let mut consumer = server.consume("jobs", "g", "alice", Some(60_000)).await;
    let item = consumer.next_item().await;

    let stolen = server
        .settle("/v1/ack", "jobs", "g", "mallory", &item)
        .await;
    assert_eq!(stolen.error(409, "FAILED_PRECONDITION"), "not owner");
    let stolen = server
        .settle("/v1/nack", "jobs", "g", "mallory", &item)
        .await;
    assert_eq!(stolen.error(409, "FAILED_PRECONDITION"), "not owner");

    let acked = server.settle("/v1/ack", "jobs", "g", "alice", &item).await;
    assert_eq!(acked.status, StatusCode::NO_CONTENT);
    let again = server.settle("/v1/ack", "jobs", "g", "alice", &item).await;
    assert_eq!(
        again.error(400, "INVALID_ARGUMENT"),
        "message is not in-flight"
    );
    let nack_after = server.settle("/v1/nack", "jobs", "g", "alice", &item).await;
    assert_eq!(
        nack_after.error(400, "INVALID_ARGUMENT"),
        "message is not in-flight"
    );
}

#[tokio::test]
async fn nack_redelivers_at_once_with_the_reason() {
    let server = TestServer::start();
    server.create_topic("jobs", 1).await;
    server.produce("jobs", "work", None).await;
    let mut consumer = server.consume("jobs", "g", "o", Some(60_000)).await;
    let first = consumer.next_item().await;
    assert_eq!(first.attempts, 1);

    let nacked = server
        .post(
            "/v1/nack",
            json!({"topic": "jobs", "group": "g", "owner": "o", "partition": 0, "offset": first.offset,
                   "reason": "boom"}),
        )
        .await;
    assert_eq!(nacked.status, StatusCode::NO_CONTENT);

    // The lease is a minute long: only an immediate redelivery arrives inside the guard time.
    let again = consumer.next_item().await;
    assert_eq!((again.offset, again.value.as_str()), (first.offset, "work"));
    assert_eq!(again.attempts, 2);
    assert!(
        again.last_error.contains("boom"),
        "last_error: {:?}",
        again.last_error
    );
}

#[tokio::test]
async fn an_expired_lease_redelivers_with_one_more_attempt() {
    let server = TestServer::start();
    server.create_topic("jobs", 1).await;
    server.produce("jobs", "work", None).await;
    let mut consumer = server.consume("jobs", "g", "o", Some(300)).await;
    let first = consumer.next_item().await;
    let again = consumer.next_item().await;
    assert_eq!(again.offset, first.offset);
    assert_eq!(again.attempts, first.attempts + 1);
    assert!(
        again.last_error.contains("ack_timeout"),
        "last_error: {:?}",
        again.last_error
    );
    // The expired delivery can no longer be settled; the new one can.
    let answer = server.settle("/v1/ack", "jobs", "g", "o", &again).await;
    assert_eq!(answer.status, StatusCode::NO_CONTENT);
}

#[tokio::test]
async fn the_last_failure_moves_the_message_to_the_dlq_topic_with_its_metadata() {
    let server = TestServer::start();
    server.create_topic("jobs", 1).await;
    let envelope = json!({"run_id": "r1", "retry_policy": {"max_attempts": 2, "backoff_ms": 1, "max_backoff_ms": 1}});
    server.produce("jobs", "doomed", Some(envelope)).await;
    let mut consumer = server.consume("jobs", "g", "o", Some(60_000)).await;
    for attempt in 1..=2 {
        let item = consumer.next_item().await;
        assert_eq!(item.attempts, attempt);
        let nacked = server
            .post(
                "/v1/nack",
                json!({"topic": "jobs", "group": "g", "owner": "o", "partition": item.partition,
                       "offset": item.offset, "reason": format!("failure {attempt}")}),
            )
            .await;
        assert_eq!(nacked.status, StatusCode::NO_CONTENT);
    }

    server.wait_for_topic("dlq.jobs").await;
    let mut dlq = server
        .consume("dlq.jobs", "dlq-readers", "o", Some(60_000))
        .await;
    let dead: ConsumeItem = dlq.next_item().await;
    assert_eq!(dead.value, "doomed");
    let info = dead.dlq.expect("dlq metadata on a dead-lettered message");
    assert_eq!(
        (info.topic.as_str(), info.partition, info.offset),
        ("jobs", 0, 0)
    );
    assert_eq!(info.attempts, 2);
    assert!(
        info.last_error.contains("failure 2"),
        "last_error: {:?}",
        info.last_error
    );
    assert!(info.dead_lettered_at_ms > 0);
}

#[tokio::test]
async fn an_ack_out_of_order_never_skips_the_lower_message_across_a_restart() {
    let mut server = TestServer::start();
    server.create_topic("jobs", 1).await;
    server.produce("jobs", "zero", None).await;
    server.produce("jobs", "one", None).await;
    {
        let mut consumer = server.consume("jobs", "g", "o", Some(500)).await;
        let zero = consumer.next_item().await;
        let one = consumer.next_item().await;
        assert_eq!((zero.offset, one.offset), (0, 1));
        let acked = server.settle("/v1/ack", "jobs", "g", "o", &one).await;
        assert_eq!(acked.status, StatusCode::NO_CONTENT);
    }

    server.restart();

    let mut consumer = server.consume("jobs", "g", "o", Some(500)).await;
    let redelivered = consumer.next_item().await;
    assert_eq!(
        (redelivered.offset, redelivered.value.as_str()),
        (0, "zero")
    );
    let acked = server
        .settle("/v1/ack", "jobs", "g", "o", &redelivered)
        .await;
    assert_eq!(acked.status, StatusCode::NO_CONTENT);
    // Offset 1 was acked before the restart and must not come back: the next message is a new one.
    server.produce("jobs", "two", None).await;
    let next = consumer.next_item().await;
    assert_eq!((next.offset, next.value.as_str()), (2, "two"));
}

#[tokio::test]
async fn topics_and_messages_survive_a_restart() {
    let mut server = TestServer::start();
    server.create_topic("empty", 4).await;
    server.create_topic("full", 1).await;
    server
        .produce("full", "kept", Some(json!({"idempotency_key": "once"})))
        .await;

    server.restart();

    let topics = server.get("/v1/topics").await.json;
    assert_eq!(topics["topics"], json!(["empty", "full"]));
    let again = server.post("/v1/topics", json!({"name": "empty"})).await;
    assert_eq!(again.json["partitions"], 4);
    let duplicate = server
        .produce("full", "kept", Some(json!({"idempotency_key": "once"})))
        .await;
    assert_eq!(duplicate["duplicate"], true);
    let mut consumer = server.consume("full", "g", "o", None).await;
    assert_eq!(consumer.next_item().await.value, "kept");
}
