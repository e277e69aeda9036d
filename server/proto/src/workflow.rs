//! Workflows as a server runs them: a name, ordered steps, and the retry policy of each step (its own
//! settings over the workflow's defaults). The built-in `demo` is one of them ([`Workflow::demo`]); others
//! come from a workflow file (loaded and validated by dq-runs). `GET /workflows` answers a [`WorkflowList`].
//!
//! Durations are integers of milliseconds on the wire (`timeout_ms`); the file says `"200ms"`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::runs::{DEMO_STEPS, DEMO_WORKFLOW};

/// Where the built-in workflows come from (the `source` of [`Workflow`]).
pub const BUILT_IN: &str = "built-in";

/// A workflow: ordered steps, run one after the other; a failed step is retried by itself.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Workflow {
    /// Its name, as `POST /runs` names it.
    pub name: String,
    /// `built-in`, or the file it was loaded from.
    pub source: String,
    /// The defaults of every step (a step's own setting wins).
    #[serde(default)]
    pub defaults: Policy,
    /// The steps, in order.
    pub steps: Vec<Step>,
}

/// One step: what it does and how it is retried.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Step {
    /// Its name, unique in the workflow (`--fail` and `--from` name it).
    pub name: String,
    /// What it does: run a command, send an HTTP request or wait.
    pub action: Action,
    /// Its own policy (unset fields take the workflow's).
    #[serde(default)]
    pub policy: Policy,
}

/// What a step does.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Action {
    /// Runs a command: `argv` without a shell, or `sh -c argv[0]` with `shell`.
    Run {
        /// The program and its arguments (with `shell`: one script).
        argv: Vec<String>,
        /// Whether `argv[0]` is a script for `sh -c`.
        #[serde(default)]
        shell: bool,
        /// Variables added to the command's environment.
        #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
        env: BTreeMap<String, String>,
    },
    /// Sends an HTTP request; 2xx succeeds.
    Http {
        /// `GET`, `POST`, ...
        method: String,
        /// The URL (`{{…}}` placeholders filled in).
        url: String,
        /// Request headers (`{{…}}` placeholders filled in).
        #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
        headers: BTreeMap<String, String>,
        /// The body (`{{…}}` placeholders filled in); none = no body.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        body_template: Option<String>,
    },
    /// Waits: the demo's pretend work.
    Sleep {
        /// How long; none = the server's step delay (`--step-delay`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        ms: Option<u64>,
    },
}

/// How a step is retried. Every field is optional: unset takes the workflow's default, then the server's.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Policy {
    /// How long one attempt of the step may take.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_ms: Option<u64>,
    /// Attempts of the step before the run is dead-lettered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_attempts: Option<u32>,
    /// The wait before each retry.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backoff: Option<Backoff>,
    /// When set, only these exit codes (run) or HTTP statuses (http) are retried.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_on: Option<Vec<u16>>,
    /// Exit codes or HTTP statuses that dead-letter at once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub non_retryable: Option<Vec<u16>>,
}

impl Policy {
    /// This policy with the unset fields taken from `defaults`.
    #[must_use]
    pub fn or(&self, defaults: &Policy) -> Policy {
        Policy {
            timeout_ms: self.timeout_ms.or(defaults.timeout_ms),
            max_attempts: self.max_attempts.or(defaults.max_attempts),
            backoff: self.backoff.clone().or_else(|| defaults.backoff.clone()),
            retry_on: self.retry_on.clone().or_else(|| defaults.retry_on.clone()),
            non_retryable: self
                .non_retryable
                .clone()
                .or_else(|| defaults.non_retryable.clone()),
        }
    }
}

/// Exponential backoff: retry n waits `min(max, initial × multiplier^(n-1))`, less a random part of up to
/// `jitter` of it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Backoff {
    /// The wait before the first retry, in ms.
    pub initial_ms: u64,
    /// The cap on any wait, in ms, however many retries came before.
    pub max_ms: u64,
    /// The growth factor per retry (≥ 1).
    pub multiplier: f64,
    /// The random share taken off each wait, 0..=1 (0 = none).
    #[serde(default)]
    pub jitter: f64,
}

impl Backoff {
    /// The wait before the retry that follows failed attempt `attempt` (from 1), with `random` in 0..1
    /// choosing the jitter.
    pub fn delay_ms(&self, attempt: u32, random: f64) -> u64 {
        let exponent = i32::try_from(attempt.saturating_sub(1)).unwrap_or(i32::MAX);
        let full =
            (self.initial_ms as f64 * self.multiplier.powi(exponent)).min(self.max_ms as f64);
        let jittered = full * (1.0 - self.jitter.clamp(0.0, 1.0) * random.clamp(0.0, 1.0));
        // Saturating float-to-int cast: a NaN is 0, an overflow is u64::MAX.
        jittered as u64
    }
}

impl Workflow {
    /// The built-in `demo`: four steps of pretend work (the server's step delay each), no policy of its own.
    pub fn demo() -> Self {
        Self {
            name: DEMO_WORKFLOW.to_owned(),
            source: BUILT_IN.to_owned(),
            defaults: Policy::default(),
            steps: DEMO_STEPS
                .iter()
                .map(|name| Step {
                    name: (*name).to_owned(),
                    action: Action::Sleep { ms: None },
                    policy: Policy::default(),
                })
                .collect(),
        }
    }

    /// The step called `name`.
    pub fn step(&self, name: &str) -> Option<&Step> {
        self.steps.iter().find(|s| s.name == name)
    }

    /// The step names, in order.
    pub fn step_names(&self) -> Vec<&str> {
        self.steps.iter().map(|s| s.name.as_str()).collect()
    }
}

/// `GET /workflows` answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WorkflowList {
    /// Every workflow the server runs, the built-in ones first, then by name.
    pub workflows: Vec<Workflow>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_by_the_multiplier_up_to_max_and_jitter_only_shortens() {
        let b = Backoff {
            initial_ms: 100,
            max_ms: 1000,
            multiplier: 2.0,
            jitter: 0.0,
        };
        let waits: Vec<u64> = (1..=6).map(|n| b.delay_ms(n, 0.5)).collect();
        assert_eq!(waits, [100, 200, 400, 800, 1000, 1000]);
        let j = Backoff { jitter: 0.5, ..b };
        assert_eq!(j.delay_ms(1, 0.0), 100);
        assert_eq!(j.delay_ms(1, 1.0), 50);
    }

    #[test]
    fn a_step_policy_wins_over_the_workflow_defaults() {
        let defaults = Policy {
            timeout_ms: Some(5),
            max_attempts: Some(3),
            retry_on: Some(vec![1]),
            ..Policy::default()
        };
        let own = Policy {
            max_attempts: Some(7),
            ..Policy::default()
        };
        let merged = own.or(&defaults);
        assert_eq!(merged.max_attempts, Some(7));
        assert_eq!(merged.timeout_ms, Some(5));
        assert_eq!(merged.retry_on, Some(vec![1]));
    }

    #[test]
    fn the_demo_is_four_sleep_steps_and_round_trips() {
        let demo = Workflow::demo();
        assert_eq!(demo.step_names(), DEMO_STEPS);
        let json = serde_json::to_string(&demo).unwrap();
        assert!(json.contains(r#""action":{"kind":"sleep"}"#), "{json}");
        assert_eq!(serde_json::from_str::<Workflow>(&json).unwrap(), demo);
    }
}
