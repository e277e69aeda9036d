//! Recovery: rebuilds topics, partition heads and group positions from the store when the broker opens. It only
//! reads the store and returns what it found; it must not write, start anything or depend on a running broker.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use crate::store::{self, AttemptsRecord, Store, TopicRecord};
use crate::topic::group::{Group, GroupPart, Prior};
use crate::topic::{Partition, Topic};
use crate::{Config, Error};

/// The offset of a partition's first or last stored message, as its prefix iterator yields it.
fn edge_offset(edge: Option<fjall::Guard>) -> Result<Option<u64>, Error> {
    Ok(edge
        .map(fjall::Guard::key)
        .transpose()?
        .and_then(|k| store::msg_key_offset(&k)))
}

/// Rebuilds topics, heads and group positions from the store.
pub(crate) fn recover(
    store: &Store,
    config: &Config,
) -> Result<(HashMap<String, Arc<Topic>>, u32), Error> {
    let mut topics = HashMap::new();
    let mut by_id: BTreeMap<u32, Arc<Topic>> = BTreeMap::new();
    let mut next_id = 0u32;
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
        let mut parts = Vec::new();
        for p in 0..record.partitions {
            let mut stored = store.msgs.prefix(store::partition_prefix(record.id, p));
            let first_offset = edge_offset(stored.next())?;
            // One iterator serves both ends: with a single message, `next` took it and `next_back` is empty.
            let last_offset = edge_offset(stored.next_back())?.or(first_offset);
            let floor = store
                .meta
                .get(store::floor_key(record.id, p))?
                .and_then(|v| store::u64_value(&v))
                .unwrap_or(0);
            let head = last_offset.map_or(0, |o| o + 1).max(floor);
            let first = first_offset.unwrap_or(head).max(floor);
            parts.push(Partition::new(first, head));
        }
        next_id = next_id.max(record.id.saturating_add(1));
        let topic = Arc::new(Topic::new(
            name.to_owned(),
            record.id,
            parts,
            record.created_at_ms,
        ));
        by_id.insert(record.id, Arc::clone(&topic));
        topics.insert(name.to_owned(), topic);
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
        let (key, _) = kv.into_inner()?;
        let Some(k) = store::parse_group_key(&key) else {
            continue;
        };
        if let (Some((_, idx)), Some(off)) = (part_of(k.tid, &k.group, k.partition), k.offset) {
            acks.push((k.tid, k.group, idx, off));
        }
    }
    let mut attempts = Vec::new();
    for kv in store.attempts.iter() {
        let (key, value) = kv.into_inner()?;
        let Some(k) = store::parse_group_key(&key) else {
            continue;
        };
        let record: AttemptsRecord = store::decode(&value, "attempts")?;
        if let (Some((_, idx)), Some(off)) = (part_of(k.tid, &k.group, k.partition), k.offset) {
            attempts.push((k.tid, k.group, idx, off, record));
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
    for (tid, group, idx, off) in acks {
        if let Some(gp) = groups
            .get_mut(&(tid, group))
            .and_then(|parts| parts.get_mut(idx))
            && off >= gp.lwm
        {
            gp.acked.insert(off);
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
    let group_count = groups.len();
    for ((tid, name), parts) in groups {
        if let Some(topic) = by_id.get(&tid) {
            let group = Arc::new(Group::new(name.clone(), parts, config.clock.now_ms()));
            topic.groups.lock().insert(name, group);
        }
    }
    tracing::info!(dir = %config.data_dir.display(), topics = topics.len(), groups = group_count, "recovered broker state");
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
