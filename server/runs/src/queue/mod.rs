//! The small queue trait through which the runs service and the worker reach a broker, and [`HttpQueue`],
//! its implementation speaking DriftQ v1. The other backends (the embedded dq-broker, JetStream) live in their
//! own crates, chosen by the composition root, so that dq-runs depends on no broker.
//!
//! The trait names only what runs need: topics (created, and deleted by retention), produce with an idempotency key (also without waiting for
//! durability, so that a writer making several writes in a row waits once), a consume stream of one group
//! member with a lease, ack, nack with a delay, and a non-consuming read (for timelines and for rebuilding
//! the run registry). It must not grow broker administration.

mod http;

pub use http::HttpQueue;

use std::time::Duration;

use async_trait::async_trait;
use dq_proto::broker::ConsumeItem;
use dq_proto::runs::ReadItem;
use futures::future::BoxFuture;
use futures::stream::BoxStream;

use crate::QueueError;

/// Topic deletions [`Queue::delete_topics`] has under way at once by default.
const DELETES_AT_ONCE: usize = 4;

/// One message to produce.
#[derive(Debug, Clone)]
pub struct Outgoing {
    /// The topic (must exist).
    pub topic: String,
    /// Partitioning key.
    pub key: Option<String>,
    /// The payload (a JSON object as a string, by the starter's convention).
    pub value: String,
    /// A second produce with the same key inside the broker's window stores nothing.
    pub idempotency_key: Option<String>,
}

/// What a produce stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProduceOutcome {
    /// Where it was stored, when the broker says (a real driftqd does not).
    pub offset: Option<u64>,
    /// True when the broker recognised an idempotent duplicate and stored nothing.
    pub duplicate: bool,
}

