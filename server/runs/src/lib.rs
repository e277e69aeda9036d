//! dq-runs: the runs service (start, replay, timelines, DLQ records, the run registry) and the worker that
//! executes runs. Both reach a broker only through the small [`Queue`] trait; this crate holds the HTTP
//! implementation speaking DriftQ v1 ([`HttpQueue`]), and other crates the embedded broker (dq-local) and
//! JetStream (dq-nats), so that dq-runs depends on no broker.
//!
//! Entry points: [`RunsRuntime::start`] (the service and `config.workers` workers over any queue, for
//! `dq up`), [`run_worker_on`] (one standalone worker over any queue) and
//! [`run_worker`] (one standalone worker against a URL, for `dq worker --url`). HTTP lives in dq-server.

mod archive;
mod chain;
mod emitter;
mod error;
pub mod queue;
mod registry;
mod retention;
mod service;
mod worker;
pub mod workflow;

pub use archive::ARCHIVE_TOPIC;
pub use emitter::{Followed, now_ms};
pub use error::{QueueError, RunsError};
pub use queue::{HttpQueue, Queue};
pub use service::{DlqFilter, INDEX_TOPIC, RunsService};

use std::sync::Arc;
use std::time::Duration;

use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::emitter::Emitter;
use crate::worker::Worker;

/// Server-wide settings of the runs service and its in-process workers.
#[derive(Debug, Clone)]
pub struct RunsConfig {
    /// In-process workers to start (0 = none; runs wait for an external `dq worker`). Default 1.
    pub workers: usize,
    /// Commands each worker executes in parallel. Default 16: a run mostly waits (pretend work, fsync), so a
    /// worker keeps many in flight.
    pub concurrency: usize,
    /// Pretend work per step. Default 200 ms.
    pub step_delay: Duration,
    /// Attempts per (run, replay_seq) before dead-lettering. Default 3. Only failed attempts count: an attempt
    /// abandoned by a worker that vanished (a server restart, an expired lease) counts against `max_abandoned`.
    pub max_attempts: u32,
    /// Abandoned attempts (`run.attempt_abandoned`) per (run, replay_seq) before dead-lettering with reason
    /// `max_abandoned`. Default 10.
    pub max_abandoned: u32,
    /// Wait between attempts, multiplied by the attempt number. Default 300 ms.
    pub backoff: Duration,
    /// The workers' consumer group. Default `demo-worker`, as the original.
    pub group: String,
    /// How long a command stays leased to a worker; a worker killed mid-run delays its run by up to this.
    /// Default 30 s, as the original.
    pub lease: Duration,
    /// Largest accepted run input (serialised JSON), in bytes; larger answers 413. Default 256 KiB.
    pub max_input_bytes: usize,
    /// The workflows runs may name: the built-in `demo`, plus those of `--workflows FILE`.
    pub workflows: workflow::Catalog,
    /// How long after a run finished its timeline is archived and its topic deleted (see `retention`);
    /// `None`: never. Default 10 s.
    pub archive_after: Option<Duration>,
    /// Most runs queued or running at once (commands the workers have not settled); `POST /runs` past it
    /// answers 429. What keeps memory bounded when runs are offered faster than the workers end them (each
    /// unfinished run holds a topic and a registry entry). `None`: no limit. Default 10,000.
    pub max_unfinished: Option<u64>,
}

impl Default for RunsConfig {
    fn default() -> Self {
        Self {
            workers: 1,
            concurrency: 16,
            step_delay: Duration::from_millis(200),
            max_attempts: 3,
            max_abandoned: 10,
            backoff: Duration::from_millis(300),
            group: dq_proto::runs::DEFAULT_WORKER_GROUP.to_owned(),
            lease: Duration::from_secs(30),
            max_input_bytes: 256 * 1024,
            workflows: workflow::Catalog::default(),
            archive_after: Some(Duration::from_secs(10)),
            max_unfinished: Some(10_000),
        }
    }
}

/// The runs service with its in-process workers.
pub struct RunsRuntime {
    service: Arc<RunsService>,
    workers: JoinSet<()>,
}

impl RunsRuntime {
    /// Opens the service over `queue` and starts `config.workers` workers; they stop when `shutdown` is
    /// cancelled.
    pub async fn start(
        queue: Arc<dyn Queue>,
        config: RunsConfig,
        shutdown: CancellationToken,
    ) -> Result<Self, RunsError> {
        let service = RunsService::open(queue, config.clone()).await?;
        let mut workers = JoinSet::new();
        workers.spawn(retention::run(Arc::clone(&service), shutdown.clone()));
        for _ in 0..config.workers {
            let worker = Worker::new(service.emitter().clone(), config.clone(), shutdown.clone());
            workers.spawn(async move {
                if let Err(e) = worker.run().await {
                    tracing::error!("worker stopped: {e}");
                }
            });
        }
        Ok(Self { service, workers })
    }

    /// The runs service.
    pub fn service(&self) -> Arc<RunsService> {
        Arc::clone(&self.service)
    }

    /// Waits for the workers to stop (after `shutdown` was cancelled).
    pub async fn join(mut self) {
        while self.workers.join_next().await.is_some() {}
    }
}

/// Runs one worker (with `config.concurrency` slots) against the DriftQ v1 broker at `url` until `shutdown`
/// is cancelled: `dq worker --url URL`. The future borrows nothing, so it can be spawned.
pub fn run_worker(
    url: &str,
    token: Option<String>,
    config: RunsConfig,
    shutdown: CancellationToken,
) -> impl Future<Output = Result<(), RunsError>> + Send + 'static {
    let queue = HttpQueue::new(url, token);
    async move {
        let queue: Arc<dyn Queue> = Arc::new(queue?);
        run_worker_on(queue, config, shutdown).await
    }
}

/// Runs one worker (with `config.concurrency` slots) over `queue` until `shutdown` is cancelled: `dq worker
/// --broker nats://…`.
pub async fn run_worker_on(
    queue: Arc<dyn Queue>,
    config: RunsConfig,
    shutdown: CancellationToken,
) -> Result<(), RunsError> {
    Worker::new(Emitter::new(queue), config, shutdown)
        .run()
        .await
}
