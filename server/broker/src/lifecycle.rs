//! Topic limits and the end of things: the caps on topics and partitions checked at creation, topic deletion
//! (unlink, purge, and the sweep that finishes a deletion cut short) and forgetting idle consumer groups. It
//! must not reuse a topic id or remove a key that a live topic or group still needs.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use fjall::OwnedWriteBatch;

use crate::Error;
use crate::broker::{Broker, TopicInfo};
use crate::state::Shared;
use crate::store;
use crate::topic::Topic;
use crate::topic::group::Group;

/// How long a client refused by a topic limit is told to wait: a limit frees up only when topics are deleted,
/// so a retry any sooner would be refused again.
const TOPIC_LIMIT_RETRY_MS: u64 = 60_000;

/// Keys of deleted topics removed per write batch: bounds the memory of one batch whatever a topic holds, and,
/// since fjall holds its journal lock while it applies a batch to the memtables and every other writer waits
/// for the whole batch (4096 tombstones took milliseconds), lets the runs' writes in between.
const PURGE_CHUNK: usize = 256;

impl Shared {
    /// Refuses a new topic that would pass `max_topics` or `max_total_partitions`. Called under the topic id
    /// lock, which every creation and deletion holds, so the counts cannot change underneath.
    pub(crate) fn check_topic_limits(&self, name: &str, partitions: u32) -> Result<(), Error> {
        let topics = self.topics.read().len();
        if topics >= self.config.max_topics {
            return Err(Error::Exhausted {
                message: format!(
                    "cannot create topic {name:?}: {topics} topics exist, the limit (max_topics = {}); delete \
                     topics to make room",
                    self.config.max_topics
                ),
                reason: "topic_limit".into(),
                retry_after_ms: TOPIC_LIMIT_RETRY_MS,
            });
        }
        let total = self.total_partitions.load(Ordering::Acquire);
        let max = self.config.max_total_partitions;
        if total.saturating_add(u64::from(partitions)) > max {
            return Err(Error::Exhausted {
                message: format!(
                    "cannot create topic {name:?} with {partitions} partitions: topics hold {total} partitions \
                     and the limit is {max} (max_total_partitions); delete topics to make room"
                ),
                reason: "partition_limit".into(),
                retry_after_ms: TOPIC_LIMIT_RETRY_MS,
            });
        }
        Ok(())
    }

    /// Removes a topic from the store's topic list and from memory: [`Shared::unlink_topics`] of one.
    #[cfg(test)]
    fn unlink_topic(&self, name: &str) -> Result<Arc<Topic>, Error> {
        self.unlink_topics(&[name])?
            .pop()
            .ok_or_else(|| Error::TopicNotFound(name.to_owned()))
    }

    /// Removes the topics of `names` that exist from the store's topic list (in one write) and from memory,
    /// leaving a `deleted/` marker for the data of each, and fences everything that still holds them: appends
    /// see the flag under the head lock, streams end. Answers the topics removed.
    fn unlink_topics(&self, names: &[impl AsRef<str>]) -> Result<Vec<Arc<Topic>>, Error> {
        let next_id = self.next_topic_id.lock();
        let mut topics: Vec<Arc<Topic>> = {
            let live = self.topics.read();
            names
                .iter()
                .filter_map(|name| live.get(name.as_ref()).cloned())
                .collect()
        };
        topics.sort_unstable_by_key(|topic| topic.id);
        topics.dedup_by_key(|topic| topic.id);
        if topics.is_empty() {
            return Ok(topics);
        }
        let mut batch = self.store.batch()?;
        for topic in &topics {
            batch.remove(&self.store.meta, store::topic_key(&topic.name));
            batch.insert(&self.store.meta, store::deleted_key(topic.id), Vec::new());
        }
        batch.insert(
            &self.store.meta,
            store::NEXT_TOPIC_ID_KEY,
            next_id.to_be_bytes().to_vec(),
        );
        batch.commit()?;
        self.written();
        let mut live = self.topics.write();
        for topic in &topics {
            live.remove(&topic.name);
        }
        drop(live);
        let partitions: u64 = topics
            .iter()
            .map(|topic| u64::from(topic.partition_count()))
            .sum();
        self.total_partitions
            .fetch_sub(partitions, Ordering::AcqRel);
        drop(next_id);
        for topic in &topics {
            topic.deleted.store(true, Ordering::Release);
            // Wait out the appends and settles under way: they finish before the keys are removed, later ones
            // see the flag (or no longer find the topic by name).
            for partition in &topic.partitions {
                drop(partition.head.lock());
            }
            let groups: Vec<Arc<Group>> = topic.groups.lock().values().cloned().collect();
            for group in groups {
                drop(group.state.lock());
            }
            topic.notify.notify_waiters();
            tracing::info!(topic = %topic.name, "deleted topic");
        }
        Ok(topics)
    }

