//! How the worker settles a finished run's command: with [`Queue::ack_lazily`], which on the embedded broker
//! costs no fsync of its own (a lost ack means a redelivery, and the timeline says the run ended). The run's
//! events are durable before the ack, and the command counts as settled at once.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use dq_broker::{Broker, Config};
use dq_local::LocalQueue;
use dq_proto::runs::{COMMANDS_TOPIC, CreateRun, DEFAULT_WORKER_GROUP, ReadItem, RunStatus};
use dq_runs::queue::{ConsumeSpec, Deliveries, Durable, Outgoing, ProduceOutcome};
use dq_runs::{Queue, QueueError, RunsConfig, RunsRuntime};
use dq_testkit::eventually;
use parking_lot::Mutex;
use tokio_util::sync::CancellationToken;

use super::{GUARD, wait_status};

/// Acks seen, by kind.
#[derive(Default, Debug, PartialEq)]
struct Acks {
    waited: usize,
    lazy: usize,
}

/// The embedded broker's queue, counting acks by kind.
struct Counting {
    inner: LocalQueue,
    acks: Mutex<Acks>,
}

#[async_trait]
impl Queue for Counting {
    async fn health(&self) -> Result<serde_json::Value, QueueError> {
        self.inner.health().await
    }

    async fn create_topic(&self, name: &str, partitions: u32) -> Result<(), QueueError> {
        self.inner.create_topic(name, partitions).await
    }

    async fn unsettled(&self, topic: &str, group: &str) -> Result<Option<u64>, QueueError> {
        self.inner.unsettled(topic, group).await
    }

    async fn produce(&self, message: Outgoing) -> Result<ProduceOutcome, QueueError> {
        self.inner.produce(message).await
    }

    async fn produce_pending(
        &self,
        message: Outgoing,
    ) -> Result<(ProduceOutcome, Durable), QueueError> {
        self.inner.produce_pending(message).await
    }

    async fn produce_all(&self, messages: &[Outgoing]) -> Result<Vec<ProduceOutcome>, QueueError> {
        self.inner.produce_all(messages).await
    }

    async fn create_topic_pending(
        &self,
        name: &str,
        partitions: u32,
    ) -> Result<Durable, QueueError> {
        self.inner.create_topic_pending(name, partitions).await
    }

    async fn consume(&self, spec: &ConsumeSpec) -> Result<Deliveries, QueueError> {
        self.inner.consume(spec).await
    }

    async fn ack(&self, spec: &ConsumeSpec, partition: u32, offset: u64) -> Result<(), QueueError> {
        self.acks.lock().waited += 1;
        self.inner.ack(spec, partition, offset).await
    }

    async fn ack_lazily(
        &self,
        spec: &ConsumeSpec,
        partition: u32,
        offset: u64,
    ) -> Result<(), QueueError> {
        self.acks.lock().lazy += 1;
        self.inner.ack_lazily(spec, partition, offset).await
    }

    async fn nack(
        &self,
        spec: &ConsumeSpec,
        partition: u32,
        offset: u64,
        reason: &str,
        delay: Duration,
    ) -> Result<(), QueueError> {
        self.inner
            .nack(spec, partition, offset, reason, delay)
            .await
    }

    async fn read(
        &self,
        topic: &str,
        partition: u32,
        from: u64,
        limit: usize,
    ) -> Result<Vec<ReadItem>, QueueError> {
        self.inner.read(topic, partition, from, limit).await
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_finished_runs_command_is_acked_lazily_and_counts_as_settled() {
    let dir = tempfile::tempdir().unwrap();
    let broker = Broker::open(Config::new(dir.path())).unwrap();
    let queue = Arc::new(Counting {
        inner: LocalQueue::new(broker.clone()),
        acks: Mutex::default(),
    });
    let shutdown = CancellationToken::new();
    let config = RunsConfig {
        step_delay: Duration::ZERO,
        ..RunsConfig::default()
    };
    let runtime = RunsRuntime::start(queue.clone(), config, shutdown.clone())
        .await
        .unwrap();
    let service = runtime.service();
    let run_id = service
        .create_run(CreateRun::default())
        .await
        .unwrap()
        .run_id;
    wait_status(&service, &run_id, 0, RunStatus::Succeeded).await;
    eventually("the run's command to be settled", GUARD, || {
        let queue = &queue;
        async move {
            match queue.unsettled(COMMANDS_TOPIC, DEFAULT_WORKER_GROUP).await {
                Ok(Some(0)) => Ok(()),
                other => Err(format!("{other:?}")),
            }
        }
    })
    .await;
    shutdown.cancel();
    runtime.join().await;
    broker.shutdown();
    assert_eq!(*queue.acks.lock(), Acks { waited: 0, lazy: 1 });
}
