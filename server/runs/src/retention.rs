//! Retention of finished runs' topics: every run has its own timeline topic, and a broker holds each topic in
//! memory and caps how many exist (`max_topics`), so a server that never let go of them would grow without
//! bound and stop taking runs at the cap. A background task archives the timeline of each run that finished
//! (ended, no replay pending) at least `RunsConfig::archive_after` ago into one record of `runs.archive`
//! ([`crate::archive`] owns the record and its crash-safe order) and deletes its topic.
//!
//! Nothing changes for clients: an archived run's `GET /runs/{id}`, timeline, SSE events, DLQ answers and
//! `seq`s are read from its archive record; a replay or a user's event gives it its topic back first. A broker
//! that cannot delete topics ([`crate::Queue::delete_topic`] unsupported: JetStream, which drops timelines by
//! age itself) keeps them all, and the task stops after saying so once.

use std::sync::Arc;
use std::time::Duration;

use dq_proto::runs::events_topic;
use tokio_util::sync::CancellationToken;

use crate::archive::{self, ArchiveRecord, Exclusive};
use crate::emitter::now_ms;
use crate::{QueueError, RunsError, RunsService};

/// Most runs one pass looks at (oldest first): bounds the reads of a pass when many runs are unfinished.
const PASS_RUNS: usize = 4096;

/// Most topics one [`crate::Queue::delete_topics`] deletes: the embedded broker purges them on one blocking
/// thread and syncs once, and a pass's runs wait for their deletion only as long as one batch takes.
const DELETE_BATCH: usize = 512;

/// A topic name that no run has, deleted once at start to learn whether the broker deletes topics.
const PROBE_TOPIC: &str = "runs.events.retention-probe";

/// How often a pass runs for a grace period of `after`: often enough that a run is archived soon after its
/// grace, at most once a second.
fn pass_interval(after: Duration) -> Duration {
    (after / 2).clamp(Duration::from_millis(50), Duration::from_secs(1))
}

fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

/// Archives finished runs until `shutdown`; returns at once when retention is off or the broker keeps topics.
pub(crate) async fn run(service: Arc<RunsService>, shutdown: CancellationToken) {
    let Some(after) = service.config().archive_after else {
        return;
    };
    match service.emitter().queue.delete_topic(PROBE_TOPIC).await {
        Err(QueueError::Unsupported(what)) => {
            tracing::info!("retention off: the broker lacks {what}");
            return;
        }
        Err(e) => tracing::warn!("retention: probing topic deletion failed: {e}"),
        Ok(()) => {}
    }
    // Topics a crash (or a failed deletion) left behind archived runs: deleted first, by the first pass.
    let mut leftover: Vec<String> = {
        let registry = service.registry.lock();
        registry
            .runs
            .values()
            .filter(|e| e.archival.offset.is_some())
            .map(|e| e.run_id.clone())
            .collect()
    };
    let mut ticker = tokio::time::interval(pass_interval(after));
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = shutdown.cancelled() => return,
            _ = ticker.tick() => {}
        }
        match pass(&service, after, &mut leftover).await {
            Ok(0) => {}
            Ok(archived) => tracing::debug!(archived, "archived finished runs"),
            Err(e) => tracing::warn!("retention pass failed: {e}"),
        }
    }
}

