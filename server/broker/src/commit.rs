//! Group commit: many writers, one fsync.
//!
//! Invariant: a writer first commits its fjall write batch (written to fjall's journal buffer, neither handed to
//! the OS nor synced), *then* registers with [`Committer::register`] and gets a ticket. The sync thread takes the
//! highest ticket issued so far, flushes the journal buffer to the OS (`db.persist(PersistMode::Buffer)`), syncs
//! the journal file and publishes that ticket as durable. Since a batch is in the journal before its ticket
//! exists, a published ticket covers every batch whose ticket is lower or equal: concurrent writers share one
//! write and one fsync, and an answered produce / ack is durable. This needs a store opened with
//! `manual_journal_persist` (see `store`), else every commit would write to the OS itself.
//!
//! The fsync itself goes through the broker's own read-only handle on fjall's active journal file (`<n>.jnl`),
//! not `db.persist(SyncData)`: fjall holds its journal mutex for the whole `persist`, which would stall every
//! writer (and every delivery's attempts write) for the length of an fsync; the buffer flush holds it only for
//! one `write`. Once flushed, the bytes are the OS's, so `fdatasync` on any handle of that file covers them. When
//! fjall rotates to a new journal it first flushes and syncs the old one (`SyncAll` in `Writer::rotate`), so
//! after our sync we check that the journal we synced is still the active one (its successor `<n + 1>.jnl` does
//! not exist yet) and sync the new one otherwise. The handle is kept across syncs; the directory is listed only
//! at start and when a journal vanished. If no journal file can be found, `db.persist(SyncData)` is the
//! fallback.
//!
//! A batch nobody waits for (a delivery's attempt records, a sweep) registers without waking the thread: it is
//! synced with the next batch somebody waits for, or on its own after a few ms. Waking for each of them cost one
//! more fsync per consume chunk under load.
//!
//! Each waiter is woken at its own ticket ([`Waiters`]): a sync wakes the tasks whose tickets it covers and
//! no other. A `watch` channel woke every waiter on every sync, and under load about as many had registered
//! during the fsync as before it, so each answer cost one more task wake-up and poll.
//!
//! The same thread makes produced messages visible to consumers once they are durable ([`Visible`]), so that a
//! consumer never processes a message that a crash could still take back.
//!
//! A failed flush or fsync poisons fjall (nothing written after it can be made durable by this process): the
//! thread records the failure in the store's [`Health`], fails every ticket not yet durable with it, and ends.
//!
//! This module owns the sync thread and nothing else. It must not be waited on while a broker lock is held.

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll, Waker};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use fjall::{Database, PersistMode};
use parking_lot::{Condvar, Mutex};
use tokio::sync::Notify;

use crate::health::Health;
use crate::{Error, journal};

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
    /// The highest ticket someone waits for (or whose batch makes messages visible). Batches nobody waits for
    /// ([`Committer::written`]) raise `issued` only: they ride along with the next sync somebody needs, or are
    /// synced on their own after [`UNWAITED_DELAY`].
    wanted: u64,
    stop: bool,
    dirty: Vec<Visible>,
    /// Set while the sync thread sleeps: the `wanted` count that should wake it. Registering below it does not
    /// signal the condvar, so that writers pay no futex call (and the thread no wake-up) it would not act on.
    wake_at: Option<u64>,
    /// Asks for a sync of a ticket not asked for before: one per writer that will wait, whatever number of batches
    /// nobody waits for ride along. The linger counts these, not tickets.
    asks: u64,
    /// Set while the sync thread lingers: the `asks` count that should wake it.
    linger_until_asks: Option<u64>,
    /// Set while the sync thread sleeps with nothing written since its last sync: the next batch nobody waits
    /// for wakes it, to start the [`UNWAITED_DELAY`] clock.
    idle: bool,
}

#[derive(Debug, Clone, Copy, Default)]
struct Durable {
    seq: u64,
    failed: bool,
    stopped: bool,
}

