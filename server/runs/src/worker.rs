//! The worker: consumes `runs.commands` as a member of its group, executes each command's workflow step by
//! step, emits the original starter's events in its order (typed by `dq_proto::event`, each with its
//! `replay_seq`), and settles the command (ack on success or after dead-lettering, nack with the backoff as
//! delay between attempts).
//!
//! Attempts count failures, not deliveries. The attempt number is 1 + the `run.attempt_failed` events of this
//! (run, replay_seq) in the run's timeline, read on each redelivery, so it survives a kill -9 and works over
//! every queue. A delivery the timeline does not account for (the broker delivered the command more often than
//! attempts failed or were abandoned) is an attempt abandoned by a worker that vanished: a server restart, or
//! a lease that expired. Each is recorded as `run.attempt_abandoned` {attempt, replay_seq, reason, abandoned,
//! max_abandoned} and counts against `max_abandoned`, not `max_attempts`; a worker shutting down records its
//! own. The DLQ record's `reason` names the budget that ran out: `max_attempts` or `max_abandoned`. A queue
//! without reads falls back to the broker's delivery count (the HTTP queue reads a driftqd by consume).
//!
//! Why it is safe to kill at any point:
//! - The failure and abandon counts live in the timeline, so a restarted worker continues them.
//! - Every event and the DLQ record carry idempotency keys derived from (run, replay_seq, attempt, type,
//!   step), and from the abandon count for an attempt run again after an abandon; a redelivered command whose
//!   budget is already spent skips straight to dead-lettering with the same keys as before, so the DLQ
//!   record, `run.dlq` and `run.failed` exist once per (run, replay_seq); a redelivered command that already
//!   succeeded is only acked.
//! - A delivery that is not a valid run command (bad JSON, wrong types, an ill-formed run id) is *poison*: it
//!   is copied to `runs.commands.poison` (created on first use, written idempotently, keyed by its offset)
//!   and acked, with one warning. It never becomes a run, a timeline or a DLQ record, and it is never retried (with no backoff it would spin).
//! - A command whose run has a newer replay (a `run.replay_requested` with a higher seq in its timeline: a
//!   forced replay superseded it, see `run.superseded`) is acked without writing anything more; the worker
//!   looks before the attempt, before each step and before settling, so a superseded chain stops at the next
//!   step boundary. What it writes in between is ignored by the registry (lower `replay_seq`).
//! - A command is acked only after its final events are durable; a crash before that means redelivery. Events
//!   are written without waiting and made durable together ([`Pipeline`]) before a settle or a pretend-work
//!   pause, so a run costs a few fsync waits, not one per event.

use std::sync::Arc;
use std::time::Duration;

use dq_proto::broker::ConsumeItem;
use dq_proto::event::{Event, EventBody};
use dq_proto::runs::{
    COMMANDS_TOPIC, DEMO_STEPS, DLQ_TOPIC, DlqRecord, MAX_ATTEMPTS_LIMIT, POISON_TOPIC, RunCommand,
    events_topic, validate_run_id, workflow_steps,
};
use futures::StreamExt;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::emitter::{Emitter, Pipeline, now_ms};
use crate::queue::{ConsumeSpec, Outgoing};
use crate::{QueueError, RunsConfig, RunsError};

/// Pause before re-joining the group after the consume stream broke.
const RECONNECT_DELAY: Duration = Duration::from_millis(500);

/// Added to the pretend work of an attempt when sizing the lease.
const LEASE_MARGIN: Duration = Duration::from_secs(5);

/// `run.attempt_abandoned` reasons.
const ABANDONED_RESTART: &str = "redelivered after a restart";
const ABANDONED_LEASE: &str = "lease expired";
const ABANDONED_SHUTDOWN: &str = "worker shutting down";

/// The broker's reason for an expired lease, as it appears in a delivery's `last_error`.
const BROKER_ACK_TIMEOUT: &str = "ack_timeout";

/// DLQ reasons: which budget ran out.
const REASON_MAX_ATTEMPTS: &str = "max_attempts";
const REASON_MAX_ABANDONED: &str = "max_abandoned";

