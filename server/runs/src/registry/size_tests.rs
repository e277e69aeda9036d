//! The registry keeps one entry per run for as long as the server runs, so each byte of an entry is paid once
//! per run ever created: these tests hold it down.

use super::*;

fn ending(body: EventBody, replay_seq: u64, ts: u64) -> Event {
    Event {
        ts,
        run_id: "r1".to_owned(),
        replay_seq: Some(replay_seq),
        source: None,
        body,
        extra: Map::new(),
    }
}

/// A finished run's endings take one small allocation, not a hash map's (128 bytes of heap, 48 inline).
#[test]
fn a_finished_runs_endings_are_one_small_allocation() {
    assert!(size_of::<Endings>() <= 24, "{}", size_of::<Endings>());
    assert!(size_of::<RunEntry>() <= 272, "{}", size_of::<RunEntry>());
    let mut endings = Endings::default();
    endings.observe(&ending(EventBody::RunSucceeded {}, 0, 5), 0);
    assert_eq!(endings.ended.capacity(), 1);
    assert_eq!(endings.of(0), Some((RunStatus::Succeeded, 5)));
    // A later ending of the same start replaces it; a replay's is added.
    endings.observe(&ending(EventBody::RunFailed {}, 0, 6), 0);
    endings.observe(&ending(EventBody::RunSucceeded {}, 1, 7), 1);
    assert_eq!(endings.of(0), Some((RunStatus::DeadLettered, 6)));
    assert_eq!(endings.of(1), Some((RunStatus::Succeeded, 7)));
    assert_eq!(endings.of(2), None);
}