/// One pass: the oldest runs past their grace are brought up to date, and those finished `after` ago or
/// longer are archived and their topics deleted, with the `leftover` topics of archived runs that an earlier
/// deletion did not remove (those it cannot remove now are left there). Answers how many were archived.
pub(crate) async fn pass(
    service: &RunsService,
    after: Duration,
    leftover: &mut Vec<String>,
) -> Result<usize, RunsError> {
    let after_ms = millis(after);
    let now = now_ms();
    let due = |created_ms: u64| created_ms.saturating_add(after_ms) <= now;
    let candidates: Vec<String> = {
        let registry = service.registry.lock();
        let mut old: Vec<(u64, u64, &str)> = registry
            .runs
            .values()
            .filter(|e| e.archival.offset.is_none() && due(e.created_ms))
            .map(|e| (e.created_ms, e.order, e.run_id.as_str()))
            .collect();
        if old.len() > PASS_RUNS {
            old.select_nth_unstable(PASS_RUNS);
            old.truncate(PASS_RUNS);
        }
        old.into_iter().map(|(_, _, id)| id.to_owned()).collect()
    };
    if candidates.is_empty() && leftover.is_empty() {
        return Ok(0);
    }
    for run_id in &candidates {
        match service.refresh(run_id).await {
            Ok(()) | Err(RunsError::RunNotFound) => {}
            Err(e) => return Err(e),
        }
        // The embedded broker reads without ever yielding: a pass over hundreds of runs would otherwise keep
        // its async worker from the requests queued behind it for milliseconds. Not a yield per run, though:
        // under overload each yield waits behind every ready request, and a pass that crawled let the topics
        // of finished runs pile up to the broker's cap (503 to every new run).
        tokio::task::consume_budget().await;
    }
    let finished: Vec<(String, u64, u64)> = {
        let registry = service.registry.lock();
        candidates
            .iter()
            .filter_map(|id| registry.runs.get(id))
            .filter(|e| {
                e.confirmed && e.archival.offset.is_none() && e.settled() && due(e.fold.updated_ms)
            })
            .map(|e| (e.run_id.clone(), e.fold.next_offset, e.archival.generation))
            .collect()
    };
    if finished.is_empty() && leftover.is_empty() {
        return Ok(0);
    }
    let emitter = service.emitter();
    let queue = &*emitter.queue;
    archive::ensure_topic(&emitter.queue).await?;
    // No writer of this process touches the timeline of a run of this pass while it is archived and its topic
    // deleted; writers of other runs go on. A run a writer holds waits for the next pass.
    let mut held = Vec::new();
    let mut records = Vec::new();
    for (run_id, length, generation) in finished {
        let Some(gate) = service.archive.exclusive(&run_id) else {
            continue;
        };
        let items = archive::read_all(queue, &events_topic(&run_id), 0).await?;
        tokio::task::consume_budget().await;
        // Written to since the look above (a user's event): next pass.
        if items.len() as u64 != length {
            continue;
        }
        if let Some(record) = ArchiveRecord::of(&run_id, items) {
            records.push((record, generation));
            held.push(gate);
        } else {
            tracing::debug!(run_id, "timeline offsets not dense: kept as it is");
        }
    }
    let archived = if records.is_empty() {
        Vec::new()
    } else {
        archive::archive(emitter, &service.registry, records).await?
    };
    let count = archived.len();
    // A run the broker did not say where its record went is kept as it is, topic and all.
    held.retain(|gate| archived.iter().any(|run_id| run_id == gate.run_id()));
    let mut failed = delete(service, held).await;
    for chunk in std::mem::take(leftover).chunks(DELETE_BATCH) {
        let mut held = Vec::new();
        for run_id in chunk {
            match service.archive.exclusive(run_id) {
                // Given its topic back since (a replay, a user's event): the topic is live again.
                Some(_) if !still_archived(service, run_id) => {}
                Some(gate) => held.push(gate),
                None => failed.push(run_id.clone()),
            }
        }
        failed.extend(delete(service, held).await);
    }
    *leftover = failed;
    Ok(count)
}

/// Deletes the topics of the archived runs whose gates are `held`, in batches of [`DELETE_BATCH`], letting
/// each batch's gates go once its topics are gone; answers the runs whose topics are still there (their runs
/// read from the archive meanwhile; the next pass tries again).
async fn delete(service: &RunsService, held: Vec<Exclusive<'_>>) -> Vec<String> {
    let queue = &*service.emitter().queue;
    let mut failed = Vec::new();
    let mut held = held.into_iter().peekable();
    while held.peek().is_some() {
        let batch: Vec<Exclusive<'_>> = held.by_ref().take(DELETE_BATCH).collect();
        let topics: Vec<String> = batch
            .iter()
            .map(|gate| events_topic(gate.run_id()))
            .collect();
        if let Err(e) = queue.delete_topics(&topics).await {
            tracing::warn!(
                topics = topics.len(),
                "retention: deleting archived runs' topics failed: {e}"
            );
            failed.extend(batch.iter().map(|gate| gate.run_id().to_owned()));
        }
    }
    failed
}

/// Whether `run_id`'s timeline is in the archive (and its topic is to go).
fn still_archived(service: &RunsService, run_id: &str) -> bool {
    let registry = service.registry.lock();
    registry
        .runs
        .get(run_id)
        .is_some_and(|entry| entry.archival.offset.is_some())
}
