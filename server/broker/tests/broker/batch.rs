//! Batches (a dq extension): a produce batch and an ack batch are each stored all or none, with one answer per
//! message in order, idempotency keys honoured inside and across batches, and the size limit enforced.

use dq_broker::{AckBatch, Error, ErrorKind, MAX_BATCH, Produce};
use dq_proto::broker::Envelope;
use tempfile::TempDir;

use crate::common::*;

fn acks(topic: &str, positions: Vec<(u32, u64)>) -> AckBatch {
    AckBatch {
        topic: topic.into(),
        group: "g".into(),
        owner: "o".into(),
        positions,
    }
}

#[tokio::test]
async fn a_produce_batch_is_stored_in_order_with_one_answer_per_message() {
    let dir = TempDir::new().unwrap();
    let broker = open(config(&dir));
    broker.create_topic("t", Some(2)).await.unwrap();
    broker.create_topic("u", None).await.unwrap();
    let mut to_u = msg("t", "elsewhere");
    to_u.envelope = Some(Envelope {
        target_topic: Some("u".into()),
        ..Envelope::default()
    });
    let batch: Vec<Produce> = (0..5)
        .map(|i| Produce {
            key: Some("same".into()),
            ..msg("t", &format!("v{i}"))
        })
        .chain([to_u])
        .collect();
    let answers = broker.produce_batch(batch).await.unwrap();
    assert_eq!(answers.len(), 6);
    let p = answers[0].partition;
    for (i, answer) in answers[..5].iter().enumerate() {
        assert_eq!((answer.topic.as_str(), answer.partition), ("t", p));
        assert_eq!(answer.offset, i as u64, "ascending offsets in batch order");
        assert!(!answer.duplicate);
    }
    assert_eq!((answers[5].topic.as_str(), answers[5].offset), ("u", 0));
    let stored: Vec<String> = broker
        .read("t", p, 0, 10)
        .unwrap()
        .into_iter()
        .map(|m| m.value)
        .collect();
    assert_eq!(stored, ["v0", "v1", "v2", "v3", "v4"]);
    // Consumable like single produces.
    let mut sub = broker.subscribe("u", "g", "o", None).unwrap();
    assert_eq!(next(&mut sub).await.value, "elsewhere");
}

#[tokio::test]
async fn one_bad_message_refuses_the_whole_batch() {
    let dir = TempDir::new().unwrap();
    let broker = open(config(&dir));
    broker.create_topic("t", None).await.unwrap();
    let batch = vec![msg("t", "a"), msg("t", ""), msg("t", "c")];
    let err = broker.produce_batch(batch).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidArgument);
    assert_eq!(err.to_string(), "messages[1]: value is required");
    let batch = vec![msg("t", "a"), msg("missing", "b")];
    let err = broker.produce_batch(batch).await.unwrap_err();
    assert!(
        matches!(&err, Error::InBatch { index: 1, source } if matches!(**source, Error::UnknownTopic(_))),
        "{err}"
    );
    assert!(
        broker.read("t", 0, 0, 10).unwrap().is_empty(),
        "nothing stored"
    );
    assert_eq!(broker.produce(msg("t", "after")).await.unwrap().offset, 0);
}

#[tokio::test]
async fn batch_size_limits_are_enforced() {
    let dir = TempDir::new().unwrap();
    let broker = open(fast_config(&dir));
    broker.create_topic("t", None).await.unwrap();
    assert!(matches!(
        broker.produce_batch(Vec::new()).await,
        Err(Error::InvalidArgument(_))
    ));
    let over: Vec<Produce> = (0..=MAX_BATCH).map(|_| msg("t", "v")).collect();
    let err = broker.produce_batch(over).await.unwrap_err();
    assert!(
        matches!(err, Error::BatchTooLarge { count, limit } if count == MAX_BATCH + 1 && limit == MAX_BATCH)
    );
    let full: Vec<Produce> = (0..MAX_BATCH).map(|_| msg("t", "v")).collect();
    assert_eq!(broker.produce_batch(full).await.unwrap().len(), MAX_BATCH);
    assert!(matches!(
        broker.ack_batch(acks("t", Vec::new())).await,
        Err(Error::InvalidArgument(_))
    ));
}

