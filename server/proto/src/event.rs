//! The event vocabulary of a run's timeline (`runs.events.<run_id>`): one typed [`Event`] per message.
//!
//! The wire shapes are the original starter's, field for field (`reference/starter-api.md`, "Events"):
//! `{"ts", "type", "run_id", ...the type's fields}`. dq adds `replay_seq` to every event the server or the
//! worker writes (the original lacks it on `run.created`, `run.started`, `step.*` and `run.succeeded`) and
//! `"source": "user"` to every event written through `POST /runs/{id}/emit`.
//!
//! An event is an envelope (`ts`, `run_id`, `replay_seq`, `source`), a typed [`EventBody`] (the `type` and its
//! fields) and `extra`: the fields the body does not name, kept verbatim so that every event round-trips —
//! a user's event of any type, or a field a newer server added. A type outside the vocabulary decodes as
//! [`EventBody::Other`], with all its fields in `extra`; a known type whose fields do not decode (a forged
//! `step.started` without a step) does too, so it renders but never counts as that type.
//!
//! Adding an event type: one line in the `vocabulary!` list below (type name, variant, fields). The
//! compiler then points at the matches that must decide what it means: the fold ([`crate::fold`]) and the
//! CLI's renderer.

use serde::de::Error as _;
use serde::ser::{Error as _, SerializeMap};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Value};

/// The `source` that `POST /runs/{id}/emit` stamps on every event it stores. Events the runs service and
/// the worker write carry no `source`.
pub const SOURCE_USER: &str = "user";

/// Type namespaces only the runs service and the worker write: `POST /runs/{id}/emit` refuses them.
pub const RESERVED_PREFIXES: [&str; 3] = ["run.", "step.", "worker."];

/// Whether `kind` is a type a client may not emit: the reserved namespaces and every type of the vocabulary
/// (which includes the SSE markers and the DLQ record's `runs.dlq`).
pub fn is_reserved(kind: &str) -> bool {
    RESERVED_PREFIXES.iter().any(|p| kind.starts_with(p))
        || EventBody::TYPES.contains(&kind)
        || kind == "runs.dlq"
}

