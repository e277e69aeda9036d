//! Consumer groups: delivery, leases, ack / nack, retries, dead-lettering and the committed low-water mark.
//!
//! Per (topic, group, partition) a [`GroupPart`] keeps:
//! - `lwm`: the contiguous low-water mark — every offset below it is settled (acked, dead-lettered or deleted by
//!   retention). It is what `cursors` persists; nothing at or above it is ever skipped, before or after a restart.
//! - `acked`: acks above `lwm` (persisted in `acks` until `lwm` passes them).
//! - `next`: the next offset never delivered to this group; first deliveries go out in offset order.
//! - `in_flight` (leased to an owner until a deadline) and `retry` (failed, waiting for redelivery, possibly
//!   after a backoff). Together they are bounded by `max_in_flight`, and `next − lwm` by `max_ack_window`, so
//!   memory stays bounded whatever the backlog.
//! - `prior`: delivery state recovered from `attempts` for offsets not yet redelivered since the restart.
//!
//! Invariants: in-memory state changes only after the fjall batch that records it committed; the group lock is
//! never held across an `.await`; lock order is group → partition head → timers, and group → topic map; a
//! topic's groups map is taken before a group (joining a stream, forgetting an idle group).
//!
//! Settling (moving the marks, acks one by one or in batches) is in `settle`; failing a delivery (nack, an
//! expired lease) into a retry, a parked wait or the DLQ is in `fail`.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use dq_proto::broker::{ConsumeItem, DlqInfo};
use fjall::OwnedWriteBatch;
use parking_lot::Mutex;
use tokio::time::Instant;

use crate::store::{self, AttemptsRecord, MessageRecord, Store};
use crate::timers::{TimerKey, Timers};
use crate::topic::{Counters, Topic};
use crate::validate::{MAX_DELAY, Policy};
use crate::{Config, Error};

mod fail;
mod settle;
use fail::dead_letter_or_park;
pub(crate) use fail::{expire, nack};
pub(crate) use settle::ack;
use settle::{Settled, apply_settle, settle_ops};

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
    pub(crate) prior: BTreeMap<u64, Prior>,
    in_flight: BTreeMap<u64, InFlight>,
    retry: BTreeMap<u64, Retry>,
}

impl GroupPart {
    pub(crate) fn new(lwm: u64) -> Self {
        Self {
            lwm,
            next: lwm,
            acked: BTreeSet::new(),
            prior: BTreeMap::new(),
            in_flight: BTreeMap::new(),
            retry: BTreeMap::new(),
        }
    }

    /// Moves the marks past offsets that retention deleted.
    fn normalize(&mut self, first: u64) {
        if self.lwm < first {
            self.lwm = first;
            self.acked = self.acked.split_off(&first);
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

/// The next message for a stream of `group` owned by `owner`, leased for `lease`; `None` when nothing is
/// deliverable now.
pub(crate) fn take(
    inner: &impl Host,
    topic: &Arc<Topic>,
    group: &Arc<Group>,
    owner: &str,
    lease: Duration,
) -> Result<Option<ConsumeItem>, Error> {
    let now = Instant::now();
    let mut st = group.lock();
    let n = st.parts.len();
    for i in 0..n {
        let idx = (st.rr + i) % n;
        let p = u32::try_from(idx).unwrap_or(u32::MAX);
        let Some(partition) = topic.partitions.get(idx) else {
            continue;
        };
        let gp = &mut st.parts[idx];
        while let Some(c) = pick(inner, gp, partition.first(), partition.visible(), now) {
            let record = match read_message(inner, topic.id, p, c.offset) {
                Ok(Some(record)) => record,
                // Deleted by retention while it waited: nothing left to deliver.
                Ok(None) => continue,
                Err(e) => {
                    c.retry_now(gp, now);
                    return Err(e);
                }
            };
            let policy = Policy::parse(
                record
                    .envelope
                    .as_ref()
                    .and_then(|e| e.retry_policy.as_ref()),
            )
            .unwrap_or_default();
            if policy.exhausted(c.attempts) {
                // Failures already reached the limit: recovered after a restart, or an earlier dead-letter write
                // failed. Dead-letter now instead of delivering once more.
                dead_letter_or_park(inner, topic, &group.name, gp, p, c, now);
                continue;
            }
            let attempts = c.attempts + 1;
            let record_attempts = AttemptsRecord {
                attempts,
                last_error: c.last_error.clone(),
            };
            let committed = inner.store().batch().and_then(|mut batch| {
                batch.insert(
                    &inner.store().attempts,
                    store::group_offset_key(topic.id, &group.name, p, c.offset),
                    store::encode(&record_attempts),
                );
                batch.commit()
            });
            if let Err(e) = committed {
                c.retry_now(gp, now);
                return Err(e);
            }
            inner.written();
            let deadline = now.checked_add(lease).unwrap_or(now + MAX_DELAY);
            let timer = inner.timers().schedule(
                deadline,
                TimerEntry::LeaseExpiry {
                    topic: Arc::clone(topic),
                    group: Arc::clone(group),
                    partition: p,
                    offset: c.offset,
                },
            );
            gp.in_flight.insert(
                c.offset,
                InFlight {
                    owner: owner.to_owned(),
                    lease,
                    attempts,
                    last_error: c.last_error.clone(),
                    policy,
                    timer,
                },
            );
            st.rr = (idx + 1) % n;
            Counters::bump(&topic.counters.delivered);
            return Ok(Some(ConsumeItem {
                partition: p,
                offset: c.offset,
                attempts,
                key: record.key,
                value: record.value,
                last_error: c.last_error,
                envelope: record.envelope,
                dlq: record.dlq,
            }));
        }
    }
    Ok(None)
}

fn read_message(
    inner: &impl Host,
    tid: u32,
    p: u32,
    offset: u64,
) -> Result<Option<MessageRecord>, Error> {
    match inner.store().msgs.get(store::msg_key(tid, p, offset))? {
        Some(bytes) => store::decode(&bytes, "message").map(Some),
        None => Ok(None),
    }
}

/// The next candidate of one partition: a due retry first, else the next first delivery within the limits.
fn pick(
    inner: &impl Host,
    gp: &mut GroupPart,
    first: u64,
    visible: u64,
    now: Instant,
) -> Option<Candidate> {
    gp.normalize(first);
    if let Some(offset) = gp
        .retry
        .iter()
        .find(|(_, r)| r.ready_at <= now)
        .map(|(o, _)| *o)
    {
        let r = gp.retry.remove(&offset)?;
        return Some(Candidate {
            offset,
            attempts: r.attempts,
            last_error: r.last_error,
        });
    }
    let outstanding = gp.in_flight.len() + gp.retry.len();
    if outstanding >= usize::try_from(inner.config().max_in_flight).unwrap_or(usize::MAX) {
        return None;
    }
    while gp.next < visible {
        let offset = gp.next;
        if gp.acked.contains(&offset) {
            gp.next += 1;
            continue;
        }
        if offset - gp.lwm >= inner.config().max_ack_window {
            return None;
        }
        gp.next += 1;
        let prior = gp.prior.remove(&offset);
        return Some(match prior {
            Some(prior) => Candidate {
                offset,
                attempts: prior.attempts,
                last_error: prior.last_error,
            },
            None => Candidate {
                offset,
                attempts: 0,
                last_error: String::new(),
            },
        });
    }
    None
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
