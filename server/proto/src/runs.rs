//! Runs API bodies, DLQ records and the command message. The events of a run's timeline are typed in
//! [`crate::event`] ([`Event`] is re-exported here) and folded into a status by [`crate::fold`].
//!
//! The shapes of the original starter are kept field for field (see `reference/starter-api.md`): the
//! `POST /runs` and replay bodies and answers, the `run.command` message on `runs.commands`, the events on
//! `runs.events.<run_id>` and the `runs.dlq` record. dq's additions (`max_attempts`, replay `input`, the run
//! registry views, timelines, DLQ listings) are optional fields or new bodies, so that the original's clients
//! keep working unchanged.

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::{Map, Value};

pub use crate::event::Event;

/// The topic that carries one `run.command` per start and per replay.
pub const COMMANDS_TOPIC: &str = "runs.commands";
/// The topic that carries one `runs.dlq` record per exhausted (run, replay_seq).
pub const DLQ_TOPIC: &str = "runs.dlq";
/// Prefix of a run's own timeline topic (`runs.events.<run_id>`, one partition).
pub const EVENTS_PREFIX: &str = "runs.events.";
/// The consumer group of the original starter's worker.
pub const DEFAULT_WORKER_GROUP: &str = "demo-worker";
/// The only workflow of the starter.
pub const DEMO_WORKFLOW: &str = "demo";
/// The steps of the `demo` workflow, in order.
pub const DEMO_STEPS: [&str; 4] = ["fetch_input", "transform", "tool_call", "finalize"];

/// Where commands that are not valid run commands are parked by the worker (and acked), so that one forged
/// message never loops and never becomes a run or a DLQ record.
pub const POISON_TOPIC: &str = "runs.commands.poison";
/// The most attempts a run or replay may ask for: a larger `max_attempts` (e.g. 2^31) would make a run that
/// never ends.
pub const MAX_ATTEMPTS_LIMIT: u32 = 100;
/// The longest run id. Ids dq makes are 32 hex chars (the original's uuid4 hex); the limit leaves room for ids
/// made elsewhere while keeping `runs.events.<id>` and every key derived from an id short.
pub const MAX_RUN_ID_LEN: usize = 64;

/// Checks a run id: 1..=64 characters of `[A-Za-z0-9_-]`. Run ids become topic names and parts of stored keys,
/// so anything else is refused before it reaches the broker. The error names the rule.
pub fn validate_run_id(run_id: &str) -> Result<(), String> {
    if run_id.is_empty() {
        return Err("run_id must not be empty".to_owned());
    }
    if run_id.len() > MAX_RUN_ID_LEN {
        return Err(format!(
            "run_id is {} bytes, over the limit of {MAX_RUN_ID_LEN}",
            run_id.len()
        ));
    }
    if let Some(c) = run_id
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '_' | '-')))
    {
        return Err(format!(
            "run_id has the character {c:?}; allowed are letters, digits, '_' and '-'"
        ));
    }
    Ok(())
}

/// Checks a `max_attempts`: 1..=100.
pub fn validate_max_attempts(max_attempts: u32) -> Result<(), String> {
    if (1..=MAX_ATTEMPTS_LIMIT).contains(&max_attempts) {
        Ok(())
    } else {
        Err(format!(
            "max_attempts must be between 1 and {MAX_ATTEMPTS_LIMIT}, got {max_attempts}"
        ))
    }
}

/// The timeline topic of a run.
pub fn events_topic(run_id: &str) -> String {
    format!("{EVENTS_PREFIX}{run_id}")
}

fn default_workflow() -> String {
    DEMO_WORKFLOW.to_owned()
}

/// `POST /runs` body. Every field is optional, as in the original.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CreateRun {
    /// The workflow to run (default `demo`).
    #[serde(default = "default_workflow")]
    pub workflow: String,
    /// The run's input (default `{}`).
    #[serde(default)]
    pub input: Map<String, Value>,
    /// Force a failure when this step starts (`null` = no forced failure).
    #[serde(default)]
    pub fail_at: Option<String>,
    /// dq addition: attempts before dead-lettering, instead of the server's default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_attempts: Option<u32>,
}

impl Default for CreateRun {
    fn default() -> Self {
        Self {
            workflow: default_workflow(),
            input: Map::new(),
            fail_at: None,
            max_attempts: None,
        }
    }
}

/// `POST /runs` answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CreateRunResponse {
    /// The new run's id (32 lowercase hex chars).
    pub run_id: String,
    /// Its timeline topic, `runs.events.<run_id>`.
    pub events_topic: String,
}