    /// Removes up to `limit` keys of the deleted topic `tid` (messages, retention floors, group cursors, acks
    /// and attempts, idempotency keys); returns how many. Expired idempotency index rows go by the usual sweep.
    /// A delivery or settle that held the topic from before the deletion may still write a key or two after
    /// this: harmless, since topic ids are never reused and recovery ignores keys of unknown topics.
    fn purge_chunk(&self, tid: u32, limit: usize) -> Result<usize, Error> {
        let mut batch = self.store.batch()?;
        let removed = self.purge_into(&mut batch, tid, limit)?;
        batch.commit()?;
        Ok(removed)
    }

    /// [`Shared::purge_chunk`] into `batch`, uncommitted.
    fn purge_into(
        &self,
        batch: &mut OwnedWriteBatch,
        tid: u32,
        limit: usize,
    ) -> Result<usize, Error> {
        let prefix = tid.to_be_bytes();
        let floor = store::floor_prefix(tid);
        let store = &self.store;
        let mut removed = 0;
        for (ks, prefix) in [
            (&store.msgs, &prefix[..]),
            (&store.cursors, &prefix[..]),
            (&store.acks, &prefix[..]),
            (&store.attempts, &prefix[..]),
            (&store.idem, &prefix[..]),
            (&store.meta, &floor[..]),
        ] {
            if removed == limit {
                break;
            }
            for kv in ks.prefix(prefix).take(limit - removed) {
                batch.remove(ks, kv.key()?);
                removed += 1;
            }
        }
        Ok(removed)
    }

    /// Removes every key of the deleted topics `tids`, each topic's marker with its last keys: the keys of many
    /// small topics share a write batch, up to [`PURGE_CHUNK`] keys each.
    fn purge_topics(&self, tids: &[u32]) -> Result<(), Error> {
        let mut batch = self.store.batch()?;
        let mut room = PURGE_CHUNK;
        for &tid in tids {
            loop {
                room -= self.purge_into(&mut batch, tid, room)?;
                if room > 0 {
                    // Every key of it is in this batch: its marker goes with them.
                    batch.remove(&self.store.meta, store::deleted_key(tid));
                    room -= 1;
                    break;
                }
                // Full: this topic may have more keys, read again once these are gone.
                batch.commit()?;
                batch = self.store.batch()?;
                room = PURGE_CHUNK;
            }
        }
        batch.commit()?;
        self.written();
        Ok(())
    }

