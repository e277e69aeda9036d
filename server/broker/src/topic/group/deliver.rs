//! Delivering: picking the next deliverable messages of a group for one stream, a chunk at a time, and leasing
//! them. A chunk's attempt records go out in one fjall batch (one journal write, one group-commit
//! registration) however many messages it holds; that, not the message count, is what a delivery costs.
//! First deliveries of consecutive offsets are read with one range scan per partition ([`ReadAhead`]), not a
//! point look-up each: once a backlog has been flushed out of the memtable, a look-up per message was the
//! biggest cost of delivering it.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use dq_proto::broker::ConsumeItem;
use tokio::time::Instant;

use super::{Candidate, Group, GroupPart, Host, InFlight, Part, TimerEntry};
use crate::Error;
use crate::store::{self, AttemptsRecord, MessageRecord};
use crate::topic::{Counters, Topic};
use crate::validate::{MAX_DELAY, Policy};

/// How much one [`take`] may deliver: at most `items` messages, and no further message once the values taken
/// reach `bytes` (so that one stream's chunk stays small and the group's other streams get their share).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Limit {
    pub(crate) items: usize,
    pub(crate) bytes: usize,
}

impl Limit {
    /// One message.
    pub(crate) const ONE: Self = Self {
        items: 1,
        bytes: usize::MAX,
    };
}

/// Messages of one partition read by a range scan and not yet delivered, in offset order; what a chunk does
/// not take is dropped with it.
#[derive(Default)]
struct ReadAhead(VecDeque<(u64, MessageRecord)>);

/// A message picked for delivery, not yet leased.
struct Picked {
    idx: usize,
    candidate: Candidate,
    record: MessageRecord,
    policy: Policy,
}

/// The messages deliverable now to a stream of `group` owned by `owner`, leased for `lease`, within `limit`:
/// round-robin over the partitions, one message from each in turn. Empty when nothing is deliverable. An error
/// only when nothing could be delivered; what was picked before an error is delivered, and the message that
/// failed stays due.
pub(crate) fn take(
    host: &impl Host,
    topic: &Arc<Topic>,
    group: &Arc<Group>,
    (owner, lease): (&str, Duration),
    limit: Limit,
) -> Result<Vec<ConsumeItem>, Error> {
    let now = Instant::now();
    let mut st = group.lock();
    let n = st.parts.len();
    // Picked but not yet in flight, per partition: they count against `max_in_flight` already.
    let mut pending = vec![0usize; n];
    let mut ahead: Vec<ReadAhead> = (0..n).map(|_| ReadAhead::default()).collect();
    let mut picked: Vec<Picked> = Vec::new();
    let mut bytes = 0usize;
    let mut failure = None;
    let mut idx = st.rr;
    let mut misses = 0;
    while misses < n && picked.len() < limit.items && bytes < limit.bytes {
        idx %= n;
        let Some(partition) = topic.partitions.get(idx) else {
            break;
        };
        let mut part = Part {
            host,
            topic,
            group,
            p: u32::try_from(idx).unwrap_or(u32::MAX),
            gp: &mut st.parts[idx],
            now,
        };
        // The chunk takes from the partitions in turn: a partition's share of what is left is what to read.
        let want = (limit.items - picked.len()).div_ceil(n);
        let Some(ahead) = ahead.get_mut(idx) else {
            break;
        };
        match part.deliver_next(
            (partition.first(), partition.visible()),
            pending[idx],
            (ahead, want),
        ) {
            Ok(Some((candidate, record, policy))) => {
                bytes = bytes.saturating_add(record.value.len());
                pending[idx] += 1;
                picked.push(Picked {
                    idx,
                    candidate,
                    record,
                    policy,
                });
                misses = 0;
            }
            Ok(None) => misses += 1,
            Err(e) => {
                failure = Some(e);
                break;
            }
        }
        idx += 1;
    }
    if picked.is_empty() {
        return failure.map_or(Ok(Vec::new()), Err);
    }
    st.rr = idx % n;
    // Where each partition's first-delivery mark moves to (first deliveries are picked in offset order).
    let mut marks: Vec<Option<u64>> = vec![None; n];
    for picked in picked.iter().filter(|p| p.candidate.is_first()) {
        let offset = picked.candidate.offset + 1;
        if let Some(mark) = marks.get_mut(picked.idx)
            && offset > st.parts[picked.idx].delivered
        {
            *mark = Some(mark.map_or(offset, |m: u64| m.max(offset)));
        }
    }
    if let Err(e) = record_attempts(host, topic, group, &picked, &marks) {
        for picked in picked {
            picked.candidate.retry_now(&mut st.parts[picked.idx], now);
        }
        return Err(e);
    }
    host.written();
    for (gp, mark) in st.parts.iter_mut().zip(marks) {
        if let Some(mark) = mark {
            gp.delivered = mark;
        }
    }
    let deadline = now.checked_add(lease).unwrap_or(now + MAX_DELAY);
    let mut items = Vec::with_capacity(picked.len());
    for Picked {
        idx,
        candidate: c,
        record,
        policy,
    } in picked
    {
        let p = u32::try_from(idx).unwrap_or(u32::MAX);
        let timer = host.timers().schedule(
            deadline,
            TimerEntry::LeaseExpiry {
                topic: Arc::clone(topic),
                group: Arc::clone(group),
                partition: p,
                offset: c.offset,
            },
        );
        let attempts = c.attempts + 1;
        let recorded = !c.is_first();
        st.parts[idx].in_flight.insert(
            c.offset,
            InFlight {
                owner: owner.to_owned(),
                lease,
                attempts,
                last_error: c.last_error.clone(),
                policy,
                timer,
                recorded,
            },
        );
        items.push(ConsumeItem {
            partition: p,
            offset: c.offset,
            attempts,
            key: record.key,
            value: record.value,
            last_error: c.last_error,
            envelope: record.envelope,
            dlq: record.dlq,
        });
    }
    drop(st);
    Counters::add(&topic.counters.delivered, items.len());
    Ok(items)
}

