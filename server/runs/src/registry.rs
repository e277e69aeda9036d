//! The run registry: what the service knows about every run, kept in memory and rebuilt from the broker.
//!
//! Invariants (why it survives a SIGKILL and starts fast):
//! - The durable truth lives in three topics. `runs.index` (one partition, written only by the runs service,
//!   before it answers) holds one compact record per start and per replay: workflow, input, `fail_at`,
//!   `max_attempts`. `runs.events.<id>` holds the run's timeline, from which its status is *derived* by
//!   `dq_proto::fold` (the fold the CLI follows runs with, too). `runs.dlq` holds the DLQ records.
//! - Start-up reads `runs.index` and `runs.dlq` only (a few small messages per run); no run's timeline is
//!   read until someone asks for its status. A status fold remembers the next timeline offset, so a refresh
//!   reads only what is new, and a settled run (ended, no replay pending) is not re-read.
//! - Every apply is idempotent by offset (index, DLQ) or by run id and replay seq, so concurrent catch-ups and
//!   the service's own direct applies never double-count.
//! - Anyone with `/v1` access can produce into `runs.index` and `runs.dlq`, so a record is applied only if it
//!   decodes and validates (a well-formed run id, a known workflow; a DLQ record of a run the index knows);
//!   others are skipped with one warning, logged when their offset is first passed, never on a later read.
//! - A run is *confirmed* once its timeline topic is seen to exist: the service makes that topic durable before
//!   the run's index record, so an index record without a topic was forged, and its run is forgotten (with its
//!   DLQ records) the first time anyone looks at it.

use std::collections::HashMap;

use dq_proto::event::{Event, EventBody};
use dq_proto::fold::RunState;
use dq_proto::runs::{DlqRecord, ReplayInfo, RunDetail, RunStatus, RunSummary, validate_run_id};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// One record of `runs.index`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub(crate) enum IndexRecord {
    /// A run was created.
    Created {
        run_id: String,
        workflow: String,
        input: Map<String, Value>,
        fail_at: Option<String>,
        max_attempts: Option<u32>,
        ts: u64,
    },
    /// A run was replayed.
    Replay {
        run_id: String,
        seq: u64,
        fail_at: Option<String>,
        input: Map<String, Value>,
        max_attempts: Option<u32>,
        ts: u64,
        /// The overrides asked for (absent in records written before dq recorded them).
        #[serde(default)]
        overrides: Map<String, Value>,
        /// Whether it started from the previous replay's input.
        #[serde(default)]
        keep_overrides: bool,
    },
    /// A finished run's timeline went to `runs.archive` at `offset` ([`crate::archive`]); then its topic went.
    Archived {
        run_id: String,
        offset: u64,
        generation: u64,
        ts: u64,
    },
    /// An archived run's topic was given back its timeline: it is read and written there again.
    Restored {
        run_id: String,
        generation: u64,
        ts: u64,
    },
}

impl IndexRecord {
    pub fn run_id(&self) -> &str {
        match self {
            Self::Created { run_id, .. }
            | Self::Replay { run_id, .. }
            | Self::Archived { run_id, .. }
            | Self::Restored { run_id, .. } => run_id,
        }
    }

    /// What the runs service always writes: a well-formed run id, and a workflow name. Not "a workflow this
    /// process knows": a run of a workflow file's workflow stays a run after a restart without that file.
    fn validate(&self) -> Result<(), String> {
        validate_run_id(self.run_id())?;
        if let Self::Created { workflow, .. } = self
            && workflow.is_empty()
        {
            return Err("no workflow".to_owned());
        }
        Ok(())
    }
}

/// One replay as the registry keeps it.
#[derive(Debug, Clone)]
pub(crate) struct ReplayEntry {
    pub seq: u64,
    pub fail_at: Option<String>,
    pub input: Map<String, Value>,
    pub max_attempts: Option<u32>,
    pub requested_ms: u64,
    pub overrides: Map<String, Value>,
    pub keep_overrides: bool,
}

/// How each start (0) or replay (n) of a run ended, read from its timeline beside the status fold: the last
/// server-written `run.succeeded` / `run.failed` naming that replay (an event without `replay_seq` counts for the replay the
/// fold is on).
#[derive(Debug, Clone, Default)]
pub(crate) struct Endings {
    /// (start or replay, outcome, end time). A list, not a map: a run has few starts and replays, and the
    /// registry keeps every run's entry for good, where a one-item hash map cost 128 bytes of heap each.
    ended: Vec<(u64, RunStatus, u64)>,
}

