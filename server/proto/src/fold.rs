//! The one status fold: a run's timeline, oldest event first, folded into where the run stands
//! ([`RunState`]). The server's run registry and the CLI's follower both use it, so that `dq run`, `dq runs
//! show` and `GET /runs/{id}` cannot disagree.
//!
//! Rules:
//! - Only server-authored events count: an event with a `source` (every event stored through
//!   `POST /runs/{id}/emit` has `"source": "user"`) changes nothing, whatever its type. `emit` also refuses the
//!   `run.*`, `step.*` and `worker.*` namespaces outright. The broker's own API (`/v1/produce`) is the
//!   workers' path (an external `dq worker` writes its events there), so a message produced there without a
//!   `source` is trusted as a worker's: protect `/v1` with the server's token.
//! - `run.replay_requested` with a higher `seq` than the current replay starts that replay: queued, no
//!   attempts, no error, not ended. A lower or equal `seq` changes nothing.
//! - Every other event counts only for the replay it names (`replay_seq`): a late event of replay n (its
//!   success, its failure) is not credited to replay n+1. An event without `replay_seq` (written before dq
//!   added it to every event, or by the original starter) counts for the current replay.
//! - `worker.received` → running with its attempt; `run.attempt_failed` → the error; `run.retry_scheduled`
//!   → retrying, with the attempt limit; `run.dlq` → dead-lettered; `run.failed` → dead-lettered and ended;
//!   `run.succeeded` → succeeded and ended, the error cleared.
//! - An ended (or dead-lettered) start or replay stays so until the next replay: a `run.succeeded` after
//!   `run.failed` (an old forged event, a duplicate) changes nothing.
//! - Every other type (`run.created`, `run.started`, `step.*`, `run.attempt_abandoned` (the same attempt runs
//!   again), `run.superseded` — the `run.replay_requested`
//!   right after it does the change —, the SSE markers, unknown types) changes nothing.

use crate::event::{Event, EventBody};
use crate::runs::RunStatus;

/// Where a run stands, folded from its timeline.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunState {
    /// The status of the current start or replay.
    pub status: RunStatus,
    /// The current start (0) or replay (n).
    pub replay_seq: u64,
    /// Attempts made by the current start or replay.
    pub attempts: u32,
    /// The attempt limit, once an event named it.
    pub max_attempts: Option<u32>,
    /// The latest failed attempt's error, until the start or replay succeeds.
    pub last_error: Option<String>,
    /// Whether the current start or replay wrote its closing event (`run.succeeded` or `run.failed`).
    pub ended: bool,
}

impl Default for RunState {
    fn default() -> Self {
        Self::new()
    }
}

impl RunState {
    /// A run just created: queued, start 0.
    pub fn new() -> Self {
        Self {
            status: RunStatus::Queued,
            replay_seq: 0,
            attempts: 0,
            max_attempts: None,
            last_error: None,
            ended: false,
        }
    }

