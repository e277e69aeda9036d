//! [`Emitter`]: writes JSON messages through a [`Queue`], creating a run's timeline topic on first use, and
//! wakes timeline followers in this process once a write is durable. Writes made by another process wake them
//! where the queue can watch a topic ([`Queue::watch`]); elsewhere followers fall back to polling. Several writes
//! in a row go through a [`Pipeline`], which stores them together and waits for durability once.

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
            created: None,
            queued: Vec::new(),
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
        pipeline.emit(event, idempotency_key)?;
        pipeline.flush().await
    }
}

/// Writes made in a row, stored together by [`Pipeline::flush`]: one [`Queue::produce_all`] (on the embedded
/// broker one batch and one sync, instead of one of each per write), then the followers of every run written to
/// are woken. Nobody reads a write before it is durable, so storing it earlier would show it to nobody sooner.
pub(crate) struct Pipeline<'a> {
    emitter: &'a Emitter,
    /// The last topic creation, durable at the latest with the writes after it.
    created: Option<Durable>,
    /// The writes not stored yet, in order.
    queued: Vec<Outgoing>,
    /// The runs whose timelines the queued writes append to.
    runs: Vec<String>,
}

impl Pipeline<'_> {
    /// Queues `value` as a JSON string for `topic`, keyed by `key`; returns its place among the outcomes of
    /// [`Pipeline::flush`].
    pub fn produce<T: Serialize>(
        &mut self,
        topic: &str,
        key: &str,
        value: &T,
        idempotency_key: Option<String>,
    ) -> Result<usize, RunsError> {
        let value = serde_json::to_string(value).map_err(|source| QueueError::Json {
            context: format!("encoding a message for {topic}"),
            source,
        })?;
        self.queued.push(Outgoing {
            topic: topic.to_owned(),
            key: Some(key.to_owned()),
            value,
            idempotency_key,
        });
        Ok(self.queued.len() - 1)
    }

    /// Creates a one-partition topic unless it exists; later writes may use it at once.
    pub async fn create_topic(&mut self, name: &str) -> Result<(), RunsError> {
        self.created = Some(self.emitter.queue.create_topic_pending(name, 1).await?);
        Ok(())
    }

    /// Queues an event for its run's timeline; the flush creates the topic when it does not exist yet.
    pub fn emit(
        &mut self,
        event: &Event,
        idempotency_key: Option<String>,
    ) -> Result<(), RunsError> {
        self.produce(
            &events_topic(&event.run_id),
            &event.run_id,
            event,
            idempotency_key,
        )?;
        if !self.runs.contains(&event.run_id) {
            self.runs.push(event.run_id.clone());
        }
        Ok(())
    }

    /// Stores every queued write and waits until they are durable, then wakes the followers of the runs written
    /// to. A run's timeline topic that does not exist is created and the writes sent again (what was stored of
    /// them before is recognised by its idempotency key: only the user's own events come without one, and they
    /// come alone).
    pub async fn flush(&mut self) -> Result<(), RunsError> {
        self.flush_stored().await.map(drop)
    }

    /// [`Pipeline::flush`], returning what each queued write stored, in the order queued.
    pub async fn flush_stored(&mut self) -> Result<Vec<ProduceOutcome>, RunsError> {
        let queued = std::mem::take(&mut self.queued);
        let mut created: Vec<String> = Vec::new();
        let mut outcomes = Vec::new();
        while !queued.is_empty() {
            match self.emitter.queue.produce_all(&queued).await {
                Err(QueueError::UnknownTopic(topic))
                    if !created.contains(&topic)
                        && self.runs.iter().any(|run| events_topic(run) == topic) =>
                {
                    self.emitter.queue.create_topic(&topic, 1).await?;
                    created.push(topic);
                }
                other => {
                    outcomes = other?;
                    break;
                }
            }
        }
        if let Some(created) = self.created.take() {
            created.wait().await?;
        }
        for run_id in self.runs.drain(..) {
            self.emitter.hub.notify(&run_id);
        }
        Ok(outcomes)
    }
}
