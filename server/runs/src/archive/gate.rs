//! Per-run gates between retention and the writers of finished runs. A writer of a run's topic holds its run's
//! gate shared until its write is durable; retention holds the gates of the runs of one pass exclusively while
//! it reads, archives and deletes their topics. So only a writer of a run being archived waits for a pass: a
//! writer of any other run never does (one gate for all of them stalled every replay and user event for a
//! whole pass, two fsyncs and every deletion of it).
//!
//! A gate exists only while somebody holds it or waits for it: the map holds one entry per such run, removed by
//! the last [`Held`] of it to go, so that it does not grow with the runs ever written to.

use std::collections::HashMap;
use std::sync::Arc;

use parking_lot::Mutex;
use tokio::sync::{OwnedRwLockReadGuard, OwnedRwLockWriteGuard, RwLock};

/// The gates of the runs somebody holds or waits for, by run id.
#[derive(Default)]
pub(crate) struct Gates {
    live: Mutex<HashMap<String, Arc<RwLock<()>>>>,
}

/// A run's gate, held shared.
pub(crate) type Shared<'a> = Held<'a, OwnedRwLockReadGuard<()>>;

/// A run's gate, held exclusively.
pub(crate) type Exclusive<'a> = Held<'a, OwnedRwLockWriteGuard<()>>;

/// A run's gate held (`G`: shared or exclusive) until dropped.
pub(crate) struct Held<'a, G> {
    // Declared first so that it is dropped before `claim` looks whether anybody else still needs the gate.
    _guard: G,
    claim: Claim<'a>,
}

impl<G> Held<'_, G> {
    /// The run whose gate this is.
    pub fn run_id(&self) -> &str {
        &self.claim.run_id
    }
}

/// A claim on a run's gate, taken before waiting for it, so that a wait given up (its future dropped) still
/// removes the gate nobody needs any more.
struct Claim<'a> {
    gate: Arc<RwLock<()>>,
    run_id: String,
    gates: &'a Gates,
}

impl Drop for Claim<'_> {
    fn drop(&mut self) {
        let mut live = self.gates.live.lock();
        // Claims are made under this lock, and every other holder of the gate (a guard, a wait) belongs to a
        // claim: two references are the map's and this one's, so nobody else needs the gate.
        if Arc::strong_count(&self.gate) == 2
            && live
                .get(&self.run_id)
                .is_some_and(|gate| Arc::ptr_eq(gate, &self.gate))
        {
            live.remove(&self.run_id);
        }
    }
}

impl Gates {
    fn claim(&self, run_id: &str) -> Claim<'_> {
        let gate = Arc::clone(self.live.lock().entry(run_id.to_owned()).or_default());
        Claim {
            gate,
            run_id: run_id.to_owned(),
            gates: self,
        }
    }

    /// Waits for `run_id`'s gate and holds it shared.
    pub async fn shared(&self, run_id: &str) -> Shared<'_> {
        let claim = self.claim(run_id);
        let guard = Arc::clone(&claim.gate).read_owned().await;
        Held {
            _guard: guard,
            claim,
        }
    }

    /// Waits for `run_id`'s gate and holds it exclusively.
    pub async fn exclusive(&self, run_id: &str) -> Exclusive<'_> {
        let claim = self.claim(run_id);
        let guard = Arc::clone(&claim.gate).write_owned().await;
        Held {
            _guard: guard,
            claim,
        }
    }

    /// Holds `run_id`'s gate exclusively unless somebody holds it or waits for it: retention leaves such a
    /// run to its next pass rather than wait for a writer.
    pub fn try_exclusive(&self, run_id: &str) -> Option<Exclusive<'_>> {
        let claim = self.claim(run_id);
        let guard = Arc::clone(&claim.gate).try_write_owned().ok()?;
        Some(Held {
            _guard: guard,
            claim,
        })
    }

    /// How many runs' gates exist (held or waited for).
    #[cfg(test)]
    fn live(&self) -> usize {
        self.live.lock().len()
    }
}

#[cfg(test)]
mod tests {
    use std::pin::pin;

    use futures::FutureExt;

    use super::*;

    #[tokio::test]
    async fn a_runs_exclusive_gate_holds_back_its_writers_only() {
        let gates = Gates::default();
        let archiving = gates.try_exclusive("a").unwrap();
        assert!(
            gates.shared("b").now_or_never().is_some(),
            "a writer of another run waited"
        );
        let mut writer = pin!(gates.shared("a"));
        assert!((&mut writer).now_or_never().is_none());
        assert!(gates.try_exclusive("a").is_none(), "held twice exclusively");
        drop(archiving);
        let held = writer.await;
        assert_eq!(held.run_id(), "a");
        assert!(
            gates.try_exclusive("a").is_none(),
            "retention took a gate a writer holds"
        );
        drop(held);
        assert!(gates.try_exclusive("a").is_some());
    }

    #[tokio::test]
    async fn a_gate_is_gone_once_nobody_holds_or_waits_for_it() {
        let gates = Gates::default();
        let first = gates.shared("a").await;
        let second = gates.shared("a").await;
        let archiving = gates.try_exclusive("b").unwrap();
        assert_eq!(gates.live(), 2);
        drop(first);
        assert_eq!(gates.live(), 2);
        {
            // A wait given up.
            let mut waiting = pin!(gates.exclusive("a"));
            assert!((&mut waiting).now_or_never().is_none());
        }
        assert!(gates.try_exclusive("a").is_none());
        drop(second);
        drop(archiving);
        assert_eq!(gates.live(), 0);
    }
}
