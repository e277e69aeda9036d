//! Group commit: many writers, one fsync.
//!
//! Invariant: a writer first commits its fjall write batch (written to the journal and handed to the OS, not
//! synced), *then* registers with [`Committer::register`] and gets a ticket. The sync thread takes the highest
//! ticket issued so far, calls `db.persist(PersistMode::SyncData)` and publishes that ticket as durable. Since a
//! batch is in the journal before its ticket exists, a published ticket covers every batch whose ticket is lower
//! or equal: concurrent writers share one fsync, and an answered produce / ack is durable.
//!
//! The same thread makes produced messages visible to consumers once they are durable ([`Visible`]), so that a
//! consumer never processes a message that a crash could still take back.
//!
//! This module owns the sync thread and nothing else. It must not be waited on while a broker lock is held.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;

use fjall::{Database, PersistMode};
use tokio::sync::{Notify, watch};

use crate::Error;

/// Raise a partition's visible head to `upto` once durable, and wake its consumers.
pub(crate) struct Visible {
    pub(crate) head: Arc<AtomicU64>,
    pub(crate) upto: u64,
    pub(crate) notify: Arc<Notify>,
}

impl Visible {
    pub(crate) fn apply(self) {
        self.head.fetch_max(self.upto, Ordering::AcqRel);
        self.notify.notify_waiters();
    }
}

#[derive(Default)]
struct State {
    issued: u64,
    stop: bool,
    dirty: Vec<Visible>,
}

#[derive(Debug, Clone, Copy, Default)]
struct Durable {
    seq: u64,
    failed: bool,
    stopped: bool,
}

struct Shared {
    state: Mutex<State>,
    wake: Condvar,
    durable: watch::Sender<Durable>,
}

/// The group-commit handle: register after committing a batch, then wait for the ticket.
pub(crate) struct Committer {
    shared: Arc<Shared>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

impl Committer {
    /// Starts the sync thread for `db`.
    pub(crate) fn start(db: Database) -> Result<Self, Error> {
        let shared = Arc::new(Shared {
            state: Mutex::new(State::default()),
            wake: Condvar::new(),
            durable: watch::Sender::new(Durable::default()),
        });
        let thread_shared = Arc::clone(&shared);
        let thread = std::thread::Builder::new()
            .name("dq-broker-sync".into())
            .spawn(move || sync_loop(&db, &thread_shared))
            .map_err(|e| Error::Storage(fjall::Error::Io(e)))?;
        Ok(Self {
            shared,
            thread: Mutex::new(Some(thread)),
        })
    }

    /// Registers a batch that was just committed (without sync); returns its ticket. `visible` is applied once
    /// the ticket is durable.
    pub(crate) fn register(&self, visible: Option<Visible>) -> u64 {
        let mut state = self
            .shared
            .state
            .lock()
            .expect("commit state lock poisoned");
        state.issued += 1;
        if let Some(visible) = visible {
            state.dirty.push(visible);
        }
        let ticket = state.issued;
        drop(state);
        self.shared.wake.notify_one();
        ticket
    }

    /// A ticket covering every batch registered so far (for answers that depend on earlier writes).
    pub(crate) fn barrier(&self) -> u64 {
        self.shared
            .state
            .lock()
            .expect("commit state lock poisoned")
            .issued
    }

    /// Waits until `ticket` is durable.
    pub(crate) async fn wait(&self, ticket: u64) -> Result<(), Error> {
        let mut rx = self.shared.durable.subscribe();
        let durable = match rx
            .wait_for(|d| d.failed || d.stopped || d.seq >= ticket)
            .await
        {
            Ok(d) => *d,
            Err(_) => return Err(Error::ShuttingDown),
        };
        if durable.seq >= ticket {
            Ok(())
        } else if durable.failed {
            // fjall poisons the database when a persist fails; every later write fails the same way.
            Err(Error::Storage(fjall::Error::Poisoned))
        } else {
            // Registered after the final sync of a shutdown: written, but no longer guaranteed durable.
            Err(Error::ShuttingDown)
        }
    }

    /// Syncs what is outstanding and stops the thread. Idempotent.
    pub(crate) fn stop(&self) {
        self.shared
            .state
            .lock()
            .expect("commit state lock poisoned")
            .stop = true;
        self.shared.wake.notify_one();
        let thread = self
            .thread
            .lock()
            .expect("commit thread lock poisoned")
            .take();
        if let Some(thread) = thread
            && thread.join().is_err()
        {
            tracing::error!("the group-commit thread panicked");
        }
    }
}

fn sync_loop(db: &Database, shared: &Shared) {
    let mut synced = 0u64;
    loop {
        let (target, dirty) = {
            let mut state = shared.state.lock().expect("commit state lock poisoned");
            while state.issued == synced && !state.stop {
                state = shared.wake.wait(state).expect("commit state lock poisoned");
            }
            if state.issued == synced {
                drop(state);
                shared.durable.send_modify(|d| d.stopped = true);
                return;
            }
            (state.issued, std::mem::take(&mut state.dirty))
        };
        if let Err(e) = db.persist(PersistMode::SyncData) {
            tracing::error!(error = ?e, "fsync of the journal failed; the store refuses further writes");
            shared.durable.send_modify(|d| d.failed = true);
            return;
        }
        synced = target;
        for visible in dirty {
            visible.apply();
        }
        shared.durable.send_modify(|d| d.seq = target);
    }
}
