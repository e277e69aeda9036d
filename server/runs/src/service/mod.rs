//! [`RunsService`]: starts and replays runs, appends events, reads timelines and DLQ records, and answers
//! from the run registry (see [`crate::registry`] for how the registry is kept durable and rebuilt).
//!
//! It writes exactly what the original starter wrote (`run.created` + a `run.command` on start,
//! `run.replay_requested` + a `run.command` on replay, with the original idempotency keys), preceded by one
//! compact `runs.index` record. It never executes a run: that is the worker's job.
//!
//! This file starts and replays runs and keeps the registry current; `answers` reads runs and DLQ records out
//! of it, and `emit` takes the user's own events.

mod admission;
mod answers;
mod emit;
mod stored;

pub use answers::DlqFilter;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use dq_proto::event::{Event, EventBody, SOURCE_USER, is_reserved};
use dq_proto::runs::{
    COMMANDS_TOPIC, CreateRun, CreateRunResponse, DLQ_TOPIC, DlqRecord, MAX_ATTEMPTS_LIMIT,
    ReplayRequest, ReplayResponse, RunCommand, RunDetail, RunStatus, RunSummary, TimelineItem,
    events_topic, validate_max_attempts, validate_run_id,
};
use parking_lot::{Mutex, MutexGuard};
use serde_json::{Map, Value};

use crate::archive::Archive;
use crate::emitter::Pipeline;
use crate::emitter::{Emitter, Followed, now_ms};
use crate::queue::Queue;
use crate::registry::{IndexRecord, Registry};
use crate::{QueueError, RunsConfig, RunsError};

/// The compact, durable index of runs and replays (one partition, written by the runs service only).
pub const INDEX_TOPIC: &str = "runs.index";

/// How many messages one read asks for.
const READ_PAGE: usize = 1000;

/// The runs service. Cheap to share as `Arc<RunsService>`.
pub struct RunsService {
    emitter: Emitter,
    config: RunsConfig,
    pub(crate) registry: Mutex<Registry>,
    /// Whether this process made sure the runs topics exist.
    topics_ready: AtomicBool,
    /// Finished runs' timelines once retention archived them.
    pub(crate) archive: Archive,
}

impl RunsService {
    /// Rebuilds the registry from `runs.index` and `runs.dlq`. The runs topics are created with the first
    /// run, so that a broker nobody starts runs on stays empty.
    pub async fn open(queue: Arc<dyn Queue>, config: RunsConfig) -> Result<Arc<Self>, RunsError> {
        let emitter = Emitter::new(queue);
        let service = Arc::new(Self {
            archive: Archive::new(emitter.clone()),
            emitter,
            config,
            registry: Mutex::new(Registry::default()),
            topics_ready: AtomicBool::new(false),
        });
        match service.catch_up().await {
            // Against a queue without reads the registry starts empty and holds what this process creates; say
            // so once instead of failing every request. (The HTTP queue reads a driftqd by consume instead.)
            Err(RunsError::Queue(QueueError::Unsupported(what))) => {
                tracing::warn!("runs registry not rebuilt: broker lacks {what}");
            }
            other => other?,
        }
        Ok(service)
    }

    pub(crate) fn emitter(&self) -> &Emitter {
        &self.emitter
    }

    /// The server-wide settings.
    pub fn config(&self) -> &RunsConfig {
        &self.config
    }

    /// Notified after every event this process writes to `run_id`'s timeline (and, where the queue can watch
    /// it, after every event any process writes); its followers wait on it.
    pub fn follow(&self, run_id: &str) -> Arc<Followed> {
        self.emitter.follow(run_id)
    }

    /// The broker's health answer.
    pub async fn health(&self) -> Result<Value, QueueError> {
        self.emitter.queue.health().await
    }

