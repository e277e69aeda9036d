//! How the worker settles what an attempt did not finish: a failed step retried (nack with its backoff) or
//! dead-lettered (the DLQ record, `run.dlq`, `run.failed`, then the ack), and a delivery that is not a run
//! command parked in `runs.commands.poison`.

use dq_proto::broker::ConsumeItem;
use dq_proto::event::EventBody;
use dq_proto::runs::{
    COMMANDS_TOPIC, DLQ_TOPIC, DlqRecord, POISON_TOPIC, RunCommand, validate_run_id,
};

use super::steps::{Failure, Plan};
use super::{
    Budget, Execution, REASON_MAX_ATTEMPTS, REASON_NON_RETRYABLE, RECONNECT_DELAY, Worker,
};
use crate::emitter::{Pipeline, now_ms};
use crate::queue::Outgoing;
use crate::workflow::StepPolicy;
use crate::{QueueError, RunsError};

impl Worker {
    /// After a failed attempt of a step: `run.attempt_failed`, then a retry of the step (nack with its
    /// backoff) or dead-letter (its attempts spent, or a failure no retry can help).
    pub(super) async fn failed(
        &self,
        writes: &mut Pipeline<'_>,
        item: &ConsumeItem,
        command: &RunCommand,
        run: &Execution,
        plan: &Plan<'_>,
        failure: &Failure,
    ) -> Result<(), RunsError> {
        let policy = StepPolicy::of(
            plan.workflow,
            failure.index,
            command.max_attempts,
            &self.config,
        );
        let (attempt, max_attempts, tag) = (failure.attempt, policy.max_attempts, &run.tag());
        let failed = EventBody::AttemptFailed {
            attempt,
            error: failure.error.clone(),
            step: failure.step.clone(),
            retryable: (!failure.retryable).then_some(false),
        };
        Self::emit(writes, command, tag, failed)?;
        if failure.retryable && attempt < max_attempts {
            let delay = policy.backoff(attempt);
            let scheduled = EventBody::RetryScheduled {
                attempt: attempt + 1,
                max_attempts,
                step: failure.step.clone(),
                delay_ms: Some(u64::try_from(delay.as_millis()).unwrap_or(u64::MAX)),
            };
            Self::emit(writes, command, tag, scheduled)?;
            writes.flush().await?;
            // The broker holds the backoff (nack delay), so the worker's slot is free meanwhile.
            self.nack(item, &failure.error, delay).await;
        } else {
            let budget = Budget {
                reason: if failure.retryable {
                    REASON_MAX_ATTEMPTS
                } else {
                    REASON_NON_RETRYABLE
                },
                attempt,
                max_attempts,
            };
            self.finish_dead(writes, item, command, &budget, &failure.error)
                .await;
        }
        Ok(())
    }

    /// The DLQ record, `run.dlq`, `run.failed`, then the ack; on a write failure, a nack for another go.
    pub(super) async fn finish_dead(
        &self,
        writes: &mut Pipeline<'_>,
        item: &ConsumeItem,
        command: &RunCommand,
        budget: &Budget<'_>,
        error: &str,
    ) {
        let dead = match Self::dead_letter(writes, item, command, budget, error) {
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
    fn dead_letter(
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
        writes.produce(DLQ_TOPIC, run_id, &record, Some(dlq_idem.clone()))?;
        let dlq = EventBody::RunDlq {
            reason: budget.reason.to_owned(),
            dlq_topic: DLQ_TOPIC.to_owned(),
            dlq_idem,
        };
        Self::emit(writes, command, tag, dlq)?;
        Self::emit(writes, command, tag, EventBody::RunFailed {})
    }

    /// Parks a poison delivery in `runs.commands.poison`, then acks it. If the copy cannot be written, the
    /// delivery is handed back for a later try (never sooner than a reconnect, even with no backoff).
    pub(super) async fn park(&self, item: &ConsumeItem, reason: &str) {
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
}

/// A delivery's run command, or why it is not one: it must decode as a `run.command` and name a well-formed
/// run id (the id becomes a topic name and part of every key the worker writes).
pub(super) fn parse_command(value: &str) -> Result<RunCommand, String> {
    let command =
        serde_json::from_str::<RunCommand>(value).map_err(|e| format!("not a run.command: {e}"))?;
    validate_run_id(&command.run_id)?;
    Ok(command)
}

/// The most recent failure reason the broker recorded for a delivery (it appends reasons).
pub(super) fn last_reason(last_error: &str) -> String {
    last_error
        .rsplit(['\n', ';'])
        .map(str::trim)
        .find(|s| !s.is_empty())
        .unwrap_or("attempts exhausted")
        .to_owned()
}
