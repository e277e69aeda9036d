//! Restarts and damaged journals: what was acknowledged is there after `open`.

use std::fs::OpenOptions;
use std::io::{Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use dq_broker::Produce;
use dq_proto::broker::Envelope;
use tempfile::TempDir;

use crate::common::*;

#[tokio::test]
async fn restart_keeps_topics_partition_counts_messages_and_offsets() {
    let dir = TempDir::new().unwrap();
    let broker = open(config(&dir));
    broker.create_topic("empty", Some(3)).await.unwrap();
    broker.create_topic("full", Some(2)).await.unwrap();
    let env = Envelope {
        run_id: Some("r".into()),
        ..Envelope::default()
    };
    for i in 0..5 {
        let p = i % 2;
        let env = Envelope {
            partition_override: Some(p),
            ..env.clone()
        };
        broker
            .produce(Produce {
                key: Some(format!("k{i}")),
                ..with_envelope("full", &format!("v{i}"), env)
            })
            .await
            .unwrap();
    }
    let before: Vec<_> = (0..2)
        .map(|p| broker.read("full", p, 0, 100).unwrap())
        .collect();
    close(broker);

    let broker = open(config(&dir));
    assert_eq!(broker.topics(), ["empty", "full"]);
    assert_eq!(
        broker.topic("empty").unwrap().partitions,
        3,
        "an empty topic keeps its partition count"
    );
    assert_eq!(broker.topic("full").unwrap().partitions, 2);
    let after: Vec<_> = (0..2)
        .map(|p| broker.read("full", p, 0, 100).unwrap())
        .collect();
    assert_eq!(
        before, after,
        "messages with keys, envelopes and timestamps"
    );
    assert_eq!(after[0].len(), 3);
    let env = Envelope {
        partition_override: Some(0),
        ..Envelope::default()
    };
    assert_eq!(
        broker
            .produce(with_envelope("full", "next", env))
            .await
            .unwrap()
            .offset,
        3,
        "offsets continue"
    );
    assert_eq!(
        broker.produce(msg("empty", "first")).await.unwrap().offset,
        0
    );
}

#[tokio::test]
async fn restart_keeps_idempotency_keys() {
    let dir = TempDir::new().unwrap();
    let broker = open(config(&dir));
    broker.create_topic("t", None).await.unwrap();
    let env = Envelope {
        idempotency_key: Some("once".into()),
        tenant_id: Some("acme".into()),
        ..Envelope::default()
    };
    broker
        .produce(with_envelope("t", "a", env.clone()))
        .await
        .unwrap();
    close(broker);
    let broker = open(config(&dir));
    let again = broker.produce(with_envelope("t", "a", env)).await.unwrap();
    assert!(again.duplicate);
    assert_eq!(again.offset, 0);
    assert_eq!(broker.read("t", 0, 0, 10).unwrap().len(), 1);
}

#[tokio::test]
async fn an_ack_out_of_order_never_skips_the_lower_message_across_a_restart() {
    let dir = TempDir::new().unwrap();
    let broker = open(config(&dir));
    broker.create_topic("t", None).await.unwrap();
    for v in ["zero", "one", "two"] {
        broker.produce(msg("t", v)).await.unwrap();
    }
    let mut sub = broker.subscribe("t", "g", "w", None).unwrap();
    let zero = next(&mut sub).await;
    let one = next(&mut sub).await;
    assert_eq!((zero.offset, one.offset), (0, 1));
    broker.ack(settle("t", "g", "w", &one)).await.unwrap();
    drop(sub);
    close(broker);

    let broker = open(config(&dir));
    let mut sub = broker.subscribe("t", "g", "w", None).unwrap();
    let first = next(&mut sub).await;
    assert_eq!(first.offset, 0, "the unacked lower offset is redelivered");
    assert_eq!(first.attempts, 2, "attempts survive the restart");
    let second = next(&mut sub).await;
    assert_eq!(second.offset, 2, "the acked offset 1 is not redelivered");
    assert_eq!(second.attempts, 1);
    broker.ack(settle("t", "g", "w", &first)).await.unwrap();
    broker.ack(settle("t", "g", "w", &second)).await.unwrap();
    let m = broker.metrics();
    assert!(
        m.lag.contains(&("t".to_owned(), "g".to_owned(), 0)),
        "{:?}",
        m.lag
    );
    drop(sub);
    close(broker);

    let broker = open(config(&dir));
    let mut sub = broker.subscribe("t", "g", "w", None).unwrap();
    nothing_within(&mut sub, std::time::Duration::from_millis(150)).await;
    assert!(
        broker
            .metrics()
            .lag
            .contains(&("t".to_owned(), "g".to_owned(), 0))
    );
}

#[tokio::test]
async fn restart_keeps_attempts_and_last_error() {
    let dir = TempDir::new().unwrap();
    let broker = open(config(&dir));
    broker.create_topic("t", None).await.unwrap();
    broker
        .produce(with_envelope("t", "a", policy(Some(3), None, None)))
        .await
        .unwrap();
    let mut sub = broker.subscribe("t", "g", "w", None).unwrap();
    let first = next(&mut sub).await;
    broker
        .nack(settle("t", "g", "w", &first), Some("boom".into()), None)
        .await
        .unwrap();
    let second = next(&mut sub).await;
    assert_eq!(second.attempts, 2);
    drop(sub);
    close(broker);

    // The second delivery's lease died with the broker; its failure is the third delivery's business.
    let broker = open(config(&dir));
    let mut sub = broker.subscribe("t", "g", "w", None).unwrap();
    let third = next(&mut sub).await;
    assert_eq!(third.attempts, 3);
    assert_eq!(third.last_error, "boom");
    broker
        .nack(settle("t", "g", "w", &third), Some("bang".into()), None)
        .await
        .unwrap();
    let mut dlq = broker.subscribe("dlq.t", "ops", "o", None).unwrap();
    let dead = next(&mut dlq).await;
    assert_eq!(
        dead.dlq.map(|d| (d.attempts, d.last_error)),
        Some((3, "boom; bang".to_owned()))
    );
}

#[tokio::test]
async fn an_exhausted_message_found_at_restart_is_dead_lettered() {
    let dir = TempDir::new().unwrap();
    let broker = open(config(&dir));
    broker.create_topic("t", None).await.unwrap();
    broker
        .produce(with_envelope("t", "a", policy(Some(1), None, None)))
        .await
        .unwrap();
    let mut sub = broker.subscribe("t", "g", "w", None).unwrap();
    assert_eq!(next(&mut sub).await.attempts, 1);
    drop(sub);
    close(broker);

    let broker = open(config(&dir));
    let mut sub = broker.subscribe("t", "g", "w", None).unwrap();
    nothing_within(&mut sub, std::time::Duration::from_millis(150)).await;
    let mut dlq = broker.subscribe("dlq.t", "ops", "o", None).unwrap();
    assert_eq!(next(&mut dlq).await.dlq.map(|d| d.attempts), Some(1));
}

/// The active journal of a closed store: the `<n>.jnl` file with the highest `n`.
fn active_journal(dir: &Path) -> PathBuf {
    std::fs::read_dir(dir)
        .unwrap()
        .filter_map(|e| {
            let path = e.unwrap().path();
            let id = path
                .file_name()?
                .to_str()?
                .strip_suffix(".jnl")?
                .parse::<u64>()
                .ok()?;
            Some((id, path))
        })
        .max()
        .expect("a journal file")
        .1
}

/// Where the journal's data ends (the file is preallocated with zeros).
fn data_len(path: &Path) -> u64 {
    let bytes = std::fs::read(path).unwrap();
    bytes
        .iter()
        .rposition(|b| *b != 0)
        .map_or(0, |i| i as u64 + 1)
}

/// Writes `count` messages, then one marker message as the journal's last batch, and returns a copy of the
/// store's files taken before the broker closed: what a crash at that moment leaves on disk (every produce was
/// answered, so its batch is in the synced journal). A clean close would have emptied the journal.
async fn write_then_crash(count: usize) -> TempDir {
    let dir = TempDir::new().unwrap();
    let broker = open(config(&dir));
    broker.create_topic("t", None).await.unwrap();
    for i in 0..count {
        broker
            .produce(msg("t", &format!("kept-{i}")))
            .await
            .unwrap();
    }
    broker.produce(msg("t", "LAST-MARKER-VALUE")).await.unwrap();
    let crashed = TempDir::new().unwrap();
    copy_dir(dir.path(), crashed.path());
    close(broker);
    crashed
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

/// Opens the damaged store and checks that everything before the last batch is there and that it still works.
async fn assert_recovered(dir: &TempDir, count: usize) {
    let broker = open(config(dir));
    let stored = broker.read("t", 0, 0, 1000).unwrap();
    let kept: Vec<&str> = stored
        .iter()
        .map(|m| m.value.as_str())
        .filter(|v| v.starts_with("kept-"))
        .collect();
    assert_eq!(
        kept.len(),
        count,
        "every message before the damaged tail survives"
    );
    assert!(stored.iter().all(|m| m.offset < count as u64 + 1));
    let produced = broker.produce(msg("t", "after")).await.unwrap();
    assert_eq!(
        produced.offset,
        stored.len() as u64,
        "offsets continue after the recovered head"
    );
    close(broker);
    let broker = open(config(dir));
    assert_eq!(
        broker.read("t", 0, 0, 1000).unwrap().len(),
        stored.len() + 1,
        "and the repaired journal reopens"
    );
}

#[tokio::test]
async fn a_torn_journal_tail_is_recovered() {
    let dir = write_then_crash(50).await;
    let journal = active_journal(dir.path());
    let len = data_len(&journal);
    // Cut into the last batch, as a crash in the middle of a write would.
    OpenOptions::new()
        .write(true)
        .open(&journal)
        .unwrap()
        .set_len(len - 7)
        .unwrap();
    assert_recovered(&dir, 50).await;
    let broker = open(config(&dir));
    assert!(
        !broker
            .read("t", 0, 0, 1000)
            .unwrap()
            .iter()
            .any(|m| m.value == "LAST-MARKER-VALUE")
    );
}

#[tokio::test]
async fn garbage_after_the_journal_tail_is_recovered() {
    let dir = write_then_crash(20).await;
    let journal = active_journal(dir.path());
    let len = data_len(&journal);
    let mut file = OpenOptions::new().write(true).open(&journal).unwrap();
    file.seek(SeekFrom::Start(len)).unwrap();
    file.write_all(&[0x01, 0xff, 0x13, 0x37, 0x02, 0x02, 0x99, 0x42, 0x03])
        .unwrap();
    drop(file);
    assert_recovered(&dir, 20).await;
    let broker = open(config(&dir));
    assert!(
        broker
            .read("t", 0, 0, 1000)
            .unwrap()
            .iter()
            .any(|m| m.value == "LAST-MARKER-VALUE"),
        "a complete batch stays"
    );
}

#[tokio::test]
async fn a_corrupt_journal_tail_is_recovered() {
    let dir = write_then_crash(50).await;
    let journal = active_journal(dir.path());
    let mut bytes = std::fs::read(&journal).unwrap();
    let marker = b"LAST-MARKER-VALUE";
    let at = bytes
        .windows(marker.len())
        .rposition(|w| w == marker)
        .expect("the marker is in the journal");
    // Flip a byte inside the last batch: complete framing, wrong checksum (fjall alone refuses to open this).
    bytes[at + 3] ^= 0x20;
    std::fs::write(&journal, &bytes).unwrap();
    assert_recovered(&dir, 50).await;
    let broker = open(config(&dir));
    let values: Vec<String> = broker
        .read("t", 0, 0, 1000)
        .unwrap()
        .into_iter()
        .map(|m| m.value)
        .collect();
    assert!(
        !values.iter().any(|v| v.starts_with("LAST")),
        "the corrupt batch is dropped"
    );
    let copies = std::fs::read_dir(dir.path())
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .file_name()
                .to_string_lossy()
                .contains(".corrupt-")
        })
        .count();
    assert_eq!(copies, 1, "a copy of the damaged journal is kept");
}