/// What a run's timeline says about the attempts of one replay.
#[derive(Debug, Default)]
struct History {
    /// Distinct attempts recorded as failed (`run.attempt_failed`).
    failures: u32,
    /// Their numbers.
    failed: std::collections::BTreeSet<u32>,
    /// The error of the last failed attempt.
    last_error: Option<String>,
    /// Attempts recorded as abandoned (`run.attempt_abandoned`).
    abandoned: u32,
    /// Of those, the ones whose lease expired.
    expired: u32,
    /// The last abandon's reason.
    last_abandon: Option<String>,
    /// Whether `run.succeeded` of this replay is there.
    succeeded: bool,
}

impl History {
    /// Folds the server-written events of `replay_seq`.
    #[cfg(test)]
    fn of(events: impl IntoIterator<Item = Event>, replay_seq: u64) -> Self {
        let mut history = Self::default();
        for event in events {
            history.observe(event, replay_seq);
        }
        history
    }

    /// Folds the next event of the timeline in, if it is a server-written one of `replay_seq`.
    fn observe(&mut self, event: Event, replay_seq: u64) {
        if !event.is_server_authored() || event.replay_seq != Some(replay_seq) {
            return;
        }
        match event.body {
            EventBody::AttemptFailed { attempt, error } => {
                self.failed.insert(attempt);
                self.failures = u32::try_from(self.failed.len()).unwrap_or(u32::MAX);
                self.last_error = Some(error);
            }
            EventBody::AttemptAbandoned { reason, .. } => {
                self.abandoned += 1;
                if reason == ABANDONED_LEASE {
                    self.expired += 1;
                }
                self.last_abandon = Some(reason);
            }
            EventBody::RunSucceeded {} => self.succeeded = true,
            _ => {}
        }
    }
}

/// Why each unaccounted delivery of a command was abandoned, oldest first: as many lease expiries as the
/// broker recorded beyond those already in the timeline (they are the later ones), restarts for the rest.
fn abandon_reasons(unaccounted: u32, last_error: &str, expired: u32) -> Vec<&'static str> {
    let expiries = u32::try_from(last_error.matches(BROKER_ACK_TIMEOUT).count())
        .unwrap_or(u32::MAX)
        .saturating_sub(expired)
        .min(unaccounted);
    let mut reasons = vec![ABANDONED_RESTART; (unaccounted - expiries) as usize];
    reasons.extend(std::iter::repeat_n(ABANDONED_LEASE, expiries as usize));
    reasons
}

/// The attempt a delivery executes.
struct Execution {
    /// The attempt number: 1 + the failed attempts of this replay.
    attempt: u32,
    /// Abandoned attempts of this replay so far.
    abandoned: u32,
    max_attempts: u32,
    max_abandoned: u32,
}

impl Execution {
    /// The idempotency-key tag of the attempt's events: `3`, or `3.2` when run again after the 2nd abandon, so
    /// that each execution of an attempt shows in the timeline.
    fn tag(&self) -> String {
        if self.abandoned == 0 {
            self.attempt.to_string()
        } else {
            format!("{}.{}", self.attempt, self.abandoned)
        }
    }
}

/// Which budget ran out, at which attempt, of how many: what a DLQ record says.
struct Budget<'a> {
    reason: &'a str,
    attempt: u32,
    max_attempts: u32,
}

impl Budget<'static> {
    /// All `max_attempts` attempts failed.
    fn attempts_spent(max_attempts: u32) -> Self {
        Self {
            reason: REASON_MAX_ATTEMPTS,
            attempt: max_attempts,
            max_attempts,
        }
    }
}

/// Why an attempt did not succeed.
enum AttemptError {
    /// The workflow failed: retry or dead-letter.
    Failed(String),
    /// The worker is shutting down: hand the command back.
    Cancelled,
    /// A newer replay of the run was requested: ack the command, write nothing more.
    Superseded,
    /// The broker failed while the attempt was emitting.
    Queue(RunsError),
}

impl From<RunsError> for AttemptError {
    fn from(error: RunsError) -> Self {
        Self::Queue(error)
    }
}

/// One worker: a group member executing up to `config.concurrency` commands at once.
pub(crate) struct Worker {
    emitter: Emitter,
    config: RunsConfig,
    spec: ConsumeSpec,
    shutdown: CancellationToken,
}

