//! Batches (a dq extension of DriftQ v1): [`Broker::produce_batch`] stores many messages and
//! [`Broker::ack_batch`] settles many deliveries, each all or none, in one fjall batch with one wait for
//! durability. Checks come first (every message, or every position, before anything is written), so a refused
//! batch leaves no trace. The checks themselves are those of a single produce (`produce`) and ack (`group`);
//! this module only groups the writes.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use dq_proto::broker::Produced;

use crate::broker::Broker;
use crate::commit::Visible;
use crate::produce::{Prepared, idem_batch_ops};
use crate::record::MessageRecord;
use crate::store;
use crate::subscription::touch;
use crate::topic::group;
use crate::topic::{Counters, Partition};
use crate::{Error, Produce};

/// Most messages in one produce batch, or positions in one ack batch: enough to amortise a request and a
/// sync over, small enough that one batch never holds the partitions' head locks for long.
pub const MAX_BATCH: usize = 1000;

/// Many acks of one consumer group's deliveries, leased to one owner.
#[derive(Debug, Clone)]
pub struct AckBatch {
    /// The topic the deliveries were consumed from.
    pub topic: String,
    /// The consumer group they were delivered to.
    pub group: String,
    /// Lease owner named by the request.
    pub owner: String,
    /// (partition, offset) of each delivery; each at most once.
    pub positions: Vec<(u32, u64)>,
}

/// Where a message of a batch goes.
enum Slot {
    /// A new `offset` (assigned under the head locks) in the batch's `partition`-th partition.
    New { partition: usize, offset: u64 },
    /// Nowhere: a copy stored before has its idempotency key.
    Stored(Produced),
    /// Nowhere: the `first`-th message of this batch has its idempotency key.
    Repeat { first: usize },
}

impl Broker {
    /// Stores `messages` in one batch, all or none, in order (messages to one partition get ascending offsets);
    /// returns once every one is durable, with one answer per message in order. A message whose idempotency key
    /// is inside the window (stored before, or earlier in this batch) stores nothing and answers
    /// `duplicate: true` with the first copy's position.
    pub async fn produce_batch(&self, messages: Vec<Produce>) -> Result<Vec<Produced>, Error> {
        let (answers, ticket) = self.produce_batch_sync(messages)?;
        self.shared.wait(ticket).await?;
        Ok(answers)
    }

