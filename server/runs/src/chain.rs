//! What the worker reads of a run's timeline before and during an attempt ([`Chain`]): whether a newer
//! replay superseded the command's, and the command's replay so far ([`History`]): its failed and abandoned
//! attempts, the steps it completed with their outputs, and the outputs earlier replays left to reuse.

use std::collections::{BTreeSet, HashMap};

use dq_proto::event::{Event, EventBody};
use dq_proto::runs::{RunCommand, events_topic};
use serde_json::Value;

use crate::QueueError;
use crate::emitter::Emitter;

/// `run.attempt_abandoned` reasons.
pub(crate) const ABANDONED_RESTART: &str = "redelivered after a restart";
pub(crate) const ABANDONED_LEASE: &str = "lease expired";
pub(crate) const ABANDONED_SHUTDOWN: &str = "worker shutting down";

/// The broker's reason for an expired lease, as it appears in a delivery's `last_error`.
const BROKER_ACK_TIMEOUT: &str = "ack_timeout";

/// What a run's timeline says about the attempts of one replay.
#[derive(Debug, Default)]
pub(crate) struct History {
    /// Distinct attempts recorded as failed (`run.attempt_failed`), of any step: what makes each attempt's
    /// idempotency keys its own.
    pub failures: u32,
    /// Their (step, step attempt); the step is empty on events written before steps were named.
    failed: BTreeSet<(String, u32)>,
    /// The error of the last failed attempt.
    pub last_error: Option<String>,
    /// The failures of each step.
    steps: HashMap<String, StepFailures>,
    /// The outputs of the steps this replay completed (`null` for a step without one).
    pub completed: HashMap<String, Value>,
    /// Attempts recorded as abandoned (`run.attempt_abandoned`).
    pub abandoned: u32,
    /// Of those, the ones whose lease expired.
    pub expired: u32,
    /// The last abandon's reason.
    pub last_abandon: Option<String>,
    /// Whether `run.succeeded` of this replay is there.
    pub succeeded: bool,
}

/// The failed attempts of one step in one replay.
#[derive(Debug, Default, Clone)]
pub(crate) struct StepFailures {
    /// Distinct attempts that failed.
    pub count: u32,
    /// The last one's error.
    pub last_error: String,
    /// Whether the last one may be retried.
    pub retryable: bool,
}

impl History {
    /// Folds the server-written events of `replay_seq`.
    #[cfg(test)]
    fn of(events: impl IntoIterator<Item = Event>, replay_seq: u64) -> Self {
        let mut history = Self::default();
        for event in events {
            history.observe(event, replay_seq);
        }
        history
    }

    /// The failures of `step` so far. Failures recorded without a step (before steps were named) count for
    /// whichever step runs next: that is the step they were of, since no step completed after them.
    pub fn step(&self, step: &str) -> StepFailures {
        let own = self.steps.get(step).cloned().unwrap_or_default();
        match self.steps.get("") {
            Some(legacy) if !step.is_empty() => StepFailures {
                count: own.count + legacy.count,
                last_error: if own.count > 0 {
                    own.last_error
                } else {
                    legacy.last_error.clone()
                },
                retryable: own.retryable || own.count == 0,
            },
            _ => own,
        }
    }

    /// Folds the next event of the timeline in, if it is a server-written one of `replay_seq`.
    fn observe(&mut self, event: Event, replay_seq: u64) {
        if !event.is_server_authored() || event.replay_seq != Some(replay_seq) {
            return;
        }
        match event.body {
            EventBody::AttemptFailed {
                attempt,
                error,
                step,
                retryable,
            } => {
                let step = step.unwrap_or_default();
                if self.failed.insert((step.clone(), attempt)) {
                    let failures = self.steps.entry(step).or_default();
                    failures.count += 1;
                    failures.last_error.clone_from(&error);
                    failures.retryable = retryable != Some(false);
                }
                self.failures = u32::try_from(self.failed.len()).unwrap_or(u32::MAX);
                self.last_error = Some(error);
            }
            EventBody::StepCompleted { step, output, .. } => {
                self.completed.insert(step, output.unwrap_or(Value::Null));
            }
            EventBody::AttemptAbandoned { reason, .. } => {
                self.abandoned += 1;
                if reason == ABANDONED_LEASE {
                    self.expired += 1;
                }
                self.last_abandon = Some(reason);
            }
            EventBody::RunSucceeded {} => self.succeeded = true,
            _ => {}
        }
    }
}

