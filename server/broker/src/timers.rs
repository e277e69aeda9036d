//! Deadlines ordered by time, on `tokio::time` so that paused-time tests drive them deterministically.
//!
//! This module owns the deadline set only, generic over what a deadline means (the broker's entries, lease
//! expiries and backoff readiness, are `group::TimerEntry`). The timer task (`tasks`) pops due entries and
//! hands them to the consumer-group logic; nothing here takes a group lock, so a group may schedule and cancel
//! while holding its own lock.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use parking_lot::Mutex;
use tokio::sync::Notify;
use tokio::time::Instant;

/// Identifies a scheduled deadline; unique even for equal instants.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct TimerKey {
    pub(crate) at: Instant,
    id: u64,
}

/// The deadline set, over entries of any kind `E` (what happens at a deadline is the caller's business).
pub(crate) struct Timers<E> {
    map: Mutex<BTreeMap<TimerKey, E>>,
    next_id: AtomicU64,
    /// Wakes the timer task when an earlier deadline arrives.
    pub(crate) changed: Arc<Notify>,
}

impl<E> Default for Timers<E> {
    fn default() -> Self {
        Self {
            map: Mutex::new(BTreeMap::new()),
            next_id: AtomicU64::new(0),
            changed: Arc::new(Notify::new()),
        }
    }
}

impl<E> Timers<E> {
    pub(crate) fn schedule(&self, at: Instant, entry: E) -> TimerKey {
        let key = TimerKey {
            at,
            id: self.next_id.fetch_add(1, Ordering::Relaxed),
        };
        let mut map = self.map.lock();
        let earliest = map.first_key_value().is_none_or(|(first, _)| key < *first);
        map.insert(key, entry);
        drop(map);
        if earliest {
            self.changed.notify_one();
        }
        key
    }

    pub(crate) fn cancel(&self, key: TimerKey) {
        self.map.lock().remove(&key);
    }

    /// Removes and returns the entries due at `now`.
    pub(crate) fn pop_due(&self, now: Instant) -> Vec<(TimerKey, E)> {
        let mut map = self.map.lock();
        let mut due = Vec::new();
        while let Some(entry) = map.first_entry() {
            if entry.key().at > now {
                break;
            }
            due.push(entry.remove_entry());
        }
        due
    }

    /// The earliest deadline.
    pub(crate) fn next_deadline(&self) -> Option<Instant> {
        self.map.lock().first_key_value().map(|(k, _)| k.at)
    }
}