/// Deserialises a present field as `Some(value)`, so that `Option<Option<T>>` tells an absent key (`None`,
/// through `#[serde(default)]`) from an explicit `null` (`Some(None)`).
fn present<'de, D, T>(deserializer: D) -> Result<Option<Option<T>>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(deserializer).map(Some)
}

/// `POST /runs/{id}/replay` body (optional as a whole).
///
/// `fail_at` follows the original's rule: key absent → inherit the run's `fail_at`; `null` → the fix is
/// applied (no forced failure); a string → override.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ReplayRequest {
    /// Absent (`None`), `null` (`Some(None)`) or a step (`Some(Some(step))`).
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    pub fail_at: Option<Option<String>>,
    /// dq addition: keys merged over the run's original input (a key set to `null` stays `null`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input: Option<Map<String, Value>>,
    /// dq addition: attempts for this replay, instead of the run's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_attempts: Option<u32>,
    /// dq addition: replay even while the run or an earlier replay is in flight, superseding it (without it
    /// such a replay answers 409).
    #[serde(default, skip_serializing_if = "is_false")]
    pub force: bool,
    /// dq addition: start from the previous replay's input (its overrides kept) instead of the original input.
    #[serde(default, skip_serializing_if = "is_false")]
    pub keep_overrides: bool,
    /// dq addition: run from this step, reusing the outputs the steps before it have in the run's timeline
    /// (absent: from the step that failed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
}

#[allow(clippy::trivially_copy_pass_by_ref)] // serde's `skip_serializing_if` passes a reference
fn is_false(b: &bool) -> bool {
    !*b
}

/// `POST /runs/{id}/replay` answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReplayResponse {
    /// Always true.
    pub ok: bool,
    /// The run replayed (the path's `{id}`).
    pub run_id: String,
    /// The replay's sequence number (1 for the first replay).
    pub seq: u64,
    /// The `fail_at` the replay runs with.
    pub fail_at: Option<String>,
}

/// `POST /runs/{id}/emit` body.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EmitRequest {
    /// Any JSON object; dq fills in `ts`, `run_id` and `type` (`"custom"`) when they are missing.
    pub event: Map<String, Value>,
}

/// `{"ok": true}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OkResponse {
    /// Always true.
    pub ok: bool,
}

/// `GET /healthz` answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HealthResponse {
    /// Always true (an unhealthy broker answers 503 with a detail instead).
    pub ok: bool,
    /// The broker's own health answer.
    pub driftq: Value,
}

/// The `run.command` message on `runs.commands`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunCommand {
    /// When it was produced (unix ms).
    pub ts: u64,
    /// Always `run.command`.
    #[serde(rename = "type")]
    pub kind: String,
    /// The run to execute; its events go to `runs.events.<run_id>`.
    pub run_id: String,
    /// The workflow to run; `demo` when absent.
    #[serde(default = "default_workflow")]
    pub workflow: String,
    /// The input the steps see.
    #[serde(default)]
    pub input: Map<String, Value>,
    /// Force a failure when this step starts.
    #[serde(default)]
    pub fail_at: Option<String>,
    /// 0 for the first start (then absent, as in the original), n for the n-th replay.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub replay_seq: u64,
    /// dq addition: attempts before dead-lettering (absent = the worker's default).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_attempts: Option<u32>,
    /// True on a replay's command (absent on a first start). The original marked a replay by putting
    /// `"replay": true` into the input; dq keeps the user's input as given and marks the command instead.
    #[serde(default, skip_serializing_if = "is_false")]
    pub replay: bool,
    /// dq addition, on a replay's command: the step to run from (see [`ReplayRequest::from`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
}

#[allow(clippy::trivially_copy_pass_by_ref)] // serde's `skip_serializing_if` passes a reference
fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// One event with its position in the run's timeline (the SSE `id`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TimelineItem {
    /// The event's sequence number in the run's timeline (its offset), starting at 0.
    pub seq: u64,
    /// The event as stored.
    pub event: Event,
}

/// `GET /runs/{id}/timeline` answer (dq addition).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Timeline {
    /// The run whose timeline this is (the path's `{id}`).
    pub run_id: String,
    /// The events after `since` (all of them without it), oldest first.
    pub events: Vec<TimelineItem>,
}