impl Endings {
    /// Notes `event` if it ends a start or replay; `current` is the fold's replay after applying it.
    pub fn observe(&mut self, event: &Event, current: u64) {
        if !event.is_server_authored() {
            return;
        }
        let status = match event.body {
            EventBody::RunSucceeded {} => RunStatus::Succeeded,
            EventBody::RunFailed {} => RunStatus::DeadLettered,
            _ => return,
        };
        let seq = event.replay().unwrap_or(current);
        if let Some(ending) = self.ended.iter_mut().find(|(s, _, _)| *s == seq) {
            *ending = (seq, status, event.ts);
        } else {
            // Exactly one more: a `Vec` would otherwise grow to room for four.
            self.ended.reserve_exact(1);
            self.ended.push((seq, status, event.ts));
        }
    }

    /// The outcome and end time of start/replay `seq`, once it ended.
    pub fn of(&self, seq: u64) -> Option<(RunStatus, u64)> {
        self.ended
            .iter()
            .find(|(s, _, _)| *s == seq)
            .map(|&(_, status, ts)| (status, ts))
    }
}

/// A run's status folded from its timeline ([`RunState`], the fold the CLI uses too), with the read position.
#[derive(Debug, Clone)]
pub(crate) struct Fold {
    /// The next timeline offset to read.
    pub next_offset: u64,
    pub state: RunState,
    pub updated_ms: u64,
}

impl Fold {
    fn new(created_ms: u64) -> Self {
        Self {
            next_offset: 0,
            state: RunState::new(),
            updated_ms: created_ms,
        }
    }

    /// Applies the event stored at `offset`; events already applied are ignored.
    pub fn apply(&mut self, offset: u64, event: &Event) {
        if offset < self.next_offset {
            return;
        }
        self.next_offset = offset + 1;
        self.updated_ms = self.updated_ms.max(event.ts);
        self.state.apply(event);
    }
}

/// One run.
#[derive(Debug, Clone)]
pub(crate) struct RunEntry {
    pub run_id: String,
    pub workflow: String,
    pub created_ms: u64,
    pub input: Map<String, Value>,
    pub fail_at: Option<String>,
    pub max_attempts: Option<u32>,
    pub replays: Vec<ReplayEntry>,
    /// The highest replay seq handed out (ahead of `replays` while a replay is being written).
    pub reserved_seq: u64,
    pub fold: Fold,
    /// How each start or replay ended.
    pub endings: Endings,
    /// Creation order, for newest-first listings of runs created in the same millisecond.
    pub order: u64,
    /// Whether the run's timeline topic was seen to exist (see the module doc); an unconfirmed run may be a
    /// forged index record.
    pub confirmed: bool,
    /// Where its timeline is kept once finished (see [`crate::archive`]).
    pub archival: Archival,
}

/// Whether a run's timeline is archived (its `runs.archive` record), as of the newest `archived` / `restored`
/// record applied: one of an older generation is ignored.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Archival {
    pub offset: Option<u64>,
    pub generation: u64,
}

impl RunEntry {
    /// The latest replay, if any.
    pub fn latest(&self) -> Option<&ReplayEntry> {
        self.replays.last()
    }

    /// Whether the status can no longer change without a replay issued by this service.
    pub fn settled(&self) -> bool {
        self.fold.next_offset > 0
            && self.fold.state.ended
            && self.fold.state.replay_seq >= self.reserved_seq
    }

    /// The seq of the start or replay in flight (queued, running or retrying), if any. A run whose timeline
    /// was never read (a broker without reads) cannot tell, and reads as not in flight.
    pub fn in_flight(&self) -> Option<u64> {
        let known = self.fold.next_offset > 0;
        let state = &self.fold.state;
        // Dead-lettered from `run.dlq` on, as the status says, though `run.failed` is still to come: what that
        // chain writes after a replay starts no longer counts.
        let done = (state.ended || state.status == RunStatus::DeadLettered)
            && state.replay_seq >= self.reserved_seq;
        (known && !done).then_some(self.reserved_seq)
    }

