//! The runs service and the worker against a real embedded broker in a temporary dir, without HTTP: attempt
//! counting across a worker restart, no duplicate DLQ record on a redelivery after the last attempt, attempts
//! abandoned by a vanished worker (an expired lease, a broker restart, a shutdown) counted apart from failures,
//! and the registry rebuilt from the broker; workflow files with real steps in [`workflows`].

// Tests may unwrap: a panic is the failure report.
#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use dq_broker::{Broker, Config};
use dq_local::{LocalQueue, start_in_process};
use dq_proto::event::EventBody;
use dq_proto::runs::{
    COMMANDS_TOPIC, CreateRun, DEFAULT_WORKER_GROUP, DlqRecord, Event, ReplayRequest, RunStatus,
};
use dq_runs::queue::{ConsumeSpec, Outgoing};
use dq_runs::{DlqFilter, Queue, RunsConfig, RunsRuntime, RunsService};
use dq_testkit::{eventually, within};
use futures::StreamExt;
use tokio_util::sync::CancellationToken;

/// How long any single wait may take before the test fails instead of hanging. A guard, not an assertion.
const GUARD: Duration = Duration::from_secs(20);

fn fast(workers: usize) -> RunsConfig {
    RunsConfig {
        workers,
        step_delay: Duration::from_millis(1),
        backoff: Duration::from_millis(1),
        lease: Duration::from_secs(2),
        ..RunsConfig::default()
    }
}

/// Waits until the run has `status` at `replay_seq`; for dead-lettered, until its timeline also has the
/// `run.failed` that closes it (the status turns at `run.dlq`, written just before).
async fn wait_status(service: &RunsService, run_id: &str, replay_seq: u64, status: RunStatus) {
    let what = format!("run {run_id} to reach {status:?} at replay {replay_seq}");
    eventually(&what, GUARD, || async move {
        let run = service.run(run_id).await.expect("run");
        if run.summary.status == status
            && run.summary.replay_seq == replay_seq
            && (status != RunStatus::DeadLettered
                || kinds(service, run_id).await.last().map(String::as_str) == Some("run.failed"))
        {
            Ok(())
        } else {
            Err(run)
        }
    })
    .await;
}

/// The `GET /dlq` filter of one run.
/// A user's `note` event with `text`, as `RunsService::emit` takes it.
fn note(text: &str) -> serde_json::Map<String, serde_json::Value> {
    let serde_json::Value::Object(event) = serde_json::json!({"type": "note", "text": text}) else {
        unreachable!("an object")
    };
    event
}

fn run_filter(run_id: &str) -> DlqFilter {
    DlqFilter {
        run_id: Some(run_id.to_owned()),
        ..DlqFilter::default()
    }
}

async fn kinds(service: &RunsService, run_id: &str) -> Vec<String> {
    service
        .timeline(run_id, None)
        .await
        .expect("timeline")
        .into_iter()
        .map(|item| item.event.kind().to_owned())
        .collect()
}

