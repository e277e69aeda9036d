//! The human rendering of run events: one line per event — time, type, step, attempt, replay, error.

use dq_proto::event::{Event, EventBody};
use serde_json::Value;
use std::sync::OnceLock;

use time::macros::format_description;
use time::{OffsetDateTime, UtcOffset};

use super::Styles;

/// Fields shown in their own words; anything else on an event is shown as compact JSON.
const KNOWN: [&str; 12] = [
    "step",
    "attempt",
    "replay_seq",
    "seq",
    "max_attempts",
    "fail_at",
    "error",
    "reason",
    "dlq_topic",
    "dlq_idem",
    "workflow",
    "input",
];

/// What a line shows of an event besides its time and type.
#[derive(Default)]
struct Shown<'a> {
    step: Option<&'a str>,
    attempt: Option<u64>,
    max_attempts: Option<u64>,
    reason: Option<&'a str>,
    error: Option<&'a str>,
    /// `Some(None)`: the fix applied; `Some(Some(step))`: a forced failure.
    fail_at: Option<Option<&'a str>>,
    /// The replay that superseded this one.
    superseded_by: Option<u64>,
    /// Abandoned attempts so far, of the budget.
    abandoned: Option<(u32, u32)>,
    /// The step's output was reused from this start (0) or replay.
    reused_from: Option<u64>,
}

impl<'a> Shown<'a> {
    fn of(event: &'a Event) -> Self {
        match &event.body {
            EventBody::StepStarted { step, attempt } => Self {
                step: Some(step),
                attempt: attempt.map(u64::from),
                ..Self::default()
            },
            EventBody::StepCompleted {
                step,
                attempt,
                reused_from,
                ..
            } => Self {
                step: Some(step),
                attempt: attempt.map(u64::from),
                reused_from: *reused_from,
                ..Self::default()
            },
            EventBody::WorkerReceived { attempt } => Self {
                attempt: Some(u64::from(*attempt)),
                ..Self::default()
            },
            EventBody::AttemptFailed {
                attempt,
                error,
                step,
                ..
            } => Self {
                step: step.as_deref(),
                attempt: Some(u64::from(*attempt)),
                error: Some(error),
                ..Self::default()
            },
            EventBody::RetryScheduled {
                attempt,
                max_attempts,
                step,
                ..
            } => Self {
                step: step.as_deref(),
                attempt: Some(u64::from(*attempt)),
                max_attempts: Some(u64::from(*max_attempts)),
                ..Self::default()
            },
            EventBody::RunDlq { reason, .. } => Self {
                reason: Some(reason),
                ..Self::default()
            },
            EventBody::AttemptAbandoned {
                attempt,
                reason,
                abandoned,
                max_abandoned,
            } => Self {
                attempt: Some(u64::from(*attempt)),
                reason: Some(reason),
                abandoned: Some((*abandoned, *max_abandoned)),
                ..Self::default()
            },
            EventBody::Superseded { by } => Self {
                superseded_by: Some(*by),
                ..Self::default()
            },
            EventBody::ReplayRequested { fail_at, .. } => Self {
                fail_at: Some(fail_at.as_deref()),
                ..Self::default()
            },
            // The original writes `fail_at` on `run.created`; dq does not.
            EventBody::RunCreated { .. } => Self {
                fail_at: match event.extra.get("fail_at") {
                    Some(Value::String(step)) => Some(Some(step)),
                    Some(Value::Null) => Some(None),
                    _ => None,
                },
                ..Self::default()
            },
            EventBody::RunStarted {}
            | EventBody::RunFailed {}
            | EventBody::RunSucceeded {}
            | EventBody::SseConnected {}
            | EventBody::DlqAvailable {} => Self::default(),
            // A type this version does not know (a user's, a newer server's): its fields, by their usual names.
            EventBody::Other { .. } => Self {
                step: event.str_field("step"),
                attempt: event.u64_field("attempt"),
                max_attempts: event.u64_field("max_attempts"),
                reason: event.str_field("reason"),
                error: event.str_field("error"),
                fail_at: None,
                superseded_by: None,
                abandoned: None,
                reused_from: None,
            },
        }
    }
}

