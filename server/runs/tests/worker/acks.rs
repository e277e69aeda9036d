//! How the worker settles a finished run's command: with [`Queue::ack_lazily`], which on the embedded broker
//! costs no fsync of its own (a lost ack means a redelivery, and the timeline says the run ended). The run's
//! events are durable before the ack, and the command counts as settled at once.

use dq_broker::{Broker, Config};
use dq_proto::runs::{COMMANDS_TOPIC, CreateRun, DEFAULT_WORKER_GROUP, RunStatus};
use dq_runs::{Queue, RunsRuntime};
use dq_testkit::eventually;
use tokio_util::sync::CancellationToken;

use super::writes::{Counting, instant};
use super::{GUARD, wait_status};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_finished_runs_command_is_acked_lazily_and_counts_as_settled() {
    let dir = tempfile::tempdir().unwrap();
    let broker = Broker::open(Config::new(dir.path())).unwrap();
    let queue = Counting::over(&broker);
    let shutdown = CancellationToken::new();
    let runtime = RunsRuntime::start(queue.clone(), instant(), shutdown.clone())
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
    let writes = queue.writes.lock();
    assert_eq!(
        (writes.acks_waited, writes.acks_lazy),
        (0, 1),
        "acks answered once durable, and acks made durable with the next sync"
    );
}
