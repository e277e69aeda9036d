//! Settling deliveries of a group: the writes that move a partition's marks ([`settle_ops`], mirrored in memory
//! by [`apply_settle`]) and acks, one or a batch at a time ([`ack`]). Nacks, expiries and dead-letters, which
//! settle through the same ops, are in `fail`.

use fjall::OwnedWriteBatch;

use super::{Group, GroupPart, Host, at_limit, checked, partition_index};
use crate::Error;
use crate::store;
use crate::topic::{Counters, Topic};

/// How a settle moves one partition's marks.
#[derive(Default)]
pub(super) struct Settled {
    /// The new low-water mark, when it moves.
    lwm: Option<u64>,
    /// Offsets recorded as acks above the new low-water mark.
    above: Vec<u64>,
}

/// Adds the writes that settle `offsets` (ascending, distinct) of partition `p` to `batch`; [`apply_settle`]
/// mirrors them in memory after the commit. The whole set is settled at once so that every key is written at
/// most once per batch (two writes of one key in one fjall batch would be ambiguous): offsets below the
/// low-water mark (deleted by retention) only lose their attempts, the mark moves over settled offsets, and
/// settled offsets it does not reach are recorded as acks.
pub(super) fn settle_ops(
    inner: &impl Host,
    tid: u32,
    group: &str,
    p: u32,
    gp: &GroupPart,
    offsets: &[u64],
    batch: &mut OwnedWriteBatch,
) -> Settled {
    let ks = &inner.store();
    for &offset in offsets {
        batch.remove(&ks.attempts, store::group_offset_key(tid, group, p, offset));
    }
    let mut lwm = gp.lwm;
    while gp.acked.contains(&lwm) || offsets.binary_search(&lwm).is_ok() {
        lwm += 1;
    }
    for &acked in gp.acked.range(..lwm) {
        batch.remove(&ks.acks, store::group_offset_key(tid, group, p, acked));
    }
    let above: Vec<u64> = offsets.iter().copied().filter(|&o| o >= lwm).collect();
    for &offset in &above {
        batch.insert(
            &ks.acks,
            store::group_offset_key(tid, group, p, offset),
            Vec::new(),
        );
    }
    let moved = lwm != gp.lwm;
    if moved {
        batch.insert(
            &ks.cursors,
            store::group_key(tid, group, p),
            lwm.to_be_bytes().to_vec(),
        );
    }
    Settled {
        lwm: moved.then_some(lwm),
        above,
    }
}

pub(super) fn apply_settle(gp: &mut GroupPart, settled: Settled) {
    if let Some(lwm) = settled.lwm {
        gp.acked = gp.acked.split_off(&lwm);
        gp.lwm = lwm;
        gp.next = gp.next.max(lwm);
    }
    gp.acked.extend(settled.above);
}

/// Acks in-flight messages of one group at `positions` (partition, offset; distinct), all or none: every position is
/// checked before anything is written, then one batch settles them all. Returns the group-commit ticket to wait
/// for.
pub(crate) fn ack(
    inner: &impl Host,
    topic: &Topic,
    group: &Group,
    positions: &[(u32, u64)],
    owner: &str,
) -> Result<Option<u64>, Error> {
    let mut sorted = positions.to_vec();
    sorted.sort_unstable();
    let mut st = group.lock();
    for &(p, offset) in &sorted {
        let gp = st.parts.get(partition_index(p)).ok_or(Error::NotInFlight)?;
        checked(gp, offset, owner)?;
    }
    // Only an ack that frees room under a limit can make a message deliverable; waking every stream of the
    // topic on each ack would cost more than the ack.
    let mut frees_room = false;
    let mut batch = inner.store().batch()?;
    let mut settles = Vec::new();
    for run in sorted.chunk_by(|a, b| a.0 == b.0) {
        let p = run[0].0;
        let gp = st.parts.get(partition_index(p)).ok_or(Error::NotInFlight)?;
        frees_room |= at_limit(inner, gp);
        let offsets: Vec<u64> = run.iter().map(|&(_, offset)| offset).collect();
        let settled = settle_ops(inner, topic.id, &group.name, p, gp, &offsets, &mut batch);
        settles.push((p, offsets, settled));
    }
    batch.commit()?;
    for (p, offsets, settled) in settles {
        let Some(gp) = st.parts.get_mut(partition_index(p)) else {
            continue;
        };
        for offset in offsets {
            if let Some(entry) = gp.in_flight.remove(&offset) {
                inner.timers().cancel(entry.timer);
            }
        }
        apply_settle(gp, settled);
    }
    let ticket = inner.ticket();
    drop(st);
    Counters::add(&topic.counters.acked, sorted.len());
    if frees_room {
        topic.notify.notify_waiters();
    }
    Ok(ticket)
}
