//! The runs service learns where its own `runs.index` records were stored, so that a catch-up (every
//! `GET /runs`, every SSE connection's DLQ look) reads only what other writers added, not every run this
//! process started since the last one.

use dq_proto::runs::CreateRun;
use dq_runs::queue::Outgoing;
use dq_runs::{INDEX_TOPIC, Queue};

use super::fast;
use super::writes::Counted;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_catch_up_does_not_read_back_the_index_records_this_process_wrote() {
    let counted = Counted::start(fast(0)).await;
    let (queue, service) = (&counted.queue, &counted.service);
    for _ in 0..3 {
        service.create_run(CreateRun::default()).await.unwrap();
    }
    assert_eq!(service.list_runs(None, 10).await.unwrap().len(), 3);
    assert_eq!(queue.writes.lock().index_records_read, 0);

    // A record another writer stored is still read, and so, once, is the service's own after it.
    let forged = serde_json::json!({
        "kind": "created", "run_id": "0123456789abcdef0123456789abcdef", "workflow": "demo",
        "input": {}, "ts": 1
    });
    queue
        .produce(Outgoing {
            topic: INDEX_TOPIC.to_owned(),
            key: None,
            value: forged.to_string(),
            idempotency_key: None,
        })
        .await
        .unwrap();
    service.create_run(CreateRun::default()).await.unwrap();
    service.list_runs(None, 10).await.unwrap();
    assert_eq!(queue.writes.lock().index_records_read, 2);
    service.list_runs(None, 10).await.unwrap();
    assert_eq!(queue.writes.lock().index_records_read, 2);
    counted.stop().await;
}
