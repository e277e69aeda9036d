//! Consume, ack, nack, groups, streams, DLQ, shutdown (real time, nothing depends on a lease running out).

use std::time::Duration;

use dq_broker::{Config, Error, ErrorKind, Produce};
use dq_proto::broker::Envelope;
use tempfile::TempDir;

use crate::common::*;

const QUIET: Duration = Duration::from_millis(150);

#[tokio::test]
async fn a_delivery_carries_the_message_and_attempt_one() {
    let dir = TempDir::new().unwrap();
    let broker = open(config(&dir));
    broker.create_topic("t", None).await.unwrap();
    let env = Envelope {
        run_id: Some("r1".into()),
        ..Envelope::default()
    };
    broker
        .produce(Produce {
            key: Some("k".into()),
            ..with_envelope("t", "hello", env.clone())
        })
        .await
        .unwrap();
    let mut sub = broker.subscribe("t", "g", "w1", None).unwrap();
    let item = next(&mut sub).await;
    assert_eq!((item.partition, item.offset, item.attempts), (0, 0, 1));
    assert_eq!(item.key, "k");
    assert_eq!(item.value, "hello");
    assert_eq!(item.last_error, "");
    assert_eq!(item.envelope, Some(env));
    assert!(item.dlq.is_none());
    broker.ack(settle("t", "g", "w1", &item)).await.unwrap();
    nothing_within(&mut sub, QUIET).await;
}

#[tokio::test]
async fn subscribe_checks_its_arguments() {
    let dir = TempDir::new().unwrap();
    let broker = open(Config {
        max_lease: Duration::from_secs(60),
        ..config(&dir)
    });
    broker.create_topic("t", None).await.unwrap();
    assert!(matches!(
        broker.subscribe("nope", "g", "o", None),
        Err(Error::UnknownTopic(_))
    ));
    for (group, owner, lease) in [
        ("", "o", None),
        ("g", "", None),
        ("g", "o", Some(Duration::ZERO)),
        ("g", "o", Some(Duration::from_secs(61))),
    ] {
        let err = broker
            .subscribe("t", group, owner, lease)
            .err()
            .expect("rejected");
        assert_eq!(
            err.kind(),
            ErrorKind::InvalidArgument,
            "{group:?} {owner:?} {lease:?}"
        );
    }
    assert!(
        broker
            .subscribe("t", "g", "o", Some(Duration::from_secs(60)))
            .is_ok()
    );
}

#[tokio::test]
async fn a_lease_under_the_minimum_is_rejected_naming_it() {
    let dir = TempDir::new().unwrap();
    let broker = open(config(&dir));
    broker.create_topic("t", None).await.unwrap();
    for ms in [1, 99] {
        let err = broker
            .subscribe("t", "g", "o", Some(Duration::from_millis(ms)))
            .err()
            .expect("rejected");
        assert_eq!(err.kind(), ErrorKind::InvalidArgument);
        assert_eq!(
            err.to_string(),
            format!("lease of {ms} ms is under the minimum of 100 ms")
        );
    }
    assert_eq!(dq_broker::MIN_LEASE, Duration::from_millis(100));
    assert!(
        broker
            .subscribe("t", "g", "o", Some(Duration::from_millis(100)))
            .is_ok()
    );
}

