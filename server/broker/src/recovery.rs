//! Recovery: rebuilds topics, partition heads and group positions from the store when the broker opens. It only
//! reads the store and returns what it found; it must not write, start anything or depend on a running broker.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use crate::store::{self, AttemptsRecord, Store, TopicRecord};
use crate::topic::group::{Group, GroupPart, Prior};
use crate::topic::{Partition, Topic};
use crate::{Config, Error};

/// Below this many stored messages per partition on average, recovery finds every partition's edges in one pass
/// over the message keys rather than by two seeks per partition. A seek costs about as much as reading a few
/// blocks, so one pass wins when partitions are small and many (every run's timeline is a topic of its own), and
/// seeks win when a few partitions hold long backlogs.
const SCAN_BELOW_MESSAGES_PER_PARTITION: usize = 64;

/// A partition: topic id and partition number.
type PartKey = (u32, u32);

/// The offset of a partition's first or last stored message, as its prefix iterator yields it.
fn edge_offset(edge: Option<fjall::Guard>) -> Result<Option<u64>, Error> {
    Ok(edge
        .map(fjall::Guard::key)
        .transpose()?
        .and_then(|k| store::msg_key_offset(&k)))
}

/// The first and last stored offset of one partition, by two seeks.
fn seek_edges(store: &Store, (tid, p): PartKey) -> Result<Option<(u64, u64)>, Error> {
    let mut stored = store.msgs.prefix(store::partition_prefix(tid, p));
    let first = edge_offset(stored.next())?;
    // One iterator serves both ends: with a single message, `next` took it and `next_back` is empty.
    let last = edge_offset(stored.next_back())?.or(first);
    Ok(first.zip(last))
}

/// The first and last stored offset of every partition that holds a message, by one pass over the keys
/// (partitions of deleted topics included: the caller looks up only the ones it knows).
pub(crate) fn scan_edges(store: &Store) -> Result<HashMap<PartKey, (u64, u64)>, Error> {
    let mut edges: HashMap<PartKey, (u64, u64)> = HashMap::new();
    for kv in store.msgs.iter() {
        let key = kv.key()?;
        let (Some(tid), Some(p), Some(off)) = (
            key.get(..4)
                .and_then(|b| b.try_into().ok())
                .map(u32::from_be_bytes),
            key.get(4..8)
                .and_then(|b| b.try_into().ok())
                .map(u32::from_be_bytes),
            store::msg_key_offset(&key),
        ) else {
            continue;
        };
        // Keys come in order, so the first key of a partition has its lowest offset and the last its highest.
        edges
            .entry((tid, p))
            .and_modify(|e| e.1 = off)
            .or_insert((off, off));
    }
    Ok(edges)
}

/// Every partition's retention floor, by one pass over the `floor/` records.
fn floors(store: &Store) -> Result<HashMap<PartKey, u64>, Error> {
    let mut floors = HashMap::new();
    for kv in store.meta.prefix(store::FLOOR_PREFIX) {
        let (key, value) = kv.into_inner()?;
        if let (Some(part), Some(floor)) = (store::parse_floor_key(&key), store::u64_value(&value))
        {
            floors.insert(part, floor);
        }
    }
    Ok(floors)
}

