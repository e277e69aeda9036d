//! Retention on a busy runtime: a pass goes on while every other task keeps the runtime's thread busy, so the
//! topics of finished runs do not pile up to the broker's cap when requests come faster than they are served.

use super::*;

use std::sync::atomic::{AtomicBool, Ordering};

use dq_proto::runs::events_topic;

/// Runs finished before the runtime is made busy.
const RUNS: usize = 150;
/// Tasks that each hold the runtime's thread for a millisecond before yielding: a round of them takes at least
/// 40 ms, so a pass that yielded once per run it read (twice per archived run) would need at least 12 s.
const BUSY_TASKS: usize = 40;

#[tokio::test]
async fn a_pass_archives_its_runs_while_other_tasks_keep_the_runtime_busy() {
    let dir = tempfile::tempdir().unwrap();
    let broker = Broker::open(Config::new(dir.path())).unwrap();
    let config = RunsConfig {
        archive_after: Some(Duration::from_secs(2)),
        ..fast(1)
    };
    let shutdown = CancellationToken::new();
    let runtime = start_in_process(broker.clone(), config, shutdown.clone())
        .await
        .unwrap();
    let service = runtime.service();
    let mut runs = Vec::new();
    for _ in 0..RUNS {
        runs.push(
            service
                .create_run(CreateRun::default())
                .await
                .unwrap()
                .run_id,
        );
    }
    let mut all_succeeded = true;
    for run_id in &runs {
        all_succeeded &= reaches(&service, run_id, RunStatus::Succeeded).await;
    }

    let stop = Arc::new(AtomicBool::new(false));
    let mut busy = tokio::task::JoinSet::new();
    for _ in 0..BUSY_TASKS {
        let stop = Arc::clone(&stop);
        busy.spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                std::thread::sleep(Duration::from_millis(1));
                tokio::task::yield_now().await;
            }
        });
    }
    let topics: Vec<String> = runs.iter().map(|id| events_topic(id)).collect();
    let left = within(Duration::from_secs(8), || {
        let (broker, topics) = (&broker, &topics);
        async move {
            let live = broker.topics();
            let left = topics.iter().filter(|t| live.contains(*t)).count();
            if left == 0 { Ok(()) } else { Err(left) }
        }
    })
    .await;
    stop.store(true, Ordering::Relaxed);
    while busy.join_next().await.is_some() {}
    shutdown.cancel();
    runtime.join().await;

    assert!(
        all_succeeded,
        "every run succeeds before the runtime is made busy"
    );
    assert_eq!(
        left,
        Ok(()),
        "topics of finished runs still there after 8 s of a busy runtime"
    );
}