#[tokio::test]
async fn ack_checks_owner_and_in_flight() {
    let dir = TempDir::new().unwrap();
    let broker = open(config(&dir));
    broker.create_topic("t", None).await.unwrap();
    broker.produce(msg("t", "a")).await.unwrap();
    broker.produce(msg("t", "b")).await.unwrap();
    let mut sub = broker.subscribe("t", "g", "w1", None).unwrap();
    let item = next(&mut sub).await;

    let err = broker
        .ack(settle("t", "g", "intruder", &item))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::NotOwner), "{err:?}");
    assert_eq!(err.kind(), ErrorKind::FailedPrecondition);
    let err = broker
        .nack(settle("t", "g", "intruder", &item), None, None)
        .await
        .unwrap_err();
    assert!(matches!(err, Error::NotOwner), "{err:?}");

    let never_delivered = dq_broker::Settle {
        offset: 1,
        ..settle("t", "g", "w1", &item)
    };
    assert!(matches!(
        broker.ack(never_delivered).await,
        Err(Error::NotInFlight)
    ));
    let no_group = settle("t", "other", "w1", &item);
    assert!(matches!(
        broker.ack(no_group).await,
        Err(Error::NotInFlight)
    ));

    broker.ack(settle("t", "g", "w1", &item)).await.unwrap();
    let err = broker.ack(settle("t", "g", "w1", &item)).await.unwrap_err();
    assert!(matches!(err, Error::NotInFlight), "double ack: {err:?}");
    assert_eq!(err.kind(), ErrorKind::InvalidArgument);
    assert!(matches!(
        broker.nack(settle("t", "g", "w1", &item), None, None).await,
        Err(Error::NotInFlight)
    ));
    assert!(matches!(
        broker.ack(settle("nope", "g", "w1", &item)).await,
        Err(Error::UnknownTopic(_))
    ));
}

#[tokio::test]
async fn nack_redelivers_at_once_with_the_reason() {
    let dir = TempDir::new().unwrap();
    let broker = open(config(&dir));
    broker.create_topic("t", None).await.unwrap();
    broker.produce(msg("t", "a")).await.unwrap();
    let mut sub = broker.subscribe("t", "g", "w1", None).unwrap();
    let first = next(&mut sub).await;
    broker
        .nack(settle("t", "g", "w1", &first), Some("boom".into()), None)
        .await
        .unwrap();
    let second = next(&mut sub).await;
    assert_eq!((second.offset, second.attempts), (0, 2));
    assert_eq!(second.last_error, "boom");
    broker
        .nack(settle("t", "g", "w1", &second), Some("bang".into()), None)
        .await
        .unwrap();
    let third = next(&mut sub).await;
    assert_eq!(third.attempts, 3);
    assert_eq!(third.last_error, "boom; bang", "reasons are appended");
    let m = broker.metrics();
    assert!(m.nacked.contains(&("t".to_owned(), 2)));
    assert!(m.delivered.contains(&("t".to_owned(), 3)));
}

#[tokio::test]
async fn max_attempts_dead_letters_with_metadata() {
    let dir = TempDir::new().unwrap();
    let broker = open(config(&dir));
    broker.create_topic("jobs", Some(2)).await.unwrap();
    let mut env = policy(Some(2), None, None);
    env.partition_override = Some(1);
    env.run_id = Some("run-7".into());
    broker
        .produce(Produce {
            key: Some("k".into()),
            ..with_envelope("jobs", "payload", env.clone())
        })
        .await
        .unwrap();
    let mut sub = broker.subscribe("jobs", "g", "w", None).unwrap();
    let a = next(&mut sub).await;
    broker
        .nack(settle("jobs", "g", "w", &a), Some("first".into()), None)
        .await
        .unwrap();
    let b = next(&mut sub).await;
    assert_eq!(b.attempts, 2);
    broker
        .nack(settle("jobs", "g", "w", &b), Some("second".into()), None)
        .await
        .unwrap();
    nothing_within(&mut sub, QUIET).await;

    assert!(
        broker.topics().contains(&"dlq.jobs".to_owned()),
        "created on first dead letter"
    );
    let mut dlq = broker.subscribe("dlq.jobs", "ops", "o", None).unwrap();
    let dead = next(&mut dlq).await;
    assert_eq!(dead.value, "payload");
    assert_eq!(dead.key, "k");
    assert_eq!(dead.envelope, Some(env));
    assert_eq!(dead.attempts, 1);
    let info = dead.dlq.expect("dlq metadata");
    assert_eq!(
        (
            info.topic.as_str(),
            info.partition,
            info.offset,
            info.attempts
        ),
        ("jobs", 1, 0, 2)
    );
    assert_eq!(info.last_error, "first; second");
    assert!(info.dead_lettered_at_ms > 0);

    let m = broker.metrics();
    assert!(m.dead_lettered.contains(&("jobs".to_owned(), 1)));
    assert!(
        m.lag.contains(&("jobs".to_owned(), "g".to_owned(), 0)),
        "the original counts as settled: {:?}",
        m.lag
    );
}

