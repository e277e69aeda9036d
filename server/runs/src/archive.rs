//! The runs archive: where a finished run's timeline goes when retention deletes its topic, and how it comes
//! back. [`crate::retention`] decides when a run is archived; this module owns the record, the reads that
//! serve an archived run's timeline, and the restore that gives a run its topic back before anyone writes to
//! it again.
//!
//! Invariants:
//! - An archived run's timeline is one record of `runs.archive` holding every message of its topic with its
//!   offset, so `seq`s, `Last-Event-ID`s, the status fold and the DLQ answers stay what they were. The order of
//!   writes makes every step crash-safe: the archive record, then an `archived` record in `runs.index`
//!   naming its offset, both durable, and only then is the topic deleted. A crash in between leaves the topic
//!   and the archive both, and the archive is what is read.
//! - Nobody writes to an archived run's topic: a writer of this process ([`Archive::writable`]: a replay, a
//!   user's event) restores the topic first (the archived messages produced again at their offsets, then a
//!   `restored` record in `runs.index`), and holds its run's gate ([`gate`]), which retention takes
//!   exclusively for the runs of a pass, while it writes.
//!   A worker never writes to a finished run, except a chain superseded long ago whose step outlived the
//!   grace period: what it writes lands in a fresh topic that nobody reads (it was ignored anyway).
//! - Each `archived` / `restored` record carries a generation one above the last, applied only if newer, so
//!   a catch-up re-reading older records never undoes a newer state.

mod gate;

use std::sync::Arc;

use dq_proto::runs::{ReadItem, events_topic};
use parking_lot::Mutex;
use serde::{Deserialize, Serialize};

use crate::emitter::{Emitter, now_ms};
use crate::queue::{Outgoing, Queue};
use crate::registry::{IndexRecord, Registry};
use crate::{QueueError, RunsError};

pub(crate) use gate::Exclusive;

/// The archive of finished runs' timelines (one partition, written by the runs service only).
pub const ARCHIVE_TOPIC: &str = "runs.archive";

/// How many messages one read asks for.
const READ_PAGE: usize = 1000;

/// One record of `runs.archive`: a run's whole timeline as it was stored.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct ArchiveRecord {
    pub run_id: String,
    /// When it was archived (unix ms).
    pub ts: u64,
    /// Every message of the run's topic: (offset, stored value, produced at).
    pub items: Vec<(u64, String, u64)>,
}

impl ArchiveRecord {
    /// The record of `run_id`'s timeline read as `items`; `None` unless their offsets are `0, 1, 2, …`
    /// (a broker whose offsets are not dense per topic could not give them back on a restore).
    pub fn of(run_id: &str, items: Vec<ReadItem>) -> Option<Self> {
        let dense = items
            .iter()
            .enumerate()
            .all(|(i, item)| item.offset == i as u64);
        dense.then(|| Self {
            run_id: run_id.to_owned(),
            ts: now_ms(),
            items: items
                .into_iter()
                .map(|item| (item.offset, item.value, item.produced_at_ms))
                .collect(),
        })
    }

    /// The messages from offset `from` on, as a read of the topic would answer them.
    fn read_from(self, from: u64) -> Vec<ReadItem> {
        let key = self.run_id;
        self.items
            .into_iter()
            .filter(|(offset, _, _)| *offset >= from)
            .map(|(offset, value, produced_at_ms)| ReadItem {
                partition: 0,
                offset,
                key: key.clone(),
                value,
                produced_at_ms,
            })
            .collect()
    }
}

/// Reads every message of partition 0 of `topic` from `from` on.
pub(crate) async fn read_all(
    queue: &dyn Queue,
    topic: &str,
    from: u64,
) -> Result<Vec<ReadItem>, QueueError> {
    let mut out = Vec::new();
    let mut next = from;
    loop {
        let page = queue.read(topic, 0, next, READ_PAGE).await?;
        let Some(last) = page.last() else { break };
        next = last.offset + 1;
        let full = page.len() == READ_PAGE;
        out.extend(page);
        if !full {
            break;
        }
    }
    Ok(out)
}

