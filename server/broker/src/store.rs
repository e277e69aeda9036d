//! The on-disk layout: fjall keyspaces, key encodings and record encodings.
//!
//! Keyspaces and keys (integers big-endian so that byte order is numeric order and range scans are ordered;
//! `tid` is a topic's u32 id, `p` a u32 partition, `off` a u64 offset, `g` a group name prefixed by its u16
//! length):
//!
//! | keyspace   | key                              | value                                            |
//! |------------|----------------------------------|--------------------------------------------------|
//! | `meta`     | `topic/` name                    | JSON [`TopicRecord`]                             |
//! | `meta`     | `floor/` tid p                   | u64: first offset not deleted by retention       |
//! | `meta`     | `deleted/` tid                   | empty: a deleted topic whose data is not all gone |
//! | `meta`     | `next_topic_id`                  | u32: no topic id below it is ever given again    |
//! | `meta`     | `memtable_limit`                 | u64: fjall's memtable limit the keyspaces were created with |
//! | `msgs`     | tid p off                        | [`MessageRecord`], binary (or JSON, before)      |
//! | `cursors`  | tid g p                          | u64: the group's contiguous low-water mark       |
//! | `acks`     | tid g p off                      | empty: an ack above the low-water mark; or u64 end: acks off..end |
//! | `attempts` | tid g p off                      | JSON [`AttemptsRecord`]: deliveries, last error  |
//! | `attempts` | tid g p                          | u64: first deliveries reached it (`topic::group`) |
//! | `idem`     | tid tenant(u16 len) key          | p off expires_ms                                 |
//! | `idem_exp` | expires_ms tid tenant key        | index for the expiry sweep: empty, or the further keys of its batch |
//!
//! The client strings in these keys are bounded by `validate` (topic 249 bytes, group 255, tenant 255,
//! idempotency key 1,024) before any key is built: fjall panics on a key over 65,535 bytes.
//!
//! This module owns the encodings, the keyspace handles and the write gate: every write batch is taken from
//! [`Store::batch`], and [`Store::close`] shuts the gate, flushes every memtable and then empties the journal,
//! so that a graceful shutdown leaves nothing to replay. fjall writes every file; nothing here writes a file
//! format by hand. A batch whose commit fails records the failure in the store's [`Health`]: fjall is
//! poisoned from then on, so the gate refuses every later batch with that first cause, and a close skips the
//! flush (fjall's flush workers may be gone; the next start replays the journal instead).

use std::ops::{Deref, DerefMut};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use fjall::{Database, Keyspace, KeyspaceCreateOptions, OwnedWriteBatch, PersistMode};
use parking_lot::{RwLock, RwLockReadGuard};
use serde::{Deserialize, Serialize};

use crate::error::StorageFailure;
use crate::health::Health;
pub(crate) use crate::record::MessageRecord;
use crate::rotation::{FJALL_LIMIT_BYTES, Rotation};
use crate::{Error, journal};

/// How often, and how far apart, a clean close reads fjall's unflushed count again (see `unflushed_after_flush`).
const CLOSE_SETTLE_POLLS: u32 = 100;
const CLOSE_SETTLE_POLL: std::time::Duration = std::time::Duration::from_millis(2);

/// fjall's background workers for flushes and compactions: one, which fjall 3.1 can only run safely because the
/// store seals memtables itself ([`crate::rotation`] says why).
const FJALL_WORKERS: usize = 1;

/// Memtable size of the message keyspace, at which [`crate::rotation`] seals it: large enough for write
/// throughput, small enough for the RSS budget (seven keyspaces each hold an active memtable and sealed ones
/// until flushed: halving both sizes took 35 MiB off the peak RSS at 800 runs/s, whose retention writes archive
/// records and tombstones, at the same CPU per run).
const MSGS_MEMTABLE_BYTES: u64 = 8 * 1024 * 1024;
/// Memtable size of the small bookkeeping keyspaces.
const SMALL_MEMTABLE_BYTES: u64 = 2 * 1024 * 1024;
/// The targets in a data dir created before the store sealed memtables itself: fjall still enforces the limits
/// it was created with (the sizes above, or twice them before), so the rotation thread seals at half of them and
/// fjall's writers do not ask for rotations of their own.
const LEGACY_MSGS_TARGET_BYTES: u64 = MSGS_MEMTABLE_BYTES / 2;
const LEGACY_SMALL_TARGET_BYTES: u64 = SMALL_MEMTABLE_BYTES / 2;

