//! The human rendering of run events: one line per event — time, type, step, attempt, replay, error.

use dq_proto::runs::Event;
use serde_json::Value;
use time::OffsetDateTime;
use time::macros::format_description;

use super::Styles;

/// Fields shown in their own words; anything else on a custom event is shown as compact JSON.
const KNOWN: [&str; 14] = [
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
    "abandoned",
    "max_abandoned",
];

/// One timeline line: `14:03:07.412  step.started          tool_call  attempt 1`.
pub fn event_line(event: &Event, styles: &Styles) -> String {
    let kind = format!("{:<20}", event.kind);
    let kind = match event.kind.as_str() {
        "run.succeeded" => styles.ok(kind),
        "run.failed" | "run.dlq" | "run.attempt_failed" => styles.bad(kind),
        "run.retry_scheduled" | "run.attempt_abandoned" | "dlq.available" => styles.warn(kind),
        "run.created" | "run.replay_requested" | "sse.connected" => styles.accent(kind),
        _ => kind,
    };
    let mut parts = vec![styles.dim(format_ts(event.ts)), kind];
    if let Some(step) = event.str_field("step") {
        parts.push(styles.bold(step));
    }
    if let Some(attempt) = event.u64_field("attempt") {
        match event.u64_field("max_attempts") {
            Some(max) => parts.push(format!("attempt {attempt}/{max}")),
            None => parts.push(format!("attempt {attempt}")),
        }
    }
    let replay = event
        .u64_field("replay_seq")
        .or_else(|| event.u64_field("seq"));
    if let Some(seq) = replay.filter(|&s| s > 0) {
        parts.push(styles.dim(format!("replay {seq}")));
    }
    if event.kind == "run.replay_requested" || event.kind == "run.created" {
        match event.extra.get("fail_at") {
            Some(Value::String(step)) => parts.push(format!("fail_at={step}")),
            Some(Value::Null) => parts.push(styles.ok("fix applied")),
            _ => {}
        }
    }
    if let (Some(n), Some(max)) = (
        event.u64_field("abandoned"),
        event.u64_field("max_abandoned"),
    ) {
        parts.push(format!("abandoned {n}/{max}"));
    }
    if let Some(reason) = event.str_field("reason") {
        parts.push(format!("reason={reason}"));
    }
    if let Some(error) = event.str_field("error") {
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

/// `HH:MM:SS.mmm` in UTC.
pub fn format_ts(ts_ms: u64) -> String {
    match datetime(ts_ms) {
        Some(dt) => dt
            .format(format_description!(
                "[hour]:[minute]:[second].[subsecond digits:3]"
            ))
            .unwrap_or_default(),
        None => "--:--:--.---".to_owned(),
    }
}

/// `2024-05-01 14:03:07 UTC`.
pub fn format_ts_full(ts_ms: u64) -> String {
    match datetime(ts_ms) {
        Some(dt) => dt
            .format(format_description!(
                "[year]-[month]-[day] [hour]:[minute]:[second] UTC"
            ))
            .unwrap_or_default(),
        None => "unknown".to_owned(),
    }
}

fn datetime(ts_ms: u64) -> Option<OffsetDateTime> {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(ts_ms) * 1_000_000).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failed_attempt_reads_as_one_line() {
        let event = Event::new(1_700_000_000_123, "run.attempt_failed", "r")
            .with("attempt", 2)
            .with("replay_seq", 0)
            .with("error", "forced failure at tool_call");
        assert_eq!(
            event_line(&event, &Styles::plain()),
            "22:13:20.123  run.attempt_failed    attempt 2  forced failure at tool_call"
        );
    }

    #[test]
    fn an_abandoned_attempt_shows_its_count_and_reason() {
        let event = Event::new(1_700_000_000_123, "run.attempt_abandoned", "r")
            .with("attempt", 1)
            .with("replay_seq", 0)
            .with("reason", "lease expired")
            .with("abandoned", 2)
            .with("max_abandoned", 10);
        assert_eq!(
            event_line(&event, &Styles::plain()),
            "22:13:20.123  run.attempt_abandoned  attempt 1  abandoned 2/10  reason=lease expired"
        );
    }

    #[test]
    fn custom_fields_are_shown_as_json() {
        let event = Event::new(0, "custom", "r").with("note", "hi");
        assert_eq!(
            event_line(&event, &Styles::plain()),
            r#"00:00:00.000  custom                {"note":"hi"}"#
        );
    }
}
