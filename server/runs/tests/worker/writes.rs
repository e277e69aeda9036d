//! How many broker writes a run costs: the runs service and the worker queue their writes and store each group
//! in one [`Queue::produce_all`] (one batch and one sync on the embedded broker), and a command whose run has
//! no timeline topic yet still gets its events (the flush creates the topic and sends them again).

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use dq_broker::{Broker, Config};
use dq_local::LocalQueue;
use dq_proto::runs::{COMMANDS_TOPIC, CreateRun, ReadItem, RunStatus};
use dq_runs::queue::{ConsumeSpec, Deliveries, Durable, Outgoing, ProduceOutcome};
use dq_runs::{Queue, QueueError, RunsConfig, RunsRuntime, RunsService};
use dq_testkit::eventually;
use parking_lot::Mutex;
use tokio_util::sync::CancellationToken;

use super::{GUARD, wait_status};

/// What went through the queue: the size of each `produce_all`, how many single produces, how many
/// `runs.index` and timeline records reads returned, and the acks by kind.
#[derive(Default)]
pub(super) struct Writes {
    groups: Vec<usize>,
    singles: usize,
    pub(super) index_records_read: usize,
    /// Records reads returned from runs' timeline topics.
    pub(super) timeline_records_read: usize,
    /// Acks answered once durable ([`Queue::ack`]).
    pub(super) acks_waited: usize,
    /// Acks made durable with the next sync ([`Queue::ack_lazily`]).
    pub(super) acks_lazy: usize,
}

/// The embedded broker's queue, counting the writes and acks made through it.
pub(super) struct Counting {
    pub(super) inner: LocalQueue,
    pub(super) writes: Mutex<Writes>,
}

impl Counting {
    /// Counts what goes through the embedded `broker`'s queue.
    pub(super) fn over(broker: &Broker) -> Arc<Self> {
        Arc::new(Self {
            inner: LocalQueue::new(broker.clone()),
            writes: Mutex::default(),
        })
    }
}

/// A runs service (with `config`'s workers) over a fresh embedded broker in a temporary directory, through a
/// [`Counting`] queue.
pub(super) struct Counted {
    pub(super) broker: Broker,
    pub(super) queue: Arc<Counting>,
    pub(super) service: Arc<RunsService>,
    shutdown: CancellationToken,
    runtime: RunsRuntime,
    // Last: the broker's files outlive it.
    _dir: tempfile::TempDir,
}

impl Counted {
    /// Opens the broker and starts the service.
    pub(super) async fn start(config: RunsConfig) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let broker = Broker::open(Config::new(dir.path())).unwrap();
        let queue = Counting::over(&broker);
        let shutdown = CancellationToken::new();
        let runtime = RunsRuntime::start(queue.clone(), config, shutdown.clone())
            .await
            .unwrap();
        Self {
            service: runtime.service(),
            broker,
            queue,
            shutdown,
            runtime,
            _dir: dir,
        }
    }

    /// Starts a run of the demo workflow; its id.
    pub(super) async fn create_run(&self) -> String {
        self.service
            .create_run(CreateRun::default())
            .await
            .unwrap()
            .run_id
    }

    /// Stops the workers, then the broker; the queue, to look at what went through it.
    pub(super) async fn stop(self) -> Arc<Counting> {
        self.shutdown.cancel();
        self.runtime.join().await;
        self.broker.shutdown();
        self.queue
    }
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
        self.writes.lock().singles += 1;
        self.inner.produce(message).await
    }

    async fn produce_pending(
        &self,
        message: Outgoing,
    ) -> Result<(ProduceOutcome, Durable), QueueError> {
        self.writes.lock().singles += 1;
        self.inner.produce_pending(message).await
    }

    async fn produce_all(&self, messages: &[Outgoing]) -> Result<Vec<ProduceOutcome>, QueueError> {
        self.writes.lock().groups.push(messages.len());
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
        self.writes.lock().acks_waited += 1;
        self.inner.ack(spec, partition, offset).await
    }

    async fn ack_lazily(
        &self,
        spec: &ConsumeSpec,
        partition: u32,
        offset: u64,
    ) -> Result<(), QueueError> {
        self.writes.lock().acks_lazy += 1;
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
        let items = self.inner.read(topic, partition, from, limit).await?;
        if topic == dq_runs::INDEX_TOPIC {
            self.writes.lock().index_records_read += items.len();
        } else if topic.starts_with("runs.events.") {
            self.writes.lock().timeline_records_read += items.len();
        }
        Ok(items)
    }
}

pub(super) fn instant() -> RunsConfig {
    RunsConfig {
        step_delay: Duration::ZERO,
        ..RunsConfig::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_is_one_write_to_start_and_one_per_attempt() {
    let counted = Counted::start(instant()).await;
    let run_id = counted.create_run().await;
    wait_status(&counted.service, &run_id, 0, RunStatus::Succeeded).await;
    let timeline = counted.service.timeline(&run_id, None).await.unwrap();
    let queue = counted.stop().await;

    let writes = queue.writes.lock();
    // The index record, `run.created` and the command; then the attempt's events, from `worker.received` to
    // `run.succeeded` (the demo workflow's steps take no time, so nothing waits in between).
    assert_eq!(writes.groups, [3, timeline.len() - 1]);
    assert_eq!(writes.singles, 0, "no message was written on its own");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_command_without_a_timeline_topic_still_writes_its_timeline() {
    let dir = tempfile::tempdir().unwrap();
    let broker = Broker::open(Config::new(dir.path())).unwrap();
    let queue: Arc<dyn Queue> = Arc::new(LocalQueue::new(broker.clone()));
    let shutdown = CancellationToken::new();
    let runtime = RunsRuntime::start(Arc::clone(&queue), instant(), shutdown.clone())
        .await
        .unwrap();
    // A command nobody started through the service (another starter, or one whose topic was lost).
    let run_id = "0123456789abcdef0123456789abcdef";
    let command = serde_json::json!({
        "ts": 1, "type": "run.command", "run_id": run_id, "workflow": "demo", "input": {}, "replay_seq": 0
    });
    queue.create_topic(COMMANDS_TOPIC, 1).await.unwrap();
    queue
        .produce(Outgoing {
            topic: COMMANDS_TOPIC.to_owned(),
            key: Some(run_id.to_owned()),
            value: command.to_string(),
            idempotency_key: None,
        })
        .await
        .unwrap();
    let topic = format!("runs.events.{run_id}");
    let kinds = eventually("the run's timeline to end in run.succeeded", GUARD, || {
        let (queue, topic) = (&queue, &topic);
        async move {
            let kinds: Vec<String> = match queue.read(topic, 0, 0, 100).await {
                Ok(items) => items
                    .iter()
                    .map(|item| {
                        let event: serde_json::Value = serde_json::from_str(&item.value).unwrap();
                        event["type"].as_str().unwrap_or_default().to_owned()
                    })
                    .collect(),
                Err(QueueError::UnknownTopic(_)) => Vec::new(),
                Err(e) => panic!("reading the timeline: {e}"),
            };
            if kinds.last().map(String::as_str) == Some("run.succeeded") {
                Ok(kinds)
            } else {
                Err(kinds)
            }
        }
    })
    .await;
    assert_eq!(kinds.first().map(String::as_str), Some("worker.received"));
    shutdown.cancel();
    runtime.join().await;
    broker.shutdown();
}
