//! Helpers shared by the broker's integration tests: a real store in a temp dir, no mocks.

use std::time::Duration;

use dq_broker::{Broker, Config, Produce, Settle, Subscription};
use dq_proto::broker::{ConsumeItem, Envelope, RetryPolicy};
use tempfile::TempDir;

/// Long enough for anything that should happen; tests never assert on elapsed time.
pub const PATIENCE: Duration = Duration::from_secs(20);

pub fn config(dir: &TempDir) -> Config {
    Config::new(dir.path())
}

/// Not waiting for fsync, so that paused-time tests never park on the sync thread (which would let tokio
/// auto-advance the clock past a backoff while we wait).
pub fn fast_config(dir: &TempDir) -> Config {
    Config {
        durable: false,
        ..Config::new(dir.path())
    }
}

pub fn open(config: Config) -> Broker {
    Broker::open(config).expect("open broker")
}

pub fn msg(topic: &str, value: &str) -> Produce {
    Produce {
        topic: topic.into(),
        value: value.into(),
        ..Produce::default()
    }
}

/// Creates topic `t` with one partition holding `count` messages `v0`, `v1`, …
pub async fn one_partition_of(broker: &Broker, count: u64) {
    broker.create_topic("t", Some(1)).await.unwrap();
    for o in 0..count {
        broker.produce(msg("t", &format!("v{o}"))).await.unwrap();
    }
}

pub fn with_envelope(topic: &str, value: &str, envelope: Envelope) -> Produce {
    Produce {
        envelope: Some(envelope),
        ..msg(topic, value)
    }
}

/// A produce with an idempotency key.
pub fn keyed(topic: &str, value: &str, key: &str) -> Produce {
    with_envelope(
        topic,
        value,
        Envelope {
            idempotency_key: Some(key.into()),
            ..Envelope::default()
        },
    )
}

pub fn policy(
    max_attempts: Option<i64>,
    backoff_ms: Option<i64>,
    max_backoff_ms: Option<i64>,
) -> Envelope {
    Envelope {
        retry_policy: Some(RetryPolicy {
            max_attempts,
            backoff_ms,
            max_backoff_ms,
        }),
        ..Envelope::default()
    }
}

pub fn settle(topic: &str, group: &str, owner: &str, item: &ConsumeItem) -> Settle {
    Settle {
        topic: topic.into(),
        group: group.into(),
        owner: owner.into(),
        partition: item.partition,
        offset: item.offset,
    }
}

/// The next delivery; fails the test if none comes.
pub async fn next(sub: &mut Subscription) -> ConsumeItem {
    tokio::time::timeout(PATIENCE, sub.next())
        .await
        .expect("a delivery in time")
        .expect("broker still running")
}

/// Asserts that nothing is delivered within `window`.
pub async fn nothing_within(sub: &mut Subscription, window: Duration) {
    if let Ok(item) = tokio::time::timeout(window, sub.next()).await {
        panic!("expected no delivery, got {item:?}");
    }
}

/// Closes a broker so that the same directory can be opened again.
pub fn close(broker: Broker) {
    broker.shutdown();
    drop(broker);
}