/// The `runs.dlq` record written when a (run, replay_seq) exhausted its attempts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DlqRecord {
    /// When it was written (unix ms).
    pub ts: u64,
    /// Always `runs.dlq`.
    #[serde(rename = "type")]
    pub kind: String,
    /// The run that dead-lettered; `POST /runs/{run_id}/replay` runs it again.
    pub run_id: String,
    /// The workflow it ran.
    pub workflow: String,
    /// The attempt it ended on, from 1 (for `max_attempts`: equal to the limit).
    pub attempts: u32,
    /// The attempt limit it ran with: the replay's, the run's or the worker's default, in that order.
    pub max_attempts: u32,
    /// Which replay failed (0 = the first start).
    pub replay_seq: u64,
    /// Which budget ran out: `max_attempts` (the original's only reason), `max_abandoned` (a worker vanished
    /// mid-attempt too often) or `non_retryable` (a failure no retry can help).
    pub reason: String,
    /// The last attempt's error, e.g. `forced failure at tool_call`.
    pub error: String,
    /// The original command payload, for replay.
    pub command: Value,
}

/// `GET /debug/dlq/peek` and `GET /dlq` answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DlqList {
    /// How many records this answer holds (`items.len()`; `total` counts across pages).
    pub count: usize,
    /// The records (peek: oldest first, as the original; `/dlq`: newest first).
    pub items: Vec<DlqRecord>,
    /// `/dlq`: how many records match in all, across pages (absent from the peek).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub total: Option<usize>,
    /// `/dlq`: the cursor of the next page (pass it as `after`), null on the last page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next: Option<String>,
}

/// Where a run stands, derived from its timeline.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunStatus {
    /// Created or replayed; no worker picked it up yet.
    Queued,
    /// A worker is executing an attempt.
    Running,
    /// An attempt failed; another is scheduled.
    Retrying,
    /// The latest start or replay succeeded.
    Succeeded,
    /// The latest start or replay exhausted its attempts; a DLQ record exists.
    DeadLettered,
}

impl RunStatus {
    /// The status as written on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Queued => "queued",
            Self::Running => "running",
            Self::Retrying => "retrying",
            Self::Succeeded => "succeeded",
            Self::DeadLettered => "dead_lettered",
        }
    }

    /// Whether the run ended (until it is replayed).
    pub fn is_terminal(self) -> bool {
        matches!(self, Self::Succeeded | Self::DeadLettered)
    }
}

impl std::str::FromStr for RunStatus {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "queued" => Ok(Self::Queued),
            "running" => Ok(Self::Running),
            "retrying" => Ok(Self::Retrying),
            "succeeded" => Ok(Self::Succeeded),
            "dead_lettered" => Ok(Self::DeadLettered),
            other => Err(format!(
                "unknown status {other:?}; expected one of queued, running, retrying, succeeded, dead_lettered"
            )),
        }
    }
}

/// One run as listed by `GET /runs` (dq addition).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunSummary {
    /// The run's id (32 lowercase hex characters for runs dq created).
    pub run_id: String,
    /// The workflow it runs (`demo` unless the create named another).
    pub workflow: String,
    /// Where its latest start or replay stands, folded from its timeline.
    pub status: RunStatus,
    /// The `fail_at` of the latest start or replay.
    pub fail_at: Option<String>,
    /// The latest replay (0 = never replayed).
    pub replay_seq: u64,
    /// Attempts made by the latest start or replay.
    pub attempts: u32,
    /// The latest attempt's error, if it failed.
    pub last_error: Option<String>,
    /// When it was created (unix ms).
    pub created_ms: u64,
    /// When its timeline last changed (unix ms).
    pub updated_ms: u64,
}

/// One replay of a run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReplayInfo {
    /// Its number: 1 for the first replay (the `replay_seq` of its command and events).
    pub seq: u64,
    /// The `fail_at` it ran with.
    pub fail_at: Option<String>,
    /// Its attempt limit, when one was given.
    pub max_attempts: Option<u32>,
    /// When it was requested (unix ms).
    pub requested_ms: u64,
    /// The input overrides it was asked for (its input = the original input + these, or the previous replay's
    /// input + these with `keep_overrides`).
    #[serde(default)]
    pub overrides: Map<String, Value>,
    /// Whether it started from the previous replay's input.
    #[serde(default)]
    pub keep_overrides: bool,
    /// `succeeded` or `dead_lettered` once it ended; absent while it is in flight (or never ended).
    #[serde(default)]
    pub outcome: Option<RunStatus>,
    /// When it ended (unix ms).
    #[serde(default)]
    pub ended_ms: Option<u64>,
}

