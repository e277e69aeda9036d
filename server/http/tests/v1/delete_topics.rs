//! `Queue::delete_topics` over dq's HTTP queue (a remote `dq worker`, `dq up --broker http://…`): one
//! `DELETE /v1/topics/{name}` each, a few at a time; every topic named goes, one without a topic is no error.

use dq_runs::{HttpQueue, Queue};
use serde_json::Value;

use crate::util::{TestServer, V1Api};

#[tokio::test]
async fn delete_topics_deletes_every_one_named_and_a_missing_one_is_not_an_error() {
    let server = TestServer::start();
    for topic in ["a", "b", "c", "d", "e", "kept"] {
        server.create_topic(topic, 1).await;
        server.produce(topic, "v", None).await;
    }
    let base = server.url("");
    let queue = HttpQueue::new(base.trim_end_matches('/'), None).unwrap();
    let names: Vec<String> = ["a", "b", "never-was", "c", "d", "e"]
        .into_iter()
        .map(str::to_owned)
        .collect();
    queue.delete_topics(&names).await.unwrap();
    let topics = server.get("/v1/topics").await.json;
    let left: Vec<&Value> = topics["topics"].as_array().unwrap().iter().collect();
    for gone in &names {
        assert!(!left.contains(&&Value::from(gone.as_str())), "{topics}");
    }
    assert!(left.contains(&&Value::from("kept")), "{topics}");
    queue.delete_topics(&names).await.unwrap();
}
