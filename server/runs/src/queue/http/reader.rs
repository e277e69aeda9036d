//! [`ConsumeReader`]: the non-consuming read of the queue trait for a broker without `GET /v1/read` (the
//! original DriftQ broker), made of plain consume and ack, the way the original starter reads timelines. The
//! run state then lives in this server: what it has read, and what its registry folded from it.
//!
//! How: the first read of a topic starts a *follower*, a task that consumes the topic in a consumer group of
//! its own (`dq-read-<process>-<n>`: a new group starts at the topic's first message), keeps every delivery
//! in memory by (partition, offset), and acks it. A read answers from what the follower has kept. The
//! follower keeps its group while it lives: when its stream breaks it joins again and resumes where it
//! stopped, as acked messages are not delivered to the group again.
//!
//! What a read sees:
//! - This process's own writes, at once: a message this queue produces to a followed topic is expected, and a
//!   read waits until the follower has it (matched by value). So the runs service and the in-process workers
//!   (which share the queue) read back what they wrote, as over `/v1/read`. The wait is capped at
//!   [`OWN_WRITE_WAIT`]: an idempotent duplicate is stored once and delivered once, and the original broker
//!   does not say that a produce was one.
//! - Other processes' writes (a `dq worker` on another host) once delivered: a moment later, as with polling.
//! - On a follower's first read, the topic from its start: the read waits until the stream has been quiet for
//!   [`FIRST_QUIET`] ([`FIRST_WAIT`] at most: the original broker sends no headers before the first message,
//!   so an empty topic looks like a slow one). This is how a restarted server rebuilds its registry.
//! - Offsets in order: the original broker may send the two messages it has in flight per partition out of
//!   order, so a read stops before a gap in the offsets until the gap is [`GAP_WAIT`] old.
//!
//! Trade-offs, against a broker with `/v1/read`:
//! - Memory: a followed topic is held whole in this process. At most [`MAX_FOLLOWERS`] topics are followed;
//!   the one read least recently is dropped (its stream closed) and, when read again, re-read from its start
//!   by a new group.
//! - The broker keeps every reader group it has seen (the original keeps them in memory; a group whose stream
//!   is closed receives nothing), and a follower holds one connection to it.
//! - A message's `produced_at_ms` is when this process received it: consume lines carry no time.
//! - Nothing here is durable, and need not be: after a restart every topic is read again from its start. The
//!   original broker delivers two messages at a time per partition, so a long `runs.index` takes a while: a
//!   first read answers after [`FIRST_WAIT`] with what has come, and runs further on are found by later reads
//!   (until then, such a run is not found).

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use dq_proto::broker::ConsumeItem;
use dq_proto::runs::ReadItem;
use futures::StreamExt;
use parking_lot::Mutex;
use tokio::sync::Notify;
use tokio::task::JoinHandle;

use super::Link;
use crate::QueueError;
use crate::queue::ConsumeSpec;

/// Longest a read waits for this process's own writes to be delivered.
pub(crate) const OWN_WRITE_WAIT: Duration = Duration::from_secs(3);
/// How long a new follower's stream must stay quiet before its first read answers.
pub(crate) const FIRST_QUIET: Duration = Duration::from_millis(100);
/// Longest a new follower's first read waits for the stream to go quiet.
pub(crate) const FIRST_WAIT: Duration = Duration::from_secs(1);
/// How long a gap in the offsets holds back the messages after it.
pub(crate) const GAP_WAIT: Duration = Duration::from_secs(1);
/// Topics followed at once.
pub(crate) const MAX_FOLLOWERS: usize = 256;
/// Pause before a follower joins again after its stream failed or its topic did not exist.
const REJOIN_DELAY: Duration = Duration::from_millis(200);
/// Longest pause between joins while the topic does not exist or the broker is down (the pause doubles from
/// [`REJOIN_DELAY`]), so that followers of topics nobody creates (a forged run's) cost the broker little.
const MAX_REJOIN_DELAY: Duration = Duration::from_secs(5);
/// The readers' lease. They ack at once, so it matters only for a delivery lost with a broken stream: the
/// broker sends it again when the lease ends (a read holds back what follows its gap for [`GAP_WAIT`] only).
const LEASE: Duration = Duration::from_secs(5);

