//! dq-nats: [`NatsQueue`], the runs queue trait on a NATS JetStream cluster, so that `dq up --broker nats://…`
//! and `dq worker --broker nats://…` on many hosts share commands, timelines, the run index and the DLQ.
//!
//! The mapping, operation by operation:
//! - topics live in four file-backed streams (`layout`); a run's timeline topic is a subject of
//!   `RUNS_EVENTS`, so creating it is a no-op;
//! - a produce is a publish with `Nats-Msg-Id` as the idempotency key; its ack is the durability point, with
//!   the ordering rules of `publish` (streams have no common order, so writers wait at each topic switch);
//! - a consumer group is a durable pull consumer of `RUNS_COMMANDS`: `AckWait` is the lease, the delivery
//!   count the attempt, a nack a `Nak` with a delay, `MaxDeliver` unlimited (`max_attempts` is per run, the
//!   worker dead-letters);
//! - reads are direct gets (`read`), served by any replica; a read that a lagging follower answered short of
//!   this process's own acked writes is asked again;
//! - a run's followers are woken by a core subscription to its timeline subject, so a server sees events
//!   that workers on other hosts write without polling.
//!
//! What JetStream does not keep: a nack's reason (the worker reads failures from the run's timeline), and
//! the owner of a lease (an ack is matched by stream sequence alone).

mod connect;
mod layout;
mod publish;
mod read;
#[cfg(feature = "testing")]
pub mod testing;

pub use connect::{NatsOptions, is_nats_url};

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_nats::jetstream::AckKind;
use async_nats::jetstream::consumer::{AckPolicy, pull};
use async_nats::jetstream::message::Acker;
use async_trait::async_trait;
use dq_proto::broker::{ConsumeItem, Envelope};
use dq_runs::QueueError;
use dq_runs::queue::{ConsumeSpec, Deliveries, Durable, Outgoing, ProduceOutcome, Queue};
use futures::StreamExt;

use crate::layout::{COMMANDS_STREAM, route};
use crate::publish::{KEY_HEADER, MSG_ID_HEADER, Writes, copy};

/// Commands a consumer lets be leased at once across all its members.
const MAX_ACK_PENDING: i64 = 10_000;
/// Past this many held deliveries, those whose lease ran out long ago are forgotten: JetStream has handed
/// them to someone else, and a worker that never settles one (it stopped mid-run) would otherwise keep it.
const LEASED_SWEEP_AT: usize = 4096;

/// Held deliveries by (group, stream sequence): the handle that settles each, and when it arrived.
type Leased = HashMap<(String, u64), (Acker, Instant)>;

/// The JetStream backend of the runs queue trait.
pub struct NatsQueue {
    client: async_nats::Client,
    js: async_nats::jetstream::Context,
    writes: Writes,
    inboxes: read::Inboxes,
    batched_reads: bool,
    pull_batch: usize,
    /// The deliveries this process holds, by (group, stream sequence), for their ack or nack, with when they
    /// arrived.
    leased: Arc<parking_lot::Mutex<Leased>>,
}

impl NatsQueue {
    /// Connects, creates the streams when missing and checks the cluster's durability settings (a warning
    /// when it cannot keep dq's promise that an answered write is on disk).
    pub async fn connect(options: &NatsOptions) -> Result<Self, QueueError> {
        let connected = connect::connect(options).await?;
        Ok(Self {
            writes: Writes::new(connected.js.clone()),
            inboxes: read::Inboxes::new(&connected.client).await?,
            client: connected.client,
            js: connected.js,
            batched_reads: connected.batched_reads,
            pull_batch: if options.pull_batch == 0 {
                16
            } else {
                options.pull_batch
            },
            leased: Arc::default(),
        })
    }

    fn take_lease(&self, spec: &ConsumeSpec, offset: u64) -> Result<Acker, QueueError> {
        self.leased
            .lock()
            .remove(&(spec.group.clone(), offset))
            .map(|(acker, _)| acker)
            .ok_or_else(|| {
                QueueError::Rejected(format!(
                    "no delivery of offset {offset} is leased by this process in group {}",
                    spec.group
                ))
            })
    }
}

#[async_trait]
impl Queue for NatsQueue {
    async fn health(&self) -> Result<serde_json::Value, QueueError> {
        if self.client.connection_state() != async_nats::connection::State::Connected {
            return Err(QueueError::Unavailable("not connected to NATS".into()));
        }
        let account = self
            .js
            .query_account()
            .await
            .map_err(|e| QueueError::Unavailable(format!("JetStream: {e}")))?;
        Ok(serde_json::json!({
            "status": "ok",
            "broker": "nats",
            "server": self.client.server_info().server_name,
            "streams": account.streams,
        }))
    }

    async fn create_topic(&self, name: &str, _partitions: u32) -> Result<(), QueueError> {
        // The streams were created at connect; a dq topic is a subject of one of them.
        route(name).map(|_| ())
    }

    async fn delete_topic(&self, name: &str) -> Result<(), QueueError> {
        // A timeline is a subject of a shared stream, not a topic with a cost of its own: JetStream drops it
        // by the stream's `max_age`, and its sequences (dq's offsets) are not per subject, so a purged
        // timeline could not be given back at its offsets. Retention keeps JetStream timelines as they are.
        route(name)?;
        Err(QueueError::Unsupported(
            "topic deletion (JetStream keeps timelines by the stream's max_age)",
        ))
    }