/// The keyspace handles.
pub(crate) struct Store {
    pub(crate) db: Database,
    pub(crate) meta: Keyspace,
    pub(crate) msgs: Keyspace,
    pub(crate) cursors: Keyspace,
    pub(crate) acks: Keyspace,
    pub(crate) attempts: Keyspace,
    pub(crate) idem: Keyspace,
    pub(crate) idem_exp: Keyspace,
    dir: PathBuf,
    /// The first write failure; shared with the group-commit thread.
    pub(crate) health: Arc<Health>,
    /// True once closed. Writers hold a read guard from taking a batch until its commit, so that closing waits
    /// for every batch under way and no batch starts after it.
    closed: RwLock<bool>,
    /// The thread that seals full memtables; stopped before a close flushes them.
    pub(crate) rotation: Rotation,
}

/// A write batch taken through the gate: the store cannot close between taking it and committing it. A
/// writer must not take a second batch while it holds one (a close waiting for the gate would block it).
pub(crate) struct Batch<'a> {
    batch: OwnedWriteBatch,
    health: &'a Health,
    _gate: RwLockReadGuard<'a, bool>,
}

impl Batch<'_> {
    /// Commits the batch to fjall (its journal buffer; the group commit makes it durable). Any failure here
    /// poisons fjall (a failed journal write, or one poisoned before), so it is the store's failure.
    pub(crate) fn commit(self) -> Result<(), Error> {
        self.batch
            .commit()
            .map_err(|e| Error::StorageFailed(self.health.fail(&e)))
    }
}

impl Deref for Batch<'_> {
    type Target = OwnedWriteBatch;

    fn deref(&self) -> &OwnedWriteBatch {
        &self.batch
    }
}

impl DerefMut for Batch<'_> {
    fn deref_mut(&mut self) -> &mut OwnedWriteBatch {
        &mut self.batch
    }
}

impl Store {
    /// Opens the store, repairing a torn or corrupt journal tail (see [`journal`]). With `group_commit`, a batch
    /// commit leaves its bytes in fjall's journal buffer: the group-commit thread (`commit`) flushes and syncs
    /// them for every writer at once.
    pub(crate) fn open(dir: &Path, cache_bytes: u64, group_commit: bool) -> Result<Self, Error> {
        std::fs::create_dir_all(dir).map_err(fjall::Error::Io)?;
        let started = std::time::Instant::now();
        let (db, journal_bytes) = journal::open_repairing(dir, |dir| {
            Database::builder(dir)
                .cache_size(cache_bytes)
                .manual_journal_persist(group_commit)
                .worker_threads(FJALL_WORKERS)
                .open()
        })?;
        // What a start-up after a crash costs is mostly this replay: say how long it took and for how much.
        tracing::info!(
            journal_bytes,
            ms = started.elapsed().as_millis(),
            "opened the store (fjall replayed its journals)"
        );
        // fjall's own limit is only a safety net: the rotation thread seals each memtable at its target. fjall
        // keeps the options a keyspace was created with, so a data dir created before this limit keeps its old
        // limits (the targets below them), and is told apart by the missing `memtable_limit` record.
        let fresh = !db.keyspace_exists("meta");
        let limited = || KeyspaceCreateOptions::default().max_memtable_size(FJALL_LIMIT_BYTES);
        let meta = db.keyspace("meta", limited)?;
        let msgs = db.keyspace("msgs", limited)?;
        let cursors = db.keyspace("cursors", limited)?;
        let acks = db.keyspace("acks", limited)?;
        let attempts = db.keyspace("attempts", limited)?;
        let idem = db.keyspace("idem", limited)?;
        let idem_exp = db.keyspace("idem_exp", limited)?;
        if fresh {
            meta.insert(MEMTABLE_LIMIT_KEY, FJALL_LIMIT_BYTES.to_be_bytes())?;
        }
        let (msgs_target, small_target) = if meta.contains_key(MEMTABLE_LIMIT_KEY)? {
            (MSGS_MEMTABLE_BYTES, SMALL_MEMTABLE_BYTES)
        } else {
            (LEGACY_MSGS_TARGET_BYTES, LEGACY_SMALL_TARGET_BYTES)
        };
        let health = Arc::new(Health::new(dir));
        let targets = [
            (&meta, small_target),
            (&msgs, msgs_target),
            (&cursors, small_target),
            (&acks, small_target),
            (&attempts, small_target),
            (&idem, small_target),
            (&idem_exp, small_target),
        ]
        .map(|(keyspace, target)| (keyspace.clone(), target));
        let rotation =
            Rotation::start(targets.into(), Arc::clone(&health)).map_err(fjall::Error::Io)?;
        Ok(Self {
            meta,
            msgs,
            cursors,
            acks,
            attempts,
            idem,
            idem_exp,
            db,
            dir: dir.to_owned(),
            health,
            closed: RwLock::new(false),
            rotation,
        })
    }