impl Worker {
    pub fn new(emitter: Emitter, config: RunsConfig, shutdown: CancellationToken) -> Self {
        let owner = format!(
            "{}-{}",
            config.group,
            &uuid::Uuid::new_v4().simple().to_string()[..12]
        );
        // A lease shorter than one attempt would hand a healthy run to another worker mid-way: keep it at least
        // twice the pretend work of the longest workflow plus a margin for slow writes.
        let work = config
            .step_delay
            .saturating_mul(u32::try_from(DEMO_STEPS.len() * 2).unwrap_or(u32::MAX));
        let spec = ConsumeSpec {
            topic: COMMANDS_TOPIC.to_owned(),
            group: config.group.clone(),
            owner,
            lease: config.lease.max(work + LEASE_MARGIN),
        };
        Self {
            emitter,
            config,
            spec,
            shutdown,
        }
    }

    /// Consumes until shutdown; then waits for the commands in progress to stop (they stop at the next step
    /// and hand their command back).
    pub async fn run(self) -> Result<(), RunsError> {
        for topic in [COMMANDS_TOPIC, DLQ_TOPIC] {
            self.emitter.queue.create_topic(topic, 1).await?;
        }
        let this = Arc::new(self);
        let permits = Arc::new(Semaphore::new(this.config.concurrency.max(1)));
        let mut tasks = JoinSet::new();
        tracing::info!(owner = %this.spec.owner, group = %this.spec.group, "worker consuming {COMMANDS_TOPIC}");
        'reconnect: while !this.shutdown.is_cancelled() {
            let mut deliveries = tokio::select! {
                () = this.shutdown.cancelled() => break,
                stream = this.emitter.queue.consume(&this.spec) => match stream {
                    Ok(stream) => stream,
                    Err(e) => {
                        tracing::warn!("worker cannot consume: {e}");
                        tokio::select! {
                            () = this.shutdown.cancelled() => break,
                            () = tokio::time::sleep(RECONNECT_DELAY) => continue,
                        }
                    }
                },
            };
            loop {
                // Take a permit before pulling: the broker keeps what this worker cannot run yet.
                let permit = tokio::select! {
                    () = this.shutdown.cancelled() => break 'reconnect,
                    permit = Arc::clone(&permits).acquire_owned() => match permit {
                        Ok(permit) => permit,
                        Err(_) => break 'reconnect,
                    },
                };
                let item = tokio::select! {
                    () = this.shutdown.cancelled() => break 'reconnect,
                    item = deliveries.next() => item,
                };
                // Reap finished tasks so the set does not grow with the number of commands handled.
                while tasks.try_join_next().is_some() {}
                match item {
                    Some(Ok(item)) => {
                        let worker = Arc::clone(&this);
                        tasks.spawn(async move {
                            worker.handle(item).await;
                            drop(permit);
                        });
                    }
                    Some(Err(e)) => {
                        tracing::warn!("consume stream failed: {e}");
                        break;
                    }
                    None => break,
                }
            }
            tokio::select! {
                () = this.shutdown.cancelled() => break,
                () = tokio::time::sleep(RECONNECT_DELAY) => {}
            }
        }
        while tasks.join_next().await.is_some() {}
        Ok(())
    }

    /// Executes one delivery and settles it.
    async fn handle(&self, item: ConsumeItem) {
        let command = match parse_command(&item.value) {
            Ok(command) => command,
            Err(reason) => {
                self.park(&item, &reason).await;
                return;
            }
        };
        // A limit outside 1..=100 (a forged command, or one written before the bound) is clamped: 2^31 would
        // make a run that never ends.
        let max_attempts = command
            .max_attempts
            .unwrap_or(self.config.max_attempts)
            .clamp(1, MAX_ATTEMPTS_LIMIT);
        let max_abandoned = self.config.max_abandoned.max(1);
        let mut chain = Chain::new(&command);
        if chain.superseded(&self.emitter).await {
            self.drop_superseded(&item, &command).await;
            return;
        }
        let delivery = item.attempts.max(1);
        // The first delivery of a command has no history; a redelivery reads the run's timeline.
        let history = if delivery == 1 {
            Some(History::default())
        } else {
            // The look for a newer replay above has just read the whole timeline.
            match chain.history() {
                Ok(history) => history.map(std::mem::take),
                Err(e) => {
                    tracing::warn!(run_id = %command.run_id, "cannot read the timeline: {e}");
                    let delay = self.backoff(delivery).max(RECONNECT_DELAY);
                    self.nack(&item, &e, delay).await;
                    return;
                }
            }
        };
        let mut writes = self.emitter.pipeline();
        let Some(history) = history else {
            // A broker without reads: the delivery count is all there is (as the original).
            if delivery > max_attempts {
                let error = last_reason(&item.last_error);
                let budget = Budget::attempts_spent(max_attempts);
                self.finish_dead(&mut writes, &item, &command, &budget, &error)
                    .await;
                return;
            }
            let run = Execution {
                attempt: delivery,
                abandoned: 0,
                max_attempts,
                max_abandoned,
            };
            self.execute(writes, &item, &mut chain, &command, &run)
                .await;
            return;
        };
        if history.succeeded {
            // A redelivery after the success was durable but before the ack.
            self.ack(&item).await;
            return;
        }
        let attempt = history.failures.saturating_add(1);
        if history.failures >= max_attempts {
            // A redelivery after the last failed attempt (a crash before the ack).
            let error = history
                .last_error
                .clone()
                .unwrap_or_else(|| last_reason(&item.last_error));
            let budget = Budget::attempts_spent(max_attempts);
            self.finish_dead(&mut writes, &item, &command, &budget, &error)
                .await;
            return;
        }
        // Deliveries the timeline does not account for were abandoned by a worker that vanished.
        let unaccounted = (delivery - 1).saturating_sub(history.failures + history.abandoned);
        let mut abandoned = history.abandoned;
        let mut last_abandon = history.last_abandon.clone();
        for reason in abandon_reasons(unaccounted, &item.last_error, history.expired) {
            if abandoned >= max_abandoned {
                break;
            }
            abandoned += 1;
            last_abandon = Some(reason.to_owned());
            let recorded = Self::emit_abandoned(
                &mut writes,
                &command,
                attempt,
                abandoned,
                max_abandoned,
                reason,
            )
            .await;
            if let Err(e) = recorded {
                tracing::warn!(run_id = %command.run_id, "recording an abandoned attempt: {e}");
                self.nack(&item, &e.to_string(), self.backoff(attempt))
                    .await;
                return;
            }
        }
        if abandoned >= max_abandoned {
            let error = format!(
                "attempt {attempt} abandoned {abandoned} times (last: {})",
                last_abandon.as_deref().unwrap_or(ABANDONED_RESTART)
            );
            let budget = Budget {
                reason: REASON_MAX_ABANDONED,
                attempt,
                max_attempts,
            };
            self.finish_dead(&mut writes, &item, &command, &budget, &error)
                .await;
            return;
        }
        let run = Execution {
            attempt,
            abandoned,
            max_attempts,
            max_abandoned,
        };
        self.execute(writes, &item, &mut chain, &command, &run)
            .await;
    }

    /// Runs one attempt and settles the delivery.
    async fn execute(
        &self,
        mut writes: Pipeline<'_>,
        item: &ConsumeItem,
        chain: &mut Chain,
        command: &RunCommand,
        run: &Execution,
    ) {
        let attempt = run.attempt;
        let outcome = match self.attempt(&mut writes, chain, command, run).await {
            // Acked only once every event of the attempt is durable.
            Ok(()) => writes.flush().await.map_err(AttemptError::Queue),
            Err(e) => Err(e),
        };
        match outcome {
            Ok(()) => self.ack(item).await,
            // Hand the command back at once rather than after the lease: the next worker continues it. The
            // attempt is recorded as abandoned (if that write fails, the next delivery records it).
            Err(AttemptError::Cancelled) => {
                let recorded = match Self::emit_abandoned(
                    &mut writes,
                    command,
                    attempt,
                    run.abandoned + 1,
                    run.max_abandoned,
                    ABANDONED_SHUTDOWN,
                )
                .await
                {
                    Ok(()) => writes.flush().await,
                    Err(e) => Err(e),
                };
                if let Err(e) = recorded {
                    tracing::debug!(run_id = %command.run_id, "events before the shutdown: {e}");
                }
                self.nack(item, ABANDONED_SHUTDOWN, Duration::ZERO).await;
            }
            Err(AttemptError::Superseded) => {
                if let Err(e) = writes.flush().await {
                    tracing::debug!(run_id = %command.run_id, "events before the supersede: {e}");
                }
                self.drop_superseded(item, command).await;
            }
            Err(AttemptError::Failed(_)) if chain.superseded(&self.emitter).await => {
                if let Err(e) = writes.flush().await {
                    tracing::debug!(run_id = %command.run_id, "events before the supersede: {e}");
                }
                self.drop_superseded(item, command).await;
            }
            Err(AttemptError::Queue(e)) => {
                tracing::warn!(run_id = %command.run_id, "attempt {attempt} could not write: {e}");
                self.nack(item, &e.to_string(), self.backoff(attempt)).await;
            }
            Err(AttemptError::Failed(error)) => {
                if let Err(e) = self.failed(&mut writes, item, command, run, &error).await {
                    tracing::warn!(run_id = %command.run_id, "recording failure of attempt {attempt}: {e}");
                    self.nack(item, &error, self.backoff(attempt)).await;
                }
            }
        }
    }

    /// Writes `run.attempt_abandoned`: the `abandoned`-th abandon of this replay, during attempt `attempt`,
    /// keyed by that ordinal.
    async fn emit_abandoned(
        writes: &mut Pipeline<'_>,
        command: &RunCommand,
        attempt: u32,
        abandoned: u32,
        max_abandoned: u32,
        reason: &str,
    ) -> Result<(), RunsError> {
        let body = EventBody::AttemptAbandoned {
            attempt,
            reason: reason.to_owned(),
            abandoned,
            max_abandoned,
        };
        let key = format!(
            "evt:{}:{}:{attempt}:{}:{abandoned}",
            command.run_id,
            command.replay_seq,
            body.kind()
        );
        let event = Event::lifecycle(now_ms(), &command.run_id, command.replay_seq, body);
        writes.emit(&event, Some(key)).await
    }

    /// Acks the command of a superseded chain, writing nothing.
    async fn drop_superseded(&self, item: &ConsumeItem, command: &RunCommand) {
        tracing::info!(
            run_id = %command.run_id,
            replay_seq = command.replay_seq,
            "a newer replay superseded this one: stopping"
        );
        self.ack(item).await;
    }

    /// Parks a poison delivery in `runs.commands.poison`, then acks it. If the copy cannot be written, the
    /// delivery is handed back for a later try (never sooner than a reconnect, even with no backoff).
    async fn park(&self, item: &ConsumeItem, reason: &str) {
        tracing::warn!(
            partition = item.partition,
            offset = item.offset,
            "parking a poison message of {COMMANDS_TOPIC} in {POISON_TOPIC}: {reason}"
        );
        let record = serde_json::json!({
            "ts": now_ms(),
            "type": "runs.commands.poison",
            "reason": reason,
            "topic": COMMANDS_TOPIC,
            "partition": item.partition,
            "offset": item.offset,
            // As consumed, which may not be JSON at all.
            "value": item.value,
        });
        let message = Outgoing {
            topic: POISON_TOPIC.to_owned(),
            key: None,
            value: record.to_string(),
            // A redelivery after a crash before the ack stores nothing new.
            idempotency_key: Some(format!("poison:{}:{}", item.partition, item.offset)),
        };
        let queue = &self.emitter.queue;
        let parked = match queue.produce(message.clone()).await {
            Err(QueueError::UnknownTopic(_)) => match queue.create_topic(POISON_TOPIC, 1).await {
                Ok(()) => queue.produce(message).await,
                Err(e) => Err(e),
            },
            other => other,
        };
        match parked {
            Ok(_) => self.ack(item).await,
            Err(e) => {
                tracing::warn!(offset = item.offset, "parking failed: {e}");
                let delay = self.backoff(item.attempts.max(1)).max(RECONNECT_DELAY);
                self.nack(item, &e.to_string(), delay).await;
            }
        }
    }

    fn backoff(&self, attempt: u32) -> Duration {
        self.config.backoff.saturating_mul(attempt)
    }

    /// Writes one event of the command's start or replay, keyed by (run, replay_seq, `tag`, type, step); durable
    /// at the next flush. The tag is the attempt number, with the abandon count after it for an attempt run
    /// again after an abandon (see [`Execution::tag`]).
    async fn emit(
        writes: &mut Pipeline<'_>,
        command: &RunCommand,
        tag: &str,
        body: EventBody,
    ) -> Result<(), RunsError> {
        let step = match &body {
            EventBody::StepStarted { step } | EventBody::StepCompleted { step } => {
                format!(":{step}")
            }
            _ => String::new(),
        };
        let key = format!(
            "evt:{}:{}:{tag}:{}{step}",
            command.run_id,
            command.replay_seq,
            body.kind()
        );
        let event = Event::lifecycle(now_ms(), &command.run_id, command.replay_seq, body);
        writes.emit(&event, Some(key)).await
    }

    /// One attempt: `worker.received`, `run.started`, the steps, `run.succeeded`. With pretend work, each step's
    /// `step.started` is made durable (and visible) before the work; without, one flush covers the attempt.
    async fn attempt(
        &self,
        writes: &mut Pipeline<'_>,
        chain: &mut Chain,
        command: &RunCommand,
        run: &Execution,
    ) -> Result<(), AttemptError> {
        let tag = &run.tag();
        let received = EventBody::WorkerReceived {
            attempt: run.attempt,
        };
        Self::emit(writes, command, tag, received).await?;
        let Some(steps) = workflow_steps(&command.workflow) else {
            return Err(AttemptError::Failed(format!(
                "unknown workflow {}",
                command.workflow
            )));
        };
        Self::emit(writes, command, tag, EventBody::RunStarted {}).await?;
        for step in steps {
            if chain.superseded(&self.emitter).await {
                return Err(AttemptError::Superseded);
            }
            let started = EventBody::StepStarted {
                step: (*step).to_owned(),
            };
            Self::emit(writes, command, tag, started).await?;
            if command.fail_at.as_deref() == Some(step) {
                return Err(AttemptError::Failed(format!("forced failure at {step}")));
            }
            if !self.config.step_delay.is_zero() {
                writes.flush().await?;
                tokio::select! {
                    () = self.shutdown.cancelled() => return Err(AttemptError::Cancelled),
                    () = tokio::time::sleep(self.config.step_delay) => {}
                }
            } else if self.shutdown.is_cancelled() {
                return Err(AttemptError::Cancelled);
            }
            let completed = EventBody::StepCompleted {
                step: (*step).to_owned(),
            };
            Self::emit(writes, command, tag, completed).await?;
        }
        if chain.superseded(&self.emitter).await {
            return Err(AttemptError::Superseded);
        }
        Self::emit(writes, command, tag, EventBody::RunSucceeded {}).await?;
        Ok(())
    }

    /// After a failed attempt: `run.attempt_failed`, then a retry (nack with backoff) or dead-lettering.
    async fn failed(
        &self,
        writes: &mut Pipeline<'_>,
        item: &ConsumeItem,
        command: &RunCommand,
        run: &Execution,
        error: &str,
    ) -> Result<(), RunsError> {
        let (attempt, max_attempts, tag) = (run.attempt, run.max_attempts, &run.tag());
        let failed = EventBody::AttemptFailed {
            attempt,
            error: error.to_owned(),
        };
        Self::emit(writes, command, tag, failed).await?;
        if attempt < max_attempts {
            let scheduled = EventBody::RetryScheduled {
                attempt: attempt + 1,
                max_attempts,
            };
            Self::emit(writes, command, tag, scheduled).await?;
            writes.flush().await?;
            // The broker holds the backoff (nack delay), so the worker's slot is free meanwhile.
            self.nack(item, error, self.backoff(attempt)).await;
        } else {
            // The last attempt failed: attempt == max_attempts.
            let budget = Budget::attempts_spent(max_attempts);
            self.finish_dead(writes, item, command, &budget, error)
                .await;
        }
        Ok(())
    }

    /// The DLQ record, `run.dlq`, `run.failed`, then the ack; on a write failure, a nack for another go.
    async fn finish_dead(
        &self,
        writes: &mut Pipeline<'_>,
        item: &ConsumeItem,
        command: &RunCommand,
        budget: &Budget<'_>,
        error: &str,
    ) {
        let dead = match Self::dead_letter(writes, item, command, budget, error).await {
            Ok(()) => writes.flush().await,
            Err(e) => Err(e),
        };
        match dead {
            Ok(()) => self.ack(item).await,
            Err(e) => {
                tracing::warn!(run_id = %command.run_id, "dead-lettering failed: {e}");
                self.nack(item, &e.to_string(), self.backoff(budget.attempt))
                    .await;
            }
        }
    }

    /// Keyed by (run, replay_seq, attempt): a redelivery whose budget is spent writes the same keys again.
    async fn dead_letter(
        writes: &mut Pipeline<'_>,
        item: &ConsumeItem,
        command: &RunCommand,
        budget: &Budget<'_>,
        error: &str,
    ) -> Result<(), RunsError> {
        let (attempt, max_attempts) = (budget.attempt, budget.max_attempts);
        let run_id = &command.run_id;
        let seq = command.replay_seq;
        let tag = &attempt.to_string();
        let dlq_idem = format!("dlq:{run_id}:{seq}:{attempt}");
        let record = DlqRecord {
            ts: now_ms(),
            kind: "runs.dlq".to_owned(),
            run_id: run_id.clone(),
            workflow: command.workflow.clone(),
            attempts: attempt,
            max_attempts,
            replay_seq: seq,
            reason: budget.reason.to_owned(),
            error: error.to_owned(),
            // The payload exactly as consumed, so that a replay tool sees what the worker saw.
            command: serde_json::from_str(&item.value)
                .unwrap_or_else(|_| serde_json::Value::String(item.value.clone())),
        };
        writes
            .produce(DLQ_TOPIC, run_id, &record, Some(dlq_idem.clone()))
            .await?;
        let dlq = EventBody::RunDlq {
            reason: budget.reason.to_owned(),
            dlq_topic: DLQ_TOPIC.to_owned(),
            dlq_idem,
        };
        Self::emit(writes, command, tag, dlq).await?;
        Self::emit(writes, command, tag, EventBody::RunFailed {}).await
    }

    async fn ack(&self, item: &ConsumeItem) {
        if let Err(e) = self
            .emitter
            .queue
            .ack(&self.spec, item.partition, item.offset)
            .await
        {
            tracing::warn!(offset = item.offset, "ack failed: {e}");
        }
    }

    async fn nack(&self, item: &ConsumeItem, reason: &str, delay: Duration) {
        if let Err(e) = self
            .emitter
            .queue
            .nack(&self.spec, item.partition, item.offset, reason, delay)
            .await
        {
            tracing::warn!(offset = item.offset, "nack failed: {e}");
        }
    }
}

