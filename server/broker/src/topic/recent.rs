//! The newest messages of a partition, kept in memory as they are appended so that delivery takes them from
//! here instead of reading them back from fjall (by the time a consumer that lags gets to them, they have
//! often left the memtable for a table, and reading and decoding them was the biggest cost of a delivery).
//!
//! Only a cache: a message missing here is read from the store as before, so what it holds never changes what
//! is delivered. It holds consecutive offsets only (an append that does not follow on starts it afresh), at
//! most [`TOPIC_BYTES`] of values per topic split over its partitions, and is filled only for topics with a
//! consumer group (a run's timeline topic, read by offset, never fills one).

use std::collections::VecDeque;
use std::sync::Arc;

use parking_lot::Mutex;

use crate::record::MessageRecord;

/// The most bytes of keys and values one topic keeps here, over all its partitions.
pub(crate) const TOPIC_BYTES: usize = 4 * 1024 * 1024;

/// What one record counts against the limit: its key and value, and a little for the rest.
fn weight(record: &MessageRecord) -> usize {
    record.key.len() + record.value.len() + 64
}

/// A partition's newest messages: `records[i]` is at offset `start + i`.
#[derive(Default)]
pub(crate) struct Recent {
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    start: u64,
    records: VecDeque<Arc<MessageRecord>>,
    bytes: usize,
}

impl Recent {
    /// Appends `records` at consecutive offsets from `offset`, then drops the oldest while over `limit` bytes.
    pub(crate) fn extend(
        &self,
        offset: u64,
        records: impl IntoIterator<Item = Arc<MessageRecord>>,
        limit: usize,
    ) {
        let mut inner = self.inner.lock();
        let end = inner.start + inner.records.len() as u64;
        if end != offset || inner.records.is_empty() {
            inner.records.clear();
            inner.bytes = 0;
            inner.start = offset;
        }
        for record in records {
            inner.bytes += weight(&record);
            inner.records.push_back(record);
        }
        while inner.bytes > limit {
            let Some(oldest) = inner.records.pop_front() else {
                break;
            };
            inner.bytes -= weight(&oldest);
            inner.start += 1;
        }
    }

    /// The records at `from` and after it (at most `max`), as far as they are kept; empty when `from` is not.
    pub(crate) fn get(&self, from: u64, max: usize) -> Vec<(u64, Arc<MessageRecord>)> {
        let inner = self.inner.lock();
        let Some(skip) = from
            .checked_sub(inner.start)
            .and_then(|skip| usize::try_from(skip).ok())
        else {
            return Vec::new();
        };
        inner
            .records
            .iter()
            .skip(skip)
            .take(max)
            .zip(from..)
            .map(|(record, offset)| (offset, Arc::clone(record)))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::{Recent, weight};
    use crate::record::MessageRecord;

    fn record(value: &str) -> Arc<MessageRecord> {
        Arc::new(MessageRecord {
            produced_at_ms: 0,
            key: String::new(),
            value: value.into(),
            envelope: None,
            dlq: None,
        })
    }

    fn values(got: &[(u64, Arc<MessageRecord>)]) -> Vec<(u64, &str)> {
        got.iter().map(|(o, r)| (*o, r.value.as_str())).collect()
    }

    /// A run's timeline (no consumer group) keeps nothing in memory; a topic with a group keeps what single and
    /// batch produces append, at their offsets.
    #[tokio::test]
    async fn only_topics_with_a_consumer_group_keep_their_newest_messages() {
        let dir = tempfile::TempDir::new().unwrap();
        let broker = crate::Broker::open(crate::Config {
            durable: false,
            ..crate::Config::new(dir.path())
        })
        .unwrap();
        let produce = |topic: &str, value: &str| crate::Produce {
            topic: topic.into(),
            value: value.into(),
            ..crate::Produce::default()
        };
        for topic in ["timeline", "queue"] {
            broker.create_topic(topic, None).await.unwrap();
        }
        let _sub = broker.subscribe("queue", "g", "w", None).unwrap();
        for topic in ["timeline", "queue"] {
            broker.produce(produce(topic, "a")).await.unwrap();
            broker
                .produce_batch(vec![produce(topic, "b"), produce(topic, "c")])
                .await
                .unwrap();
        }
        let kept = |topic: &str| {
            let topic = broker.shared.topic(topic).unwrap();
            let got = topic.partition(0).unwrap().recent.get(0, 10);
            got.iter()
                .map(|(o, r)| (*o, r.value.clone()))
                .collect::<Vec<_>>()
        };
        assert!(kept("timeline").is_empty());
        assert_eq!(
            kept("queue"),
            [
                (0, "a".to_owned()),
                (1, "b".to_owned()),
                (2, "c".to_owned())
            ]
        );
        broker.shutdown();
    }

    #[test]
    fn it_keeps_consecutive_offsets_within_its_limit_and_starts_afresh_on_a_gap() {
        let recent = Recent::default();
        let one = weight(&record("a"));
        recent.extend(5, ["a", "b", "c"].map(record), 10 * one);
        assert_eq!(values(&recent.get(6, 10)), [(6, "b"), (7, "c")]);
        assert_eq!(values(&recent.get(5, 1)), [(5, "a")]);
        assert!(recent.get(4, 10).is_empty(), "before what it holds");
        assert!(recent.get(8, 10).is_empty(), "after what it holds");
        // Over the limit: the oldest go.
        recent.extend(8, ["d", "e"].map(record), 3 * one);
        assert!(recent.get(6, 10).is_empty(), "dropped");
        assert_eq!(values(&recent.get(7, 10)), [(7, "c"), (8, "d"), (9, "e")]);
        // A gap (another writer's offsets were not kept): only the new ones are.
        recent.extend(20, ["x"].map(record), 10 * one);
        assert_eq!(values(&recent.get(20, 10)), [(20, "x")]);
        assert!(recent.get(9, 10).is_empty(), "before the gap: dropped");
    }
}