    /// A new write batch; [`Error::StorageFailed`] once a write failed, [`Error::ShuttingDown`] once the store
    /// is closed.
    pub(crate) fn batch(&self) -> Result<Batch<'_>, Error> {
        if let Some(failure) = self.health.failure() {
            return Err(Error::StorageFailed(failure));
        }
        let gate = self.closed.read();
        if *gate {
            return Err(Error::ShuttingDown);
        }
        Ok(Batch {
            batch: self.db.batch(),
            health: &self.health,
            _gate: gate,
        })
    }

    /// The failure that stopped the store, if any. Also notices a failure of fjall's background flushes,
    /// which poison it without any write of ours failing: asking fjall to hand its journal buffer to the OS
    /// (harmless for the group commit, whose fsync covers whatever is in the OS) answers `Poisoned` then.
    pub(crate) fn failure(&self) -> Option<StorageFailure> {
        if let Some(failure) = self.health.failure() {
            return Some(failure);
        }
        match self.db.persist(PersistMode::Buffer) {
            Ok(()) => None,
            Err(e) => Some(self.health.fail(&e)),
        }
    }

    /// Closes the store for writes (waiting for the batches under way). With `flush`, also writes every
    /// memtable out to tables and, when nothing is left in memory, empties the active journal: everything in it
    /// is in the tables, and fjall replays a journal entry by entry on open (about 20 ms per MiB here), whatever
    /// it holds. Idempotent; reads keep working. A crash skips this and the journal is replayed as usual.
    pub(crate) fn close(&self, flush: bool) -> Result<(), Error> {
        let mut closed = self.closed.write();
        if *closed {
            return Ok(());
        }
        *closed = true;
        self.rotation.stop();
        if !flush {
            return Ok(());
        }
        if let Some(failure) = self.health.failure() {
            tracing::warn!(%failure, "not flushing a failed store; the next start replays the journal");
            return Ok(());
        }
        if self.health.low_space() {
            tracing::warn!(dir = %self.dir.display(),
                "not flushing: the disk is almost full; the next start replays the journal");
            return Ok(());
        }
        self.flush_memtables()?;
        // The journal buffer holds at most batches that are now in tables; hand it to the OS so that fjall's own
        // close writes nothing after the journal was emptied.
        self.db.persist(PersistMode::SyncData)?;
        let unflushed = self.unflushed_after_flush();
        if unflushed == 0 {
            journal::empty_active(&self.dir).map_err(fjall::Error::Io)?;
        } else {
            tracing::warn!(
                unflushed,
                "memtables still hold data after the flush; keeping the journal"
            );
        }
        Ok(())
    }

    /// How many bytes fjall still counts as unflushed once a flush was waited for.
    ///
    /// fjall's flush worker registers the table, which ends the wait, and only then lowers its count of unflushed
    /// bytes; on a busy machine the count can trail for a moment, so it is read again for a bounded while before
    /// the journal is kept for nothing.
    fn unflushed_after_flush(&self) -> u64 {
        let mut unflushed = self.db.write_buffer_size();
        for _ in 0..CLOSE_SETTLE_POLLS {
            if unflushed == 0 {
                break;
            }
            std::thread::sleep(CLOSE_SETTLE_POLL);
            unflushed = self.db.write_buffer_size();
        }
        unflushed
    }

    /// Writes every keyspace's memtable out to tables and waits for it (fjall deletes a sealed journal once
    /// every keyspace has flushed past it).
    ///
    /// fjall 3 exposes memtable rotation only as a `#[doc(hidden)]` method (it flushes by size on its own); the
    /// workspace pins fjall to `~3.1` for it and for the journal framing, and the broker's recovery tests check
    /// the effect.
    fn flush_memtables(&self) -> Result<(), Error> {
        for keyspace in self.keyspaces() {
            keyspace.rotate_memtable_and_wait()?;
        }
        Ok(())
    }

    fn keyspaces(&self) -> [&Keyspace; 7] {
        [
            &self.meta,
            &self.msgs,
            &self.cursors,
            &self.acks,
            &self.attempts,
            &self.idem,
            &self.idem_exp,
        ]
    }

    /// How many journals fjall has sealed and not yet deleted (each is replayed in full after a crash).
    pub(crate) fn sealed_journals(&self) -> usize {
        self.db.journal_count().saturating_sub(1)
    }

    /// Bounds what a crash leaves to replay to the active journal: once fjall has sealed a journal (it does at
    /// 64 MB), starts a flush of every keyspace that is not flushing already, so that fjall can delete the sealed
    /// journal. fjall itself keeps a sealed journal until *every* keyspace that wrote to it has flushed past it,
    /// and flushes the stragglers only when the journals pass 512 MiB: a keyspace that is written rarely (the
    /// topic list, cursors) would otherwise pin every journal since its last flush, and an open after a crash
    /// replays them all, item by item (about 4 µs an item here, whether or not the item was flushed). Returns
    /// whether it started a flush. Does not wait: fjall's workers flush, and delete the journal after.
    pub(crate) fn bound_journal(&self) -> Result<bool, Error> {
        if self.db.journal_count() <= 1 {
            return Ok(false);
        }
        let closed = self.closed.read();
        if *closed || self.health.failure().is_some() {
            return Ok(false);
        }
        let mut started = false;
        for keyspace in self.keyspaces() {
            // One flush in the queue already takes this keyspace past the sealed journal's writes, unless more
            // came after the journal was sealed; the next pass sees to those.
            if keyspace.sealed_memtable_count() == 0 {
                started |= keyspace.rotate_memtable()?;
            }
        }
        drop(closed);
        if started {
            tracing::debug!(
                journals = self.db.journal_count(),
                "flushing memtables so that sealed journals can go"
            );
        }
        Ok(started)
    }
}