/// The per-run gates between retention and the writers of finished runs, and the archive's reads and restores.
pub(crate) struct Archive {
    emitter: Emitter,
    /// Writers to a run's topic hold its gate shared; retention holds the gates of the runs it archives
    /// exclusively until their topics are deleted.
    gates: gate::Gates,
}

/// Where a run's timeline is: its archive record's offset, with the run's archival generation.
fn archived(registry: &Mutex<Registry>, run_id: &str) -> Option<(u64, u64)> {
    let registry = registry.lock();
    let entry = registry.runs.get(run_id)?;
    entry
        .archival
        .offset
        .map(|offset| (offset, entry.archival.generation))
}

impl Archive {
    pub fn new(emitter: Emitter) -> Self {
        Self {
            emitter,
            gates: gate::Gates::default(),
        }
    }

    /// Held by retention while it archives `run_id`: no writer of this process writes to its topic meanwhile.
    /// `None` while a writer holds or waits for it: the run is left to the next pass.
    pub fn exclusive(&self, run_id: &str) -> Option<Exclusive<'_>> {
        self.gates.try_exclusive(run_id)
    }

    /// The run's timeline from offset `from` on: from its archive record when archived, else from its topic.
    pub async fn timeline(
        &self,
        registry: &Mutex<Registry>,
        run_id: &str,
        from: u64,
    ) -> Result<Vec<ReadItem>, QueueError> {
        let queue = &*self.emitter.queue;
        if let Some((offset, _)) = archived(registry, run_id) {
            return Ok(read_record(queue, offset).await?.read_from(from));
        }
        match read_all(queue, &events_topic(run_id), from).await {
            // Archived (and its topic deleted) since the look above.
            Err(QueueError::UnknownTopic(topic)) => match archived(registry, run_id) {
                Some((offset, _)) => Ok(read_record(queue, offset).await?.read_from(from)),
                None => Err(QueueError::UnknownTopic(topic)),
            },
            other => other,
        }
    }

    /// Holds `run_id`'s gate shared for a write to its topic, after restoring the topic if the run is
    /// archived. Keep the guard until the write is durable.
    pub async fn writable(
        &self,
        registry: &Mutex<Registry>,
        run_id: &str,
    ) -> Result<gate::Shared<'_>, RunsError> {
        loop {
            let shared = self.gates.shared(run_id).await;
            if archived(registry, run_id).is_none() {
                return Ok(shared);
            }
            drop(shared);
            let _exclusive = self.gates.exclusive(run_id).await;
            restore(&self.emitter, registry, run_id).await?;
        }
    }
}

/// Reads the archive record at `offset`.
async fn read_record(queue: &dyn Queue, offset: u64) -> Result<ArchiveRecord, QueueError> {
    let item = queue
        .read(ARCHIVE_TOPIC, 0, offset, 1)
        .await?
        .into_iter()
        .find(|item| item.offset == offset)
        .ok_or_else(|| {
            QueueError::Protocol(format!("{ARCHIVE_TOPIC} has no record at {offset}"))
        })?;
    serde_json::from_str(&item.value).map_err(|source| QueueError::Json {
        context: format!("reading {ARCHIVE_TOPIC} at {offset}"),
        source,
    })
}

