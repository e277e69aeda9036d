//! [`RunsService`]: starts and replays runs, appends events, reads timelines and DLQ records, and answers
//! from the run registry (see [`crate::registry`] for how the registry is kept durable and rebuilt).
//!
//! It writes exactly what the original starter wrote (`run.created` + a `run.command` on start,
//! `run.replay_requested` + a `run.command` on replay, with the original idempotency keys), preceded by one
//! compact `runs.index` record. It never executes a run: that is the worker's job.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use dq_proto::runs::{
    COMMANDS_TOPIC, CreateRun, CreateRunResponse, DLQ_TOPIC, DlqRecord, Event, ReplayRequest,
    ReplayResponse, RunCommand, RunDetail, RunStatus, RunSummary, TimelineItem, events_topic,
    workflow_steps,
};
use parking_lot::{Mutex, MutexGuard};
use serde_json::{Map, Value};
use tokio::sync::Notify;

use crate::emitter::Pipeline;
use crate::emitter::{Emitter, now_ms};
use crate::queue::Queue;
use crate::registry::{FoldEvent, IndexRecord, Registry};
use crate::{QueueError, RunsConfig, RunsError};

/// The compact, durable index of runs and replays (one partition, written by the runs service only).
pub const INDEX_TOPIC: &str = "runs.index";

/// How many messages one read asks for.
const READ_PAGE: usize = 1000;

/// The runs service. Cheap to share as `Arc<RunsService>`.
pub struct RunsService {
    emitter: Emitter,
    config: RunsConfig,
    registry: Mutex<Registry>,
    /// Whether this process made sure the runs topics exist.
    topics_ready: AtomicBool,
}

