//! The registry's unit tests: untrusted records, the fold's offsets, what in flight means.

use super::*;
use dq_proto::runs::RunStatus;

fn created(run_id: &str, workflow: &str) -> Result<IndexRecord, String> {
    Ok(IndexRecord::Created {
        run_id: run_id.to_owned(),
        workflow: workflow.to_owned(),
        input: Map::new(),
        fail_at: None,
        max_attempts: None,
        ts: 1,
    })
}

fn dlq(run_id: &str, kind: &str) -> Result<DlqRecord, String> {
    Ok(DlqRecord {
        ts: 1,
        kind: kind.to_owned(),
        run_id: run_id.to_owned(),
        workflow: "demo".to_owned(),
        attempts: 3,
        max_attempts: 3,
        replay_seq: 0,
        reason: "max_attempts".to_owned(),
        error: "e".to_owned(),
        command: Value::Null,
    })
}

#[test]
fn records_that_fail_validation_are_skipped_and_passed() {
    let mut registry = Registry::default();
    registry.apply_index_at(0, Err("not JSON".to_owned()));
    registry.apply_index_at(1, created("bad id", "demo"));
    registry.apply_index_at(2, created("r1", "nope"));
    registry.apply_index_at(3, created("r1", "demo"));
    assert_eq!(registry.runs.keys().collect::<Vec<_>>(), ["r1"]);
    assert_eq!(
        registry.index_next, 4,
        "bad records are passed, not re-read"
    );
    registry.apply_dlq_at(0, Err("not JSON".to_owned()));
    registry.apply_dlq_at(1, dlq("r2", "runs.dlq"));
    registry.apply_dlq_at(2, dlq("bad id", "runs.dlq"));
    registry.apply_dlq_at(3, dlq("r1", "custom"));
    registry.apply_dlq_at(4, dlq("r1", "runs.dlq"));
    assert_eq!(registry.dlq.len(), 1);
    assert_eq!(registry.dlq_next, 5);
    registry.forget("r1");
    assert!(registry.runs.is_empty() && registry.dlq.is_empty());
}

#[test]
fn the_fold_reads_each_offset_once() {
    let mut fold = Fold::new(0);
    let failed = Event::lifecycle(5, "r", 0, EventBody::RunFailed {});
    fold.apply(0, &failed);
    assert_eq!(fold.state.status, RunStatus::DeadLettered);
    let replay = Event::lifecycle(
        6,
        "r",
        1,
        EventBody::ReplayRequested {
            seq: 1,
            fail_at: None,
        },
    );
    fold.apply(0, &replay);
    assert_eq!(fold.state.replay_seq, 0, "an old offset is ignored");
    fold.apply(1, &replay);
    assert_eq!(fold.state.status, RunStatus::Queued);
    assert_eq!((fold.next_offset, fold.updated_ms), (2, 6));
}

/// A client that sees `dead_lettered` may replay at once: from `run.dlq` on, not only from `run.failed`.
#[test]
fn a_run_is_not_in_flight_once_its_status_says_dead_lettered() {
    let mut registry = Registry::default();
    registry.apply_index_at(0, created("r1", "demo"));
    let entry = registry.runs.get_mut("r1").unwrap();
    let ev = |body| Event::lifecycle(1, "r1", 0, body);
    entry
        .fold
        .apply(0, &ev(EventBody::WorkerReceived { attempt: 1 }));
    assert_eq!(entry.in_flight(), Some(0));
    entry.fold.apply(
        1,
        &ev(EventBody::RunDlq {
            reason: "max_attempts".into(),
            dlq_topic: "runs.dlq".into(),
            dlq_idem: "k".into(),
        }),
    );
    assert_eq!(entry.summary().status, RunStatus::DeadLettered);
    assert_eq!(entry.in_flight(), None);
}

#[test]
fn a_superseded_replay_cannot_change_the_status_or_the_dlq_answer() {
    let mut registry = Registry::default();
    registry.apply_index_at(0, created("r1", "demo"));
    let entry = registry.runs.get_mut("r1").unwrap();
    let ev = |replay, body| Event::lifecycle(1, "r1", replay, body);
    let steps = [
        ev(0, EventBody::RunCreated { workflow: None }),
        ev(0, EventBody::WorkerReceived { attempt: 2 }),
        ev(0, EventBody::Superseded { by: 1 }),
        ev(
            1,
            EventBody::ReplayRequested {
                seq: 1,
                fail_at: None,
            },
        ),
        ev(1, EventBody::WorkerReceived { attempt: 1 }),
        ev(1, EventBody::RunFailed {}),
        // The superseded chain, late.
        ev(0, EventBody::RunSucceeded {}),
    ];
    for (offset, event) in steps.iter().enumerate() {
        entry.fold.apply(offset as u64, event);
        if offset == 1 {
            assert_eq!(entry.in_flight(), Some(0));
            assert_eq!(
                entry.in_flight_message(3),
                "run r1 is still running (attempt 2/3)"
            );
        }
    }
    entry.reserved_seq = 1;
    assert_eq!(entry.fold.state.status, RunStatus::DeadLettered);
    assert_eq!(entry.in_flight(), None);
    let record = |seq| DlqRecord {
        replay_seq: seq,
        ..dlq("r1", "runs.dlq").unwrap()
    };
    assert!(entry.dead_lettered_by(&record(1)));
    assert!(
        !entry.dead_lettered_by(&record(0)),
        "a late record of the superseded chain"
    );
    entry.reserved_seq = 2;
    assert_eq!(entry.in_flight(), Some(2), "a replay being written");
    assert_eq!(entry.in_flight_message(3), "run r1 is still queued");
    assert!(!entry.dead_lettered_by(&record(1)), "replayed since");
}