    /// Why a replay is refused while [`Self::in_flight`]: "run R is still running (attempt 2/3)".
    pub fn in_flight_message(&self, default_max_attempts: u32) -> String {
        let max = self
            .latest()
            .map_or(self.max_attempts, |r| r.max_attempts)
            .unwrap_or(default_max_attempts)
            .clamp(1, dq_proto::runs::MAX_ATTEMPTS_LIMIT);
        let run = &self.run_id;
        let attempt = self.fold.state.attempts.max(1);
        match self.fold.state.status {
            // A replay asked for but not yet in the timeline is queued too.
            _ if self.fold.state.replay_seq < self.reserved_seq => {
                format!("run {run} is still queued")
            }
            RunStatus::Running => format!("run {run} is still running (attempt {attempt}/{max})"),
            RunStatus::Retrying => format!(
                "run {run} is still running (attempt {attempt}/{max} failed, retry scheduled)"
            ),
            _ => format!("run {run} is still queued"),
        }
    }

    /// Whether `record` says why the run is dead-lettered now: the run is dead-lettered, and the record is of
    /// its current start or replay (a late record of a superseded replay is not).
    pub fn dead_lettered_by(&self, record: &DlqRecord) -> bool {
        self.fold.state.status == RunStatus::DeadLettered
            && self.fold.state.replay_seq >= self.reserved_seq
            && record.replay_seq == self.fold.state.replay_seq
    }

    pub fn summary(&self) -> RunSummary {
        RunSummary {
            run_id: self.run_id.clone(),
            workflow: self.workflow.clone(),
            status: self.fold.state.status,
            fail_at: self
                .latest()
                .map_or_else(|| self.fail_at.clone(), |r| r.fail_at.clone()),
            replay_seq: self
                .fold
                .state
                .replay_seq
                .max(self.replays.last().map_or(0, |r| r.seq)),
            attempts: self.fold.state.attempts,
            last_error: self.fold.state.last_error.clone(),
            created_ms: self.created_ms,
            updated_ms: self.fold.updated_ms,
        }
    }

    pub fn detail(&self) -> RunDetail {
        let (input, max_attempts) = self.latest().map_or_else(
            || (self.input.clone(), self.max_attempts),
            |r| (r.input.clone(), r.max_attempts),
        );
        RunDetail {
            summary: self.summary(),
            input,
            max_attempts,
            replays: self
                .replays
                .iter()
                .map(|r| {
                    let ended = self.endings.of(r.seq);
                    ReplayInfo {
                        seq: r.seq,
                        fail_at: r.fail_at.clone(),
                        max_attempts: r.max_attempts,
                        requested_ms: r.requested_ms,
                        overrides: r.overrides.clone(),
                        keep_overrides: r.keep_overrides,
                        outcome: ended.map(|(status, _)| status),
                        ended_ms: ended.map(|(_, ts)| ts),
                    }
                })
                .collect(),
        }
    }
}

/// Every run and every DLQ record, with the read positions in their topics.
#[derive(Debug, Default)]
pub(crate) struct Registry {
    /// Boxed: the table then holds a pointer per slot instead of a whole entry. A hash table keeps up to twice
    /// the slots it uses and, while it grows, the old table beside the new one; with entries inline that was
    /// 300 bytes a slot, a third of a run's resident memory, paid for every run ever created.
    pub runs: HashMap<String, Box<RunEntry>>,
    next_order: u64,
    /// The next `runs.index` offset to read.
    pub index_next: u64,
    /// DLQ records, oldest first.
    pub dlq: Vec<DlqRecord>,
    /// The next `runs.dlq` offset to read.
    pub dlq_next: u64,
}

impl Registry {
    /// Applies an index record (idempotent: a known run or replay seq is left alone).
    pub fn apply_index(&mut self, record: IndexRecord) {
        match record {
            IndexRecord::Created {
                run_id,
                workflow,
                input,
                fail_at,
                max_attempts,
                ts,
            } => {
                if self.runs.contains_key(&run_id) {
                    return;
                }
                self.next_order += 1;
                let entry = Box::new(RunEntry {
                    run_id: run_id.clone(),
                    workflow,
                    created_ms: ts,
                    input,
                    fail_at,
                    max_attempts,
                    replays: Vec::new(),
                    reserved_seq: 0,
                    fold: Fold::new(ts),
                    endings: Endings::default(),
                    order: self.next_order,
                    confirmed: false,
                    archival: Archival::default(),
                });
                self.runs.insert(run_id, entry);
            }
            IndexRecord::Replay {
                run_id,
                seq,
                fail_at,
                input,
                max_attempts,
                ts,
                overrides,
                keep_overrides,
            } => {
                let Some(entry) = self.runs.get_mut(&run_id) else {
                    return;
                };
                if entry.replays.iter().any(|r| r.seq == seq) {
                    return;
                }
                entry.replays.push(ReplayEntry {
                    seq,
                    fail_at,
                    input,
                    max_attempts,
                    requested_ms: ts,
                    overrides,
                    keep_overrides,
                });
                entry.replays.sort_by_key(|r| r.seq);
                entry.reserved_seq = entry.reserved_seq.max(seq);
            }
            IndexRecord::Archived {
                run_id,
                offset,
                generation,
                ..
            } => {
                self.archival(&run_id, generation, Some(offset));
            }
            IndexRecord::Restored {
                run_id, generation, ..
            } => {
                self.archival(&run_id, generation, None);
            }
        }
    }