/// One timeline line: `14:03:07.412  step.started          tool_call  attempt 1`.
pub fn event_line(event: &Event, styles: &Styles) -> String {
    let kind = format!("{:<20}", event.kind());
    let kind = match &event.body {
        EventBody::RunSucceeded {} => styles.ok(kind),
        EventBody::RunFailed {} | EventBody::RunDlq { .. } | EventBody::AttemptFailed { .. } => {
            styles.bad(kind)
        }
        EventBody::RetryScheduled { .. }
        | EventBody::DlqAvailable {}
        | EventBody::Superseded { .. }
        | EventBody::AttemptAbandoned { .. } => styles.warn(kind),
        EventBody::RunCreated { .. }
        | EventBody::ReplayRequested { .. }
        | EventBody::SseConnected {} => styles.accent(kind),
        EventBody::WorkerReceived { .. }
        | EventBody::RunStarted {}
        | EventBody::StepStarted { .. }
        | EventBody::StepCompleted { .. }
        | EventBody::Other { .. } => kind,
    };
    let shown = Shown::of(event);
    let mut parts = vec![styles.dim(format_ts(event.ts)), kind];
    if let Some(step) = shown.step {
        parts.push(styles.bold(step));
    }
    if let Some(attempt) = shown.attempt {
        match shown.max_attempts {
            Some(max) => parts.push(format!("attempt {attempt}/{max}")),
            None => parts.push(format!("attempt {attempt}")),
        }
    }
    match shown.reused_from {
        Some(0) => parts.push(styles.dim("reused from the first start")),
        Some(seq) => parts.push(styles.dim(format!("reused from replay {seq}"))),
        None => {}
    }
    if let Some(seq) = event.replay().filter(|&s| s > 0) {
        parts.push(styles.dim(format!("replay {seq}")));
    }
    match shown.fail_at {
        Some(Some(step)) => parts.push(format!("fail_at={step}")),
        Some(None) => parts.push(styles.ok("fix applied")),
        None => {}
    }
    if let Some((n, max)) = shown.abandoned {
        parts.push(format!("abandoned {n}/{max}"));
    }
    if let Some(by) = shown.superseded_by {
        parts.push(format!("superseded by replay {by}"));
    }
    if let Some(reason) = shown.reason {
        parts.push(format!("reason={reason}"));
    }
    if let Some(error) = shown.error {
        parts.push(styles.bad(error));
    }
    let other: serde_json::Map<String, Value> = event
        .extra
        .iter()
        .filter(|(k, _)| !KNOWN.contains(&k.as_str()))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    if !other.is_empty() {
        parts.push(styles.dim(Value::Object(other)));
    }
    parts.join("  ").trim_end().to_owned()
}

/// A timeline line led by the event's position in the timeline (what `dq events --since` takes).
pub fn event_line_at(seq: u64, event: &Event, styles: &Styles) -> String {
    format!(
        "{}  {}",
        styles.dim(format!("{seq:>4}")),
        event_line(event, styles)
    )
}

/// The zone people's times are shown in: set once by [`init_zone`], UTC until then.
static ZONE: OnceLock<UtcOffset> = OnceLock::new();

/// Shows times in the local zone, or in UTC with `utc` or when the local offset cannot be known. Call it before
/// any thread starts: the `time` crate refuses to read the local offset in a multi-threaded process.
pub fn init_zone(utc: bool) {
    let offset = if utc {
        UtcOffset::UTC
    } else {
        UtcOffset::current_local_offset().unwrap_or(UtcOffset::UTC)
    };
    let _ = ZONE.set(offset);
}

fn zone() -> UtcOffset {
    ZONE.get().copied().unwrap_or(UtcOffset::UTC)
}

/// `UTC`, or the offset such as `+02:00`.
fn zone_label(offset: UtcOffset) -> String {
    if offset.is_utc() {
        "UTC".to_owned()
    } else {
        offset
            .format(format_description!(
                "[offset_hour sign:mandatory]:[offset_minute]"
            ))
            .unwrap_or_default()
    }
}

/// `HH:MM:SS.mmm ZONE` in the zone of [`init_zone`].
pub fn format_ts(ts_ms: u64) -> String {
    match datetime(ts_ms) {
        Some(dt) => format!(
            "{} {}",
            dt.format(format_description!(
                "[hour]:[minute]:[second].[subsecond digits:3]"
            ))
            .unwrap_or_default(),
            zone_label(dt.offset())
        ),
        None => "--:--:--.---".to_owned(),
    }
}

/// `2024-05-01 14:03:07 UTC` (or `+02:00`: the zone of [`init_zone`]).
pub fn format_ts_full(ts_ms: u64) -> String {
    match datetime(ts_ms) {
        Some(dt) => format!(
            "{} {}",
            dt.format(format_description!(
                "[year]-[month]-[day] [hour]:[minute]:[second]"
            ))
            .unwrap_or_default(),
            zone_label(dt.offset())
        ),
        None => "unknown".to_owned(),
    }
}