/// `GET /runs/{id}` answer (dq addition).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunDetail {
    /// What `GET /runs` lists of the run, flattened into this object.
    #[serde(flatten)]
    pub summary: RunSummary,
    /// The input of the latest start or replay (overrides merged).
    pub input: Map<String, Value>,
    /// The attempt limit of the latest start or replay, when one was given.
    pub max_attempts: Option<u32>,
    /// Every replay, oldest first.
    pub replays: Vec<ReplayInfo>,
}

/// `GET /runs` answer (dq addition).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunList {
    /// How many runs this page holds (`runs.len()`; `total` counts across pages).
    pub count: usize,
    /// This page's runs, newest first by creation.
    pub runs: Vec<RunSummary>,
    /// How many runs match in all, across pages (statuses as last folded).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub total: Option<usize>,
    /// The cursor of the next page (pass it as `after`: the last run listed), absent on the last page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next: Option<String>,
}

/// One message of `GET /v1/read` (dq-only extension of the v1 protocol: a non-consuming read).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReadItem {
    /// The partition read (the request's `partition`).
    pub partition: u32,
    /// The message's offset; the last one plus 1 is the `from` of the next read.
    pub offset: u64,
    /// The partitioning key (`""` when none).
    pub key: String,
    /// The payload, as produced.
    pub value: String,
    /// When it was produced (unix ms).
    pub produced_at_ms: u64,
}

/// `GET /v1/read?topic=&partition=&from=&limit=` answer (dq-only extension).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReadResponse {
    /// Up to `limit` messages from `from` on, oldest first.
    pub messages: Vec<ReadItem>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replay_fail_at_tells_absent_from_null_from_string() {
        let absent: ReplayRequest = serde_json::from_str("{}").unwrap();
        assert_eq!(absent.fail_at, None);
        let null: ReplayRequest = serde_json::from_str(r#"{"fail_at": null}"#).unwrap();
        assert_eq!(null.fail_at, Some(None));
        let step: ReplayRequest = serde_json::from_str(r#"{"fail_at": "transform"}"#).unwrap();
        assert_eq!(step.fail_at, Some(Some("transform".to_owned())));
        assert_eq!(serde_json::to_string(&null).unwrap(), r#"{"fail_at":null}"#);
    }

    #[test]
    fn first_command_has_no_replay_seq_and_a_null_fail_at() {
        let cmd = RunCommand {
            ts: 1,
            kind: "run.command".into(),
            run_id: "r".into(),
            workflow: "demo".into(),
            input: Map::new(),
            fail_at: None,
            replay_seq: 0,
            max_attempts: None,
            replay: false,
            from: None,
        };
        assert_eq!(
            serde_json::to_string(&cmd).unwrap(),
            r#"{"ts":1,"type":"run.command","run_id":"r","workflow":"demo","input":{},"fail_at":null}"#
        );
    }

    #[test]
    fn a_replay_command_is_marked_on_the_command_not_in_its_input() {
        let cmd = RunCommand {
            ts: 1,
            kind: "run.command".into(),
            run_id: "r".into(),
            workflow: "demo".into(),
            input: Map::new(),
            fail_at: None,
            replay_seq: 2,
            max_attempts: None,
            replay: true,
            from: None,
        };
        let json: Value = serde_json::to_value(&cmd).unwrap();
        assert_eq!(json["replay"], true);
        assert_eq!(json["input"], serde_json::json!({}));
        let keep: ReplayRequest = serde_json::from_str(r#"{"keep_overrides": true}"#).unwrap();
        assert!(keep.keep_overrides);
        assert_eq!(
            serde_json::to_string(&ReplayRequest::default()).unwrap(),
            "{}"
        );
    }

    #[test]
    fn run_ids_are_1_to_64_chars_of_letters_digits_underscore_and_dash() {
        for ok in [
            "0123456789abcdef0123456789abcdef",
            "a",
            "A_b-9",
            &"z".repeat(64),
        ] {
            assert_eq!(validate_run_id(ok), Ok(()), "{ok}");
        }
        for bad in ["", "a b", "a.b", "a/b", "é", "a\0", &"z".repeat(65)] {
            assert!(validate_run_id(bad).is_err(), "{bad:?}");
        }
        assert!(validate_run_id(&"z".repeat(65)).unwrap_err().contains("64"));
    }

    #[test]
    fn max_attempts_is_1_to_100() {
        assert!(validate_max_attempts(0).is_err());
        assert_eq!(validate_max_attempts(1), Ok(()));
        assert_eq!(validate_max_attempts(100), Ok(()));
        let err = validate_max_attempts(1 << 31).unwrap_err();
        assert!(err.contains("100") && err.contains("2147483648"), "{err}");
    }
}
