//! The shared state behind every [`Broker`](crate::Broker) handle ([`Shared`]): the store, the committer, the
//! timers, the topic map and the counters, with the write path every module uses (creating a topic, appending a
//! message, registering a batch with the group commit) and the shutdown. It must not know about requests
//! (produce, subscriptions), sweeps or recovery: those modules call in here; its one call out is to `lifecycle`
//! for the topic limits a creation must pass.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use fjall::OwnedWriteBatch;
use parking_lot::{Mutex, RwLock};
use tokio::sync::Notify;
use tokio::time::Instant;

use crate::commit::{Committer, Visible};
use crate::store::{self, MessageRecord, Store, TopicRecord};
use crate::timers::Timers;
use crate::topic::group::{Host, TimerEntry};
use crate::topic::{Counters, Partition, Topic};
use crate::{Config, Error};

/// Set once by [`Broker::shutdown`](crate::Broker::shutdown) (or when the last handle goes); wakes the background task.
#[derive(Default)]
pub(crate) struct Shutdown {
    flag: AtomicBool,
    pub(crate) notify: Notify,
}

impl Shutdown {
    pub(crate) fn is_set(&self) -> bool {
        self.flag.load(Ordering::SeqCst)
    }
}

/// Everything behind the handle.
pub(crate) struct Shared {
    pub(crate) config: Config,
    pub(crate) store: Store,
    pub(crate) committer: Committer,
    pub(crate) timers: Timers<TimerEntry>,
    /// By name; a hash map because run timelines make thousands of topics that share a long prefix.
    pub(crate) topics: RwLock<HashMap<String, Arc<Topic>>>,
    /// Serialises topic creation and deletion; holds the next topic id.
    pub(crate) next_topic_id: Mutex<u32>,
    /// Partitions of every topic in `topics`, for `max_total_partitions`; changed under `next_topic_id`.
    pub(crate) total_partitions: AtomicU64,
    /// Serialises the check-then-write of idempotent produces and the idempotency sweep.
    pub(crate) idem_lock: Mutex<()>,
    pub(crate) shutdown: Arc<Shutdown>,
    pub(crate) rejected: Mutex<BTreeMap<&'static str, u64>>,
    pub(crate) duplicates: AtomicU64,
    /// The sweep thread, joined on shutdown.
    pub(crate) sweeper: Mutex<Option<std::thread::JoinHandle<()>>>,
}

impl Shared {
    pub(crate) fn topic(&self, name: &str) -> Option<Arc<Topic>> {
        self.topics.read().get(name).cloned()
    }

    /// The group-commit ticket for a batch just committed, or `None` when the broker is not durable.
    pub(crate) fn ticket(&self) -> Option<u64> {
        self.config.durable.then(|| self.committer.register(None))
    }

    /// Registers a batch just committed that nobody waits for (a delivery's attempts, a sweep, a new group's
    /// cursors): the store leaves commits in fjall's journal buffer until the group commit writes them out.
    pub(crate) fn written(&self) {
        if self.config.durable {
            self.committer.written();
        }
    }

    pub(crate) async fn wait(&self, ticket: Option<u64>) -> Result<(), Error> {
        match ticket {
            Some(ticket) => self.committer.wait(ticket).await,
            None => Ok(()),
        }
    }

    pub(crate) fn reject(&self, reason: &'static str, error: Error) -> Error {
        *self.rejected.lock().entry(reason).or_default() += 1;
        error
    }

    /// [`Shared::ensure_topic`] for the broker's own topics (`dlq.<topic>`): never refused by the topic limits,
    /// because a dead letter must not be refused.
    pub(crate) fn ensure_topic_uncapped(
        &self,
        name: &str,
        partitions: u32,
    ) -> Result<Arc<Topic>, Error> {
        self.ensure_topic(name, partitions, false)
    }

    /// Returns the topic, creating it with `partitions` partitions if needed (refused over the topic limits when
    /// `capped`). The creation is committed, not yet synced: wait for a barrier taken after this call before
    /// answering that it exists.
    pub(crate) fn ensure_topic(
        &self,
        name: &str,
        partitions: u32,
        capped: bool,
    ) -> Result<Arc<Topic>, Error> {
        if let Some(topic) = self.topic(name) {
            return Ok(topic);
        }
        let mut next_id = self.next_topic_id.lock();
        if let Some(topic) = self.topic(name) {
            return Ok(topic);
        }
        if capped {
            self.check_topic_limits(name, partitions)?;
        }
        let id = *next_id;
        let record = TopicRecord {
            id,
            partitions,
            created_at_ms: self.config.clock.now_ms(),
        };
        let mut batch = self.store.batch()?;
        batch.insert(
            &self.store.meta,
            store::topic_key(name),
            store::encode(&record),
        );
        batch.commit()?;
        *next_id = id
            .checked_add(1)
            .ok_or_else(|| Error::InvalidArgument("too many topics".into()))?;
        self.written();
        let parts = (0..partitions).map(|_| Partition::new(0, 0)).collect();
        let topic = Arc::new(Topic::new(name.to_owned(), id, parts, record.created_at_ms));
        self.topics
            .write()
            .insert(name.to_owned(), Arc::clone(&topic));
        self.total_partitions
            .fetch_add(u64::from(partitions), Ordering::AcqRel);
        tracing::info!(topic = name, partitions, "created topic");
        Ok(topic)
    }

