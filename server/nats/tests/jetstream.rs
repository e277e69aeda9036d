//! The JetStream backend against a real 3-node cluster on loopback (see `dq_nats::testing` for how the
//! `nats-server` binary is found: `DQ_NATS_SERVER`, else PATH; `.ci/run` installs one): idempotent produce,
//! reads of one subject, a consumer group's lease, nack delay and delivery count, and the runs service's
//! story (fail → DLQ → replay with the fix → success) with the registry rebuilt by a second service.

use std::sync::Arc;
use std::time::{Duration, Instant};

use dq_nats::testing::Cluster;
use dq_nats::{NatsOptions, NatsQueue};
use dq_proto::runs::{CreateRun, ReplayRequest, RunStatus};
use dq_runs::queue::{ConsumeSpec, Outgoing};
use dq_runs::{Queue, RunsConfig, RunsRuntime, RunsService};
use dq_testkit::eventually;
use futures::StreamExt;
use tokio_util::sync::CancellationToken;

/// How long any single wait may take before the test fails instead of hanging. A guard, not an assertion.
const GUARD: Duration = Duration::from_secs(30);

async fn connect(cluster: &Cluster) -> NatsQueue {
    NatsQueue::connect(&NatsOptions {
        urls: cluster.url(),
        ..NatsOptions::default()
    })
    .await
    .expect("connect")
}

