//! Each route's success and error shapes, the fallbacks, request ids and `/metrics`.

use dq_proto::broker::{Health, Produced, TopicCreated, TopicList, Version};
use dq_testkit::App;
use reqwest::StatusCode;
use serde_json::json;

use crate::util::{TestServer, V1Api, client};

#[tokio::test]
async fn healthz_and_version() {
    let server = TestServer::start();
    let health = server.get("/v1/healthz").await;
    assert_eq!(health.status, StatusCode::OK);
    let health: Health = serde_json::from_value(health.json).unwrap();
    assert_eq!(health.status, "ok");

    let version = server.get("/v1/version").await;
    assert_eq!(version.status, StatusCode::OK);
    let version: Version = serde_json::from_value(version.json).unwrap();
    assert!(!version.version.is_empty());
    assert!(!version.commit.is_empty());
    assert!(version.wal_enabled, "durability is on by default");
}

#[tokio::test]
async fn topics_are_created_listed_and_recreated_with_201() {
    let server = TestServer::start();
    let created = server
        .post("/v1/topics", json!({"name": "orders", "partitions": 3}))
        .await;
    assert_eq!(created.status, StatusCode::CREATED);
    let created: TopicCreated = serde_json::from_value(created.json).unwrap();
    assert_eq!(
        created,
        TopicCreated {
            status: "created".into(),
            name: "orders".into(),
            partitions: 3
        }
    );

    // Re-creating answers 201 with the existing partition count, never 409.
    let again = server
        .post("/v1/topics", json!({"name": "orders", "partitions": 1}))
        .await;
    assert_eq!(again.status, StatusCode::CREATED);
    assert_eq!(again.json["partitions"], 3);

    // The query form, and the default of one partition.
    let by_query = client()
        .post(server.url("/v1/topics?name=audit"))
        .send()
        .await
        .unwrap();
    assert_eq!(by_query.status(), StatusCode::CREATED);
    let by_query: TopicCreated = by_query.json().await.unwrap();
    assert_eq!(by_query.partitions, 1);

    let list = server.get("/v1/topics").await;
    assert_eq!(list.status, StatusCode::OK);
    let list: TopicList = serde_json::from_value(list.json).unwrap();
    assert_eq!(list.topics, vec!["audit".to_owned(), "orders".to_owned()]);
}

#[tokio::test]
async fn topic_errors() {
    let server = TestServer::start();
    let message = server
        .post("/v1/topics", json!({}))
        .await
        .error(400, "INVALID_ARGUMENT");
    assert_eq!(message, "name is required");
    for partitions in [json!(0), json!(-1), json!(1_000_000)] {
        let answer = server
            .post("/v1/topics", json!({"name": "t", "partitions": partitions}))
            .await;
        assert!(
            answer
                .error(400, "INVALID_ARGUMENT")
                .starts_with("invalid partitions")
        );
    }
    assert_eq!(server.get("/v1/topics").await.json["topics"], json!([]));
}

#[tokio::test]
async fn produce_answers_where_the_message_went() {
    let server = TestServer::start();
    server.create_topic("orders", 1).await;
    let produced: Produced =
        serde_json::from_value(server.produce("orders", "first", None).await).unwrap();
    assert_eq!(produced.status, "produced");
    assert_eq!(produced.topic, "orders");
    assert_eq!(
        (produced.partition, produced.offset, produced.duplicate),
        (0, 0, false)
    );

    // The query form.
    let by_query = client()
        .post(server.url("/v1/produce?topic=orders&value=second&key=k"))
        .send()
        .await
        .unwrap();
    assert_eq!(by_query.status(), StatusCode::OK);
    let by_query: Produced = by_query.json().await.unwrap();
    assert_eq!(by_query.offset, 1);

    let unknown = server
        .post("/v1/produce", json!({"topic": "nope", "value": "v"}))
        .await;
    assert_eq!(
        unknown.error(400, "INVALID_ARGUMENT"),
        "topic does not exist (create it first)"
    );
}