/// A delivery's run command, or why it is not one: it must decode as a `run.command` and name a well-formed
/// run id (the id becomes a topic name and part of every key the worker writes).
fn parse_command(value: &str) -> Result<RunCommand, String> {
    let command =
        serde_json::from_str::<RunCommand>(value).map_err(|e| format!("not a run.command: {e}"))?;
    validate_run_id(&command.run_id)?;
    Ok(command)
}

/// The most recent failure reason the broker recorded for a delivery (it appends reasons).
fn last_reason(last_error: &str) -> String {
    last_error
        .rsplit(['\n', ';'])
        .map(str::trim)
        .find(|s| !s.is_empty())
        .unwrap_or("attempts exhausted")
        .to_owned()
}

/// What the worker knows of the timeline of a command's run: whether a newer replay than the command's was
/// requested since (then the command's chain is superseded), and the attempts of the command's replay so far
/// ([`History`]). Each look reads only what is new, so a delivery reads the timeline once.
struct Chain {
    topic: String,
    replay_seq: u64,
    next: u64,
    superseded: bool,
    /// The broker has no non-consuming reads: stop asking.
    blind: bool,
    /// Why the last look could not read on (what was read may be short of the timeline's end).
    unread: Option<String>,
    history: History,
}

/// Most events one look reads at a time.
const CHAIN_PAGE: usize = 1000;

