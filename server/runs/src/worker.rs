//! The worker: consumes `runs.commands` as a member of its group, executes each command's workflow step by
//! step, emits the original starter's events in its order (typed by `dq_proto::event`, each with its
//! `replay_seq`), and settles the command (ack on success or after dead-lettering, nack with the backoff as
//! delay between attempts).
//!
//! Attempts count failures, not deliveries, and each step counts its own: a delivery runs the workflow from the
//! first step without an output ([`steps`]), and its attempt number is 1 + that step's `run.attempt_failed`
//! events in this (run, replay_seq), read from the run's timeline on each delivery ([`crate::chain`]), so it
//! survives a kill -9 and works over every queue. The step's policy ([`crate::workflow`]) decides the retry:
//! nack with the step's backoff, or dead-letter (its attempts spent, or a failure no retry can help).
//!
//! A delivery the timeline does not account for (the broker delivered the command more often than attempts
//! failed or were abandoned) is an attempt abandoned by a worker that vanished: a server restart, or a lease
//! that expired. Each is recorded as `run.attempt_abandoned` {attempt, replay_seq, reason, abandoned,
//! max_abandoned} and counts against `max_abandoned`, not `max_attempts`; a worker shutting down records its
//! own. The DLQ record's `reason` names the budget that ran out: `max_attempts` or `max_abandoned` (or says
//! `non_retryable`). A queue without reads falls back to the broker's delivery count (the HTTP queue reads a
//! driftqd by consume).
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
//!   are queued and stored together, in one write and one wait for durability ([`Pipeline`]), before a settle
//!   or a pretend-work pause, so a run costs a few fsync waits, not one per event.

use std::sync::Arc;
use std::time::Duration;

use dq_proto::broker::ConsumeItem;
use dq_proto::event::{Event, EventBody};
use dq_proto::runs::{COMMANDS_TOPIC, DLQ_TOPIC, MAX_ATTEMPTS_LIMIT, RunCommand};
use futures::StreamExt;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::chain::{ABANDONED_RESTART, ABANDONED_SHUTDOWN, Chain, History, abandon_reasons};
use crate::emitter::{Emitter, Pipeline, now_ms};
use crate::workflow::StepPolicy;

mod settle;
mod steps;

use crate::queue::ConsumeSpec;
use crate::{RunsConfig, RunsError};
use settle::{last_reason, parse_command};
use steps::{Failure, Plan};

/// Pause before re-joining the group after the consume stream broke.
const RECONNECT_DELAY: Duration = Duration::from_millis(500);

/// Added to the pretend work of an attempt when sizing the lease.
const LEASE_MARGIN: Duration = Duration::from_secs(5);

/// DLQ reasons: which budget ran out, or a failure no retry can help.
const REASON_MAX_ATTEMPTS: &str = "max_attempts";
const REASON_MAX_ABANDONED: &str = "max_abandoned";
const REASON_NON_RETRYABLE: &str = "non_retryable";

/// The attempt a delivery executes.
struct Execution {
    /// The attempt of its first step: 1 + that step's failed attempts in this replay.
    attempt: u32,
    /// 1 + the failed attempts of this replay, of any step: what makes the attempt's keys its own.
    ordinal: u32,
    /// Abandoned attempts of this replay so far.
    abandoned: u32,
    max_abandoned: u32,
}

