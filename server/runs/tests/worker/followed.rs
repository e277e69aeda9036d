//! A followed run's timeline: the events this process has just written go to its followers without being read
//! back from the broker, from the run's start for a run this process started, while what another writer
//! stored is still read, and so is what comes before it.

use dq_proto::runs::events_topic;
use dq_runs::Queue;
use dq_runs::queue::Outgoing;
use serde_json::json;

use super::writes::Counted;
use super::{fast, note};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_follower_gets_what_this_process_wrote_to_a_run_it_started_without_reading_it_back() {
    // No worker: only the writes below reach the run's timeline.
    let counted = Counted::start(fast(0)).await;
    let (queue, service) = (&counted.queue, &counted.service);
    let run_id = counted.create_run().await;
    let read = || queue.writes.lock().timeline_records_read;

    let followed = service.follow(&run_id);
    let first = service.timeline_json(&run_id, None).await.unwrap();
    assert_eq!(first.len(), 1, "run.created");
    assert_eq!(read(), 0, "a run started here is kept from its start");

    service.emit(&run_id, note("a")).await.unwrap();
    service.emit(&run_id, note("b")).await.unwrap();
    let written = service.timeline_json(&run_id, Some(0)).await.unwrap();
    assert_eq!(read(), 0, "the two events just written are not read back");
    assert_eq!(
        written.iter().map(|(seq, _)| *seq).collect::<Vec<_>>(),
        [1, 2]
    );

    // Another writer's event after them is read.
    queue
        .produce(Outgoing {
            topic: events_topic(&run_id),
            key: None,
            value: json!({"ts": 1, "type": "note", "run_id": run_id, "text": "c"}).to_string(),
            idempotency_key: None,
        })
        .await
        .unwrap();
    let later = service.timeline_json(&run_id, Some(2)).await.unwrap();
    assert_eq!(later.iter().map(|(seq, _)| *seq).collect::<Vec<_>>(), [3]);
    assert_eq!(read(), 1);

    // What is kept starts again after the other writer's event: a follower from the start reads, and gets
    // what it would have been sent.
    service.emit(&run_id, note("d")).await.unwrap();
    let everything = service.timeline_json(&run_id, None).await.unwrap();
    assert_eq!(read(), 6);
    assert_eq!(&everything[..1], &first[..]);
    assert_eq!(&everything[1..3], &written[..]);
    assert_eq!(everything.len(), 5);
    drop(followed);
    counted.stop().await;
}