#[tokio::test]
async fn without_a_policy_redeliveries_are_unlimited() {
    let dir = TempDir::new().unwrap();
    let broker = open(config(&dir));
    broker.create_topic("t", None).await.unwrap();
    broker.produce(msg("t", "a")).await.unwrap();
    let mut sub = broker.subscribe("t", "g", "w", None).unwrap();
    for attempt in 1..=12 {
        let item = next(&mut sub).await;
        assert_eq!(item.attempts, attempt);
        broker
            .nack(settle("t", "g", "w", &item), None, None)
            .await
            .unwrap();
    }
    assert!(!broker.topics().contains(&"dlq.t".to_owned()));
}

#[tokio::test]
async fn the_in_flight_limit_holds_back_deliveries() {
    let dir = TempDir::new().unwrap();
    let broker = open(Config {
        max_in_flight: 2,
        ..config(&dir)
    });
    broker.create_topic("t", None).await.unwrap();
    for i in 0..4 {
        broker.produce(msg("t", &i.to_string())).await.unwrap();
    }
    let mut sub = broker.subscribe("t", "g", "w", None).unwrap();
    let a = next(&mut sub).await;
    let b = next(&mut sub).await;
    assert_eq!((a.offset, b.offset), (0, 1));
    nothing_within(&mut sub, QUIET).await;
    broker.ack(settle("t", "g", "w", &b)).await.unwrap();
    assert_eq!(next(&mut sub).await.offset, 2);
    nothing_within(&mut sub, QUIET).await;
    let m = broker.metrics();
    assert!(
        m.in_flight.contains(&("t".to_owned(), "g".to_owned(), 2)),
        "{:?}",
        m.in_flight
    );
}

#[tokio::test]
async fn streams_of_one_group_share_its_messages() {
    let dir = TempDir::new().unwrap();
    let broker = open(config(&dir));
    broker.create_topic("t", Some(2)).await.unwrap();
    for i in 0..40 {
        broker
            .produce(Produce {
                key: Some(format!("k{i}")),
                ..msg("t", &i.to_string())
            })
            .await
            .unwrap();
    }
    let mut s1 = broker.subscribe("t", "g", "w1", None).unwrap();
    let mut s2 = broker.subscribe("t", "g", "w2", None).unwrap();
    let mut seen = Vec::new();
    for _ in 0..20 {
        for (sub, owner) in [(&mut s1, "w1"), (&mut s2, "w2")] {
            let item = next(sub).await;
            broker.ack(settle("t", "g", owner, &item)).await.unwrap();
            seen.push(item.value.parse::<u32>().unwrap());
        }
    }
    seen.sort_unstable();
    assert_eq!(
        seen,
        (0..40).collect::<Vec<_>>(),
        "every message exactly once across the two streams"
    );
    nothing_within(&mut s1, QUIET).await;
    nothing_within(&mut s2, QUIET).await;
}

#[tokio::test]
async fn each_group_gets_everything_and_a_new_group_starts_at_the_earliest() {
    let dir = TempDir::new().unwrap();
    let broker = open(config(&dir));
    broker.create_topic("t", None).await.unwrap();
    for i in 0..3 {
        broker.produce(msg("t", &i.to_string())).await.unwrap();
    }
    let mut a = broker.subscribe("t", "a", "w", None).unwrap();
    for expected in 0..3 {
        let item = next(&mut a).await;
        assert_eq!(item.offset, expected, "in offset order");
        broker.ack(settle("t", "a", "w", &item)).await.unwrap();
    }
    // Group b had no stream while a consumed: its backlog waits for it.
    let mut b = broker.subscribe("t", "b", "w", None).unwrap();
    for expected in 0..3 {
        assert_eq!(next(&mut b).await.offset, expected);
    }
    let m = broker.metrics();
    assert!(
        m.lag.contains(&("t".to_owned(), "a".to_owned(), 0)),
        "{:?}",
        m.lag
    );
    assert!(
        m.lag.contains(&("t".to_owned(), "b".to_owned(), 3)),
        "{:?}",
        m.lag
    );
}

