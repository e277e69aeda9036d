//! First deliveries are read by range scans (a chunk's read-ahead): what a scan reads but the chunk must not
//! deliver (offsets acked before a restart, a due retry in between) is skipped, and every delivery carries its
//! own stored value.

use std::time::Duration;

use dq_broker::{AckBatch, Subscription};
use dq_proto::broker::ConsumeItem;
use tempfile::TempDir;

use crate::common::{close, config, fast_config, one_partition_of, open, settle};

fn chunk(sub: &mut Subscription) -> Vec<ConsumeItem> {
    sub.try_next_chunk(32, usize::MAX)
}

fn offsets_and_values(items: &[ConsumeItem]) -> Vec<(u64, String)> {
    items.iter().map(|i| (i.offset, i.value.clone())).collect()
}

fn expected(offsets: &[u64]) -> Vec<(u64, String)> {
    offsets.iter().map(|&o| (o, format!("v{o}"))).collect()
}

#[tokio::test]
async fn after_a_restart_a_chunk_skips_the_offsets_acked_above_the_mark_and_delivers_the_rest() {
    let dir = TempDir::new().unwrap();
    let broker = open(config(&dir));
    one_partition_of(&broker, 10).await;
    let mut sub = broker.subscribe("t", "g", "w", None).unwrap();
    assert_eq!(chunk(&mut sub).len(), 10);
    broker
        .ack_batch(AckBatch {
            topic: "t".into(),
            group: "g".into(),
            owner: "w".into(),
            positions: vec![(0, 2), (0, 3), (0, 5)],
        })
        .await
        .unwrap();
    drop(sub);
    close(broker);

    let broker = open(config(&dir));
    let mut sub = broker.subscribe("t", "g", "w", None).unwrap();
    let items = chunk(&mut sub);
    assert_eq!(offsets_and_values(&items), expected(&[0, 1, 4, 6, 7, 8, 9]));
    assert!(items.iter().all(|i| i.attempts == 2), "{items:?}");
    close(broker);
}

#[tokio::test]
async fn a_due_retry_and_the_first_deliveries_after_it_each_carry_their_own_value() {
    let dir = TempDir::new().unwrap();
    let broker = open(fast_config(&dir));
    one_partition_of(&broker, 6).await;
    let mut sub = broker.subscribe("t", "g", "w", None).unwrap();
    let first = sub.try_next_chunk(2, usize::MAX);
    assert_eq!(offsets_and_values(&first), expected(&[0, 1]));
    broker
        .nack(settle("t", "g", "w", &first[1]), None, Some(Duration::ZERO))
        .await
        .unwrap();
    let items = chunk(&mut sub);
    assert_eq!(offsets_and_values(&items), expected(&[1, 2, 3, 4, 5]));
    assert_eq!(items[0].attempts, 2);
    close(broker);
}
