//! DriftQ v1 broker bodies: topics, produce, consume items, ack and nack, health and version.
//!
//! Numeric fields that a client could send negative (`partitions`, `partition`, `offset`, `delay_ms`) are
//! signed here on purpose, so that the server can answer a clear 400 instead of a serde type error.

use serde::{Deserialize, Serialize};

/// `GET /v1/healthz`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Health {
    /// Always `"ok"` when the broker answers.
    pub status: String,
}

/// `GET /v1/version`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Version {
    /// The server's crate version (`CARGO_PKG_VERSION`, e.g. `"0.1.0"`); the original broker answers its own.
    pub version: String,
    /// The source commit, or `"unknown"`.
    pub commit: String,
    /// Whether produced messages are written durably.
    pub wal_enabled: bool,
    /// dq additions this server has (a dq addition itself, so absent from the original broker's answer):
    /// [`FEATURE_BATCH`] when `POST /v1/produce` takes `messages` and `POST /v1/ack` takes `offsets`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub features: Vec<String>,
}

/// The [`Version::features`] entry of the batch forms of produce and ack.
pub const FEATURE_BATCH: &str = "batch";

/// `GET /v1/topics`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TopicList {
    /// Topic names, sorted.
    pub topics: Vec<String>,
}

/// `POST /v1/topics` body (or query).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateTopic {
    /// The topic to create: 1 to 249 characters of letters, digits and `. _ - :`. Required; `Option` only so
    /// that its absence is a 400 naming the field rather than a serde error.
    #[serde(default)]
    pub name: Option<String>,
    /// How many partitions, 1 up to the server's `max_partitions` (256 by default); 1 when absent.
    #[serde(default)]
    pub partitions: Option<i64>,
}

/// `POST /v1/topics` answer (201), also for a topic that already existed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TopicCreated {
    /// Always `"created"`.
    pub status: String,
    /// The topic, as the request named it.
    pub name: String,
    /// The topic's partition count (the existing one if it already existed).
    pub partitions: u32,
}

/// `DELETE /v1/topics/{name}` answer (200): the topic, its messages and its groups' positions are gone.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TopicDeleted {
    /// Always `"deleted"`.
    pub status: String,
    /// The deleted topic; one created again under this name starts at offset 0.
    pub topic: String,
    /// How many partitions it had.
    pub partitions: u32,
}

/// A retry policy carried by a message's envelope.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RetryPolicy {
    /// Total deliveries allowed; the last failure dead-letters the message to `dlq.<topic>`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_attempts: Option<i64>,
    /// Base backoff: failure n waits `backoff_ms * 2^(n-1)`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backoff_ms: Option<i64>,
    /// Upper bound of the backoff.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_backoff_ms: Option<i64>,
}

/// A message's envelope: routing, idempotency, deadline and retry metadata (all optional).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Envelope {
    /// The run this message belongs to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_id: Option<String>,
    /// The step this message belongs to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub step_id: Option<String>,
    /// The step that started `step_id`, for nested steps; the broker stores it and never reads it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent_step_id: Option<String>,
    /// The tenant; part of the idempotency key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenant_id: Option<String>,
    /// Producer idempotency key: a second produce with the same (tenant, topic, key) inside the window stores
    /// nothing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idempotency_key: Option<String>,
    /// Write to this topic instead of the request's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_topic: Option<String>,
    /// RFC 3339; a produce after it is rejected.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deadline: Option<String>,
    /// Write to this partition instead of hashing the key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub partition_override: Option<i64>,
    /// Retry policy for deliveries of this message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_policy: Option<RetryPolicy>,
}

/// `POST /v1/produce` body (or query).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProduceRequest {
    /// The topic to write to; it must exist (produce never creates one). Required.
    #[serde(default)]
    pub topic: Option<String>,
    /// Chooses the partition: the FNV-1a hash of the key modulo the partition count, so one key keeps its
    /// order. Absent or empty: partition 0 (unless the envelope overrides it).
    #[serde(default)]
    pub key: Option<String>,
    /// The payload, stored and delivered as given; must not be empty, at most the server's `max_value_bytes`
    /// (1 MiB by default).
    #[serde(default)]
    pub value: Option<String>,
    /// Run, idempotency, routing, deadline and retry metadata; absent means none of it.
    #[serde(default)]
    pub envelope: Option<Envelope>,
    /// The batch form (a dq addition): these messages, all to `topic` (or their envelope's `target_topic`),
    /// stored all or none; `key`, `value` and `envelope` are then per message, not at the top. Answered with
    /// a [`ProducedBatch`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub messages: Option<Vec<BatchMessage>>,
}

