//! Following one start or replay of a run over its SSE timeline until it ends. Where the run stands is the
//! server's own fold ([`dq_proto::fold::RunState`]); this module adds "which events belong to replay N", and
//! reconnects when a stream breaks: with
//! `Last-Event-ID` on a dq server, by skipping what it already saw on the original starter (which replays the
//! whole timeline on every connection). It prints nothing: callers get each event through a callback.

use std::time::Duration;

use dq_proto::event::{Event, EventBody};
use dq_proto::fold::RunState;
use dq_proto::runs::RunStatus;
use serde::Serialize;

use crate::client::{Client, Frame};
use crate::error::{CliError, Result};

/// Reconnection attempts in a row before giving up on a broken stream.
const RECONNECTS: u32 = 5;

/// How one start or replay of a run ended.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Outcome {
    /// The run.
    pub run_id: String,
    /// `succeeded` or `dead_lettered`.
    pub status: RunStatus,
    /// Which start (0) or replay (n).
    pub replay_seq: u64,
    /// Attempts made.
    pub attempts: u64,
    /// The attempt limit, when the events named it.
    pub max_attempts: Option<u64>,
    /// The last attempt's error, when one failed.
    pub error: Option<String>,
    /// Events of this start or replay.
    pub events: usize,
}

/// Events the SSE endpoint adds that are not part of the stored timeline.
pub fn is_meta(event: &Event) -> bool {
    event.body.is_sse_marker()
}

