//! Following one start or replay of a run over its SSE timeline until it ends. It owns the rule for "which
//! events belong to replay N" and "when has it ended", and reconnects when a stream breaks: with
//! `Last-Event-ID` on a dq server, by skipping what it already saw on the original starter (which replays the
//! whole timeline on every connection). It prints nothing: callers get each event through a callback.

use std::time::Duration;

use dq_proto::runs::{Event, RunStatus, SUPERSEDED_EVENT};
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
    matches!(event.kind.as_str(), "sse.connected" | "dlq.available")
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
            return Err(CliError::Unreachable {
                url: client.base().to_string(),
                reason: format!("the event stream of run {run_id} ended before the run did"),
            });
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Decides which events belong to one start or replay, and when it has ended.
#[derive(Debug)]
pub struct Tracker {
    run_id: String,
    replay_seq: u64,
    in_scope: bool,
    ended: Option<RunStatus>,
    attempts: u64,
    max_attempts: Option<u64>,
    error: Option<String>,
    events: usize,
}

impl Tracker {
    /// Tracks start (0) or replay (n) of `run_id`.
    pub fn new(run_id: &str, replay_seq: u64) -> Self {
        Self {
            run_id: run_id.to_owned(),
            replay_seq,
            in_scope: replay_seq == 0,
            ended: None,
            attempts: 0,
            max_attempts: None,
            error: None,
            events: 0,
        }
    }

    /// Takes in the next event; true when it belongs to the tracked start or replay.
    pub fn observe(&mut self, event: &Event) -> bool {
        if self.ended.is_some() {
            return false;
        }
        // A forced replay superseded the tracked one, which will not end: follow the one that superseded it.
        if event.kind == SUPERSEDED_EVENT
            && event.u64_field("replay_seq") == Some(self.replay_seq)
            && let Some(by) = event.u64_field("by")
        {
            *self = Self::new(&self.run_id, by);
            self.in_scope = false;
            return true;
        }
        if event.kind == "run.replay_requested" {
            let seq = event
                .u64_field("seq")
                .or_else(|| event.u64_field("replay_seq"));
            self.in_scope = seq == Some(self.replay_seq);
        }
        if !self.in_scope {
            return false;
        }
        // An event that names another replay is not ours (replays may overlap).
        if let Some(seq) = event.u64_field("replay_seq")
            && seq != self.replay_seq
            && event.kind != "run.replay_requested"
        {
            return false;
        }
        self.events += 1;
        match event.kind.as_str() {
            "worker.received" | "run.attempt_failed" => {
                if let Some(attempt) = event.u64_field("attempt") {
                    self.attempts = self.attempts.max(attempt);
                }
                if let Some(error) = event.str_field("error") {
                    self.error = Some(error.to_owned());
                }
            }
            "run.retry_scheduled" => {
                self.max_attempts = event.u64_field("max_attempts").or(self.max_attempts);
            }
            "run.succeeded" => {
                self.error = None;
                self.ended = Some(RunStatus::Succeeded);
            }
            "run.failed" => self.ended = Some(RunStatus::DeadLettered),
            _ => {}
        }
        true
    }

    /// The outcome, once the tracked start or replay has ended.
    pub fn outcome(&self) -> Option<Outcome> {
        let status = self.ended?;
        Some(Outcome {
            run_id: self.run_id.clone(),
            status,
            replay_seq: self.replay_seq,
            attempts: self.attempts.max(1),
            max_attempts: self.max_attempts,
            error: self.error.clone(),
            events: self.events,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(kind: &str) -> Event {
        Event::new(0, kind, "r")
    }

    #[test]
    fn a_replay_ignores_the_first_start_and_ends_on_its_own_success() {
        let mut tracker = Tracker::new("r", 1);
        assert!(!tracker.observe(&ev("run.created")));
        assert!(!tracker.observe(&ev("run.failed").with("replay_seq", 0)));
        assert!(tracker.outcome().is_none());
        assert!(tracker.observe(&ev("run.replay_requested").with("seq", 1)));
        assert!(
            tracker.observe(
                &ev("worker.received")
                    .with("attempt", 1)
                    .with("replay_seq", 1)
            )
        );
        assert!(tracker.observe(&ev("run.succeeded").with("replay_seq", 1)));
        let outcome = tracker.outcome().unwrap();
        assert_eq!(outcome.status, RunStatus::Succeeded);
        assert_eq!(outcome.attempts, 1);
        assert_eq!(outcome.events, 3);
    }

    #[test]
    fn a_superseded_replay_is_followed_into_the_replay_that_superseded_it() {
        let mut tracker = Tracker::new("r", 0);
        tracker.observe(
            &ev("worker.received")
                .with("attempt", 2)
                .with("replay_seq", 0),
        );
        assert!(tracker.observe(&ev(SUPERSEDED_EVENT).with("replay_seq", 0).with("by", 1)));
        assert!(tracker.observe(&ev("run.replay_requested").with("seq", 1)));
        assert!(!tracker.observe(&ev("run.failed").with("replay_seq", 0)));
        assert!(
            tracker.outcome().is_none(),
            "the superseded chain's end is not ours"
        );
        tracker.observe(
            &ev("worker.received")
                .with("attempt", 1)
                .with("replay_seq", 1),
        );
        tracker.observe(&ev("run.succeeded").with("replay_seq", 1));
        let outcome = tracker.outcome().unwrap();
        assert_eq!(outcome.status, RunStatus::Succeeded);
        assert_eq!((outcome.replay_seq, outcome.attempts), (1, 1));
    }

    #[test]
    fn a_first_start_ends_dead_lettered_with_its_last_error() {
        let mut tracker = Tracker::new("r", 0);
        tracker.observe(&ev("run.created"));
        tracker.observe(&ev("worker.received").with("attempt", 3));
        tracker.observe(
            &ev("run.attempt_failed")
                .with("attempt", 3)
                .with("error", "boom"),
        );
        tracker.observe(
            &ev("run.retry_scheduled")
                .with("attempt", 3)
                .with("max_attempts", 3),
        );
        tracker.observe(&ev("run.failed").with("replay_seq", 0));
        let outcome = tracker.outcome().unwrap();
        assert_eq!(outcome.status, RunStatus::DeadLettered);
        assert_eq!(outcome.error.as_deref(), Some("boom"));
        assert_eq!(outcome.max_attempts, Some(3));
        assert!(!tracker.observe(&ev("run.replay_requested").with("seq", 1)));
    }
}
