//! Topics and produce: validation, partition choice, idempotency, limits.

use std::time::Duration;

use dq_broker::{Config, Error, ErrorKind, ManualClock, Produce, fnv1a32};
use dq_proto::broker::Envelope;
use dq_testkit::eventually;
use tempfile::TempDir;

use crate::common::*;

#[tokio::test]
async fn creating_a_topic_twice_keeps_its_partition_count() {
    let dir = TempDir::new().unwrap();
    let broker = open(config(&dir));
    let first = broker.create_topic("orders", Some(4)).await.unwrap();
    assert_eq!(first.partitions, 4);
    let again = broker.create_topic("orders", Some(2)).await.unwrap();
    assert_eq!(
        again.partitions, 4,
        "an existing topic keeps its partition count"
    );
    assert_eq!(
        broker
            .create_topic("single", None)
            .await
            .unwrap()
            .partitions,
        1
    );
    assert_eq!(
        broker.topics(),
        vec!["orders".to_owned(), "single".to_owned()]
    );
    assert_eq!(broker.topic("orders").map(|t| t.partitions), Some(4));
    assert!(broker.topic("nope").is_none());
}

#[tokio::test]
async fn bad_topic_names_and_partition_counts_are_rejected() {
    let dir = TempDir::new().unwrap();
    let broker = open(config(&dir));
    for name in ["", "has space", "slash/no", &"x".repeat(250)] {
        let err = broker.create_topic(name, None).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidArgument, "{name:?}");
    }
    for partitions in [0, 257] {
        let err = broker
            .create_topic("t", Some(partitions))
            .await
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidArgument);
    }
    assert!(broker.topics().is_empty());
}

#[tokio::test]
async fn waiting_for_the_last_pending_write_covers_the_earlier_ones() {
    let dir = TempDir::new().unwrap();
    let broker = open(config(&dir));
    broker.create_topic("a", None).await.unwrap();
    broker.create_topic("b", None).await.unwrap();
    let (_, new_topic) = broker.create_topic_pending("c", None).unwrap();
    let (first, earlier) = broker.produce_pending(msg("a", "one")).unwrap();
    let (second, last) = broker.produce_pending(msg("c", "two")).unwrap();
    assert_eq!((first.offset, second.offset), (0, 0));
    // Only the last is waited for; the others are dropped unwaited.
    drop((new_topic, earlier));
    last.durable().await.unwrap();
    // Readers see only durable messages: both are there, in a topic created without a wait.
    assert_eq!(broker.read("a", 0, 0, 10).unwrap()[0].value, "one");
    assert_eq!(broker.read("c", 0, 0, 10).unwrap()[0].value, "two");
    // Re-creating an existing topic (its creation long durable) still covers the writes made before it.
    let (_, unwaited) = broker.produce_pending(msg("b", "three")).unwrap();
    drop(unwaited);
    let (_, existing) = broker.create_topic_pending("a", None).unwrap();
    existing.durable().await.unwrap();
    assert_eq!(broker.read("b", 0, 0, 10).unwrap()[0].value, "three");
    close(broker);
    let broker = open(config(&dir));
    assert_eq!(broker.read("c", 0, 0, 10).unwrap().len(), 1, "and durable");
    close(broker);
}

#[tokio::test]
async fn produce_to_an_unknown_topic_fails() {
    let dir = TempDir::new().unwrap();
    let broker = open(config(&dir));
    let err = broker.produce(msg("missing", "v")).await.unwrap_err();
    assert!(
        matches!(err, Error::UnknownTopic(ref t) if t == "missing"),
        "{err:?}"
    );
    assert_eq!(err.to_string(), "topic does not exist (create it first)");
}

