//! Limits that keep the server's memory bounded, over HTTP: the topic and partition caps, `DELETE
//! /v1/topics/{name}` and `/metrics` whose series do not grow with every topic.

use reqwest::StatusCode;
use serde_json::json;

use crate::util::{Answer, TestServer, V1Api, client};

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
async fn the_runs_service_topics_cannot_be_deleted_but_a_run_timeline_can() {
    let server = TestServer::start();
    for name in ["runs.commands", "runs.index", "runs.dlq", "runs.events.r1"] {
        server.create_topic(name, 1).await;
    }
    for name in ["runs.commands", "runs.index", "runs.dlq"] {
        let message = server
            .delete(&format!("/v1/topics/{name}"))
            .await
            .error(409, "FAILED_PRECONDITION");
        assert!(message.contains(name), "{message}");
    }
    let answer = server.delete("/v1/topics/runs.events.r1").await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.json);
    assert_eq!(
        server.get("/v1/topics").await.json["topics"],
        json!(["runs.commands", "runs.dlq", "runs.index"])
    );
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

#[tokio::test]
async fn metrics_series_stay_bounded_as_topics_and_run_timelines_pile_up() {
    let server = TestServer::start();
    let mut names: Vec<String> = (0..130).map(|i| format!("t{i:03}")).collect();
    names.extend((0..40).map(|i| format!("runs.events.run-{i}")));
    for name in &names {
        server.create_topic(name, 1).await;
        server.produce(name, "v", None).await;
    }
    let response = client().get(server.url("/metrics")).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let text = response.text().await.unwrap();
    let produced: Vec<(&str, u64)> = text
        .lines()
        .filter_map(|line| line.strip_prefix("dq_produced_messages_total{"))
        .map(|rest| {
            let (labels, value) = rest.rsplit_once("} ").unwrap();
            (labels, value.parse().unwrap())
        })
        .collect();
    assert_eq!(
        produced.len(),
        101,
        "100 named series and _other: {produced:?}"
    );
    assert!(produced.contains(&("topic=\"runs.events.*\"", 40)));
    // By name: `runs.events.*` and t000..t098 are named, t099..t129 summed.
    assert!(produced.contains(&("topic=\"_other\"", 31)));
    let total: u64 = produced.iter().map(|(_, n)| n).sum();
    assert_eq!(total, 170, "every message is counted once");
}

#[tokio::test]
async fn an_idle_group_leaves_metrics_while_a_group_with_a_live_stream_stays() {
    let server = TestServer::with(|config| {
        config.broker.group_idle_retention = std::time::Duration::from_millis(300);
        config.broker.sweep_interval = std::time::Duration::from_millis(20);
    });
    server.create_topic("t", 1).await;
    server.produce("t", "a", None).await;
    let mut live = server.consume("t", "live", "o", None).await;
    let mut idle = server.consume("t", "idle", "o", None).await;
    let item = idle.next_item().await;
    let acked = server.settle("/v1/ack", "t", "idle", "o", &item).await;
    assert_eq!(acked.status, StatusCode::NO_CONTENT);
    drop(idle);
    let metrics = || async {
        client()
            .get(server.url("/metrics"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    };
    assert!(metrics().await.contains("group=\"idle\""));
    tokio::time::timeout(crate::util::GUARD, async {
        while metrics().await.contains("group=\"idle\"") {
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    })
    .await
    .expect("the idle group is forgotten");
    // `live` went idle first, so the pass that forgot `idle` saw it too: its open stream kept it.
    assert!(metrics().await.contains("group=\"live\""));
    assert_eq!(live.next_item().await.offset, 0);
}