#[tokio::test]
async fn a_clean_close_leaves_no_journal_to_replay_and_loses_nothing() {
    let dir = TempDir::new().unwrap();
    let broker = open(config(&dir));
    broker.create_topic("t", Some(2)).await.unwrap();
    for i in 0..200 {
        broker.produce(msg("t", &format!("m-{i}"))).await.unwrap();
    }
    close(broker);
    let journal = active_journal(dir.path());
    assert_eq!(
        data_len(&journal),
        0,
        "everything went to tables, so the journal was emptied"
    );
    let broker = open(config(&dir));
    let stored: usize = (0..2)
        .map(|p| broker.read("t", p, 0, 1000).unwrap().len())
        .sum();
    assert_eq!(stored, 200, "every message is in the tables");
    let next = broker.produce(msg("t", "after")).await.unwrap();
    assert_eq!(next.offset, 200, "offsets continue after the stored head");
    assert!(
        broker.produce(msg("t", "x")).await.is_ok(),
        "the store takes writes again"
    );
    broker.shutdown();
    assert!(
        broker.produce(msg("t", "late")).await.is_err(),
        "no write is taken after the close"
    );
    drop(broker);
    let broker = open(config(&dir));
    let values: Vec<String> = (0..2)
        .flat_map(|p| broker.read("t", p, 0, 1000).unwrap())
        .map(|m| m.value)
        .collect();
    assert_eq!(values.len(), 202);
    assert!(values.iter().all(|v| v != "late"));
    close(broker);
}
