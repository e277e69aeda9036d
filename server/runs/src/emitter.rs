//! [`Emitter`]: writes JSON messages through a [`Queue`], creating a run's timeline topic on first use, and
//! wakes timeline followers in this process once a write is durable. Writes made by another process wake them
//! where the queue can watch a topic ([`Queue::watch`]); elsewhere followers fall back to polling. Several writes in a row go through a [`Pipeline`], which waits for
//! durability once for all of them.

use std::collections::HashMap;
use std::sync::{Arc, Weak};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use dq_proto::runs::{Event, events_topic};
use futures::StreamExt;
use futures::stream::BoxStream;
use parking_lot::Mutex;
use serde::Serialize;
use tokio::sync::Notify;

use crate::queue::{Durable, Outgoing, ProduceOutcome, Queue};
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
    /// The wake-up of `run_id`; it lives as long as a follower holds it. True when it was made now.
    fn follow(&self, run_id: &str) -> (Arc<Notify>, bool) {
        let mut runs = self.runs.lock();
        if let Some(notify) = runs.get(run_id).and_then(Weak::upgrade) {
            return (notify, false);
        }
        if runs.len() >= HUB_SWEEP_AT {
            runs.retain(|_, notify| notify.strong_count() > 0);
        }
        let notify = Arc::new(Notify::new());
        runs.insert(run_id.to_owned(), Arc::downgrade(&notify));
        (notify, true)
    }

    fn notify(&self, run_id: &str) {
        let notify = self.runs.lock().get(run_id).and_then(Weak::upgrade);
        if let Some(notify) = notify {
            notify.notify_waiters();
        }
    }
}

/// How often a relay with no writes to report looks whether anyone still follows.
const RELAY_CHECK: Duration = Duration::from_secs(5);

/// Wakes a run's followers after each write `writes` reports, until nobody follows or the watch ends.
async fn relay(mut writes: BoxStream<'static, ()>, notify: Weak<Notify>) {
    loop {
        let next = tokio::time::timeout(RELAY_CHECK, writes.next()).await;
        let Some(notify) = notify.upgrade() else {
            return;
        };
        match next {
            Ok(Some(())) => notify.notify_waiters(),
            Ok(None) => return,
            Err(_) => {}
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

    /// The wake-up of `run_id`'s followers: after this process's writes, and where the queue can watch the
    /// run's timeline, after anyone's (relayed by a task that ends once nobody follows).
    pub fn follow(&self, run_id: &str) -> Arc<Notify> {
        let (notify, fresh) = self.hub.follow(run_id);
        if fresh && let Some(writes) = self.queue.watch(&events_topic(run_id)) {
            tokio::spawn(relay(writes, Arc::downgrade(&notify)));
        }
        notify
    }

    /// Writes made in a row and waited for once (see [`Pipeline`]).
    pub fn pipeline(&self) -> Pipeline<'_> {
        Pipeline {
            emitter: self,
            last: None,
            topic: None,
            runs: Vec::new(),
        }
    }

    /// Appends an event to its run's timeline (creating the topic when it does not exist yet); returns once
    /// durable, after waking the run's followers.
    pub async fn emit(
        &self,
        event: &Event,
        idempotency_key: Option<String>,
    ) -> Result<(), RunsError> {
        let mut pipeline = self.pipeline();
        pipeline.emit(event, idempotency_key).await?;
        pipeline.flush().await
    }
}

/// Writes made in a row: each is stored at once, after the ones before it, and [`Pipeline::flush`] waits once,
/// for the last to be durable (which covers the others), then wakes the followers of every run it wrote to.
/// Nobody reads a write before it is durable, so a follower woken early would only find nothing new.
pub(crate) struct Pipeline<'a> {
    emitter: &'a Emitter,
    last: Option<Durable>,
    /// The topic of the last write.
    topic: Option<String>,
    runs: Vec<String>,
}

impl Pipeline<'_> {
    /// Stores `value` as a JSON string in `topic`, keyed by `key`.
    pub async fn produce<T: Serialize>(
        &mut self,
        topic: &str,
        key: &str,
        value: &T,
        idempotency_key: Option<String>,
    ) -> Result<ProduceOutcome, RunsError> {
        let value = serde_json::to_string(value).map_err(|source| QueueError::Json {
            context: format!("encoding a message for {topic}"),
            source,
        })?;
        // A barrier at each topic switch where topics have no common order: e.g. a command is never visible
        // to a worker before its run's index record and first event are durable.
        if self.topic.as_deref() != Some(topic) {
            if !self.emitter.queue.orders_across_topics()
                && let Some(last) = self.last.take()
            {
                last.wait().await?;
            }
            self.topic = Some(topic.to_owned());
        }
        let (outcome, durable) = self
            .emitter
            .queue
            .produce_pending(Outgoing {
                topic: topic.to_owned(),
                key: Some(key.to_owned()),
                value,
                idempotency_key,
            })
            .await?;
        self.last = Some(durable);
        Ok(outcome)
    }

    /// Creates a one-partition topic unless it exists; later writes may use it at once.
    pub async fn create_topic(&mut self, name: &str) -> Result<(), RunsError> {
        self.last = Some(self.emitter.queue.create_topic_pending(name, 1).await?);
        Ok(())
    }

    /// Appends an event to its run's timeline, creating the topic when it does not exist yet.
    pub async fn emit(
        &mut self,
        event: &Event,
        idempotency_key: Option<String>,
    ) -> Result<(), RunsError> {
        let topic = events_topic(&event.run_id);
        let result = self
            .produce(&topic, &event.run_id, event, idempotency_key.clone())
            .await;
        match result {
            Err(RunsError::Queue(QueueError::UnknownTopic(_))) => {
                self.create_topic(&topic).await?;
                self.produce(&topic, &event.run_id, event, idempotency_key)
                    .await?;
            }
            other => {
                other?;
            }
        }
        if !self.runs.contains(&event.run_id) {
            self.runs.push(event.run_id.clone());
        }
        Ok(())
    }

    /// Waits until every write so far is durable, then wakes the followers of the runs written to.
    pub async fn flush(&mut self) -> Result<(), RunsError> {
        if let Some(last) = self.last.take() {
            last.wait().await?;
        }
        for run_id in self.runs.drain(..) {
            self.emitter.hub.notify(&run_id);
        }
        Ok(())
    }
}
