//! dq-broker: the durable message broker embedded in dq.
//!
//! It owns topics with partitions and per-partition offsets, producer idempotency, consumer groups with owners
//! and leases, ack / nack, retries with backoff, dead-lettering to `dlq.<topic>`, retention and size limits,
//! and the storage of all of it in fjall. It knows nothing of HTTP or of runs: the HTTP edges live in
//! dq-server, runs in dq-runs.
//!
//! The core is synchronous behind a cheap-to-clone [`Broker`] handle; the only async points are waiting for
//! durability (group commit), waiting for a message ([`Subscription::next`]) and the lease/backoff timer task.

mod config;
mod error;

pub use config::Config;
pub use error::{Error, ErrorKind};

use std::time::Duration;

use dq_proto::broker::{ConsumeItem, Envelope, Produced};

/// A validated produce: the HTTP layer checks presence of fields, the broker checks everything else.
#[derive(Debug, Clone, Default)]
pub struct Produce {
    /// Topic to write to (the envelope's `target_topic` overrides it).
    pub topic: String,
    /// Partitioning key.
    pub key: Option<String>,
    /// Non-empty payload.
    pub value: String,
    /// Optional envelope.
    pub envelope: Option<Envelope>,
}

/// Identifies one delivered message for ack / nack.
#[derive(Debug, Clone)]
pub struct Settle {
    /// Topic.
    pub topic: String,
    /// Consumer group.
    pub group: String,
    /// Lease owner named by the request.
    pub owner: String,
    /// Partition.
    pub partition: u32,
    /// Offset.
    pub offset: u64,
}

/// What a topic is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicInfo {
    /// Name.
    pub name: String,
    /// Partition count.
    pub partitions: u32,
}

/// A stored message read back without consuming it (for timelines).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredMessage {
    /// Partition.
    pub partition: u32,
    /// Offset.
    pub offset: u64,
    /// Key (`""` when none).
    pub key: String,
    /// Payload.
    pub value: String,
    /// Envelope, if any.
    pub envelope: Option<Envelope>,
    /// When it was produced (unix ms).
    pub produced_at_ms: u64,
}

/// Counters and gauges for `/metrics`.
#[derive(Debug, Clone, Default)]
pub struct Metrics {
    /// Messages stored by produce, per topic.
    pub produced: Vec<(String, u64)>,
    /// Messages delivered to consumers, per topic.
    pub delivered: Vec<(String, u64)>,
    /// Acks, per topic.
    pub acked: Vec<(String, u64)>,
    /// Nacks, per topic.
    pub nacked: Vec<(String, u64)>,
    /// Messages dead-lettered, per original topic.
    pub dead_lettered: Vec<(String, u64)>,
    /// Produce requests rejected, per reason (`too_large`, `backlog_full`, `deadline_passed`, ...).
    pub produce_rejected: Vec<(String, u64)>,
    /// In flight per (topic, group).
    pub in_flight: Vec<(String, String, u64)>,
    /// Consumer lag (head − committed low-water mark) per (topic, group).
    pub lag: Vec<(String, String, u64)>,
    /// Idempotent duplicates answered without storing.
    pub duplicates: u64,
}

/// The broker handle. Clone it freely; all clones share one store.
#[derive(Clone)]
pub struct Broker {}

/// One live consume stream of a group. Dropping it leaves the group (its in-flight messages expire by lease).
pub struct Subscription {}

impl Broker {
    /// Opens (or creates) the store in `config.data_dir`, recovers every topic, message, offset, idempotency key
    /// and attempt count, and starts the group-commit thread and the lease/backoff timer task. Must be called
    /// inside a tokio runtime.
    pub fn open(config: Config) -> Result<Broker, Error> {
        let _ = config;
        todo!()
    }

    /// Creates a topic with `partitions` partitions (`None` = 1); durable when it returns. Creating an existing
    /// topic is not an error: the existing partition count is returned.
    pub async fn create_topic(&self, name: &str, partitions: Option<u32>) -> Result<TopicInfo, Error> {
        let _ = (name, partitions);
        todo!()
    }

    /// Every topic name, sorted.
    pub fn topics(&self) -> Vec<String> {
        todo!()
    }

    /// One topic, if it exists.
    pub fn topic(&self, name: &str) -> Option<TopicInfo> {
        let _ = name;
        todo!()
    }

    /// Stores a message; returns once it is durable. A duplicate (same tenant, topic and idempotency key inside
    /// the window) stores nothing and answers with `duplicate: true`.
    pub async fn produce(&self, produce: Produce) -> Result<Produced, Error> {
        let _ = produce;
        todo!()
    }

    /// Joins `group` on `topic` as a new stream whose deliveries are leased to `owner` for `lease`
    /// (`None` = the configured default).
    pub fn subscribe(
        &self,
        topic: &str,
        group: &str,
        owner: &str,
        lease: Option<Duration>,
    ) -> Result<Subscription, Error> {
        let _ = (topic, group, owner, lease);
        todo!()
    }

    /// Acknowledges a delivered message; returns once the commit is durable.
    pub async fn ack(&self, settle: Settle) -> Result<(), Error> {
        let _ = settle;
        todo!()
    }

    /// Rejects a delivered message: it is redelivered after the retry policy's backoff (or `delay`), or
    /// dead-lettered when its attempts are exhausted.
    pub async fn nack(
        &self,
        settle: Settle,
        reason: Option<String>,
        delay: Option<Duration>,
    ) -> Result<(), Error> {
        let _ = (settle, reason, delay);
        todo!()
    }

    /// Reads up to `limit` stored messages of one partition from offset `from` on, without consuming them.
    pub fn read(
        &self,
        topic: &str,
        partition: u32,
        from: u64,
        limit: usize,
    ) -> Result<Vec<StoredMessage>, Error> {
        let _ = (topic, partition, from, limit);
        todo!()
    }

    /// A snapshot of the counters and gauges.
    pub fn metrics(&self) -> Metrics {
        todo!()
    }

    /// Whether produce waits for fsync.
    pub fn durable(&self) -> bool {
        todo!()
    }

    /// Ends every subscription (their `next` returns `None`) and stops the background tasks. Idempotent.
    pub fn shutdown(&self) {
        todo!()
    }
}

impl Subscription {
    /// The next message for this stream, waiting until one is available. `None` once the broker shuts down.
    pub async fn next(&mut self) -> Option<ConsumeItem> {
        todo!()
    }
}
