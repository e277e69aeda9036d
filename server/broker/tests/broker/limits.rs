//! Limits that keep memory and disk bounded: the topic and partition caps, topic deletion, and consumer groups
//! forgotten after an idle window.

use std::time::Duration;

use dq_broker::{Config, Error, ErrorKind, ManualClock};
use dq_testkit::eventually;
use tempfile::TempDir;

use crate::common::*;

fn exhausted_reason(err: &Error) -> &str {
    assert_eq!(err.kind(), ErrorKind::Exhausted, "{err}");
    match err {
        Error::Exhausted { reason, .. } => reason,
        other => panic!("expected Exhausted, got {other:?}"),
    }
}

#[tokio::test]
async fn a_topic_over_the_topic_limit_is_refused_and_not_stored_even_after_a_restart() {
    let dir = TempDir::new().unwrap();
    let limited = || Config {
        max_topics: 2,
        ..config(&dir)
    };
    let broker = open(limited());
    broker.create_topic("a", None).await.unwrap();
    broker.create_topic("b", Some(2)).await.unwrap();
    let err = broker.create_topic("c", None).await.unwrap_err();
    assert_eq!(exhausted_reason(&err), "topic_limit");
    let message = err.to_string();
    assert!(
        message.contains("max_topics") && message.contains('2'),
        "names the limit: {message}"
    );
    assert_eq!(broker.topics(), ["a", "b"]);
    // Existing topics keep working, and "creating" one that exists is still fine.
    assert_eq!(broker.create_topic("a", None).await.unwrap().partitions, 1);
    broker.produce(msg("a", "v")).await.unwrap();
    close(broker);

    let broker = open(limited());
    assert_eq!(broker.topics(), ["a", "b"], "nothing of c was stored");
    assert_eq!(broker.topic_totals(), (2, 3));
    let err = broker.create_topic("c", None).await.unwrap_err();
    assert_eq!(exhausted_reason(&err), "topic_limit");
    assert_eq!(broker.produce(msg("a", "w")).await.unwrap().offset, 1);
}

#[tokio::test]
async fn a_topic_that_would_pass_the_partition_limit_is_refused() {
    let dir = TempDir::new().unwrap();
    let broker = open(Config {
        max_total_partitions: 5,
        ..config(&dir)
    });
    broker.create_topic("a", Some(3)).await.unwrap();
    let err = broker.create_topic("b", Some(3)).await.unwrap_err();
    assert_eq!(exhausted_reason(&err), "partition_limit");
    assert!(err.to_string().contains("max_total_partitions"), "{err}");
    assert!(broker.topic("b").is_none());
    broker.create_topic("b", Some(2)).await.unwrap();
    assert_eq!(broker.topic_totals(), (2, 5));
}

#[tokio::test]
async fn dead_letter_topics_are_created_even_at_the_topic_limit() {
    let dir = TempDir::new().unwrap();
    let broker = open(Config {
        max_topics: 1,
        ..fast_config(&dir)
    });
    broker.create_topic("t", None).await.unwrap();
    broker
        .produce(with_envelope("t", "v", policy(Some(1), None, None)))
        .await
        .unwrap();
    let mut sub = broker.subscribe("t", "g", "o", None).unwrap();
    let item = next(&mut sub).await;
    broker
        .nack(settle("t", "g", "o", &item), Some("boom".into()), None)
        .await
        .unwrap();
    assert_eq!(broker.topics(), ["dlq.t", "t"]);
    assert_eq!(broker.read("dlq.t", 0, 0, 10).unwrap().len(), 1);
}