#[tokio::test]
async fn idempotency_keys_hold_inside_and_across_batches() {
    let dir = TempDir::new().unwrap();
    let broker = open(config(&dir));
    broker.create_topic("t", None).await.unwrap();
    let before = broker.produce(keyed("t", "old", "k0")).await.unwrap();
    let answers = broker
        .produce_batch(vec![
            keyed("t", "a", "k1"),
            keyed("t", "again", "k0"),
            keyed("t", "b", "k2"),
            keyed("t", "a twice", "k1"),
        ])
        .await
        .unwrap();
    let seen: Vec<(u64, bool)> = answers.iter().map(|a| (a.offset, a.duplicate)).collect();
    assert_eq!(
        seen,
        [(1, false), (before.offset, true), (2, false), (1, true)]
    );
    let again = broker
        .produce_batch(vec![keyed("t", "b again", "k2"), msg("t", "new")])
        .await
        .unwrap();
    assert_eq!((again[0].offset, again[0].duplicate), (2, true));
    assert_eq!((again[1].offset, again[1].duplicate), (3, false));
    let values: Vec<String> = broker
        .read("t", 0, 0, 10)
        .unwrap()
        .into_iter()
        .map(|m| m.value)
        .collect();
    assert_eq!(values, ["old", "a", "b", "new"]);
}

#[tokio::test]
async fn an_ack_batch_settles_all_or_none_and_survives_a_restart() {
    let dir = TempDir::new().unwrap();
    let broker = open(config(&dir));
    broker.create_topic("t", None).await.unwrap();
    let batch: Vec<Produce> = (0..6).map(|i| msg("t", &format!("v{i}"))).collect();
    broker.produce_batch(batch).await.unwrap();
    let mut sub = broker.subscribe("t", "g", "o", None).unwrap();
    let mut items = Vec::new();
    for _ in 0..6 {
        items.push(next(&mut sub).await);
    }
    // Leased to "o", not "other": refused as a whole, 0 and 1 stay in flight.
    let err = broker
        .ack_batch(AckBatch {
            owner: "other".into(),
            ..acks("t", vec![(0, 0), (0, 1)])
        })
        .await
        .unwrap_err();
    assert!(matches!(err, Error::NotOwner), "{err}");
    let twice = broker.ack_batch(acks("t", vec![(0, 0), (0, 0)])).await;
    assert!(matches!(twice, Err(Error::InvalidArgument(_))));
    let out_of_range = broker.ack_batch(acks("t", vec![(0, 0), (3, 0)])).await;
    assert!(matches!(out_of_range, Err(Error::InvalidArgument(_))));
    // Out of order and with a gap: 0, 1, 2 and 4 settle, 3 and 5 stay in flight.
    broker
        .ack_batch(acks("t", vec![(0, 4), (0, 1), (0, 0), (0, 2)]))
        .await
        .unwrap();
    let again = broker.ack_batch(acks("t", vec![(0, 3), (0, 4)])).await;
    assert!(
        matches!(again, Err(Error::NotInFlight)),
        "4 is acked already"
    );
    broker.ack(settle("t", "g", "o", &items[3])).await.unwrap();
    drop(sub);
    close(broker);

    let broker = open(config(&dir));
    let mut sub = broker.subscribe("t", "g", "o", None).unwrap();
    let item = next(&mut sub).await;
    assert_eq!(item.offset, 5, "0 to 4 stay acked after a restart");
    broker.ack_batch(acks("t", vec![(0, 5)])).await.unwrap();
    drop(sub);
    close(broker);
}