/// How long ago, for lists: `just now`, `42s ago`, `2m ago`, `3h ago`, `5d ago`.
pub fn format_age(ts_ms: u64) -> String {
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
    age(now_ms.saturating_sub(ts_ms) / 1000)
}

fn age(secs: u64) -> String {
    match secs {
        0 => "just now".to_owned(),
        1..60 => format!("{secs}s ago"),
        60..3600 => format!("{}m ago", secs / 60),
        3600..86_400 => format!("{}h ago", secs / 3600),
        _ => format!("{}d ago", secs / 86_400),
    }
}

/// `2024-05-01T14:03:07.123Z`.
pub fn format_rfc3339(ts_ms: u64) -> Option<String> {
    datetime(ts_ms)?
        .to_offset(UtcOffset::UTC)
        .format(&time::format_description::well_known::Rfc3339)
        .ok()
}

/// Beside each epoch-ms field of a document and of the objects in its lists (`updated_ms`, or a record's
/// `ts`), the same time in RFC 3339 (`updated`, `at`); payloads nested deeper are left as they are.
pub fn add_rfc3339(doc: &mut Value) {
    fn add(object: &mut serde_json::Map<String, Value>) {
        let times: Vec<(String, String)> = object
            .iter()
            .filter_map(|(key, value)| {
                let name = if key == "ts" {
                    "at"
                } else {
                    key.strip_suffix("_ms")?
                };
                let text = format_rfc3339(value.as_u64()?)?;
                (!object.contains_key(name)).then(|| (name.to_owned(), text))
            })
            .collect();
        for (name, text) in times {
            object.insert(name, Value::String(text));
        }
    }
    if let Value::Object(object) = doc {
        add(object);
        for value in object.values_mut() {
            if let Value::Array(items) = value {
                for item in items {
                    if let Value::Object(item) = item {
                        add(item);
                    }
                }
            }
        }
    }
}

fn datetime(ts_ms: u64) -> Option<OffsetDateTime> {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(ts_ms) * 1_000_000)
        .ok()
        .map(|dt| dt.to_offset(zone()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reused_step_says_where_its_output_came_from() {
        let event = Event::lifecycle(
            1_700_000_000_123,
            "r",
            2,
            EventBody::StepCompleted {
                step: "llm".into(),
                attempt: None,
                output: Some(Value::from("answer")),
                reused_from: Some(0),
            },
        );
        assert_eq!(
            event_line(&event, &Styles::plain()),
            "22:13:20.123 UTC  step.completed        llm  reused from the first start  replay 2"
        );
    }

    #[test]
    fn a_failed_attempt_reads_as_one_line() {
        let event = Event::lifecycle(
            1_700_000_000_123,
            "r",
            0,
            EventBody::AttemptFailed {
                attempt: 2,
                error: "forced failure at tool_call".into(),
                step: None,
                retryable: None,
            },
        );
        assert_eq!(
            event_line(&event, &Styles::plain()),
            "22:13:20.123 UTC  run.attempt_failed    attempt 2  forced failure at tool_call"
        );
        // A type this version does not know shows the same fields by their usual names.
        let newer = Event::new(1_700_000_000_123, "run.attempt_paused", "r")
            .with("attempt", 2)
            .with("replay_seq", 1)
            .with("reason", "operator");
        assert_eq!(
            event_line_at(7, &newer, &Styles::plain()),
            "   7  22:13:20.123 UTC  run.attempt_paused    attempt 2  replay 1  reason=operator"
        );
    }

    #[test]
    fn an_abandoned_attempt_shows_its_count_and_reason() {
        let event = Event::lifecycle(
            1_700_000_000_123,
            "r",
            0,
            EventBody::AttemptAbandoned {
                attempt: 1,
                reason: "lease expired".into(),
                abandoned: 2,
                max_abandoned: 10,
            },
        );
        assert_eq!(
            event_line(&event, &Styles::plain()),
            "22:13:20.123 UTC  run.attempt_abandoned  attempt 1  abandoned 2/10  reason=lease expired"
        );
    }

    #[test]
    fn ages_read_in_the_largest_unit() {
        assert_eq!(age(0), "just now");
        assert_eq!(age(42), "42s ago");
        assert_eq!(age(150), "2m ago");
        assert_eq!(age(3 * 3600 + 5), "3h ago");
        assert_eq!(age(5 * 86_400), "5d ago");
    }

    #[test]
    fn custom_fields_are_shown_as_json() {
        let event = Event::new(0, "custom", "r").with("note", "hi");
        assert_eq!(
            event_line(&event, &Styles::plain()),
            r#"00:00:00.000 UTC  custom                {"note":"hi"}"#
        );
    }
}
