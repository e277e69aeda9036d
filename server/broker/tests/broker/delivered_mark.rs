//! What the broker stores per partition instead of per message, read back after a restart: first deliveries
//! are recorded by a mark (every unsettled message under it counts as delivered once, acked ones stay acked,
//! failed ones keep their own count and reason), and acks ahead of the low-water mark by runs of offsets.

use std::time::Duration;

use dq_broker::AckBatch;
use dq_proto::broker::ConsumeItem;
use tempfile::TempDir;

use crate::common::{close, config, msg, one_partition_of, open, settle};

fn summary(items: &[ConsumeItem]) -> Vec<(u64, u32, String)> {
    items
        .iter()
        .map(|i| (i.offset, i.attempts, i.last_error.clone()))
        .collect()
}

#[tokio::test]
async fn a_restart_counts_first_deliveries_under_the_mark_and_keeps_acks_and_failures() {
    let dir = TempDir::new().unwrap();
    let broker = open(config(&dir));
    one_partition_of(&broker, 6).await;
    let mut sub = broker.subscribe("t", "g", "w", None).unwrap();
    let first = sub.try_next_chunk(5, usize::MAX);
    assert_eq!(first.len(), 5, "offsets 0..5; 5 is never delivered");
    broker
        .ack_batch(AckBatch {
            topic: "t".into(),
            group: "g".into(),
            owner: "w".into(),
            positions: vec![(0, 1), (0, 3)],
        })
        .await
        .unwrap();
    broker
        .nack(
            settle("t", "g", "w", &first[4]),
            Some("boom".into()),
            Some(Duration::from_secs(3600)),
        )
        .await
        .unwrap();
    drop(sub);
    close(broker);

    let broker = open(config(&dir));
    let mut sub = broker.subscribe("t", "g", "w", None).unwrap();
    let items = sub.try_next_chunk(32, usize::MAX);
    // 0 and 2 were delivered once (the mark), 4 failed once (its own record), 5 was never delivered.
    assert_eq!(
        summary(&items),
        [
            (0, 2, String::new()),
            (2, 2, String::new()),
            (4, 2, "boom".into()),
            (5, 1, String::new()),
        ]
    );
    let positions = items.iter().map(|i| (i.partition, i.offset)).collect();
    broker
        .ack_batch(AckBatch {
            topic: "t".into(),
            group: "g".into(),
            owner: "w".into(),
            positions,
        })
        .await
        .unwrap();
    drop(sub);
    close(broker);

    let broker = open(config(&dir));
    let mut sub = broker.subscribe("t", "g", "w", None).unwrap();
    assert!(
        sub.try_next_chunk(32, usize::MAX).is_empty(),
        "everything was acked: nothing comes back"
    );
    broker.produce(msg("t", "v6")).await.unwrap();
    let items = sub.try_next_chunk(32, usize::MAX);
    assert_eq!(summary(&items), [(6, 1, String::new())]);
    close(broker);
}

fn ack(positions: &[u64]) -> AckBatch {
    AckBatch {
        topic: "t".into(),
        group: "g".into(),
        owner: "w".into(),
        positions: positions.iter().map(|&o| (0, o)).collect(),
    }
}

/// Acks ahead of the low-water mark are stored as runs of consecutive offsets: after a restart they are still
/// acked, and once the mark passes them they are gone for good.
#[tokio::test]
async fn runs_of_acks_ahead_of_the_mark_survive_a_restart_and_go_once_the_mark_passes() {
    let dir = TempDir::new().unwrap();
    let broker = open(config(&dir));
    one_partition_of(&broker, 10).await;
    let mut sub = broker.subscribe("t", "g", "w", None).unwrap();
    assert_eq!(sub.try_next_chunk(32, usize::MAX).len(), 10);
    broker.ack_batch(ack(&[5, 6, 7, 8, 2])).await.unwrap();
    drop(sub);
    close(broker);

    let broker = open(config(&dir));
    let mut sub = broker.subscribe("t", "g", "w", None).unwrap();
    let offsets: Vec<u64> = sub
        .try_next_chunk(32, usize::MAX)
        .iter()
        .map(|i| i.offset)
        .collect();
    assert_eq!(offsets, [0, 1, 3, 4, 9]);
    broker.ack_batch(ack(&[0, 1, 3, 4])).await.unwrap();
    drop(sub);
    close(broker);

    let broker = open(config(&dir));
    let mut sub = broker.subscribe("t", "g", "w", None).unwrap();
    let offsets: Vec<u64> = sub
        .try_next_chunk(32, usize::MAX)
        .iter()
        .map(|i| i.offset)
        .collect();
    assert_eq!(offsets, [9], "the mark passed every run");
    close(broker);
}
