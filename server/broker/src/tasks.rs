//! The broker's background work: the lease/backoff timer task ([`background`], firing due deadlines) and the
//! sweep thread ([`sweeper`]) with its retention and idempotency sweeps (the deleted-topic and idle-group
//! sweeps live in `lifecycle`). Both hold only a weak reference to the shared state; nothing here may block a
//! runtime worker or keep the store open after the last handle goes.

use std::sync::atomic::Ordering;
use std::sync::{Arc, Weak};
use std::time::Duration;

use tokio::sync::Notify;
use tokio::time::Instant;

use crate::Error;
use crate::state::{Shared, Shutdown};
use crate::store::{self, MessageRecord};
use crate::timers;
use crate::topic::Topic;
use crate::topic::group;
use crate::topic::group::TimerEntry;

/// Expired idempotency keys removed under one hold of the idempotency lock: every produce that carries a key
/// takes that lock, so a sweep pass of thousands of keys is cut into chunks that hold it for a few ms at most.
const IDEM_SWEEP_CHUNK: usize = 256;

impl Shared {
    /// Handles a due deadline.
    fn fire(&self, key: timers::TimerKey, entry: TimerEntry) {
        match entry {
            TimerEntry::LeaseExpiry {
                topic,
                group,
                partition,
                offset,
            } => {
                // A deleted topic's keys are being removed: recording the expiry would leave one behind.
                if !topic.is_deleted() {
                    group::expire(self, &topic, &group, (partition, offset), key);
                }
            }
            TimerEntry::RetryReady { notify } => notify.notify_waiters(),
        }
    }

    /// One bounded pass of retention, idempotency, deleted-topic and idle-group cleanup; true when work is left.
    fn sweep(&self) -> bool {
        let retention = self.sweep_retention().unwrap_or_else(|e| {
            tracing::warn!(error = %e, "retention sweep failed");
            false
        });
        let idem = self.sweep_idempotency().unwrap_or_else(|e| {
            tracing::warn!(error = %e, "idempotency sweep failed");
            false
        });
        let deleted = self.sweep_deleted_topics().unwrap_or_else(|e| {
            tracing::warn!(error = %e, "deleted-topic sweep failed");
            false
        });
        let groups = self.sweep_idle_groups().unwrap_or_else(|e| {
            tracing::warn!(error = %e, "idle-group sweep failed");
            false
        });
        if let Err(e) = self.store.bound_journal() {
            tracing::warn!(error = %e, "flushing for the journal bound failed");
        }
        retention || idem || deleted || groups
    }

    fn sweep_retention(&self) -> Result<bool, Error> {
        let retention_ms = u64::try_from(self.config.retention.as_millis()).unwrap_or(u64::MAX);
        let now = self.config.clock.now_ms();
        let cutoff = now.saturating_sub(retention_ms);
        if cutoff == 0 {
            return Ok(false);
        }
        let mut budget = self.config.sweep_batch;
        let topics: Vec<Arc<Topic>> = self.topics.read().values().cloned().collect();
        for topic in topics {
            if topic.created_at_ms >= cutoff {
                continue;
            }
            for (idx, partition) in topic.partitions.iter().enumerate() {
                if budget == 0 {
                    return Ok(true);
                }
                let p = u32::try_from(idx).unwrap_or(u32::MAX);
                let first = partition.first();
                let visible = partition.visible();
                if first >= visible {
                    continue;
                }
                let mut first_expiry = partition.first_expiry.lock();
                if first_expiry.is_some_and(|(offset, expires)| offset == first && expires > now) {
                    continue;
                }
                let mut batch = self.store.batch()?;
                let mut new_first = first;
                let range =
                    store::msg_key(topic.id, p, first)..store::msg_key(topic.id, p, visible);
                for kv in self.store.msgs.range(range) {
                    if budget == 0 {
                        break;
                    }
                    let (key, value) = kv.into_inner()?;
                    let record = MessageRecord::decode(&value)?;
                    if record.produced_at_ms >= cutoff {
                        *first_expiry = store::msg_key_offset(&key).map(|offset| {
                            (offset, record.produced_at_ms.saturating_add(retention_ms))
                        });
                        break;
                    }
                    batch.remove(&self.store.msgs, key.clone());
                    new_first = store::msg_key_offset(&key).map_or(new_first, |o| o + 1);
                    budget -= 1;
                }
                if new_first > first {
                    batch.insert(
                        &self.store.meta,
                        store::floor_key(topic.id, p),
                        new_first.to_be_bytes().to_vec(),
                    );
                    batch.commit()?;
                    self.written();
                    partition.first.fetch_max(new_first, Ordering::AcqRel);
                    tracing::debug!(topic = %topic.name, partition = p, deleted = new_first - first, "retention");
                    topic.notify.notify_waiters();
                }
            }
        }
        Ok(budget == 0)
    }

