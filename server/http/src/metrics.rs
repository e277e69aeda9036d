//! `GET /metrics`: the broker's counters and gauges in the Prometheus text exposition format (version 0.0.4),
//! written by hand because the format is a few lines of text. Also owns the few counters that only the HTTP
//! edge sees (produce requests rejected before they reach the broker).

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use dq_broker::Metrics;

use crate::AppState;

/// The exposition format's content type.
const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Produce rejections decided at the HTTP edge, by reason; the broker counts its own.
#[derive(Debug, Default)]
pub struct EdgeCounters {
    produce_invalid: AtomicU64,
    produce_body_too_large: AtomicU64,
}

impl EdgeCounters {
    /// Counts a produce request rejected as malformed or incomplete.
    pub fn produce_invalid(&self) {
        self.produce_invalid.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts a produce request whose body was over the request size limit.
    pub fn produce_body_too_large(&self) {
        self.produce_body_too_large.fetch_add(1, Ordering::Relaxed);
    }

    fn rejections(&self) -> [(String, u64); 2] {
        [
            (
                "invalid_request".to_owned(),
                self.produce_invalid.load(Ordering::Relaxed),
            ),
            (
                "body_too_large".to_owned(),
                self.produce_body_too_large.load(Ordering::Relaxed),
            ),
        ]
    }
}

/// `GET /metrics`.
pub async fn handler(State(state): State<AppState>) -> impl IntoResponse {
    let mut body = render(&state.broker.metrics(), &state.edge);
    storage(&mut body, state.broker.storage_failure().is_none());
    ([(header::CONTENT_TYPE, CONTENT_TYPE)], body)
}

/// `dq_storage_ok`: whether the store still takes writes.
fn storage(out: &mut String, ok: bool) {
    header(
        out,
        "dq_storage_ok",
        "1 while the store takes writes; 0 once a write or fsync failed (dq then exits to be restarted).",
        "gauge",
    );
    sample(out, "dq_storage_ok", &[], u64::from(ok));
}

fn render(m: &Metrics, edge: &EdgeCounters) -> String {
    let mut out = String::new();
    per_topic(
        &mut out,
        "dq_produced_messages_total",
        "Messages stored by produce.",
        &m.produced,
    );
    per_topic(
        &mut out,
        "dq_consumed_messages_total",
        "Messages delivered to consumers.",
        &m.delivered,
    );
    per_topic(
        &mut out,
        "dq_acked_messages_total",
        "Deliveries acknowledged.",
        &m.acked,
    );
    per_topic(
        &mut out,
        "dq_nacked_messages_total",
        "Deliveries rejected by nack.",
        &m.nacked,
    );
    per_topic(
        &mut out,
        "dq_dead_lettered_messages_total",
        "Messages moved to dlq.<topic> after their last attempt, by original topic.",
        &m.dead_lettered,
    );
    let total_dlq: u64 = m.dead_lettered.iter().map(|(_, n)| n).sum();
    header(
        &mut out,
        "dq_dead_lettered_total",
        "Messages dead-lettered, all topics.",
        "counter",
    );
    sample(&mut out, "dq_dead_lettered_total", &[], total_dlq);

    // The broker and the edge may both report a reason; add them so each series appears once.
    let mut rejected: std::collections::BTreeMap<String, u64> = std::collections::BTreeMap::new();
    for (reason, n) in m.produce_rejected.iter().cloned().chain(edge.rejections()) {
        *rejected.entry(reason).or_default() += n;
    }
    header(
        &mut out,
        "dq_produce_rejected_total",
        "Produce requests rejected, by reason.",
        "counter",
    );
    for (reason, n) in &rejected {
        sample(
            &mut out,
            "dq_produce_rejected_total",
            &[("reason", reason)],
            *n,
        );
    }
    header(
        &mut out,
        "dq_produce_duplicates_total",
        "Idempotent duplicates answered without storing.",
        "counter",
    );
    sample(&mut out, "dq_produce_duplicates_total", &[], m.duplicates);

    per_group(
        &mut out,
        "dq_in_flight_messages",
        "Messages delivered and not yet settled.",
        &m.in_flight,
    );
    per_group(
        &mut out,
        "dq_consumer_lag_messages",
        "Messages between the group's committed low-water mark and the head.",
        &m.lag,
    );
    out
}

fn per_topic(out: &mut String, name: &str, help: &str, values: &[(String, u64)]) {
    header(out, name, help, "counter");
    for (topic, n) in values {
        sample(out, name, &[("topic", topic)], *n);
    }
}

fn per_group(out: &mut String, name: &str, help: &str, values: &[(String, String, u64)]) {
    header(out, name, help, "gauge");
    for (topic, group, n) in values {
        sample(out, name, &[("topic", topic), ("group", group)], *n);
    }
}

fn header(out: &mut String, name: &str, help: &str, kind: &str) {
    // Writing to a String cannot fail.
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
}

fn sample(out: &mut String, name: &str, labels: &[(&str, &str)], value: u64) {
    out.push_str(name);
    if !labels.is_empty() {
        out.push('{');
        for (i, (key, val)) in labels.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            let _ = write!(out, "{key}=\"{}\"", escape(val));
        }
        out.push('}');
    }
    let _ = writeln!(out, " {value}");
}

/// Label values escape backslash, double quote and newline; nothing else.
fn escape(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_help_type_and_labelled_samples() {
        let m = Metrics {
            produced: vec![("orders".into(), 3)],
            in_flight: vec![("orders".into(), "g\"1".into(), 2)],
            produce_rejected: vec![("too_large".into(), 1)],
            duplicates: 4,
            ..Metrics::default()
        };
        let edge = EdgeCounters::default();
        edge.produce_invalid();
        let text = render(&m, &edge);
        assert!(text.contains("# TYPE dq_produced_messages_total counter\n"));
        assert!(text.contains("dq_produced_messages_total{topic=\"orders\"} 3\n"));
        assert!(text.contains("dq_in_flight_messages{topic=\"orders\",group=\"g\\\"1\"} 2\n"));
        assert!(text.contains("dq_produce_rejected_total{reason=\"too_large\"} 1\n"));
        assert!(text.contains("dq_produce_rejected_total{reason=\"invalid_request\"} 1\n"));
        assert!(text.contains("dq_produce_duplicates_total 4\n"));
        assert!(text.lines().all(|l| !l.is_empty()));
    }

    #[test]
    fn the_storage_gauge_is_0_once_storage_failed() {
        let mut text = String::new();
        storage(&mut text, true);
        assert!(text.contains("# TYPE dq_storage_ok gauge\n"));
        assert!(text.ends_with("\ndq_storage_ok 1\n"));
        let mut text = String::new();
        storage(&mut text, false);
        assert!(text.ends_with("\ndq_storage_ok 0\n"));
    }
}
