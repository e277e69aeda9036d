//! The run registry: what the service knows about every run, kept in memory and rebuilt from the broker.
//!
//! Invariants (why it survives a SIGKILL and starts fast):
//! - The durable truth lives in three topics. `runs.index` (one partition, written only by the runs service,
//!   before it answers) holds one compact record per start and per replay: workflow, input, `fail_at`,
//!   `max_attempts`. `runs.events.<id>` holds the run's timeline, from which its status is *derived*.
//!   `runs.dlq` holds the DLQ records.
//! - Start-up reads `runs.index` and `runs.dlq` only (a few small messages per run); no run's timeline is
//!   read until someone asks for its status. A status fold remembers the next timeline offset, so a refresh
//!   reads only what is new, and a settled run (succeeded or dead-lettered, no replay pending) is not re-read.
//! - Every apply is idempotent by offset (index, DLQ) or by run id and replay seq, so concurrent catch-ups and
//!   the service's own direct applies never double-count.
//! - Anyone with `/v1` access can produce into `runs.index` and `runs.dlq`, so a record is applied only if it
//!   decodes and validates (a well-formed run id, a known workflow; a DLQ record of a run the index knows);
//!   others are skipped with one warning, logged when their offset is first passed, never on a later read.
//! - A run is *confirmed* once its timeline topic is seen to exist: the service makes that topic durable before
//!   the run's index record, so an index record without a topic was forged, and its run is forgotten (with its
//!   DLQ records) the first time anyone looks at it.

use std::collections::HashMap;

use dq_proto::runs::{
    DlqRecord, ReplayInfo, RunDetail, RunStatus, RunSummary, validate_run_id, workflow_steps,
};
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
}

impl IndexRecord {
    fn run_id(&self) -> &str {
        match self {
            Self::Created { run_id, .. } | Self::Replay { run_id, .. } => run_id,
        }
    }

