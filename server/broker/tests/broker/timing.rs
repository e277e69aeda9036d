//! Leases and backoff on paused tokio time: each test checks "not before" and "after" a deadline, never how long
//! something took on the wall clock.

use std::time::Duration;

use dq_broker::{Broker, Error, Subscription};
use dq_proto::broker::ConsumeItem;
use tempfile::TempDir;

use crate::common::*;

const LEASE: Duration = Duration::from_secs(10);

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// A broker over `dir` with fast timings and the topic `t`.
async fn broker_with_topic_t(dir: &TempDir) -> Broker {
    let broker = open(fast_config(dir));
    broker.create_topic("t", None).await.unwrap();
    broker
}

/// The next delivery, due `after` from now: nothing until 10 ms before, then it within 20 ms (`why` it is due).
async fn due_after(sub: &mut Subscription, after: Duration, why: &str) -> ConsumeItem {
    nothing_within(sub, after.checked_sub(ms(10)).unwrap()).await;
    tokio::time::timeout(ms(20), sub.next())
        .await
        .expect(why)
        .unwrap()
}

#[tokio::test(start_paused = true)]
async fn lease_expiry_redelivers_with_one_more_attempt() {
    let dir = TempDir::new().unwrap();
    let broker = broker_with_topic_t(&dir).await;
    broker.produce(msg("t", "a")).await.unwrap();
    let mut sub = broker.subscribe("t", "g", "w1", Some(LEASE)).unwrap();
    let first = next(&mut sub).await;
    assert_eq!(first.attempts, 1);
    nothing_within(&mut sub, LEASE.checked_sub(ms(100)).unwrap()).await;

    let mut other = broker.subscribe("t", "g", "w2", Some(LEASE)).unwrap();
    let second = next(&mut other).await;
    assert_eq!((second.offset, second.attempts), (0, 2));
    assert_eq!(second.last_error, "ack_timeout");
    assert!(
        matches!(
            broker.ack(settle("t", "g", "w1", &first)).await,
            Err(Error::NotOwner)
        ),
        "now leased to w2"
    );
    broker.ack(settle("t", "g", "w2", &second)).await.unwrap();
    nothing_within(&mut sub, LEASE * 3).await;
}

#[tokio::test(start_paused = true)]
async fn an_expired_message_can_no_longer_be_acked_by_its_old_owner() {
    let dir = TempDir::new().unwrap();
    let broker = broker_with_topic_t(&dir).await;
    broker.produce(msg("t", "a")).await.unwrap();
    let mut sub = broker.subscribe("t", "g", "w1", Some(LEASE)).unwrap();
    let first = next(&mut sub).await;
    tokio::time::sleep(LEASE + ms(1)).await;
    assert!(matches!(
        broker.ack(settle("t", "g", "w1", &first)).await,
        Err(Error::NotInFlight)
    ));
    let again = next(&mut sub).await;
    assert_eq!(again.attempts, 2);
    assert!(again.last_error.contains("ack_timeout"));
}

#[tokio::test(start_paused = true)]
async fn nack_honours_the_backoff_which_grows_and_is_capped() {
    let dir = TempDir::new().unwrap();
    let broker = broker_with_topic_t(&dir).await;
    broker
        .produce(with_envelope(
            "t",
            "a",
            policy(Some(10), Some(1000), Some(3000)),
        ))
        .await
        .unwrap();
    let mut sub = broker.subscribe("t", "g", "w", Some(LEASE)).unwrap();
    let mut item = next(&mut sub).await;
    // After failure n the message waits min(1000 · 2^(n−1), 3000) ms.
    for (failures, backoff) in [(1u32, 1000u64), (2, 2000), (3, 3000), (4, 3000)] {
        assert_eq!(item.attempts, failures);
        broker
            .nack(settle("t", "g", "w", &item), None, None)
            .await
            .unwrap();
        item = due_after(&mut sub, ms(backoff), "due after the backoff").await;
    }
    assert_eq!(item.attempts, 5);
}

#[tokio::test(start_paused = true)]
async fn lease_expiry_honours_the_backoff_too() {
    let dir = TempDir::new().unwrap();
    let broker = broker_with_topic_t(&dir).await;
    broker
        .produce(with_envelope("t", "a", policy(None, Some(5000), None)))
        .await
        .unwrap();
    let mut sub = broker.subscribe("t", "g", "w", Some(LEASE)).unwrap();
    let first = next(&mut sub).await;
    assert_eq!(first.attempts, 1);
    // Expires at 10 s, then waits Backoff(1) = 5 s.
    let again = due_after(&mut sub, LEASE + ms(5000), "due after lease + backoff").await;
    assert_eq!(again.attempts, 2);
    assert_eq!(again.last_error, "ack_timeout");
}

