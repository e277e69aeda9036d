//! How the worker settles a finished run's command: with [`Queue::ack_lazily`], which on the embedded broker
//! costs no fsync of its own (a lost ack means a redelivery, and the timeline says the run ended). The run's
//! events are durable before the ack, and the command counts as settled at once.

use dq_proto::runs::{COMMANDS_TOPIC, DEFAULT_WORKER_GROUP, RunStatus};
use dq_runs::Queue;
use dq_testkit::eventually;

use super::writes::{Counted, instant};
use super::{GUARD, wait_status};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_finished_runs_command_is_acked_lazily_and_counts_as_settled() {
    let counted = Counted::start(instant()).await;
    let run_id = counted.create_run().await;
    wait_status(&counted.service, &run_id, 0, RunStatus::Succeeded).await;
    eventually("the run's command to be settled", GUARD, || {
        let queue = &counted.queue;
        async move {
            match queue.unsettled(COMMANDS_TOPIC, DEFAULT_WORKER_GROUP).await {
                Ok(Some(0)) => Ok(()),
                other => Err(format!("{other:?}")),
            }
        }
    })
    .await;
    let queue = counted.stop().await;
    let writes = queue.writes.lock();
    assert_eq!(
        (writes.acks_waited, writes.acks_lazy),
        (0, 1),
        "acks answered once durable, and acks made durable with the next sync"
    );
}