    fn sweep_idempotency(&self) -> Result<bool, Error> {
        let upper = self.config.clock.now_ms().saturating_add(1).to_be_bytes();
        let mut removed = 0;
        while removed < self.config.sweep_batch {
            let chunk = IDEM_SWEEP_CHUNK.min(self.config.sweep_batch - removed);
            let swept = self.sweep_idempotency_chunk(&upper, chunk)?;
            removed += swept;
            if swept < chunk {
                break;
            }
        }
        if removed > 0 {
            self.written();
        }
        Ok(removed >= self.config.sweep_batch)
    }

    /// Removes expired idempotency keys in one batch, under the idempotency lock, until at least `limit` keys
    /// are gone or none is left (an index row of a produce batch stands for all of that batch's keys, see
    /// `store::idem_exp_value`); returns how many keys it removed.
    fn sweep_idempotency_chunk(&self, upper: &[u8], limit: usize) -> Result<usize, Error> {
        let _guard = self.idem_lock.lock();
        let mut batch = self.store.batch()?;
        let mut removed = 0;
        for kv in self.store.idem_exp.range(..upper) {
            if removed >= limit {
                break;
            }
            let (key, value) = kv.into_inner()?;
            batch.remove(&self.store.idem_exp, key.clone());
            let Some((expires, keys)) = store::idem_exp_keys(&key, &value) else {
                removed += 1;
                continue;
            };
            removed += keys.len();
            for idem_key in keys {
                // The key may have been reused after it expired: only remove the entry this row points at.
                let current = self.store.idem.get(idem_key)?;
                if current
                    .as_deref()
                    .and_then(store::parse_idem_value)
                    .is_some_and(|(_, _, e)| e == expires)
                {
                    batch.remove(&self.store.idem, idem_key.to_vec());
                }
            }
        }
        batch.commit()?;
        Ok(removed)
    }
}

/// How often the sweep thread looks whether fjall has sealed another journal between sweeps. fjall seals its
/// journal at 64 MB and keeps it until every keyspace has flushed past it, so until [`Store::bound_journal`]
/// starts those flushes a crash replays the whole sealed journal (about 0.4 s here); looking this often
/// narrows that moment from a sweep interval to this, for the price of a lock read.
///
/// [`Store::bound_journal`]: crate::store::Store::bound_journal
const JOURNAL_WATCH: Duration = Duration::from_millis(50);

/// The sweep thread: retention, idempotency, deleted-topic and idle-group cleanup every `interval`, a tenth of
/// it while work is left, and between sweeps a look every [`JOURNAL_WATCH`] for a newly sealed journal. An OS
/// thread of its own rather than a task, because a pass may read and delete thousands of keys and would hold
/// up a runtime worker (and every request queued on it) for as long. Holds only a weak reference so that
/// dropping every handle closes the store; [`Shared::shut_down`] wakes and joins it.
pub(crate) fn sweeper(shared: &Weak<Shared>, interval: Duration) {
    let mut next = std::time::Instant::now() + interval;
    let mut sealed_seen = 0;
    loop {
        let now = std::time::Instant::now();
        if now < next {
            std::thread::park_timeout((next - now).min(JOURNAL_WATCH));
            // Woken by a shutdown, early, or to look at the journal.
            match shared.upgrade() {
                Some(shared) if !shared.shutdown.is_set() => {
                    sealed_seen = shared.watch_journal(sealed_seen);
                    continue;
                }
                _ => return,
            }
        }
        let Some(strong) = shared.upgrade() else {
            return;
        };
        if strong.shutdown.is_set() {
            return;
        }
        let more = strong.sweep();
        drop(strong);
        next = std::time::Instant::now() + if more { interval / 10 } else { interval };
    }
}

