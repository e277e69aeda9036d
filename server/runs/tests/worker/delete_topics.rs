//! `Queue::delete_topics` over the embedded broker, as retention uses it: every topic named goes with its
//! messages, and a name without a topic (deleted before, or never made) is not an error.

use dq_broker::{Broker, Config};
use dq_local::LocalQueue;
use dq_runs::queue::Outgoing;
use dq_runs::{Queue, QueueError};

#[tokio::test]
async fn the_local_queue_deletes_every_topic_named_and_skips_a_missing_one() {
    let dir = tempfile::tempdir().unwrap();
    let broker = Broker::open(Config::new(dir.path())).unwrap();
    let queue = LocalQueue::new(broker.clone());
    for topic in ["a", "b", "c", "kept"] {
        queue.create_topic(topic, 1).await.unwrap();
        queue
            .produce(Outgoing {
                topic: topic.to_owned(),
                key: None,
                value: "v".to_owned(),
                idempotency_key: None,
            })
            .await
            .unwrap();
    }
    let names: Vec<String> = ["a", "never-was", "b", "c"]
        .into_iter()
        .map(str::to_owned)
        .collect();
    queue.delete_topics(&names).await.unwrap();
    assert_eq!(broker.topics(), ["kept"]);
    let read = queue.read("a", 0, 0, 10).await;
    assert!(matches!(read, Err(QueueError::UnknownTopic(_))), "{read:?}");
    queue.delete_topics(&names).await.unwrap();
    assert_eq!(queue.read("kept", 0, 0, 10).await.unwrap().len(), 1);
    broker.shutdown();
}