/// Reads by consume and ack (see the module doc).
pub(crate) struct ConsumeReader {
    link: Link,
    /// The group prefix of this process.
    process: String,
    next_group: AtomicU64,
    next_claim: AtomicU64,
    /// Followed topics, with when each was last read (by `clock`).
    followers: Mutex<HashMap<String, Follower>>,
    clock: AtomicU64,
}

/// One followed topic: its task (stopped when dropped) and what it delivered.
struct Follower {
    shared: Arc<Shared>,
    task: JoinHandle<()>,
    last_used: u64,
}

impl Drop for Follower {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// What a follower's task and its readers share.
struct Shared {
    log: Mutex<Log>,
    /// Notified on every delivery and stream state change.
    changed: Notify,
    /// Notified when this process is about to write to the topic: a follower waiting to join again (the
    /// topic did not exist) joins at once.
    rejoin: Notify,
    started: Instant,
}

/// What a follower has seen.
#[derive(Default)]
struct Log {
    items: BTreeMap<(u32, u64), ReadItem>,
    /// Per partition: lowest offset, highest offset, count (to tell a gap).
    spans: HashMap<u32, (u64, u64, u64)>,
    /// Since when there is a gap in some partition's offsets.
    gap_since: Option<Instant>,
    /// Own writes not delivered yet: claim id, value, when produced.
    expected: Vec<(u64, String, Instant)>,
    /// The last delivery, or when the stream was answered.
    last_activity: Option<Instant>,
    /// The last join answered that the topic does not exist.
    unknown: Option<String>,
    /// The last join failed otherwise (the broker is down): reads fail as over `/v1/read`, rather than answer
    /// what was kept as if it were all.
    down: Option<String>,
    /// A first read has answered: later reads wait only for own writes.
    primed: bool,
}

/// An own write a follower expects; forgotten when the produce failed or stored nothing.
pub(crate) struct Claim {
    topic: String,
    id: u64,
}

impl ConsumeReader {
    pub(crate) fn new(link: Link) -> Self {
        Self {
            link,
            process: format!(
                "dq-read-{}",
                &uuid::Uuid::new_v4().simple().to_string()[..12]
            ),
            next_group: AtomicU64::new(0),
            next_claim: AtomicU64::new(0),
            followers: Mutex::new(HashMap::new()),
            clock: AtomicU64::new(0),
        }
    }

    /// Notes that `value` is about to be produced to `topic`, when the topic is followed.
    pub(crate) fn expect(&self, topic: &str, value: &str) -> Option<Claim> {
        let followers = self.followers.lock();
        let follower = followers.get(topic)?;
        let id = self.next_claim.fetch_add(1, Ordering::Relaxed);
        let shared = &follower.shared;
        let mut log = shared.log.lock();
        log.expected.push((id, value.to_owned(), Instant::now()));
        if log.unknown.is_some() {
            shared.rejoin.notify_one();
        }
        Some(Claim {
            topic: topic.to_owned(),
            id,
        })
    }

    /// Stops expecting a write that was not stored.
    pub(crate) fn forget(&self, claim: Claim) {
        if let Some(follower) = self.followers.lock().get(&claim.topic) {
            follower
                .shared
                .log
                .lock()
                .expected
                .retain(|(id, _, _)| *id != claim.id);
        }
    }

