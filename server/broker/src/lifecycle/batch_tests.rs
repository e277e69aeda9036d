//! Deleting many topics at once ([`Broker::delete_topics`]): each topic named goes with all its keys, a name
//! without a topic is skipped, and the group commit is asked for one sync for all of them.

use std::time::Duration;

use super::*;
use crate::{Config, Produce};

#[tokio::test]
async fn many_topics_go_with_one_sync_and_a_name_without_a_topic_is_skipped() {
    let dir = tempfile::TempDir::new().unwrap();
    let broker = Broker::open(Config {
        sweep_interval: Duration::from_secs(3600),
        ..Config::new(dir.path())
    })
    .unwrap();
    for topic in ["a", "b", "c", "kept"] {
        broker.create_topic(topic, Some(2)).await.unwrap();
        // "c" holds more keys than one shared purge batch takes.
        let count = if topic == "c" { 300 } else { 3 };
        for i in 0..count {
            broker
                .produce(Produce {
                    topic: topic.into(),
                    value: format!("{i}"),
                    ..Produce::default()
                })
                .await
                .unwrap();
        }
    }
    let shared = &broker.shared;
    let messages = || shared.store.msgs.iter().count();
    assert_eq!(messages(), 309);
    let asks = shared.committer.asks();

    let deleted = broker
        .delete_topics(&["c", "missing", "a", "b", "a"])
        .await
        .unwrap();
    let names: Vec<&str> = deleted.iter().map(|info| info.name.as_str()).collect();
    assert_eq!(names, ["a", "b", "c"]);
    assert_eq!(
        shared.committer.asks() - asks,
        1,
        "one sync asked for, not one per topic"
    );
    assert_eq!(broker.topics(), ["kept"]);
    assert_eq!(messages(), 3, "the kept topic's messages and no other");
    assert_eq!(shared.store.meta.prefix(store::DELETED_PREFIX).count(), 0);
    assert_eq!(broker.topic_totals(), (1, 2));

    assert!(
        broker
            .delete_topics(&["a", "missing"])
            .await
            .unwrap()
            .is_empty()
    );
    assert!(matches!(
        broker.delete_topic("a").await,
        Err(Error::TopicNotFound(_))
    ));
    broker.shutdown();
}