    /// Notes where a run's timeline is, unless a newer generation was applied already.
    fn archival(&mut self, run_id: &str, generation: u64, offset: Option<u64>) {
        if let Some(entry) = self.runs.get_mut(run_id)
            && generation > entry.archival.generation
        {
            entry.archival = Archival { offset, generation };
        }
    }

    /// Applies the index record stored at `offset` (`Err`: the reason it did not decode), unless it was read
    /// already; a record that fails to decode or validate is skipped with one warning.
    pub fn apply_index_at(&mut self, offset: u64, record: Result<IndexRecord, String>) {
        if offset < self.index_next {
            return;
        }
        self.index_next = offset + 1;
        match record.and_then(|r| r.validate().map(|()| r)) {
            Ok(record) => self.apply_index(record),
            Err(e) => tracing::warn!(offset, "ignoring invalid runs.index record: {e}"),
        }
    }

    /// Applies an index record this process just stored at `offset` (where the queue says). When it is the
    /// next one a catch-up would read, the catch-up starts after it instead of reading it back; otherwise
    /// (records of other writers before it, not read yet) the catch-up reads it again, which applies nothing
    /// twice.
    pub fn apply_own_index(&mut self, offset: Option<u64>, record: IndexRecord) {
        if offset == Some(self.index_next) {
            self.index_next += 1;
        }
        self.apply_index(record);
    }

    /// Adds the DLQ record stored at `offset` (`Err`: the reason it did not decode), unless it was read
    /// already; a record that fails to decode or validate, or whose run the index does not know, is skipped
    /// with one warning. The worker writes a run's DLQ record only after its index record, and a catch-up reads
    /// `runs.dlq` before `runs.index` and applies the index first, so a real record's run is known by then.
    pub fn apply_dlq_at(&mut self, offset: u64, record: Result<DlqRecord, String>) {
        if offset < self.dlq_next {
            return;
        }
        self.dlq_next = offset + 1;
        let valid = record.and_then(|record| {
            validate_run_id(&record.run_id)?;
            if record.kind != "runs.dlq" {
                return Err(format!("type is {:?}, not \"runs.dlq\"", record.kind));
            }
            if !self.runs.contains_key(&record.run_id) {
                return Err(format!("run {} is not in runs.index", record.run_id));
            }
            Ok(record)
        });
        match valid {
            Ok(record) => self.dlq.push(record),
            Err(e) => tracing::warn!(offset, "ignoring invalid runs.dlq record: {e}"),
        }
    }

    /// Marks a run's timeline topic as seen.
    pub fn confirm(&mut self, run_id: &str) {
        if let Some(entry) = self.runs.get_mut(run_id) {
            entry.confirmed = true;
        }
    }

    /// Forgets a run found to have no timeline topic (a forged index record), with its DLQ records.
    pub fn forget(&mut self, run_id: &str) {
        if self.runs.remove(run_id).is_some() {
            tracing::warn!(
                run_id,
                "ignoring runs.index record of a run without a timeline topic"
            );
            self.dlq.retain(|record| record.run_id != run_id);
        }
    }

    /// Runs, newest first.
    pub fn newest_first(&self) -> Vec<&RunEntry> {
        let mut runs: Vec<&RunEntry> = self.runs.values().map(|run| &**run).collect();
        runs.sort_by_key(|run| std::cmp::Reverse((run.created_ms, run.order)));
        runs
    }
}

#[cfg(test)]
mod size_tests;
#[cfg(test)]
// The registry takes records as they come off the queue, decoded or not: the helpers build them so.
#[allow(clippy::unnecessary_wraps)]
mod tests;