/// Rebuilds topics, heads and group positions from the store.
pub(crate) fn recover(
    store: &Store,
    config: &Config,
) -> Result<(HashMap<String, Arc<Topic>>, u32), Error> {
    let started = std::time::Instant::now();
    let mut records = Vec::new();
    for kv in store.meta.prefix(store::TOPIC_PREFIX) {
        let (key, value) = kv.into_inner()?;
        let Some(name) = key
            .get(store::TOPIC_PREFIX.len()..)
            .and_then(|n| std::str::from_utf8(n).ok())
        else {
            tracing::warn!("skipping a topic record with an unreadable name");
            continue;
        };
        let record: TopicRecord = store::decode(&value, "topic")?;
        records.push((name.to_owned(), record));
    }
    let partitions: usize = records.iter().map(|(_, r)| r.partitions as usize).sum();
    let scanned = (store.msgs.approximate_len()
        < partitions.saturating_mul(SCAN_BELOW_MESSAGES_PER_PARTITION))
    .then(|| scan_edges(store))
    .transpose()?;
    let floors = floors(store)?;
    let mut topics = HashMap::new();
    let mut by_id: BTreeMap<u32, Arc<Topic>> = BTreeMap::new();
    let mut next_id = 0u32;
    for (name, record) in records {
        let mut parts = Vec::new();
        for p in 0..record.partitions {
            let edges = match &scanned {
                Some(scanned) => scanned.get(&(record.id, p)).copied(),
                None => seek_edges(store, (record.id, p))?,
            };
            let floor = floors.get(&(record.id, p)).copied().unwrap_or(0);
            let head = edges.map_or(0, |(_, last)| last + 1).max(floor);
            let first = edges.map_or(head, |(first, _)| first).max(floor);
            parts.push(Partition::new(first, head));
        }
        next_id = next_id.max(record.id.saturating_add(1));
        let topic = Arc::new(Topic::new(
            name.clone(),
            record.id,
            parts,
            record.created_at_ms,
        ));
        by_id.insert(record.id, Arc::clone(&topic));
        topics.insert(name, topic);
    }

    next_id = next_id.max(deleted_topic_id_floor(store)?);

    // Group positions: low-water marks, then acks above them, then delivery attempts of unsettled offsets.
    let mut groups: BTreeMap<(u32, String), Vec<GroupPart>> = BTreeMap::new();
    let mut part_of = |tid: u32, group: &str, p: u32| -> Option<(Arc<Topic>, usize)> {
        let topic = by_id.get(&tid)?;
        let idx = usize::try_from(p)
            .ok()
            .filter(|i| *i < topic.partitions.len())?;
        groups.entry((tid, group.to_owned())).or_insert_with(|| {
            topic
                .partitions
                .iter()
                .map(|part| GroupPart::new(part.first()))
                .collect()
        });
        Some((Arc::clone(topic), idx))
    };
    let mut cursors = Vec::new();
    for kv in store.cursors.iter() {
        let (key, value) = kv.into_inner()?;
        let (Some(k), Some(lwm)) = (store::parse_group_key(&key), store::u64_value(&value)) else {
            continue;
        };
        if let Some((topic, idx)) = part_of(k.tid, &k.group, k.partition) {
            cursors.push((k.tid, k.group, idx, lwm.max(topic.partitions[idx].first())));
        }
    }
    let mut acks = Vec::new();
    for kv in store.acks.iter() {
        let (key, value) = kv.into_inner()?;
        let Some(k) = store::parse_group_key(&key) else {
            continue;
        };
        if let (Some((_, idx)), Some(off)) = (part_of(k.tid, &k.group, k.partition), k.offset) {
            // A run of consecutive acks is valued with its end; one ack (the only form before runs) is empty.
            let end = store::u64_value(&value).unwrap_or(off + 1);
            acks.push((k.tid, k.group, idx, off, end));
        }
    }
    let mut attempts = Vec::new();
    let mut marks = Vec::new();
    for kv in store.attempts.iter() {
        let (key, value) = kv.into_inner()?;
        let Some(k) = store::parse_group_key(&key) else {
            continue;
        };
        let Some((_, idx)) = part_of(k.tid, &k.group, k.partition) else {
            continue;
        };
        match k.offset {
            Some(off) => {
                let record: AttemptsRecord = store::decode(&value, "attempts")?;
                attempts.push((k.tid, k.group, idx, off, record));
            }
            // A partition's first-delivery mark (see `topic::group`).
            None => {
                if let Some(mark) = store::u64_value(&value) {
                    marks.push((k.tid, k.group, idx, mark));
                }
            }
        }
    }
    for (tid, group, idx, lwm) in cursors {
        if let Some(gp) = groups
            .get_mut(&(tid, group))
            .and_then(|parts| parts.get_mut(idx))
        {
            *gp = GroupPart::new(lwm);
        }
    }
    for (tid, group, idx, start, end) in acks {
        if let Some(gp) = groups
            .get_mut(&(tid, group))
            .and_then(|parts| parts.get_mut(idx))
            && end > gp.lwm
        {
            gp.acked.extend(start.max(gp.lwm)..end);
            gp.ack_runs.insert(start, end);
        }
    }
    for (tid, group, idx, off, record) in attempts {
        if let Some(gp) = groups
            .get_mut(&(tid, group))
            .and_then(|parts| parts.get_mut(idx))
            && off >= gp.lwm
            && !gp.acked.contains(&off)
        {
            gp.prior.insert(
                off,
                Prior {
                    attempts: record.attempts,
                    last_error: record.last_error,
                },
            );
        }
    }
    // Unsettled offsets under a first-delivery mark without a record of their own were delivered once.
    for (tid, group, idx, mark) in marks {
        if let Some(gp) = groups
            .get_mut(&(tid, group))
            .and_then(|parts| parts.get_mut(idx))
        {
            for off in gp.lwm..mark {
                if !gp.acked.contains(&off) {
                    gp.prior.entry(off).or_insert_with(|| Prior {
                        attempts: 1,
                        last_error: String::new(),
                    });
                }
            }
            gp.delivered = gp.delivered.max(mark);
        }
    }
    let group_count = groups.len();
    for ((tid, name), parts) in groups {
        if let Some(topic) = by_id.get(&tid) {
            let group = Arc::new(Group::new(name.clone(), parts, config.clock.now_ms()));
            topic.groups.lock().insert(name, group);
        }
    }
    tracing::info!(dir = %config.data_dir.display(), topics = topics.len(), groups = group_count,
        ms = started.elapsed().as_millis(), "recovered broker state");
    Ok((topics, next_id))
}