    /// Folds a whole timeline.
    pub fn of<'a>(events: impl IntoIterator<Item = &'a Event>) -> Self {
        let mut state = Self::new();
        for event in events {
            state.apply(event);
        }
        state
    }

    /// Folds the next event in; true when it changed the state (see the module doc for the rules).
    pub fn apply(&mut self, event: &Event) -> bool {
        if !event.is_server_authored() {
            return false;
        }
        if let EventBody::ReplayRequested { seq, .. } = &event.body {
            if *seq <= self.replay_seq {
                return false;
            }
            *self = Self {
                replay_seq: *seq,
                ..Self::new()
            };
            return true;
        }
        if event.replay_seq.is_some_and(|seq| seq != self.replay_seq) || self.ended {
            return false;
        }
        let open = !self.status.is_terminal();
        match &event.body {
            EventBody::WorkerReceived { attempt } if open => {
                self.attempts = *attempt;
                self.status = RunStatus::Running;
            }
            EventBody::AttemptFailed { attempt, error, .. } if open => {
                self.attempts = self.attempts.max(*attempt);
                self.last_error = Some(error.clone());
            }
            EventBody::RetryScheduled { max_attempts, .. } if open => {
                self.max_attempts = Some(*max_attempts);
                self.status = RunStatus::Retrying;
            }
            EventBody::RunDlq { .. } if open => self.status = RunStatus::DeadLettered,
            // `run.failed` closes what `run.dlq` began (the worker writes both, in that order).
            EventBody::RunFailed {} => {
                self.status = RunStatus::DeadLettered;
                self.ended = true;
            }
            EventBody::RunSucceeded {} if open => {
                self.status = RunStatus::Succeeded;
                self.last_error = None;
                self.ended = true;
            }
            EventBody::WorkerReceived { .. }
            | EventBody::AttemptFailed { .. }
            | EventBody::RetryScheduled { .. }
            | EventBody::RunDlq { .. }
            | EventBody::RunSucceeded {}
            | EventBody::ReplayRequested { .. }
            | EventBody::RunCreated { .. }
            | EventBody::Superseded { .. }
            | EventBody::AttemptAbandoned { .. }
            | EventBody::RunStarted {}
            | EventBody::StepStarted { .. }
            | EventBody::StepCompleted { .. }
            | EventBody::SseConnected {}
            | EventBody::DlqAvailable {}
            | EventBody::Other { .. } => return false,
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::SOURCE_USER;

    fn ev(replay: u64, body: EventBody) -> Event {
        Event::lifecycle(1, "r", replay, body)
    }

    fn received(replay: u64, attempt: u32) -> Event {
        ev(replay, EventBody::WorkerReceived { attempt })
    }

    fn failed_attempt(replay: u64, attempt: u32) -> Event {
        ev(
            replay,
            EventBody::AttemptFailed {
                attempt,
                error: format!("boom {attempt}"),
                step: None,
                retryable: None,
            },
        )
    }

    fn replay(seq: u64) -> Event {
        ev(seq, EventBody::ReplayRequested { seq, fail_at: None })
    }

    fn dlq(replay: u64) -> Event {
        ev(
            replay,
            EventBody::RunDlq {
                reason: "max_attempts".into(),
                dlq_topic: "runs.dlq".into(),
                dlq_idem: "x".into(),
            },
        )
    }

    /// A start that exhausts its 2 attempts.
    fn dead_start() -> Vec<Event> {
        vec![
            ev(0, EventBody::RunCreated { workflow: None }),
            received(0, 1),
            failed_attempt(0, 1),
            ev(
                0,
                EventBody::RetryScheduled {
                    attempt: 2,
                    max_attempts: 2,
                    step: None,
                    delay_ms: None,
                },
            ),
            received(0, 2),
            failed_attempt(0, 2),
            dlq(0),
            ev(0, EventBody::RunFailed {}),
        ]
    }

    #[test]
    fn a_failing_start_goes_through_each_status_and_ends_dead_lettered() {
        let mut state = RunState::new();
        let expected = [
            RunStatus::Queued,
            RunStatus::Running,
            RunStatus::Running,
            RunStatus::Retrying,
            RunStatus::Running,
            RunStatus::Running,
            RunStatus::DeadLettered,
            RunStatus::DeadLettered,
        ];
        for (event, status) in dead_start().iter().zip(expected) {
            state.apply(event);
            assert_eq!(state.status, status, "after {}", event.kind());
        }
        assert!(state.ended);
        assert_eq!(state.attempts, 2);
        assert_eq!(state.max_attempts, Some(2));
        assert_eq!(state.last_error.as_deref(), Some("boom 2"));
    }

    #[test]
    fn run_dlq_alone_is_dead_lettered_but_not_ended_until_run_failed() {
        let mut events = dead_start();
        events.pop();
        let state = RunState::of(&events);
        assert_eq!(state.status, RunStatus::DeadLettered);
        assert!(!state.ended);
    }

    #[test]
    fn a_replay_resets_the_attempts_and_the_error_and_reopens_the_run() {
        let mut events = dead_start();
        events.push(replay(1));
        let state = RunState::of(&events);
        assert_eq!(
            state,
            RunState {
                replay_seq: 1,
                ..RunState::new()
            }
        );
        events.push(received(1, 1));
        let state = RunState::of(&events);
        assert_eq!((state.status, state.attempts), (RunStatus::Running, 1));
        // A replay_requested of an older or the same replay changes nothing.
        let mut again = state.clone();
        assert!(!again.apply(&replay(1)));
        assert_eq!(again, state);
    }

    #[test]
    fn a_late_success_of_replay_n_is_not_credited_to_replay_n_plus_1() {
        let mut events = dead_start();
        events.extend([replay(1), received(1, 1), replay(2)]);
        events.push(ev(1, EventBody::RunSucceeded {}));
        let state = RunState::of(&events);
        assert_eq!(state.replay_seq, 2);
        assert_eq!(state.status, RunStatus::Queued);
        assert!(!state.ended);
        // ...nor a late failure of the first start.
        events.push(ev(0, EventBody::RunFailed {}));
        assert_eq!(RunState::of(&events).status, RunStatus::Queued);
        events.extend([received(2, 1), ev(2, EventBody::RunSucceeded {})]);
        let state = RunState::of(&events);
        assert_eq!((state.status, state.ended), (RunStatus::Succeeded, true));
    }

    #[test]
    fn an_ended_run_stays_ended_until_a_replay() {
        let mut events = dead_start();
        // An old forged success, stored after the run was dead-lettered (no replay_seq, no source).
        events.push(Event::new(1, "x", "r"));
        events
            .push(serde_json::from_str(r#"{"ts":9,"type":"run.succeeded","run_id":"r"}"#).unwrap());
        events.push(received(0, 3));
        let state = RunState::of(&events);
        assert_eq!(state.status, RunStatus::DeadLettered);
        assert_eq!(state.attempts, 2);
    }

    #[test]
    fn events_not_written_by_the_server_or_the_worker_change_nothing() {
        let mut state = RunState::of(&[received(0, 1)]);
        let before = state.clone();
        for text in [
            r#"{"ts":1,"type":"run.succeeded","run_id":"r","source":"user"}"#,
            r#"{"ts":1,"type":"run.failed","run_id":"r","replay_seq":0,"source":"user"}"#,
            r#"{"ts":1,"type":"run.replay_requested","run_id":"r","seq":4,"source":"someone"}"#,
        ] {
            let event: Event = serde_json::from_str(text).unwrap();
            assert!(!state.apply(&event), "{text}");
        }
        assert_eq!(state, before);
        let user = Event::new(1, "note", "r").with("source", SOURCE_USER);
        assert!(!state.apply(&user));
    }

    #[test]
    fn unknown_and_informational_events_change_nothing() {
        let mut state = RunState::of(&[received(0, 1)]);
        let before = state.clone();
        for event in [
            Event::new(1, "run.superseded_by_a_newer_server", "r").with("replay_seq", 0),
            Event::new(1, "note", "r"),
            ev(0, EventBody::RunStarted {}),
            ev(
                0,
                EventBody::StepStarted {
                    step: "s".into(),
                    attempt: None,
                },
            ),
            ev(0, EventBody::SseConnected {}),
            // A known type whose fields do not decode is not that type.
            serde_json::from_str(
                r#"{"ts":1,"type":"run.attempt_failed","run_id":"r","attempt":"x"}"#,
            )
            .unwrap(),
        ] {
            assert!(!state.apply(&event), "{}", event.kind());
        }
        assert_eq!(state, before);
    }

    #[test]
    fn a_success_after_a_retry_clears_the_error() {
        let state = RunState::of(&[
            received(0, 1),
            failed_attempt(0, 1),
            received(0, 2),
            ev(0, EventBody::RunSucceeded {}),
        ]);
        assert_eq!(state.status, RunStatus::Succeeded);
        assert_eq!(state.attempts, 2);
        assert_eq!(state.last_error, None);
    }
}