    /// Finishes deletions that a crash (or a failed purge) left half done, up to `sweep_batch` keys; true when
    /// work is left.
    pub(crate) fn sweep_deleted_topics(&self) -> Result<bool, Error> {
        let markers: Vec<u32> = self
            .store
            .meta
            .prefix(store::DELETED_PREFIX)
            .take(self.config.sweep_batch)
            .map(|kv| kv.key().map(|k| store::parse_deleted_key(&k)))
            .collect::<Result<Vec<_>, _>>()?
            .into_iter()
            .flatten()
            .collect();
        let mut budget = self.config.sweep_batch;
        for tid in markers {
            let removed = self.purge_chunk(tid, budget)?;
            self.written();
            budget -= removed;
            if budget == 0 {
                return Ok(true);
            }
            let mut batch = self.store.batch()?;
            batch.remove(&self.store.meta, store::deleted_key(tid));
            batch.commit()?;
            budget -= 1;
            if budget == 0 {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// Forgets consumer groups with no stream, nothing in flight and no activity for `group_idle_retention`:
    /// their cursors, acks and attempts leave the store, then the group leaves memory. Removes up to
    /// `sweep_batch` keys; true when work is left.
    pub(crate) fn sweep_idle_groups(&self) -> Result<bool, Error> {
        let window_ms =
            u64::try_from(self.config.group_idle_retention.as_millis()).unwrap_or(u64::MAX);
        let cutoff = self.config.clock.now_ms().saturating_sub(window_ms);
        if cutoff == 0 {
            return Ok(false);
        }
        let mut budget = self.config.sweep_batch;
        let topics: Vec<Arc<Topic>> = self.topics.read().values().cloned().collect();
        for topic in topics {
            // Held while the group's keys are removed: a consumer joining under the same name meanwhile would
            // otherwise write cursors that this removal deletes.
            let mut groups = topic.groups.lock();
            let idle: Vec<Arc<Group>> = groups
                .values()
                .filter(|g| g.last_active_ms.load(Ordering::Relaxed) < cutoff)
                .cloned()
                .collect();
            for group in idle {
                if budget == 0 {
                    return Ok(true);
                }
                let st = group.state.lock();
                if st.streams > 0 || st.parts.iter().any(|gp| gp.in_flight() > 0) {
                    continue;
                }
                let prefix = store::group_prefix(topic.id, &group.name);
                let store = &self.store;
                let mut batch = store.batch()?;
                let mut removed = 0usize;
                for ks in [&store.cursors, &store.acks, &store.attempts] {
                    for kv in ks.prefix(&prefix) {
                        batch.remove(ks, kv.key()?);
                        removed += 1;
                    }
                }
                batch.commit()?;
                self.written();
                drop(st);
                groups.remove(&group.name);
                budget = budget.saturating_sub(removed.max(1));
                tracing::info!(topic = %topic.name, group = %group.name, "forgot an idle consumer group");
            }
        }
        Ok(false)
    }
}

impl Broker {
    /// Deletes a topic: its messages, its groups' cursors, acks and attempts and its idempotency keys leave the
    /// store, durably, before this returns; its live streams end; its name is free for a new, empty topic.
    /// [`Error::TopicNotFound`] when there is no such topic.
    pub async fn delete_topic(&self, name: &str) -> Result<TopicInfo, Error> {
        self.delete_topics(&[name])
            .await?
            .pop()
            .ok_or_else(|| Error::TopicNotFound(name.to_owned()))
    }

    /// Deletes the topics of `names` that exist as [`Broker::delete_topic`] does each, with one write to unlink
    /// them, one blocking task to purge them and one sync for all; answers the topics deleted (a name without
    /// a topic is skipped). Retention deletes finished runs' topics by the hundred: one sync each made the
    /// group commit sync, and linger, for each.
    pub async fn delete_topics(&self, names: &[impl AsRef<str>]) -> Result<Vec<TopicInfo>, Error> {
        if self.shared.shutdown.is_set() {
            return Err(Error::ShuttingDown);
        }
        let topics = self.shared.unlink_topics(names)?;
        if topics.is_empty() {
            return Ok(Vec::new());
        }
        let infos = topics
            .iter()
            .map(|topic| TopicInfo {
                name: topic.name.clone(),
                partitions: topic.partition_count(),
            })
            .collect();
        let tids: Vec<u32> = topics.iter().map(|topic| topic.id).collect();
        drop(topics);
        // A large topic takes a while to remove: off the async workers. Should it fail, the markers stay and
        // the sweep finishes the job.
        let shared = Arc::clone(&self.shared);
        tokio::task::spawn_blocking(move || shared.purge_topics(&tids))
            .await
            .map_err(|e| {
                Error::Storage(fjall::Error::Io(std::io::Error::other(e.to_string())))
            })??;
        let barrier = self
            .shared
            .config
            .durable
            .then(|| self.shared.committer.barrier());
        self.shared.wait(barrier).await?;
        Ok(infos)
    }

    /// [`Broker::create_topic`] that the topic limits never refuse, for a topic the server itself needs in order
    /// to free room under them: the runs archive, which retention writes before it deletes any timeline (runs
    /// that filled the cap before its first pass kept it from ever being made).
    pub async fn create_topic_uncapped(
        &self,
        name: &str,
        partitions: Option<u32>,
    ) -> Result<TopicInfo, Error> {
        let (info, pending) = self.create_topic_under(name, partitions, false)?;
        pending.durable().await?;
        Ok(info)
    }

    /// How many topics exist and how many partitions they hold, for the topic limits.
    pub fn topic_totals(&self) -> (usize, u64) {
        let _creating = self.shared.next_topic_id.lock();
        (
            self.shared.topics.read().len(),
            self.shared.total_partitions.load(Ordering::Acquire),
        )
    }
}

#[cfg(test)]
mod batch_tests;

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use dq_proto::broker::Envelope;

    use super::*;
    use crate::recovery::deleted_topic_id_floor;
    use crate::{Config, Produce, Settle};

    /// Every key of a deleted topic leaves the store; a deletion cut short (marker left) is finished by the sweep.
    #[tokio::test]
    async fn deleting_a_topic_leaves_no_key_of_it_and_the_sweep_finishes_a_cut_short_deletion() {
        let dir = tempfile::TempDir::new().unwrap();
        let broker = Broker::open(Config {
            sweep_interval: Duration::from_secs(3600),
            ..Config::new(dir.path())
        })
        .unwrap();
        let keyed = |topic: &str, i: usize| Produce {
            topic: topic.into(),
            value: "v".into(),
            envelope: Some(Envelope {
                idempotency_key: Some(format!("k{i}")),
                // One partition, so that acking the second delivery leaves an ack above the low-water mark.
                partition_override: Some(0),
                ..Envelope::default()
            }),
            ..Produce::default()
        };
        let shared = &broker.shared;
        let count = |ks: &fjall::Keyspace| ks.iter().count();
        let all = || {
            [
                count(&shared.store.msgs),
                count(&shared.store.cursors),
                count(&shared.store.acks),
                count(&shared.store.attempts),
                count(&shared.store.idem),
            ]
        };
        for topic in ["a", "b"] {
            broker.create_topic(topic, Some(3)).await.unwrap();
            for i in 0..5 {
                broker.produce(keyed(topic, i)).await.unwrap();
            }
            let mut sub = broker.subscribe(topic, "g", "o", None).unwrap();
            let _first = sub.next().await.unwrap();
            let second = sub.next().await.unwrap();
            broker
                .ack(Settle {
                    topic: topic.into(),
                    group: "g".into(),
                    owner: "o".into(),
                    partition: second.partition,
                    offset: second.offset,
                })
                .await
                .unwrap();
        }
        let before = all();
        assert!(before.iter().all(|n| *n > 0), "{before:?}");
        broker.delete_topic("a").await.unwrap();
        let after = all();
        for (b, a) in before.iter().zip(after) {
            assert_eq!(
                a * 2,
                *b,
                "half the keys went with topic a: {before:?} -> {after:?}"
            );
        }
        assert_eq!(shared.store.meta.prefix(store::DELETED_PREFIX).count(), 0);

        // Cut short: the topic is unlinked but its keys are still there, as after a crash mid-deletion.
        let tid = shared.unlink_topic("b").unwrap().id;
        assert_eq!(all(), after);
        assert!(!shared.sweep_deleted_topics().unwrap());
        assert_eq!(all(), [0; 5]);
        assert_eq!(shared.store.meta.prefix(store::DELETED_PREFIX).count(), 0);
        assert!(
            deleted_topic_id_floor(&shared.store).unwrap() > tid,
            "ids are never reused"
        );
        broker.shutdown();
    }

    /// A deleted topic leaves nothing in memory: no entry in the topic map, and nothing (a settled delivery's
    /// timer, its group, an ended stream) still holds it, so its partitions and groups are freed at once.
    #[tokio::test]
    async fn a_deleted_topic_is_freed_from_memory() {
        let dir = tempfile::TempDir::new().unwrap();
        let broker = Broker::open(Config::new(dir.path())).unwrap();
        broker.create_topic("t", Some(2)).await.unwrap();
        for value in ["a", "b"] {
            broker
                .produce(Produce {
                    topic: "t".into(),
                    value: value.into(),
                    ..Produce::default()
                })
                .await
                .unwrap();
        }
        let mut sub = broker.subscribe("t", "g", "o", None).unwrap();
        let delivered = sub.next().await.unwrap();
        broker
            .ack(Settle {
                topic: "t".into(),
                group: "g".into(),
                owner: "o".into(),
                partition: delivered.partition,
                offset: delivered.offset,
            })
            .await
            .unwrap();
        drop(sub);
        let topic = Arc::downgrade(&broker.shared.topic("t").unwrap());
        broker.delete_topic("t").await.unwrap();
        assert!(broker.shared.topics.read().is_empty());
        assert_eq!(topic.strong_count(), 0, "the deleted topic is still held");
        broker.shutdown();
    }
}