/// Gives an archived run its topic back (under its exclusive gate): the archived messages produced again at
/// their offsets, after whatever of them a restore cut short already put back, then a `restored` index record.
async fn restore(
    emitter: &Emitter,
    registry: &Mutex<Registry>,
    run_id: &str,
) -> Result<(), RunsError> {
    let Some((offset, generation)) = archived(registry, run_id) else {
        return Ok(());
    };
    let queue = &*emitter.queue;
    let record = read_record(queue, offset).await?;
    let topic = events_topic(run_id);
    queue.create_topic(&topic, 1).await?;
    let present = read_all(queue, &topic, 0).await?;
    let prefix = present.len() <= record.items.len()
        && present
            .iter()
            .zip(&record.items)
            .all(|(item, (offset, value, _))| item.offset == *offset && &item.value == value);
    let present = if prefix {
        present.len()
    } else {
        // Something else wrote here since the topic was deleted (a long-superseded chain): start over.
        tracing::warn!(
            run_id,
            "replacing a timeline topic written after its run was archived"
        );
        queue.delete_topic(&topic).await?;
        queue.create_topic(&topic, 1).await?;
        0
    };
    let mut last = None;
    for (offset, value, _) in record.items.into_iter().skip(present) {
        let (outcome, durable) = queue
            .produce_pending(Outgoing {
                topic: topic.clone(),
                key: Some(run_id.to_owned()),
                value,
                idempotency_key: None,
            })
            .await?;
        if outcome.offset.is_some_and(|stored| stored != offset) {
            return Err(QueueError::Protocol(format!(
                "restoring {topic}: offset {offset} came back as {:?}",
                outcome.offset
            ))
            .into());
        }
        last = Some(durable);
    }
    if let Some(last) = last {
        last.wait().await?;
    }
    let record = IndexRecord::Restored {
        run_id: run_id.to_owned(),
        generation: generation + 1,
        ts: now_ms(),
    };
    let mut writes = emitter.pipeline();
    writes.produce(crate::INDEX_TOPIC, run_id, &record, None)?;
    writes.flush().await?;
    registry.lock().apply_index(record);
    tracing::debug!(run_id, "restored an archived timeline");
    Ok(())
}

/// Writes the archive records of `records` and their `archived` index records, durable together, and applies
/// them; answers the runs archived (a broker that does not say where a record went keeps its run as it is).
pub(crate) async fn archive(
    emitter: &Emitter,
    registry: &Mutex<Registry>,
    records: Vec<(ArchiveRecord, u64)>,
) -> Result<Vec<String>, RunsError> {
    // The archive records go in one write (one sync on the embedded broker, where one write each made the
    // group commit sync and linger for each of them), durable before the index records that name where each
    // of them went.
    let mut messages = Vec::with_capacity(records.len());
    for (record, _) in &records {
        let value = serde_json::to_string(record).map_err(|source| QueueError::Json {
            context: format!("encoding the archive record of {}", record.run_id),
            source,
        })?;
        messages.push(Outgoing {
            topic: ARCHIVE_TOPIC.to_owned(),
            key: Some(record.run_id.clone()),
            value,
            idempotency_key: None,
        });
    }
    let outcomes = emitter.queue.produce_all(&messages).await?;
    drop(messages);
    let mut writes = emitter.pipeline();
    let mut index = Vec::new();
    for ((record, generation), outcome) in records.into_iter().zip(outcomes) {
        let Some(offset) = outcome.offset else {
            continue;
        };
        let run_id = record.run_id;
        let record = IndexRecord::Archived {
            run_id: run_id.clone(),
            offset,
            generation: generation + 1,
            ts: now_ms(),
        };
        writes.produce(crate::INDEX_TOPIC, &run_id, &record, None)?;
        index.push(record);
    }
    writes.flush().await?;
    let mut registry = registry.lock();
    Ok(index
        .into_iter()
        .map(|record| {
            let run_id = record.run_id().to_owned();
            registry.apply_index(record);
            run_id
        })
        .collect())
}

/// Makes sure `runs.archive` exists, whatever the broker's topic cap: archiving is what frees room under it.
pub(crate) async fn ensure_topic(queue: &Arc<dyn Queue>) -> Result<(), QueueError> {
    queue.create_topic_uncapped(ARCHIVE_TOPIC, 1).await
}