#[tokio::test]
async fn a_duplicate_produce_answers_200_and_stores_nothing() {
    let server = TestServer::start();
    server.create_topic("events", 1).await;
    let envelope = json!({"idempotency_key": "evt:1:created"});
    let first = server
        .produce("events", "one", Some(envelope.clone()))
        .await;
    let second = server.produce("events", "one again", Some(envelope)).await;
    assert_eq!(first["duplicate"], false);
    assert_eq!(second["duplicate"], true);
    assert_eq!(second["offset"], first["offset"]);
    server.produce("events", "two", None).await;

    // The stream holds "one" then "two": nothing was stored for the duplicate.
    let mut consumer = server.consume("events", "g", "o", None).await;
    let one = consumer.next_item().await;
    let two = consumer.next_item().await;
    assert_eq!((one.offset, one.value.as_str()), (0, "one"));
    assert_eq!((two.offset, two.value.as_str()), (1, "two"));
}

#[tokio::test]
async fn consume_sends_headers_at_once_then_items_in_order() {
    let server = TestServer::start();
    server.create_topic("orders", 1).await;
    // Headers arrive before any message exists (`consume` guards the wait).
    let mut consumer = server.consume("orders", "g", "o", Some(5000)).await;
    for i in 0..20 {
        server
            .produce("orders", &format!("m{i}"), Some(json!({"run_id": "r1"})))
            .await;
    }
    for i in 0..20u64 {
        let item = consumer.next_item().await;
        assert_eq!((item.partition, item.offset), (0, i));
        assert_eq!(item.value, format!("m{i}"));
        assert_eq!(item.attempts, 1);
        assert_eq!(item.last_error, "");
        assert_eq!(
            item.envelope.as_ref().and_then(|e| e.run_id.as_deref()),
            Some("r1")
        );
        let ack = server.settle("/v1/ack", "orders", "g", "o", &item).await;
        assert_eq!(ack.status, StatusCode::NO_CONTENT);
    }
}

#[tokio::test]
async fn messages_keep_their_order_within_each_partition() {
    let server = TestServer::start();
    server.create_topic("multi", 4).await;
    for i in 0..40 {
        let key = format!("k{}", i % 7);
        let answer = server
            .post(
                "/v1/produce",
                json!({"topic": "multi", "key": key, "value": format!("{i}")}),
            )
            .await;
        assert_eq!(answer.status, StatusCode::OK);
    }
    let mut consumer = server.consume("multi", "g", "o", Some(60_000)).await;
    let mut next_offset = [0u64; 4];
    for _ in 0..40 {
        let item = consumer.next_item().await;
        let p = item.partition as usize;
        assert_eq!(item.offset, next_offset[p], "partition {p} out of order");
        next_offset[p] += 1;
        let ack = server.settle("/v1/ack", "multi", "g", "o", &item).await;
        assert_eq!(ack.status, StatusCode::NO_CONTENT);
    }
    assert_eq!(next_offset.iter().sum::<u64>(), 40);
}

#[tokio::test]
async fn a_keepalive_arrives_on_an_idle_stream() {
    let server = TestServer::start();
    server.create_topic("quiet", 1).await;
    let mut consumer = server.consume("quiet", "g", "o", None).await;
    assert_eq!(consumer.next_line().await.as_deref(), Some(""));
    assert_eq!(consumer.next_line().await.as_deref(), Some(""));
}

#[tokio::test]
async fn shutdown_ends_open_streams() {
    let mut server = TestServer::start();
    server.create_topic("quiet", 1).await;
    let mut consumer = server.consume("quiet", "g", "o", None).await;
    let reader = tokio::spawn(async move { while consumer.next_line().await.is_some() {} });
    // `stop` returns only once `serve` has; the guard in `next_line` turns a stuck stream into a failure.
    tokio::task::spawn_blocking(move || server.stop())
        .await
        .unwrap();
    reader.await.unwrap();
}