impl Shared {
    /// Starts the flushes that free a sealed journal as soon as one more than `seen` exists (the sweep retries
    /// those that are still pinned); answers how many sealed journals there are now.
    fn watch_journal(&self, seen: usize) -> usize {
        let sealed = self.store.sealed_journals();
        if sealed > seen
            && let Err(e) = self.store.bound_journal()
        {
            tracing::warn!(error = %e, "flushing for the journal bound failed");
        }
        sealed
    }
}

/// The background task: lease expiries and backoff readiness. Holds only a weak reference so that dropping
/// every handle closes the store.
pub(crate) async fn background(
    shared: Weak<Shared>,
    changed: Arc<Notify>,
    shutdown: Arc<Shutdown>,
) {
    loop {
        let changed = changed.notified();
        let stopped = shutdown.notify.notified();
        tokio::pin!(changed, stopped);
        changed.as_mut().enable();
        stopped.as_mut().enable();
        let wake_at = {
            let Some(shared) = shared.upgrade() else {
                return;
            };
            if shared.shutdown.is_set() {
                return;
            }
            let now = Instant::now();
            for (key, entry) in shared.timers.pop_due(now) {
                shared.fire(key, entry);
            }
            shared.timers.next_deadline()
        };
        let due = async {
            match wake_at {
                Some(at) => tokio::time::sleep_until(at).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            () = due => {}
            () = &mut changed => {}
            () = &mut stopped => return,
        }
    }
}

#[cfg(test)]
mod batch_idem_tests;

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use dq_proto::broker::Envelope;

    use crate::{Broker, Config, ManualClock, Produce};

    /// Expiry is checked when a key is looked up, so only the store shows whether the sweep cleaned up.
    #[tokio::test]
    async fn the_idempotency_sweep_removes_expired_keys_in_chunks_up_to_its_batch() {
        let dir = tempfile::TempDir::new().unwrap();
        let clock = ManualClock::new();
        let broker = Broker::open(Config {
            idempotency_window: Duration::from_secs(1),
            clock: clock.clone().into(),
            // Only the calls below sweep.
            sweep_interval: Duration::from_secs(3600),
            sweep_batch: 500,
            ..Config::new(dir.path())
        })
        .unwrap();
        broker.create_topic("t", None).await.unwrap();
        for i in 0..700 {
            let (_, pending) = broker
                .produce_pending(Produce {
                    topic: "t".into(),
                    value: "v".into(),
                    envelope: Some(Envelope {
                        idempotency_key: Some(format!("k{i}")),
                        ..Envelope::default()
                    }),
                    ..Produce::default()
                })
                .unwrap();
            drop(pending);
        }
        let shared = &broker.shared;
        let count = |ks: &fjall::Keyspace| ks.iter().count();
        assert_eq!(count(&shared.store.idem), 700);
        assert!(!shared.sweep_idempotency().unwrap(), "nothing expired yet");
        assert_eq!(count(&shared.store.idem_exp), 700);
        clock.advance(Duration::from_secs(1));
        assert!(
            shared.sweep_idempotency().unwrap(),
            "one pass stops at sweep_batch and says more is left"
        );
        assert_eq!(count(&shared.store.idem), 200);
        assert_eq!(count(&shared.store.idem_exp), 200);
        assert!(!shared.sweep_idempotency().unwrap());
        assert_eq!(count(&shared.store.idem), 0);
        assert_eq!(count(&shared.store.idem_exp), 0);
        broker.shutdown();
    }
}