    /// Everything of a produce batch but the wait for durability (no lock guard may live across that await).
    fn produce_batch_sync(
        &self,
        messages: Vec<Produce>,
    ) -> Result<(Vec<Produced>, Option<u64>), Error> {
        check_size(messages.len())?;
        let shared = &*self.shared;
        let prepared = messages
            .into_iter()
            .enumerate()
            .map(|(index, m)| {
                self.prepare(m).map_err(|e| match e {
                    // About the broker, not the message.
                    Error::ShuttingDown | Error::StorageFailed(_) => e,
                    e => Error::InBatch {
                        index,
                        source: Box::new(e),
                    },
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        let keyed = prepared.iter().any(|m| m.idem_key.is_some());
        let idem_guard = keyed.then(|| shared.idem_lock.lock());
        let expires = self.idem_expiry();

        // Where each message goes; partitions are listed in (topic id, partition) order, the order their head
        // locks are taken in, so that two batches never wait on each other's locks.
        let mut first_copy: HashMap<&[u8], usize> = HashMap::new();
        let mut slots = Vec::with_capacity(prepared.len());
        let mut targets: Vec<(u32, u32)> = Vec::new();
        for (idx, m) in prepared.iter().enumerate() {
            if let Some(produced) = self.stored_copy(m)? {
                slots.push(Slot::Stored(produced));
                continue;
            }
            if let Some(k) = m.idem_key.as_deref() {
                if let Some(&first) = first_copy.get(k) {
                    slots.push(Slot::Repeat { first });
                    continue;
                }
                first_copy.insert(k, idx);
            }
            targets.push((m.topic.id, m.partition));
            slots.push(Slot::New {
                partition: 0,
                offset: 0,
            });
        }
        targets.sort_unstable();
        targets.dedup();
        let mut partitions: Vec<(&Prepared, &Partition)> = Vec::with_capacity(targets.len());
        for &(tid, p) in &targets {
            let Some(m) = prepared
                .iter()
                .find(|m| m.topic.id == tid && m.partition == p)
            else {
                continue;
            };
            let partition = m
                .topic
                .partition(p)
                .ok_or_else(|| Error::InvalidArgument(format!("no partition {p}")))?;
            partitions.push((m, partition));
        }
        let mut adding = vec![0u64; targets.len()];
        for (slot, m) in slots.iter_mut().zip(&prepared) {
            if let Slot::New { partition, .. } = slot {
                *partition = targets
                    .binary_search(&(m.topic.id, m.partition))
                    .unwrap_or_default();
                adding[*partition] += 1;
            }
        }

        // Asked before the head locks are taken, which must not wait for a groups map.
        let wanted: Vec<bool> = partitions
            .iter()
            .map(|(m, _)| m.topic.wants_recent())
            .collect();
        let mut heads: Vec<_> = partitions.iter().map(|(_, p)| p.head.lock()).collect();
        let mut next: Vec<u64> = heads.iter().map(|h| **h).collect();
        for (((m, partition), &head), &adding) in partitions.iter().zip(&next).zip(&adding) {
            // Checked under the head locks, as a single append does: see `Shared::append`.
            if m.topic.is_deleted() {
                return Err(Error::UnknownTopic(m.topic.name.clone()));
            }
            let backlog = head - partition.first().min(head);
            if !m.topic.is_dlq() && backlog + adding > shared.config.max_partition_backlog {
                return Err(shared.reject(
                    "backlog_full",
                    Error::Exhausted {
                        message: format!(
                            "partition {} of topic {} holds {backlog} messages; {adding} more would pass the limit of {}",
                            m.partition, m.topic.name, shared.config.max_partition_backlog
                        ),
                        reason: "backlog_full".into(),
                        retry_after_ms: 1000,
                    },
                ));
            }
        }

        let mut batch = shared.store.batch()?;
        let mut writes = 0;
        let mut keyed: Vec<(&[u8], (u32, u64))> = Vec::new();
        for (slot, m) in slots.iter_mut().zip(&prepared) {
            let Slot::New { partition, offset } = slot else {
                continue;
            };
            *offset = next[*partition];
            next[*partition] += 1;
            writes += 1;
            let offset = *offset;
            batch.insert(
                &shared.store.msgs,
                store::msg_key(m.topic.id, m.partition, offset),
                m.record.encode(),
            );
            if let Some(k) = &m.idem_key {
                keyed.push((k, (m.partition, offset)));
            }
        }
        idem_batch_ops(shared, &mut batch, &keyed, expires);
        let ticket = if writes == 0 {
            // Only duplicates: their first copies may still be on their way to disk.
            shared.config.durable.then(|| shared.committer.barrier())
        } else {
            batch.commit()?;
            keep_recent(&slots, &prepared, (&partitions, &wanted), &heads);
            let mut visible = Vec::with_capacity(heads.len());
            for ((head, &upto), (m, partition)) in heads.iter_mut().zip(&next).zip(&partitions) {
                **head = upto;
                visible.push(Visible {
                    head: Arc::clone(&partition.visible),
                    upto,
                    notify: Arc::clone(&m.topic.notify),
                });
            }
            if shared.config.durable {
                Some(shared.committer.register(visible))
            } else {
                visible.into_iter().for_each(Visible::apply);
                None
            }
        };
        drop(heads);
        drop(idem_guard);

        let mut answers: Vec<Produced> = Vec::with_capacity(prepared.len());
        for (slot, m) in slots.into_iter().zip(&prepared) {
            let answer = match slot {
                Slot::New { offset, .. } => {
                    Counters::bump(&m.topic.counters.produced);
                    Produced {
                        status: "produced".into(),
                        topic: m.topic.name.clone(),
                        partition: m.partition,
                        offset,
                        duplicate: false,
                    }
                }
                Slot::Stored(produced) => produced,
                Slot::Repeat { first } => {
                    shared.duplicates.fetch_add(1, Ordering::Relaxed);
                    // `first` is earlier in the batch, so its answer is made already.
                    let mut answer = answers.get(first).cloned().unwrap_or_else(|| Produced {
                        status: "produced".into(),
                        topic: m.topic.name.clone(),
                        partition: m.partition,
                        offset: 0,
                        duplicate: true,
                    });
                    answer.duplicate = true;
                    answer
                }
            };
            answers.push(answer);
        }
        Ok((answers, ticket))
    }

    /// Acks every delivery `batch` names, all or none; returns once durable. Refused as a whole when one
    /// position is not in flight, leased to another owner, out of range or listed twice.
    pub async fn ack_batch(&self, batch: AckBatch) -> Result<(), Error> {
        check_size(batch.positions.len())?;
        let mut sorted = batch.positions.clone();
        sorted.sort_unstable();
        if let Some(twice) = sorted.windows(2).find(|w| w[0] == w[1]) {
            return Err(Error::InvalidArgument(format!(
                "partition {} offset {} is listed twice",
                twice[0].0, twice[0].1
            )));
        }
        let ticket = {
            let names = (
                batch.topic.as_str(),
                batch.group.as_str(),
                batch.owner.as_str(),
            );
            let (topic, group) =
                self.settle_target(names, batch.positions.iter().map(|&(p, _)| p))?;
            let ticket = group::ack(
                &*self.shared,
                &topic,
                &group,
                &batch.positions,
                &batch.owner,
            )?;
            touch(&group, &self.shared.config.clock);
            ticket
        };
        self.shared.wait(ticket).await
    }
}

/// Keeps the messages just appended for delivery (see `topic::recent`), per partition in offset order from its
/// old head (`heads`, still locked), for the partitions whose topic `wanted` them.
fn keep_recent(
    slots: &[Slot],
    prepared: &[Prepared],
    (partitions, wanted): (&[(&Prepared, &Partition)], &[bool]),
    heads: &[parking_lot::MutexGuard<'_, u64>],
) {
    let mut kept: Vec<Vec<Arc<MessageRecord>>> = vec![Vec::new(); partitions.len()];
    for (slot, m) in slots.iter().zip(prepared) {
        if let Slot::New { partition, .. } = slot
            && wanted.get(*partition).copied().unwrap_or(false)
            && let Some(records) = kept.get_mut(*partition)
        {
            records.push(Arc::new(m.record.clone()));
        }
    }
    for (((m, _), head), records) in partitions.iter().zip(heads).zip(kept) {
        if !records.is_empty() {
            m.topic.keep_recent(m.partition, **head, records);
        }
    }
}

fn check_size(count: usize) -> Result<(), Error> {
    if count == 0 {
        return Err(Error::InvalidArgument(
            "a batch needs at least one item".into(),
        ));
    }
    if count > MAX_BATCH {
        return Err(Error::BatchTooLarge {
            count,
            limit: MAX_BATCH,
        });
    }
    Ok(())
}
