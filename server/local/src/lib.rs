//! dq-local: [`LocalQueue`], the runs queue trait over the embedded broker in the same process (no HTTP, no
//! copies beyond the broker's own), and the mapping of broker errors onto [`QueueError`]. It lives outside
//! dq-runs so that dq-runs reaches every broker through its trait alone; the composition root (`dq up`) picks
//! this backend, the DriftQ HTTP client or JetStream.

use std::time::Duration;

use async_trait::async_trait;
use dq_broker::{Broker, Pending, Produce, Settle};
use dq_proto::broker::Envelope;
use dq_proto::runs::ReadItem;
use futures::StreamExt;

use dq_runs::queue::{ConsumeSpec, Deliveries, Durable, Outgoing, ProduceOutcome, Queue};
use dq_runs::{QueueError, RunsConfig, RunsError, RunsRuntime};
use std::sync::Arc;
use tokio_util::sync::CancellationToken;

/// The embedded broker as a [`Queue`].
#[derive(Clone)]
pub struct LocalQueue {
    broker: Broker,
}

impl LocalQueue {
    /// Wraps a broker handle.
    pub fn new(broker: Broker) -> Self {
        Self { broker }
    }

    fn settle(spec: &ConsumeSpec, partition: u32, offset: u64) -> Settle {
        Settle {
            topic: spec.topic.clone(),
            group: spec.group.clone(),
            owner: spec.owner.clone(),
            partition,
            offset,
        }
    }
}

#[async_trait]
impl Queue for LocalQueue {
    async fn health(&self) -> Result<serde_json::Value, QueueError> {
        match self.broker.storage_failure() {
            Some(failure) => Err(QueueError::Storage {
                full: failure.cause == dq_broker::StorageCause::DiskFull,
                message: format!(
                    "{failure}; writes are refused until dq restarts ({})",
                    failure.cause.advice()
                ),
            }),
            None => Ok(serde_json::json!({"status": "ok"})),
        }
    }

    async fn create_topic(&self, name: &str, partitions: u32) -> Result<(), QueueError> {
        self.broker
            .create_topic(name, Some(partitions))
            .await
            .map_err(queue_error)?;
        Ok(())
    }

    async fn create_topic_uncapped(&self, name: &str, partitions: u32) -> Result<(), QueueError> {
        self.broker
            .create_topic_uncapped(name, Some(partitions))
            .await
            .map_err(queue_error)?;
        Ok(())
    }

    async fn delete_topic(&self, name: &str) -> Result<(), QueueError> {
        match self.broker.delete_topic(name).await {
            Ok(_) | Err(dq_broker::Error::TopicNotFound(_)) => Ok(()),
            Err(e) => Err(queue_error(e)),
        }
    }

    /// One purge and one sync for all of them; a name without a topic is skipped.
    async fn delete_topics(&self, names: &[String]) -> Result<(), QueueError> {
        self.broker
            .delete_topics(names)
            .await
            .map(drop)
            .map_err(queue_error)
    }

    async fn unsettled(&self, topic: &str, group: &str) -> Result<Option<u64>, QueueError> {
        Ok(self.broker.lag(topic, group))
    }

    async fn produce(&self, message: Outgoing) -> Result<ProduceOutcome, QueueError> {
        let (outcome, durable) = self.produce_pending(message).await?;
        durable.wait().await?;
        Ok(outcome)
    }

    async fn produce_pending(
        &self,
        message: Outgoing,
    ) -> Result<(ProduceOutcome, Durable), QueueError> {
        let envelope = message.idempotency_key.map(|key| Envelope {
            idempotency_key: Some(key),
            ..Envelope::default()
        });
        let (produced, pending) = self
            .broker
            .produce_pending(Produce {
                topic: message.topic,
                key: message.key,
                value: message.value,
                envelope,
            })
            .map_err(queue_error)?;
        let outcome = ProduceOutcome {
            offset: Some(produced.offset),
            duplicate: produced.duplicate,
        };
        Ok((outcome, durable(pending)))
    }