/// Writes what a restart needs to count these deliveries, in one batch: the attempt count (one more than
/// before) of every picked message delivered before, and for first deliveries the partitions' new `delivered`
/// marks (`marks`, by partition index). Not waited for: a delivery is not an answer that must survive a crash.
fn record_attempts(
    host: &impl Host,
    topic: &Topic,
    group: &Group,
    picked: &[Picked],
    marks: &[Option<u64>],
) -> Result<(), Error> {
    let mut batch = host.store().batch()?;
    for (idx, mark) in marks.iter().enumerate() {
        if let Some(mark) = mark {
            let p = u32::try_from(idx).unwrap_or(u32::MAX);
            batch.insert(
                &host.store().attempts,
                store::group_key(topic.id, &group.name, p),
                mark.to_be_bytes().to_vec(),
            );
        }
    }
    for picked in picked.iter().filter(|p| !p.candidate.is_first()) {
        let c = &picked.candidate;
        let p = u32::try_from(picked.idx).unwrap_or(u32::MAX);
        batch.insert(
            &host.store().attempts,
            store::group_offset_key(topic.id, &group.name, p, c.offset),
            store::encode(&AttemptsRecord {
                attempts: c.attempts + 1,
                last_error: c.last_error.clone(),
            }),
        );
    }
    batch.commit()
}