    /// What the runs service always writes: a well-formed run id, and a workflow it knows.
    fn validate(&self) -> Result<(), String> {
        validate_run_id(self.run_id())?;
        if let Self::Created { workflow, .. } = self
            && workflow_steps(workflow).is_none()
        {
            return Err(format!("unknown workflow {workflow:?}"));
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
/// `run.succeeded` / `run.failed` naming that replay (an event without `replay_seq` counts for the replay the
/// fold is on).
#[derive(Debug, Clone, Default)]
pub(crate) struct Endings {
    ended: HashMap<u64, (RunStatus, u64)>,
}

impl Endings {
    /// Notes `event` if it ends a start or replay; `current` is the fold's replay after applying it.
    pub fn observe(&mut self, event: &FoldEvent, current: u64) {
        let status = match event.kind.as_str() {
            "run.succeeded" => RunStatus::Succeeded,
            "run.failed" => RunStatus::DeadLettered,
            _ => return,
        };
        let seq = FoldEvent::u64_of(event.replay_seq.as_ref()).unwrap_or(current);
        self.ended.insert(seq, (status, event.ts));
    }

    /// The outcome and end time of start/replay `seq`, once it ended.
    pub fn of(&self, seq: u64) -> Option<(RunStatus, u64)> {
        self.ended.get(&seq).copied()
    }
}

/// What the status fold reads of an event, decoded without building the whole event (a timeline read after a
/// restart decodes every event of every run). Numbers are taken as JSON values so that an odd field written
/// through `POST /runs/{id}/emit` is ignored, not fatal.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct FoldEvent {
    #[serde(default)]
    ts: u64,
    #[serde(rename = "type", default)]
    kind: String,
    #[serde(default)]
    replay_seq: Option<Value>,
    #[serde(default)]
    attempt: Option<Value>,
    #[serde(default)]
    seq: Option<Value>,
    #[serde(default)]
    error: Option<Value>,
}

impl FoldEvent {
    fn u64_of(field: Option<&Value>) -> Option<u64> {
        field.and_then(Value::as_u64)
    }
}

/// The status of a run folded from its timeline.
#[derive(Debug, Clone)]
pub(crate) struct Fold {
    /// The next timeline offset to read.
    pub next_offset: u64,
    pub status: RunStatus,
    pub replay_seq: u64,
    pub attempts: u32,
    pub last_error: Option<String>,
    pub updated_ms: u64,
}

impl Fold {
    fn new(created_ms: u64) -> Self {
        Self {
            next_offset: 0,
            status: RunStatus::Queued,
            replay_seq: 0,
            attempts: 0,
            last_error: None,
            updated_ms: created_ms,
        }
    }

    /// Applies the event stored at `offset`; events already applied are ignored.
    pub fn apply(&mut self, offset: u64, event: &FoldEvent) {
        if offset < self.next_offset {
            return;
        }
        self.next_offset = offset + 1;
        self.updated_ms = self.updated_ms.max(event.ts);
        // Worker events name their replay; a late event of an older replay must not move the status back.
        let current =
            FoldEvent::u64_of(event.replay_seq.as_ref()).is_none_or(|seq| seq >= self.replay_seq);
        match event.kind.as_str() {
            "run.replay_requested" => {
                let seq = FoldEvent::u64_of(event.seq.as_ref()).unwrap_or(self.replay_seq + 1);
                if seq >= self.replay_seq {
                    self.replay_seq = seq;
                    self.status = RunStatus::Queued;
                    self.attempts = 0;
                    self.last_error = None;
                }
            }
            "worker.received" if current => {
                self.attempts = FoldEvent::u64_of(event.attempt.as_ref())
                    .and_then(|a| u32::try_from(a).ok())
                    .unwrap_or(self.attempts + 1);
                self.status = RunStatus::Running;
            }
            "run.attempt_failed" if current => {
                self.last_error = event
                    .error
                    .as_ref()
                    .and_then(Value::as_str)
                    .map(str::to_owned);
            }
            "run.retry_scheduled" if current => self.status = RunStatus::Retrying,
            // `run.failed` is the last event a dead-lettered attempt writes (after `run.dlq`): a client that
            // sees the status sees the whole story.
            "run.failed" if current => self.status = RunStatus::DeadLettered,
            "run.succeeded" => self.status = RunStatus::Succeeded,
            _ => {}
        }
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
}

impl RunEntry {
    /// The latest replay, if any.
    pub fn latest(&self) -> Option<&ReplayEntry> {
        self.replays.last()
    }

    /// Whether the status can no longer change without a replay issued by this service.
    pub fn settled(&self) -> bool {
        self.fold.next_offset > 0
            && self.fold.status.is_terminal()
            && self.fold.replay_seq >= self.reserved_seq
    }

    pub fn summary(&self) -> RunSummary {
        RunSummary {
            run_id: self.run_id.clone(),
            workflow: self.workflow.clone(),
            status: self.fold.status,
            fail_at: self
                .latest()
                .map_or_else(|| self.fail_at.clone(), |r| r.fail_at.clone()),
            replay_seq: self
                .fold
                .replay_seq
                .max(self.replays.last().map_or(0, |r| r.seq)),
            attempts: self.fold.attempts,
            last_error: self.fold.last_error.clone(),
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
    pub runs: HashMap<String, RunEntry>,
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
                let entry = RunEntry {
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
                };
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
        let mut runs: Vec<&RunEntry> = self.runs.values().collect();
        runs.sort_by_key(|run| std::cmp::Reverse((run.created_ms, run.order)));
        runs
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use dq_proto::runs::Event;

    fn event(kind: &str) -> Event {
        Event::new(1, kind, "r")
    }

    /// The fold's view of an event, decoded from its JSON as a stored event is.
    fn view(event: &Event) -> FoldEvent {
        serde_json::from_str(&serde_json::to_string(event).unwrap()).unwrap()
    }

    fn created(run_id: &str, workflow: &str) -> Result<IndexRecord, String> {
        Ok(IndexRecord::Created {
            run_id: run_id.to_owned(),
            workflow: workflow.to_owned(),
            input: Map::new(),
            fail_at: None,
            max_attempts: None,
            ts: 1,
        })
    }

    fn dlq(run_id: &str, kind: &str) -> Result<DlqRecord, String> {
        Ok(DlqRecord {
            ts: 1,
            kind: kind.to_owned(),
            run_id: run_id.to_owned(),
            workflow: "demo".to_owned(),
            attempts: 3,
            max_attempts: 3,
            replay_seq: 0,
            reason: "max_attempts".to_owned(),
            error: "e".to_owned(),
            command: Value::Null,
        })
    }

    #[test]
    fn records_that_fail_validation_are_skipped_and_passed() {
        let mut registry = Registry::default();
        registry.apply_index_at(0, Err("not JSON".to_owned()));
        registry.apply_index_at(1, created("bad id", "demo"));
        registry.apply_index_at(2, created("r1", "nope"));
        registry.apply_index_at(3, created("r1", "demo"));
        assert_eq!(registry.runs.keys().collect::<Vec<_>>(), ["r1"]);
        assert_eq!(
            registry.index_next, 4,
            "bad records are passed, not re-read"
        );
        registry.apply_dlq_at(0, Err("not JSON".to_owned()));
        registry.apply_dlq_at(1, dlq("r2", "runs.dlq"));
        registry.apply_dlq_at(2, dlq("bad id", "runs.dlq"));
        registry.apply_dlq_at(3, dlq("r1", "custom"));
        registry.apply_dlq_at(4, dlq("r1", "runs.dlq"));
        assert_eq!(registry.dlq.len(), 1);
        assert_eq!(registry.dlq_next, 5);
        registry.forget("r1");
        assert!(registry.runs.is_empty() && registry.dlq.is_empty());
    }

    #[test]
    fn a_failing_then_replayed_run_folds_to_each_status() {
        let mut fold = Fold::new(0);
        let steps = [
            (event("run.created"), RunStatus::Queued),
            (
                event("worker.received")
                    .with("attempt", 1)
                    .with("replay_seq", 0),
                RunStatus::Running,
            ),
            (
                event("run.attempt_failed")
                    .with("replay_seq", 0)
                    .with("error", "forced failure at transform"),
                RunStatus::Running,
            ),
            (
                event("run.retry_scheduled").with("replay_seq", 0),
                RunStatus::Retrying,
            ),
            (
                event("run.failed").with("replay_seq", 0),
                RunStatus::DeadLettered,
            ),
            (
                event("run.replay_requested").with("seq", 1),
                RunStatus::Queued,
            ),
            (event("run.failed").with("replay_seq", 0), RunStatus::Queued),
            (event("run.succeeded"), RunStatus::Succeeded),
        ];
        for (offset, (event, status)) in steps.into_iter().enumerate() {
            fold.apply(offset as u64, &view(&event));
            assert_eq!(fold.status, status, "after {}", event.kind);
        }
        assert_eq!(fold.replay_seq, 1);
        assert_eq!(fold.next_offset, 8);
        fold.apply(2, &view(&event("run.failed").with("replay_seq", 1)));
        assert_eq!(fold.status, RunStatus::Succeeded, "old offsets are ignored");
    }
}