#[tokio::test]
async fn deleting_a_topic_removes_it_its_messages_groups_and_keys_for_good() {
    let dir = TempDir::new().unwrap();
    let broker = open(config(&dir));
    broker.create_topic("t", Some(2)).await.unwrap();
    broker.create_topic("other", None).await.unwrap();
    for i in 0..10 {
        broker
            .produce(keyed("t", &format!("v{i}"), &format!("k{i}")))
            .await
            .unwrap();
    }
    broker.produce(msg("other", "stays")).await.unwrap();
    let mut sub = broker.subscribe("t", "g", "o", None).unwrap();
    let item = next(&mut sub).await;
    broker.ack(settle("t", "g", "o", &item)).await.unwrap();
    drop(sub);

    let deleted = broker.delete_topic("t").await.unwrap();
    assert_eq!((deleted.name.as_str(), deleted.partitions), ("t", 2));
    assert_eq!(broker.topics(), ["other"]);
    assert!(matches!(
        broker.produce(msg("t", "x")).await,
        Err(Error::UnknownTopic(_))
    ));
    assert!(matches!(
        broker.subscribe("t", "g", "o", None),
        Err(Error::UnknownTopic(_))
    ));
    assert!(matches!(
        broker.ack(settle("t", "g", "o", &item)).await,
        Err(Error::UnknownTopic(_))
    ));
    let again = broker.delete_topic("t").await.unwrap_err();
    assert!(matches!(again, Error::TopicNotFound(_)), "{again:?}");
    assert_eq!(again.kind(), ErrorKind::NotFound);
    assert!(
        broker
            .metrics()
            .produced
            .iter()
            .all(|(topic, _)| topic != "t")
    );
    close(broker);

    let broker = open(config(&dir));
    assert_eq!(broker.topics(), ["other"], "still gone after a restart");
    assert_eq!(broker.read("other", 0, 0, 10).unwrap().len(), 1);
    // A new topic of the same name starts empty at offset 0, knows no old key and no old group position.
    broker.create_topic("t", Some(2)).await.unwrap();
    for p in 0..2 {
        assert!(broker.read("t", p, 0, 100).unwrap().is_empty());
    }
    let produced = broker.produce(keyed("t", "new", "k0")).await.unwrap();
    assert!(!produced.duplicate, "the old idempotency key is gone");
    assert_eq!(produced.offset, 0);
    let mut sub = broker.subscribe("t", "g", "o", None).unwrap();
    let item = next(&mut sub).await;
    assert_eq!((item.offset, item.value.as_str()), (0, "new"));
}

#[tokio::test]
async fn deleting_a_topic_ends_its_live_streams_and_frees_its_place_under_the_limit() {
    let dir = TempDir::new().unwrap();
    let broker = open(Config {
        max_topics: 1,
        max_total_partitions: 4,
        ..config(&dir)
    });
    broker.create_topic("t", Some(4)).await.unwrap();
    let mut sub = broker.subscribe("t", "g", "o", None).unwrap();
    let waiting = tokio::spawn(async move { sub.next().await });
    // Let the stream park on the topic before the deletion.
    tokio::time::sleep(Duration::from_millis(50)).await;
    broker.delete_topic("t").await.unwrap();
    let ended = tokio::time::timeout(PATIENCE, waiting)
        .await
        .expect("the stream ends")
        .unwrap();
    assert!(ended.is_none(), "no delivery from a deleted topic");
    assert_eq!(broker.topic_totals(), (0, 0));
    broker.create_topic("u", Some(4)).await.unwrap();
}

#[tokio::test]
async fn an_idle_group_is_forgotten_and_a_group_with_a_live_stream_is_kept() {
    let dir = TempDir::new().unwrap();
    let clock = ManualClock::new();
    let short = || Config {
        group_idle_retention: Duration::from_millis(200),
        sweep_interval: Duration::from_millis(20),
        clock: clock.clone().into(),
        ..config(&dir)
    };
    let broker = open(short());
    broker.create_topic("t", None).await.unwrap();
    broker.produce(msg("t", "a")).await.unwrap();
    broker.produce(msg("t", "b")).await.unwrap();
    let mut live = broker.subscribe("t", "live", "o", None).unwrap();
    let mut idle = broker.subscribe("t", "idle", "o", None).unwrap();
    let item = next(&mut idle).await;
    broker.ack(settle("t", "idle", "o", &item)).await.unwrap();
    drop(idle);
    let groups = |broker: &dq_broker::Broker| -> Vec<String> {
        broker
            .metrics()
            .lag
            .into_iter()
            .map(|(_, g, _)| g)
            .collect()
    };
    assert_eq!(groups(&broker), ["idle", "live"]);
    clock.advance(Duration::from_millis(201));
    eventually("the idle group to be forgotten", PATIENCE, || async {
        let groups = groups(&broker);
        if groups.contains(&"idle".to_owned()) {
            Err(groups)
        } else {
            Ok(())
        }
    })
    .await;
    // `live` went idle before `idle` did, so the pass that forgot `idle` saw it too: its stream kept it.
    assert_eq!(groups(&broker), ["live"]);
    assert_eq!(next(&mut live).await.offset, 0);
    drop(live);
    close(broker);

    let broker = open(Config {
        group_idle_retention: Duration::from_secs(3600),
        ..short()
    });
    assert_eq!(
        groups(&broker),
        ["live"],
        "the forgotten group's cursors left the store"
    );
    // Under its old name, a consumer starts again from the earliest retained offset.
    let mut again = broker.subscribe("t", "idle", "o", None).unwrap();
    assert_eq!(next(&mut again).await.offset, 0);
}
