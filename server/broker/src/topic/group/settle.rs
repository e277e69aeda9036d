//! Settling deliveries of a group: the writes that move a partition's marks ([`Part::settle_ops`], mirrored in
//! memory by [`Part::apply_settle`]) and acks, one or a batch at a time ([`ack`]). Nacks, expiries and dead-letters, which
//! settle through the same ops, are in `fail`.

use std::sync::Arc;

use fjall::OwnedWriteBatch;
use tokio::time::Instant;

use super::{Group, Host, Part, at_limit, checked, partition_index};
use crate::Error;
use crate::store;
use crate::topic::{Counters, Topic};

/// How a settle moves one partition's marks.
pub(super) struct Settled {
    /// The new low-water mark, when it moves.
    lwm: Option<u64>,
    /// Offsets recorded as acks above the new low-water mark.
    above: Vec<u64>,
    /// The same as runs of consecutive offsets (start → end), one `acks` key each.
    runs: Vec<(u64, u64)>,
}

impl<H: Host> Part<'_, H> {
    /// Adds the writes that settle `offsets` (ascending, distinct) of this partition to `batch`;
    /// [`Part::apply_settle`] mirrors them in memory after the commit. The whole set is settled at once so that
    /// every key is written at most once per batch (two writes of one key in one fjall batch would be
    /// ambiguous): offsets below the low-water mark (deleted by retention) only lose their attempts, the mark
    /// moves over settled offsets, and settled offsets it does not reach are recorded as acks: one key per run
    /// of consecutive offsets (`tid g p start`, valued with the run's end, or empty for one offset as written
    /// before runs), since a batch ack that arrives ahead of an earlier one is mostly one such run.
    pub(super) fn settle_ops(&self, offsets: &[u64], batch: &mut OwnedWriteBatch) -> Settled {
        let ks = self.host.store();
        let gp = &*self.gp;
        for &offset in offsets {
            // A first delivery wrote no attempts record (the `delivered` mark covers it): nothing to delete.
            if gp.in_flight.get(&offset).is_none_or(|entry| entry.recorded) {
                batch.remove(&ks.attempts, self.offset_key(offset));
            }
        }
        let mut lwm = gp.lwm;
        while gp.acked.contains(&lwm) || offsets.binary_search(&lwm).is_ok() {
            lwm += 1;
        }
        // A run is acked throughout, so the mark passes a run whole or not at all.
        for (&start, _) in gp.ack_runs.range(..lwm).filter(|(_, end)| **end <= lwm) {
            batch.remove(&ks.acks, self.offset_key(start));
        }
        let above: Vec<u64> = offsets.iter().copied().filter(|&o| o >= lwm).collect();
        let runs: Vec<(u64, u64)> = above
            .chunk_by(|a, b| a + 1 == *b)
            .filter_map(|run| Some((*run.first()?, *run.last()? + 1)))
            .collect();
        for &(start, end) in &runs {
            let value = if end - start == 1 {
                Vec::new()
            } else {
                end.to_be_bytes().to_vec()
            };
            batch.insert(&ks.acks, self.offset_key(start), value);
        }
        let moved = lwm != gp.lwm;
        if moved {
            batch.insert(
                &ks.cursors,
                store::group_key(self.topic.id, &self.group.name, self.p),
                lwm.to_be_bytes().to_vec(),
            );
        }
        Settled {
            lwm: moved.then_some(lwm),
            above,
            runs,
        }
    }

    /// Mirrors in memory what [`Part::settle_ops`] wrote, once its batch committed.
    pub(super) fn apply_settle(&mut self, settled: Settled) {
        let gp = &mut *self.gp;
        if let Some(lwm) = settled.lwm {
            gp.acked = gp.acked.split_off(&lwm);
            gp.ack_runs.retain(|_, end| *end > lwm);
            gp.lwm = lwm;
            gp.next = gp.next.max(lwm);
        }
        gp.acked.extend(settled.above);
        gp.ack_runs.extend(settled.runs);
    }
}

/// Acks in-flight messages of one group at `positions` (partition, offset; distinct), all or none: every position is
/// checked before anything is written, then one batch settles them all. Returns the group-commit ticket to wait
/// for.
pub(crate) fn ack(
    host: &impl Host,
    topic: &Arc<Topic>,
    group: &Arc<Group>,
    positions: &[(u32, u64)],
    owner: &str,
) -> Result<Option<u64>, Error> {
    let now = Instant::now();
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
    let mut batch = host.store().batch()?;
    let mut settles = Vec::new();
    for run in sorted.chunk_by(|a, b| a.0 == b.0) {
        let p = run[0].0;
        let gp = st
            .parts
            .get_mut(partition_index(p))
            .ok_or(Error::NotInFlight)?;
        frees_room |= at_limit(host, gp);
        let offsets: Vec<u64> = run.iter().map(|&(_, offset)| offset).collect();
        let part = Part {
            host,
            topic,
            group,
            p,
            gp,
            now,
        };
        let settled = part.settle_ops(&offsets, &mut batch);
        settles.push((p, offsets, settled));
    }
    batch.commit()?;
    for (p, offsets, settled) in settles {
        let Some(gp) = st.parts.get_mut(partition_index(p)) else {
            continue;
        };
        for offset in offsets {
            if let Some(entry) = gp.in_flight.remove(&offset) {
                host.timers().cancel(entry.timer);
            }
        }
        let mut part = Part {
            host,
            topic,
            group,
            p,
            gp,
            now,
        };
        part.apply_settle(settled);
    }
    let ticket = host.ticket();
    drop(st);
    Counters::add(&topic.counters.acked, sorted.len());
    if frees_room {
        topic.notify.notify_waiters();
    }
    Ok(ticket)
}

#[cfg(test)]
mod tests {
    use crate::{AckBatch, Broker, Config, Produce};

    /// A batch ack ahead of the low-water mark writes one `acks` key per run of consecutive offsets, not one
    /// per offset, and they go once the mark passes them.
    #[tokio::test]
    async fn acks_ahead_of_the_mark_are_stored_as_runs() {
        let dir = tempfile::TempDir::new().unwrap();
        let broker = Broker::open(Config {
            durable: false,
            ..Config::new(dir.path())
        })
        .unwrap();
        broker.create_topic("t", None).await.unwrap();
        for _ in 0..8 {
            let produce = Produce {
                topic: "t".into(),
                value: "v".into(),
                ..Produce::default()
            };
            broker.produce(produce).await.unwrap();
        }
        let mut sub = broker.subscribe("t", "g", "w", None).unwrap();
        assert_eq!(sub.try_next_chunk(32, usize::MAX).len(), 8);
        let ack = |offsets: &[u64]| AckBatch {
            topic: "t".into(),
            group: "g".into(),
            owner: "w".into(),
            positions: offsets.iter().map(|&o| (0, o)).collect(),
        };
        let keys = || broker.shared.store.acks.iter().count();
        broker.ack_batch(ack(&[2, 3, 4, 5, 7])).await.unwrap();
        assert_eq!(keys(), 2, "runs 2..6 and 7..8");
        broker.ack_batch(ack(&[0, 1])).await.unwrap();
        assert_eq!(keys(), 1, "the mark passed 2..6; 7..8 is still ahead of it");
        broker.ack_batch(ack(&[6])).await.unwrap();
        assert_eq!(keys(), 0);
        broker.shutdown();
    }
}