    /// Up to `limit` messages of `partition` of `topic` from offset `from` on, as delivered so far (see the
    /// module doc for what a read waits for).
    pub(crate) async fn read(
        &self,
        topic: &str,
        partition: u32,
        from: u64,
        limit: usize,
    ) -> Result<Vec<ReadItem>, QueueError> {
        let shared = self.follow(topic);
        loop {
            let changed = shared.changed.notified();
            tokio::pin!(changed);
            changed.as_mut().enable();
            let now = Instant::now();
            {
                let mut log = shared.log.lock();
                log.expected
                    .retain(|(_, _, at)| now.duration_since(*at) < OWN_WRITE_WAIT);
                let quiet = log
                    .last_activity
                    .is_some_and(|at| now.duration_since(at) >= FIRST_QUIET);
                if let Some(message) = &log.down {
                    return Err(QueueError::Unavailable(message.clone()));
                }
                let first_done = log.primed
                    || quiet
                    || log.unknown.is_some()
                    || now.duration_since(shared.started) >= FIRST_WAIT;
                if first_done && log.expected.is_empty() {
                    log.primed = true;
                    if log.items.is_empty()
                        && let Some(message) = &log.unknown
                    {
                        return Err(QueueError::UnknownTopic(message.clone()));
                    }
                    return Ok(log.visible(partition, from, limit, now));
                }
            }
            // Woken by a delivery, or after a quiet spell to look again.
            let _ = tokio::time::timeout(FIRST_QUIET, changed).await;
        }
    }

    /// The follower of `topic`, started when there is none.
    fn follow(&self, topic: &str) -> Arc<Shared> {
        let tick = self.clock.fetch_add(1, Ordering::Relaxed);
        let mut followers = self.followers.lock();
        if let Some(follower) = followers.get_mut(topic) {
            follower.last_used = tick;
            return Arc::clone(&follower.shared);
        }
        if followers.len() >= MAX_FOLLOWERS
            && let Some(oldest) = followers
                .iter()
                .min_by_key(|(_, f)| f.last_used)
                .map(|(t, _)| t.clone())
        {
            followers.remove(&oldest);
        }
        let n = self.next_group.fetch_add(1, Ordering::Relaxed);
        let group = format!("{}-{n}", self.process);
        let shared = Arc::new(Shared {
            log: Mutex::default(),
            changed: Notify::new(),
            rejoin: Notify::new(),
            started: Instant::now(),
        });
        let spec = ConsumeSpec {
            topic: topic.to_owned(),
            owner: group.clone(),
            group,
            lease: LEASE,
        };
        let task = tokio::spawn(run(self.link.clone(), spec, Arc::clone(&shared)));
        followers.insert(
            topic.to_owned(),
            Follower {
                shared: Arc::clone(&shared),
                task,
                last_used: tick,
            },
        );
        shared
    }
}

/// A follower's task: consume, keep, ack; join again when the stream ends.
async fn run(link: Link, spec: ConsumeSpec, shared: Arc<Shared>) {
    let mut pause = REJOIN_DELAY;
    loop {
        match link.consume(&spec).await {
            Ok(mut deliveries) => {
                pause = REJOIN_DELAY;
                shared.update(|log| {
                    log.unknown = None;
                    log.down = None;
                    log.last_activity = Some(Instant::now());
                });
                while let Some(item) = deliveries.next().await {
                    match item {
                        Ok(item) => {
                            let (partition, offset) = (item.partition, item.offset);
                            shared.update(|log| log.deliver(item));
                            if let Err(e) = link.ack(&spec, partition, offset).await {
                                tracing::debug!(topic = %spec.topic, offset, "reader ack failed: {e}");
                            }
                        }
                        Err(e) => {
                            tracing::debug!(topic = %spec.topic, "reader stream failed: {e}");
                            break;
                        }
                    }
                }
            }
            Err(QueueError::UnknownTopic(message)) => {
                shared.update(|log| log.unknown = Some(message));
            }
            Err(e) => {
                tracing::debug!(topic = %spec.topic, "reader cannot consume: {e}");
                shared.update(|log| log.down = Some(e.to_string()));
            }
        }
        tokio::select! {
            () = tokio::time::sleep(pause) => {}
            () = shared.rejoin.notified() => {}
        }
        pause = (pause * 2).min(MAX_REJOIN_DELAY);
    }
}

impl Shared {
    fn update(&self, change: impl FnOnce(&mut Log)) {
        change(&mut self.log.lock());
        self.changed.notify_waiters();
    }
}

impl Log {
    /// Keeps a delivery (a redelivery of a kept offset changes nothing) and settles the own write it is.
    fn deliver(&mut self, item: ConsumeItem) {
        let now = Instant::now();
        self.last_activity = Some(now);
        if let Some(i) = self.expected.iter().position(|(_, v, _)| *v == item.value) {
            self.expected.remove(i);
        }
        let key = (item.partition, item.offset);
        if self.items.contains_key(&key) {
            return;
        }
        let span = self
            .spans
            .entry(item.partition)
            .or_insert((item.offset, item.offset, 0));
        span.0 = span.0.min(item.offset);
        span.1 = span.1.max(item.offset);
        span.2 += 1;
        let gap = self.spans.values().any(|(lo, hi, n)| hi - lo + 1 != *n);
        self.gap_since = if gap {
            self.gap_since.or(Some(now))
        } else {
            None
        };
        self.items.insert(
            key,
            ReadItem {
                partition: item.partition,
                offset: item.offset,
                key: item.key,
                value: item.value,
                produced_at_ms: received_ms(),
            },
        );
    }