/// A topic's persisted definition.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct TopicRecord {
    pub(crate) id: u32,
    pub(crate) partitions: u32,
    pub(crate) created_at_ms: u64,
}

/// Delivery state of one message for one group, written at each delivery and failure.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct AttemptsRecord {
    #[serde(rename = "a")]
    pub(crate) attempts: u32,
    #[serde(rename = "e", default)]
    pub(crate) last_error: String,
}

/// Encodes a record as JSON.
pub(crate) fn encode<T: Serialize>(value: &T) -> Vec<u8> {
    // Serialising these plain structs to a Vec cannot fail (no maps with non-string keys, no I/O).
    serde_json::to_vec(value).unwrap_or_default()
}

/// Decodes a JSON record; a record that does not decode is corrupt.
pub(crate) fn decode<'a, T: Deserialize<'a>>(bytes: &'a [u8], what: &str) -> Result<T, Error> {
    serde_json::from_slice(bytes).map_err(|e| {
        Error::Storage(fjall::Error::Io(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("corrupt {what} record: {e}"),
        )))
    })
}

pub(crate) const TOPIC_PREFIX: &[u8] = b"topic/";
pub(crate) const FLOOR_PREFIX: &[u8] = b"floor/";
pub(crate) const DELETED_PREFIX: &[u8] = b"deleted/";
/// Written when a topic is deleted: ids of deleted topics must not come back after a restart, since stray
/// keys of a deleted topic (written by a request that raced the deletion) would then belong to a new one.
pub(crate) const NEXT_TOPIC_ID_KEY: &[u8] = b"next_topic_id";
/// Present when the keyspaces were created with fjall's memtable limit at [`FJALL_LIMIT_BYTES`].
const MEMTABLE_LIMIT_KEY: &[u8] = b"memtable_limit";

