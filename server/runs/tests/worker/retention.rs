//! Retention and the worker: a command redelivered after its run was archived (the run had finished, a crash
//! came before the ack) is acked without writing anything, so the run's topic is not made again.

use super::*;

use dq_proto::runs::events_topic;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redelivered_command_of_an_archived_run_is_acked_without_a_new_timeline() {
    let dir = tempfile::tempdir().unwrap();
    let broker = Broker::open(Config::new(dir.path())).unwrap();
    let queue: Arc<dyn Queue> = Arc::new(LocalQueue::new(broker.clone()));
    let archiving = RunsConfig {
        archive_after: Some(Duration::ZERO),
        ..fast(1)
    };
    let shutdown = CancellationToken::new();
    let runtime = start_in_process(broker.clone(), archiving, shutdown.clone())
        .await
        .unwrap();
    let service = runtime.service();
    let run_id = service
        .create_run(CreateRun::default())
        .await
        .unwrap()
        .run_id;
    assert!(reaches(&service, &run_id, RunStatus::Succeeded).await);
    let topic = events_topic(&run_id);
    eventually("the run to be archived (its topic deleted)", GUARD, || {
        let (broker, topic) = (&broker, &topic);
        async move {
            if broker.topics().contains(topic) {
                Err("still there")
            } else {
                Ok(())
            }
        }
    })
    .await;
    let before = service.timeline(&run_id, None).await.unwrap();
    shutdown.cancel();
    runtime.join().await;

    // The run's command once more, taken by a worker that vanishes: its next delivery is a redelivery.
    let command = queue.read(COMMANDS_TOPIC, 0, 0, 10).await.unwrap();
    queue
        .produce(Outgoing {
            topic: COMMANDS_TOPIC.to_owned(),
            key: Some(run_id.clone()),
            value: command[0].value.clone(),
            idempotency_key: None,
        })
        .await
        .unwrap();
    let ghost = commands_spec("ghost", Duration::from_millis(100));
    assert_eq!(take_and_vanish(&queue, &ghost).await, 1);
    // The ghost's lease ends; then one worker slot takes the redelivery before the next run's command.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let shutdown = CancellationToken::new();
    let config = RunsConfig {
        archive_after: None,
        concurrency: 1,
        ..fast(1)
    };
    let runtime = start_in_process(broker.clone(), config, shutdown.clone())
        .await
        .unwrap();
    let service = runtime.service();
    let next = service
        .create_run(CreateRun::default())
        .await
        .unwrap()
        .run_id;
    assert!(reaches(&service, &next, RunStatus::Succeeded).await);
    assert!(
        !broker.topics().contains(&topic),
        "the redelivery made the archived run's topic again"
    );
    let after = service.timeline(&run_id, None).await.unwrap();
    assert_eq!(
        serde_json::to_value(&after).unwrap(),
        serde_json::to_value(&before).unwrap()
    );
    shutdown.cancel();
    runtime.join().await;
    broker.shutdown();
}