    /// Appends a message to partition `p` of `topic` in one batch with whatever `extra` adds; returns its offset
    /// and the group-commit ticket. The head lock is held across the commit so that journal order is offset order.
    pub(crate) fn append(
        &self,
        topic: &Topic,
        p: u32,
        record: &MessageRecord,
        check_backlog: bool,
        extra: impl FnOnce(&mut OwnedWriteBatch, u64),
    ) -> Result<(u64, Option<u64>), Error> {
        let partition = topic
            .partition(p)
            .ok_or_else(|| Error::InvalidArgument(format!("no partition {p}")))?;
        // Asked before the head lock is taken, which must not wait for the groups map.
        let keep = topic.wants_recent();
        let mut head = partition.head.lock();
        // Checked under the head lock, which a deletion takes after setting the flag: either this append is done
        // before the deletion removes the topic's keys, or it sees the flag.
        if topic.is_deleted() {
            return Err(Error::UnknownTopic(topic.name.clone()));
        }
        let offset = *head;
        if check_backlog
            && !topic.is_dlq()
            && offset - partition.first().min(offset) >= self.config.max_partition_backlog
        {
            return Err(self.reject(
                "backlog_full",
                Error::Exhausted {
                    message: format!(
                        "partition {p} of topic {} holds {} messages, the limit",
                        topic.name, self.config.max_partition_backlog
                    ),
                    reason: "backlog_full".into(),
                    retry_after_ms: 1000,
                },
            ));
        }
        let mut batch = self.store.batch()?;
        batch.insert(
            &self.store.msgs,
            store::msg_key(topic.id, p, offset),
            record.encode(),
        );
        extra(&mut batch, offset);
        batch.commit()?;
        if keep {
            topic.keep_recent(p, offset, [Arc::new(record.clone())]);
        }
        *head = offset + 1;
        let visible = Visible {
            head: Arc::clone(&partition.visible),
            upto: offset + 1,
            notify: Arc::clone(&topic.notify),
        };
        let ticket = if self.config.durable {
            Some(self.committer.register(Some(visible)))
        } else {
            visible.apply();
            None
        };
        drop(head);
        Counters::bump(&topic.counters.produced);
        Ok((offset, ticket))
    }

    pub(crate) fn shut_down(&self) {
        if self.shutdown.flag.swap(true, Ordering::SeqCst) {
            return;
        }
        self.shutdown.notify.notify_waiters();
        for topic in self.topics.read().values() {
            topic.notify.notify_waiters();
        }
        let sweeper = self.sweeper.lock().take();
        if let Some(sweeper) = sweeper {
            sweeper.thread().unpark();
            // The sweep thread itself ends up here when it held the last handle: it returns on its own.
            if sweeper.thread().id() != std::thread::current().id() && sweeper.join().is_err() {
                tracing::error!("the sweep thread panicked");
            }
        }
        self.committer.stop();
        let started = Instant::now();
        match self.store.close(self.config.flush_on_close) {
            Ok(()) => tracing::debug!(elapsed = ?started.elapsed(), "store closed"),
            Err(e) => {
                tracing::warn!(error = %e, "could not flush the store; the next start replays the journal");
            }
        }
    }
}

impl Drop for Shared {
    fn drop(&mut self) {
        self.shut_down();
    }
}

/// The consumer-group logic reaches the rest of the broker through this (see [`Host`]).
impl Host for Shared {
    fn store(&self) -> &Store {
        &self.store
    }

    fn timers(&self) -> &Timers<TimerEntry> {
        &self.timers
    }

    fn config(&self) -> &Config {
        &self.config
    }

    fn ticket(&self) -> Option<u64> {
        Shared::ticket(self)
    }

    fn written(&self) {
        Shared::written(self);
    }

    fn ensure_topic_uncapped(&self, name: &str, partitions: u32) -> Result<Arc<Topic>, Error> {
        Shared::ensure_topic_uncapped(self, name, partitions)
    }

    fn append(
        &self,
        topic: &Topic,
        p: u32,
        record: &MessageRecord,
        check_backlog: bool,
        extra: impl FnOnce(&mut OwnedWriteBatch, u64),
    ) -> Result<(u64, Option<u64>), Error> {
        Shared::append(self, topic, p, record, check_backlog, extra)
    }
}

#[cfg(test)]
mod tests {
    use dq_proto::broker::Envelope;

    use super::*;
    use crate::{Broker, Produce};

    fn keyed(topic: &str, key: &str) -> Produce {
        Produce {
            topic: topic.into(),
            value: "v".into(),
            envelope: Some(Envelope {
                idempotency_key: Some(key.into()),
                ..Envelope::default()
            }),
            ..Produce::default()
        }
    }

    /// A panic while the idempotency lock, a partition head, a group or the topic map is held must leave each
    /// usable: with std locks every later produce or delivery panicked on the poisoned lock.
    #[tokio::test]
    async fn a_panic_while_a_lock_is_held_leaves_the_broker_usable() {
        let dir = tempfile::TempDir::new().unwrap();
        let broker = Broker::open(Config {
            durable: false,
            ..Config::new(dir.path())
        })
        .unwrap();
        broker.create_topic("t", None).await.unwrap();
        let mut sub = broker.subscribe("t", "g", "o", None).unwrap();
        let shared = &broker.shared;
        let topic = shared.topic("t").unwrap();
        let group = topic.group("g").unwrap();
        let partition = topic.partition(0).unwrap();
        let panicked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let _idem = shared.idem_lock.lock();
            let _head = partition.head.lock();
            let _group = group.state.lock();
            let _topics = shared.topics.read();
            panic!("a bug while the locks are held");
        }));
        assert!(panicked.is_err());
        broker.produce(keyed("t", "k1")).await.unwrap();
        broker
            .produce(Produce {
                key: None,
                ..keyed("t", "")
            })
            .await
            .unwrap();
        let item = sub.try_next().expect("a delivery");
        assert_eq!(item.offset, 0);
        assert_eq!(broker.topics(), vec!["t".to_owned()]);
        broker.shutdown();
    }
}
