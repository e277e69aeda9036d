//! Workflows the server runs ([`Catalog`]: the built-in `demo` and those of a workflow file), the policy of
//! each step as resolved for a run (`StepPolicy`), and the step executors (`exec`, `http`).
//!
//! Retries per step: an attempt of a run executes its steps from the first one without an output; a step that
//! fails ends the attempt, and the next attempt starts at that step again, after the step's backoff, with the
//! outputs of the steps before it read back from the run's timeline. Each step has its own attempt count and
//! budget:
//! - `max_attempts`: the step's own, else the run's (`POST /runs` `max_attempts`), else the workflow's, else
//!   the server's (`--max-attempts`);
//! - the wait before retry n: the step's (else the workflow's) `backoff`, `min(max, initial × multiplier^(n-1))`
//!   less up to `jitter` of it at random; without one, the server's `--backoff` × n;
//! - `timeout` (run, http): the step's, else the workflow's, else [`DEFAULT_TIMEOUT`];
//! - a failure is retried unless its code is in `non_retryable`, or `retry_on` is set without it, or the kind
//!   says no (an HTTP 4xx other than 429; a command that cannot start): then the run is dead-lettered at once
//!   with reason `non_retryable`.

pub(crate) mod attempt;
pub(crate) mod exec;
pub mod file;
pub(crate) mod http;

use std::sync::Arc;
use std::time::Duration;

use dq_proto::runs::MAX_ATTEMPTS_LIMIT;
use dq_proto::workflow::{Action, Policy, Workflow, WorkflowList};

pub use file::{WorkflowFileError, load};

use crate::RunsConfig;

/// How long a run or http step may take when neither it nor its workflow says.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

/// The workflows a server or worker runs: the built-in `demo` first, then a file's, by name.
#[derive(Debug, Clone, PartialEq)]
pub struct Catalog {
    workflows: Arc<Vec<Workflow>>,
}

impl Default for Catalog {
    fn default() -> Self {
        Self::new(Vec::new())
    }
}

impl Catalog {
    /// The demo and `loaded` (a file's workflows; they cannot be called `demo`, see [`mod@file`]).
    pub fn new(loaded: Vec<Workflow>) -> Self {
        let mut workflows = vec![Workflow::demo()];
        workflows.extend(loaded);
        Self {
            workflows: Arc::new(workflows),
        }
    }

    /// The workflow called `name`.
    pub fn get(&self, name: &str) -> Option<&Workflow> {
        self.workflows.iter().find(|w| w.name == name)
    }

    /// The names, comma-separated (for errors).
    pub fn names(&self) -> String {
        let names: Vec<&str> = self.workflows.iter().map(|w| w.name.as_str()).collect();
        names.join(", ")
    }

    /// `GET /workflows`.
    pub fn list(&self) -> WorkflowList {
        WorkflowList {
            workflows: self.workflows.to_vec(),
        }
    }

    /// The longest one attempt of any workflow may take if every step ran to its timeout: what a lease must
    /// cover.
    pub(crate) fn longest_attempt(&self, step_delay: Duration) -> Duration {
        self.workflows
            .iter()
            .map(|w| {
                w.steps
                    .iter()
                    .map(|step| match &step.action {
                        Action::Sleep { ms } => ms.map_or(step_delay, Duration::from_millis),
                        Action::Run { .. } | Action::Http { .. } => step
                            .policy
                            .timeout_ms
                            .or(w.defaults.timeout_ms)
                            .map_or(DEFAULT_TIMEOUT, Duration::from_millis),
                    })
                    .sum::<Duration>()
            })
            .max()
            .unwrap_or_default()
    }
}

/// The policy of nothing: every field unset.
const NO_POLICY: &Policy = &Policy {
    timeout_ms: None,
    max_attempts: None,
    backoff: None,
    retry_on: None,
    non_retryable: None,
};