impl Chain {
    fn new(command: &RunCommand) -> Self {
        Self {
            topic: events_topic(&command.run_id),
            replay_seq: command.replay_seq,
            next: 0,
            superseded: false,
            blind: false,
            unread: None,
            history: History::default(),
        }
    }

    /// Whether a newer replay of the run was requested. A broker that cannot be read (or fails) cannot tell:
    /// the chain goes on, and the registry still ignores what it writes once superseded.
    async fn superseded(&mut self, emitter: &Emitter) -> bool {
        self.unread = None;
        while !self.superseded && !self.blind {
            let page = match emitter
                .queue
                .read(&self.topic, 0, self.next, CHAIN_PAGE)
                .await
            {
                Ok(page) => page,
                // No timeline yet: nothing to know.
                Err(QueueError::UnknownTopic(_)) => break,
                Err(e) => {
                    self.blind = matches!(e, QueueError::Unsupported(_));
                    if !self.blind {
                        self.unread = Some(e.to_string());
                    }
                    tracing::debug!(topic = %self.topic, "cannot look for a newer replay: {e}");
                    break;
                }
            };
            for item in &page {
                self.next = item.offset + 1;
                let Ok(event) = serde_json::from_str::<Event>(&item.value) else {
                    continue;
                };
                let newer = event.is_server_authored()
                    && matches!(event.body,
                        EventBody::ReplayRequested { seq, .. } if seq > self.replay_seq);
                self.superseded |= newer;
                self.history.observe(event, self.replay_seq);
            }
            if page.len() < CHAIN_PAGE {
                break;
            }
        }
        self.superseded
    }

