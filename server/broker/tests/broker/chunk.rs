//! Chunked delivery ([`Subscription::try_next_chunk`]): every ready message in one call, one partition after
//! the other, within the item, byte and in-flight limits, and with attempt counts that survive a restart.

use dq_broker::{Config, Subscription};
use dq_proto::broker::{ConsumeItem, Envelope};
use tempfile::TempDir;

use crate::common::{close, config, fast_config, msg, open, with_envelope};

fn to(p: i64, value: &str) -> dq_broker::Produce {
    with_envelope(
        "t",
        value,
        Envelope {
            partition_override: Some(p),
            ..Envelope::default()
        },
    )
}

fn positions(items: &[ConsumeItem]) -> Vec<(u32, u64)> {
    items.iter().map(|i| (i.partition, i.offset)).collect()
}

fn chunk(sub: &mut Subscription, items: usize) -> Vec<ConsumeItem> {
    sub.try_next_chunk(items, usize::MAX)
}

#[tokio::test]
async fn a_chunk_takes_the_ready_messages_partition_by_partition_up_to_its_item_limit() {
    let dir = TempDir::new().unwrap();
    let broker = open(fast_config(&dir));
    broker.create_topic("t", Some(2)).await.unwrap();
    for (p, v) in [(0, "a"), (0, "b"), (0, "c"), (1, "x")] {
        broker.produce(to(p, v)).await.unwrap();
    }
    let mut sub = broker.subscribe("t", "g", "w", None).unwrap();
    let first = chunk(&mut sub, 3);
    assert_eq!(positions(&first), [(0, 0), (1, 0), (0, 1)]);
    assert!(first.iter().all(|i| i.attempts == 1));
    let rest = chunk(&mut sub, 32);
    assert_eq!(positions(&rest), [(0, 2)]);
    assert!(chunk(&mut sub, 32).is_empty(), "nothing left to deliver");
}

#[tokio::test]
async fn a_chunk_stops_at_its_byte_limit_and_at_max_in_flight() {
    let dir = TempDir::new().unwrap();
    let broker = open(Config {
        max_in_flight: 3,
        ..fast_config(&dir)
    });
    broker.create_topic("t", Some(1)).await.unwrap();
    for v in ["0123456789", "1", "2", "3", "4"] {
        broker.produce(msg("t", v)).await.unwrap();
    }
    let mut sub = broker.subscribe("t", "g", "w", None).unwrap();
    // The first value alone reaches the byte limit: no second message joins it.
    let first = sub.try_next_chunk(32, 10);
    assert_eq!(positions(&first), [(0, 0)]);
    // Two more fill max_in_flight (three), counting the ones picked in the same chunk.
    let second = chunk(&mut sub, 32);
    assert_eq!(positions(&second), [(0, 1), (0, 2)]);
    assert!(chunk(&mut sub, 32).is_empty(), "max_in_flight reached");
}

#[tokio::test]
async fn attempts_of_a_chunk_survive_a_restart() {
    let dir = TempDir::new().unwrap();
    let broker = open(config(&dir));
    broker.create_topic("t", Some(1)).await.unwrap();
    for v in ["a", "b", "c"] {
        broker.produce(msg("t", v)).await.unwrap();
    }
    let mut sub = broker.subscribe("t", "g", "w", None).unwrap();
    assert_eq!(chunk(&mut sub, 32).len(), 3);
    drop(sub);
    close(broker);

    let broker = open(config(&dir));
    let mut sub = broker.subscribe("t", "g", "w", None).unwrap();
    let again = chunk(&mut sub, 32);
    assert_eq!(positions(&again), [(0, 0), (0, 1), (0, 2)]);
    assert!(
        again.iter().all(|i| i.attempts == 2),
        "each delivery of the chunk was counted: {again:?}"
    );
}
