//! Consumer groups: delivery, leases, ack / nack, retries, dead-lettering and the committed low-water mark.
//!
//! Per (topic, group, partition) a [`GroupPart`] keeps:
//! - `lwm`: the contiguous low-water mark — every offset below it is settled (acked, dead-lettered or deleted by
//!   retention). It is what `cursors` persists; nothing at or above it is ever skipped, before or after a restart.
//! - `acked`: acks above `lwm` (persisted in `acks` until `lwm` passes them, one key per run of consecutive
//!   offsets: `ack_runs`).
//! - `next`: the next offset never delivered to this group; first deliveries go out in offset order.
//! - `in_flight` (leased to an owner until a deadline) and `retry` (failed, waiting for redelivery, possibly
//!   after a backoff). Together they are bounded by `max_in_flight`, and `next − lwm` by `max_ack_window`, so
//!   memory stays bounded whatever the backlog.
//! - `prior`: delivery state recovered from `attempts` for offsets not yet redelivered since the restart.
//! - `delivered`: the persisted first-delivery mark. A first delivery writes no attempts record of its own:
//!   the chunk moves this mark (one key per partition, `attempts` at `tid g p`) past it instead, and a restart
//!   counts every unsettled offset under the mark without a record as delivered once. Redeliveries and failures
//!   write their record as before. This spares the common path (delivered once, acked) a write and a delete
//!   per message, and the flushes and compactions of both.
//!
//! Invariants: in-memory state changes only after the fjall batch that records it committed; the group lock is
//! never held across an `.await`; lock order is group → partition head → timers, and group → topic map; a
//! topic's groups map is taken before a group (joining a stream, forgetting an idle group).
//!
//! What acts on one partition of a group goes through a [`Part`]: the partition under the group's lock with the
//! broker, topic and group it belongs to. Delivering (a chunk of messages at a time, with one write for their
//! attempts) is in `deliver`; settling (moving the marks, acks one by one or in batches) is in `settle`; failing
//! a delivery (nack, an expired lease) into a retry, a parked wait or the DLQ is in `fail`.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use fjall::OwnedWriteBatch;
use parking_lot::Mutex;
use tokio::time::Instant;

use crate::store::{self, MessageRecord, Store};
use crate::timers::{TimerKey, Timers};
use crate::topic::{Counters, Topic};
use crate::validate::Policy;
use crate::{Config, Error};

mod deliver;
mod fail;
mod settle;
pub(crate) use deliver::{Limit, take};
pub(crate) use fail::{expire, nack};
pub(crate) use settle::ack;

/// What the consumer-group logic needs from the broker that holds it: the store, the deadline set and the
/// limits, the group commit, and a topic to write a dead letter to. The broker's shared state (`state::Shared`)
/// is the one implementation; naming it here instead would make the two modules use each other.
pub(crate) trait Host {
    fn store(&self) -> &Store;
    fn timers(&self) -> &Timers<TimerEntry>;
    fn config(&self) -> &Config;
    /// A group-commit ticket for a batch just committed that the caller will wait for (`None` without fsync).
    fn ticket(&self) -> Option<u64>;
    /// Registers a batch just committed that nobody waits for.
    fn written(&self);
    /// The topic, created if needed whatever the topic limits (dead letters must never be refused).
    fn ensure_topic_uncapped(&self, name: &str, partitions: u32) -> Result<Arc<Topic>, Error>;
    /// Appends `record` to partition `p` of `topic` in one batch with `extra`'s writes (given the new offset):
    /// the offset and the group-commit ticket.
    fn append(
        &self,
        topic: &Topic,
        p: u32,
        record: &MessageRecord,
        check_backlog: bool,
        extra: impl FnOnce(&mut OwnedWriteBatch, u64),
    ) -> Result<(u64, Option<u64>), Error>;
}

/// What happens at a deadline.
pub(crate) enum TimerEntry {
    /// A lease ends: the message is failed with `ack_timeout` unless it was settled (then the entry is gone).
    LeaseExpiry {
        topic: Arc<Topic>,
        group: Arc<Group>,
        partition: u32,
        offset: u64,
    },
    /// A backoff ends: wake the topic's streams so that they pick the message up.
    RetryReady { notify: Arc<tokio::sync::Notify> },
}

/// Reason recorded when a lease runs out.
pub(crate) const ACK_TIMEOUT: &str = "ack_timeout";
/// Longest `last_error` kept; older reasons are cut from the front.
const MAX_LAST_ERROR: usize = 4096;
/// Wait before retrying a dead-letter write that failed.
const DLQ_RETRY: Duration = Duration::from_secs(1);
/// Longest first step of the ack-timeout backoff (see `fail::expiry_backoff`).
const EXPIRY_BACKOFF_BASE: Duration = Duration::from_secs(1);
/// Longest ack-timeout backoff (see `fail::expiry_backoff`).
const EXPIRY_BACKOFF_CAP: Duration = Duration::from_secs(30);

/// Delivery state recovered after a restart.
pub(crate) struct Prior {
    pub(crate) attempts: u32,
    pub(crate) last_error: String,
}

struct InFlight {
    owner: String,
    /// The stream's lease, the unit of the ack-timeout backoff.
    lease: Duration,
    attempts: u32,
    last_error: String,
    policy: Policy,
    timer: TimerKey,
    /// Whether this delivery wrote an attempts record (a settle deletes it); a first delivery is covered by
    /// the partition's `delivered` mark instead.
    recorded: bool,
}

struct Retry {
    ready_at: Instant,
    attempts: u32,
    last_error: String,
}

