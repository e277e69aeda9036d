//! The handle: [`Broker`] opens the store, recovers, starts the background work and answers topic lookups,
//! reads and health questions; [`Pending`] is a write waiting for durability. It holds the shared state in an
//! `Arc` and nothing else: the write path, produce, subscriptions, sweeps and metrics live in their own modules,
//! and this file must not grow state of its own nor take over their work.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::Duration;

use dq_proto::broker::Envelope;
use parking_lot::{Mutex, RwLock};

use crate::commit::Committer;
use crate::recovery::recover;
use crate::state::{Shared, Shutdown};
use crate::store::{self, MessageRecord, Store};
use crate::tasks::{background, sweeper};
use crate::timers::Timers;
use crate::{Config, Error, StorageFailure, validate};

/// What a topic is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicInfo {
    /// Its name (for a dead-letter topic, `dlq.` and the failing topic's name).
    pub name: String,
    /// How many partitions it has; fixed at creation.
    pub partitions: u32,
}

/// A stored message read back without consuming it (for timelines).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredMessage {
    /// The partition it was read from.
    pub partition: u32,
    /// Its offset there.
    pub offset: u64,
    /// The partitioning key (`""` when none).
    pub key: String,
    /// The payload, as produced.
    pub value: String,
    /// The envelope, when the producer sent one.
    pub envelope: Option<Envelope>,
    /// When it was produced (unix ms).
    pub produced_at_ms: u64,
}

/// The broker handle. Clone it freely; all clones share one store.
#[derive(Clone)]
pub struct Broker {
    pub(crate) shared: Arc<Shared>,
}

/// A write that is stored and ordered but maybe not durable yet. Writes become durable in the order they were
/// made, and every `Pending` covers the writes made before the call that returned it, so waiting for a later
/// one covers every earlier one.
#[must_use = "a pending write is not durable until `durable` returns"]
pub struct Pending {
    shared: Arc<Shared>,
    ticket: Option<u64>,
    /// The group commit was not asked for a sync of this ticket yet: [`Pending::durable`] asks.
    unasked: bool,
}

impl Pending {
    /// Waits until the write is durable (at once without fsync, or when it was durable already).
    pub async fn durable(self) -> Result<(), Error> {
        if self.unasked
            && let Some(ticket) = self.ticket
        {
            self.shared.committer.ask(ticket);
        }
        self.shared.wait(self.ticket).await
    }
}

impl Broker {
    /// Opens (or creates) the store in `config.data_dir`, recovers every topic, message, offset, idempotency key
    /// and attempt count, and starts the group-commit thread, the sweep thread and the lease/backoff timer task.
    /// Must be called inside a tokio runtime.
    pub fn open(config: Config) -> Result<Broker, Error> {
        let runtime = tokio::runtime::Handle::try_current().map_err(|_| {
            Error::InvalidArgument("the broker must be opened inside a tokio runtime".into())
        })?;
        let store = Store::open(&config.data_dir, config.cache_bytes, config.durable)?;
        let (topics, next_id) = recover(&store, &config)?;
        let total_partitions: u64 = topics
            .values()
            .map(|t| u64::from(t.partition_count()))
            .sum();
        let committer = Committer::start(
            store.db.clone(),
            config.data_dir.clone(),
            Arc::clone(&store.health),
        )?;
        let sweep_interval = config.sweep_interval.max(Duration::from_millis(1));
        let shared = Arc::new(Shared {
            config,
            store,
            committer,
            timers: Timers::default(),
            topics: RwLock::new(topics),
            next_topic_id: Mutex::new(next_id),
            total_partitions: AtomicU64::new(total_partitions),
            idem_lock: Mutex::new(()),
            shutdown: Arc::new(Shutdown::default()),
            rejected: Mutex::new(BTreeMap::new()),
            duplicates: AtomicU64::new(0),
            sweeper: Mutex::new(None),
        });
        let weak = Arc::downgrade(&shared);
        let sweeper = std::thread::Builder::new()
            .name("dq-broker-sweep".into())
            .spawn(move || sweeper(&weak, sweep_interval))
            .map_err(|e| Error::Storage(fjall::Error::Io(e)))?;
        *shared.sweeper.lock() = Some(sweeper);
        runtime.spawn(background(
            Arc::downgrade(&shared),
            Arc::clone(&shared.timers.changed),
            Arc::clone(&shared.shutdown),
        ));
        Ok(Broker { shared })
    }

    /// Creates a topic with `partitions` partitions (`None` = 1); durable when it returns. Creating an existing
    /// topic is not an error: the existing partition count is returned.
    pub async fn create_topic(
        &self,
        name: &str,
        partitions: Option<u32>,
    ) -> Result<TopicInfo, Error> {
        let (info, pending) = self.create_topic_pending(name, partitions)?;
        pending.durable().await?;
        Ok(info)
    }