/// What earlier replays (and the first start) of a run left to a later replay: the latest output of each
/// step, and the step of the latest failure.
#[derive(Debug, Default)]
pub(crate) struct Earlier {
    /// Step → (the replay that completed it, its output).
    pub outputs: HashMap<String, (u64, Value)>,
    /// The step that failed last.
    pub failed_step: Option<String>,
}

impl Earlier {
    fn observe(&mut self, event: &Event, replay_seq: u64) {
        let Some(seq) = event.replay_seq else {
            return;
        };
        if !event.is_server_authored() || seq >= replay_seq {
            return;
        }
        match &event.body {
            EventBody::StepCompleted { step, output, .. } => {
                let output = output.clone().unwrap_or(Value::Null);
                self.outputs.insert(step.clone(), (seq, output));
            }
            EventBody::AttemptFailed {
                step: Some(step), ..
            } => {
                self.failed_step = Some(step.clone());
            }
            _ => {}
        }
    }
}

/// Why each unaccounted delivery of a command was abandoned, oldest first: as many lease expiries as the
/// broker recorded beyond those already in the timeline (they are the later ones), restarts for the rest.
pub(crate) fn abandon_reasons(
    unaccounted: u32,
    last_error: &str,
    expired: u32,
) -> Vec<&'static str> {
    let expiries = u32::try_from(last_error.matches(BROKER_ACK_TIMEOUT).count())
        .unwrap_or(u32::MAX)
        .saturating_sub(expired)
        .min(unaccounted);
    let mut reasons = vec![ABANDONED_RESTART; (unaccounted - expiries) as usize];
    reasons.extend(std::iter::repeat_n(ABANDONED_LEASE, expiries as usize));
    reasons
}

/// What the worker knows of the timeline of a command's run: whether a newer replay than the command's was
/// requested since (then the command's chain is superseded), and the attempts of the command's replay so far
/// ([`History`]). Each look reads only what is new, so a delivery reads the timeline once.
pub(crate) struct Chain {
    topic: String,
    replay_seq: u64,
    next: u64,
    superseded: bool,
    /// The broker has no non-consuming reads: stop asking.
    blind: bool,
    /// The run has no timeline topic: none yet, or retention archived the finished run and deleted it.
    gone: bool,
    /// Why the last look could not read on (what was read may be short of the timeline's end).
    unread: Option<String>,
    history: History,
    earlier: Earlier,
}

/// Most events one look reads at a time.
const CHAIN_PAGE: usize = 1000;

impl Chain {
    pub fn new(command: &RunCommand) -> Self {
        Self {
            topic: events_topic(&command.run_id),
            replay_seq: command.replay_seq,
            next: 0,
            superseded: false,
            blind: false,
            gone: false,
            unread: None,
            history: History::default(),
            earlier: Earlier::default(),
        }
    }

    /// Whether a newer replay of the run was requested. A broker that cannot be read (or fails) cannot tell:
    /// the chain goes on, and the registry still ignores what it writes once superseded.
    pub async fn superseded(&mut self, emitter: &Emitter) -> bool {
        self.unread = None;
        while !self.superseded && !self.blind {
            let page = match emitter
                .queue
                .read(&self.topic, 0, self.next, CHAIN_PAGE)
                .await
            {
                Ok(page) => page,
                // No timeline yet (or no more): nothing to know.
                Err(QueueError::UnknownTopic(_)) => {
                    self.gone = self.next == 0;
                    break;
                }
                Err(e) => {
                    self.blind = matches!(e, QueueError::Unsupported(_));
                    if !self.blind {
                        self.unread = Some(e.to_string());
                    }
                    tracing::debug!(topic = %self.topic, "cannot look for a newer replay: {e}");
                    break;
                }
            };
            for item in &page {
                self.next = item.offset + 1;
                let Ok(event) = serde_json::from_str::<Event>(&item.value) else {
                    continue;
                };
                let newer = event.is_server_authored()
                    && matches!(event.body,
                        EventBody::ReplayRequested { seq, .. } if seq > self.replay_seq);
                self.superseded |= newer;
                self.earlier.observe(&event, self.replay_seq);
                self.history.observe(event, self.replay_seq);
            }
            if page.len() < CHAIN_PAGE {
                break;
            }
        }
        self.superseded
    }

    /// The attempts of the command's replay as of the last look; `None` when the broker cannot read, an error
    /// when the last look could not read to the end.
    pub fn history(&mut self) -> Result<Option<&mut History>, String> {
        match &self.unread {
            Some(error) => Err(error.clone()),
            None if self.blind => Ok(None),
            None => Ok(Some(&mut self.history)),
        }
    }

