//! Limits that keep the server's memory bounded, over HTTP: the topic and partition caps, `DELETE
//! /v1/topics/{name}` and `/metrics` whose series do not grow with every topic.

use reqwest::StatusCode;
use serde_json::json;

use crate::util::{Answer, TestServer, client};

#[tokio::test]
async fn a_topic_over_the_cap_is_a_429_that_names_the_limit_and_stores_nothing() {
    let mut server = TestServer::with(|config| {
        config.broker.max_topics = 2;
        config.broker.max_total_partitions = 10;
    });
    server.create_topic("a", 1).await;
    server.create_topic("b", 1).await;
    for _ in 0..2 {
        let answer = server
            .post("/v1/topics", json!({"name": "c", "partitions": 1}))
            .await;
        let message = answer.error(429, "RESOURCE_EXHAUSTED");
        assert!(message.contains("max_topics"), "{message}");
        assert_eq!(answer.json["reason"], "topic_limit");
        assert!(answer.headers.contains_key("retry-after"));
        assert_eq!(
            server.get("/v1/topics").await.json["topics"],
            json!(["a", "b"])
        );
        // The existing topics keep working.
        server.produce("a", "v", None).await;
        server.restart();
    }
    server.delete("/v1/topics/b").await;
    let answer = server
        .post("/v1/topics", json!({"name": "wide", "partitions": 10}))
        .await;
    let message = answer.error(429, "RESOURCE_EXHAUSTED");
    assert!(message.contains("max_total_partitions"), "{message}");
    assert_eq!(answer.json["reason"], "partition_limit");
    server.create_topic("wide", 9).await;
}

#[tokio::test]
async fn deleting_a_topic_removes_it_for_good_and_frees_its_name() {
    let mut server = TestServer::start();
    server.create_topic("t", 2).await;
    server.create_topic("keep", 1).await;
    for i in 0..5 {
        server.produce("t", &format!("v{i}"), None).await;
    }
    server.produce("keep", "stays", None).await;
    let mut consumer = server.consume("t", "g", "o", None).await;
    let item = consumer.next_item().await;

    let answer = server.delete("/v1/topics/t").await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.json);
    assert_eq!(
        answer.json,
        json!({"status": "deleted", "topic": "t", "partitions": 2})
    );
    // The live stream of the deleted topic ends (after what it had sent already).
    while consumer.next_line().await.is_some() {}
    assert_eq!(
        server.get("/v1/topics").await.json["topics"],
        json!(["keep"])
    );
    server
        .post("/v1/produce", json!({"topic": "t", "value": "x"}))
        .await
        .error(400, "INVALID_ARGUMENT");
    server
        .settle("/v1/ack", "t", "g", "o", &item)
        .await
        .error(400, "INVALID_ARGUMENT");
    let consume = client()
        .get(server.url("/v1/consume?topic=t&group=g&owner=o"))
        .send()
        .await
        .unwrap();
    Answer::read(consume).await.error(400, "INVALID_ARGUMENT");
    let message = server.delete("/v1/topics/t").await.error(404, "NOT_FOUND");
    assert!(message.contains("\"t\""), "{message}");

    server.restart();
    assert_eq!(
        server.get("/v1/topics").await.json["topics"],
        json!(["keep"])
    );
    server.create_topic("t", 2).await;
    let produced = server.produce("t", "new", None).await;
    assert_eq!(
        produced["offset"], 0,
        "a new topic of the same name starts empty"
    );
    let mut consumer = server.consume("t", "g", "o", None).await;
    let item = consumer.next_item().await;
    assert_eq!((item.offset, item.value.as_str()), (0, "new"));
}

#[tokio::test]
async fn deleting_a_topic_needs_the_token() {
    let server = TestServer::with(|config| config.token = Some("s3cret-s3cret-s3cret".to_owned()));
    let http = client();
    let created = http
        .post(server.url("/v1/topics"))
        .bearer_auth("s3cret-s3cret-s3cret")
        .json(&json!({"name": "t"}))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), StatusCode::CREATED);
    server
        .delete("/v1/topics/t")
        .await
        .error(401, "UNAUTHENTICATED");
    let deleted = http
        .delete(server.url("/v1/topics/t"))
        .bearer_auth("s3cret-s3cret-s3cret")
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status(), StatusCode::OK);
}