/// Who waits for which ticket, and how far the syncs got. Its own lock, so that waking waiters never holds up
/// writers registering tickets.
#[derive(Default)]
struct Waiters {
    durable: Durable,
    /// Wakers by the ticket they wait for. A waiter dropped before its ticket is durable leaves its waker here
    /// until then (waking a finished task is harmless): every ticket is issued before it is waited for, so every
    /// entry is reached by a later sync, or by the failure or stop that ends the thread.
    waiting: BTreeMap<u64, Vec<Waker>>,
}

impl Waiters {
    /// Ready with the durable state once `ticket` is durable (or never will be); else keeps the task's waker
    /// under `ticket`.
    fn poll(&mut self, ticket: u64, cx: &Context<'_>) -> Poll<Durable> {
        let d = self.durable;
        if d.failed || d.stopped || d.seq >= ticket {
            return Poll::Ready(d);
        }
        let wakers = self.waiting.entry(ticket).or_default();
        if !wakers.iter().any(|w| w.will_wake(cx.waker())) {
            wakers.push(cx.waker().clone());
        }
        Poll::Pending
    }

    /// Applies `change` and takes the wakers it answers: those at or below the new durable ticket, or all of
    /// them once the thread failed or stopped.
    fn publish(&mut self, change: impl FnOnce(&mut Durable)) -> BTreeMap<u64, Vec<Waker>> {
        change(&mut self.durable);
        let d = self.durable;
        if d.failed || d.stopped {
            return std::mem::take(&mut self.waiting);
        }
        let later = self.waiting.split_off(&d.seq.saturating_add(1));
        std::mem::replace(&mut self.waiting, later)
    }
}

struct Shared {
    state: Mutex<State>,
    wake: Condvar,
    waiters: Mutex<Waiters>,
    health: Arc<Health>,
}

impl Shared {
    /// Publishes `change` and wakes the waiters it answers, outside the lock.
    fn publish(&self, change: impl FnOnce(&mut Durable)) {
        let woken = self.waiters.lock().publish(change);
        for waker in woken.into_values().flatten() {
            waker.wake();
        }
    }
}

/// The group-commit handle: register after committing a batch, then wait for the ticket.
pub(crate) struct Committer {
    shared: Arc<Shared>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

impl Committer {
    /// Starts the sync thread for `db`.
    pub(crate) fn start(db: Database, dir: PathBuf, health: Arc<Health>) -> Result<Self, Error> {
        let shared = Arc::new(Shared {
            state: Mutex::new(State::default()),
            wake: Condvar::new(),
            waiters: Mutex::new(Waiters::default()),
            health,
        });
        let thread_shared = Arc::clone(&shared);
        let thread = std::thread::Builder::new()
            .name("dq-broker-sync".into())
            .spawn(move || {
                sync_loop(
                    JournalSync {
                        db,
                        dir,
                        open: None,
                    },
                    &thread_shared,
                );
            })
            .map_err(|e| Error::Storage(fjall::Error::Io(e)))?;
        Ok(Self {
            shared,
            thread: Mutex::new(Some(thread)),
        })
    }

    /// Registers a batch that was just committed (without sync); returns its ticket. Each of `visible` (one per
    /// partition the batch appended to) is applied once the ticket is durable.
    pub(crate) fn register(&self, visible: impl IntoIterator<Item = Visible>) -> u64 {
        let mut state = self.shared.state.lock();
        state.issued += 1;
        state.dirty.extend(visible);
        let ticket = state.issued;
        self.want(state, ticket);
        ticket
    }

    /// Registers a batch that was just committed and that nobody waits for (a delivery's attempts, a sweep): it
    /// is synced with the next batch somebody waits for, or after [`UNWAITED_DELAY`]. Never wakes the sync
    /// thread for a sync of its own, which under load would be one more fsync per consume chunk.
    pub(crate) fn written(&self) {
        let mut state = self.shared.state.lock();
        state.issued += 1;
        let wake = std::mem::take(&mut state.idle);
        drop(state);
        if wake {
            self.shared.wake.notify_one();
        }
    }