impl Execution {
    /// The idempotency-key tag of the attempt's events: `3`, or `3.2` when run again after the 2nd abandon, so
    /// that each execution of an attempt shows in the timeline.
    fn tag(&self) -> String {
        if self.abandoned == 0 {
            self.ordinal.to_string()
        } else {
            format!("{}.{}", self.ordinal, self.abandoned)
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
    /// A step failed: retry it or dead-letter.
    Failed(Failure),
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
    /// For `http` steps.
    http: reqwest::Client,
}

impl Worker {
    pub fn new(emitter: Emitter, config: RunsConfig, shutdown: CancellationToken) -> Self {
        let owner = format!(
            "{}-{}",
            config.group,
            &uuid::Uuid::new_v4().simple().to_string()[..12]
        );
        // A lease shorter than one attempt would hand a healthy run to another worker mid-way: keep it at least
        // twice the work of the longest workflow (every step at its timeout) plus a margin for slow writes.
        let work = config
            .workflows
            .longest_attempt(config.step_delay)
            .saturating_mul(2);
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
            http: reqwest::Client::new(),
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
        // A redelivery whose run has no timeline: retention archived the run, which had finished (a crash came
        // between its end and the ack). Running it again would start a new timeline at seq 0.
        if delivery > 1 && chain.gone() {
            tracing::debug!(run_id = %command.run_id, "acking a redelivered command of an archived run");
            self.ack(&item).await;
            return;
        }
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
                ordinal: delivery,
                abandoned: 0,
                max_abandoned,
            };
            let mut plan = Plan::new(
                &self.config.workflows,
                &command,
                &History::default(),
                &crate::chain::Earlier::default(),
            );
            self.execute(writes, &item, &mut chain, &command, &run, &mut plan)
                .await;
            return;
        };
        if history.succeeded {
            // A redelivery after the success was durable but before the ack.
            self.ack(&item).await;
            return;
        }
        let mut plan = Plan::new(&self.config.workflows, &command, &history, chain.earlier());
        let policy = StepPolicy::of(
            plan.workflow,
            plan.start,
            command.max_attempts,
            &self.config,
        );
        let max_attempts = policy.max_attempts;
        let failures = history.step(plan.next_step());
        let attempt = failures.count.saturating_add(1);
        if failures.count > 0 && (!failures.retryable || failures.count >= max_attempts) {
            // A redelivery after the step's last failed attempt (a crash before the ack).
            let budget = Budget {
                reason: if failures.retryable {
                    REASON_MAX_ATTEMPTS
                } else {
                    REASON_NON_RETRYABLE
                },
                attempt: failures.count,
                max_attempts,
            };
            self.finish_dead(&mut writes, &item, &command, &budget, &failures.last_error)
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
            );
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
            ordinal: history.failures.saturating_add(1),
            abandoned,
            max_abandoned,
        };
        self.execute(writes, &item, &mut chain, &command, &run, &mut plan)
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
        plan: &mut Plan<'_>,
    ) {
        let attempt = run.attempt;
        let outcome = match self.attempt(&mut writes, chain, command, run, plan).await {
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
                ) {
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
            Err(AttemptError::Failed(failure)) => {
                let failed = self
                    .failed(&mut writes, item, command, run, plan, &failure)
                    .await;
                if let Err(e) = failed {
                    tracing::warn!(run_id = %command.run_id, "recording failure of attempt {attempt}: {e}");
                    self.nack(item, &failure.error, self.backoff(attempt)).await;
                }
            }
        }
    }

    /// Writes `run.attempt_abandoned`: the `abandoned`-th abandon of this replay, during attempt `attempt`,
    /// keyed by that ordinal.
    fn emit_abandoned(
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
        writes.emit(&event, Some(key))
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

    fn backoff(&self, attempt: u32) -> Duration {
        self.config.backoff.saturating_mul(attempt)
    }

    /// Writes one event of the command's start or replay, keyed by (run, replay_seq, `tag`, type, step); durable
    /// at the next flush. The tag is the attempt number, with the abandon count after it for an attempt run
    /// again after an abandon (see [`Execution::tag`]).
    fn emit(
        writes: &mut Pipeline<'_>,
        command: &RunCommand,
        tag: &str,
        body: EventBody,
    ) -> Result<(), RunsError> {
        let step = match &body {
            EventBody::StepStarted { step, .. } | EventBody::StepCompleted { step, .. } => {
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
        writes.emit(&event, Some(key))
    }

    /// Lazily: a crash that loses the ack redelivers the command, and the timeline tells what was done (see the
    /// module doc), so the ack need not cost a sync of its own.
    async fn ack(&self, item: &ConsumeItem) {
        if let Err(e) = self
            .emitter
            .queue
            .ack_lazily(&self.spec, item.partition, item.offset)
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
