//! [`Emitter`]: writes JSON messages through a [`Queue`], creating a run's timeline topic on first use, and
//! wakes timeline followers in this process once a write is durable. Writes made by another process wake them
//! where the queue can watch a topic ([`Queue::watch`]); elsewhere followers fall back to polling. Several writes
//! in a row go through a [`Pipeline`], which stores them together and waits for durability once.
//!
//! While a run is followed, the events this process wrote to its timeline are also kept with their offsets
//! ([`Followed`]), so that a follower woken by them takes them from here instead of reading back what was
//! just written (see `RunsService::timeline_json`). The newest runs this process started count as followed
//! ([`Hub::retain`]): their first follower (the client that started the run, opening its SSE stream) usually
//! comes after the worker wrote most of the timeline.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Weak};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use dq_proto::runs::{Event, events_topic};
use futures::StreamExt;
use futures::stream::BoxStream;
use parking_lot::Mutex;
use serde::Serialize;
use tokio::sync::Notify;
use tokio::sync::futures::Notified;

use crate::queue::{Durable, Outgoing, ProduceOutcome, Queue};
use crate::{QueueError, RunsError};

/// Unix time in milliseconds: the `ts` of every event.
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// A followed run: the wake-up of its followers and the newest events this process wrote to its timeline.
#[derive(Default)]
pub struct Followed {
    notify: Notify,
    written: Mutex<Written>,
    /// Whether a task relays the queue's watch of the run's timeline to `notify` (see [`Emitter::follow`]).
    relayed: AtomicBool,
}

/// Events at consecutive offsets: `events[i]` is the JSON stored at offset `start + i`.
#[derive(Default)]
struct Written {
    start: u64,
    events: VecDeque<String>,
    bytes: usize,
}

/// The most bytes of events one followed run keeps (a follower that lags further reads them back): a demo run's
/// whole timeline is about 2 KiB, and the [`RETAINED`] runs keep at most 8 MiB together.
const WRITTEN_BYTES: usize = 8 * 1024;

impl Followed {
    /// Resolves at the next write to the run (see [`Notify::notified`]).
    pub fn notified(&self) -> Notified<'_> {
        self.notify.notified()
    }

    /// Keeps `json`, stored at `offset`; a write that does not follow the last one kept starts afresh.
    fn keep(&self, offset: u64, json: &str) {
        let mut written = self.written.lock();
        let end = written.start + written.events.len() as u64;
        if offset != end || written.events.is_empty() {
            written.events.clear();
            written.bytes = 0;
            written.start = offset;
        }
        written.bytes += json.len();
        written.events.push_back(json.to_owned());
        while written.bytes > WRITTEN_BYTES {
            let Some(oldest) = written.events.pop_front() else {
                break;
            };
            written.bytes -= oldest.len();
            written.start += 1;
        }
    }

    /// The kept events from offset `from` on, when `from` is among them; `None` otherwise (the caller reads).
    fn from(&self, from: u64) -> Option<Vec<(u64, String)>> {
        let written = self.written.lock();
        let skip = usize::try_from(from.checked_sub(written.start)?).ok()?;
        if skip >= written.events.len() {
            return None;
        }
        Some(
            (from..)
                .zip(written.events.iter().skip(skip).cloned())
                .collect(),
        )
    }
}

/// One wake-up per followed run, so that an event wakes only the followers of its own run.
#[derive(Default)]
pub(crate) struct Hub {
    runs: Mutex<Runs>,
    /// The newest runs this process started, followed until [`RETAINED`] newer ones push them out.
    retained: Mutex<VecDeque<Arc<Followed>>>,
}

/// The followed runs by id, and the size at which the map is next swept of runs nobody follows any more.
#[derive(Default)]
struct Runs {
    by_id: HashMap<String, Weak<Followed>>,
    sweep_at: usize,
}

/// How many of the newest runs started here count as followed: a few seconds of runs at full speed, so that
/// the client that started one finds its events kept when it opens the run's stream.
const RETAINED: usize = 1024;

/// The hub map is swept of runs nobody follows once it reaches this size, or twice its live size after the
/// last sweep, whichever is more: a sweep costs its size, so each run added pays for about one entry.
const HUB_SWEEP_AT: usize = 2 * RETAINED;