    /// A ticket covering every batch registered so far (for answers that depend on earlier writes).
    pub(crate) fn barrier(&self) -> u64 {
        let state = self.shared.state.lock();
        let ticket = state.issued;
        self.want(state, ticket);
        ticket
    }

    /// A ticket covering every batch registered so far that asks for no sync: somebody who comes to wait for it
    /// [`Committer::ask`]s first. Until then the batches ride along with the next sync somebody needs.
    pub(crate) fn covering(&self) -> u64 {
        self.shared.state.lock().issued
    }

    /// Asks for a sync covering `ticket` (from [`Committer::covering`]), as [`Committer::barrier`] does.
    pub(crate) fn ask(&self, ticket: u64) {
        let state = self.shared.state.lock();
        self.want(state, ticket);
    }

    /// The highest ticket somebody asked a sync for.
    #[cfg(test)]
    pub(crate) fn wanted(&self) -> u64 {
        self.shared.state.lock().wanted
    }

    /// How many asks for a sync of a new ticket were made.
    #[cfg(test)]
    pub(crate) fn asks(&self) -> u64 {
        self.shared.state.lock().asks
    }

    /// Records that `ticket` is waited for, waking the sync thread if it sleeps short of it.
    fn want(&self, mut state: parking_lot::MutexGuard<'_, State>, ticket: u64) {
        if ticket > state.wanted {
            state.asks += 1;
        }
        state.wanted = state.wanted.max(ticket);
        let asks = state.asks;
        let wake = state.wake_at.is_some_and(|at| ticket >= at)
            || state.linger_until_asks.is_some_and(|at| asks >= at);
        if wake {
            state.wake_at = None;
            state.linger_until_asks = None;
            state.idle = false;
        }
        drop(state);
        if wake {
            self.shared.wake.notify_one();
        }
    }

    /// Waits until `ticket` is durable.
    pub(crate) async fn wait(&self, ticket: u64) -> Result<(), Error> {
        let durable = std::future::poll_fn(|cx| self.shared.waiters.lock().poll(ticket, cx)).await;
        if durable.seq >= ticket {
            Ok(())
        } else if durable.failed {
            // fjall poisons the database when a persist fails; every later write fails the same way.
            Err(Error::StorageFailed(
                self.shared.health.fail(&fjall::Error::Poisoned),
            ))
        } else {
            // Registered after the final sync of a shutdown: written, but no longer guaranteed durable.
            Err(Error::ShuttingDown)
        }
    }