#[tokio::test]
async fn offsets_are_per_partition_and_start_at_zero() {
    let dir = TempDir::new().unwrap();
    let broker = open(config(&dir));
    broker.create_topic("t", Some(2)).await.unwrap();
    let over = |p| Envelope {
        partition_override: Some(p),
        ..Envelope::default()
    };
    let a = broker
        .produce(with_envelope("t", "a", over(0)))
        .await
        .unwrap();
    let b = broker
        .produce(with_envelope("t", "b", over(1)))
        .await
        .unwrap();
    let c = broker
        .produce(with_envelope("t", "c", over(0)))
        .await
        .unwrap();
    assert_eq!((a.partition, a.offset), (0, 0));
    assert_eq!((b.partition, b.offset), (1, 0));
    assert_eq!((c.partition, c.offset), (0, 1));
    assert_eq!(a.status, "produced");
    assert!(!a.duplicate);
    let read = broker.read("t", 0, 0, 10).unwrap();
    assert_eq!(
        read.iter().map(|m| m.value.as_str()).collect::<Vec<_>>(),
        ["a", "c"]
    );
    assert_eq!(broker.read("t", 0, 1, 10).unwrap().len(), 1);
    assert_eq!(broker.read("t", 0, 0, 1).unwrap().len(), 1);
    assert!(broker.read("t", 0, 5, 10).unwrap().is_empty());
    assert_eq!(
        broker.read("t", 9, 0, 10).unwrap_err().kind(),
        ErrorKind::InvalidArgument
    );
}

#[tokio::test]
async fn partition_is_override_else_fnv1a_of_the_key_else_zero() {
    assert_eq!(fnv1a32(b"a"), 0xe40c_292c);
    assert_eq!(fnv1a32(b"foobar"), 0xbf9c_f968);
    let dir = TempDir::new().unwrap();
    let broker = open(config(&dir));
    broker.create_topic("t", Some(7)).await.unwrap();
    for key in ["a", "foobar", "run-42", "ü"] {
        let produced = broker
            .produce(Produce {
                key: Some(key.into()),
                ..msg("t", "v")
            })
            .await
            .unwrap();
        assert_eq!(
            produced.partition,
            fnv1a32(key.as_bytes()) % 7,
            "key {key:?}"
        );
    }
    let no_key = broker.produce(msg("t", "v")).await.unwrap();
    assert_eq!(no_key.partition, 0);
    let empty_key = broker
        .produce(Produce {
            key: Some(String::new()),
            ..msg("t", "v")
        })
        .await
        .unwrap();
    assert_eq!(empty_key.partition, 0);
    let over = Envelope {
        partition_override: Some(5),
        ..Envelope::default()
    };
    let produced = broker
        .produce(Produce {
            key: Some("a".into()),
            ..with_envelope("t", "v", over)
        })
        .await
        .unwrap();
    assert_eq!(produced.partition, 5, "the override wins over the key");
    for bad in [7, -1, i64::MAX] {
        let over = Envelope {
            partition_override: Some(bad),
            ..Envelope::default()
        };
        let err = broker
            .produce(with_envelope("t", "v", over))
            .await
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidArgument, "override {bad}");
    }
}

#[tokio::test]
async fn target_topic_redirects_the_write() {
    let dir = TempDir::new().unwrap();
    let broker = open(config(&dir));
    broker.create_topic("a", None).await.unwrap();
    broker.create_topic("b", None).await.unwrap();
    let env = Envelope {
        target_topic: Some("b".into()),
        ..Envelope::default()
    };
    let produced = broker.produce(with_envelope("a", "v", env)).await.unwrap();
    assert_eq!(produced.topic, "b");
    assert!(broker.read("a", 0, 0, 10).unwrap().is_empty());
    assert_eq!(broker.read("b", 0, 0, 10).unwrap()[0].value, "v");
    let env = Envelope {
        target_topic: Some("nope".into()),
        ..Envelope::default()
    };
    assert!(matches!(
        broker.produce(with_envelope("a", "v", env)).await,
        Err(Error::UnknownTopic(_))
    ));
}

#[tokio::test]
async fn empty_and_too_large_values_are_rejected() {
    let dir = TempDir::new().unwrap();
    let broker = open(Config {
        max_value_bytes: 10,
        ..config(&dir)
    });
    broker.create_topic("t", None).await.unwrap();
    let err = broker.produce(msg("t", "")).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidArgument);
    let err = broker.produce(msg("t", "12345678901")).await.unwrap_err();
    assert!(
        matches!(
            err,
            Error::TooLarge {
                size: 11,
                limit: 10
            }
        ),
        "{err:?}"
    );
    assert_eq!(err.kind(), ErrorKind::TooLarge);
    broker.produce(msg("t", "1234567890")).await.unwrap();
    assert_eq!(
        broker.read("t", 0, 0, 10).unwrap().len(),
        1,
        "rejected produces store nothing"
    );
    let rejected = broker.metrics().produce_rejected;
    assert!(
        rejected.contains(&("too_large".to_owned(), 1)),
        "{rejected:?}"
    );
}