/// The lowest topic id a new topic may get, given the deletions recorded in the store: ids are never reused, so
/// that stray keys of a deleted topic can never belong to a later one.
pub(crate) fn deleted_topic_id_floor(store: &Store) -> Result<u32, Error> {
    let mut floor = store
        .meta
        .get(store::NEXT_TOPIC_ID_KEY)?
        .and_then(|v| Some(u32::from_be_bytes(v.get(..4)?.try_into().ok()?)))
        .unwrap_or(0);
    for kv in store.meta.prefix(store::DELETED_PREFIX) {
        let key = kv.key()?;
        if let Some(tid) = store::parse_deleted_key(&key) {
            floor = floor.max(tid.saturating_add(1));
        }
    }
    Ok(floor)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use dq_proto::broker::Envelope;

    use super::*;
    use crate::{Broker, Produce};

    /// Both ways of finding a partition's first and last offset agree: on an empty partition, one with one
    /// message and one with several, next to other topics' keys.
    #[tokio::test]
    async fn one_pass_over_the_keys_finds_the_same_edges_as_two_seeks_per_partition() {
        let dir = tempfile::TempDir::new().unwrap();
        let broker = Broker::open(Config {
            sweep_interval: Duration::from_secs(3600),
            ..Config::new(dir.path())
        })
        .unwrap();
        broker.create_topic("a", Some(3)).await.unwrap();
        broker.create_topic("b", Some(1)).await.unwrap();
        for (topic, partition, count) in [("a", 0, 5), ("a", 2, 1), ("b", 0, 3)] {
            for i in 0..count {
                broker
                    .produce(Produce {
                        topic: topic.into(),
                        value: format!("v{i}"),
                        envelope: Some(Envelope {
                            partition_override: Some(partition),
                            ..Envelope::default()
                        }),
                        ..Produce::default()
                    })
                    .await
                    .unwrap();
            }
        }
        let shared = &broker.shared;
        let id = |name: &str| shared.topic(name).unwrap().id;
        let scanned = scan_edges(&shared.store).unwrap();
        for part in [(id("a"), 0), (id("a"), 1), (id("a"), 2), (id("b"), 0)] {
            assert_eq!(
                seek_edges(&shared.store, part).unwrap(),
                scanned.get(&part).copied(),
                "{part:?}"
            );
        }
        assert_eq!(scanned.get(&(id("a"), 0)), Some(&(0, 4)));
        assert_eq!(scanned.get(&(id("a"), 1)), None);
        assert_eq!(scanned.get(&(id("a"), 2)), Some(&(0, 0)));
        assert_eq!(scanned.get(&(id("b"), 0)), Some(&(0, 2)));
        broker.shutdown();
    }
}