    /// Syncs what is outstanding and stops the thread. Idempotent.
    pub(crate) fn stop(&self) {
        self.shared.state.lock().stop = true;
        self.shared.wake.notify_one();
        let thread = self.thread.lock().take();
        if let Some(thread) = thread
            && thread.join().is_err()
        {
            tracing::error!("the group-commit thread panicked");
        }
    }
}

/// Syncs fjall's active journal without taking fjall's journal mutex.
struct JournalSync {
    db: Database,
    dir: PathBuf,
    /// The journal synced last: its number, our handle on it, and the path of its successor.
    open: Option<(u64, File, PathBuf)>,
}

impl JournalSync {
    fn sync(&mut self) -> fjall::Result<()> {
        self.db.persist(PersistMode::Buffer)?;
        loop {
            let (id, file, next) = if let Some((id, file, next)) = &self.open {
                (*id, file, next)
            } else {
                let Some((id, path)) = journal::active_journal(&self.dir)? else {
                    return self.db.persist(PersistMode::SyncData);
                };
                match open_journal(&path) {
                    Ok(file) => {
                        let next = journal::journal_path(&self.dir, id + 1);
                        let (id, file, next) = self.open.insert((id, file, next));
                        (*id, &*file, &*next)
                    }
                    // Rotated, flushed and removed since we listed it: look again.
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                    Err(e) => return Err(e.into()),
                }
            };
            file.sync_data()?;
            // fjall rotates from `<n>.jnl` to `<n + 1>.jnl` only, and creates the new file before writing to it:
            // while the successor does not exist, every batch committed so far is in the journal just synced. One
            // stat per sync instead of a directory listing.
            if !next.try_exists()? {
                return Ok(());
            }
            // Rotated (fjall synced the old journal itself): sync the new one too.
            match open_journal(next) {
                Ok(file) => {
                    let next = journal::journal_path(&self.dir, id + 2);
                    self.open = Some((id + 1, file, next));
                }
                // Already rotated past it and removed: list the directory again.
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => self.open = None,
                Err(e) => return Err(e.into()),
            }
        }
    }
}

/// Write access only because some platforms refuse to flush a read-only handle; we never write.
fn open_journal(path: &Path) -> std::io::Result<File> {
    OpenOptions::new().read(true).write(true).open(path)
}

/// Longest wait before syncing batches that nobody waits for, when no batch somebody waits for comes along.
const UNWAITED_DELAY: Duration = Duration::from_millis(5);

/// Longest wait for the writers of the last round to come back before syncing.
const MAX_LINGER: Duration = Duration::from_millis(1);

fn sync_loop(mut journal: JournalSync, shared: &Shared) {
    let mut synced = 0u64;
    // Adaptive linger: writers woken by the last sync usually commit again within microseconds. Waiting (briefly)
    // until as many writers ask as the last round carried lets one fsync cover them all instead of splitting them
    // across two. A lone writer (last round = 1) never waits. Writers, not tickets: batches nobody waits for (a
    // lazy ack, a topic created with its first batch) made rounds look bigger than the writers coming back, and
    // the next sync somebody waited for lingered for writers that never came.
    let mut last_round = 1u64;
    let mut asks_synced = 0u64;
    let mut last_sync = Duration::ZERO;
    loop {
        let (target, asks, dirty) = {
            let mut state = shared.state.lock();
            let mut unwaited_since = None;
            while state.wanted <= synced && !state.stop {
                state.wake_at = Some(synced + 1);
                if state.issued == synced {
                    state.idle = true;
                    shared.wake.wait(&mut state);
                    continue;
                }
                // Only batches nobody waits for: give them a moment to share a sync somebody needs.
                let since = *unwaited_since.get_or_insert_with(Instant::now);
                let left = (since + UNWAITED_DELAY).saturating_duration_since(Instant::now());
                if left.is_zero() {
                    break;
                }
                shared.wake.wait_for(&mut state, left);
            }
            state.idle = false;
            if state.issued == synced {
                drop(state);
                shared.publish(|d| d.stopped = true);
                return;
            }
            let linger_until = Instant::now() + (last_sync / 4).min(MAX_LINGER);
            while state.asks - asks_synced < last_round && !state.stop {
                let left = linger_until.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    break;
                }
                state.linger_until_asks = Some(asks_synced + last_round);
                shared.wake.wait_for(&mut state, left);
            }
            state.wake_at = None;
            state.linger_until_asks = None;
            let asks = state.asks;
            (state.issued, asks, std::mem::take(&mut state.dirty))
        };
        let started = Instant::now();
        if let Err(e) = journal.sync() {
            // Recorded before the waiters wake, so that they answer with this cause.
            let failure = shared.health.fail(&e);
            tracing::error!(%failure, "flushing or syncing the journal failed; the store refuses further writes");
            shared.publish(|d| d.failed = true);
            return;
        }
        last_sync = started.elapsed();
        last_round = (asks - asks_synced).max(1);
        asks_synced = asks;
        synced = target;
        // One wake-up per partition, not per message: keep the highest head of each.
        let mut merged: Vec<Visible> = Vec::new();
        for visible in dirty {
            match merged
                .iter_mut()
                .find(|m| Arc::ptr_eq(&m.head, &visible.head))
            {
                Some(m) => m.upto = m.upto.max(visible.upto),
                None => merged.push(visible),
            }
        }
        for visible in merged {
            visible.apply();
        }
        shared.publish(|d| d.seq = target);
    }
}