    fn registry(&self) -> MutexGuard<'_, Registry> {
        // A panic while holding the lock cannot leave the registry half-updated in a way that matters more
        // than refusing service forever would: every apply is idempotent and re-read from the broker.
        self.registry.lock()
    }

    async fn ensure_topics(&self) -> Result<(), RunsError> {
        if !self.topics_ready.load(Ordering::Acquire) {
            for topic in [COMMANDS_TOPIC, DLQ_TOPIC, INDEX_TOPIC] {
                self.emitter.queue.create_topic(topic, 1).await?;
            }
            self.topics_ready.store(true, Ordering::Release);
        }
        Ok(())
    }

    /// Reads every message of partition 0 of `topic` from `from` on.
    async fn read_from(
        &self,
        topic: &str,
        from: u64,
    ) -> Result<Vec<dq_proto::runs::ReadItem>, QueueError> {
        let mut out = Vec::new();
        let mut next = from;
        loop {
            let page = self.emitter.queue.read(topic, 0, next, READ_PAGE).await?;
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

    /// [`Self::read_from`], where a topic not created yet reads as empty.
    async fn read_existing(
        &self,
        topic: &str,
        from: u64,
    ) -> Result<Vec<dq_proto::runs::ReadItem>, QueueError> {
        match self.read_from(topic, from).await {
            Err(QueueError::UnknownTopic(_)) => Ok(Vec::new()),
            other => other,
        }
    }

    /// Applies what was appended to `runs.index` and `runs.dlq` since the last catch-up.
    async fn catch_up(&self) -> Result<(), RunsError> {
        // `runs.dlq` is read before `runs.index`: a DLQ record is written after its run's index record, so every
        // DLQ record read here finds its run in the index read after it (a DLQ record of a run the index does
        // not know is skipped for good).
        let dlq_from = self.registry().dlq_next;
        let dlq = self.read_existing(DLQ_TOPIC, dlq_from).await?;
        let index_from = self.registry().index_next;
        let index = self.read_existing(INDEX_TOPIC, index_from).await?;
        let mut registry = self.registry();
        // Anyone may write to these topics: the registry skips (and logs once) what does not validate.
        for item in index {
            let record =
                serde_json::from_str::<IndexRecord>(&item.value).map_err(|e| e.to_string());
            registry.apply_index_at(item.offset, record);
        }
        for item in dlq {
            let record = serde_json::from_str::<DlqRecord>(&item.value).map_err(|e| e.to_string());
            registry.apply_dlq_at(item.offset, record);
        }
        Ok(())
    }

    /// Catch-up where the broker allows it; a broker without reads serves what this process knows.
    async fn catch_up_if_supported(&self) -> Result<(), RunsError> {
        match self.catch_up().await {
            Err(RunsError::Queue(QueueError::Unsupported(_))) => Ok(()),
            other => other,
        }
    }

    fn validate(
        &self,
        workflow: &str,
        fail_at: Option<&str>,
        input: &Map<String, Value>,
        max_attempts: Option<u32>,
    ) -> Result<(), RunsError> {
        let steps = self
            .config
            .workflows
            .get(workflow)
            .ok_or_else(|| RunsError::UnknownWorkflow {
                workflow: workflow.to_owned(),
                known: self.config.workflows.names(),
            })?
            .step_names();
        if let Some(step) = fail_at
            && !steps.contains(&step)
        {
            return Err(RunsError::InvalidFailAt {
                fail_at: step.to_owned(),
                workflow: workflow.to_owned(),
                steps: steps.join(", "),
            });
        }
        if let Some(n) = max_attempts {
            validate_max_attempts(n).map_err(RunsError::InvalidMaxAttempts)?;
        }
        let size = serde_json::to_vec(input).map_or(usize::MAX, |v| v.len());
        if size > self.config.max_input_bytes {
            return Err(RunsError::InputTooLarge {
                size,
                limit: self.config.max_input_bytes,
            });
        }
        Ok(())
    }

    /// A replay's `from` must name a step of the run's workflow (known to be valid: [`Self::validate`] ran).
    fn validate_from(&self, workflow: &str, from: Option<&str>) -> Result<(), RunsError> {
        let (Some(from), Some(known)) = (from, self.config.workflows.get(workflow)) else {
            return Ok(());
        };
        if known.step(from).is_none() {
            return Err(RunsError::InvalidFrom {
                from: from.to_owned(),
                workflow: workflow.to_owned(),
                steps: known.step_names().join(", "),
            });
        }
        Ok(())
    }

    /// The workflows runs may name (`GET /workflows`).
    pub fn workflows(&self) -> dq_proto::workflow::WorkflowList {
        self.config.workflows.list()
    }

    /// Starts a run: `runs.index` record, `run.created`, then the command.
    pub async fn create_run(&self, request: CreateRun) -> Result<CreateRunResponse, RunsError> {
        self.validate(
            &request.workflow,
            request.fail_at.as_deref(),
            &request.input,
            request.max_attempts,
        )?;
        self.ensure_topics().await?;
        self.admit().await?;
        let run_id = uuid::Uuid::new_v4().simple().to_string();
        let topic = events_topic(&run_id);
        let ts = now_ms();
        // Its timeline is kept from the start for the client that started it, which follows it next.
        self.emitter.hub.retain(&run_id);
        // The timeline topic first, then the writes of `enqueue`, all durable together.
        let mut writes = self.emitter.pipeline();
        writes.create_topic(&topic).await?;
        let record = IndexRecord::Created {
            run_id: run_id.clone(),
            workflow: request.workflow.clone(),
            input: request.input.clone(),
            fail_at: request.fail_at.clone(),
            max_attempts: request.max_attempts,
            ts,
        };
        let created = Event::lifecycle(
            ts,
            run_id.clone(),
            0,
            EventBody::RunCreated {
                workflow: Some(request.workflow.clone()),
            },
        );
        let command = RunCommand {
            ts,
            kind: "run.command".to_owned(),
            run_id: run_id.clone(),
            workflow: request.workflow,
            input: request.input,
            fail_at: request.fail_at,
            replay_seq: 0,
            max_attempts: request.max_attempts,
            replay: false,
            from: None,
        };
        self.enqueue(writes, record, &created, &command, "created")
            .await?;
        Ok(CreateRunResponse {
            run_id,
            events_topic: topic,
        })
    }

    /// Writes a start or a replay after whatever `writes` holds: its `runs.index` record, its timeline event and
    /// its command, keyed `idx:<run>:<tag>`, `evt:<run>:<tag>` and `cmd:<run>:<replay_seq>`, durable together
    /// (the command becomes visible to a worker only once durable, and so is everything before it); then the
    /// registry learns of it. The index record comes first: a run the worker may execute is always a run the
    /// registry can find in `runs.index`.
    async fn enqueue(
        &self,
        mut writes: Pipeline<'_>,
        record: IndexRecord,
        event: &Event,
        command: &RunCommand,
        tag: &str,
    ) -> Result<(), RunsError> {
        let run_id = &command.run_id;
        let indexed = writes.produce(
            INDEX_TOPIC,
            run_id,
            &record,
            Some(format!("idx:{run_id}:{tag}")),
        )?;
        writes.emit(event, Some(format!("evt:{run_id}:{tag}")))?;
        let seq = command.replay_seq;
        writes.produce(
            COMMANDS_TOPIC,
            run_id,
            command,
            Some(format!("cmd:{run_id}:{seq}")),
        )?;
        let stored = writes.flush_stored().await?;
        let mut registry = self.registry();
        // Where it was stored, so that a catch-up does not read it back (see `Registry::apply_own_index`).
        let offset = stored.get(indexed).and_then(|outcome| outcome.offset);
        registry.apply_own_index(offset, record);
        // Its timeline topic was just written to.
        registry.confirm(run_id);
        Ok(())
    }

    /// Replays a run with `replay_seq + 1`: `fail_at` inherited (key absent), cleared (`null`) or overridden;
    /// its input is the original input + this replay's `input` overrides (with `keep_overrides`: the previous
    /// replay's input + these), never anything else: the replay marker is on the command (`"replay": true`),
    /// not in the input; `max_attempts` overridden or inherited.
    ///
    /// Refused with [`RunsError::ReplayInFlight`] while the run or an earlier replay is in flight (queued,
    /// running or retrying), unless `force`: then the chain in flight is superseded (a `run.superseded` event
    /// before the `run.replay_requested`), its worker stops at the next step boundary, and the registry ignores
    /// whatever it still writes. The check and the seq reservation happen under the registry lock, so of two
    /// replays asked for at once exactly one is accepted.
    pub async fn replay(
        &self,
        run_id: &str,
        request: ReplayRequest,
    ) -> Result<ReplayResponse, RunsError> {
        self.known(run_id).await?;
        let _writable = self.archive.writable(&self.registry, run_id).await?;
        // The check below reads the status as of the timeline now.
        self.refresh(run_id).await?;
        let plan = {
            let mut registry = self.registry();
            let entry = registry
                .runs
                .get_mut(run_id)
                .ok_or(RunsError::RunNotFound)?;
            let fail_at = match request.fail_at {
                None => entry.fail_at.clone(),
                Some(fail_at) => fail_at,
            };
            let overrides = request.input.unwrap_or_default();
            let mut input = match entry.latest() {
                Some(previous) if request.keep_overrides => previous.input.clone(),
                _ => entry.input.clone(),
            };
            input.extend(overrides.clone());
            // An inherited limit recorded before the upper bound existed is clamped, not refused: only what
            // this request asks for is validated.
            let max_attempts = request
                .max_attempts
                .or(entry.max_attempts.map(|n| n.min(MAX_ATTEMPTS_LIMIT)));
            let workflow = entry.workflow.clone();
            // Validate before reserving, so that a rejected replay does not burn a seq.
            self.validate(&workflow, fail_at.as_deref(), &input, max_attempts)?;
            self.validate_from(&workflow, request.from.as_deref())?;
            let superseded = entry.in_flight();
            if superseded.is_some() && !request.force {
                return Err(RunsError::ReplayInFlight(
                    entry.in_flight_message(self.config.max_attempts),
                ));
            }
            entry.reserved_seq += 1;
            ReplayPlan {
                seq: entry.reserved_seq,
                superseded,
                workflow,
                fail_at,
                input,
                max_attempts,
                overrides,
                keep_overrides: request.keep_overrides,
                from: request.from,
            }
        };
        let seq = plan.seq;
        let fail_at = plan.fail_at.clone();
        if let Err(e) = self.write_replay(run_id, plan).await {
            // Nothing of it reached the registry: hand the seq back, so that the run is not left "queued" for a
            // replay that does not exist (a retry then writes with the same idempotency keys).
            let mut registry = self.registry();
            if let Some(entry) = registry.runs.get_mut(run_id)
                && entry.reserved_seq == seq
                && !entry.replays.iter().any(|r| r.seq == seq)
            {
                entry.reserved_seq = seq - 1;
            }
            return Err(e);
        }
        Ok(ReplayResponse {
            ok: true,
            run_id: run_id.to_owned(),
            seq,
            fail_at,
        })
    }

    /// The writes of a replay, after `run.superseded` when it supersedes the chain in flight.
    async fn write_replay(&self, run_id: &str, plan: ReplayPlan) -> Result<(), RunsError> {
        let ReplayPlan {
            seq,
            superseded,
            workflow,
            fail_at,
            input,
            max_attempts,
            overrides,
            keep_overrides,
            from,
        } = plan;
        self.ensure_topics().await?;
        let ts = now_ms();
        let record = IndexRecord::Replay {
            run_id: run_id.to_owned(),
            seq,
            fail_at: fail_at.clone(),
            input: input.clone(),
            max_attempts,
            ts,
            overrides,
            keep_overrides,
        };
        let requested = Event::lifecycle(
            ts,
            run_id,
            seq,
            EventBody::ReplayRequested {
                seq,
                fail_at: fail_at.clone(),
            },
        );
        let command = RunCommand {
            ts,
            kind: "run.command".to_owned(),
            run_id: run_id.to_owned(),
            workflow,
            input,
            fail_at,
            replay_seq: seq,
            max_attempts,
            replay: true,
            from,
        };
        let mut writes = self.emitter.pipeline();
        if let Some(old) = superseded {
            let event = Event::lifecycle(ts, run_id, old, EventBody::Superseded { by: seq });
            writes.emit(&event, Some(format!("evt:{run_id}:superseded:{old}")))?;
        }
        self.enqueue(
            writes,
            record,
            &requested,
            &command,
            &format!("replay:{seq}"),
        )
        .await
    }

    /// Whether the run exists. A run this process has not seen yet (created through another server on the
    /// same broker) is looked up in `runs.index` first.
    ///
    /// An ill-formed id (see [`validate_run_id`]) is an error, not a missing run: it could never name a run.
    pub async fn exists(&self, run_id: &str) -> Result<bool, RunsError> {
        validate_run_id(run_id).map_err(RunsError::InvalidRunId)?;
        if !self.registry().runs.contains_key(run_id) {
            self.catch_up_if_supported().await?;
        }
        match self.confirm(run_id).await {
            Ok(()) => Ok(true),
            Err(RunsError::RunNotFound) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Makes sure a run's timeline topic exists, once per run and process: a run without one came from a forged
    /// `runs.index` record and is forgotten ([`RunsError::RunNotFound`]).
    async fn confirm(&self, run_id: &str) -> Result<(), RunsError> {
        let confirmed = {
            let registry = self.registry();
            let entry = registry.runs.get(run_id).ok_or(RunsError::RunNotFound)?;
            entry.confirmed
        };
        if confirmed {
            Ok(())
        } else {
            self.refresh(run_id).await
        }
    }

    async fn known(&self, run_id: &str) -> Result<(), RunsError> {
        if self.exists(run_id).await? {
            Ok(())
        } else {
            Err(RunsError::RunNotFound)
        }
    }

    /// The run's events with a sequence number above `after` (all of them without it), oldest first.
    pub async fn timeline(
        &self,
        run_id: &str,
        after: Option<u64>,
    ) -> Result<Vec<TimelineItem>, RunsError> {
        self.known(run_id).await?;
        let from = after.map_or(0, |seq| seq + 1);
        let items = match self.archive.timeline(&self.registry, run_id, from).await {
            Err(QueueError::UnknownTopic(_)) => Vec::new(),
            other => other?,
        };
        Ok(items
            .into_iter()
            .filter_map(|item| {
                serde_json::from_str::<Event>(&item.value)
                    .inspect_err(|e| {
                        tracing::debug!(run_id, offset = item.offset, "skipping non-event: {e}");
                    })
                    .ok()
                    .map(|event| TimelineItem {
                        seq: item.offset,
                        event,
                    })
            })
            .collect())
    }

    /// Folds what is new in the run's timeline into its status. A run whose timeline topic turns out not to
    /// exist before it was ever confirmed is forgotten (see [`crate::registry`]): [`RunsError::RunNotFound`].
    pub(crate) async fn refresh(&self, run_id: &str) -> Result<(), RunsError> {
        let from = {
            let registry = self.registry();
            let entry = registry.runs.get(run_id).ok_or(RunsError::RunNotFound)?;
            if entry.settled() {
                return Ok(());
            }
            entry.fold.next_offset
        };
        let read = self.archive.timeline(&self.registry, run_id, from).await;
        let mut registry = self.registry();
        let items = match read {
            Err(QueueError::UnknownTopic(_)) => {
                if registry
                    .runs
                    .get(run_id)
                    .is_some_and(|entry| !entry.confirmed)
                {
                    registry.forget(run_id);
                    return Err(RunsError::RunNotFound);
                }
                Vec::new()
            }
            // A broker without reads cannot tell: what this process knows stands.
            Err(QueueError::Unsupported(_)) => Vec::new(),
            other => other?,
        };
        registry.confirm(run_id);
        if let Some(entry) = registry.runs.get_mut(run_id) {
            for item in items {
                if let Ok(event) = serde_json::from_str::<Event>(&item.value) {
                    entry.fold.apply(item.offset, &event);
                    entry.endings.observe(&event, entry.fold.state.replay_seq);
                }
            }
        }
        Ok(())
    }
}

/// A replay accepted and numbered under the registry lock, to be written.
struct ReplayPlan {
    seq: u64,
    /// The start or replay in flight that this one supersedes (`force`).
    superseded: Option<u64>,
    workflow: String,
    fail_at: Option<String>,
    /// The replay's whole input: the original (or, with `keep_overrides`, the previous replay's) + `overrides`.
    input: Map<String, Value>,
    max_attempts: Option<u32>,
    overrides: Map<String, Value>,
    keep_overrides: bool,
    /// The step to run from.
    from: Option<String>,
}