/// A step's policy for one run (see the module doc for where each value comes from).
pub(crate) struct StepPolicy<'a> {
    pub max_attempts: u32,
    pub timeout: Duration,
    pub rule: attempt::RetryRule<'a>,
    backoff: Option<&'a dq_proto::workflow::Backoff>,
    server_backoff: Duration,
}

impl<'a> StepPolicy<'a> {
    /// The policy of step `index` of `workflow` for a run that asked for `run_max_attempts`; with no
    /// workflow (one this worker does not know), the run's and the server's.
    pub fn of(
        workflow: Option<&'a Workflow>,
        index: usize,
        run_max_attempts: Option<u32>,
        config: &RunsConfig,
    ) -> Self {
        let own = workflow.and_then(|w| w.steps.get(index)).map(|s| &s.policy);
        let defaults = workflow.map_or(NO_POLICY, |w| &w.defaults);
        let pick = |f: fn(&'a Policy) -> Option<&'a Vec<u16>>| {
            own.and_then(f).or_else(|| f(defaults)).map(Vec::as_slice)
        };
        let max_attempts = own
            .and_then(|p| p.max_attempts)
            .or(run_max_attempts)
            .or(defaults.max_attempts)
            .unwrap_or(config.max_attempts)
            .clamp(1, MAX_ATTEMPTS_LIMIT);
        Self {
            max_attempts,
            timeout: own
                .and_then(|p| p.timeout_ms)
                .or(defaults.timeout_ms)
                .map_or(DEFAULT_TIMEOUT, Duration::from_millis),
            rule: attempt::RetryRule {
                retry_on: pick(|p| p.retry_on.as_ref()),
                non_retryable: pick(|p| p.non_retryable.as_ref()).unwrap_or(&[]),
            },
            backoff: own
                .and_then(|p| p.backoff.as_ref())
                .or(defaults.backoff.as_ref()),
            server_backoff: config.backoff,
        }
    }

    /// The wait after failed attempt `attempt` (from 1) of the step.
    pub fn backoff(&self, attempt: u32) -> Duration {
        match self.backoff {
            Some(backoff) => Duration::from_millis(backoff.delay_ms(attempt, random())),
            None => self.server_backoff.saturating_mul(attempt),
        }
    }
}

/// A number in 0..1 for the jitter (a v4 uuid's random bits: no extra dependency for this).
fn random() -> f64 {
    let bits = (uuid::Uuid::new_v4().as_u128() >> 75) as u64;
    bits as f64 / (1u64 << 53) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_step_wins_then_the_run_then_the_workflow_then_the_server() {
        let mut workflows = file::parse(
            "[workflows.w]\nmax_attempts = 4\ntimeout = \"2s\"\nnon_retryable = [9]\n\
             [[workflows.w.steps]]\nname = \"a\"\nsleep = \"1ms\"\nmax_attempts = 7\n\
             [[workflows.w.steps]]\nname = \"b\"\nsleep = \"1ms\"\nretry_on = [1]\n",
            "w.toml",
        )
        .unwrap();
        let w = workflows.remove(0);
        let config = RunsConfig::default();
        assert_eq!(
            StepPolicy::of(Some(&w), 0, Some(2), &config).max_attempts,
            7
        );
        assert_eq!(
            StepPolicy::of(Some(&w), 1, Some(2), &config).max_attempts,
            2
        );
        let b = StepPolicy::of(Some(&w), 1, None, &config);
        assert_eq!((b.max_attempts, b.timeout), (4, Duration::from_secs(2)));
        assert_eq!(
            (b.rule.retry_on, b.rule.non_retryable),
            (Some(&[1u16][..]), &[9u16][..])
        );
        let d = StepPolicy::of(None, 0, None, &config);
        assert_eq!(d.max_attempts, config.max_attempts);
        assert_eq!(d.backoff(2), config.backoff * 2);
        assert!((0.0..1.0).contains(&random()));
    }
}