#[tokio::test(start_paused = true)]
async fn an_explicit_nack_delay_overrides_the_backoff() {
    let dir = TempDir::new().unwrap();
    let broker = broker_with_topic_t(&dir).await;
    broker
        .produce(with_envelope("t", "a", policy(None, Some(60_000), None)))
        .await
        .unwrap();
    broker.produce(msg("t", "b")).await.unwrap();
    let mut sub = broker.subscribe("t", "g", "w", Some(LEASE)).unwrap();
    let a = next(&mut sub).await;
    broker
        .nack(
            settle("t", "g", "w", &a),
            Some("later".into()),
            Some(ms(2000)),
        )
        .await
        .unwrap();
    let b = next(&mut sub).await;
    assert_eq!(b.value, "b", "others are not held up by a waiting retry");
    broker.ack(settle("t", "g", "w", &b)).await.unwrap();
    let again = due_after(&mut sub, ms(2000), "due after the delay").await;
    assert_eq!((again.value.as_str(), again.attempts), ("a", 2));

    // Without a policy, a delay still applies.
    broker.produce(msg("t", "c")).await.unwrap();
    broker.ack(settle("t", "g", "w", &again)).await.unwrap();
    let c = next(&mut sub).await;
    broker
        .nack(settle("t", "g", "w", &c), None, Some(ms(500)))
        .await
        .unwrap();
    assert_eq!(due_after(&mut sub, ms(500), "due").await.value, "c");
}

#[tokio::test(start_paused = true)]
async fn lease_expiries_count_towards_max_attempts() {
    let dir = TempDir::new().unwrap();
    let broker = broker_with_topic_t(&dir).await;
    broker
        .produce(with_envelope("t", "a", policy(Some(2), None, None)))
        .await
        .unwrap();
    let mut sub = broker.subscribe("t", "g", "w", Some(LEASE)).unwrap();
    assert_eq!(next(&mut sub).await.attempts, 1);
    assert_eq!(next(&mut sub).await.attempts, 2);
    nothing_within(&mut sub, LEASE * 3).await;
    let mut dlq = broker.subscribe("dlq.t", "ops", "o", None).unwrap();
    let dead = next(&mut dlq).await;
    let info = dead.dlq.expect("dlq metadata");
    assert_eq!(info.attempts, 2);
    assert_eq!(info.last_error, "ack_timeout; ack_timeout");
}

/// A consumer that never acks must not make a hot loop: the first expiry redelivers at once, each later one
/// waits min(lease, 1 s) · 2^(attempts − 2), at most 30 s.
#[tokio::test(start_paused = true)]
async fn ack_timeout_redeliveries_back_off_more_each_time() {
    let dir = TempDir::new().unwrap();
    let broker = broker_with_topic_t(&dir).await;
    broker.produce(msg("t", "a")).await.unwrap();
    let lease = ms(1000);
    let mut sub = broker.subscribe("t", "g", "w", Some(lease)).unwrap();
    assert_eq!(next(&mut sub).await.attempts, 1);
    let second = due_after(&mut sub, lease, "the first expiry redelivers at once").await;
    assert_eq!(second.attempts, 2);
    let third = due_after(&mut sub, lease + ms(1000), "due after lease + 1 s").await;
    assert_eq!(third.attempts, 3);
    let fourth = due_after(&mut sub, lease + ms(2000), "due after lease + 2 s").await;
    assert_eq!(
        (fourth.attempts, fourth.last_error.as_str()),
        (4, "ack_timeout; ack_timeout; ack_timeout")
    );
    // Still deliverable and settleable like any other.
    broker.ack(settle("t", "g", "w", &fourth)).await.unwrap();
    nothing_within(&mut sub, ms(60_000)).await;
}

#[tokio::test(start_paused = true)]
async fn ack_timeout_backoff_starts_at_the_lease_and_is_capped() {
    let dir = TempDir::new().unwrap();
    let broker = broker_with_topic_t(&dir).await;
    broker.produce(msg("t", "a")).await.unwrap();
    let lease = dq_broker::MIN_LEASE;
    let mut sub = broker.subscribe("t", "g", "w", Some(lease)).unwrap();
    let mut item = next(&mut sub).await;
    for attempts in 1u32..14 {
        assert_eq!(item.attempts, attempts);
        let backoff = match attempts {
            1 => 0,
            n => (100u64 << (n - 2)).min(30_000),
        };
        item = due_after(&mut sub, lease + ms(backoff), "due after lease + backoff").await;
    }
    assert_eq!(item.attempts, 14);
}