/// `deleted/ tid`: marks a deleted topic whose keys the sweep still removes.
pub(crate) fn deleted_key(tid: u32) -> Vec<u8> {
    [DELETED_PREFIX, &tid.to_be_bytes()[..]].concat()
}

pub(crate) fn parse_deleted_key(key: &[u8]) -> Option<u32> {
    Some(u32::from_be_bytes(
        key.get(DELETED_PREFIX.len()..)?.try_into().ok()?,
    ))
}

/// `floor/ tid`: the prefix of a topic's retention floors.
pub(crate) fn floor_prefix(tid: u32) -> Vec<u8> {
    [FLOOR_PREFIX, &tid.to_be_bytes()[..]].concat()
}

/// `tid g`: the prefix of a group's cursors, acks and attempts in every partition.
pub(crate) fn group_prefix(tid: u32, group: &str) -> Vec<u8> {
    let mut k = group_key(tid, group, 0);
    k.truncate(k.len() - 4);
    k
}

pub(crate) fn topic_key(name: &str) -> Vec<u8> {
    [TOPIC_PREFIX, name.as_bytes()].concat()
}

pub(crate) fn floor_key(tid: u32, p: u32) -> Vec<u8> {
    let mut k = FLOOR_PREFIX.to_vec();
    k.extend_from_slice(&tid.to_be_bytes());
    k.extend_from_slice(&p.to_be_bytes());
    k
}

/// Parsed `floor/ tid p`.
pub(crate) fn parse_floor_key(key: &[u8]) -> Option<(u32, u32)> {
    let rest = key.get(FLOOR_PREFIX.len()..)?;
    Some((
        u32::from_be_bytes(rest.get(..4)?.try_into().ok()?),
        u32::from_be_bytes(rest.get(4..8)?.try_into().ok()?),
    ))
}

/// `tid p`: the prefix of one partition's messages.
pub(crate) fn partition_prefix(tid: u32, p: u32) -> [u8; 8] {
    let mut k = [0u8; 8];
    k[..4].copy_from_slice(&tid.to_be_bytes());
    k[4..].copy_from_slice(&p.to_be_bytes());
    k
}

pub(crate) fn msg_key(tid: u32, p: u32, off: u64) -> [u8; 16] {
    let mut k = [0u8; 16];
    k[..8].copy_from_slice(&partition_prefix(tid, p));
    k[8..].copy_from_slice(&off.to_be_bytes());
    k
}

/// Decodes the offset of a message key.
pub(crate) fn msg_key_offset(key: &[u8]) -> Option<u64> {
    Some(u64::from_be_bytes(key.get(8..16)?.try_into().ok()?))
}

/// `tid g p`: a group's cursor key, and the prefix of its acks and attempts in one partition.
pub(crate) fn group_key(tid: u32, group: &str, p: u32) -> Vec<u8> {
    let mut k = Vec::with_capacity(10 + group.len() + 8);
    k.extend_from_slice(&tid.to_be_bytes());
    // Group names are validated to at most 255 bytes, so the length fits.
    k.extend_from_slice(&u16::try_from(group.len()).unwrap_or(u16::MAX).to_be_bytes());
    k.extend_from_slice(group.as_bytes());
    k.extend_from_slice(&p.to_be_bytes());
    k
}

/// `tid g p off`: an ack or attempts key.
pub(crate) fn group_offset_key(tid: u32, group: &str, p: u32, off: u64) -> Vec<u8> {
    let mut k = group_key(tid, group, p);
    k.extend_from_slice(&off.to_be_bytes());
    k
}

/// Parsed `tid g p [off]`.
pub(crate) struct GroupKey {
    pub(crate) tid: u32,
    pub(crate) group: String,
    pub(crate) partition: u32,
    pub(crate) offset: Option<u64>,
}