#[tokio::test]
async fn unknown_paths_and_wrong_methods_answer_json() {
    let server = App::over_a_temp_dir(|_| {}).await;
    let missing = server.get("/v1/nope").await;
    assert!(missing.error(404, "NOT_FOUND").contains("/v1/nope"));
    assert_eq!(missing.headers["content-type"], "application/json");

    let wrong = server.call("DELETE", "/v1/topics", &[]).await;
    let allow = wrong.headers["allow"].to_str().unwrap().to_owned();
    assert!(
        allow.contains("GET") && allow.contains("POST"),
        "allow: {allow}"
    );
    wrong.error(405, "METHOD_NOT_ALLOWED");

    let produce_by_get = server.get("/v1/produce").await;
    produce_by_get.error(405, "METHOD_NOT_ALLOWED");
    assert_eq!(produce_by_get.headers["allow"], "POST");

    // Outside /v1 the runs API's FastAPI shape applies.
    let elsewhere = server.get("/nowhere").await;
    assert_eq!(elsewhere.status, StatusCode::NOT_FOUND);
    assert_eq!(elsewhere.json, json!({"detail": "Not Found"}));
}

#[tokio::test]
async fn every_response_carries_a_request_id() {
    let server = App::over_a_temp_dir(|_| {}).await;
    let echoed = server
        .call("GET", "/v1/healthz", &[("x-request-id", "abc-123")])
        .await;
    assert_eq!(echoed.headers["x-request-id"], "abc-123");

    let generated = server.call("GET", "/v1/healthz", &[]).await;
    let first = generated.headers["x-request-id"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(!first.is_empty());
    let again = server.call("GET", "/v1/healthz", &[]).await;
    assert_ne!(again.headers["x-request-id"].to_str().unwrap(), first);

    // Errors and fallbacks too.
    assert!(
        server
            .get("/v1/nope")
            .await
            .headers
            .contains_key("x-request-id")
    );
    let bad = server.post("/v1/produce", json!({})).await;
    assert!(bad.headers.contains_key("x-request-id"));
}

#[tokio::test]
async fn metrics_expose_counters_and_gauges() {
    let server = TestServer::start();
    server.create_topic("orders", 1).await;
    server.produce("orders", "a", None).await;
    server.produce("orders", "b", None).await;
    let mut consumer = server.consume("orders", "billing", "o", Some(60_000)).await;
    let a = consumer.next_item().await;
    let _b = consumer.next_item().await;
    assert_eq!(
        server
            .settle("/v1/ack", "orders", "billing", "o", &a)
            .await
            .status,
        204
    );
    // A rejected produce is counted by reason.
    server
        .post("/v1/produce", json!({"topic": "orders"}))
        .await
        .error(400, "INVALID_ARGUMENT");

    let response = client().get(server.url("/metrics")).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain; version=0.0.4")
    );
    let text = response.text().await.unwrap();
    for line in [
        "# TYPE dq_produced_messages_total counter",
        "dq_produced_messages_total{topic=\"orders\"} 2",
        "dq_consumed_messages_total{topic=\"orders\"} 2",
        "dq_acked_messages_total{topic=\"orders\"} 1",
        "# TYPE dq_in_flight_messages gauge",
        "dq_in_flight_messages{topic=\"orders\",group=\"billing\"} 1",
        "dq_consumer_lag_messages{topic=\"orders\",group=\"billing\"} 1",
        "dq_produce_rejected_total{reason=\"invalid_request\"} 1",
        "dq_dead_lettered_total 0",
        "dq_produce_duplicates_total 0",
    ] {
        assert!(
            text.lines().any(|l| l == line),
            "missing {line:?} in:\n{text}"
        );
    }
}

#[tokio::test]
async fn a_full_backlog_is_429_with_a_retry_hint() {
    let server = TestServer::with(|config| config.broker.max_partition_backlog = 2);
    server.create_topic("small", 1).await;
    server.produce("small", "a", None).await;
    server.produce("small", "b", None).await;
    let full = server
        .post("/v1/produce", json!({"topic": "small", "value": "c"}))
        .await;
    full.error(429, "RESOURCE_EXHAUSTED");
    assert!(
        full.json["reason"].as_str().is_some_and(|r| !r.is_empty()),
        "{}",
        full.json
    );
    let retry_ms = full.json["retry_after_ms"]
        .as_u64()
        .expect("retry_after_ms");
    let retry_s: u64 = full.headers["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(retry_s >= 1 && retry_s * 1000 >= retry_ms);
}
