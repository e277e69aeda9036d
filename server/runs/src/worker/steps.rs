//! One attempt of a run's workflow, step by step ([`Plan`] says where it starts): the steps this replay
//! already completed are skipped (their outputs read back from the timeline), the outputs an earlier replay
//! left are reused (`step.completed` with `reused_from`) up to the `--from` step (or the step that failed last,
//! or a `--fail` step), and the first step without an output runs, then each after it. A step that fails ends
//! the attempt; the next attempt starts at that step (see [`crate::workflow`] for the policies).

use std::time::Duration;

use dq_proto::event::EventBody;
use dq_proto::runs::RunCommand;
use dq_proto::workflow::{Action, Workflow};
use serde_json::{Map, Value};

use super::{AttemptError, Execution, Worker};
use crate::chain::{Chain, Earlier, History};
use crate::emitter::Pipeline;
use crate::workflow::exec::{StepContext, execute};
use crate::workflow::{Catalog, StepPolicy};

/// Where an attempt starts and what it already has.
pub(super) struct Plan<'w> {
    /// The run's workflow; none when this worker does not know it.
    pub workflow: Option<&'w Workflow>,
    /// The first step to run (the steps' count when every step has an output).
    pub start: usize,
    /// Outputs of earlier replays to record as this replay's: (step, replay, output).
    reuse: Vec<(String, u64, Value)>,
    /// The outputs of the steps before `start`, by step name.
    outputs: Map<String, Value>,
}

impl<'w> Plan<'w> {
    pub fn new(
        catalog: &'w Catalog,
        command: &RunCommand,
        history: &History,
        earlier: &Earlier,
    ) -> Self {
        let workflow = catalog.get(&command.workflow);
        let mut plan = Self {
            workflow,
            start: 0,
            reuse: Vec::new(),
            outputs: Map::new(),
        };
        let Some(workflow) = workflow else {
            return plan;
        };
        // A replay reuses what earlier replays produced before the step it starts from.
        let from = command
            .replay
            .then(|| command.from.as_ref().or(earlier.failed_step.as_ref()))
            .flatten()
            .and_then(|from| workflow.steps.iter().position(|s| &s.name == from))
            .unwrap_or(0);
        plan.start = workflow.steps.len();
        for (index, step) in workflow.steps.iter().enumerate() {
            if let Some(output) = history.completed.get(&step.name) {
                plan.outputs.insert(step.name.clone(), output.clone());
                continue;
            }
            // A forced failure is never skipped: `--fail STEP` must fail at STEP.
            let forced = command.fail_at.as_deref() == Some(step.name.as_str());
            if index < from
                && !forced
                && let Some((seq, output)) = earlier.outputs.get(&step.name)
            {
                plan.reuse.push((step.name.clone(), *seq, output.clone()));
                plan.outputs.insert(step.name.clone(), output.clone());
                continue;
            }
            plan.start = index;
            break;
        }
        plan
    }

    /// The name of the first step to run (empty when there is none).
    pub fn next_step(&self) -> &str {
        self.workflow
            .and_then(|w| w.steps.get(self.start))
            .map_or("", |s| s.name.as_str())
    }
}

/// A failed attempt: which step, which of its attempts, why, and whether a retry may help.
pub(super) struct Failure {
    pub error: String,
    pub step: Option<String>,
    /// The step's index in its workflow.
    pub index: usize,
    pub attempt: u32,
    pub retryable: bool,
}

impl Worker {
    /// One attempt: `worker.received`, `run.started`, the reused outputs, the steps from the plan's start,
    /// `run.succeeded`. A step that waits or works has its `step.started` made durable (and visible) first;
    /// instant pretend work (a zero step delay) is covered by one flush at the end.
    pub(super) async fn attempt(
        &self,
        writes: &mut Pipeline<'_>,
        chain: &mut Chain,
        command: &RunCommand,
        run: &Execution,
        plan: &mut Plan<'_>,
    ) -> Result<(), AttemptError> {
        let tag = &run.tag();
        let received = EventBody::WorkerReceived {
            attempt: run.attempt,
        };
        Self::emit(writes, command, tag, received)?;
        let Some(workflow) = plan.workflow else {
            return Err(AttemptError::Failed(Failure {
                error: format!(
                    "unknown workflow {} (this worker runs {})",
                    command.workflow,
                    self.config.workflows.names()
                ),
                step: None,
                index: 0,
                attempt: run.attempt,
                retryable: true,
            }));
        };
        Self::emit(writes, command, tag, EventBody::RunStarted {})?;
        for (step, seq, output) in plan.reuse.drain(..) {
            let reused = EventBody::StepCompleted {
                step,
                attempt: None,
                output: (!output.is_null()).then_some(output),
                reused_from: Some(seq),
            };
            Self::emit(writes, command, tag, reused)?;
        }
        for (index, step) in workflow.steps.iter().enumerate().skip(plan.start) {
            if chain.superseded(&self.emitter).await {
                return Err(AttemptError::Superseded);
            }
            // Only the first step of an attempt can have failed before in this replay.
            let attempt = if index == plan.start { run.attempt } else { 1 };
            let started = EventBody::StepStarted {
                step: step.name.clone(),
                attempt: Some(attempt),
            };
            Self::emit(writes, command, tag, started)?;
            let failure = |error: String, retryable: bool| Failure {
                error,
                step: Some(step.name.clone()),
                index,
                attempt,
                retryable,
            };
            if command.fail_at.as_deref() == Some(step.name.as_str()) {
                let error = format!("forced failure at {}", step.name);
                return Err(AttemptError::Failed(failure(error, true)));
            }
            let instant = matches!(step.action, Action::Sleep { ms }
                if ms.map_or(self.config.step_delay, Duration::from_millis).is_zero());
            let output = if instant {
                if self.shutdown.is_cancelled() {
                    return Err(AttemptError::Cancelled);
                }
                None
            } else {
                writes.flush().await?;
                let policy =
                    StepPolicy::of(Some(workflow), index, command.max_attempts, &self.config);
                let context = StepContext {
                    run_id: &command.run_id,
                    attempt,
                    input: &command.input,
                    steps: &plan.outputs,
                };
                let work = execute(
                    &step.action,
                    &context,
                    policy.timeout,
                    &policy.rule,
                    self.config.step_delay,
                    &self.http,
                );
                tokio::select! {
                    () = self.shutdown.cancelled() => return Err(AttemptError::Cancelled),
                    done = work => done.map_err(|f| AttemptError::Failed(failure(f.error, f.retryable)))?,
                }
            };
            let completed = EventBody::StepCompleted {
                step: step.name.clone(),
                attempt: Some(attempt),
                output: output.clone(),
                reused_from: None,
            };
            Self::emit(writes, command, tag, completed)?;
            plan.outputs
                .insert(step.name.clone(), output.unwrap_or(Value::Null));
        }
        if chain.superseded(&self.emitter).await {
            return Err(AttemptError::Superseded);
        }
        Self::emit(writes, command, tag, EventBody::RunSucceeded {})?;
        Ok(())
    }
}