fn outgoing(topic: &str, value: &str, key: Option<&str>) -> Outgoing {
    Outgoing {
        topic: topic.to_owned(),
        key: Some("k".to_owned()),
        value: value.to_owned(),
        idempotency_key: key.map(str::to_owned),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn produce_is_idempotent_reads_see_one_subject_and_a_group_redelivers_with_a_count() {
    let Some(cluster) = Cluster::start(3) else {
        return;
    };
    let queue = connect(&cluster).await;

    let topic = "runs.events.r1";
    let first = queue
        .produce(outgoing(topic, "{\"a\":1}", Some("e1")))
        .await
        .unwrap();
    let again = queue
        .produce(outgoing(topic, "{\"a\":1}", Some("e1")))
        .await
        .unwrap();
    assert_eq!((again.offset, again.duplicate), (first.offset, true));
    queue
        .produce(outgoing("runs.events.r2", "{\"other\":1}", None))
        .await
        .unwrap();
    let (_, durable) = queue
        .produce_pending(outgoing(topic, "{\"a\":2}", None))
        .await
        .unwrap();
    durable.wait().await.unwrap();
    let read = queue.read(topic, 0, 0, 100).await.unwrap();
    let values: Vec<&str> = read.iter().map(|i| i.value.as_str()).collect();
    assert_eq!(values, ["{\"a\":1}", "{\"a\":2}"]);
    assert_eq!(read[0].key, "k");
    assert!(read[0].produced_at_ms > 0);
    // From an offset on: only what follows it.
    let rest = queue.read(topic, 0, read[0].offset + 1, 100).await.unwrap();
    assert_eq!(rest.len(), 1);
    assert!(matches!(
        queue.create_topic("orders", 1).await,
        Err(dq_runs::QueueError::UnknownTopic(_))
    ));

    queue
        .produce(outgoing("runs.commands", "cmd", Some("c1")))
        .await
        .unwrap();
    let spec = ConsumeSpec {
        topic: "runs.commands".to_owned(),
        group: "g".to_owned(),
        owner: "w1".to_owned(),
        lease: Duration::from_secs(5),
    };
    let mut deliveries = queue.consume(&spec).await.unwrap();
    let item = next(&mut deliveries).await;
    assert_eq!((item.value.as_str(), item.attempts), ("cmd", 1));
    assert_eq!(
        item.envelope.and_then(|e| e.idempotency_key).as_deref(),
        Some("c1")
    );
    let nacked = Instant::now();
    queue
        .nack(&spec, 0, item.offset, "boom", Duration::from_millis(300))
        .await
        .unwrap();
    let item = next(&mut deliveries).await;
    assert_eq!(item.attempts, 2);
    assert!(nacked.elapsed() >= Duration::from_millis(250));
    queue.ack(&spec, 0, item.offset).await.unwrap();
    // Settled: a second ack of the same delivery is refused, not sent.
    assert!(queue.ack(&spec, 0, item.offset).await.is_err());
    let health = queue.health().await.unwrap();
    assert_eq!(health["broker"], "nats");
}

async fn next(deliveries: &mut dq_runs::queue::Deliveries) -> dq_proto::broker::ConsumeItem {
    tokio::time::timeout(GUARD, deliveries.next())
        .await
        .expect("a delivery")
        .expect("stream open")
        .expect("no error")
}

fn fast(workers: usize) -> RunsConfig {
    RunsConfig {
        workers,
        step_delay: Duration::from_millis(1),
        backoff: Duration::from_millis(1),
        lease: Duration::from_secs(5),
        ..RunsConfig::default()
    }
}

async fn wait_status(service: &RunsService, run_id: &str, replay_seq: u64, status: RunStatus) {
    let what = format!("run {run_id} to reach {status:?} at replay {replay_seq}");
    eventually(&what, GUARD, || async move {
        let run = service.run(run_id).await.expect("run");
        if run.summary.status == status && run.summary.replay_seq == replay_seq {
            Ok(())
        } else {
            Err(run)
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_fails_into_the_dlq_and_a_replay_with_the_fix_succeeds_on_jetstream() {
    let Some(cluster) = Cluster::start(3) else {
        return;
    };
    let queue: Arc<dyn Queue> = Arc::new(connect(&cluster).await);
    let shutdown = CancellationToken::new();
    let runtime = RunsRuntime::start(queue, fast(1), shutdown.clone())
        .await
        .unwrap();
    let service = runtime.service();
    let run_id = service
        .create_run(CreateRun {
            fail_at: Some("tool_call".to_owned()),
            ..CreateRun::default()
        })
        .await
        .unwrap()
        .run_id;
    wait_status(&service, &run_id, 0, RunStatus::DeadLettered).await;
    let record = service.dlq_for_run(&run_id).await.unwrap();
    assert_eq!(record.run_id, run_id);
    service
        .replay(
            &run_id,
            ReplayRequest {
                fail_at: Some(None),
                ..ReplayRequest::default()
            },
        )
        .await
        .unwrap();
    wait_status(&service, &run_id, 1, RunStatus::Succeeded).await;
    let timeline = service.timeline(&run_id, None).await.unwrap();
    let attempts = timeline
        .iter()
        .filter(|i| i.event.kind() == "run.attempt_failed")
        .count();
    assert_eq!(attempts, 3);
    shutdown.cancel();
    runtime.join().await;

    // A second service with nothing in memory rebuilds the run from the cluster.
    let queue: Arc<dyn Queue> = Arc::new(connect(&cluster).await);
    let fresh = RunsService::open(queue, fast(0)).await.unwrap();
    assert!(fresh.exists(&run_id).await.unwrap());
    wait_status(&fresh, &run_id, 1, RunStatus::Succeeded).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_follower_is_woken_by_an_event_another_host_writes() {
    let Some(cluster) = Cluster::start(3) else {
        return;
    };
    let queue: Arc<dyn Queue> = Arc::new(connect(&cluster).await);
    let service = RunsService::open(queue, fast(0)).await.unwrap();
    // Another host: its own connection, writing to the run's timeline directly.
    let other = connect(&cluster).await;
    let follow = service.follow("r7");
    eventually("a wake-up by the other host's write", GUARD, || async {
        let woken = follow.notified();
        tokio::pin!(woken);
        woken.as_mut().enable();
        other
            .produce(outgoing("runs.events.r7", "{\"type\":\"note\"}", None))
            .await
            .unwrap();
        // The watch subscribes in the background: a write before it is in place wakes nobody.
        tokio::time::timeout(Duration::from_millis(500), woken)
            .await
            .map_err(|_| "not woken")
    })
    .await;
}
