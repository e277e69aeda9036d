//! Bad input gets a clear 4xx with the DriftQ error body, and stores nothing. Asked of the router without a
//! socket (`oneshot`); what was stored is read back through a consume stream of the same router.

use axum::body::Body;
use dq_testkit::{App, request};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::util::{V1Api, app};

/// After the bad requests of a test, the topic's first stored message must be this good one, at offset 0.
async fn assert_nothing_stored(server: &App, topic: &str) {
    server.produce(topic, "good", None).await;
    let mut consumer = server.consume(topic, "check", "o", None).await;
    let first = consumer.next_item().await;
    assert_eq!(
        (first.partition, first.offset, first.value.as_str()),
        (0, 0, "good")
    );
}

#[tokio::test]
async fn malformed_unknown_and_mistyped_produce_bodies_are_400() {
    let server = app().await;
    server.create_topic("t", 1).await;
    let cases: [(&str, &str); 7] = [
        (r#"{"topic": "t", "value": "#, "invalid json body"),
        (
            r#"{"topic": "t", "value": "v"} trailing"#,
            "invalid json body",
        ),
        (r#"["t", "v"]"#, "invalid json body"),
        (
            r#"{"topic": "t", "value": "v", "color": "red"}"#,
            "unknown field `color`",
        ),
        (
            r#"{"topic": "t", "value": "v", "envelope": {"bogus": 1}}"#,
            "unknown field `bogus`",
        ),
        (r#"{"topic": "t", "value": 42}"#, "value"),
        (
            r#"{"topic": "t", "value": "v", "envelope": {"partition_override": "zero"}}"#,
            "partition_override",
        ),
    ];
    for (body, expected) in cases {
        let answer = server.post_raw("/v1/produce", body).await;
        let message = answer.error(400, "INVALID_ARGUMENT");
        assert!(message.contains(expected), "{body}: {message}");
    }
    assert_nothing_stored(&server, "t").await;
}

#[tokio::test]
async fn missing_or_empty_fields_are_400() {
    let server = app().await;
    server.create_topic("t", 1).await;
    for body in [
        json!({}),
        json!({"topic": "t"}),
        json!({"topic": "t", "value": ""}),
        json!({"value": "v"}),
    ] {
        let answer = server.post("/v1/produce", body.clone()).await;
        assert_eq!(
            answer.error(400, "INVALID_ARGUMENT"),
            "topic and value are required",
            "{body}"
        );
    }
    // An empty POST with no query is the query form with nothing in it.
    let empty = server.call("POST", "/v1/produce", &[]).await;
    empty.error(400, "INVALID_ARGUMENT");
    assert_nothing_stored(&server, "t").await;
}

#[tokio::test]
async fn envelope_values_the_broker_refuses_are_400() {
    let server = app().await;
    server.create_topic("t", 2).await;
    for envelope in [
        json!({"partition_override": -1}),
        json!({"partition_override": 2}),
        json!({"deadline": "2001-01-01T00:00:00Z"}),
        json!({"deadline": "not a date"}),
        json!({"retry_policy": {"max_attempts": -3}}),
    ] {
        let answer = server
            .post(
                "/v1/produce",
                json!({"topic": "t", "value": "v", "envelope": envelope}),
            )
            .await;
        assert!(
            answer.status.is_client_error(),
            "{envelope}: {} {}",
            answer.status,
            answer.json
        );
        assert!(
            answer.json["error"].is_string() && answer.json["message"].is_string(),
            "{}",
            answer.json
        );
    }
    assert_nothing_stored(&server, "t").await;
}

#[tokio::test]
async fn a_value_over_the_limit_is_413() {
    let server = app().await;
    server.create_topic("t", 1).await;
    let limit = 1024 * 1024;
    // Just over the value limit: the broker refuses it and says by how much.
    let over = "x".repeat(limit + 1);
    let answer = server
        .post("/v1/produce", json!({"topic": "t", "value": over}))
        .await;
    let message = answer.error(413, "PAYLOAD_TOO_LARGE");
    assert!(message.contains(&(limit + 1).to_string()), "{message}");
    // Far over: the request body limit stops it before it is buffered.
    let huge = "x".repeat(4 * limit);
    let answer = server
        .post("/v1/produce", json!({"topic": "t", "value": huge}))
        .await;
    answer.error(413, "PAYLOAD_TOO_LARGE");
    // Exactly at the limit is fine.
    let at = "y".repeat(limit);
    let answer = server
        .post("/v1/produce", json!({"topic": "t", "value": at}))
        .await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.json);
}

#[tokio::test]
async fn unknown_topics_are_400_everywhere() {
    let server = app().await;
    let produce = server
        .post("/v1/produce", json!({"topic": "ghost", "value": "v"}))
        .await;
    assert_eq!(
        produce.error(400, "INVALID_ARGUMENT"),
        "topic does not exist (create it first)"
    );
    let consume = server.get("/v1/consume?topic=ghost&group=g&owner=o").await;
    consume.error(400, "INVALID_ARGUMENT");
    assert_eq!(server.get("/v1/topics").await.json["topics"], json!([]));
}

#[tokio::test]
async fn consume_without_its_fields_or_with_an_absurd_lease_is_400_before_streaming() {
    let server = app().await;
    server.create_topic("t", 1).await;
    for query in [
        "topic=t&group=g",
        "topic=t&owner=o",
        "group=g&owner=o",
        "topic=t&group=&owner=o",
    ] {
        let answer = server.get(&format!("/v1/consume?{query}")).await;
        assert_eq!(
            answer.error(400, "INVALID_ARGUMENT"),
            "topic, group and owner are required",
            "{query}"
        );
    }
    for lease in ["0", "-5", "soon", "1.5", "3600001", "99999999999999999999"] {
        let answer = server
            .get(&format!(
                "/v1/consume?topic=t&group=g&owner=o&lease_ms={lease}"
            ))
            .await;
        assert_eq!(answer.headers["content-type"], "application/json");
        let message = answer.error(400, "INVALID_ARGUMENT");
        assert!(
            message.starts_with("invalid lease_ms"),
            "{lease}: {message}"
        );
    }
    let unknown = server
        .get("/v1/consume?topic=t&group=g&owner=o&colour=red")
        .await;
    assert!(
        unknown
            .error(400, "INVALID_ARGUMENT")
            .contains("unknown field `colour`")
    );
}

#[tokio::test]
async fn ack_and_nack_with_bad_positions_are_400() {
    let server = app().await;
    server.create_topic("t", 1).await;
    server.produce("t", "v", None).await;
    let base = json!({"topic": "t", "group": "g", "owner": "o", "partition": 0, "offset": 0});
    let with = |key: &str, value: Value| {
        let mut body = base.clone();
        body[key] = value;
        body
    };
    let cases = [
        (with("partition", json!(-1)), "invalid partition"),
        (with("offset", json!(-1)), "invalid offset"),
        (with("offset", json!("zero")), "offset"),
        (
            with("owner", json!("")),
            "topic, group and owner are required",
        ),
        (
            json!({"topic": "t", "group": "g", "owner": "o"}),
            "partition and offset are required",
        ),
        (with("extra", json!(true)), "unknown field `extra`"),
    ];
    for route in ["/v1/ack", "/v1/nack"] {
        for (body, expected) in &cases {
            let answer = server.post(route, body.clone()).await;
            let message = answer.error(400, "INVALID_ARGUMENT");
            assert!(message.contains(expected), "{route} {body}: {message}");
        }
    }
    for delay in [json!(-1), json!(86_400_001)] {
        let answer = server.post("/v1/nack", with("delay_ms", delay)).await;
        assert!(
            answer
                .error(400, "INVALID_ARGUMENT")
                .starts_with("invalid delay_ms")
        );
    }
    // Nothing was settled: the message is still delivered, as its first attempt.
    let mut consumer = server.consume("t", "g", "o", None).await;
    let item = consumer.next_item().await;
    assert_eq!((item.offset, item.attempts), (0, 1));
}

#[tokio::test]
async fn mistyped_topic_bodies_are_400() {
    let server = app().await;
    let answer = server
        .post("/v1/topics", json!({"name": "t", "partitions": "two"}))
        .await;
    assert!(answer.error(400, "INVALID_ARGUMENT").contains("partitions"));
    let answer = server.post("/v1/topics", json!({"name": 7})).await;
    assert!(answer.error(400, "INVALID_ARGUMENT").contains("name"));
    let answer = server.post_raw("/v1/topics?name=t&partitions=x", "").await;
    assert!(answer.error(400, "INVALID_ARGUMENT").contains("partitions"));
    assert_eq!(server.get("/v1/topics").await.json["topics"], json!([]));
}

/// Strings that become part of the broker's stored keys are bounded: over 65,535 bytes the storage engine
/// panicked with a lock held, and every later keyed produce hung. Each is a 400 naming the field and the
/// limit; nothing is stored and the topic keeps working.
#[tokio::test]
async fn oversized_keys_tenants_groups_and_owners_are_400_and_store_nothing() {
    let server = app().await;
    server.create_topic("t", 1).await;
    let cases = [
        (
            json!({"idempotency_key": "k".repeat(70_000)}),
            "envelope.idempotency_key is 70000 bytes, over the limit of 1024 bytes",
        ),
        (
            json!({"idempotency_key": "k".repeat(65_525)}),
            "envelope.idempotency_key is 65525 bytes, over the limit of 1024 bytes",
        ),
        (
            json!({"idempotency_key": "k", "tenant_id": "t".repeat(70_000)}),
            "envelope.tenant_id is 70000 bytes, over the limit of 255 bytes",
        ),
        (
            json!({"idempotency_key": "k", "tenant_id": "t".repeat(65_525)}),
            "envelope.tenant_id is 65525 bytes, over the limit of 255 bytes",
        ),
    ];
    for (envelope, expected) in cases {
        let answer = server
            .post(
                "/v1/produce",
                json!({"topic": "t", "value": "v", "envelope": envelope}),
            )
            .await;
        assert_eq!(answer.error(400, "INVALID_ARGUMENT"), expected);
    }
    let keyed = server
        .produce("t", "keyed", Some(json!({"idempotency_key": "fine"})))
        .await;
    assert_eq!(
        (keyed["offset"].as_u64(), keyed["duplicate"].as_bool()),
        (Some(0), Some(false))
    );
    let again = server
        .produce("t", "keyed", Some(json!({"idempotency_key": "fine"})))
        .await;
    assert_eq!(again["duplicate"], true);
    assert_eq!(server.produce("t", "plain", None).await["offset"], 1);

    let long_group = "g".repeat(256);
    let answer = server
        .get(&format!("/v1/consume?topic=t&group={long_group}&owner=o"))
        .await;
    assert_eq!(
        answer.error(400, "INVALID_ARGUMENT"),
        "group is 256 bytes, over the limit of 255 bytes"
    );
    let long_owner = "o".repeat(10_000);
    let answer = server
        .get(&format!("/v1/consume?topic=t&group=g&owner={long_owner}"))
        .await;
    assert_eq!(
        answer.error(400, "INVALID_ARGUMENT"),
        "owner is 10000 bytes, over the limit of 255 bytes"
    );
    let mut consumer = server.consume("t", "g", "o", Some(60_000)).await;
    let item = consumer.next_item().await;
    assert_eq!((item.offset, item.value.as_str()), (0, "keyed"));
    let huge = "x".repeat(70_000);
    for route in ["/v1/ack", "/v1/nack"] {
        for (group, owner, field) in [(huge.as_str(), "o", "group"), ("g", huge.as_str(), "owner")]
        {
            let answer = server.settle(route, "t", group, owner, &item).await;
            assert_eq!(
                answer.error(400, "INVALID_ARGUMENT"),
                format!("{field} is 70000 bytes, over the limit of 255 bytes"),
                "{route}"
            );
        }
    }
    let acked = server.settle("/v1/ack", "t", "g", "o", &item).await;
    assert_eq!(acked.status, StatusCode::NO_CONTENT);
}

/// `lease_ms=1` without acks gave 17,000 redeliveries per second: under 100 ms is a 400 naming the minimum.
#[tokio::test]
async fn a_lease_under_the_minimum_is_400_naming_it() {
    let server = app().await;
    server.create_topic("t", 1).await;
    for lease in ["1", "99"] {
        let answer = server
            .get(&format!(
                "/v1/consume?topic=t&group=g&owner=o&lease_ms={lease}"
            ))
            .await;
        assert_eq!(
            answer.error(400, "INVALID_ARGUMENT"),
            format!(
                "invalid lease_ms: \"{lease}\" is not a whole number of milliseconds between 100 (the minimum) and 3600000"
            )
        );
    }
    server.produce("t", "v", None).await;
    let mut consumer = server.consume("t", "g", "o", Some(100)).await;
    assert_eq!(consumer.next_item().await.value, "v");
}

#[tokio::test]
async fn non_json_bodies_are_415_and_store_nothing() {
    let server = app().await;
    server.create_topic("t", 1).await;
    for content_type in [
        "text/plain",
        "text/plain;charset=UTF-8",
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=x",
    ] {
        for (path, body) in [
            ("/v1/produce", r#"{"topic":"t","value":"v"}"#),
            ("/v1/topics", r#"{"name":"u","partitions":1}"#),
        ] {
            let answer = server
                .send(
                    request("POST", path)
                        .header("content-type", content_type)
                        .body(Body::from(body))
                        .unwrap(),
                )
                .await;
            let message = answer.error(415, "UNSUPPORTED_MEDIA_TYPE");
            assert!(message.contains("content-type"), "{message}");
        }
    }
    // Without a type, a body is read as JSON; an empty body with any type leaves the query string in charge.
    let response = server
        .send(
            request("POST", "/v1/topics")
                .body(Body::from(r#"{"name":"u","partitions":1}"#))
                .unwrap(),
        )
        .await;
    assert_eq!(response.status, StatusCode::CREATED);
    let response = server
        .call(
            "POST",
            "/v1/topics?name=w",
            &[("content-type", "application/x-www-form-urlencoded")],
        )
        .await;
    assert_eq!(response.status, StatusCode::CREATED);
    let topics = server.get("/v1/topics").await.json;
    assert_eq!(topics["topics"], json!(["t", "u", "w"]));
    assert_nothing_stored(&server, "t").await;
}

#[tokio::test]
async fn query_strings_that_are_not_utf8_are_400_and_store_nothing() {
    let server = app().await;
    server.create_topic("t", 1).await;
    for (path, field) in [
        ("/v1/produce?topic=t&value=%FF", "\"value\""),
        ("/v1/produce?topic=t&value=ok&key=%C3%28", "\"key\""),
        ("/v1/topics?name=%FF", "\"name\""),
        ("/v1/produce?topic=t&value=v&%FF=1", "name"),
    ] {
        let message = server
            .call("POST", path, &[])
            .await
            .error(400, "INVALID_ARGUMENT");
        assert!(
            message.contains("utf-8") && message.contains(field),
            "{path}: {message}"
        );
    }
    let message = server
        .get("/v1/read?topic=%FF")
        .await
        .error(400, "INVALID_ARGUMENT");
    assert!(message.contains("utf-8"), "{message}");
    let topics = server.get("/v1/topics").await.json;
    assert_eq!(topics["topics"], json!(["t"]));
    assert_nothing_stored(&server, "t").await;
}