/// Follows `run_id` until start/replay `replay_seq` ends, handing each of its events to `on_event`.
pub async fn follow(
    client: &Client,
    run_id: &str,
    replay_seq: u64,
    mut on_event: impl FnMut(&Frame) -> Result<()>,
) -> Result<Outcome> {
    let mut tracker = Tracker::new(run_id, replay_seq);
    let mut last_id: Option<u64> = None;
    let mut seen = 0usize;
    let mut failures = 0u32;
    // Whether the last stream broke (a transport failure) rather than ended.
    let mut broke = false;
    loop {
        let mut stream = match client.events(run_id, last_id).await {
            Ok(stream) => stream,
            Err(err @ CliError::Unreachable { .. }) if failures < RECONNECTS && seen > 0 => {
                failures += 1;
                tracing::debug!(%err, "reconnecting to the event stream");
                tokio::time::sleep(Duration::from_millis(200)).await;
                continue;
            }
            Err(err) => return Err(err),
        };
        // Without ids the server starts over: skip what was already handled.
        let mut skip = if last_id.is_none() { seen } else { 0 };
        loop {
            let frame = match stream.next().await {
                Ok(Some(frame)) => frame,
                Ok(None) => break,
                Err(err) if failures < RECONNECTS => {
                    tracing::debug!(%err, "event stream broke");
                    broke = true;
                    break;
                }
                Err(err) => return Err(err),
            };
            if is_meta(&frame.event) {
                continue;
            }
            if let (Some(id), Some(last)) = (frame.id, last_id)
                && id <= last
            {
                continue;
            }
            if skip > 0 {
                skip -= 1;
                continue;
            }
            failures = 0;
            broke = false;
            seen += 1;
            last_id = frame.id.or(last_id);
            if tracker.observe(&frame.event) {
                on_event(&frame)?;
            }
            if let Some(outcome) = tracker.outcome() {
                return Ok(outcome);
            }
        }
        failures += 1;
        if failures > RECONNECTS {
            return Err(if broke {
                CliError::Unreachable {
                    url: client.base().to_string(),
                    reason: format!("the event stream of run {run_id} kept breaking"),
                }
            } else {
                stream_ended(client, run_id).await
            });
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// The error for a server that answers but ends a run's event stream before the run ended: it is reachable, so
/// the error says what it answers for the run's timeline instead (a dq server whose broker cannot be read
/// says why there), not that it cannot be reached.
pub async fn stream_ended(client: &Client, run_id: &str) -> CliError {
    let why = match client.timeline(run_id, None).await {
        // The original starter has no timeline route: nothing more to say.
        Ok(_) | Err(CliError::MissingRoute { .. }) => String::new(),
        Err(err) => format!("; GET /runs/{run_id}/timeline: {err}"),
    };
    CliError::StreamEnded {
        url: client.base().to_string(),
        run_id: run_id.to_owned(),
        why,
    }
}

/// Decides which events belong to one start or replay, and when it has ended.
#[derive(Debug)]
pub struct Tracker {
    run_id: String,
    replay_seq: u64,
    state: RunState,
    events: usize,
}

impl Tracker {
    /// Tracks start (0) or replay (n) of `run_id`.
    pub fn new(run_id: &str, replay_seq: u64) -> Self {
        Self {
            run_id: run_id.to_owned(),
            replay_seq,
            state: RunState::new(),
            events: 0,
        }
    }

    fn ended(&self) -> bool {
        self.state.ended && self.state.replay_seq == self.replay_seq
    }

    /// Takes in the next event; true when it belongs to the tracked start or replay: the run is at that start
    /// or replay once the event is folded in, and the event names no other.
    pub fn observe(&mut self, event: &Event) -> bool {
        if self.ended() {
            return false;
        }
        // A forced replay superseded the tracked one, which will not end: follow the one that superseded it.
        if let EventBody::Superseded { by } = event.body
            && event.is_server_authored()
            && event.replay() == Some(self.replay_seq)
        {
            self.replay_seq = by;
            return true;
        }
        self.state.apply(event);
        let ours = self.state.replay_seq == self.replay_seq
            && event.replay().is_none_or(|seq| seq == self.replay_seq);
        if ours {
            self.events += 1;
        }
        ours
    }

    /// The outcome, once the tracked start or replay has ended.
    pub fn outcome(&self) -> Option<Outcome> {
        if !self.ended() {
            return None;
        }
        Some(Outcome {
            run_id: self.run_id.clone(),
            status: self.state.status,
            replay_seq: self.replay_seq,
            attempts: u64::from(self.state.attempts.max(1)),
            max_attempts: self.state.max_attempts.map(u64::from),
            error: self.state.last_error.clone(),
            events: self.events,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// An event as it arrives: decoded from its JSON.
    fn ev(kind: &str) -> Event {
        serde_json::from_value(serde_json::json!({"ts": 0, "type": kind, "run_id": "r"})).unwrap()
    }

    /// `ev` with more fields, decoded from its JSON.
    fn evw(kind: &str, fields: serde_json::Value) -> Event {
        let mut map = fields.as_object().unwrap().clone();
        map.insert("type".into(), kind.into());
        map.insert("run_id".into(), "r".into());
        serde_json::from_value(serde_json::Value::Object(map)).unwrap()
    }

    #[test]
    fn a_replay_ignores_the_first_start_and_ends_on_its_own_success() {
        let mut tracker = Tracker::new("r", 1);
        assert!(!tracker.observe(&ev("run.created")));
        assert!(!tracker.observe(&evw("run.failed", json!({"replay_seq": 0}))));
        assert!(tracker.outcome().is_none());
        assert!(tracker.observe(&evw(
            "run.replay_requested",
            json!({"seq": 1, "fail_at": null})
        )));
        assert!(tracker.observe(&evw(
            "worker.received",
            json!({"attempt": 1, "replay_seq": 1})
        )));
        assert!(tracker.observe(&evw("run.succeeded", json!({"replay_seq": 1}))));
        let outcome = tracker.outcome().unwrap();
        assert_eq!(outcome.status, RunStatus::Succeeded);
        assert_eq!(outcome.attempts, 1);
        assert_eq!(outcome.events, 3);
    }

    #[test]
    fn a_superseded_replay_is_followed_into_the_replay_that_superseded_it() {
        let mut tracker = Tracker::new("r", 0);
        tracker.observe(&evw(
            "worker.received",
            json!({"attempt": 2, "replay_seq": 0}),
        ));
        assert!(tracker.observe(&evw("run.superseded", json!({"replay_seq": 0, "by": 1}))));
        assert!(tracker.observe(&evw(
            "run.replay_requested",
            json!({"seq": 1, "fail_at": null})
        )));
        assert!(!tracker.observe(&evw("run.failed", json!({"replay_seq": 0}))));
        assert!(
            tracker.outcome().is_none(),
            "the superseded chain's end is not ours"
        );
        tracker.observe(&evw(
            "worker.received",
            json!({"attempt": 1, "replay_seq": 1}),
        ));
        tracker.observe(&evw("run.succeeded", json!({"replay_seq": 1})));
        let outcome = tracker.outcome().unwrap();
        assert_eq!(outcome.status, RunStatus::Succeeded);
        assert_eq!((outcome.replay_seq, outcome.attempts), (1, 1));
    }

    #[test]
    fn a_first_start_ends_dead_lettered_with_its_last_error() {
        let mut tracker = Tracker::new("r", 0);
        tracker.observe(&ev("run.created"));
        tracker.observe(&evw("worker.received", json!({"attempt": 3})));
        tracker.observe(&evw(
            "run.attempt_failed",
            json!({"attempt": 3, "error": "boom"}),
        ));
        tracker.observe(&evw(
            "run.retry_scheduled",
            json!({"attempt": 3, "max_attempts": 3}),
        ));
        tracker.observe(&evw("run.failed", json!({"replay_seq": 0})));
        let outcome = tracker.outcome().unwrap();
        assert_eq!(outcome.status, RunStatus::DeadLettered);
        assert_eq!(outcome.error.as_deref(), Some("boom"));
        assert_eq!(outcome.max_attempts, Some(3));
        assert!(!tracker.observe(&evw("run.replay_requested", json!({"seq": 1}))));
    }

    #[test]
    fn a_users_success_is_shown_but_ends_nothing() {
        let mut tracker = Tracker::new("r", 0);
        tracker.observe(&evw(
            "worker.received",
            json!({"attempt": 1, "replay_seq": 0}),
        ));
        let forged = evw("run.succeeded", json!({"source": "user", "replay_seq": 0}));
        assert!(tracker.observe(&forged), "it belongs to the start");
        assert!(tracker.outcome().is_none());
    }

    #[test]
    fn a_late_success_of_the_start_does_not_end_replay_1() {
        let mut tracker = Tracker::new("r", 1);
        tracker.observe(&evw(
            "run.replay_requested",
            json!({"seq": 1, "replay_seq": 1}),
        ));
        assert!(!tracker.observe(&evw("run.succeeded", json!({"replay_seq": 0}))));
        assert!(tracker.outcome().is_none());
    }
}