#[cfg(test)]
mod tests {
    use std::pin::pin;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::task::{Context, Poll, Wake, Waker};
    use std::time::Duration;

    use super::Committer;
    use crate::store::Store;

    /// Long enough for anything that should happen; nothing here asserts on elapsed time.
    const PATIENCE: Duration = Duration::from_secs(20);

    fn started(dir: &tempfile::TempDir) -> (Store, Committer) {
        let store = Store::open(dir.path(), 1 << 20, true).unwrap();
        let committer = Committer::start(
            store.db.clone(),
            dir.path().to_owned(),
            Arc::clone(&store.health),
        )
        .unwrap();
        (store, committer)
    }

    fn write(store: &Store, key: &str) {
        let mut batch = store.batch().unwrap();
        batch.insert(&store.attempts, key.as_bytes().to_vec(), b"1".to_vec());
        batch.commit().unwrap();
    }

    #[tokio::test]
    async fn a_batch_nobody_waits_for_is_synced_without_a_waited_one_after_it() {
        let dir = tempfile::TempDir::new().unwrap();
        let (store, committer) = started(&dir);
        write(&store, "unwaited");
        committer.written();
        // Waiting registers no want: only the thread's own timer can sync this batch.
        tokio::time::timeout(PATIENCE, committer.wait(1))
            .await
            .expect("synced in time")
            .unwrap();
        committer.stop();
    }

    /// Counts the wake-ups of a task.
    #[derive(Default)]
    struct Wakes(AtomicUsize);

    impl Wake for Wakes {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    #[tokio::test]
    async fn a_sync_wakes_only_the_waiters_its_ticket_covers() {
        let dir = tempfile::TempDir::new().unwrap();
        let (store, committer) = started(&dir);
        let wakes = Arc::new(Wakes::default());
        let waker = Waker::from(Arc::clone(&wakes));
        let mut cx = Context::from_waker(&waker);
        let mut later = pin!(committer.wait(2));
        assert!(later.as_mut().poll(&mut cx).is_pending());

        write(&store, "first");
        let first = committer.register(None);
        assert_eq!(first, 1);
        tokio::time::timeout(PATIENCE, committer.wait(first))
            .await
            .expect("durable in time")
            .unwrap();
        assert_eq!(
            wakes.0.load(Ordering::SeqCst),
            0,
            "the waiter of ticket 2 was woken by the sync of ticket 1"
        );

        write(&store, "second");
        let second = committer.register(None);
        tokio::time::timeout(PATIENCE, committer.wait(second))
            .await
            .expect("durable in time")
            .unwrap();
        assert_eq!(wakes.0.load(Ordering::SeqCst), 1);
        assert!(matches!(later.as_mut().poll(&mut cx), Poll::Ready(Ok(()))));
        committer.stop();
    }

    #[tokio::test]
    async fn a_stop_answers_every_waiter() {
        let dir = tempfile::TempDir::new().unwrap();
        let (_store, committer) = started(&dir);
        let waiting = committer.wait(7);
        committer.stop();
        let answer = tokio::time::timeout(PATIENCE, waiting)
            .await
            .expect("answered in time");
        assert!(
            matches!(answer, Err(crate::Error::ShuttingDown)),
            "{answer:?}"
        );
    }

    #[tokio::test]
    async fn a_barrier_over_batches_nobody_waits_for_is_answered() {
        let dir = tempfile::TempDir::new().unwrap();
        let (store, committer) = started(&dir);
        for key in ["a", "b", "c"] {
            write(&store, key);
            committer.written();
        }
        let barrier = committer.barrier();
        assert_eq!(barrier, 3);
        tokio::time::timeout(PATIENCE, committer.wait(barrier))
            .await
            .expect("durable in time")
            .unwrap();
        let ticket = committer.register(None);
        tokio::time::timeout(PATIENCE, committer.wait(ticket))
            .await
            .expect("durable in time")
            .unwrap();
        committer.stop();
    }
}
