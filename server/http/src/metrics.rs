//! `GET /metrics`: the broker's counters and gauges in the Prometheus text exposition format (version 0.0.4),
//! written by hand because the format is a few lines of text. Also owns the few counters that only the HTTP
//! edge sees (produce requests rejected before they reach the broker).
//!
//! Label sets are bounded, so that the exposition does not grow with every run or group: a topic family that
//! dq makes one topic per run for (`runs.events.<id>`) is one series (`topic="runs.events.*"`), and past
//! [`MAX_LABEL_VALUES`] topics (or topic–group pairs) per metric, the rest are summed under `"_other"`, so totals
//! still add up.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use dq_broker::Metrics;

use crate::AppState;

/// Most distinct topics (or topic–group pairs) one metric reports by name; the rest go under [`OTHER`].
const MAX_LABEL_VALUES: usize = 100;
/// The label value that sums everything past [`MAX_LABEL_VALUES`].
const OTHER: &str = "_other";
/// Topic families with one topic per run, by prefix, and the one label each is reported under.
const PER_RUN_FAMILIES: [(&str, &str); 2] = [
    ("runs.events.", "runs.events.*"),
    ("dlq.runs.events.", "dlq.runs.events.*"),
];

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
    let folded = bounded(
        values
            .iter()
            .map(|(topic, n)| (topic_label(topic).to_owned(), *n)),
        OTHER.to_owned(),
    );
    for (topic, n) in &folded {
        sample(out, name, &[("topic", topic)], *n);
    }
}

fn per_group(out: &mut String, name: &str, help: &str, values: &[(String, String, u64)]) {
    header(out, name, help, "gauge");
    let folded = bounded(
        values
            .iter()
            .map(|(topic, group, n)| ((topic_label(topic).to_owned(), group.clone()), *n)),
        (OTHER.to_owned(), OTHER.to_owned()),
    );
    for ((topic, group), n) in &folded {
        sample(out, name, &[("topic", topic), ("group", group)], *n);
    }
}

/// The label a topic is reported under: its family for the per-run families, else its name.
fn topic_label(topic: &str) -> &str {
    PER_RUN_FAMILIES
        .iter()
        .find(|(prefix, _)| topic.starts_with(prefix))
        .map_or(topic, |(_, label)| label)
}

/// Sums values by label, keeps the first [`MAX_LABEL_VALUES`] labels in order and sums the rest under `other`.
/// Label order (by name) keeps the same series named from one scrape to the next as topics come and go.
fn bounded<K: Ord>(values: impl Iterator<Item = (K, u64)>, other: K) -> Vec<(K, u64)> {
    let mut summed: std::collections::BTreeMap<K, u64> = std::collections::BTreeMap::new();
    for (label, n) in values {
        let slot = summed.entry(label).or_default();
        *slot = slot.saturating_add(n);
    }
    let mut kept = Vec::with_capacity(summed.len().min(MAX_LABEL_VALUES + 1));
    let mut rest: Option<u64> = None;
    for (i, (label, n)) in summed.into_iter().enumerate() {
        if i < MAX_LABEL_VALUES {
            kept.push((label, n));
        } else {
            rest = Some(rest.unwrap_or(0).saturating_add(n));
        }
    }
    if let Some(n) = rest {
        kept.push((other, n));
    }
    kept
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

    /// Lines of one metric: `(labels, value)`.
    fn series(text: &str, metric: &str) -> Vec<(String, u64)> {
        text.lines()
            .filter_map(|line| line.strip_prefix(metric)?.strip_prefix('{'))
            .map(|rest| {
                let (labels, value) = rest.rsplit_once("} ").unwrap();
                (labels.to_owned(), value.parse().unwrap())
            })
            .collect()
    }

    #[test]
    fn series_stay_bounded_however_many_runs_topics_and_groups_and_totals_add_up() {
        let mut m = Metrics::default();
        for i in 0..300 {
            m.produced.push((format!("t{i:03}"), 2));
            m.lag.push((format!("t{i:03}"), "g".into(), 1));
        }
        for i in 0..1000 {
            m.produced.push((format!("runs.events.run-{i}"), 3));
            m.produced.push((format!("dlq.runs.events.run-{i}"), 1));
            m.lag
                .push((format!("runs.events.run-{i}"), "tail".into(), 1));
        }
        let text = render(&m, &EdgeCounters::default());
        let produced = series(&text, "dq_produced_messages_total");
        assert_eq!(produced.len(), MAX_LABEL_VALUES + 1, "{produced:?}");
        assert!(produced.contains(&("topic=\"runs.events.*\"".to_owned(), 3000)));
        assert!(produced.contains(&("topic=\"dlq.runs.events.*\"".to_owned(), 1000)));
        let other = produced.last().unwrap();
        assert_eq!(other.0, "topic=\"_other\"");
        let total: u64 = produced.iter().map(|(_, n)| n).sum();
        assert_eq!(total, 300 * 2 + 1000 * 3 + 1000);
        let lag = series(&text, "dq_consumer_lag_messages");
        assert_eq!(lag.len(), MAX_LABEL_VALUES + 1);
        assert!(lag.contains(&("topic=\"runs.events.*\",group=\"tail\"".to_owned(), 1000)));
        assert_eq!(lag.last().unwrap().0, "topic=\"_other\",group=\"_other\"");
        assert_eq!(lag.iter().map(|(_, n)| n).sum::<u64>(), 300 + 1000);
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