/// When a write made through [`Queue::produce_pending`] or [`Queue::create_topic_pending`] is durable. Writes
/// through one queue become durable in the order they were made (per topic only, where
/// [`Queue::orders_across_topics`] is false), so waiting for a later one covers every earlier one.
#[must_use = "a pending write is not durable until `wait` returns"]
pub struct Durable(Option<BoxFuture<'static, Result<(), QueueError>>>);

impl Durable {
    /// Already durable.
    pub fn now() -> Self {
        Self(None)
    }

    /// Durable once `wait` resolves.
    pub fn later(wait: impl Future<Output = Result<(), QueueError>> + Send + 'static) -> Self {
        Self(Some(Box::pin(wait)))
    }

    /// Waits until the write is durable.
    pub async fn wait(self) -> Result<(), QueueError> {
        match self.0 {
            Some(wait) => wait.await,
            None => Ok(()),
        }
    }
}

/// One member of a consumer group.
#[derive(Debug, Clone)]
pub struct ConsumeSpec {
    /// The topic.
    pub topic: String,
    /// The consumer group.
    pub group: String,
    /// The lease owner named in acks and nacks.
    pub owner: String,
    /// How long a delivery stays leased before the broker redelivers it.
    pub lease: Duration,
}

/// The deliveries of one consume stream; it ends when the broker closes it.
pub type Deliveries = BoxStream<'static, Result<ConsumeItem, QueueError>>;

/// What the runs service and the worker need from a broker. Object-safe: held as `Arc<dyn Queue>`.
#[async_trait]
pub trait Queue: Send + Sync + 'static {
    /// The broker's health answer (`GET /v1/healthz`).
    async fn health(&self) -> Result<serde_json::Value, QueueError>;

    /// Creates a topic unless it exists (an existing topic keeps its partition count).
    async fn create_topic(&self, name: &str, partitions: u32) -> Result<(), QueueError>;

    /// [`Queue::create_topic`] for a topic the runs service needs in order to free room under a broker's topic
    /// cap, which the cap must not refuse: the archive, written before any timeline is deleted. By default (a
    /// broker whose cap has no exception) [`Queue::create_topic`].
    async fn create_topic_uncapped(&self, name: &str, partitions: u32) -> Result<(), QueueError> {
        self.create_topic(name, partitions).await
    }

    /// Deletes a topic with everything it holds, durably; a topic that does not exist is not an error.
    /// Retention deletes the topics of finished runs once their timelines are archived. By default (a broker
    /// that keeps topics itself) [`QueueError::Unsupported`]: retention then keeps every topic.
    async fn delete_topic(&self, _name: &str) -> Result<(), QueueError> {
        Err(QueueError::Unsupported("topic deletion"))
    }

    /// Deletes each of `names` as [`Queue::delete_topic`] does, durably before it returns. A queue that can
    /// delete many topics in one go overrides this (the embedded broker: one purge and one sync for all); by
    /// default a few at a time. On an error some may be deleted: deleting them again is not an error.
    async fn delete_topics(&self, names: &[String]) -> Result<(), QueueError> {
        for some in names.chunks(DELETES_AT_ONCE) {
            futures::future::try_join_all(some.iter().map(|name| self.delete_topic(name))).await?;
        }
        Ok(())
    }

    /// Messages of `topic` that consumer group `group` has not settled yet (`None` without the topic). The
    /// runs service refuses new runs past `RunsConfig::max_unfinished` of its commands. By default (a broker
    /// that does not say) [`QueueError::Unsupported`]: runs are then not limited.
    async fn unsettled(&self, _topic: &str, _group: &str) -> Result<Option<u64>, QueueError> {
        Err(QueueError::Unsupported("consumer lag"))
    }

    /// Stores one message; returns once the broker acknowledged it.
    async fn produce(&self, message: Outgoing) -> Result<ProduceOutcome, QueueError>;

    /// Stores one message after every earlier write through this queue, without waiting for it to be durable:
    /// a writer that makes several writes in a row waits once, for the last. Nobody reads the message before it
    /// is durable. By default (a broker that answers only once durable) this is [`Queue::produce`].
    async fn produce_pending(
        &self,
        message: Outgoing,
    ) -> Result<(ProduceOutcome, Durable), QueueError> {
        Ok((self.produce(message).await?, Durable::now()))
    }

    /// Stores `messages` in order, after every earlier write through this queue, and returns once all of them
    /// are durable, with what each stored (in order). A queue that can store them in one write overrides this
    /// (the embedded broker: one batch, one sync, all or none); by default each is produced without waiting
    /// and the last is waited for, with a wait at each change of topic where topics have no common order
    /// ([`Queue::orders_across_topics`]), so that nobody sees a message before the ones ahead of it. On an
    /// error some may be stored: a writer sending them again relies on their idempotency keys.
    async fn produce_all(&self, messages: &[Outgoing]) -> Result<Vec<ProduceOutcome>, QueueError> {
        let ordered = self.orders_across_topics();
        let mut outcomes = Vec::with_capacity(messages.len());
        let mut last: Option<(&str, Durable)> = None;
        for message in messages {
            // Otherwise the wait for a later write covers this one.
            if let Some((topic, durable)) = last.take()
                && !ordered
                && topic != message.topic
            {
                durable.wait().await?;
            }
            let (outcome, durable) = self.produce_pending(message.clone()).await?;
            outcomes.push(outcome);
            last = Some((&message.topic, durable));
        }
        if let Some((_, durable)) = last {
            durable.wait().await?;
        }
        Ok(outcomes)
    }

    /// [`Queue::create_topic`] without waiting for durability: later writes may use the topic at once.
    async fn create_topic_pending(
        &self,
        name: &str,
        partitions: u32,
    ) -> Result<Durable, QueueError> {
        self.create_topic(name, partitions).await?;
        Ok(Durable::now())
    }

    /// Whether writes to different topics become durable in the order they were made. A broker whose topics
    /// have no common order (JetStream streams) answers false; a writer then waits for its pending writes
    /// before it writes to another topic, so that nobody sees a write before the ones made ahead of it.
    fn orders_across_topics(&self) -> bool {
        true
    }

    /// Joins `spec.group` as `spec.owner` and streams its deliveries.
    async fn consume(&self, spec: &ConsumeSpec) -> Result<Deliveries, QueueError>;

    /// Acknowledges a delivery.
    async fn ack(&self, spec: &ConsumeSpec, partition: u32, offset: u64) -> Result<(), QueueError>;

    /// Acknowledges a delivery for an acker to whom a lost ack only means a redelivery it handles (the worker:
    /// the run's timeline says what was done). The embedded broker makes it durable with the next write somebody
    /// waits for, so that it costs no fsync of its own; by default this is [`Queue::ack`].
    async fn ack_lazily(
        &self,
        spec: &ConsumeSpec,
        partition: u32,
        offset: u64,
    ) -> Result<(), QueueError> {
        self.ack(spec, partition, offset).await
    }

    /// Rejects a delivery; the broker redelivers it after `delay`.
    async fn nack(
        &self,
        spec: &ConsumeSpec,
        partition: u32,
        offset: u64,
        reason: &str,
        delay: Duration,
    ) -> Result<(), QueueError>;

    /// Yields after each message any process writes to `topic`, where the broker can tell, so that a run's
    /// followers see writes made on other hosts at once. `None` (the default): they poll.
    fn watch(&self, _topic: &str) -> Option<BoxStream<'static, ()>> {
        None
    }

    /// Up to `limit` stored messages of one partition from offset `from` on, without consuming them.
    async fn read(
        &self,
        topic: &str,
        partition: u32,
        from: u64,
        limit: usize,
    ) -> Result<Vec<ReadItem>, QueueError>;
}