impl Hub {
    /// The wake-up of `run_id`; it lives as long as a follower holds it.
    fn follow(&self, run_id: &str) -> Arc<Followed> {
        let mut runs = self.runs.lock();
        if let Some(followed) = runs.by_id.get(run_id).and_then(Weak::upgrade) {
            return followed;
        }
        if runs.by_id.len() >= runs.sweep_at.max(HUB_SWEEP_AT) {
            runs.by_id.retain(|_, followed| followed.strong_count() > 0);
            runs.sweep_at = 2 * runs.by_id.len();
        }
        let followed = Arc::new(Followed::default());
        runs.by_id
            .insert(run_id.to_owned(), Arc::downgrade(&followed));
        followed
    }

    /// Counts `run_id` as followed until [`RETAINED`] newer runs were retained: what this process writes to its
    /// timeline from now on is kept.
    pub(crate) fn retain(&self, run_id: &str) {
        let followed = self.follow(run_id);
        let mut retained = self.retained.lock();
        if retained.len() >= RETAINED {
            retained.pop_front();
        }
        retained.push_back(followed);
    }

    fn followed(&self, run_id: &str) -> Option<Arc<Followed>> {
        self.runs.lock().by_id.get(run_id).and_then(Weak::upgrade)
    }

    fn notify(&self, run_id: &str) {
        if let Some(followed) = self.followed(run_id) {
            followed.notify.notify_waiters();
        }
    }

    /// The events this process wrote to a followed run's timeline from offset `from` on, when it kept `from`.
    pub(crate) fn written(&self, run_id: &str, from: u64) -> Option<Vec<(u64, String)>> {
        self.followed(run_id)?.from(from)
    }
}

/// How often a relay with no writes to report looks whether anyone still follows.
const RELAY_CHECK: Duration = Duration::from_secs(5);

/// Wakes a run's followers after each write `writes` reports, until nobody follows or the watch ends.
async fn relay(mut writes: BoxStream<'static, ()>, followed: Weak<Followed>) {
    loop {
        let next = tokio::time::timeout(RELAY_CHECK, writes.next()).await;
        let Some(followed) = followed.upgrade() else {
            return;
        };
        match next {
            Ok(Some(())) => followed.notify.notify_waiters(),
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
    pub fn follow(&self, run_id: &str) -> Arc<Followed> {
        let followed = self.hub.follow(run_id);
        if !followed.relayed.swap(true, Ordering::AcqRel)
            && let Some(writes) = self.queue.watch(&events_topic(run_id))
        {
            tokio::spawn(relay(writes, Arc::downgrade(&followed)));
        }
        followed
    }

    /// Writes made in a row and waited for once (see [`Pipeline`]).
    pub fn pipeline(&self) -> Pipeline<'_> {
        Pipeline {
            emitter: self,
            created: None,
            queued: Vec::new(),
            runs: Vec::new(),
            events: Vec::new(),
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
    /// Which queued writes are events: (place among the queued writes, place of its run in `runs`).
    events: Vec<(usize, usize)>,
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
        let place = self.produce(
            &events_topic(&event.run_id),
            &event.run_id,
            event,
            idempotency_key,
        )?;
        let run = if let Some(run) = self.runs.iter().position(|run| *run == event.run_id) {
            run
        } else {
            self.runs.push(event.run_id.clone());
            self.runs.len() - 1
        };
        self.events.push((place, run));
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
        // Kept for the runs' followers before they are woken; a duplicate was kept (if at all) when first stored.
        for (place, run) in self.events.drain(..) {
            let (Some(message), Some(outcome), Some(run_id)) =
                (queued.get(place), outcomes.get(place), self.runs.get(run))
            else {
                continue;
            };
            if let (Some(offset), false) = (outcome.offset, outcome.duplicate)
                && let Some(followed) = self.emitter.hub.followed(run_id)
            {
                followed.keep(offset, &message.value);
            }
        }
        for run_id in self.runs.drain(..) {
            self.emitter.hub.notify(&run_id);
        }
        Ok(outcomes)
    }
}
