//! dq-broker: the durable message broker embedded in dq.
//!
//! It owns topics with partitions and per-partition offsets, producer idempotency, consumer groups with owners
//! and leases, ack / nack, retries with backoff, dead-lettering to `dlq.<topic>`, retention and size limits,
//! caps on topics and partitions, topic deletion, forgetting idle consumer groups, and the storage of all of
//! it in fjall. It knows nothing of HTTP or of runs: the HTTP edges live in
//! dq-server, runs in dq-runs.
//!
//! The core is synchronous behind a cheap-to-clone [`Broker`] handle; the only async points are waiting for
//! durability (group commit), waiting for a message ([`Subscription::next`]) and the lease/backoff timer task.
//!
//! Every lock is `parking_lot`'s, which does not poison: a panic while one is held (a bug, or the storage engine
//! refusing an input) fails that call only, instead of making every later call that takes the lock panic too.
//!
//! # Layout
//!
//! - `broker`: the [`Broker`] handle (open, topics, reads, health, shutdown) and [`Pending`].
//! - `state`: the state every handle shares, its write path (topic creation, append, group-commit tickets) and
//!   the shutdown.
//! - `produce`: [`Produce`] and [`Broker::produce`].
//! - `batch`: [`Broker::produce_batch`] and [`Broker::ack_batch`], all-or-nothing batches (a dq extension).
//! - `subscription`: [`Broker::subscribe`], [`Subscription`], [`Settle`], ack and nack.
//! - `lifecycle`: topic limits, topic deletion, forgetting idle groups.
//! - `recovery`: rebuilding the state from the store at open.
//! - `tasks`: the lease/backoff timer task and the sweep thread.
//! - `metrics`: the [`Metrics`] snapshot.
//! - `topic` (with its consumer groups in `topic::group`: deliveries, settles, failures), `timers`: a topic's
//!   partitions and groups, the deadline set. `store`, `journal`, `commit`, `health`: storage in fjall, the group commit and its failures.
//!   `config`, `clock`, `error`, `validate`: settings, the wall clock, errors, input checks.

mod batch;
mod broker;
mod clock;
mod commit;
mod config;
mod error;
mod health;
mod journal;
mod lazy_ack;
mod lifecycle;
mod metrics;
mod produce;
mod record;
mod recovery;
mod rotation;
mod state;
mod store;
mod subscription;
mod tasks;
mod timers;
mod topic;
mod validate;

pub use batch::{AckBatch, MAX_BATCH};
pub use broker::{Broker, Pending, StoredMessage, TopicInfo};
pub use clock::{Clock, ManualClock};
pub use config::Config;
pub use error::{Error, ErrorKind, StorageCause, StorageFailure};
pub use metrics::Metrics;
pub use produce::Produce;
pub use subscription::{Settle, Subscription};
pub use validate::{MIN_LEASE, fnv1a32};