    /// The attempts of the command's replay as of the last look; `None` when the broker cannot read, an error
    /// when the last look could not read to the end.
    fn history(&mut self) -> Result<Option<&mut History>, String> {
        match &self.unread {
            Some(error) => Err(error.clone()),
            None if self.blind => Ok(None),
            None => Ok(Some(&mut self.history)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(replay_seq: u64, body: EventBody) -> Event {
        Event::lifecycle(1, "r", replay_seq, body)
    }

    fn failed(replay_seq: u64, attempt: u32, error: &str) -> Event {
        ev(
            replay_seq,
            EventBody::AttemptFailed {
                attempt,
                error: error.into(),
            },
        )
    }

    fn abandoned(reason: &str) -> Event {
        ev(
            0,
            EventBody::AttemptAbandoned {
                attempt: 1,
                reason: reason.into(),
                abandoned: 1,
                max_abandoned: 10,
            },
        )
    }

    #[test]
    fn history_counts_distinct_failures_and_abandons_of_its_replay_only() {
        let mut user = ev(0, EventBody::RunSucceeded {});
        user.source = Some(dq_proto::event::SOURCE_USER.to_owned());
        let mut unnamed = ev(0, EventBody::RunSucceeded {});
        unnamed.replay_seq = None;
        let events = [
            failed(0, 1, "e1"),
            failed(0, 1, "e1"),
            abandoned(ABANDONED_LEASE),
            abandoned(ABANDONED_RESTART),
            failed(1, 1, "e2"),
            ev(1, EventBody::RunSucceeded {}),
            // A success without replay_seq (written before dq added it) is nobody's, a user's is ignored.
            unnamed,
            user,
        ];
        let history = History::of(events.clone(), 0);
        assert_eq!(history.failures, 1);
        assert_eq!(history.last_error.as_deref(), Some("e1"));
        assert_eq!((history.abandoned, history.expired), (2, 1));
        assert_eq!(history.last_abandon.as_deref(), Some(ABANDONED_RESTART));
        assert!(!history.succeeded);
        let replay = History::of(events, 1);
        assert_eq!((replay.failures, replay.abandoned), (1, 0));
        assert!(replay.succeeded);
    }

    #[test]
    fn unrecorded_lease_expiries_are_the_latest_abandons() {
        assert_eq!(abandon_reasons(0, "ack_timeout", 0), Vec::<&str>::new());
        assert_eq!(abandon_reasons(1, "", 0), [ABANDONED_RESTART]);
        assert_eq!(abandon_reasons(1, "ack_timeout", 0), [ABANDONED_LEASE]);
        // The expiry is already in the timeline: this one came from a restart.
        assert_eq!(abandon_reasons(1, "ack_timeout", 1), [ABANDONED_RESTART]);
        assert_eq!(
            abandon_reasons(3, "forced failure at x; ack_timeout; ack_timeout", 1),
            [ABANDONED_RESTART, ABANDONED_RESTART, ABANDONED_LEASE]
        );
        assert_eq!(
            abandon_reasons(1, "ack_timeout; ack_timeout", 0),
            [ABANDONED_LEASE]
        );
    }
}