    /// [`Broker::create_topic`] without the wait: the topic exists when it returns (later writes may use it)
    /// and is durable once the returned [`Pending`] is.
    pub fn create_topic_pending(
        &self,
        name: &str,
        partitions: Option<u32>,
    ) -> Result<(TopicInfo, Pending), Error> {
        self.create_topic_under(name, partitions, true)
    }

    /// [`Broker::create_topic_pending`], refused over the topic limits only when `capped`.
    pub(crate) fn create_topic_under(
        &self,
        name: &str,
        partitions: Option<u32>,
        capped: bool,
    ) -> Result<(TopicInfo, Pending), Error> {
        validate::topic_name(name)?;
        let partitions = partitions.unwrap_or(1);
        if partitions == 0 || partitions > self.shared.config.max_partitions {
            return Err(Error::InvalidArgument(format!(
                "invalid partitions: {partitions} (allowed 1..={})",
                self.shared.config.max_partitions
            )));
        }
        if self.shared.shutdown.is_set() {
            return Err(Error::ShuttingDown);
        }
        let topic = self.shared.ensure_topic(name, partitions, capped)?;
        let info = TopicInfo {
            name: topic.name.clone(),
            partitions: topic.partition_count(),
        };
        // Covers the topic's creation, whoever made it, and every write made before this call: a caller that
        // waits only for this pending write must find its own earlier writes durable too. No sync is asked for
        // until somebody waits: a topic created for the writes that follow at once (a run's timeline, then its
        // first batch) would otherwise get a sync of its own, and the batch a second one after it.
        let covering = self
            .shared
            .config
            .durable
            .then(|| self.shared.committer.covering());
        Ok((
            info,
            Pending {
                unasked: true,
                ..self.pending(covering)
            },
        ))
    }

    pub(crate) fn pending(&self, ticket: Option<u64>) -> Pending {
        Pending {
            shared: Arc::clone(&self.shared),
            ticket,
            unasked: false,
        }
    }

    /// Every topic name, sorted.
    pub fn topics(&self) -> Vec<String> {
        let mut names: Vec<String> = self.shared.topics.read().keys().cloned().collect();
        names.sort_unstable();
        names
    }

    /// One topic, if it exists.
    pub fn topic(&self, name: &str) -> Option<TopicInfo> {
        self.shared.topic(name).map(|t| TopicInfo {
            name: t.name.clone(),
            partitions: t.partition_count(),
        })
    }

    /// Reads up to `limit` stored messages of one partition from offset `from` on, without consuming them.
    pub fn read(
        &self,
        topic: &str,
        partition: u32,
        from: u64,
        limit: usize,
    ) -> Result<Vec<StoredMessage>, Error> {
        validate::topic_ref("topic", topic)?;
        let topic = self
            .shared
            .topic(topic)
            .ok_or_else(|| Error::UnknownTopic(topic.to_owned()))?;
        let part = topic.partition(partition).ok_or_else(|| {
            Error::InvalidArgument(format!(
                "partition {partition} is out of range 0..{}",
                topic.partition_count()
            ))
        })?;
        let visible = part.visible();
        if from >= visible || limit == 0 {
            return Ok(Vec::new());
        }
        let range =
            store::msg_key(topic.id, partition, from)..store::msg_key(topic.id, partition, visible);
        let mut out = Vec::with_capacity(limit.min(1024));
        for kv in self.shared.store.msgs.range(range).take(limit) {
            let (key, value) = kv.into_inner()?;
            let record = MessageRecord::decode(&value)?;
            out.push(StoredMessage {
                partition,
                offset: store::msg_key_offset(&key).unwrap_or_default(),
                key: record.key,
                value: record.value,
                envelope: record.envelope,
                produced_at_ms: record.produced_at_ms,
            });
        }
        Ok(out)
    }

    /// The write failure that stopped the store, if one did (then every write fails with it until the
    /// process restarts). Also notices a failed background flush of fjall's.
    pub fn storage_failure(&self) -> Option<StorageFailure> {
        self.shared.store.failure()
    }

    /// Resolves once a write failure stops the store (never, while it works).
    pub fn storage_failed(&self) -> impl Future<Output = StorageFailure> + Send + 'static {
        self.shared.store.health.failed()
    }

    /// Whether produce waits for fsync.
    pub fn durable(&self) -> bool {
        self.shared.config.durable
    }

    /// Ends every subscription (their `next` returns `None`) and stops the background tasks. Idempotent.
    pub fn shutdown(&self) {
        self.shared.shut_down();
    }
}

#[cfg(test)]
mod pending_tests;