impl<H: Host> Part<'_, H> {
    /// The next message of this partition to deliver, with its retry policy, given `pending` messages of it
    /// already picked in this chunk; `None` when nothing is deliverable now. Messages deleted by retention are
    /// skipped, and those whose attempts are already spent are dead-lettered on the way. A first delivery is
    /// read through `ahead`, which reads up to `want` consecutive messages at once.
    fn deliver_next(
        &mut self,
        (first, visible): (u64, u64),
        pending: usize,
        (ahead, want): (&mut ReadAhead, usize),
    ) -> Result<Option<(Candidate, MessageRecord, Policy)>, Error> {
        while let Some(c) = self.pick(first, visible, pending) {
            let read = if c.offset + 1 == self.gp.next {
                // A first delivery: the ones after it are next in line.
                self.read_ahead(c.offset, visible, ahead, want)
            } else {
                self.read_message(c.offset)
            };
            let record = match read {
                Ok(Some(record)) => record,
                // Deleted by retention while it waited: nothing left to deliver.
                Ok(None) => continue,
                Err(e) => {
                    c.retry_now(self.gp, self.now);
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
                self.dead_letter_or_park(c);
                continue;
            }
            return Ok(Some((c, record, policy)));
        }
        Ok(None)
    }

    /// The message at `offset`, from `ahead` or, when `ahead` does not hold it, from a range scan of up to
    /// `want` messages from `offset` up to `visible`, which `ahead` keeps for the next calls. `None` once
    /// retention deleted it.
    fn read_ahead(
        &self,
        offset: u64,
        visible: u64,
        ahead: &mut ReadAhead,
        want: usize,
    ) -> Result<Option<MessageRecord>, Error> {
        while ahead.0.front().is_some_and(|(o, _)| *o < offset) {
            ahead.0.pop_front();
        }
        if ahead.0.is_empty()
            && let Some(partition) = self.topic.partition(self.p)
        {
            // The newest messages are still in memory (`topic::recent`): no read, no decode.
            let kept = partition.recent.get(offset, want.max(1));
            ahead.0.extend(
                kept.into_iter()
                    .filter(|(at, _)| *at < visible)
                    .map(|(at, record)| (at, MessageRecord::clone(&record))),
            );
        }
        if ahead.0.is_empty() {
            let (tid, p) = (self.topic.id, self.p);
            let range = store::msg_key(tid, p, offset)..store::msg_key(tid, p, visible);
            for kv in self.host.store().msgs.range(range).take(want.max(1)) {
                let (key, value) = kv.into_inner()?;
                let at = store::msg_key_offset(&key).unwrap_or_default();
                ahead.0.push_back((at, MessageRecord::decode(&value)?));
            }
        }
        match ahead.0.front() {
            Some((o, _)) if *o == offset => Ok(ahead.0.pop_front().map(|(_, record)| record)),
            // Not stored: deleted by retention (the scan found the next one, or none).
            _ => Ok(None),
        }
    }

    /// The next candidate: a due retry first, else the next first delivery within the limits (counting
    /// `pending` picks not yet in flight).
    fn pick(&mut self, first: u64, visible: u64, pending: usize) -> Option<Candidate> {
        let config = self.host.config();
        let gp: &mut GroupPart = self.gp;
        gp.normalize(first);
        if let Some(offset) = gp
            .retry
            .iter()
            .find(|(_, r)| r.ready_at <= self.now)
            .map(|(o, _)| *o)
        {
            let r = gp.retry.remove(&offset)?;
            return Some(Candidate {
                offset,
                attempts: r.attempts,
                last_error: r.last_error,
            });
        }
        let outstanding = gp.in_flight.len() + gp.retry.len() + pending;
        if outstanding >= usize::try_from(config.max_in_flight).unwrap_or(usize::MAX) {
            return None;
        }
        while gp.next < visible {
            let offset = gp.next;
            if gp.acked.contains(&offset) {
                gp.next += 1;
                continue;
            }
            if offset - gp.lwm >= config.max_ack_window {
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
}

#[cfg(test)]
mod tests {
    use crate::{Broker, Config, Produce};

    /// First deliveries write no attempts record per message (so their acks have none to delete): one mark
    /// per partition stands for a chunk's first deliveries.
    #[tokio::test]
    async fn first_deliveries_leave_one_mark_per_partition_and_no_record_per_message() {
        let dir = tempfile::TempDir::new().unwrap();
        let broker = Broker::open(Config {
            durable: false,
            ..Config::new(dir.path())
        })
        .unwrap();
        broker.create_topic("t", Some(2)).await.unwrap();
        for i in 0..6 {
            let produce = Produce {
                topic: "t".into(),
                key: Some(format!("k{i}")),
                value: "v".into(),
                envelope: None,
            };
            broker.produce(produce).await.unwrap();
        }
        let mut sub = broker.subscribe("t", "g", "w", None).unwrap();
        assert_eq!(sub.try_next_chunk(32, usize::MAX).len(), 6);
        let attempts = &broker.shared.store.attempts;
        let keys: Vec<usize> = attempts.iter().map(|kv| kv.key().unwrap().len()).collect();
        let mark_len = crate::store::group_key(0, "g", 0).len();
        assert!(
            keys.iter().all(|&len| len == mark_len),
            "only marks, no per-offset records: {keys:?}"
        );
        assert!(!keys.is_empty() && keys.len() <= 2, "{keys:?}");
        broker.shutdown();
    }
}