/// One partition of one group.
pub(crate) struct GroupPart {
    pub(crate) lwm: u64,
    next: u64,
    pub(crate) acked: BTreeSet<u64>,
    /// The `acks` keys of `acked`: runs of consecutive offsets, start → end (exclusive).
    pub(crate) ack_runs: BTreeMap<u64, u64>,
    pub(crate) prior: BTreeMap<u64, Prior>,
    /// First deliveries reached this offset (as persisted): see the module doc.
    pub(crate) delivered: u64,
    in_flight: BTreeMap<u64, InFlight>,
    retry: BTreeMap<u64, Retry>,
}

impl GroupPart {
    pub(crate) fn new(lwm: u64) -> Self {
        Self {
            lwm,
            next: lwm,
            acked: BTreeSet::new(),
            ack_runs: BTreeMap::new(),
            prior: BTreeMap::new(),
            delivered: lwm,
            in_flight: BTreeMap::new(),
            retry: BTreeMap::new(),
        }
    }

    /// Moves the marks past offsets that retention deleted.
    fn normalize(&mut self, first: u64) {
        if self.lwm < first {
            self.lwm = first;
            self.acked = self.acked.split_off(&first);
            self.ack_runs.retain(|_, end| *end > first);
            self.prior = self.prior.split_off(&first);
        }
        self.next = self.next.max(self.lwm);
    }

    pub(crate) fn in_flight(&self) -> usize {
        self.in_flight.len()
    }
}

/// The mutable state of a group.
pub(crate) struct GroupState {
    /// Live subscriptions; a group without any receives nothing.
    pub(crate) streams: usize,
    /// Where the next delivery search starts, for fairness across partitions.
    rr: usize,
    pub(crate) parts: Vec<GroupPart>,
}

/// A consumer group of one topic.
pub(crate) struct Group {
    pub(crate) name: String,
    pub(crate) state: Mutex<GroupState>,
    /// Unix ms of the last join, leave, ack or nack: the idle-group sweep forgets a group idle for long.
    pub(crate) last_active_ms: std::sync::atomic::AtomicU64,
}

impl Group {
    pub(crate) fn new(name: String, parts: Vec<GroupPart>, now_ms: u64) -> Self {
        Self {
            name,
            state: Mutex::new(GroupState {
                streams: 0,
                rr: 0,
                parts,
            }),
            last_active_ms: std::sync::atomic::AtomicU64::new(now_ms),
        }
    }

    fn lock(&self) -> parking_lot::MutexGuard<'_, GroupState> {
        self.state.lock()
    }
}

struct Candidate {
    offset: u64,
    attempts: u32,
    last_error: String,
}

impl Candidate {
    /// Never delivered before (not even before a restart): the `delivered` mark covers its delivery.
    fn is_first(&self) -> bool {
        self.attempts == 0 && self.last_error.is_empty()
    }

    /// Puts it back as due now, when its delivery failed before it was leased: an unsettled message is kept
    /// for the next attempt, never skipped.
    fn retry_now(self, gp: &mut GroupPart, now: Instant) {
        gp.retry.insert(
            self.offset,
            Retry {
                ready_at: now,
                attempts: self.attempts,
                last_error: self.last_error,
            },
        );
    }
}

/// One partition of a group under the group's lock, with what acting on it needs: the broker, the topic and
/// the group it belongs to, its number, and the instant the operation started (due retries and backoffs are
/// measured from it). Delivering, failing, parking, dead-lettering and settling are its methods.
struct Part<'a, H> {
    host: &'a H,
    topic: &'a Arc<Topic>,
    group: &'a Arc<Group>,
    p: u32,
    gp: &'a mut GroupPart,
    now: Instant,
}

impl<H: Host> Part<'_, H> {
    /// The stored message at `offset` of this partition; `None` once retention deleted it.
    fn read_message(&self, offset: u64) -> Result<Option<MessageRecord>, Error> {
        match self
            .host
            .store()
            .msgs
            .get(store::msg_key(self.topic.id, self.p, offset))?
        {
            Some(bytes) => MessageRecord::decode(&bytes).map(Some),
            None => Ok(None),
        }
    }

    /// The key of this partition's `offset` in the group's keyspaces (`attempts`, `acks`).
    fn offset_key(&self, offset: u64) -> Vec<u8> {
        store::group_offset_key(self.topic.id, &self.group.name, self.p, offset)
    }
}

/// `prev; reason`, keeping the newest [`MAX_LAST_ERROR`] bytes.
pub(crate) fn append_error(prev: &str, reason: &str) -> String {
    let mut joined = if prev.is_empty() {
        reason.to_owned()
    } else {
        format!("{prev}; {reason}")
    };
    if joined.len() > MAX_LAST_ERROR {
        let mut cut = joined.len() - MAX_LAST_ERROR;
        while !joined.is_char_boundary(cut) {
            cut += 1;
        }
        joined.replace_range(..cut, "");
    }
    joined
}

fn partition_index(p: u32) -> usize {
    usize::try_from(p).unwrap_or(usize::MAX)
}

/// Whether [`pick`] refuses first deliveries of this partition for one of the limits a settle can lift.
fn at_limit(inner: &impl Host, gp: &GroupPart) -> bool {
    let outstanding = gp.in_flight.len() + gp.retry.len();
    outstanding >= usize::try_from(inner.config().max_in_flight).unwrap_or(usize::MAX)
        // `pick` first skips offsets already acked past `next`: count them in, to never miss a wake-up.
        || (gp.next + gp.acked.len() as u64).saturating_sub(gp.lwm) >= inner.config().max_ack_window
}

/// Looks up an in-flight message for a settle request.
fn checked<'a>(gp: &'a GroupPart, offset: u64, owner: &str) -> Result<&'a InFlight, Error> {
    let entry = gp.in_flight.get(&offset).ok_or(Error::NotInFlight)?;
    if entry.owner != owner {
        return Err(Error::NotOwner);
    }
    Ok(entry)
}
