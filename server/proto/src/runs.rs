//! Runs API bodies, events, DLQ records and the command message.
//!
//! The shapes of the original starter are kept field for field (see `reference/starter-api.md`): the
//! `POST /runs` and replay bodies and answers, the `run.command` message on `runs.commands`, the events on
//! `runs.events.<run_id>` and the `runs.dlq` record. dq's additions (`max_attempts`, replay `input`, the run
//! registry views, timelines, DLQ listings) are optional fields or new bodies, so that the original's clients
//! keep working unchanged.

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::{Map, Value};

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

/// The event types only the runs service and the worker write (the run's lifecycle, from which its status is
/// derived), plus the two SSE markers: `POST /runs/{id}/emit` refuses them, so that a client cannot forge a
/// run's outcome.
pub const LIFECYCLE_EVENTS: [&str; 16] = [
    "run.created",
    "run.command",
    "run.replay_requested",
    "worker.received",
    "run.started",
    "step.started",
    "step.completed",
    "run.attempt_failed",
    "run.attempt_abandoned",
    "run.retry_scheduled",
    "run.dlq",
    "run.failed",
    "run.succeeded",
    "runs.dlq",
    "sse.connected",
    "dlq.available",
];

/// The timeline topic of a run.
pub fn events_topic(run_id: &str) -> String {
    format!("{EVENTS_PREFIX}{run_id}")
}

/// The steps of a known workflow, or `None` for an unknown one.
pub fn workflow_steps(workflow: &str) -> Option<&'static [&'static str]> {
    (workflow == DEMO_WORKFLOW).then_some(&DEMO_STEPS[..])
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
}

/// `POST /runs/{id}/replay` answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReplayResponse {
    /// Always true.
    pub ok: bool,
    /// The replayed run.
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
    /// The run.
    pub run_id: String,
    /// The workflow.
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
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// One event of a run's timeline. `ts`, `type` and `run_id` are always there; every other field of the
/// original events (`attempt`, `replay_seq`, `step`, `error`, `seq`, `fail_at`, ...) lives in `extra`, so that
/// events round-trip exactly.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    /// When it happened (unix ms).
    #[serde(default)]
    pub ts: u64,
    /// The event type, e.g. `step.started`.
    #[serde(rename = "type", default)]
    pub kind: String,
    /// The run.
    #[serde(default)]
    pub run_id: String,
    /// Every other field.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl Event {
    /// An event with no extra fields.
    pub fn new(ts: u64, kind: impl Into<String>, run_id: impl Into<String>) -> Self {
        Self {
            ts,
            kind: kind.into(),
            run_id: run_id.into(),
            extra: Map::new(),
        }
    }

    /// Adds a field.
    pub fn with(mut self, key: &str, value: impl Into<Value>) -> Self {
        self.extra.insert(key.to_owned(), value.into());
        self
    }

    /// A field of `extra` as an integer.
    pub fn u64_field(&self, key: &str) -> Option<u64> {
        self.extra.get(key).and_then(Value::as_u64)
    }

    /// A field of `extra` as a string.
    pub fn str_field(&self, key: &str) -> Option<&str> {
        self.extra.get(key).and_then(Value::as_str)
    }
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
    /// The run.
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
    /// The run.
    pub run_id: String,
    /// The workflow.
    pub workflow: String,
    /// Attempts made.
    pub attempts: u32,
    /// Attempts allowed.
    pub max_attempts: u32,
    /// Which replay failed (0 = the first start).
    pub replay_seq: u64,
    /// Always `max_attempts`.
    pub reason: String,
    /// The last attempt's error, e.g. `forced failure at tool_call`.
    pub error: String,
    /// The original command payload, for replay.
    pub command: Value,
}

/// `GET /debug/dlq/peek` and `GET /dlq` answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DlqList {
    /// `items.len()`.
    pub count: usize,
    /// The records (peek: oldest first, as the original; `/dlq`: newest first).
    pub items: Vec<DlqRecord>,
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
    /// The run.
    pub run_id: String,
    /// The workflow.
    pub workflow: String,
    /// Where it stands.
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
    /// Its sequence number.
    pub seq: u64,
    /// The `fail_at` it ran with.
    pub fail_at: Option<String>,
    /// Its attempt limit, when one was given.
    pub max_attempts: Option<u32>,
    /// When it was requested (unix ms).
    pub requested_ms: u64,
}

/// `GET /runs/{id}` answer (dq addition).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunDetail {
    /// The summary fields.
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
    /// `runs.len()`.
    pub count: usize,
    /// Newest first.
    pub runs: Vec<RunSummary>,
}

/// One message of `GET /v1/read` (dq-only extension of the v1 protocol: a non-consuming read).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReadItem {
    /// Partition.
    pub partition: u32,
    /// Offset.
    pub offset: u64,
    /// Key (`""` when none).
    pub key: String,
    /// Payload.
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
        };
        assert_eq!(
            serde_json::to_string(&cmd).unwrap(),
            r#"{"ts":1,"type":"run.command","run_id":"r","workflow":"demo","input":{},"fail_at":null}"#
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

    #[test]
    fn events_round_trip_with_extra_fields() {
        let text = r#"{"ts":5,"type":"run.retry_scheduled","run_id":"r","attempt":2,"replay_seq":0,"max_attempts":3}"#;
        let event: Event = serde_json::from_str(text).unwrap();
        assert_eq!(event.u64_field("attempt"), Some(2));
        let back: Value = serde_json::to_value(&event).unwrap();
        assert_eq!(back, serde_json::from_str::<Value>(text).unwrap());
    }
}