/// One message of a produce batch.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BatchMessage {
    /// Chooses the partition, as [`ProduceRequest::key`] does.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// The payload; must not be empty.
    #[serde(default)]
    pub value: Option<String>,
    /// Run, idempotency, routing, deadline and retry metadata, as in a single produce; its `idempotency_key` works as in a single produce.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub envelope: Option<Envelope>,
}

/// `POST /v1/produce` answer (200) to the batch form: one [`Produced`] per message, in order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProducedBatch {
    /// Always `"produced"`.
    pub status: String,
    /// Where each message was stored (for a duplicate: where its first copy was).
    pub messages: Vec<Produced>,
}

/// `POST /v1/produce` answer (200). `partition`, `offset` and `duplicate` are dq additions.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Produced {
    /// Always `"produced"`.
    pub status: String,
    /// The topic written to (the envelope's `target_topic` when set).
    pub topic: String,
    /// Where the message was stored (for a duplicate: where the first copy was stored).
    #[serde(default)]
    pub partition: u32,
    /// The message's offset in its partition.
    #[serde(default)]
    pub offset: u64,
    /// True when an idempotent duplicate was recognised and nothing was stored.
    #[serde(default)]
    pub duplicate: bool,
}

/// Where a dead-lettered message came from: a dq addition to the consume item of a `dlq.<topic>` message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DlqInfo {
    /// The topic the message failed on (this one's name without its `dlq.` prefix).
    pub topic: String,
    /// Its partition there (the dead letter's own partition may differ when the topics' widths differ).
    pub partition: u32,
    /// Its offset there; the dead letter has a new offset of its own.
    pub offset: u64,
    /// How many deliveries were made.
    pub attempts: u32,
    /// The last failure reason.
    pub last_error: String,
    /// When the message was dead-lettered (unix ms).
    pub dead_lettered_at_ms: u64,
}

/// One line of a `GET /v1/consume` stream.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConsumeItem {
    /// The partition the message lives in.
    pub partition: u32,
    /// Its offset in that partition.
    pub offset: u64,
    /// Deliveries so far, this one included.
    pub attempts: u32,
    /// The partitioning key (`""` when none).
    pub key: String,
    /// The payload, as produced.
    pub value: String,
    /// The reasons of earlier failures (`""` when none).
    pub last_error: String,
    /// The envelope, when the producer sent one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub envelope: Option<Envelope>,
    /// Dead-letter metadata, on messages of a `dlq.<topic>` topic.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dlq: Option<DlqInfo>,
}

/// `POST /v1/ack` and `POST /v1/nack` body (or query). `reason` and `delay_ms` are read by nack only.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AckRequest {
    /// The topic the message was consumed from. Required, as are `group` and `owner`, and `partition` and
    /// `offset` outside the batch form (`Option` only so that an absent one is a 400 naming it).
    #[serde(default)]
    pub topic: Option<String>,
    /// The consumer group it was delivered to.
    #[serde(default)]
    pub group: Option<String>,
    /// The `owner` of the consume stream it was delivered on: it must still hold the lease, or the answer is
    /// 409 (e.g. the lease expired and the message was delivered again).
    #[serde(default)]
    pub owner: Option<String>,
    /// [`ConsumeItem::partition`] of the delivery; in the batch form, the partition of bare offsets.
    #[serde(default)]
    pub partition: Option<i64>,
    /// [`ConsumeItem::offset`] of the delivery.
    #[serde(default)]
    pub offset: Option<i64>,
    /// Nack only: why the delivery failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Nack only (dq addition): redeliver after this delay instead of the retry policy's backoff.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delay_ms: Option<i64>,
    /// Ack only, the batch form (a dq addition): these deliveries instead of `offset`, acked all or none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub offsets: Option<Vec<AckPosition>>,
}

/// One delivery of an ack batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum AckPosition {
    /// An offset in the request's `partition`.
    Offset(i64),
    /// A partition and an offset in it.
    At {
        /// [`ConsumeItem::partition`] of the delivery.
        partition: i64,
        /// [`ConsumeItem::offset`] of the delivery.
        offset: i64,
    },
}
