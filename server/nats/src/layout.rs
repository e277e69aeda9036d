//! Where each dq topic lives in JetStream: the fixed routing table from topic to (stream, subject), and the
//! stream configurations. Stream names cannot contain dots, so topics map onto four streams; partition is
//! always 0 (every runs topic has one partition).

use std::time::Duration;

use async_nats::jetstream::stream::{Config, RetentionPolicy, StorageType};
use dq_proto::runs::{COMMANDS_TOPIC, DLQ_TOPIC, EVENTS_PREFIX, POISON_TOPIC};
use dq_runs::{INDEX_TOPIC, QueueError};

/// The commands the workers consume.
pub(crate) const COMMANDS_STREAM: &str = "RUNS_COMMANDS";
/// Every run's timeline, one subject per run.
pub(crate) const EVENTS_STREAM: &str = "RUNS_EVENTS";
/// One record per start or replay.
pub(crate) const INDEX_STREAM: &str = "RUNS_INDEX";
/// DLQ records, and the junk commands the worker parks.
pub(crate) const DLQ_STREAM: &str = "RUNS_DLQ";

/// Timelines older than this are dropped: it bounds the per-subject index the servers keep in memory (one
/// subject per run).
const EVENTS_MAX_AGE: Duration = Duration::from_secs(30 * 24 * 3600);
/// Commands are kept a week after they were written (acked or not), as a record of what ran.
const COMMANDS_MAX_AGE: Duration = Duration::from_secs(7 * 24 * 3600);
/// A second publish with the same `Nats-Msg-Id` inside this window stores nothing. Longer than a lease plus
/// the backoffs, so that a writer retrying after a timeout never stores a second copy; not much longer,
/// because the servers hold every id of the window in memory.
const DUPLICATE_WINDOW: Duration = Duration::from_secs(10 * 60);

/// A topic's place in JetStream.
#[derive(Debug, Clone)]
pub(crate) struct Route {
    /// The stream holding it.
    pub stream: &'static str,
    /// Its subject (the topic's name: subjects may contain dots).
    pub subject: String,
}

/// Where `topic` lives; a topic dq does not use is unknown.
pub(crate) fn route(topic: &str) -> Result<Route, QueueError> {
    let stream = match topic {
        COMMANDS_TOPIC => COMMANDS_STREAM,
        INDEX_TOPIC => INDEX_STREAM,
        DLQ_TOPIC | POISON_TOPIC => DLQ_STREAM,
        _ => match topic.strip_prefix(EVENTS_PREFIX) {
            // A run id is `[A-Za-z0-9_-]`: no wildcard, dot or space can reach a subject.
            Some(run_id) if dq_proto::runs::validate_run_id(run_id).is_ok() => EVENTS_STREAM,
            _ => return Err(QueueError::UnknownTopic(topic.to_owned())),
        },
    };
    Ok(Route {
        stream,
        subject: topic.to_owned(),
    })
}

/// The configurations of the four streams, with `replicas` copies of each message, on disk.
pub(crate) fn streams(replicas: usize) -> [Config; 4] {
    let base = |name: &str, subjects: Vec<String>| Config {
        name: name.to_owned(),
        subjects,
        retention: RetentionPolicy::Limits,
        storage: StorageType::File,
        num_replicas: replicas,
        duplicate_window: DUPLICATE_WINDOW,
        // Reads (timelines, the registry's catch-up) are answered by any replica, without a consumer.
        allow_direct: true,
        ..Config::default()
    };
    [
        Config {
            max_age: COMMANDS_MAX_AGE,
            ..base(COMMANDS_STREAM, vec![COMMANDS_TOPIC.to_owned()])
        },
        Config {
            max_age: EVENTS_MAX_AGE,
            ..base(EVENTS_STREAM, vec![format!("{EVENTS_PREFIX}>")])
        },
        base(INDEX_STREAM, vec![INDEX_TOPIC.to_owned()]),
        base(
            DLQ_STREAM,
            vec![DLQ_TOPIC.to_owned(), POISON_TOPIC.to_owned()],
        ),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_runs_topic_has_a_stream_and_nothing_else_does() {
        assert_eq!(route("runs.commands").unwrap().stream, COMMANDS_STREAM);
        assert_eq!(route("runs.index").unwrap().stream, INDEX_STREAM);
        assert_eq!(route("runs.dlq").unwrap().stream, DLQ_STREAM);
        assert_eq!(route("runs.commands.poison").unwrap().stream, DLQ_STREAM);
        let events = route("runs.events.abc123").unwrap();
        assert_eq!(
            (events.stream, events.subject.as_str()),
            (EVENTS_STREAM, "runs.events.abc123")
        );
        for topic in [
            "orders",
            "runs.events.",
            "runs.events.a.b",
            "runs.events.*",
            "runs.events.>",
        ] {
            assert!(
                matches!(route(topic), Err(QueueError::UnknownTopic(_))),
                "{topic}"
            );
        }
    }
}