pub(crate) fn parse_group_key(key: &[u8]) -> Option<GroupKey> {
    let tid = u32::from_be_bytes(key.get(..4)?.try_into().ok()?);
    let len = usize::from(u16::from_be_bytes(key.get(4..6)?.try_into().ok()?));
    let group = std::str::from_utf8(key.get(6..6 + len)?).ok()?.to_owned();
    let rest = key.get(6 + len..)?;
    let partition = u32::from_be_bytes(rest.get(..4)?.try_into().ok()?);
    let offset = match rest.len() {
        4 => None,
        12 => Some(u64::from_be_bytes(rest.get(4..12)?.try_into().ok()?)),
        _ => return None,
    };
    Some(GroupKey {
        tid,
        group,
        partition,
        offset,
    })
}

/// `tid tenant key`: an idempotency key.
pub(crate) fn idem_key(tid: u32, tenant: &str, key: &str) -> Vec<u8> {
    let mut k = Vec::with_capacity(6 + tenant.len() + key.len());
    k.extend_from_slice(&tid.to_be_bytes());
    k.extend_from_slice(
        &u16::try_from(tenant.len())
            .unwrap_or(u16::MAX)
            .to_be_bytes(),
    );
    k.extend_from_slice(tenant.as_bytes());
    k.extend_from_slice(key.as_bytes());
    k
}

/// `p off expires_ms`: where the first copy went and when the key stops suppressing duplicates.
pub(crate) fn idem_value(p: u32, off: u64, expires_ms: u64) -> [u8; 20] {
    let mut v = [0u8; 20];
    v[..4].copy_from_slice(&p.to_be_bytes());
    v[4..12].copy_from_slice(&off.to_be_bytes());
    v[12..].copy_from_slice(&expires_ms.to_be_bytes());
    v
}

pub(crate) fn parse_idem_value(v: &[u8]) -> Option<(u32, u64, u64)> {
    Some((
        u32::from_be_bytes(v.get(..4)?.try_into().ok()?),
        u64::from_be_bytes(v.get(4..12)?.try_into().ok()?),
        u64::from_be_bytes(v.get(12..20)?.try_into().ok()?),
    ))
}

pub(crate) fn idem_exp_key(expires_ms: u64, idem_key: &[u8]) -> Vec<u8> {
    [&expires_ms.to_be_bytes()[..], idem_key].concat()
}

/// The value of a produce batch's one `idem_exp` row: the batch's idempotency keys after the one in the row's
/// key, each as a u16 length and its bytes. A row of a single produce (and every row of an older data dir) has
/// an empty value. One row per batch instead of one per key is a third fewer writes per keyed message.
pub(crate) fn idem_exp_value<'k>(further: impl IntoIterator<Item = &'k [u8]>) -> Vec<u8> {
    let mut v = Vec::new();
    for k in further {
        // `validate` bounds an idempotency key (and so `tid tenant key`) far below u16::MAX.
        v.extend_from_slice(&u16::try_from(k.len()).unwrap_or(u16::MAX).to_be_bytes());
        v.extend_from_slice(k);
    }
    v
}

/// Every idempotency key an `idem_exp` row (`key`, `value`) stands for, with their expiry; `None` when the row's
/// key is malformed. A truncated value yields the keys before the damage.
pub(crate) fn idem_exp_keys<'r>(key: &'r [u8], value: &'r [u8]) -> Option<(u64, Vec<&'r [u8]>)> {
    let expires = u64_value(key)?;
    let mut keys = vec![key.get(8..)?];
    let mut rest = value;
    while let Some(len) = rest.get(..2).and_then(|len| len.try_into().ok()) {
        let end = 2 + usize::from(u16::from_be_bytes(len));
        let (Some(k), Some(after)) = (rest.get(2..end), rest.get(end..)) else {
            break;
        };
        keys.push(k);
        rest = after;
    }
    Some((expires, keys))
}

pub(crate) fn u64_value(v: &[u8]) -> Option<u64> {
    Some(u64::from_be_bytes(v.get(..8)?.try_into().ok()?))
}