impl RunsService {
    /// Rebuilds the registry from `runs.index` and `runs.dlq`. The runs topics are created with the first
    /// run, so that a broker nobody starts runs on stays empty.
    pub async fn open(queue: Arc<dyn Queue>, config: RunsConfig) -> Result<Arc<Self>, RunsError> {
        let service = Arc::new(Self {
            emitter: Emitter::new(queue),
            config,
            registry: Mutex::new(Registry::default()),
            topics_ready: AtomicBool::new(false),
        });
        match service.catch_up().await {
            // Against a broker without reads (a real driftqd) the registry starts empty and holds what this
            // process creates; say so once instead of failing every request.
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

    /// Notified after every event this process writes to `run_id`'s timeline; its followers wait on it.
    pub fn follow(&self, run_id: &str) -> Arc<Notify> {
        self.emitter.hub.follow(run_id)
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
        let index_from = self.registry().index_next;
        let index = self.read_existing(INDEX_TOPIC, index_from).await?;
        let dlq_from = self.registry().dlq_next;
        let dlq = self.read_existing(DLQ_TOPIC, dlq_from).await?;
        let mut registry = self.registry();
        for item in index {
            match serde_json::from_str::<IndexRecord>(&item.value) {
                Ok(record) => registry.apply_index_at(item.offset, record),
                Err(e) => {
                    tracing::warn!(offset = item.offset, "skipping bad runs.index record: {e}")
                }
            }
        }
        for item in dlq {
            // Anyone may write to runs.dlq; like the original, records that are not DLQ records are skipped.
            let record = serde_json::from_str::<DlqRecord>(&item.value)
                .inspect_err(|e| {
                    tracing::debug!(offset = item.offset, "skipping runs.dlq message: {e}")
                })
                .ok();
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
        let steps = workflow_steps(workflow).ok_or_else(|| RunsError::UnknownWorkflow {
            workflow: workflow.to_owned(),
            known: dq_proto::runs::DEMO_WORKFLOW.to_owned(),
        })?;
        if let Some(step) = fail_at
            && !steps.contains(&step)
        {
            return Err(RunsError::InvalidFailAt {
                fail_at: step.to_owned(),
                workflow: workflow.to_owned(),
                steps: steps.join(", "),
            });
        }
        if max_attempts == Some(0) {
            return Err(RunsError::InvalidMaxAttempts);
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

    /// Starts a run: `runs.index` record, `run.created`, then the command.
    pub async fn create_run(&self, request: CreateRun) -> Result<CreateRunResponse, RunsError> {
        self.validate(
            &request.workflow,
            request.fail_at.as_deref(),
            &request.input,
            request.max_attempts,
        )?;
        self.ensure_topics().await?;
        let run_id = uuid::Uuid::new_v4().simple().to_string();
        let topic = events_topic(&run_id);
        let ts = now_ms();
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
        let created = Event::new(ts, "run.created", run_id.clone())
            .with("workflow", request.workflow.clone());
        let command = RunCommand {
            ts,
            kind: "run.command".to_owned(),
            run_id: run_id.clone(),
            workflow: request.workflow,
            input: request.input,
            fail_at: request.fail_at,
            replay_seq: 0,
            max_attempts: request.max_attempts,
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
        writes
            .produce(
                INDEX_TOPIC,
                run_id,
                &record,
                Some(format!("idx:{run_id}:{tag}")),
            )
            .await?;
        writes
            .emit(event, Some(format!("evt:{run_id}:{tag}")))
            .await?;
        let seq = command.replay_seq;
        writes
            .produce(
                COMMANDS_TOPIC,
                run_id,
                command,
                Some(format!("cmd:{run_id}:{seq}")),
            )
            .await?;
        writes.flush().await?;
        self.registry().apply_index(record);
        Ok(())
    }

    /// Replays a run with `replay_seq + 1`: `fail_at` inherited (key absent), cleared (`null`) or overridden;
    /// `input` overrides merged over the original input (with `"replay": true`, as the original's replay
    /// input); `max_attempts` overridden or inherited.
    pub async fn replay(
        &self,
        run_id: &str,
        request: ReplayRequest,
    ) -> Result<ReplayResponse, RunsError> {
        self.known(run_id).await?;
        let (seq, workflow, fail_at, input, max_attempts) = {
            let mut registry = self.registry();
            let entry = registry
                .runs
                .get_mut(run_id)
                .ok_or(RunsError::RunNotFound)?;
            let fail_at = match request.fail_at {
                None => entry.fail_at.clone(),
                Some(fail_at) => fail_at,
            };
            let mut input = entry.input.clone();
            input.insert("replay".to_owned(), Value::Bool(true));
            input.extend(request.input.unwrap_or_default());
            let max_attempts = request.max_attempts.or(entry.max_attempts);
            let workflow = entry.workflow.clone();
            // Validate before reserving, so that a rejected replay does not burn a seq.
            self.validate(&workflow, fail_at.as_deref(), &input, max_attempts)?;
            entry.reserved_seq += 1;
            (entry.reserved_seq, workflow, fail_at, input, max_attempts)
        };
        self.ensure_topics().await?;
        let ts = now_ms();
        let record = IndexRecord::Replay {
            run_id: run_id.to_owned(),
            seq,
            fail_at: fail_at.clone(),
            input: input.clone(),
            max_attempts,
            ts,
        };
        let requested = Event::new(ts, "run.replay_requested", run_id)
            .with("seq", seq)
            .with("fail_at", fail_at.clone());
        let command = RunCommand {
            ts,
            kind: "run.command".to_owned(),
            run_id: run_id.to_owned(),
            workflow,
            input,
            fail_at: fail_at.clone(),
            replay_seq: seq,
            max_attempts,
        };
        let writes = self.emitter.pipeline();
        self.enqueue(
            writes,
            record,
            &requested,
            &command,
            &format!("replay:{seq}"),
        )
        .await?;
        Ok(ReplayResponse {
            ok: true,
            run_id: run_id.to_owned(),
            seq,
            fail_at,
        })
    }

    /// Whether the run exists. A run this process has not seen yet (created through another server on the
    /// same broker) is looked up in `runs.index` first.
    pub async fn exists(&self, run_id: &str) -> Result<bool, RunsError> {
        if self.registry().runs.contains_key(run_id) {
            return Ok(true);
        }
        self.catch_up_if_supported().await?;
        Ok(self.registry().runs.contains_key(run_id))
    }

    async fn known(&self, run_id: &str) -> Result<(), RunsError> {
        if self.exists(run_id).await? {
            Ok(())
        } else {
            Err(RunsError::RunNotFound)
        }
    }

    /// Pushes any JSON object into the run's timeline; `ts`, `run_id` and `type` (`"custom"`) are filled in
    /// when missing so that every stored event keeps the starter's three fields.
    pub async fn emit(&self, run_id: &str, mut event: Map<String, Value>) -> Result<(), RunsError> {
        self.known(run_id).await?;
        event.entry("ts").or_insert_with(|| Value::from(now_ms()));
        event.entry("type").or_insert_with(|| Value::from("custom"));
        event.entry("run_id").or_insert_with(|| Value::from(run_id));
        let event: Event = serde_json::from_value(Value::Object(event))
            .map_err(|e| QueueError::Protocol(format!("event: {e}")))?;
        let mut event = event;
        // The timeline topic is the run's own: an event naming another run still lands here.
        let named = std::mem::replace(&mut event.run_id, run_id.to_owned());
        if named != run_id {
            event
                .extra
                .insert("emitted_run_id".to_owned(), Value::from(named));
        }
        self.emitter.emit(&event, None).await
    }

    /// The run's events with a sequence number above `after` (all of them without it), oldest first.
    pub async fn timeline(
        &self,
        run_id: &str,
        after: Option<u64>,
    ) -> Result<Vec<TimelineItem>, RunsError> {
        self.known(run_id).await?;
        let from = after.map_or(0, |seq| seq + 1);
        let items = match self.read_from(&events_topic(run_id), from).await {
            Err(QueueError::UnknownTopic(_)) => Vec::new(),
            other => other?,
        };
        Ok(items
            .into_iter()
            .filter_map(|item| {
                serde_json::from_str::<Event>(&item.value)
                    .inspect_err(|e| {
                        tracing::debug!(run_id, offset = item.offset, "skipping non-event: {e}")
                    })
                    .ok()
                    .map(|event| TimelineItem {
                        seq: item.offset,
                        event,
                    })
            })
            .collect())
    }

    /// Folds what is new in the run's timeline into its status.
    async fn refresh(&self, run_id: &str) -> Result<(), RunsError> {
        let from = {
            let registry = self.registry();
            let entry = registry.runs.get(run_id).ok_or(RunsError::RunNotFound)?;
            if entry.settled() {
                return Ok(());
            }
            entry.fold.next_offset
        };
        let items = match self.read_from(&events_topic(run_id), from).await {
            Err(QueueError::UnknownTopic(_) | QueueError::Unsupported(_)) => Vec::new(),
            other => other?,
        };
        let mut registry = self.registry();
        if let Some(entry) = registry.runs.get_mut(run_id) {
            for item in items {
                if let Ok(event) = serde_json::from_str::<FoldEvent>(&item.value) {
                    entry.fold.apply(item.offset, &event);
                }
            }
        }
        Ok(())
    }

    /// One run with its status, input and replays.
    pub async fn run(&self, run_id: &str) -> Result<RunDetail, RunsError> {
        self.known(run_id).await?;
        self.refresh(run_id).await?;
        let registry = self.registry();
        let entry = registry.runs.get(run_id).ok_or(RunsError::RunNotFound)?;
        Ok(entry.detail())
    }

    /// Runs, newest first, optionally only those with `status`, at most `limit`.
    pub async fn list_runs(
        &self,
        status: Option<RunStatus>,
        limit: usize,
    ) -> Result<Vec<RunSummary>, RunsError> {
        self.catch_up_if_supported().await?;
        let ids: Vec<String> = self
            .registry()
            .newest_first()
            .into_iter()
            .map(|entry| entry.run_id.clone())
            .collect();
        let mut out = Vec::new();
        for id in ids {
            if out.len() >= limit {
                break;
            }
            self.refresh(&id).await?;
            let registry = self.registry();
            if let Some(entry) = registry.runs.get(&id)
                && status.is_none_or(|s| s == entry.fold.status)
            {
                out.push(entry.summary());
            }
        }
        Ok(out)
    }

    /// DLQ records, newest first, optionally of one run or workflow, at most `limit`.
    pub async fn dlq_list(
        &self,
        run_id: Option<&str>,
        workflow: Option<&str>,
        limit: usize,
    ) -> Result<Vec<DlqRecord>, RunsError> {
        self.catch_up_if_supported().await?;
        let registry = self.registry();
        Ok(registry
            .dlq
            .iter()
            .rev()
            .filter(|r| run_id.is_none_or(|id| r.run_id == id))
            .filter(|r| workflow.is_none_or(|w| r.workflow == w))
            .take(limit)
            .cloned()
            .collect())
    }

    /// The oldest `limit` DLQ records, as the original's peek.
    pub async fn dlq_peek(&self, limit: usize) -> Result<Vec<DlqRecord>, RunsError> {
        self.catch_up_if_supported().await?;
        Ok(self.registry().dlq.iter().take(limit).cloned().collect())
    }

    /// The latest DLQ record of a run.
    pub async fn dlq_for_run(&self, run_id: &str) -> Result<DlqRecord, RunsError> {
        self.dlq_list(Some(run_id), None, 1)
            .await?
            .pop()
            .ok_or(RunsError::NoDlqRecord)
    }
}