fn failing(step: &str, max_attempts: Option<u32>) -> CreateRun {
    CreateRun {
        fail_at: Some(step.to_owned()),
        max_attempts,
        ..CreateRun::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_restart_mid_retry_keeps_the_attempt_count() {
    let dir = tempfile::tempdir().unwrap();
    let broker = Broker::open(Config::new(dir.path())).unwrap();
    // A long backoff, held by the broker as the nack delay, leaves time to stop the worker between attempts.
    let config = RunsConfig {
        backoff: Duration::from_millis(300),
        ..fast(1)
    };
    let first = CancellationToken::new();
    let runtime = start_in_process(broker.clone(), config.clone(), first.clone())
        .await
        .unwrap();
    let service = runtime.service();
    let run_id = service
        .create_run(failing("transform", None))
        .await
        .unwrap()
        .run_id;
    eventually("a scheduled retry", GUARD, || async {
        let kinds = kinds(&service, &run_id).await;
        if kinds.contains(&"run.retry_scheduled".to_owned()) {
            Ok(())
        } else {
            Err(kinds)
        }
    })
    .await;
    first.cancel();
    runtime.join().await;

    let second = CancellationToken::new();
    let runtime = start_in_process(broker.clone(), config, second.clone())
        .await
        .unwrap();
    let service = runtime.service();
    wait_status(&service, &run_id, 0, RunStatus::DeadLettered).await;
    let attempts: Vec<u64> = service
        .timeline(&run_id, None)
        .await
        .unwrap()
        .into_iter()
        .filter_map(|item| match item.event.body {
            EventBody::WorkerReceived { attempt } => Some(u64::from(attempt)),
            _ => None,
        })
        .collect();
    assert_eq!(attempts, [1, 2, 3]);
    assert_eq!(
        service
            .dlq_list(&run_filter(&run_id), 10)
            .await
            .unwrap()
            .len(),
        1
    );
    second.cancel();
    runtime.join().await;
    broker.shutdown();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redelivery_after_the_last_attempt_dead_letters_exactly_once() {
    let dir = tempfile::tempdir().unwrap();
    let broker = Broker::open(Config::new(dir.path())).unwrap();
    let queue: Arc<dyn Queue> = Arc::new(LocalQueue::new(broker.clone()));
    let service = RunsService::open(Arc::clone(&queue), fast(0))
        .await
        .unwrap();
    let run_id = service
        .create_run(failing("tool_call", Some(2)))
        .await
        .unwrap()
        .run_id;

    // A worker that failed both attempts and died right after writing the DLQ record, before its ack.
    let spec = ConsumeSpec {
        topic: COMMANDS_TOPIC.to_owned(),
        group: DEFAULT_WORKER_GROUP.to_owned(),
        owner: "crashed".to_owned(),
        lease: Duration::from_secs(30),
    };
    let mut deliveries = queue.consume(&spec).await.unwrap();
    for attempt in 1..=2 {
        let item = tokio::time::timeout(GUARD, deliveries.next())
            .await
            .expect("delivery")
            .expect("open stream")
            .expect("item");
        assert_eq!(item.attempts, attempt);
        queue
            .nack(
                &spec,
                item.partition,
                item.offset,
                "forced failure at tool_call",
                Duration::ZERO,
            )
            .await
            .unwrap();
    }
    drop(deliveries);
    // What it wrote before the crash: both failures (the worker counts attempts from them), the DLQ record.
    for attempt in 1..=2 {
        let failed = serde_json::json!({
            "ts": 1, "type": "run.attempt_failed", "run_id": run_id, "attempt": attempt,
            "replay_seq": 0, "error": "forced failure at tool_call"
        });
        queue
            .produce(Outgoing {
                topic: format!("runs.events.{run_id}"),
                key: Some(run_id.clone()),
                value: failed.to_string(),
                idempotency_key: Some(format!("evt:{run_id}:0:{attempt}:run.attempt_failed")),
            })
            .await
            .unwrap();
    }
    let record = serde_json::json!({
        "ts": 1, "type": "runs.dlq", "run_id": run_id, "workflow": "demo", "attempts": 2,
        "max_attempts": 2, "replay_seq": 0, "reason": "max_attempts",
        "error": "forced failure at tool_call", "command": {}
    });
    queue
        .produce(Outgoing {
            topic: "runs.dlq".to_owned(),
            key: Some(run_id.clone()),
            value: record.to_string(),
            idempotency_key: Some(format!("dlq:{run_id}:0:2")),
        })
        .await
        .unwrap();

    let shutdown = CancellationToken::new();
    let runtime = RunsRuntime::start(Arc::clone(&queue), fast(1), shutdown.clone())
        .await
        .unwrap();
    let service = runtime.service();
    wait_status(&service, &run_id, 0, RunStatus::DeadLettered).await;
    let records: Vec<DlqRecord> = service.dlq_list(&run_filter(&run_id), 10).await.unwrap();
    assert_eq!(records.len(), 1, "one DLQ record per (run, replay_seq)");
    let events = kinds(&service, &run_id).await;
    assert_eq!(
        events,
        [
            "run.created",
            "run.attempt_failed",
            "run.attempt_failed",
            "run.dlq",
            "run.failed"
        ],
        "no attempt beyond the limit"
    );
    shutdown.cancel();
    runtime.join().await;
    broker.shutdown();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_registry_is_rebuilt_from_the_broker_after_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let (first, second) = {
        let broker = Broker::open(Config::new(dir.path())).unwrap();
        let queue: Arc<dyn Queue> = Arc::new(LocalQueue::new(broker.clone()));
        let service = RunsService::open(queue, fast(0)).await.unwrap();
        let first = service
            .create_run(CreateRun::default())
            .await
            .unwrap()
            .run_id;
        let second = service
            .create_run(failing("transform", Some(5)))
            .await
            .unwrap()
            .run_id;
        // No worker: the run is still queued, so only a forced replay is accepted.
        let request = ReplayRequest {
            fail_at: Some(None),
            force: true,
            ..ReplayRequest::default()
        };
        service.replay(&second, request).await.unwrap();
        broker.shutdown();
        (first, second)
    };

    let broker = Broker::open(Config::new(dir.path())).unwrap();
    let queue: Arc<dyn Queue> = Arc::new(LocalQueue::new(broker.clone()));
    let service = RunsService::open(queue, fast(0)).await.unwrap();
    let runs = service.list_runs(None, 10).await.unwrap();
    let ids: Vec<&str> = runs.iter().map(|r| r.run_id.as_str()).collect();
    assert_eq!(ids, [second.as_str(), first.as_str()]);
    let detail = service.run(&second).await.unwrap();
    assert_eq!(detail.summary.replay_seq, 1);
    assert_eq!(detail.summary.status, RunStatus::Queued);
    assert_eq!(detail.summary.fail_at, None);
    assert_eq!(detail.max_attempts, Some(5));
    assert_eq!(detail.replays.len(), 1);
    let refused = service
        .replay(&second, ReplayRequest::default())
        .await
        .unwrap_err();
    assert_eq!(
        refused.to_string(),
        format!("run {second} is still queued"),
        "replay 1 is still in flight after the restart"
    );
    let forced = ReplayRequest {
        force: true,
        ..ReplayRequest::default()
    };
    let answer = service.replay(&second, forced).await.unwrap();
    assert_eq!(answer.seq, 2, "the seq continues after a restart");
    assert_eq!(
        answer.fail_at.as_deref(),
        Some("transform"),
        "inherits the run's fail_at"
    );
    broker.shutdown();
}

/// Start-up cost with 10,000 stored runs. Heavy, so run on demand:
/// `cargo test -p dq-runs --release --test worker -- --ignored --nocapture`. Prints the figure; asserts only
/// that every run is back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "heavy: creates 10,000 runs"]
async fn startup_with_ten_thousand_runs() {
    const RUNS: usize = 10_000;
    let dir = tempfile::tempdir().unwrap();
    {
        let mut config = Config::new(dir.path());
        // The write path is not under test here; skipping fsync keeps the set-up short.
        config.durable = false;
        let broker = Broker::open(config).unwrap();
        let queue: Arc<dyn Queue> = Arc::new(LocalQueue::new(broker.clone()));
        let service = RunsService::open(queue, fast(0)).await.unwrap();
        futures::stream::iter(0..RUNS)
            .for_each_concurrent(64, |_| {
                let service = Arc::clone(&service);
                async move {
                    service.create_run(CreateRun::default()).await.unwrap();
                }
            })
            .await;
        broker.shutdown();
    }
    let started = Instant::now();
    let broker = Broker::open(Config::new(dir.path())).unwrap();
    let opened = started.elapsed();
    let queue: Arc<dyn Queue> = Arc::new(LocalQueue::new(broker.clone()));
    let service = RunsService::open(queue, fast(0)).await.unwrap();
    let ready = started.elapsed();
    let listed = service.list_runs(None, RUNS).await.unwrap();
    let first_list = started.elapsed();
    eprintln!(
        "startup with {RUNS} runs: broker open {opened:?}, runs service ready {ready:?}, first full list {first_list:?}"
    );
    assert_eq!(listed.len(), RUNS);
    broker.shutdown();
}

/// End-to-end runs per second in process (no HTTP), step delay 0, no failures. A probe, run on demand:
/// `cargo test -p dq-runs --release --test worker throughput -- --ignored --nocapture`. Prints the figure.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "heavy: a throughput probe"]
async fn throughput_in_process() {
    const RUNS: usize = 2_000;
    let dir = tempfile::tempdir().unwrap();
    let broker = Broker::open(Config::new(dir.path())).unwrap();
    let shutdown = CancellationToken::new();
    let config = RunsConfig {
        step_delay: Duration::ZERO,
        concurrency: 128,
        ..fast(2)
    };
    let runtime = start_in_process(broker.clone(), config, shutdown.clone())
        .await
        .unwrap();
    let service = runtime.service();
    let started = Instant::now();
    let ids: Vec<String> = futures::stream::iter(0..RUNS)
        .map(|_| {
            let service = Arc::clone(&service);
            async move {
                service
                    .create_run(CreateRun::default())
                    .await
                    .unwrap()
                    .run_id
            }
        })
        .buffer_unordered(128)
        .collect()
        .await;
    let created = started.elapsed();
    for id in &ids {
        wait_status(&service, id, 0, RunStatus::Succeeded).await;
    }
    let done = started.elapsed();
    eprintln!(
        "{RUNS} runs: created in {created:?}, all succeeded after {done:?}: {:.0} runs/s",
        RUNS as f64 / done.as_secs_f64()
    );
    shutdown.cancel();
    runtime.join().await;
    broker.shutdown();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn poison_commands_are_parked_once_and_acked_without_a_retry() {
    let dir = tempfile::tempdir().unwrap();
    let broker = Broker::open(Config::new(dir.path())).unwrap();
    let queue: Arc<dyn Queue> = Arc::new(LocalQueue::new(broker.clone()));
    // No backoff: a poison command retried would spin.
    let config = RunsConfig {
        backoff: Duration::ZERO,
        ..fast(1)
    };
    let shutdown = CancellationToken::new();
    let runtime = RunsRuntime::start(Arc::clone(&queue), config, shutdown.clone())
        .await
        .unwrap();
    let service = runtime.service();
    let first = service
        .create_run(CreateRun::default())
        .await
        .unwrap()
        .run_id;
    let poison = [
        "{".to_owned(),
        serde_json::json!({"ts": 1, "type": "run.command", "run_id": "a b"}).to_string(),
        serde_json::json!({"ts": 1, "type": "run.command", "run_id": "x".repeat(300)}).to_string(),
        serde_json::json!({"ts": "soon", "type": "run.command", "run_id": "abc"}).to_string(),
    ];
    for value in &poison {
        queue
            .produce(Outgoing {
                topic: COMMANDS_TOPIC.to_owned(),
                key: None,
                value: value.clone(),
                idempotency_key: None,
            })
            .await
            .unwrap();
    }
    let second = service
        .create_run(CreateRun::default())
        .await
        .unwrap()
        .run_id;
    wait_status(&service, &first, 0, RunStatus::Succeeded).await;
    wait_status(&service, &second, 0, RunStatus::Succeeded).await;

    let of_commands = |series: Vec<(String, String, u64)>| {
        series
            .into_iter()
            .filter(|(topic, _, _)| topic == COMMANDS_TOPIC)
            .map(|(_, _, n)| n)
            .sum::<u64>()
    };
    eventually("the poison parked and acked", GUARD, || async {
        let parked = queue
            .read(dq_proto::runs::POISON_TOPIC, 0, 0, 100)
            .await
            .unwrap_or_default();
        let metrics = broker.metrics();
        if parked.len() == poison.len()
            && of_commands(metrics.lag) == 0
            && of_commands(metrics.in_flight) == 0
        {
            Ok(())
        } else {
            Err(parked)
        }
    })
    .await;
    let nacked: u64 = broker
        .metrics()
        .nacked
        .into_iter()
        .filter(|(topic, _)| topic == COMMANDS_TOPIC)
        .map(|(_, n)| n)
        .sum();
    assert_eq!(nacked, 0, "no poison command was retried");
    let runs = service.list_runs(None, 100).await.unwrap();
    assert_eq!(runs.len(), 2, "{runs:?}");
    assert!(
        service
            .dlq_list(&DlqFilter::default(), 10)
            .await
            .unwrap()
            .is_empty()
    );
    shutdown.cancel();
    runtime.join().await;
    broker.shutdown();
}

/// Waits for `status` like [`wait_status`], but returns whether it came instead of panicking: a test checks it
/// after stopping its runtime and broker, because a panic with both running hangs in their drop.
async fn reaches(service: &RunsService, run_id: &str, status: RunStatus) -> bool {
    within(GUARD, || async {
        let run = service.run(run_id).await.expect("run");
        if run.summary.status == status {
            Ok(())
        } else {
            Err(run)
        }
    })
    .await
    .is_ok()
}

fn commands_spec(owner: &str, lease: Duration) -> ConsumeSpec {
    ConsumeSpec {
        topic: COMMANDS_TOPIC.to_owned(),
        group: DEFAULT_WORKER_GROUP.to_owned(),
        owner: owner.to_owned(),
        lease,
    }
}

/// Takes the next command as a worker that then vanishes: it never settles it.
async fn take_and_vanish(queue: &Arc<dyn Queue>, spec: &ConsumeSpec) -> u32 {
    let mut deliveries = queue.consume(spec).await.unwrap();
    let item = tokio::time::timeout(GUARD, deliveries.next())
        .await
        .expect("delivery")
        .expect("open stream")
        .expect("item");
    item.attempts
}

/// What a test checks once its runtime and broker are stopped: whether the run reached the status, its
/// timeline and its DLQ records.
struct Outcome {
    reached: bool,
    events: Vec<Event>,
    dlq: Vec<DlqRecord>,
    attempts: u32,
}

impl Outcome {
    async fn of(service: &RunsService, run_id: &str, status: RunStatus) -> Self {
        let reached = reaches(service, run_id, status).await;
        Self {
            reached,
            events: service
                .timeline(run_id, None)
                .await
                .unwrap()
                .into_iter()
                .map(|item| item.event)
                .collect(),
            dlq: service.dlq_list(&run_filter(run_id), 10).await.unwrap(),
            attempts: service.run(run_id).await.unwrap().summary.attempts,
        }
    }

    fn of_kind(&self, kind: &str) -> Vec<&Event> {
        self.events
            .iter()
            .filter(|event| event.kind() == kind)
            .collect()
    }

    /// `field` of each event of type `kind`, as the event reads on the wire.
    fn field(&self, kind: &str, field: &str) -> Vec<serde_json::Value> {
        self.of_kind(kind)
            .iter()
            .map(|event| {
                serde_json::to_value(event)
                    .ok()
                    .and_then(|json| json.get(field).cloned())
                    .unwrap_or_default()
            })
            .collect()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lease_expiry_is_an_abandoned_attempt_and_the_run_succeeds_with_attempt_one() {
    let dir = tempfile::tempdir().unwrap();
    let broker = Broker::open(Config::new(dir.path())).unwrap();
    let queue: Arc<dyn Queue> = Arc::new(LocalQueue::new(broker.clone()));
    let service = RunsService::open(Arc::clone(&queue), fast(0))
        .await
        .unwrap();
    // One attempt allowed: were the lost delivery counted as an attempt, the run would be dead-lettered.
    let run_id = service
        .create_run(CreateRun {
            max_attempts: Some(1),
            ..CreateRun::default()
        })
        .await
        .unwrap()
        .run_id;
    let spec = commands_spec("vanished", Duration::from_millis(100));
    assert_eq!(take_and_vanish(&queue, &spec).await, 1);

    let shutdown = CancellationToken::new();
    let runtime = RunsRuntime::start(Arc::clone(&queue), fast(1), shutdown.clone())
        .await
        .unwrap();
    let run = Outcome::of(&runtime.service(), &run_id, RunStatus::Succeeded).await;
    shutdown.cancel();
    runtime.join().await;
    broker.shutdown();

    assert!(run.reached, "succeeded: {:?}", run.events);
    assert_eq!(
        run.field("run.attempt_abandoned", "reason"),
        ["lease expired"],
        "{:?}",
        run.events
    );
    assert_eq!(run.field("run.attempt_abandoned", "attempt"), [1]);
    assert_eq!(run.field("run.attempt_abandoned", "replay_seq"), [0]);
    assert_eq!(
        run.field("worker.received", "attempt"),
        [1],
        "the only attempt is attempt 1"
    );
    assert!(run.of_kind("run.attempt_failed").is_empty());
    assert_eq!(run.attempts, 1);
    assert!(run.dlq.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redelivery_after_a_broker_restart_is_abandoned_not_failed() {
    let dir = tempfile::tempdir().unwrap();
    let run_id = {
        let broker = Broker::open(Config::new(dir.path())).unwrap();
        let queue: Arc<dyn Queue> = Arc::new(LocalQueue::new(broker.clone()));
        let service = RunsService::open(Arc::clone(&queue), fast(0))
            .await
            .unwrap();
        let run_id = service
            .create_run(CreateRun {
                max_attempts: Some(1),
                ..CreateRun::default()
            })
            .await
            .unwrap()
            .run_id;
        // Leased for long: only the restart hands it back.
        let spec = commands_spec("killed", Duration::from_secs(60));
        assert_eq!(take_and_vanish(&queue, &spec).await, 1);
        broker.shutdown();
        run_id
    };
    let broker = Broker::open(Config::new(dir.path())).unwrap();
    let shutdown = CancellationToken::new();
    let runtime = start_in_process(broker.clone(), fast(1), shutdown.clone())
        .await
        .unwrap();
    let run = Outcome::of(&runtime.service(), &run_id, RunStatus::Succeeded).await;
    shutdown.cancel();
    runtime.join().await;
    broker.shutdown();

    assert!(run.reached, "succeeded: {:?}", run.events);
    assert_eq!(
        run.field("run.attempt_abandoned", "reason"),
        ["redelivered after a restart"]
    );
    assert!(run.of_kind("run.attempt_failed").is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn running_out_of_abandoned_attempts_dead_letters_with_reason_max_abandoned() {
    let dir = tempfile::tempdir().unwrap();
    let broker = Broker::open(Config::new(dir.path())).unwrap();
    let queue: Arc<dyn Queue> = Arc::new(LocalQueue::new(broker.clone()));
    let config = RunsConfig {
        max_abandoned: 2,
        ..fast(1)
    };
    let service = RunsService::open(Arc::clone(&queue), fast(0))
        .await
        .unwrap();
    let run_id = service
        .create_run(CreateRun::default())
        .await
        .unwrap()
        .run_id;
    // Two workers vanish with the command in turn (the broker redelivers the second time after the lease).
    let spec = commands_spec("vanished", Duration::from_millis(100));
    assert_eq!(take_and_vanish(&queue, &spec).await, 1);
    assert_eq!(take_and_vanish(&queue, &spec).await, 2);

    let shutdown = CancellationToken::new();
    let runtime = RunsRuntime::start(Arc::clone(&queue), config, shutdown.clone())
        .await
        .unwrap();
    let run = Outcome::of(&runtime.service(), &run_id, RunStatus::DeadLettered).await;
    shutdown.cancel();
    runtime.join().await;
    broker.shutdown();

    assert!(run.reached, "dead-lettered: {:?}", run.events);
    assert_eq!(run.dlq.len(), 1);
    assert_eq!(run.dlq[0].reason, "max_abandoned");
    assert_eq!(
        run.dlq[0].error,
        "attempt 1 abandoned 2 times (last: lease expired)"
    );
    assert_eq!(run.field("run.dlq", "reason"), ["max_abandoned"]);
    assert_eq!(run.field("run.attempt_abandoned", "abandoned"), [1, 2]);
    assert!(
        run.of_kind("worker.received").is_empty(),
        "no attempt once the budget is spent"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_shutting_down_mid_attempt_records_an_abandoned_attempt() {
    let dir = tempfile::tempdir().unwrap();
    let broker = Broker::open(Config::new(dir.path())).unwrap();
    let config = RunsConfig {
        step_delay: Duration::from_secs(5),
        ..fast(1)
    };
    let first = CancellationToken::new();
    let runtime = start_in_process(broker.clone(), config, first.clone())
        .await
        .unwrap();
    let service = runtime.service();
    let run_id = service
        .create_run(CreateRun {
            max_attempts: Some(1),
            ..CreateRun::default()
        })
        .await
        .unwrap()
        .run_id;
    // Not asserted here: the test goes on either way (and its assertions below say what went wrong).
    let _ = within(GUARD, || async {
        let started = kinds(&service, &run_id)
            .await
            .contains(&"step.started".to_owned());
        if started { Ok(()) } else { Err(()) }
    })
    .await;
    first.cancel();
    runtime.join().await;

    let second = CancellationToken::new();
    let runtime = start_in_process(broker.clone(), fast(1), second.clone())
        .await
        .unwrap();
    let run = Outcome::of(&runtime.service(), &run_id, RunStatus::Succeeded).await;
    second.cancel();
    runtime.join().await;
    broker.shutdown();

    assert!(run.reached, "succeeded: {:?}", run.events);
    assert_eq!(
        run.field("run.attempt_abandoned", "reason"),
        ["worker shutting down"]
    );
    assert_eq!(
        run.field("worker.received", "attempt"),
        [1, 1],
        "attempt 1 ran again, and shows"
    );
}

#[path = "worker/workflows.rs"]
mod workflows;

#[path = "worker/writes.rs"]
mod writes;

#[path = "worker/acks.rs"]
mod acks;

#[path = "worker/retention.rs"]
mod retention;

#[path = "worker/own_index.rs"]
mod own_index;

#[path = "worker/gate.rs"]
mod gate;

#[path = "worker/delete_topics.rs"]
mod delete_topics;

#[path = "worker/followed.rs"]
mod followed;

#[path = "worker/busy.rs"]
mod busy;
