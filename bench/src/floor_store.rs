//! The storage of the `/v1` floor server ([`crate::floor_broker`]): topics held in memory and a group commit
//! that makes each produce and ack durable with one `fdatasync` per round, like dq's, on a plain file.
//!
//! It keeps what the broker scenario needs to be a real broker for it and nothing else: every produced message
//! is stored (in memory and in the file) and delivered to each consumer group once, and an ack settles a
//! delivery only when the stream that got it sends it. No leases, redeliveries, nacks or recovery: the file is
//! written for the cost of the sync, never read.
//!
//! The file is written full of zeros once at start and then overwritten as a ring: an `fdatasync` after an
//! append must also commit the file's new size (a filesystem journal commit), which on this machine's disk is
//! several times slower under load than one after an overwrite. The floor is meant to cost no more storage
//! than the sync itself, so it takes the cheaper kind.

use std::collections::HashMap;
use std::fs::File;
use std::io::Write;
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};

use tokio::sync::{Notify, oneshot};

/// A topic: its partitions' messages and its groups' positions under one lock, and the consume streams' bell.
pub struct Topic {
    pub partitions: u32,
    log: Mutex<Log>,
    /// Rung when messages are appended; consume streams wait on it when they found nothing.
    pub appended: Notify,
}

#[derive(Default)]
struct Log {
    /// Each partition's messages, (key, value), by offset.
    messages: Vec<Vec<(String, String)>>,
    groups: HashMap<String, Group>,
}

#[derive(Default)]
struct Group {
    /// The next offset to deliver, per partition.
    next: Vec<u64>,
    /// Delivered and not yet acked: (partition, offset) → the owner of the stream it went to.
    in_flight: HashMap<(u32, u64), String>,
    /// The partition the next chunk starts from, so that no partition starves the others.
    turn: usize,
}

/// The shape of a consume item (`dq_proto::broker::ConsumeItem`), serialised from borrowed fields.
#[derive(serde::Serialize)]
struct Item<'a> {
    partition: u32,
    offset: u64,
    attempts: u32,
    key: &'a str,
    value: &'a str,
    last_error: &'a str,
}

/// Why an ack settles nothing.
pub enum AckRefused {
    NoGroup,
    NotInFlight,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panicking handler leaves whole values behind: nothing here is half-updated across a panic point.
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Topic {
    pub fn new(partitions: u32) -> Self {
        Self {
            partitions,
            log: Mutex::new(Log {
                messages: vec![Vec::new(); partitions as usize],
                groups: HashMap::new(),
            }),
            appended: Notify::new(),
        }
    }

    /// Stores a message (made durable first) and answers its offset; the caller rings [`Topic::appended`].
    fn append(&self, partition: u32, key: String, value: String) -> u64 {
        let mut log = lock(&self.log);
        let messages = &mut log.messages[partition as usize];
        messages.push((key, value));
        messages.len() as u64 - 1
    }

    /// Joins `group` (creating it at the start of every partition).
    pub fn join(&self, group: &str) {
        let mut log = lock(&self.log);
        let partitions = log.messages.len();
        log.groups.entry(group.to_owned()).or_insert_with(|| Group {
            next: vec![0; partitions],
            ..Group::default()
        });
    }

    /// Delivers up to `max_items` undelivered messages (and about `max_bytes` of values) of `group` to
    /// `owner`, written as NDJSON lines into `out`; answers how many.
    pub fn deliver(
        &self,
        group: &str,
        owner: &str,
        max_items: usize,
        max_bytes: usize,
        out: &mut Vec<u8>,
    ) -> serde_json::Result<usize> {
        let mut log = lock(&self.log);
        let Log { messages, groups } = &mut *log;
        let Some(group) = groups.get_mut(group) else {
            return Ok(0);
        };
        let (mut count, mut bytes) = (0, 0);
        let partitions = messages.len();
        for step in 0..partitions {
            let p = (group.turn + step) % partitions;
            let stored = &messages[p];
            while count < max_items && bytes < max_bytes {
                let offset = group.next[p];
                let Some((key, value)) = usize::try_from(offset).ok().and_then(|o| stored.get(o))
                else {
                    break;
                };
                let partition = u32::try_from(p).unwrap_or(u32::MAX);
                serde_json::to_writer(
                    &mut *out,
                    &Item {
                        partition,
                        offset,
                        attempts: 1,
                        key,
                        value,
                        last_error: "",
                    },
                )?;
                out.push(b'\n');
                group
                    .in_flight
                    .insert((partition, offset), owner.to_owned());
                group.next[p] += 1;
                count += 1;
                bytes += value.len();
            }
        }
        group.turn = (group.turn + 1) % partitions.max(1);
        Ok(count)
    }

    /// Settles the delivery of `(partition, offset)` to `owner` in `group`.
    pub fn ack(
        &self,
        group: &str,
        owner: &str,
        partition: u32,
        offset: u64,
    ) -> Result<(), AckRefused> {
        let mut log = lock(&self.log);
        let group = log.groups.get_mut(group).ok_or(AckRefused::NoGroup)?;
        match group.in_flight.get(&(partition, offset)) {
            Some(holder) if holder == owner => {
                group.in_flight.remove(&(partition, offset));
                Ok(())
            }
            _ => Err(AckRefused::NotInFlight),
        }
    }
}

/// Bytes of the ring the group commit overwrites.
const RING_BYTES: usize = 32 << 20;

/// The group commit: writers append their record and wait; one thread writes everything appended since its
/// last round and syncs it once, then makes that round's messages visible (one wake-up per topic, as dq's
/// commit thread does) and answers every writer of the round.
pub struct Committer {
    pending: Mutex<Round>,
    wake: Condvar,
}

#[derive(Default)]
struct Round {
    bytes: Vec<u8>,
    waiters: Vec<Waiter>,
    /// Set while the commit thread waits for work: only then does a writer pay for waking it.
    idle: bool,
}

/// A writer of a round: its answer, and the message it stores once the round is durable (none for an ack).
struct Waiter {
    message: Option<(Arc<Topic>, u32, String, String)>,
    /// The stored message's offset (0 for an ack); `None` when the write or sync failed.
    done: oneshot::Sender<Option<u64>>,
}

impl Committer {
    /// Opens (creates) the file at `path` and starts the commit thread.
    pub fn start(path: &Path) -> anyhow::Result<Arc<Self>> {
        let mut file = File::create(path)?;
        let zeros = vec![0; 1 << 20];
        for _ in 0..RING_BYTES / zeros.len() {
            file.write_all(&zeros)?;
        }
        file.sync_all()?;
        let committer = Arc::new(Self {
            pending: Mutex::new(Round::default()),
            wake: Condvar::new(),
        });
        let worker = committer.clone();
        std::thread::Builder::new()
            .name("floor-commit".to_owned())
            .spawn(move || worker.run(file))?;
        Ok(committer)
    }

