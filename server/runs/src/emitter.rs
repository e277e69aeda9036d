//! [`Emitter`]: writes JSON messages through a [`Queue`], creating a run's timeline topic on first use, and
//! wakes timeline followers in this process after every write (followers of writes made by another process
//! fall back to polling).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};
use std::time::{SystemTime, UNIX_EPOCH};

use dq_proto::runs::{Event, events_topic};
use serde::Serialize;
use tokio::sync::Notify;

use crate::queue::{Outgoing, ProduceOutcome, Queue};
use crate::{QueueError, RunsError};

/// Unix time in milliseconds: the `ts` of every event.
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// One wake-up per followed run, so that an event wakes only the followers of its own run.
#[derive(Default)]
pub(crate) struct Hub {
    runs: Mutex<HashMap<String, Weak<Notify>>>,
}

/// The hub map is swept of runs nobody follows once it reaches this size (then twice its live size).
const HUB_SWEEP_AT: usize = 1024;

impl Hub {
    /// The wake-up of `run_id`; it lives as long as a follower holds it.
    pub fn follow(&self, run_id: &str) -> Arc<Notify> {
        let mut runs = self
            .runs
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(notify) = runs.get(run_id).and_then(Weak::upgrade) {
            return notify;
        }
        if runs.len() >= HUB_SWEEP_AT {
            runs.retain(|_, notify| notify.strong_count() > 0);
        }
        let notify = Arc::new(Notify::new());
        runs.insert(run_id.to_owned(), Arc::downgrade(&notify));
        notify
    }

    fn notify(&self, run_id: &str) {
        let notify = self
            .runs
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(run_id)
            .and_then(Weak::upgrade);
        if let Some(notify) = notify {
            notify.notify_waiters();
        }
    }
}

/// Produces JSON values and wakes local followers.
#[derive(Clone)]
pub(crate) struct Emitter {
    pub queue: Arc<dyn Queue>,
    pub hub: Arc<Hub>,
}

impl Emitter {
    pub fn new(queue: Arc<dyn Queue>) -> Self {
        Self {
            queue,
            hub: Arc::default(),
        }
    }

    /// Produces `value` as a JSON string to `topic`, keyed by `key`.
    pub async fn produce<T: Serialize>(
        &self,
        topic: &str,
        key: &str,
        value: &T,
        idempotency_key: Option<String>,
    ) -> Result<ProduceOutcome, RunsError> {
        let value = serde_json::to_string(value)
            .map_err(|e| QueueError::Protocol(format!("encode: {e}")))?;
        let outcome = self
            .queue
            .produce(Outgoing {
                topic: topic.to_owned(),
                key: Some(key.to_owned()),
                value,
                idempotency_key,
            })
            .await?;
        Ok(outcome)
    }

    /// Appends an event to its run's timeline, creating the topic when it does not exist yet.
    pub async fn emit(
        &self,
        event: &Event,
        idempotency_key: Option<String>,
    ) -> Result<(), RunsError> {
        let topic = events_topic(&event.run_id);
        let result = self
            .produce(&topic, &event.run_id, event, idempotency_key.clone())
            .await;
        match result {
            Err(RunsError::Queue(QueueError::UnknownTopic(_))) => {
                self.queue.create_topic(&topic, 1).await?;
                self.produce(&topic, &event.run_id, event, idempotency_key)
                    .await?;
            }
            other => {
                other?;
            }
        }
        self.hub.notify(&event.run_id);
        Ok(())
    }
}