#[tokio::test]
async fn deadlines_must_parse_and_lie_ahead() {
    let dir = TempDir::new().unwrap();
    let broker = open(config(&dir));
    broker.create_topic("t", None).await.unwrap();
    let at = |d: &str| Envelope {
        deadline: Some(d.into()),
        ..Envelope::default()
    };
    let err = broker
        .produce(with_envelope("t", "v", at("2001-01-01T00:00:00Z")))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidArgument);
    assert!(err.to_string().contains("passed"), "{err}");
    let err = broker
        .produce(with_envelope("t", "v", at("tomorrow")))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidArgument);
    broker
        .produce(with_envelope("t", "v", at("2999-01-01T00:00:00+02:00")))
        .await
        .unwrap();
    assert_eq!(broker.read("t", 0, 0, 10).unwrap().len(), 1);
    assert!(
        broker
            .metrics()
            .produce_rejected
            .contains(&("deadline_passed".to_owned(), 2))
    );
}

#[tokio::test]
async fn retry_policies_are_validated() {
    let dir = TempDir::new().unwrap();
    let broker = open(config(&dir));
    broker.create_topic("t", None).await.unwrap();
    for bad in [
        policy(Some(0), None, None),
        policy(Some(-3), None, None),
        policy(None, Some(-1), None),
        policy(None, None, Some(-5)),
    ] {
        let err = broker
            .produce(with_envelope("t", "v", bad.clone()))
            .await
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidArgument, "{bad:?}");
    }
    broker
        .produce(with_envelope("t", "v", policy(Some(3), Some(0), Some(100))))
        .await
        .unwrap();
}

#[tokio::test]
async fn an_idempotent_duplicate_stores_nothing() {
    let dir = TempDir::new().unwrap();
    let broker = open(config(&dir));
    broker.create_topic("t", Some(3)).await.unwrap();
    let idem = |tenant: Option<&str>| Envelope {
        idempotency_key: Some("k1".into()),
        tenant_id: tenant.map(Into::into),
        ..Envelope::default()
    };
    let first = broker
        .produce(Produce {
            key: Some("x".into()),
            ..with_envelope("t", "one", idem(None))
        })
        .await
        .unwrap();
    let dup = broker
        .produce(Produce {
            key: Some("y".into()),
            ..with_envelope("t", "two", idem(None))
        })
        .await
        .unwrap();
    assert!(dup.duplicate);
    assert_eq!(
        (dup.partition, dup.offset),
        (first.partition, first.offset),
        "the original's place"
    );
    let other_tenant = broker
        .produce(with_envelope("t", "three", idem(Some("acme"))))
        .await
        .unwrap();
    assert!(!other_tenant.duplicate, "the tenant is part of the key");
    let total: usize = (0..3)
        .map(|p| broker.read("t", p, 0, 100).unwrap().len())
        .sum();
    assert_eq!(total, 2);
    assert_eq!(broker.metrics().duplicates, 1);
}

#[tokio::test]
async fn an_idempotency_key_expires_after_its_window() {
    let dir = TempDir::new().unwrap();
    let clock = ManualClock::new();
    let broker = open(Config {
        idempotency_window: Duration::from_millis(50),
        clock: clock.clone().into(),
        ..config(&dir)
    });
    broker.create_topic("t", None).await.unwrap();
    let env = Envelope {
        idempotency_key: Some("k".into()),
        ..Envelope::default()
    };
    broker
        .produce(with_envelope("t", "one", env.clone()))
        .await
        .unwrap();
    clock.advance(Duration::from_millis(49));
    let inside = broker
        .produce(with_envelope("t", "two", env.clone()))
        .await
        .unwrap();
    assert!(inside.duplicate, "still inside the window");
    clock.advance(Duration::from_millis(1));
    let again = broker
        .produce(with_envelope("t", "two", env))
        .await
        .unwrap();
    assert!(!again.duplicate, "the window has passed");
    assert_eq!(again.offset, 1);
}