    async fn produce(&self, message: Outgoing) -> Result<ProduceOutcome, QueueError> {
        let route = route(&message.topic)?;
        let ack = self
            .writes
            .publish(
                &route,
                message.key.as_deref(),
                message.value,
                message.idempotency_key.as_deref(),
            )
            .await?;
        let (offset, duplicate) = ack.await.map_err(|e| copy(&e))?;
        Ok(ProduceOutcome {
            offset: Some(offset),
            duplicate,
        })
    }

    async fn produce_pending(
        &self,
        message: Outgoing,
    ) -> Result<(ProduceOutcome, Durable), QueueError> {
        let route = route(&message.topic)?;
        let ack = self
            .writes
            .publish(
                &route,
                message.key.as_deref(),
                message.value,
                message.idempotency_key.as_deref(),
            )
            .await?;
        // The sequence is known only once acked; nobody reads it from a pending write.
        let outcome = ProduceOutcome {
            offset: None,
            duplicate: false,
        };
        Ok((
            outcome,
            Durable::later(async move { ack.await.map(|_| ()).map_err(|e| copy(&e)) }),
        ))
    }

    fn orders_across_topics(&self) -> bool {
        false
    }

    async fn consume(&self, spec: &ConsumeSpec) -> Result<Deliveries, QueueError> {
        if route(&spec.topic)?.stream != COMMANDS_STREAM {
            return Err(QueueError::Unsupported(
                "consumer groups on JetStream exist for runs.commands only",
            ));
        }
        let stream = self
            .js
            .get_stream(COMMANDS_STREAM)
            .await
            .map_err(|e| QueueError::Unavailable(format!("JetStream: {e}")))?;
        // The lease belongs to the consumer, not its members: the first member sets it.
        let consumer = stream
            .get_or_create_consumer(
                &spec.group,
                pull::Config {
                    durable_name: Some(spec.group.clone()),
                    ack_policy: AckPolicy::Explicit,
                    ack_wait: spec.lease,
                    max_deliver: -1,
                    max_ack_pending: MAX_ACK_PENDING,
                    ..pull::Config::default()
                },
            )
            .await
            .map_err(|e| {
                QueueError::Unavailable(format!("JetStream consumer {}: {e}", spec.group))
            })?;
        let messages = consumer
            .stream()
            .max_messages_per_batch(self.pull_batch)
            .messages()
            .await
            .map_err(|e| QueueError::Unavailable(format!("JetStream pull: {e}")))?;
        let leased = Arc::clone(&self.leased);
        let group = spec.group.clone();
        let forget_after = spec.lease.saturating_mul(4);
        let deliveries = messages.map(move |message| {
            let message =
                message.map_err(|e| QueueError::Unavailable(format!("JetStream pull: {e}")))?;
            let info = message
                .info()
                .map_err(|e| QueueError::Protocol(format!("JetStream delivery: {e}")))?;
            let (offset, attempts) = (
                info.stream_sequence,
                u32::try_from(info.delivered).unwrap_or(u32::MAX),
            );
            let (message, acker) = message.split();
            let mut held = leased.lock();
            if held.len() >= LEASED_SWEEP_AT {
                held.retain(|_, (_, at)| at.elapsed() < forget_after);
            }
            held.insert((group.clone(), offset), (acker, Instant::now()));
            drop(held);
            let headers = message.headers.unwrap_or_default();
            let header = |name: &str| headers.get(name).map(|v| v.as_str().to_owned());
            Ok(ConsumeItem {
                partition: 0,
                offset,
                attempts,
                key: header(KEY_HEADER).unwrap_or_default(),
                value: String::from_utf8_lossy(&message.payload).into_owned(),
                last_error: String::new(),
                envelope: header(MSG_ID_HEADER).map(|key| Envelope {
                    idempotency_key: Some(key),
                    ..Envelope::default()
                }),
                dlq: None,
            })
        });
        Ok(deliveries.boxed())
    }

    async fn ack(
        &self,
        spec: &ConsumeSpec,
        _partition: u32,
        offset: u64,
    ) -> Result<(), QueueError> {
        self.take_lease(spec, offset)?
            .double_ack()
            .await
            .map_err(|e| QueueError::Unavailable(format!("JetStream ack: {e}")))
    }

    async fn nack(
        &self,
        spec: &ConsumeSpec,
        _partition: u32,
        offset: u64,
        _reason: &str,
        delay: Duration,
    ) -> Result<(), QueueError> {
        self.take_lease(spec, offset)?
            .double_ack_with(AckKind::Nak(Some(delay)))
            .await
            .map_err(|e| QueueError::Unavailable(format!("JetStream nak: {e}")))
    }

    fn watch(&self, topic: &str) -> Option<futures::stream::BoxStream<'static, ()>> {
        // A core subscription sees every publish to the subject, from any host, as it happens; the follower
        // then reads what is stored.
        let subject = route(topic).ok()?.subject;
        let client = self.client.clone();
        let subscription = futures::stream::once(async move { client.subscribe(subject).await });
        Some(
            subscription
                .filter_map(|subscribed| async move {
                    subscribed
                        .map_err(|e| tracing::warn!("cannot watch a timeline: {e}"))
                        .ok()
                })
                .flatten()
                .map(|_| ())
                .boxed(),
        )
    }

    async fn read(
        &self,
        topic: &str,
        _partition: u32,
        from: u64,
        limit: usize,
    ) -> Result<Vec<dq_proto::runs::ReadItem>, QueueError> {
        let route = route(topic)?;
        let at = read::ReadAt {
            from,
            min_last_seq: self.writes.acked(&route.subject),
        };
        read::read(
            &self.client,
            &self.inboxes,
            &route,
            at,
            limit,
            self.batched_reads,
        )
        .await
    }
}