/// Declares [`EventBody`]: for each type, its wire name, its variant and its fields (besides the envelope).
macro_rules! vocabulary {
    ($(
        $(#[doc = $doc:literal])*
        $name:literal => $variant:ident { $( $(#[$attr:meta])* $field:ident : $ty:ty ),* $(,)? }
    )*) => {
        /// The `type` of an event and the fields that type has. Serialised with the `type` tag, as on the wire.
        #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
        #[serde(tag = "type")]
        pub enum EventBody {
            $(
                $(#[doc = $doc])*
                #[serde(rename = $name)]
                $variant { $( $(#[$attr])* $field: $ty ),* },
            )*
            /// Any other type: a user's event, or one this version does not know. Its fields are in the event's
            /// `extra`.
            #[serde(skip)]
            Other {
                /// The `type` as written.
                kind: String,
            },
        }

        impl EventBody {
            /// Every type of the vocabulary, as written on the wire.
            pub const TYPES: &'static [&'static str] = &[$($name),*];

            /// The `type` as written on the wire.
            pub fn kind(&self) -> &str {
                match self {
                    $(Self::$variant { .. } => $name,)*
                    Self::Other { kind } => kind,
                }
            }
        }
    };
}

vocabulary! {
    /// The run was created (runs service).
    "run.created" => RunCreated {
        /// The workflow (dq writes it; the original does not).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        workflow: Option<String>,
    }
    /// A replay was requested (runs service). `seq` is the replay's number (the original's name for it).
    "run.replay_requested" => ReplayRequested {
        /// The replay's number, 1 for the first replay.
        seq: u64,
        /// The `fail_at` the replay runs with (`null`: the fix applied).
        #[serde(default)]
        fail_at: Option<String>,
    }
    /// A worker took the command for an attempt.
    "worker.received" => WorkerReceived {
        /// The attempt, from 1.
        attempt: u32,
    }
    /// The attempt began executing its workflow.
    "run.started" => RunStarted {}
    /// A step began.
    "step.started" => StepStarted {
        /// The step's name in its workflow, e.g. `fetch_input`.
        step: String,
        /// dq addition: the step's attempt, from 1 (each step counts its own).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        attempt: Option<u32>,
    }
    /// A step finished.
    "step.completed" => StepCompleted {
        /// The step's name, as in its `step.started`.
        step: String,
        /// dq addition: the step's attempt that succeeded.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        attempt: Option<u32>,
        /// dq addition: what the step produced (a command's stdout, a response body), reused by its retries
        /// and replays instead of running the step again.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        output: Option<Value>,
        /// dq addition: the step did not run in this replay: its output is the one of replay `reused_from`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reused_from: Option<u64>,
    }
    /// An attempt failed.
    "run.attempt_failed" => AttemptFailed {
        /// The attempt that failed (dq: the attempt of the step that failed).
        attempt: u32,
        /// Why, e.g. `forced failure at tool_call`.
        error: String,
        /// dq addition: the step that failed.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        step: Option<String>,
        /// dq addition: `false` when no retry may help (the run is dead-lettered at once).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        retryable: Option<bool>,
    }
    /// dq addition: an attempt abandoned by a worker that vanished (a server restart, an expired lease) or shut
    /// down. It counts against the abandoned budget (`max_abandoned`), not `max_attempts`; the same attempt
    /// runs again.
    "run.attempt_abandoned" => AttemptAbandoned {
        /// The attempt that was abandoned.
        attempt: u32,
        /// Why: `lease expired`, `redelivered after a restart` or `worker shutting down`.
        reason: String,
        /// Abandons of this start or replay so far, this one included.
        abandoned: u32,
        /// How many abandons the start or replay may take; at this many it is dead-lettered (`max_abandoned`).
        max_abandoned: u32,
    }
    /// Another attempt will follow after a backoff.
    "run.retry_scheduled" => RetryScheduled {
        /// The next attempt (dq: of the step named).
        attempt: u32,
        /// The attempt limit (dq: of the step named).
        max_attempts: u32,
        /// dq addition: the step retried.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        step: Option<String>,
        /// dq addition: the wait before the retry, in ms.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        delay_ms: Option<u64>,
    }
    /// The attempts ran out: the DLQ record was written.
    "run.dlq" => RunDlq {
        /// Which budget ran out, as the DLQ record's `reason`: `max_attempts`, `max_abandoned` or
        /// `non_retryable`.
        reason: String,
        /// Where the record is (`runs.dlq`).
        dlq_topic: String,
        /// The record's idempotency key.
        dlq_idem: String,
    }
    /// The start or replay ended dead-lettered; always written right after `run.dlq`.
    "run.failed" => RunFailed {}
    /// The start or replay ended well.
    "run.succeeded" => RunSucceeded {}
    /// dq addition: replay `replay_seq` was still in flight when a forced replay (`force: true`) superseded it;
    /// written by the runs service right before that replay's `run.replay_requested`. From then on nothing of
    /// the superseded chain changes the run's state, and its worker stops at the next step boundary.
    "run.superseded" => Superseded {
        /// The replay that supersedes it.
        by: u64,
    }
    /// SSE only, never stored: the first frame of every stream.
    "sse.connected" => SseConnected {}
    /// SSE only, never stored: the run has a DLQ record.
    "dlq.available" => DlqAvailable {}
}

impl EventBody {
    /// Whether this is one of the SSE markers, which are not part of the stored timeline.
    pub fn is_sse_marker(&self) -> bool {
        matches!(self, Self::SseConnected {} | Self::DlqAvailable {})
    }

    /// Decodes the body of a `kind` event from its fields, moving the fields the body names out of `fields`.
    /// An unknown type, or a known one whose fields do not decode, is [`EventBody::Other`] with `fields`
    /// untouched.
    fn decode(kind: &str, fields: &mut Map<String, Value>) -> Self {
        let other = || Self::Other {
            kind: kind.to_owned(),
        };
        if !Self::TYPES.contains(&kind) {
            return other();
        }
        let mut tagged = fields.clone();
        tagged.insert("type".to_owned(), Value::from(kind));
        let Ok(body) = serde_json::from_value::<Self>(Value::Object(tagged)) else {
            return other();
        };
        // The fields the body names are those it writes back; an absent optional one stays where it was.
        if let Ok(Value::Object(named)) = serde_json::to_value(&body) {
            for key in named.keys() {
                fields.remove(key);
            }
        }
        body
    }
}

/// One event of a run's timeline.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    /// When it happened (unix ms); 0 when the message had none.
    pub ts: u64,
    /// The run whose timeline (`runs.events.<run_id>`) holds it.
    pub run_id: String,
    /// Which start (0) or replay (n) it belongs to. Every event dq writes has it; events written before dq
    /// added it (or by the original starter) may not.
    pub replay_seq: Option<u64>,
    /// Who wrote it: `None` for the runs service and the worker, `Some("user")` for `POST /runs/{id}/emit`.
    pub source: Option<String>,
    /// The type and its fields.
    pub body: EventBody,
    /// Every other field, verbatim.
    pub extra: Map<String, Value>,
}

/// Envelope fields: written by [`Event`] itself, never taken from `extra`.
const ENVELOPE: [&str; 5] = ["ts", "type", "run_id", "replay_seq", "source"];

impl Event {
    /// An event written by the runs service or the worker for start/replay `replay_seq`.
    pub fn lifecycle(ts: u64, run_id: impl Into<String>, replay_seq: u64, body: EventBody) -> Self {
        Self {
            ts,
            run_id: run_id.into(),
            replay_seq: Some(replay_seq),
            source: None,
            body,
            extra: Map::new(),
        }
    }

    /// An event of any type with no fields yet, for types outside the vocabulary (add fields with
    /// [`Event::with`]). A vocabulary type built this way stays [`EventBody::Other`] until it is decoded from
    /// its JSON: use [`Event::lifecycle`] for those.
    pub fn new(ts: u64, kind: impl Into<String>, run_id: impl Into<String>) -> Self {
        Self {
            ts,
            run_id: run_id.into(),
            replay_seq: None,
            source: None,
            body: EventBody::Other { kind: kind.into() },
            extra: Map::new(),
        }
    }

    /// Adds a field (`replay_seq` and `source` go to the envelope when they have the envelope's type).
    #[must_use]
    pub fn with(mut self, key: &str, value: impl Into<Value>) -> Self {
        let value = value.into();
        match (key, &value) {
            ("replay_seq", Value::Number(n)) if n.as_u64().is_some() => {
                self.replay_seq = n.as_u64();
            }
            ("source", Value::String(s)) => self.source = Some(s.clone()),
            _ => {
                self.extra.insert(key.to_owned(), value);
            }
        }
        self
    }

    /// The `type` as written on the wire.
    pub fn kind(&self) -> &str {
        self.body.kind()
    }

    /// Whether the runs service or the worker wrote it: it carries no `source`. Only those events move a
    /// run's state (see [`crate::fold`]).
    pub fn is_server_authored(&self) -> bool {
        self.source.is_none()
    }

    /// The start or replay it belongs to: `replay_seq`, or for `run.replay_requested` its `seq`.
    pub fn replay(&self) -> Option<u64> {
        match &self.body {
            EventBody::ReplayRequested { seq, .. } => Some(*seq),
            _ => self.replay_seq,
        }
    }

    /// A field of `extra` as an integer.
    pub fn u64_field(&self, key: &str) -> Option<u64> {
        self.extra.get(key).and_then(Value::as_u64)
    }

    /// A field of `extra` as a string.
    pub fn str_field(&self, key: &str) -> Option<&str> {
        self.extra.get(key).and_then(Value::as_str)
    }

    /// The event as a JSON object, in wire order: `ts`, `type`, `run_id`, the type's fields, `replay_seq`,
    /// `source`, the rest.
    pub fn to_map(&self) -> Result<Map<String, Value>, serde_json::Error> {
        match serde_json::to_value(self)? {
            Value::Object(map) => Ok(map),
            _ => Ok(Map::new()),
        }
    }

    /// Decodes an event from a JSON object. `ts` must be a non-negative integer and `type` and `run_id`
    /// strings when present; a `replay_seq` that is not an integer or a `source` that is not a string is kept
    /// in `extra` as any other field.
    pub fn from_map(mut map: Map<String, Value>) -> Result<Self, String> {
        let ts = match map.remove("ts") {
            None => 0,
            Some(v) => v
                .as_u64()
                .ok_or_else(|| format!("ts must be a non-negative integer, got {v}"))?,
        };
        let mut string = |key: &str| match map.remove(key) {
            None => Ok(String::new()),
            Some(Value::String(s)) => Ok(s),
            Some(v) => Err(format!("{key} must be a string, got {v}")),
        };
        let kind = string("type")?;
        let run_id = string("run_id")?;
        let replay_seq = take(&mut map, "replay_seq", Value::as_u64);
        let source = take(&mut map, "source", |v| v.as_str().map(str::to_owned));
        let body = EventBody::decode(&kind, &mut map);
        Ok(Self {
            ts,
            run_id,
            replay_seq,
            source,
            body,
            extra: map,
        })
    }
}

/// Removes `key` from `map` when `convert` accepts its value.
fn take<T>(
    map: &mut Map<String, Value>,
    key: &str,
    convert: impl Fn(&Value) -> Option<T>,
) -> Option<T> {
    let value = map.get(key).and_then(convert)?;
    map.remove(key);
    Some(value)
}

impl Serialize for Event {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let fields = match &self.body {
            EventBody::Other { .. } => Map::new(),
            body => match serde_json::to_value(body).map_err(S::Error::custom)? {
                Value::Object(fields) => fields,
                _ => Map::new(),
            },
        };
        let mut map = serializer.serialize_map(None)?;
        map.serialize_entry("ts", &self.ts)?;
        map.serialize_entry("type", self.kind())?;
        map.serialize_entry("run_id", &self.run_id)?;
        for (key, value) in fields.iter().filter(|(k, _)| *k != "type") {
            map.serialize_entry(key, value)?;
        }
        if let Some(replay_seq) = self.replay_seq {
            map.serialize_entry("replay_seq", &replay_seq)?;
        }
        if let Some(source) = &self.source {
            map.serialize_entry("source", source)?;
        }
        let envelope = |k: &str| {
            ENVELOPE.contains(&k)
                && (!matches!(k, "replay_seq") || self.replay_seq.is_some())
                && (!matches!(k, "source") || self.source.is_some())
        };
        for (key, value) in &self.extra {
            if !envelope(key) && !fields.contains_key(key) {
                map.serialize_entry(key, value)?;
            }
        }
        map.end()
    }
}

impl<'de> Deserialize<'de> for Event {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let map = Map::<String, Value>::deserialize(deserializer)?;
        Self::from_map(map).map_err(D::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(text: &str) -> Event {
        let event: Event = serde_json::from_str(text).unwrap();
        let back: Value = serde_json::to_value(&event).unwrap();
        assert_eq!(back, serde_json::from_str::<Value>(text).unwrap(), "{text}");
        event
    }

    #[test]
    fn the_original_shapes_decode_typed_and_round_trip_exactly() {
        let cases = [
            r#"{"ts":1,"type":"run.created","run_id":"r"}"#,
            r#"{"ts":1,"type":"run.created","run_id":"r","workflow":"demo","replay_seq":0}"#,
            r#"{"ts":1,"type":"run.created","run_id":"r","fail_at":null}"#,
            r#"{"ts":1,"type":"worker.received","run_id":"r","attempt":2,"replay_seq":0}"#,
            r#"{"ts":1,"type":"run.started","run_id":"r"}"#,
            r#"{"ts":1,"type":"step.started","run_id":"r","step":"transform"}"#,
            r#"{"ts":1,"type":"step.completed","run_id":"r","step":"transform"}"#,
            r#"{"ts":1,"type":"run.attempt_failed","run_id":"r","attempt":1,"replay_seq":0,"error":"boom"}"#,
            r#"{"ts":5,"type":"run.retry_scheduled","run_id":"r","attempt":2,"replay_seq":0,"max_attempts":3}"#,
            r#"{"ts":1,"type":"run.dlq","run_id":"r","replay_seq":0,"reason":"max_attempts","dlq_topic":"runs.dlq","dlq_idem":"dlq:r:0:3"}"#,
            r#"{"ts":1,"type":"run.failed","run_id":"r","replay_seq":0}"#,
            r#"{"ts":1,"type":"run.replay_requested","run_id":"r","seq":1,"fail_at":null}"#,
            r#"{"ts":1,"type":"run.replay_requested","run_id":"r","seq":2,"fail_at":"tool_call"}"#,
            r#"{"ts":1,"type":"run.succeeded","run_id":"r"}"#,
            r#"{"ts":1,"type":"step.started","run_id":"r","step":"t","attempt":2,"replay_seq":0}"#,
            r#"{"ts":1,"type":"step.completed","run_id":"r","step":"t","attempt":2,"output":{"a":[1]},"reused_from":1}"#,
            r#"{"ts":1,"type":"run.attempt_failed","run_id":"r","attempt":1,"error":"e","step":"t","retryable":false}"#,
            r#"{"ts":1,"type":"run.retry_scheduled","run_id":"r","attempt":2,"max_attempts":3,"step":"t","delay_ms":100}"#,
        ];
        for text in cases {
            let event = round_trip(text);
            assert!(
                !matches!(event.body, EventBody::Other { .. }),
                "{text} decodes typed"
            );
            assert!(event.is_server_authored());
        }
        let failed = round_trip(cases[7]);
        assert_eq!(
            failed.body,
            EventBody::AttemptFailed {
                attempt: 1,
                error: "boom".into(),
                step: None,
                retryable: None,
            }
        );
        assert!(failed.extra.is_empty());
    }

    #[test]
    fn unknown_types_and_ill_formed_known_ones_round_trip_as_other() {
        let note = round_trip(
            r#"{"ts":1,"type":"note","run_id":"r","text":"hi","source":"user","replay_seq":0}"#,
        );
        assert_eq!(note.kind(), "note");
        assert_eq!(note.str_field("text"), Some("hi"));
        assert!(!note.is_server_authored());
        let forged = round_trip(r#"{"ts":1,"type":"step.started","run_id":"r","step":5}"#);
        assert_eq!(
            forged.body,
            EventBody::Other {
                kind: "step.started".into()
            }
        );
        // A newer server's extra field on a known type is kept.
        let newer = round_trip(r#"{"ts":1,"type":"run.started","run_id":"r","node":"a"}"#);
        assert_eq!(newer.body, EventBody::RunStarted {});
        round_trip(r#"{"ts":1,"type":"custom","run_id":"r","replay_seq":"x","source":7}"#);
        round_trip(r#"{"type":"sse.connected","run_id":"r","ts":0}"#);
    }

    #[test]
    fn written_events_keep_the_starters_field_order_and_add_replay_seq() {
        let event = Event::lifecycle(
            3,
            "r",
            1,
            EventBody::StepStarted {
                step: "fetch_input".into(),
                attempt: None,
            },
        );
        assert_eq!(
            serde_json::to_string(&event).unwrap(),
            r#"{"ts":3,"type":"step.started","run_id":"r","step":"fetch_input","replay_seq":1}"#
        );
        let user = Event::new(3, "note", "r")
            .with("source", SOURCE_USER)
            .with("a", 1);
        assert_eq!(
            serde_json::to_string(&user).unwrap(),
            r#"{"ts":3,"type":"note","run_id":"r","source":"user","a":1}"#
        );
    }

    #[test]
    fn every_type_of_the_vocabulary_is_reserved_and_so_are_the_namespaces() {
        for kind in EventBody::TYPES {
            assert!(is_reserved(kind), "{kind}");
        }
        for kind in ["run.anything", "step.x", "worker.gone", "runs.dlq"] {
            assert!(is_reserved(kind), "{kind}");
        }
        for kind in ["note", "custom", "runs", "steps.x", "user.run.succeeded"] {
            assert!(!is_reserved(kind), "{kind}");
        }
    }

    #[test]
    fn bad_envelope_fields_are_errors() {
        for text in [
            r#"{"ts":-1,"type":"x"}"#,
            r#"{"ts":"now","type":"x"}"#,
            r#"{"type":5}"#,
            r#"{"type":"x","run_id":[]}"#,
        ] {
            assert!(serde_json::from_str::<Event>(text).is_err(), "{text}");
        }
    }
}