#[tokio::test]
async fn a_full_partition_refuses_produce_but_a_dlq_topic_never_fills() {
    let dir = TempDir::new().unwrap();
    let broker = open(Config {
        max_partition_backlog: 2,
        ..config(&dir)
    });
    broker.create_topic("t", None).await.unwrap();
    broker.create_topic("dlq.t", None).await.unwrap();
    broker.produce(msg("t", "1")).await.unwrap();
    broker.produce(msg("t", "2")).await.unwrap();
    let err = broker.produce(msg("t", "3")).await.unwrap_err();
    match &err {
        Error::Exhausted {
            reason,
            retry_after_ms,
            ..
        } => {
            assert_eq!(reason, "backlog_full");
            assert!(*retry_after_ms > 0);
        }
        other => panic!("expected Exhausted, got {other:?}"),
    }
    assert_eq!(err.kind(), ErrorKind::Exhausted);
    for i in 0..5 {
        broker.produce(msg("dlq.t", &i.to_string())).await.unwrap();
    }
    assert_eq!(broker.read("dlq.t", 0, 0, 100).unwrap().len(), 5);
    assert!(
        broker
            .metrics()
            .produce_rejected
            .contains(&("backlog_full".to_owned(), 1))
    );
}

#[tokio::test]
async fn retention_deletes_old_messages_and_offsets_keep_counting() {
    let dir = TempDir::new().unwrap();
    let clock = ManualClock::new();
    let cfg = Config {
        retention: Duration::from_millis(30),
        sweep_interval: Duration::from_millis(10),
        clock: clock.clone().into(),
        ..config(&dir)
    };
    let broker = open(cfg.clone());
    broker.create_topic("t", None).await.unwrap();
    for i in 0..3 {
        broker.produce(msg("t", &i.to_string())).await.unwrap();
    }
    // Past the window (a message exactly as old as it is kept).
    clock.advance(Duration::from_millis(31));
    eventually("retention to delete the messages", PATIENCE, || async {
        let left = broker.read("t", 0, 0, 10).unwrap();
        if left.is_empty() { Ok(()) } else { Err(left) }
    })
    .await;
    close(broker);
    let broker = open(Config {
        retention: Duration::from_secs(3600),
        ..cfg
    });
    let produced = broker.produce(msg("t", "after")).await.unwrap();
    assert_eq!(
        produced.offset, 3,
        "offsets are never reused, even when retention emptied the partition"
    );
}

#[tokio::test]
async fn retention_deletes_a_message_that_earlier_sweeps_found_young() {
    let dir = TempDir::new().unwrap();
    let clock = ManualClock::new();
    let broker = open(Config {
        retention: Duration::from_millis(300),
        sweep_interval: Duration::from_millis(10),
        clock: clock.clone().into(),
        ..config(&dir)
    });
    broker.create_topic("t", None).await.unwrap();
    // The topic outgrows the retention window first, so the sweeps read the partition instead of skipping the
    // young topic; they find its one message young many times before it expires. (The real-time wait is for
    // the sweep thread to make several passes; the broker's clock stands still meanwhile.)
    clock.advance(Duration::from_millis(350));
    broker.produce(msg("t", "late")).await.unwrap();
    tokio::time::sleep(Duration::from_millis(60)).await;
    assert_eq!(
        broker.read("t", 0, 0, 10).unwrap().len(),
        1,
        "a young message stays"
    );
    clock.advance(Duration::from_millis(301));
    eventually(
        "retention to delete the message once it expired",
        PATIENCE,
        || async {
            let left = broker.read("t", 0, 0, 10).unwrap();
            if left.is_empty() { Ok(()) } else { Err(left) }
        },
    )
    .await;
    close(broker);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_producers_share_fsyncs_and_get_distinct_offsets() {
    let dir = TempDir::new().unwrap();
    let broker = open(config(&dir));
    broker.create_topic("t", Some(4)).await.unwrap();
    let mut tasks = Vec::new();
    for w in 0..32 {
        let broker = broker.clone();
        tasks.push(tokio::spawn(async move {
            let mut offsets = Vec::new();
            for i in 0..25 {
                let p = broker
                    .produce(Produce {
                        key: Some(format!("k{w}-{i}")),
                        ..msg("t", "x")
                    })
                    .await
                    .unwrap();
                offsets.push((p.partition, p.offset));
            }
            offsets
        }));
    }
    let mut all = Vec::new();
    for task in tasks {
        all.extend(task.await.unwrap());
    }
    all.sort_unstable();
    all.dedup();
    assert_eq!(all.len(), 32 * 25, "every produce got its own offset");
    for p in 0..4 {
        let stored = broker.read("t", p, 0, 10_000).unwrap();
        let offsets: Vec<u64> = stored.iter().map(|m| m.offset).collect();
        assert_eq!(
            offsets,
            (0..offsets.len() as u64).collect::<Vec<_>>(),
            "partition {p} is contiguous"
        );
    }
}