    /// Whether the last look found no timeline topic at all.
    pub fn gone(&self) -> bool {
        self.gone
    }

    /// What earlier replays left, as of the last look.
    pub fn earlier(&self) -> &Earlier {
        &self.earlier
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(replay_seq: u64, body: EventBody) -> Event {
        Event::lifecycle(1, "r", replay_seq, body)
    }

    fn failed(replay_seq: u64, attempt: u32, error: &str) -> Event {
        ev(
            replay_seq,
            EventBody::AttemptFailed {
                attempt,
                error: error.into(),
                step: Some("s".into()),
                retryable: None,
            },
        )
    }

    fn abandoned(reason: &str) -> Event {
        ev(
            0,
            EventBody::AttemptAbandoned {
                attempt: 1,
                reason: reason.into(),
                abandoned: 1,
                max_abandoned: 10,
            },
        )
    }

    #[test]
    fn history_counts_distinct_failures_and_abandons_of_its_replay_only() {
        let mut user = ev(0, EventBody::RunSucceeded {});
        user.source = Some(dq_proto::event::SOURCE_USER.to_owned());
        let mut unnamed = ev(0, EventBody::RunSucceeded {});
        unnamed.replay_seq = None;
        let events = [
            failed(0, 1, "e1"),
            failed(0, 1, "e1"),
            abandoned(ABANDONED_LEASE),
            abandoned(ABANDONED_RESTART),
            failed(1, 1, "e2"),
            ev(1, EventBody::RunSucceeded {}),
            // A success without replay_seq (written before dq added it) is nobody's, a user's is ignored.
            unnamed,
            user,
        ];
        let history = History::of(events.clone(), 0);
        assert_eq!(history.failures, 1);
        assert_eq!(history.last_error.as_deref(), Some("e1"));
        assert_eq!((history.abandoned, history.expired), (2, 1));
        assert_eq!(history.last_abandon.as_deref(), Some(ABANDONED_RESTART));
        assert!(!history.succeeded);
        let replay = History::of(events, 1);
        assert_eq!((replay.failures, replay.abandoned), (1, 0));
        assert!(replay.succeeded);
    }

    #[test]
    fn steps_keep_their_own_failures_and_outputs_and_earlier_replays_theirs() {
        let completed = |seq, step: &str, output: Option<Value>| {
            ev(
                seq,
                EventBody::StepCompleted {
                    step: step.into(),
                    attempt: Some(1),
                    output,
                    reused_from: None,
                },
            )
        };
        let refused = ev(
            1,
            EventBody::AttemptFailed {
                attempt: 1,
                error: "exit code 2".into(),
                step: Some("b".into()),
                retryable: Some(false),
            },
        );
        let events = [
            completed(0, "a", Some(Value::from(1))),
            failed(0, 1, "e1"),
            failed(0, 2, "e2"),
            completed(1, "a", None),
            refused,
        ];
        let start = History::of(events.clone(), 0);
        assert_eq!(start.failures, 2);
        assert_eq!(start.step("s").count, 2);
        assert!(start.step("s").retryable);
        assert_eq!(start.completed["a"], Value::from(1));
        let replay = History::of(events.clone(), 1);
        assert_eq!(
            (replay.step("b").count, replay.step("b").retryable),
            (1, false)
        );
        assert_eq!(replay.step("s").count, 0);
        let mut earlier = Earlier::default();
        for event in &events {
            earlier.observe(event, 2);
        }
        assert_eq!(earlier.outputs["a"], (1, Value::Null));
        assert_eq!(earlier.failed_step.as_deref(), Some("b"));
    }

    #[test]
    fn unrecorded_lease_expiries_are_the_latest_abandons() {
        assert_eq!(abandon_reasons(0, "ack_timeout", 0), Vec::<&str>::new());
        assert_eq!(abandon_reasons(1, "", 0), [ABANDONED_RESTART]);
        assert_eq!(abandon_reasons(1, "ack_timeout", 0), [ABANDONED_LEASE]);
        // The expiry is already in the timeline: this one came from a restart.
        assert_eq!(abandon_reasons(1, "ack_timeout", 1), [ABANDONED_RESTART]);
        assert_eq!(
            abandon_reasons(3, "forced failure at x; ack_timeout; ack_timeout", 1),
            [ABANDONED_RESTART, ABANDONED_RESTART, ABANDONED_LEASE]
        );
        assert_eq!(
            abandon_reasons(1, "ack_timeout; ack_timeout", 0),
            [ABANDONED_LEASE]
        );
    }
}
