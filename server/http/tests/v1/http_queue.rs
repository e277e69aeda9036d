//! dq's HTTP queue (a remote `dq worker`, `dq up --broker http://…`) against a real dq server: the messages of
//! one `produce_all` go out as a batch request per topic, and `delete_topic` deletes, where a missing topic is
//! not an error.

use dq_runs::queue::Outgoing;
use dq_runs::{HttpQueue, Queue, QueueError};
use serde_json::Value;

use crate::counting_proxy::CountingProxy;
use crate::util::{TestServer, V1Api};

fn message(topic: &str, value: &str) -> Outgoing {
    Outgoing {
        topic: topic.to_owned(),
        key: Some("k".to_owned()),
        value: value.to_owned(),
        idempotency_key: Some(format!("{topic}:{value}")),
    }
}

/// Five messages for `a`, then three for `b`, then one more for `a`.
fn writes() -> Vec<Outgoing> {
    let mut out: Vec<Outgoing> = (0..5).map(|i| message("a", &format!("a{i}"))).collect();
    out.extend((0..3).map(|i| message("b", &format!("b{i}"))));
    out.push(message("a", "a5"));
    out
}

async fn values(queue: &HttpQueue, topic: &str) -> Vec<String> {
    let items = queue.read(topic, 0, 0, 100).await.unwrap();
    items.into_iter().map(|item| item.value).collect()
}

#[tokio::test]
async fn produce_all_sends_one_request_per_topic_in_a_row_and_keeps_idempotency() {
    let server = TestServer::start();
    server.create_topic("a", 1).await;
    server.create_topic("b", 1).await;
    let base = server.url("");
    let proxy = CountingProxy::start(
        base.trim_end_matches('/').to_owned(),
        "/v1/produce",
        "messages",
        false,
    )
    .await;
    let queue = HttpQueue::new(&proxy.url, None).unwrap();
    let stored = queue.produce_all(&writes()).await.unwrap();
    assert_eq!(*proxy.items_per_request.lock().unwrap(), [5, 3, 1]);
    let offsets: Vec<Option<u64>> = stored.iter().map(|o| o.offset).collect();
    let expected = [0, 1, 2, 3, 4, 0, 1, 2, 5].map(Some);
    assert_eq!(offsets, expected);
    assert!(stored.iter().all(|o| !o.duplicate));
    // The same writes again (a writer retrying after an error) store nothing new.
    let again = queue.produce_all(&writes()).await.unwrap();
    assert!(again.iter().all(|o| o.duplicate), "{again:?}");
    assert_eq!(
        values(&queue, "a").await,
        ["a0", "a1", "a2", "a3", "a4", "a5"]
    );
    assert_eq!(values(&queue, "b").await, ["b0", "b1", "b2"]);
    proxy.task.abort();
}

#[tokio::test]
async fn produce_all_sends_one_request_per_message_when_the_server_lacks_the_batch_forms() {
    let server = TestServer::start();
    server.create_topic("a", 1).await;
    server.create_topic("b", 1).await;
    let base = server.url("");
    let proxy = CountingProxy::start(
        base.trim_end_matches('/').to_owned(),
        "/v1/produce",
        "messages",
        true,
    )
    .await;
    let queue = HttpQueue::new(&proxy.url, None).unwrap();
    queue.produce_all(&writes()).await.unwrap();
    assert_eq!(*proxy.items_per_request.lock().unwrap(), [1; 9]);
    assert_eq!(
        values(&queue, "a").await,
        ["a0", "a1", "a2", "a3", "a4", "a5"]
    );
    proxy.task.abort();
}

#[tokio::test]
async fn produce_all_to_a_missing_topic_fails_as_an_unknown_topic_and_stores_nothing_of_that_batch()
{
    let server = TestServer::start();
    server.create_topic("a", 1).await;
    let base = server.url("");
    let queue = HttpQueue::new(base.trim_end_matches('/'), None).unwrap();
    let error = queue
        .produce_all(&[message("nope", "x"), message("nope", "y")])
        .await
        .unwrap_err();
    assert!(matches!(error, QueueError::UnknownTopic(_)), "{error}");
    assert!(values(&queue, "a").await.is_empty());
}

#[tokio::test]
async fn delete_topic_deletes_it_and_a_missing_topic_is_not_an_error() {
    let server = TestServer::start();
    server.create_topic("gone", 1).await;
    server.produce("gone", "v", None).await;
    let base = server.url("");
    let queue = HttpQueue::new(base.trim_end_matches('/'), None).unwrap();
    queue.delete_topic("gone").await.unwrap();
    let topics = server.get("/v1/topics").await.json;
    assert!(
        !topics["topics"]
            .as_array()
            .unwrap()
            .contains(&Value::from("gone")),
        "{topics}"
    );
    let read = queue.read("gone", 0, 0, 10).await;
    assert!(matches!(read, Err(QueueError::UnknownTopic(_))), "{read:?}");
    queue.delete_topic("gone").await.unwrap();
    queue.delete_topic("never-was").await.unwrap();
}
