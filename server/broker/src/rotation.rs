//! Memtable rotation: the broker, not fjall's writers, decides when a keyspace's memtable is sealed for a flush.
//!
//! fjall 3.1 lets every write that finds its keyspace's memtable past the keyspace's size `try_send` a rotation
//! request to its worker queue (bounded at 1,000 messages), and the worker that then performs a rotation
//! *blocks* sending the flush on that same queue. With a lone worker busy compacting while writes flood the
//! queue with requests, the worker waits on itself for good: memtables and the journal grow without bound
//! (2.5 GB RSS in a minute of `dq-bench memory`; upstream: fjall-rs/fjall pull request 323, not released).
//! A second worker avoids that, but fjall's first worker then hands every compaction back to the queue and
//! picks it up again while the second is busy: a busy loop, about 15% of the server's CPU under overload.
//!
//! So the store runs one worker, gives every keyspace a memtable limit far above what it should hold
//! ([`FJALL_LIMIT_BYTES`]), and this module's thread seals each memtable that reached its own target, looking
//! every [`POLL`]. Writers then never ask for a rotation (a memtable would have to grow by the gap between target
//! and limit within one look), so fjall's queue holds one flush per rotation and one compaction per flush,
//! far below its bound, and nothing but this thread, the journal bound and a close rotates. This thread never
//! writes, so fjall's write stalls never hold it.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use fjall::{AbstractTree, Keyspace};
use parking_lot::Mutex;

use crate::health::Health;

/// The memtable limit fjall itself enforces on every keyspace (its default): a safety net, never reached while
/// the rotation thread keeps up.
pub(crate) const FJALL_LIMIT_BYTES: u64 = 64 * 1024 * 1024;

/// How often the thread looks at the memtables' sizes: at the bench's heaviest write load (some 20 MB/s) a
/// memtable overshoots its target by a fraction of a megabyte, not the tens between target and limit.
const POLL: Duration = Duration::from_millis(10);

/// The rotation thread of one store; stopped (and joined) by [`Rotation::stop`] or on drop.
pub(crate) struct Rotation {
    stop: Arc<AtomicBool>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

impl Rotation {
    /// Starts the thread that seals each of `keyspaces`' memtables once it holds at least its target bytes,
    /// until the store fails or [`Self::stop`].
    pub(crate) fn start(
        keyspaces: Vec<(Keyspace, u64)>,
        health: Arc<Health>,
    ) -> std::io::Result<Self> {
        let stop = Arc::new(AtomicBool::new(false));
        let thread = std::thread::Builder::new()
            .name("dq-broker-seal".into())
            .spawn({
                let stop = Arc::clone(&stop);
                move || run(&keyspaces, &health, &stop)
            })?;
        Ok(Self {
            stop,
            thread: Mutex::new(Some(thread)),
        })
    }

    /// Stops the thread and waits for a rotation under way; idempotent.
    pub(crate) fn stop(&self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(thread) = self.thread.lock().take() {
            thread.thread().unpark();
            if thread.join().is_err() {
                tracing::error!("the memtable rotation thread panicked");
            }
        }
    }
}

impl Drop for Rotation {
    fn drop(&mut self) {
        self.stop();
    }
}

fn run(keyspaces: &[(Keyspace, u64)], health: &Health, stop: &AtomicBool) {
    while !stop.load(Ordering::SeqCst) {
        std::thread::park_timeout(POLL);
        if stop.load(Ordering::SeqCst) || health.failure().is_some() {
            continue;
        }
        for (keyspace, target) in keyspaces {
            if keyspace.tree.active_memtable().size() < *target {
                continue;
            }
            // A failure here is fjall's (a poisoned database, a journal that cannot be written): the store has
            // failed, and recording it stops this thread's looks (one log line, not one every poll).
            if let Err(e) = keyspace.rotate_memtable() {
                health.fail(&e);
                break;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use super::*;
    use crate::store::Store;

    /// Writes `bytes` of 4 KiB values into the message keyspace, committed batch by batch, waits (at most 10 s)
    /// until a memtable was flushed, and checks that the active one then holds less than `target`.
    fn sealed_below(store: &Store, bytes: usize, target: u64) {
        let value = vec![7u8; 4096];
        for chunk in 0..u32::try_from(bytes / (64 * 4096)).unwrap() {
            let mut batch = store.batch().unwrap();
            for i in 0..64u32 {
                batch.insert(
                    &store.msgs,
                    (chunk * 64 + i).to_be_bytes(),
                    value.as_slice(),
                );
            }
            batch.commit().unwrap();
        }
        let deadline = Instant::now() + Duration::from_secs(10);
        while store.msgs.table_count() == 0 {
            assert!(Instant::now() < deadline, "no memtable was flushed");
            std::thread::sleep(Duration::from_millis(10));
        }
        let active = store.msgs.tree.active_memtable().size();
        assert!(active < target, "active memtable {active} bytes");
        store.close(false).unwrap();
    }

    /// fjall would let the memtable grow to its 64 MiB limit; the store's thread seals it at 8 MiB.
    #[test]
    fn the_store_seals_a_memtable_at_its_target_far_below_fjalls_limit() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), 1 << 20, true).unwrap();
        sealed_below(&store, 12 << 20, 8 << 20);
    }

    /// A data dir made before the store sealed memtables itself keeps fjall's old limits (8 MiB for messages), so
    /// the thread seals at half of them there.
    #[test]
    fn a_data_dir_without_the_limit_record_is_sealed_at_half_the_old_limits() {
        let dir = tempfile::tempdir().unwrap();
        {
            let store = Store::open(dir.path(), 1 << 20, true).unwrap();
            store.meta.remove(b"memtable_limit".as_slice()).unwrap();
            store.close(true).unwrap();
        }
        let store = Store::open(dir.path(), 1 << 20, true).unwrap();
        sealed_below(&store, 6 << 20, 4 << 20);
    }

    /// Closing stops the thread: nothing rotates a memtable of a closed store.
    #[test]
    fn a_closed_store_has_no_rotation_thread() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), 1 << 20, true).unwrap();
        store.close(false).unwrap();
        assert!(store.rotation.thread.lock().is_none());
    }
}
