//! Retention's gates are per run: while a pass archives run A (its archive write parked here by a queue that
//! holds it until told), a user's event to run B is written at once, and one to A waits for the pass and then
//! lands in A's timeline after the archived events (its topic given back first), not lost with the topic.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use dq_broker::{Broker, Config};
use dq_local::LocalQueue;
use dq_proto::runs::{CreateRun, ReadItem, RunStatus};
use dq_runs::queue::{ConsumeSpec, Deliveries, Durable, Outgoing, ProduceOutcome};
use dq_runs::{ARCHIVE_TOPIC, Queue, QueueError, RunsConfig, RunsRuntime, RunsService};
use parking_lot::Mutex;
use tokio::sync::oneshot;
use tokio_util::sync::CancellationToken;

use super::{GUARD, fast, kinds, note, reaches};

/// The embedded broker's queue, holding the first write to `runs.archive` until released.
struct Parking {
    inner: LocalQueue,
    /// Told when the first archive write is held.
    parked: Mutex<Option<oneshot::Sender<()>>>,
    /// What that write waits for.
    release: Mutex<Option<oneshot::Receiver<()>>>,
}

impl Parking {
    async fn hold_if_archive<'m>(&self, mut topics: impl Iterator<Item = &'m str>) {
        if !topics.any(|topic| topic == ARCHIVE_TOPIC) {
            return;
        }
        let release = self.release.lock().take();
        if let Some(release) = release {
            if let Some(parked) = self.parked.lock().take() {
                let _ = parked.send(());
            }
            let _ = release.await;
        }
    }
}

#[async_trait]
impl Queue for Parking {
    async fn health(&self) -> Result<serde_json::Value, QueueError> {
        self.inner.health().await
    }

    async fn create_topic(&self, name: &str, partitions: u32) -> Result<(), QueueError> {
        self.inner.create_topic(name, partitions).await
    }

    async fn create_topic_uncapped(&self, name: &str, partitions: u32) -> Result<(), QueueError> {
        self.inner.create_topic_uncapped(name, partitions).await
    }

    async fn delete_topic(&self, name: &str) -> Result<(), QueueError> {
        self.inner.delete_topic(name).await
    }

    async fn delete_topics(&self, names: &[String]) -> Result<(), QueueError> {
        self.inner.delete_topics(names).await
    }

    async fn unsettled(&self, topic: &str, group: &str) -> Result<Option<u64>, QueueError> {
        self.inner.unsettled(topic, group).await
    }

    async fn produce(&self, message: Outgoing) -> Result<ProduceOutcome, QueueError> {
        self.hold_if_archive([message.topic.as_str()].into_iter())
            .await;
        self.inner.produce(message).await
    }

    async fn produce_pending(
        &self,
        message: Outgoing,
    ) -> Result<(ProduceOutcome, Durable), QueueError> {
        self.hold_if_archive([message.topic.as_str()].into_iter())
            .await;
        self.inner.produce_pending(message).await
    }

    async fn produce_all(&self, messages: &[Outgoing]) -> Result<Vec<ProduceOutcome>, QueueError> {
        self.hold_if_archive(messages.iter().map(|m| m.topic.as_str()))
            .await;
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
        self.inner.ack(spec, partition, offset).await
    }

    async fn ack_lazily(
        &self,
        spec: &ConsumeSpec,
        partition: u32,
        offset: u64,
    ) -> Result<(), QueueError> {
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

async fn started(service: &RunsService) -> String {
    let run_id = service
        .create_run(CreateRun::default())
        .await
        .unwrap()
        .run_id;
    assert!(reaches(service, &run_id, RunStatus::Succeeded).await);
    run_id
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pass_archiving_one_run_holds_back_no_writer_of_another_and_loses_no_racing_write() {
    let dir = tempfile::tempdir().unwrap();
    let broker = Broker::open(Config::new(dir.path())).unwrap();
    let (parked_tx, parked) = oneshot::channel();
    let (release, release_rx) = oneshot::channel();
    let queue = Arc::new(Parking {
        inner: LocalQueue::new(broker.clone()),
        parked: Mutex::new(Some(parked_tx)),
        release: Mutex::new(Some(release_rx)),
    });
    let config = RunsConfig {
        archive_after: Some(Duration::ZERO),
        ..fast(1)
    };
    let shutdown = CancellationToken::new();
    let runtime = RunsRuntime::start(queue, config, shutdown.clone())
        .await
        .unwrap();
    let service = runtime.service();
    let a = started(&service).await;
    let before = kinds(&service, &a).await;
    tokio::time::timeout(GUARD, parked)
        .await
        .expect("retention to archive the first run")
        .unwrap();

    // A's pass is held mid-archive: a run started since takes events at once.
    let b = started(&service).await;
    let written = tokio::time::timeout(GUARD, service.emit(&b, note("to b"))).await;
    // A user's event to A meanwhile: it waits for the pass (the order is up to the scheduler; the pause only
    // makes the race likely, the outcome below must hold either way).
    let racing = tokio::spawn({
        let (service, a) = (Arc::clone(&service), a.clone());
        async move { service.emit(&a, note("to a")).await }
    });
    tokio::time::sleep(Duration::from_millis(50)).await;
    let _ = release.send(());
    let raced = tokio::time::timeout(GUARD, racing).await;
    let (after_a, after_b) = (kinds(&service, &a).await, kinds(&service, &b).await);
    let archived: Vec<String> = LocalQueue::new(broker.clone())
        .read(ARCHIVE_TOPIC, 0, 0, 10)
        .await
        .unwrap()
        .into_iter()
        .map(|item| item.key)
        .collect();
    shutdown.cancel();
    runtime.join().await;
    broker.shutdown();

    written
        .expect("a write to another run waited for the pass archiving run A")
        .unwrap();
    assert_eq!(after_b.last().map(String::as_str), Some("note"));
    raced
        .expect("the write to run A to follow the pass")
        .unwrap()
        .unwrap();
    assert_eq!(&after_a[..before.len()], &before[..], "{after_a:?}");
    assert_eq!(after_a[before.len()..], ["note"], "{after_a:?}");
    // Later passes may archive B, and A again after its event.
    assert_eq!(
        archived.first(),
        Some(&a),
        "run A's pass went on once released"
    );
}