    /// What a read of `partition` from `from` may see: the messages in offset order up to the first gap
    /// (unless the gap is old).
    fn visible(&self, partition: u32, from: u64, limit: usize, now: Instant) -> Vec<ReadItem> {
        let lenient = self
            .gap_since
            .is_some_and(|since| now.duration_since(since) >= GAP_WAIT);
        let mut out = Vec::new();
        let mut next: Option<u64> = None;
        for (&(_, offset), item) in self.items.range((partition, 0)..=(partition, u64::MAX)) {
            if next.is_some_and(|n| n != offset) && !lenient {
                break;
            }
            next = Some(offset + 1);
            if offset >= from {
                out.push(item.clone());
                if out.len() >= limit {
                    break;
                }
            }
        }
        out
    }
}

/// Unix time in milliseconds, for a delivery's `produced_at_ms` (kept here: the queue does not reach into the
/// emitter, which uses the queue).
fn received_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(offset: u64, value: &str) -> ConsumeItem {
        ConsumeItem {
            partition: 0,
            offset,
            attempts: 1,
            key: String::new(),
            value: value.to_owned(),
            last_error: String::new(),
            envelope: None,
            dlq: None,
        }
    }

    fn offsets(items: &[ReadItem]) -> Vec<u64> {
        items.iter().map(|i| i.offset).collect()
    }

    #[test]
    fn a_read_stops_before_a_gap_until_it_fills_and_redeliveries_change_nothing() {
        let mut log = Log::default();
        let now = Instant::now();
        log.deliver(item(0, "a"));
        log.deliver(item(2, "c"));
        assert_eq!(offsets(&log.visible(0, 0, 10, now)), [0]);
        log.deliver(item(1, "b"));
        log.deliver(item(1, "b"));
        assert_eq!(offsets(&log.visible(0, 0, 10, now)), [0, 1, 2]);
        assert_eq!(offsets(&log.visible(0, 1, 1, now)), [1]);
        assert!(log.gap_since.is_none());
        // A gap that never fills stops holding back after a while.
        log.deliver(item(4, "e"));
        // From after the delivery, which reads the clock itself (on a loaded machine, well after `now`).
        let later = Instant::now() + GAP_WAIT + Duration::from_millis(1);
        assert_eq!(offsets(&log.visible(0, 3, 10, later)), [4]);
    }

    #[test]
    fn a_delivery_settles_the_own_write_it_is() {
        let mut log = Log::default();
        let now = Instant::now();
        log.expected.push((1, "x".into(), now));
        log.expected.push((2, "x".into(), now));
        log.deliver(item(0, "x"));
        assert_eq!(log.expected.len(), 1, "one delivery settles one write");
    }
}