#[tokio::test]
async fn a_group_without_a_stream_receives_nothing_until_one_joins() {
    let dir = TempDir::new().unwrap();
    let broker = open(config(&dir));
    broker.create_topic("t", None).await.unwrap();
    let sub = broker.subscribe("t", "g", "w", None).unwrap();
    drop(sub);
    broker
        .produce(msg("t", "while nobody listens"))
        .await
        .unwrap();
    let m = broker.metrics();
    assert!(m.delivered.contains(&("t".to_owned(), 0)));
    assert!(m.lag.contains(&("t".to_owned(), "g".to_owned(), 1)));
    let mut sub = broker.subscribe("t", "g", "w", None).unwrap();
    assert_eq!(next(&mut sub).await.value, "while nobody listens");
}

#[tokio::test]
async fn deliveries_alternate_across_partitions_in_offset_order() {
    let dir = TempDir::new().unwrap();
    let broker = open(config(&dir));
    broker.create_topic("t", Some(2)).await.unwrap();
    for p in 0..2 {
        for i in 0..3 {
            let env = Envelope {
                partition_override: Some(p),
                ..Envelope::default()
            };
            broker
                .produce(with_envelope("t", &format!("{p}-{i}"), env))
                .await
                .unwrap();
        }
    }
    let mut sub = broker.subscribe("t", "g", "w", None).unwrap();
    let mut order = Vec::new();
    for _ in 0..6 {
        let item = next(&mut sub).await;
        order.push((item.partition, item.offset));
    }
    assert_ne!(
        order[0].0, order[1].0,
        "fair: the second delivery comes from the other partition"
    );
    for p in 0..2 {
        let offsets: Vec<u64> = order
            .iter()
            .filter(|(q, _)| *q == p)
            .map(|(_, o)| *o)
            .collect();
        assert_eq!(offsets, [0, 1, 2], "partition {p} in offset order");
    }
}

#[tokio::test]
async fn a_waiting_stream_wakes_on_produce() {
    let dir = TempDir::new().unwrap();
    let broker = open(config(&dir));
    broker.create_topic("t", None).await.unwrap();
    let mut sub = broker.subscribe("t", "g", "w", None).unwrap();
    let waiter = tokio::spawn(async move { next(&mut sub).await });
    tokio::time::sleep(Duration::from_millis(20)).await;
    broker.produce(msg("t", "late")).await.unwrap();
    assert_eq!(waiter.await.unwrap().value, "late");
}

#[tokio::test]
async fn shutdown_ends_every_stream() {
    let dir = TempDir::new().unwrap();
    let broker = open(config(&dir));
    broker.create_topic("t", None).await.unwrap();
    let mut s1 = broker.subscribe("t", "g", "w", None).unwrap();
    let mut s2 = broker.subscribe("t", "h", "w", None).unwrap();
    let w1 = tokio::spawn(async move { s1.next().await });
    let w2 = tokio::spawn(async move { s2.next().await });
    tokio::time::sleep(Duration::from_millis(20)).await;
    broker.shutdown();
    broker.shutdown();
    assert!(
        tokio::time::timeout(PATIENCE, w1)
            .await
            .unwrap()
            .unwrap()
            .is_none()
    );
    assert!(
        tokio::time::timeout(PATIENCE, w2)
            .await
            .unwrap()
            .unwrap()
            .is_none()
    );
    assert!(matches!(
        broker.produce(msg("t", "v")).await,
        Err(Error::ShuttingDown)
    ));
    assert!(matches!(
        broker.subscribe("t", "g", "w", None),
        Err(Error::ShuttingDown)
    ));
}
