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

/// The size of one slot of `map`'s table: the table keeps up to twice the slots it uses, and the old table
/// beside the new one while it grows.
fn slot_size<K, V>(_: &HashMap<K, V>) -> usize {
    size_of::<(K, V)>()
}

/// The run table holds a pointer per slot, not a whole entry: a slot was 296 bytes, each paid up to twice over
/// for every run ever created.
#[test]
fn the_run_tables_slots_hold_a_pointer_not_an_entry() {
    let mut registry = Registry::default();
    registry.apply_index(IndexRecord::Created {
        run_id: "r1".to_owned(),
        workflow: "demo".to_owned(),
        input: Map::new(),
        fail_at: None,
        max_attempts: None,
        ts: 1,
    });
    assert!(
        slot_size(&registry.runs) <= 32,
        "{}",
        slot_size(&registry.runs)
    );
    assert_eq!(registry.newest_first()[0].run_id, "r1");
}