    /// One broker batch (all or none, one sync) per [`dq_broker::MAX_BATCH`] messages.
    async fn produce_all(&self, messages: &[Outgoing]) -> Result<Vec<ProduceOutcome>, QueueError> {
        let mut outcomes = Vec::with_capacity(messages.len());
        for chunk in messages.chunks(dq_broker::MAX_BATCH) {
            let batch = chunk.iter().map(|message| Produce {
                topic: message.topic.clone(),
                key: message.key.clone(),
                value: message.value.clone(),
                envelope: message.idempotency_key.clone().map(|key| Envelope {
                    idempotency_key: Some(key),
                    ..Envelope::default()
                }),
            });
            let produced =
                self.broker
                    .produce_batch(batch.collect())
                    .await
                    .map_err(|e| match e {
                        // Which message does not matter to the runs layer, only which topic is missing.
                        dq_broker::Error::InBatch { source, .. } => queue_error(*source),
                        e => queue_error(e),
                    })?;
            outcomes.extend(produced.into_iter().map(|p| ProduceOutcome {
                offset: Some(p.offset),
                duplicate: p.duplicate,
            }));
        }
        Ok(outcomes)
    }

    async fn create_topic_pending(
        &self,
        name: &str,
        partitions: u32,
    ) -> Result<Durable, QueueError> {
        let (_, pending) = self
            .broker
            .create_topic_pending(name, Some(partitions))
            .map_err(queue_error)?;
        Ok(durable(pending))
    }

    async fn consume(&self, spec: &ConsumeSpec) -> Result<Deliveries, QueueError> {
        let subscription = self
            .broker
            .subscribe(&spec.topic, &spec.group, &spec.owner, Some(spec.lease))
            .map_err(queue_error)?;
        let stream = futures::stream::unfold(subscription, |mut subscription| async move {
            subscription
                .next()
                .await
                .map(|item| (Ok(item), subscription))
        });
        Ok(stream.boxed())
    }

    async fn ack(&self, spec: &ConsumeSpec, partition: u32, offset: u64) -> Result<(), QueueError> {
        self.broker
            .ack(Self::settle(spec, partition, offset))
            .await
            .map_err(queue_error)
    }

    async fn ack_lazily(
        &self,
        spec: &ConsumeSpec,
        partition: u32,
        offset: u64,
    ) -> Result<(), QueueError> {
        self.broker
            .ack_lazily(&Self::settle(spec, partition, offset))
            .map_err(queue_error)
    }

    async fn nack(
        &self,
        spec: &ConsumeSpec,
        partition: u32,
        offset: u64,
        reason: &str,
        delay: Duration,
    ) -> Result<(), QueueError> {
        self.broker
            .nack(
                Self::settle(spec, partition, offset),
                Some(reason.to_owned()),
                Some(delay),
            )
            .await
            .map_err(queue_error)
    }

    async fn read(
        &self,
        topic: &str,
        partition: u32,
        from: u64,
        limit: usize,
    ) -> Result<Vec<ReadItem>, QueueError> {
        let messages = self
            .broker
            .read(topic, partition, from, limit)
            .map_err(queue_error)?;
        Ok(messages
            .into_iter()
            .map(|m| ReadItem {
                partition: m.partition,
                offset: m.offset,
                key: m.key,
                value: m.value,
                produced_at_ms: m.produced_at_ms,
            })
            .collect())
    }
}

fn durable(pending: Pending) -> Durable {
    Durable::later(async move { pending.durable().await.map_err(queue_error) })
}

/// A broker error as the runs layer classifies it.
pub fn queue_error(error: dq_broker::Error) -> QueueError {
    use dq_broker::ErrorKind;
    match error {
        dq_broker::Error::UnknownTopic(topic) => QueueError::UnknownTopic(topic),
        other => match other.kind() {
            ErrorKind::TooLarge => QueueError::TooLarge(other.to_string()),
            ErrorKind::StorageFull | ErrorKind::StorageFailed => QueueError::Storage {
                full: other.kind() == ErrorKind::StorageFull,
                message: other.to_string(),
            },
            ErrorKind::InvalidArgument | ErrorKind::NotFound | ErrorKind::FailedPrecondition => {
                QueueError::Rejected(other.to_string())
            }
            ErrorKind::Exhausted | ErrorKind::Unavailable | ErrorKind::Internal => {
                QueueError::Unavailable(other.to_string())
            }
        },
    }
}

/// [`RunsRuntime::start`] on the embedded broker: the runs service and `config.workers` workers of `dq up`.
pub async fn start_in_process(
    broker: Broker,
    config: RunsConfig,
    shutdown: CancellationToken,
) -> Result<RunsRuntime, RunsError> {
    RunsRuntime::start(Arc::new(LocalQueue::new(broker)), config, shutdown).await
}