    /// Appends `record` to the next round and waits until it is durable; then `message` (topic, partition,
    /// key, value), if any, is stored and visible, and its offset is the answer (0 without one). `None` when
    /// the write or sync failed.
    pub async fn write(
        &self,
        record: &[u8],
        message: Option<(Arc<Topic>, u32, String, String)>,
    ) -> Option<u64> {
        let (done, durable) = oneshot::channel();
        let wake = {
            let mut round = lock(&self.pending);
            round
                .bytes
                .extend_from_slice(&(record.len() as u32).to_le_bytes());
            round.bytes.extend_from_slice(record);
            round.waiters.push(Waiter { message, done });
            std::mem::take(&mut round.idle)
        };
        if wake {
            self.wake.notify_one();
        }
        durable.await.ok().flatten()
    }

    fn run(&self, file: File) {
        let mut round = Round::default();
        let mut at = 0;
        let mut rung: Vec<Arc<Topic>> = Vec::new();
        loop {
            {
                let mut pending = lock(&self.pending);
                while pending.waiters.is_empty() {
                    pending.idle = true;
                    pending = self
                        .wake
                        .wait(pending)
                        .unwrap_or_else(PoisonError::into_inner);
                }
                pending.idle = false;
                std::mem::swap(&mut *pending, &mut round);
            }
            if at + round.bytes.len() > RING_BYTES {
                at = 0;
            }
            let durable = file
                .write_all_at(&round.bytes, at as u64)
                .and_then(|()| file.sync_data())
                .is_ok();
            at += round.bytes.len();
            let mut answers = Vec::with_capacity(round.waiters.len());
            for Waiter { message, done } in round.waiters.drain(..) {
                let offset = match message {
                    Some((topic, partition, key, value)) if durable => {
                        let offset = topic.append(partition, key, value);
                        if !rung.iter().any(|t| Arc::ptr_eq(t, &topic)) {
                            rung.push(topic);
                        }
                        Some(offset)
                    }
                    _ => durable.then_some(0),
                };
                answers.push((done, offset));
            }
            for topic in rung.drain(..) {
                topic.appended.notify_waiters();
            }
            for (done, offset) in answers {
                // A writer that gave up waiting (its connection closed) needs no answer.
                let _ = done.send(offset);
            }
            round.bytes.clear();
        }
    }
}
