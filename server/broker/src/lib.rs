//! dq-broker: the durable message broker embedded in dq.
//!
//! It owns topics with partitions and per-partition offsets, producer idempotency, consumer groups with owners
//! and leases, ack / nack, retries with backoff, dead-lettering to `dlq.<topic>`, retention and size limits,
//! caps on topics and partitions, topic deletion, forgetting idle consumer groups, and the storage of all of
//! it in fjall. It knows nothing of HTTP or of runs: the HTTP edges live in
//! dq-server, runs in dq-runs.
//!
//! The core is synchronous behind a cheap-to-clone [`Broker`] handle; the only async points are waiting for
//! durability (group commit), waiting for a message ([`Subscription::next`]) and the lease/backoff timer task.
//!
//! Every lock is `parking_lot`'s, which does not poison: a panic while one is held (a bug, or the storage engine
//! refusing an input) fails that call only, instead of making every later call that takes the lock panic too.

mod commit;
mod config;
mod error;
mod group;
mod health;
mod journal;
mod store;
mod timers;
mod topic;
mod validate;

pub use config::Config;
pub use error::{Error, ErrorKind, StorageCause, StorageFailure};
pub use validate::{MIN_LEASE, fnv1a32};

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;

use dq_proto::broker::{ConsumeItem, Envelope, Produced};
use fjall::OwnedWriteBatch;
use parking_lot::{Mutex, RwLock};
use tokio::sync::Notify;
use tokio::time::Instant;

use crate::commit::{Committer, Visible};
use crate::group::{Group, GroupPart, Prior};
use crate::store::{AttemptsRecord, MessageRecord, Store, TopicRecord};
use crate::timers::{TimerEntry, Timers};
use crate::topic::{Counters, Partition, Topic};
use crate::validate::Policy;

/// A validated produce: the HTTP layer checks presence of fields, the broker checks everything else.
#[derive(Debug, Clone, Default)]
pub struct Produce {
    /// Topic to write to (the envelope's `target_topic` overrides it).
    pub topic: String,
    /// Partitioning key.
    pub key: Option<String>,
    /// Non-empty payload.
    pub value: String,
    /// Optional envelope.
    pub envelope: Option<Envelope>,
}

/// Identifies one delivered message for ack / nack.
#[derive(Debug, Clone)]
pub struct Settle {
    /// Topic.
    pub topic: String,
    /// Consumer group.
    pub group: String,
    /// Lease owner named by the request.
    pub owner: String,
    /// Partition.
    pub partition: u32,
    /// Offset.
    pub offset: u64,
}

/// What a topic is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicInfo {
    /// Name.
    pub name: String,
    /// Partition count.
    pub partitions: u32,
}

/// A stored message read back without consuming it (for timelines).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredMessage {
    /// Partition.
    pub partition: u32,
    /// Offset.
    pub offset: u64,
    /// Key (`""` when none).
    pub key: String,
    /// Payload.
    pub value: String,
    /// Envelope, if any.
    pub envelope: Option<Envelope>,
    /// When it was produced (unix ms).
    pub produced_at_ms: u64,
}

/// Counters and gauges for `/metrics`.
#[derive(Debug, Clone, Default)]
pub struct Metrics {
    /// Messages stored by produce, per topic.
    pub produced: Vec<(String, u64)>,
    /// Messages delivered to consumers, per topic.
    pub delivered: Vec<(String, u64)>,
    /// Acks, per topic.
    pub acked: Vec<(String, u64)>,
    /// Nacks, per topic.
    pub nacked: Vec<(String, u64)>,
    /// Messages dead-lettered, per original topic.
    pub dead_lettered: Vec<(String, u64)>,
    /// Produce requests rejected, per reason (`too_large`, `backlog_full`, `deadline_passed`, ...).
    pub produce_rejected: Vec<(String, u64)>,
    /// In flight per (topic, group).
    pub in_flight: Vec<(String, String, u64)>,
    /// Consumer lag (head − committed low-water mark) per (topic, group).
    pub lag: Vec<(String, String, u64)>,
    /// Idempotent duplicates answered without storing.
    pub duplicates: u64,
    /// Live consume streams per (topic, group) (a dq addition).
    pub streams: Vec<(String, String, u64)>,
}

/// The broker handle. Clone it freely; all clones share one store.
#[derive(Clone)]
pub struct Broker {
    inner: Arc<Inner>,
}

/// A write that is stored and ordered but maybe not durable yet. Writes become durable in the order they were
/// made, and every `Pending` covers the writes made before the call that returned it, so waiting for a later
/// one covers every earlier one.
#[must_use = "a pending write is not durable until `durable` returns"]
pub struct Pending {
    inner: Arc<Inner>,
    ticket: Option<u64>,
}

impl Pending {
    /// Waits until the write is durable (at once without fsync, or when it was durable already).
    pub async fn durable(self) -> Result<(), Error> {
        self.inner.wait(self.ticket).await
    }
}

/// One live consume stream of a group. Dropping it leaves the group (its in-flight messages expire by lease).
pub struct Subscription {
    inner: Arc<Inner>,
    topic: Arc<Topic>,
    group: Arc<Group>,
    owner: String,
    lease: Duration,
}

/// Expired idempotency keys removed under one hold of the idempotency lock: every produce that carries a key
/// takes that lock, so a sweep pass of thousands of keys is cut into chunks that hold it for a few ms at most.
const IDEM_SWEEP_CHUNK: usize = 256;

/// Set once by [`Broker::shutdown`] (or when the last handle goes); wakes the background task.
#[derive(Default)]
struct Shutdown {
    flag: AtomicBool,
    notify: Notify,
}

impl Shutdown {
    fn is_set(&self) -> bool {
        self.flag.load(Ordering::SeqCst)
    }
}

/// Everything behind the handle.
pub(crate) struct Inner {
    pub(crate) config: Config,
    pub(crate) store: Store,
    committer: Committer,
    pub(crate) timers: Timers,
    /// By name; a hash map because run timelines make thousands of topics that share a long prefix.
    topics: RwLock<HashMap<String, Arc<Topic>>>,
    /// Serialises topic creation and deletion; holds the next topic id.
    next_topic_id: Mutex<u32>,
    /// Partitions of every topic in `topics`, for `max_total_partitions`; changed under `next_topic_id`.
    total_partitions: AtomicU64,
    /// Serialises the check-then-write of idempotent produces and the idempotency sweep.
    idem_lock: Mutex<()>,
    shutdown: Arc<Shutdown>,
    rejected: Mutex<BTreeMap<&'static str, u64>>,
    duplicates: AtomicU64,
    /// The sweep thread, joined on shutdown.
    sweeper: Mutex<Option<std::thread::JoinHandle<()>>>,
}

/// Unix time in milliseconds.
pub(crate) fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or_default()
}

impl Inner {
    fn topic(&self, name: &str) -> Option<Arc<Topic>> {
        self.topics.read().get(name).cloned()
    }

    /// The group-commit ticket for a batch just committed, or `None` when the broker is not durable.
    pub(crate) fn ticket(&self) -> Option<u64> {
        self.config.durable.then(|| self.committer.register(None))
    }

    /// Registers a batch just committed that nobody waits for (a delivery's attempts, a sweep, a new group's
    /// cursors): the store leaves commits in fjall's journal buffer until the group commit writes them out.
    pub(crate) fn written(&self) {
        if self.config.durable {
            self.committer.register(None);
        }
    }

    async fn wait(&self, ticket: Option<u64>) -> Result<(), Error> {
        match ticket {
            Some(ticket) => self.committer.wait(ticket).await,
            None => Ok(()),
        }
    }

    fn reject(&self, reason: &'static str, error: Error) -> Error {
        *self.rejected.lock().entry(reason).or_default() += 1;
        error
    }

    /// [`Inner::ensure_topic`] for the broker's own topics (`dlq.<topic>`): never refused by the topic limits,
    /// because a dead letter must not be refused.
    pub(crate) fn ensure_topic_uncapped(
        &self,
        name: &str,
        partitions: u32,
    ) -> Result<Arc<Topic>, Error> {
        self.ensure_topic(name, partitions, false)
    }

    /// Returns the topic, creating it with `partitions` partitions if needed (refused over the topic limits when
    /// `capped`). The creation is committed, not yet synced: wait for a barrier taken after this call before
    /// answering that it exists.
    pub(crate) fn ensure_topic(
        &self,
        name: &str,
        partitions: u32,
        capped: bool,
    ) -> Result<Arc<Topic>, Error> {
        if let Some(topic) = self.topic(name) {
            return Ok(topic);
        }
        let mut next_id = self.next_topic_id.lock();
        if let Some(topic) = self.topic(name) {
            return Ok(topic);
        }
        if capped {
            self.check_topic_limits(name, partitions)?;
        }
        let id = *next_id;
        let record = TopicRecord {
            id,
            partitions,
            created_at_ms: now_ms(),
        };
        let mut batch = self.store.batch()?;
        batch.insert(
            &self.store.meta,
            store::topic_key(name),
            store::encode(&record),
        );
        batch.commit()?;
        *next_id = id
            .checked_add(1)
            .ok_or_else(|| Error::InvalidArgument("too many topics".into()))?;
        self.written();
        let parts = (0..partitions).map(|_| Partition::new(0, 0)).collect();
        let topic = Arc::new(Topic::new(name.to_owned(), id, parts, record.created_at_ms));
        self.topics
            .write()
            .insert(name.to_owned(), Arc::clone(&topic));
        self.total_partitions
            .fetch_add(u64::from(partitions), Ordering::AcqRel);
        tracing::info!(topic = name, partitions, "created topic");
        Ok(topic)
    }

    /// Appends a message to partition `p` of `topic` in one batch with whatever `extra` adds; returns its offset
    /// and the group-commit ticket. The head lock is held across the commit so that journal order is offset order.
    pub(crate) fn append(
        &self,
        topic: &Topic,
        p: u32,
        record: &MessageRecord,
        check_backlog: bool,
        extra: impl FnOnce(&mut OwnedWriteBatch, u64),
    ) -> Result<(u64, Option<u64>), Error> {
        let partition = topic
            .partition(p)
            .ok_or_else(|| Error::InvalidArgument(format!("no partition {p}")))?;
        let mut head = partition.head.lock();
        // Checked under the head lock, which a deletion takes after setting the flag: either this append is done
        // before the deletion removes the topic's keys, or it sees the flag.
        if topic.is_deleted() {
            return Err(Error::UnknownTopic(topic.name.clone()));
        }
        let offset = *head;
        if check_backlog
            && !topic.is_dlq()
            && offset - partition.first().min(offset) >= self.config.max_partition_backlog
        {
            return Err(self.reject(
                "backlog_full",
                Error::Exhausted {
                    message: format!(
                        "partition {p} of topic {} holds {} messages, the limit",
                        topic.name, self.config.max_partition_backlog
                    ),
                    reason: "backlog_full".into(),
                    retry_after_ms: 1000,
                },
            ));
        }
        let mut batch = self.store.batch()?;
        batch.insert(
            &self.store.msgs,
            store::msg_key(topic.id, p, offset),
            store::encode(record),
        );
        extra(&mut batch, offset);
        batch.commit()?;
        *head = offset + 1;
        let visible = Visible {
            head: Arc::clone(&partition.visible),
            upto: offset + 1,
            notify: Arc::clone(&topic.notify),
        };
        let ticket = if self.config.durable {
            Some(self.committer.register(Some(visible)))
        } else {
            visible.apply();
            None
        };
        drop(head);
        Counters::bump(&topic.counters.produced);
        Ok((offset, ticket))
    }

    /// Handles a due deadline.
    fn fire(&self, key: timers::TimerKey, entry: TimerEntry) {
        match entry {
            TimerEntry::LeaseExpiry {
                topic,
                group,
                partition,
                offset,
            } => {
                // A deleted topic's keys are being removed: recording the expiry would leave one behind.
                if !topic.is_deleted() {
                    group::expire(self, &topic, &group, (partition, offset), key);
                }
            }
            TimerEntry::RetryReady { notify } => notify.notify_waiters(),
        }
    }

    /// One bounded pass of retention, idempotency, deleted-topic and idle-group cleanup; true when work is left.
    fn sweep(&self) -> bool {
        let retention = self.sweep_retention().unwrap_or_else(|e| {
            tracing::warn!(error = %e, "retention sweep failed");
            false
        });
        let idem = self.sweep_idempotency().unwrap_or_else(|e| {
            tracing::warn!(error = %e, "idempotency sweep failed");
            false
        });
        let deleted = self.sweep_deleted_topics().unwrap_or_else(|e| {
            tracing::warn!(error = %e, "deleted-topic sweep failed");
            false
        });
        let groups = self.sweep_idle_groups().unwrap_or_else(|e| {
            tracing::warn!(error = %e, "idle-group sweep failed");
            false
        });
        retention || idem || deleted || groups
    }

    fn sweep_retention(&self) -> Result<bool, Error> {
        let retention_ms = u64::try_from(self.config.retention.as_millis()).unwrap_or(u64::MAX);
        let now = now_ms();
        let cutoff = now.saturating_sub(retention_ms);
        if cutoff == 0 {
            return Ok(false);
        }
        let mut budget = self.config.sweep_batch;
        let topics: Vec<Arc<Topic>> = self.topics.read().values().cloned().collect();
        for topic in topics {
            if topic.created_at_ms >= cutoff {
                continue;
            }
            for (idx, partition) in topic.partitions.iter().enumerate() {
                if budget == 0 {
                    return Ok(true);
                }
                let p = u32::try_from(idx).unwrap_or(u32::MAX);
                let first = partition.first();
                let visible = partition.visible();
                if first >= visible {
                    continue;
                }
                let mut first_expiry = partition.first_expiry.lock();
                if first_expiry.is_some_and(|(offset, expires)| offset == first && expires > now) {
                    continue;
                }
                let mut batch = self.store.batch()?;
                let mut new_first = first;
                let range =
                    store::msg_key(topic.id, p, first)..store::msg_key(topic.id, p, visible);
                for kv in self.store.msgs.range(range) {
                    if budget == 0 {
                        break;
                    }
                    let (key, value) = kv.into_inner()?;
                    let record: MessageRecord = store::decode(&value, "message")?;
                    if record.produced_at_ms >= cutoff {
                        *first_expiry = store::msg_key_offset(&key).map(|offset| {
                            (offset, record.produced_at_ms.saturating_add(retention_ms))
                        });
                        break;
                    }
                    batch.remove(&self.store.msgs, key.clone());
                    new_first = store::msg_key_offset(&key).map_or(new_first, |o| o + 1);
                    budget -= 1;
                }
                if new_first > first {
                    batch.insert(
                        &self.store.meta,
                        store::floor_key(topic.id, p),
                        new_first.to_be_bytes().to_vec(),
                    );
                    batch.commit()?;
                    self.written();
                    partition.first.fetch_max(new_first, Ordering::AcqRel);
                    tracing::debug!(topic = %topic.name, partition = p, deleted = new_first - first, "retention");
                    topic.notify.notify_waiters();
                }
            }
        }
        Ok(budget == 0)
    }

    fn sweep_idempotency(&self) -> Result<bool, Error> {
        let upper = (now_ms().saturating_add(1)).to_be_bytes();
        let mut removed = 0;
        while removed < self.config.sweep_batch {
            let chunk = IDEM_SWEEP_CHUNK.min(self.config.sweep_batch - removed);
            let swept = self.sweep_idempotency_chunk(&upper, chunk)?;
            removed += swept;
            if swept < chunk {
                break;
            }
        }
        if removed > 0 {
            self.written();
        }
        Ok(removed >= self.config.sweep_batch)
    }

    /// Removes up to `limit` expired idempotency keys in one batch, under the idempotency lock; returns how many
    /// index rows it removed.
    fn sweep_idempotency_chunk(&self, upper: &[u8], limit: usize) -> Result<usize, Error> {
        let _guard = self.idem_lock.lock();
        let mut batch = self.store.batch()?;
        let mut removed = 0;
        for kv in self.store.idem_exp.range(..upper).take(limit) {
            let (key, _) = kv.into_inner()?;
            batch.remove(&self.store.idem_exp, key.clone());
            removed += 1;
            let (Some(expires), Some(idem_key)) = (store::u64_value(&key), key.get(8..)) else {
                continue;
            };
            // The key may have been reused after it expired: only remove the entry this index row points at.
            let current = self.store.idem.get(idem_key)?;
            if current
                .as_deref()
                .and_then(store::parse_idem_value)
                .is_some_and(|(_, _, e)| e == expires)
            {
                batch.remove(&self.store.idem, idem_key.to_vec());
            }
        }
        batch.commit()?;
        Ok(removed)
    }

    fn shut_down(&self) {
        if self.shutdown.flag.swap(true, Ordering::SeqCst) {
            return;
        }
        self.shutdown.notify.notify_waiters();
        for topic in self.topics.read().values() {
            topic.notify.notify_waiters();
        }
        let sweeper = self.sweeper.lock().take();
        if let Some(sweeper) = sweeper {
            sweeper.thread().unpark();
            // The sweep thread itself ends up here when it held the last handle: it returns on its own.
            if sweeper.thread().id() != std::thread::current().id() && sweeper.join().is_err() {
                tracing::error!("the sweep thread panicked");
            }
        }
        self.committer.stop();
        let started = Instant::now();
        match self.store.close(self.config.flush_on_close) {
            Ok(()) => tracing::debug!(elapsed = ?started.elapsed(), "store closed"),
            Err(e) => {
                tracing::warn!(error = %e, "could not flush the store; the next start replays the journal");
            }
        }
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        self.shut_down();
    }
}

/// The offset of a partition's first or last stored message, as its prefix iterator yields it.
fn edge_offset(edge: Option<fjall::Guard>) -> Result<Option<u64>, Error> {
    Ok(edge
        .map(|g| g.key())
        .transpose()?
        .and_then(|k| store::msg_key_offset(&k)))
}

/// Rebuilds topics, heads and group positions from the store.
fn recover(store: &Store, config: &Config) -> Result<(HashMap<String, Arc<Topic>>, u32), Error> {
    let mut topics = HashMap::new();
    let mut by_id: BTreeMap<u32, Arc<Topic>> = BTreeMap::new();
    let mut next_id = 0u32;
    for kv in store.meta.prefix(store::TOPIC_PREFIX) {
        let (key, value) = kv.into_inner()?;
        let Some(name) = key
            .get(store::TOPIC_PREFIX.len()..)
            .and_then(|n| std::str::from_utf8(n).ok())
        else {
            tracing::warn!("skipping a topic record with an unreadable name");
            continue;
        };
        let record: TopicRecord = store::decode(&value, "topic")?;
        let mut parts = Vec::new();
        for p in 0..record.partitions {
            let mut stored = store.msgs.prefix(store::partition_prefix(record.id, p));
            let first_offset = edge_offset(stored.next())?;
            // One iterator serves both ends: with a single message, `next` took it and `next_back` is empty.
            let last_offset = edge_offset(stored.next_back())?.or(first_offset);
            let floor = store
                .meta
                .get(store::floor_key(record.id, p))?
                .and_then(|v| store::u64_value(&v))
                .unwrap_or(0);
            let head = last_offset.map_or(0, |o| o + 1).max(floor);
            let first = first_offset.unwrap_or(head).max(floor);
            parts.push(Partition::new(first, head));
        }
        next_id = next_id.max(record.id.saturating_add(1));
        let topic = Arc::new(Topic::new(
            name.to_owned(),
            record.id,
            parts,
            record.created_at_ms,
        ));
        by_id.insert(record.id, Arc::clone(&topic));
        topics.insert(name.to_owned(), topic);
    }

    next_id = next_id.max(deleted_topic_id_floor(store)?);

    // Group positions: low-water marks, then acks above them, then delivery attempts of unsettled offsets.
    let mut groups: BTreeMap<(u32, String), Vec<GroupPart>> = BTreeMap::new();
    let mut part_of = |tid: u32, group: &str, p: u32| -> Option<(Arc<Topic>, usize)> {
        let topic = by_id.get(&tid)?;
        let idx = usize::try_from(p)
            .ok()
            .filter(|i| *i < topic.partitions.len())?;
        groups.entry((tid, group.to_owned())).or_insert_with(|| {
            topic
                .partitions
                .iter()
                .map(|part| GroupPart::new(part.first()))
                .collect()
        });
        Some((Arc::clone(topic), idx))
    };
    let mut cursors = Vec::new();
    for kv in store.cursors.iter() {
        let (key, value) = kv.into_inner()?;
        let (Some(k), Some(lwm)) = (store::parse_group_key(&key), store::u64_value(&value)) else {
            continue;
        };
        if let Some((topic, idx)) = part_of(k.tid, &k.group, k.partition) {
            cursors.push((k.tid, k.group, idx, lwm.max(topic.partitions[idx].first())));
        }
    }
    let mut acks = Vec::new();
    for kv in store.acks.iter() {
        let (key, _) = kv.into_inner()?;
        let Some(k) = store::parse_group_key(&key) else {
            continue;
        };
        if let (Some((_, idx)), Some(off)) = (part_of(k.tid, &k.group, k.partition), k.offset) {
            acks.push((k.tid, k.group, idx, off));
        }
    }
    let mut attempts = Vec::new();
    for kv in store.attempts.iter() {
        let (key, value) = kv.into_inner()?;
        let Some(k) = store::parse_group_key(&key) else {
            continue;
        };
        let record: AttemptsRecord = store::decode(&value, "attempts")?;
        if let (Some((_, idx)), Some(off)) = (part_of(k.tid, &k.group, k.partition), k.offset) {
            attempts.push((k.tid, k.group, idx, off, record));
        }
    }
    for (tid, group, idx, lwm) in cursors {
        if let Some(gp) = groups
            .get_mut(&(tid, group))
            .and_then(|parts| parts.get_mut(idx))
        {
            *gp = GroupPart::new(lwm);
        }
    }
    for (tid, group, idx, off) in acks {
        if let Some(gp) = groups
            .get_mut(&(tid, group))
            .and_then(|parts| parts.get_mut(idx))
            && off >= gp.lwm
        {
            gp.acked.insert(off);
        }
    }
    for (tid, group, idx, off, record) in attempts {
        if let Some(gp) = groups
            .get_mut(&(tid, group))
            .and_then(|parts| parts.get_mut(idx))
            && off >= gp.lwm
            && !gp.acked.contains(&off)
        {
            gp.prior.insert(
                off,
                Prior {
                    attempts: record.attempts,
                    last_error: record.last_error,
                },
            );
        }
    }
    let group_count = groups.len();
    for ((tid, name), parts) in groups {
        if let Some(topic) = by_id.get(&tid) {
            let group = Arc::new(Group::new(name.clone(), parts));
            topic.groups.lock().insert(name, group);
        }
    }
    tracing::info!(dir = %config.data_dir.display(), topics = topics.len(), groups = group_count, "recovered broker state");
    Ok((topics, next_id))
}

/// The sweep thread: retention, idempotency, deleted-topic and idle-group cleanup every `interval`, a tenth of
/// it while work is left. An OS thread of its own rather than a task, because a pass may read and delete
/// thousands of keys and would hold up a runtime worker (and every request queued on it) for as long. Holds only a weak reference so that
/// dropping every handle closes the store; [`Inner::shut_down`] wakes and joins it.
fn sweeper(inner: &Weak<Inner>, interval: Duration) {
    let mut next = std::time::Instant::now() + interval;
    loop {
        let now = std::time::Instant::now();
        if now < next {
            std::thread::park_timeout(next - now);
            // Woken by a shutdown, or early: look again.
            match inner.upgrade() {
                Some(inner) if !inner.shutdown.is_set() => continue,
                _ => return,
            }
        }
        let Some(strong) = inner.upgrade() else {
            return;
        };
        if strong.shutdown.is_set() {
            return;
        }
        let more = strong.sweep();
        drop(strong);
        next = std::time::Instant::now() + if more { interval / 10 } else { interval };
    }
}

/// The background task: lease expiries and backoff readiness. Holds only a weak reference so that dropping
/// every handle closes the store.
async fn background(inner: Weak<Inner>, changed: Arc<Notify>, shutdown: Arc<Shutdown>) {
    loop {
        let changed = changed.notified();
        let stopped = shutdown.notify.notified();
        tokio::pin!(changed, stopped);
        changed.as_mut().enable();
        stopped.as_mut().enable();
        let wake_at = {
            let Some(inner) = inner.upgrade() else { return };
            if inner.shutdown.is_set() {
                return;
            }
            let now = Instant::now();
            for (key, entry) in inner.timers.pop_due(now) {
                inner.fire(key, entry);
            }
            inner.timers.next_deadline()
        };
        let due = async {
            match wake_at {
                Some(at) => tokio::time::sleep_until(at).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            () = due => {}
            () = &mut changed => {}
            () = &mut stopped => return,
        }
    }
}

impl Broker {
    /// Opens (or creates) the store in `config.data_dir`, recovers every topic, message, offset, idempotency key
    /// and attempt count, and starts the group-commit thread, the sweep thread and the lease/backoff timer task.
    /// Must be called inside a tokio runtime.
    pub fn open(config: Config) -> Result<Broker, Error> {
        let runtime = tokio::runtime::Handle::try_current().map_err(|_| {
            Error::InvalidArgument("the broker must be opened inside a tokio runtime".into())
        })?;
        let store = Store::open(&config.data_dir, config.cache_bytes, config.durable)?;
        let (topics, next_id) = recover(&store, &config)?;
        let total_partitions: u64 = topics
            .values()
            .map(|t| u64::from(t.partition_count()))
            .sum();
        let committer = Committer::start(
            store.db.clone(),
            config.data_dir.clone(),
            Arc::clone(&store.health),
        )?;
        let sweep_interval = config.sweep_interval.max(Duration::from_millis(1));
        let inner = Arc::new(Inner {
            config,
            store,
            committer,
            timers: Timers::default(),
            topics: RwLock::new(topics),
            next_topic_id: Mutex::new(next_id),
            total_partitions: AtomicU64::new(total_partitions),
            idem_lock: Mutex::new(()),
            shutdown: Arc::new(Shutdown::default()),
            rejected: Mutex::new(BTreeMap::new()),
            duplicates: AtomicU64::new(0),
            sweeper: Mutex::new(None),
        });
        let weak = Arc::downgrade(&inner);
        let sweeper = std::thread::Builder::new()
            .name("dq-broker-sweep".into())
            .spawn(move || sweeper(&weak, sweep_interval))
            .map_err(|e| Error::Storage(fjall::Error::Io(e)))?;
        *inner.sweeper.lock() = Some(sweeper);
        runtime.spawn(background(
            Arc::downgrade(&inner),
            Arc::clone(&inner.timers.changed),
            Arc::clone(&inner.shutdown),
        ));
        Ok(Broker { inner })
    }

    /// Creates a topic with `partitions` partitions (`None` = 1); durable when it returns. Creating an existing
    /// topic is not an error: the existing partition count is returned.
    pub async fn create_topic(
        &self,
        name: &str,
        partitions: Option<u32>,
    ) -> Result<TopicInfo, Error> {
        let (info, pending) = self.create_topic_pending(name, partitions)?;
        pending.durable().await?;
        Ok(info)
    }

    /// [`Broker::create_topic`] without the wait: the topic exists when it returns (later writes may use it)
    /// and is durable once the returned [`Pending`] is.
    pub fn create_topic_pending(
        &self,
        name: &str,
        partitions: Option<u32>,
    ) -> Result<(TopicInfo, Pending), Error> {
        validate::topic_name(name)?;
        let partitions = partitions.unwrap_or(1);
        if partitions == 0 || partitions > self.inner.config.max_partitions {
            return Err(Error::InvalidArgument(format!(
                "invalid partitions: {partitions} (allowed 1..={})",
                self.inner.config.max_partitions
            )));
        }
        if self.inner.shutdown.is_set() {
            return Err(Error::ShuttingDown);
        }
        let topic = self.inner.ensure_topic(name, partitions, true)?;
        let info = TopicInfo {
            name: topic.name.clone(),
            partitions: topic.partition_count(),
        };
        // Covers the topic's creation, whoever made it, and every write made before this call: a caller that
        // waits only for this pending write must find its own earlier writes durable too.
        let barrier = self
            .inner
            .config
            .durable
            .then(|| self.inner.committer.barrier());
        Ok((info, self.pending(barrier)))
    }

    fn pending(&self, ticket: Option<u64>) -> Pending {
        Pending {
            inner: Arc::clone(&self.inner),
            ticket,
        }
    }

    /// Every topic name, sorted.
    pub fn topics(&self) -> Vec<String> {
        let mut names: Vec<String> = self.inner.topics.read().keys().cloned().collect();
        names.sort_unstable();
        names
    }

    /// One topic, if it exists.
    pub fn topic(&self, name: &str) -> Option<TopicInfo> {
        self.inner.topic(name).map(|t| TopicInfo {
            name: t.name.clone(),
            partitions: t.partition_count(),
        })
    }

    /// Stores a message; returns once it is durable. A duplicate (same tenant, topic and idempotency key inside
    /// the window) stores nothing and answers with `duplicate: true`.
    pub async fn produce(&self, produce: Produce) -> Result<Produced, Error> {
        let (produced, pending) = self.produce_pending(produce)?;
        pending.durable().await?;
        Ok(produced)
    }

    /// [`Broker::produce`] without the wait: the message is stored, after every write before it, when this
    /// returns; consumers and readers see it, and it may be reported stored, once the [`Pending`] is durable.
    pub fn produce_pending(&self, produce: Produce) -> Result<(Produced, Pending), Error> {
        let (produced, ticket) = self.produce_sync(produce)?;
        Ok((produced, self.pending(ticket)))
    }

    /// Everything of a produce but the wait for durability.
    fn produce_sync(&self, produce: Produce) -> Result<(Produced, Option<u64>), Error> {
        let inner = &*self.inner;
        if inner.shutdown.is_set() {
            return Err(Error::ShuttingDown);
        }
        let Produce {
            topic,
            key,
            value,
            envelope,
        } = produce;
        if value.is_empty() {
            return Err(inner.reject(
                "invalid",
                Error::InvalidArgument("value is required".into()),
            ));
        }
        if value.len() > inner.config.max_value_bytes {
            return Err(inner.reject(
                "too_large",
                Error::TooLarge {
                    size: value.len(),
                    limit: inner.config.max_value_bytes,
                },
            ));
        }
        let env = envelope.as_ref();
        // Before anything else looks at them: these strings end up in stored keys, which have a hard size limit.
        validate::topic_ref("topic", &topic).map_err(|e| inner.reject("invalid", e))?;
        if let Some(env) = env {
            validate::envelope(env).map_err(|e| inner.reject("invalid", e))?;
        }
        let name = match env.and_then(|e| e.target_topic.as_deref()) {
            Some("") => {
                return Err(inner.reject(
                    "invalid",
                    Error::InvalidArgument("target_topic is empty".into()),
                ));
            }
            Some(target) => target,
            None => topic.as_str(),
        };
        let Some(topic) = inner.topic(name) else {
            return Err(inner.reject("unknown_topic", Error::UnknownTopic(name.to_owned())));
        };
        if let Some(deadline) = env.and_then(|e| e.deadline.as_deref()) {
            validate::deadline(deadline, time::OffsetDateTime::now_utc())
                .map_err(|e| inner.reject("deadline_passed", e))?;
        }
        Policy::parse(env.and_then(|e| e.retry_policy.as_ref()))
            .map_err(|e| inner.reject("invalid", e))?;
        let p = validate::choose_partition(
            topic.partition_count(),
            key.as_deref(),
            env.and_then(|e| e.partition_override),
        )
        .map_err(|e| inner.reject("invalid", e))?;

        let idem_key = env
            .and_then(|e| {
                e.idempotency_key
                    .as_deref()
                    .filter(|k| !k.is_empty())
                    .map(|k| (e.tenant_id.as_deref().unwrap_or(""), k))
            })
            .map(|(tenant, k)| store::idem_key(topic.id, tenant, k));
        let _idem_guard = idem_key.as_ref().map(|_| inner.idem_lock.lock());
        let now = now_ms();
        if let Some(k) = &idem_key
            && let Some((dp, doff, expires)) = inner
                .store
                .idem
                .get(k)?
                .as_deref()
                .and_then(store::parse_idem_value)
            && expires > now
        {
            inner.duplicates.fetch_add(1, Ordering::Relaxed);
            // The first copy may still be on its way to disk: answer once everything written so far is durable.
            let ticket = inner.config.durable.then(|| inner.committer.barrier());
            let produced = Produced {
                status: "produced".into(),
                topic: topic.name.clone(),
                partition: dp,
                offset: doff,
                duplicate: true,
            };
            return Ok((produced, ticket));
        }
        let window_ms =
            u64::try_from(inner.config.idempotency_window.as_millis()).unwrap_or(u64::MAX);
        let expires = now.saturating_add(window_ms);
        let record = MessageRecord {
            produced_at_ms: now,
            key: key.unwrap_or_default(),
            value,
            envelope,
            dlq: None,
        };
        let (offset, ticket) = inner.append(&topic, p, &record, true, |batch, offset| {
            if let Some(k) = &idem_key {
                batch.insert(
                    &inner.store.idem,
                    k.clone(),
                    store::idem_value(p, offset, expires).to_vec(),
                );
                batch.insert(
                    &inner.store.idem_exp,
                    store::idem_exp_key(expires, k),
                    Vec::new(),
                );
            }
        })?;
        Ok((
            Produced {
                status: "produced".into(),
                topic: topic.name.clone(),
                partition: p,
                offset,
                duplicate: false,
            },
            ticket,
        ))
    }

    /// Joins `group` on `topic` as a new stream whose deliveries are leased to `owner` for `lease`
    /// (`None` = the configured default).
    pub fn subscribe(
        &self,
        topic: &str,
        group: &str,
        owner: &str,
        lease: Option<Duration>,
    ) -> Result<Subscription, Error> {
        let inner = &self.inner;
        let lease = lease.unwrap_or(inner.config.default_lease);
        if lease < MIN_LEASE {
            return Err(Error::InvalidArgument(format!(
                "lease of {} ms is under the minimum of {} ms",
                lease.as_millis(),
                MIN_LEASE.as_millis()
            )));
        }
        if lease > inner.config.max_lease {
            return Err(Error::InvalidArgument(format!(
                "lease of {} ms is over the limit of {} ms",
                lease.as_millis(),
                inner.config.max_lease.as_millis()
            )));
        }
        validate::topic_ref("topic", topic)?;
        validate::plain_name("group", group)?;
        validate::plain_name("owner", owner)?;
        if inner.shutdown.is_set() {
            return Err(Error::ShuttingDown);
        }
        let topic = inner
            .topic(topic)
            .ok_or_else(|| Error::UnknownTopic(topic.to_owned()))?;
        let group = {
            let mut groups = topic.groups.lock();
            // A deletion sets the flag before it takes this lock: a new group's cursors are written before the
            // deletion removes the topic's keys, or not at all.
            if topic.is_deleted() {
                return Err(Error::UnknownTopic(topic.name.clone()));
            }
            let joined = match groups.get(group) {
                Some(existing) => Arc::clone(existing),
                None => {
                    // A new group starts at the earliest retained offset. Its cursors are written now (not waited
                    // for) so that its lag shows in metrics after a restart even before its first ack.
                    let parts: Vec<GroupPart> = topic
                        .partitions
                        .iter()
                        .map(|p| GroupPart::new(p.first()))
                        .collect();
                    let mut batch = inner.store.batch()?;
                    for (idx, part) in parts.iter().enumerate() {
                        let p = u32::try_from(idx).unwrap_or(u32::MAX);
                        batch.insert(
                            &inner.store.cursors,
                            store::group_key(topic.id, group, p),
                            part.lwm.to_be_bytes().to_vec(),
                        );
                    }
                    batch.commit()?;
                    inner.written();
                    let created = Arc::new(Group::new(group.to_owned(), parts));
                    groups.insert(group.to_owned(), Arc::clone(&created));
                    created
                }
            };
            // Joined while the groups lock is held, so that the idle-group sweep (which takes it first) never
            // forgets a group between its lookup here and this stream's count.
            joined.state.lock().streams += 1;
            touch(&joined);
            joined
        };
        Ok(Subscription {
            inner: Arc::clone(inner),
            topic,
            group,
            owner: owner.to_owned(),
            lease,
        })
    }

    /// Finds the topic and group of a settle request.
    fn settle_target(&self, settle: &Settle) -> Result<(Arc<Topic>, Arc<Group>), Error> {
        validate::topic_ref("topic", &settle.topic)?;
        validate::plain_name("group", &settle.group)?;
        validate::plain_name("owner", &settle.owner)?;
        if self.inner.shutdown.is_set() {
            return Err(Error::ShuttingDown);
        }
        let topic = self
            .inner
            .topic(&settle.topic)
            .ok_or_else(|| Error::UnknownTopic(settle.topic.clone()))?;
        if settle.partition >= topic.partition_count() {
            return Err(Error::InvalidArgument(format!(
                "partition {} is out of range 0..{}",
                settle.partition,
                topic.partition_count()
            )));
        }
        let group = topic.group(&settle.group).ok_or(Error::NotInFlight)?;
        Ok((topic, group))
    }

    /// Acknowledges a delivered message; returns once the commit is durable.
    pub async fn ack(&self, settle: Settle) -> Result<(), Error> {
        let ticket = {
            let (topic, group) = self.settle_target(&settle)?;
            let ticket = group::ack(
                &self.inner,
                &topic,
                &group,
                settle.partition,
                settle.offset,
                &settle.owner,
            )?;
            touch(&group);
            ticket
        };
        self.inner.wait(ticket).await
    }

    /// Rejects a delivered message: it is redelivered after the retry policy's backoff (or `delay`), or
    /// dead-lettered when its attempts are exhausted.
    pub async fn nack(
        &self,
        settle: Settle,
        reason: Option<String>,
        delay: Option<Duration>,
    ) -> Result<(), Error> {
        let ticket = {
            let (topic, group) = self.settle_target(&settle)?;
            let ticket = group::nack(
                &self.inner,
                &topic,
                &group,
                (settle.partition, settle.offset, &settle.owner),
                reason.as_deref(),
                delay,
            )?;
            touch(&group);
            ticket
        };
        self.inner.wait(ticket).await
    }

    /// Reads up to `limit` stored messages of one partition from offset `from` on, without consuming them.
    pub fn read(
        &self,
        topic: &str,
        partition: u32,
        from: u64,
        limit: usize,
    ) -> Result<Vec<StoredMessage>, Error> {
        validate::topic_ref("topic", topic)?;
        let topic = self
            .inner
            .topic(topic)
            .ok_or_else(|| Error::UnknownTopic(topic.to_owned()))?;
        let part = topic.partition(partition).ok_or_else(|| {
            Error::InvalidArgument(format!(
                "partition {partition} is out of range 0..{}",
                topic.partition_count()
            ))
        })?;
        let visible = part.visible();
        if from >= visible || limit == 0 {
            return Ok(Vec::new());
        }
        let range =
            store::msg_key(topic.id, partition, from)..store::msg_key(topic.id, partition, visible);
        let mut out = Vec::with_capacity(limit.min(1024));
        for kv in self.inner.store.msgs.range(range).take(limit) {
            let (key, value) = kv.into_inner()?;
            let record: MessageRecord = store::decode(&value, "message")?;
            out.push(StoredMessage {
                partition,
                offset: store::msg_key_offset(&key).unwrap_or_default(),
                key: record.key,
                value: record.value,
                envelope: record.envelope,
                produced_at_ms: record.produced_at_ms,
            });
        }
        Ok(out)
    }

    /// A snapshot of the counters and gauges.
    pub fn metrics(&self) -> Metrics {
        let inner = &self.inner;
        let mut m = Metrics {
            duplicates: inner.duplicates.load(Ordering::Relaxed),
            produce_rejected: inner
                .rejected
                .lock()
                .iter()
                .map(|(reason, n)| ((*reason).to_owned(), *n))
                .collect(),
            ..Metrics::default()
        };
        let mut topics: Vec<Arc<Topic>> = inner.topics.read().values().cloned().collect();
        topics.sort_unstable_by(|a, b| a.name.cmp(&b.name));
        for topic in topics {
            let c = &topic.counters;
            let name = &topic.name;
            m.produced
                .push((name.clone(), c.produced.load(Ordering::Relaxed)));
            m.delivered
                .push((name.clone(), c.delivered.load(Ordering::Relaxed)));
            m.acked
                .push((name.clone(), c.acked.load(Ordering::Relaxed)));
            m.nacked
                .push((name.clone(), c.nacked.load(Ordering::Relaxed)));
            m.dead_lettered
                .push((name.clone(), c.dead_lettered.load(Ordering::Relaxed)));
            let groups: Vec<Arc<Group>> = topic.groups.lock().values().cloned().collect();
            for group in groups {
                let st = group.state.lock();
                let in_flight: usize = st.parts.iter().map(GroupPart::in_flight).sum();
                let lag: u64 = st
                    .parts
                    .iter()
                    .zip(&topic.partitions)
                    .map(|(gp, part)| part.visible().saturating_sub(gp.lwm.max(part.first())))
                    .sum();
                let streams = u64::try_from(st.streams).unwrap_or(u64::MAX);
                drop(st);
                m.streams.push((name.clone(), group.name.clone(), streams));
                m.in_flight.push((
                    name.clone(),
                    group.name.clone(),
                    u64::try_from(in_flight).unwrap_or(u64::MAX),
                ));
                m.lag.push((name.clone(), group.name.clone(), lag));
            }
        }
        m
    }

    /// The write failure that stopped the store, if one did (then every write fails with it until the
    /// process restarts). Also notices a failed background flush of fjall's.
    pub fn storage_failure(&self) -> Option<StorageFailure> {
        self.inner.store.failure()
    }

    /// Resolves once a write failure stops the store (never, while it works).
    pub fn storage_failed(&self) -> impl Future<Output = StorageFailure> + Send + 'static {
        self.inner.store.health.failed()
    }

    /// Whether produce waits for fsync.
    pub fn durable(&self) -> bool {
        self.inner.config.durable
    }

    /// Ends every subscription (their `next` returns `None`) and stops the background tasks. Idempotent.
    pub fn shutdown(&self) {
        self.inner.shut_down();
    }
}

impl Subscription {
    /// The next message for this stream, waiting until one is available. `None` once the broker shuts down.
    pub async fn next(&mut self) -> Option<ConsumeItem> {
        loop {
            let notified = self.topic.notify.notified();
            tokio::pin!(notified);
            // Registered before looking, so that a message arriving in between still wakes us.
            notified.as_mut().enable();
            if self.inner.shutdown.is_set() || self.topic.is_deleted() {
                return None;
            }
            if let Some(item) = self.take() {
                return Some(item);
            }
            notified.await;
        }
    }

    /// The next message if one is deliverable right now, without waiting (`None` otherwise, and once the broker
    /// shuts down): lets a stream send every ready message in one write.
    pub fn try_next(&mut self) -> Option<ConsumeItem> {
        if self.inner.shutdown.is_set() || self.topic.is_deleted() {
            return None;
        }
        self.take()
    }

    fn take(&self) -> Option<ConsumeItem> {
        group::take(
            &self.inner,
            &self.topic,
            &self.group,
            &self.owner,
            self.lease,
        )
        .unwrap_or_else(|e| {
            tracing::warn!(topic = %self.topic.name, group = %self.group.name, error = %e,
                "delivery failed; waiting for the next change");
            None
        })
    }

    /// The owner this stream leases to.
    pub fn owner(&self) -> &str {
        &self.owner
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        let mut st = self.group.state.lock();
        st.streams = st.streams.saturating_sub(1);
        touch(&self.group);
    }
}

// ---- Limits: topic caps, topic deletion, idle groups ----

/// How long a client refused by a topic limit is told to wait: a limit frees up only when topics are deleted,
/// so a retry any sooner would be refused again.
const TOPIC_LIMIT_RETRY_MS: u64 = 60_000;

/// Keys of a deleted topic removed per write batch: bounds the memory of one batch whatever the topic holds.
const PURGE_CHUNK: usize = 4096;

/// Records activity on a group, for the idle-group sweep.
fn touch(group: &Group) {
    group.last_active_ms.store(now_ms(), Ordering::Relaxed);
}

/// The lowest topic id a new topic may get, given the deletions recorded in the store: ids are never reused, so
/// that stray keys of a deleted topic can never belong to a later one.
fn deleted_topic_id_floor(store: &Store) -> Result<u32, Error> {
    let mut floor = store
        .meta
        .get(store::NEXT_TOPIC_ID_KEY)?
        .and_then(|v| Some(u32::from_be_bytes(v.get(..4)?.try_into().ok()?)))
        .unwrap_or(0);
    for kv in store.meta.prefix(store::DELETED_PREFIX) {
        let key = kv.key()?;
        if let Some(tid) = store::parse_deleted_key(&key) {
            floor = floor.max(tid.saturating_add(1));
        }
    }
    Ok(floor)
}

impl Inner {
    /// Refuses a new topic that would pass `max_topics` or `max_total_partitions`. Called under the topic id
    /// lock, which every creation and deletion holds, so the counts cannot change underneath.
    fn check_topic_limits(&self, name: &str, partitions: u32) -> Result<(), Error> {
        let topics = self.topics.read().len();
        if topics >= self.config.max_topics {
            return Err(Error::Exhausted {
                message: format!(
                    "cannot create topic {name:?}: {topics} topics exist, the limit (max_topics = {}); delete \
                     topics to make room",
                    self.config.max_topics
                ),
                reason: "topic_limit".into(),
                retry_after_ms: TOPIC_LIMIT_RETRY_MS,
            });
        }
        let total = self.total_partitions.load(Ordering::Acquire);
        let max = self.config.max_total_partitions;
        if total.saturating_add(u64::from(partitions)) > max {
            return Err(Error::Exhausted {
                message: format!(
                    "cannot create topic {name:?} with {partitions} partitions: topics hold {total} partitions \
                     and the limit is {max} (max_total_partitions); delete topics to make room"
                ),
                reason: "partition_limit".into(),
                retry_after_ms: TOPIC_LIMIT_RETRY_MS,
            });
        }
        Ok(())
    }

    /// Removes a topic from the store's topic list and from memory, leaving a `deleted/` marker for its data,
    /// and fences everything that still holds it: appends see the flag under the head lock, streams end.
    fn unlink_topic(&self, name: &str) -> Result<Arc<Topic>, Error> {
        let next_id = self.next_topic_id.lock();
        let topic = self
            .topic(name)
            .ok_or_else(|| Error::TopicNotFound(name.to_owned()))?;
        let mut batch = self.store.batch()?;
        batch.remove(&self.store.meta, store::topic_key(name));
        batch.insert(&self.store.meta, store::deleted_key(topic.id), Vec::new());
        batch.insert(
            &self.store.meta,
            store::NEXT_TOPIC_ID_KEY,
            next_id.to_be_bytes().to_vec(),
        );
        batch.commit()?;
        self.written();
        self.topics.write().remove(name);
        self.total_partitions
            .fetch_sub(u64::from(topic.partition_count()), Ordering::AcqRel);
        drop(next_id);
        topic.deleted.store(true, Ordering::Release);
        // Wait out the appends and settles under way: they finish before the keys are removed, later ones see
        // the flag (or no longer find the topic by name).
        for partition in &topic.partitions {
            drop(partition.head.lock());
        }
        let groups: Vec<Arc<Group>> = topic.groups.lock().values().cloned().collect();
        for group in groups {
            drop(group.state.lock());
        }
        topic.notify.notify_waiters();
        tracing::info!(topic = name, "deleted topic");
        Ok(topic)
    }

    /// Removes up to `limit` keys of the deleted topic `tid` (messages, retention floors, group cursors, acks
    /// and attempts, idempotency keys); returns how many. Expired idempotency index rows go by the usual sweep.
    /// A delivery or settle that held the topic from before the deletion may still write a key or two after
    /// this: harmless, since topic ids are never reused and recovery ignores keys of unknown topics.
    fn purge_chunk(&self, tid: u32, limit: usize) -> Result<usize, Error> {
        let prefix = tid.to_be_bytes();
        let floor = store::floor_prefix(tid);
        let store = &self.store;
        let mut batch = store.batch()?;
        let mut removed = 0;
        for (ks, prefix) in [
            (&store.msgs, &prefix[..]),
            (&store.cursors, &prefix[..]),
            (&store.acks, &prefix[..]),
            (&store.attempts, &prefix[..]),
            (&store.idem, &prefix[..]),
            (&store.meta, &floor[..]),
        ] {
            for kv in ks.prefix(prefix).take(limit - removed) {
                batch.remove(ks, kv.key()?);
                removed += 1;
            }
            if removed == limit {
                break;
            }
        }
        batch.commit()?;
        Ok(removed)
    }

    /// Removes every key of the deleted topic `tid`, then its marker.
    fn purge_topic(&self, tid: u32) -> Result<(), Error> {
        while self.purge_chunk(tid, PURGE_CHUNK)? == PURGE_CHUNK {}
        let mut batch = self.store.batch()?;
        batch.remove(&self.store.meta, store::deleted_key(tid));
        batch.commit()?;
        self.written();
        Ok(())
    }

    /// Finishes deletions that a crash (or a failed purge) left half done, up to `sweep_batch` keys; true when
    /// work is left.
    fn sweep_deleted_topics(&self) -> Result<bool, Error> {
        let markers: Vec<u32> = self
            .store
            .meta
            .prefix(store::DELETED_PREFIX)
            .take(self.config.sweep_batch)
            .map(|kv| kv.key().map(|k| store::parse_deleted_key(&k)))
            .collect::<Result<Vec<_>, _>>()?
            .into_iter()
            .flatten()
            .collect();
        let mut budget = self.config.sweep_batch;
        for tid in markers {
            let removed = self.purge_chunk(tid, budget)?;
            self.written();
            budget -= removed;
            if budget == 0 {
                return Ok(true);
            }
            let mut batch = self.store.batch()?;
            batch.remove(&self.store.meta, store::deleted_key(tid));
            batch.commit()?;
            budget -= 1;
            if budget == 0 {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// Forgets consumer groups with no stream, nothing in flight and no activity for `group_idle_retention`:
    /// their cursors, acks and attempts leave the store, then the group leaves memory. Removes up to
    /// `sweep_batch` keys; true when work is left.
    fn sweep_idle_groups(&self) -> Result<bool, Error> {
        let window_ms =
            u64::try_from(self.config.group_idle_retention.as_millis()).unwrap_or(u64::MAX);
        let cutoff = now_ms().saturating_sub(window_ms);
        if cutoff == 0 {
            return Ok(false);
        }
        let mut budget = self.config.sweep_batch;
        let topics: Vec<Arc<Topic>> = self.topics.read().values().cloned().collect();
        for topic in topics {
            // Held while the group's keys are removed: a consumer joining under the same name meanwhile would
            // otherwise write cursors that this removal deletes.
            let mut groups = topic.groups.lock();
            let idle: Vec<Arc<Group>> = groups
                .values()
                .filter(|g| g.last_active_ms.load(Ordering::Relaxed) < cutoff)
                .cloned()
                .collect();
            for group in idle {
                if budget == 0 {
                    return Ok(true);
                }
                let st = group.state.lock();
                if st.streams > 0 || st.parts.iter().any(|gp| gp.in_flight() > 0) {
                    continue;
                }
                let prefix = store::group_prefix(topic.id, &group.name);
                let store = &self.store;
                let mut batch = store.batch()?;
                let mut removed = 0usize;
                for ks in [&store.cursors, &store.acks, &store.attempts] {
                    for kv in ks.prefix(&prefix) {
                        batch.remove(ks, kv.key()?);
                        removed += 1;
                    }
                }
                batch.commit()?;
                self.written();
                drop(st);
                groups.remove(&group.name);
                budget = budget.saturating_sub(removed.max(1));
                tracing::info!(topic = %topic.name, group = %group.name, "forgot an idle consumer group");
            }
        }
        Ok(false)
    }
}

impl Broker {
    /// Deletes a topic: its messages, its groups' cursors, acks and attempts and its idempotency keys leave the
    /// store, durably, before this returns; its live streams end; its name is free for a new, empty topic.
    /// [`Error::TopicNotFound`] when there is no such topic.
    pub async fn delete_topic(&self, name: &str) -> Result<TopicInfo, Error> {
        if self.inner.shutdown.is_set() {
            return Err(Error::ShuttingDown);
        }
        let topic = self.inner.unlink_topic(name)?;
        let info = TopicInfo {
            name: topic.name.clone(),
            partitions: topic.partition_count(),
        };
        let tid = topic.id;
        drop(topic);
        // A large topic takes a while to remove: off the async workers. Should it fail, the marker stays and
        // the sweep finishes the job.
        let inner = Arc::clone(&self.inner);
        tokio::task::spawn_blocking(move || inner.purge_topic(tid))
            .await
            .map_err(|e| {
                Error::Storage(fjall::Error::Io(std::io::Error::other(e.to_string())))
            })??;
        let barrier = self
            .inner
            .config
            .durable
            .then(|| self.inner.committer.barrier());
        self.inner.wait(barrier).await?;
        Ok(info)
    }

    /// How many topics exist and how many partitions they hold, for the topic limits.
    pub fn topic_totals(&self) -> (usize, u64) {
        let _creating = self.inner.next_topic_id.lock();
        (
            self.inner.topics.read().len(),
            self.inner.total_partitions.load(Ordering::Acquire),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keyed(topic: &str, key: &str) -> Produce {
        Produce {
            topic: topic.into(),
            value: "v".into(),
            envelope: Some(Envelope {
                idempotency_key: Some(key.into()),
                ..Envelope::default()
            }),
            ..Produce::default()
        }
    }

    /// A panic while the idempotency lock, a partition head, a group or the topic map is held must leave each
    /// usable: with std locks every later produce or delivery panicked on the poisoned lock.
    #[tokio::test]
    async fn a_panic_while_a_lock_is_held_leaves_the_broker_usable() {
        let dir = tempfile::TempDir::new().unwrap();
        let broker = Broker::open(Config {
            durable: false,
            ..Config::new(dir.path())
        })
        .unwrap();
        broker.create_topic("t", None).await.unwrap();
        let mut sub = broker.subscribe("t", "g", "o", None).unwrap();
        let inner = &broker.inner;
        let topic = inner.topic("t").unwrap();
        let group = topic.group("g").unwrap();
        let partition = topic.partition(0).unwrap();
        let panicked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let _idem = inner.idem_lock.lock();
            let _head = partition.head.lock();
            let _group = group.state.lock();
            let _topics = inner.topics.read();
            panic!("a bug while the locks are held");
        }));
        assert!(panicked.is_err());
        broker.produce(keyed("t", "k1")).await.unwrap();
        broker
            .produce(Produce {
                key: None,
                ..keyed("t", "")
            })
            .await
            .unwrap();
        let item = sub.try_next().expect("a delivery");
        assert_eq!(item.offset, 0);
        assert_eq!(broker.topics(), vec!["t".to_owned()]);
        broker.shutdown();
    }

    /// Expiry is checked when a key is looked up, so only the store shows whether the sweep cleaned up.
    #[tokio::test]
    async fn the_idempotency_sweep_removes_expired_keys_in_chunks_up_to_its_batch() {
        let dir = tempfile::TempDir::new().unwrap();
        let broker = Broker::open(Config {
            idempotency_window: Duration::from_secs(1),
            // Only the calls below sweep.
            sweep_interval: Duration::from_secs(3600),
            sweep_batch: 500,
            ..Config::new(dir.path())
        })
        .unwrap();
        broker.create_topic("t", None).await.unwrap();
        for i in 0..700 {
            let (_, pending) = broker
                .produce_pending(Produce {
                    topic: "t".into(),
                    value: "v".into(),
                    envelope: Some(Envelope {
                        idempotency_key: Some(format!("k{i}")),
                        ..Envelope::default()
                    }),
                    ..Produce::default()
                })
                .unwrap();
            drop(pending);
        }
        let inner = &broker.inner;
        let count = |ks: &fjall::Keyspace| ks.iter().count();
        assert_eq!(count(&inner.store.idem), 700);
        assert!(!inner.sweep_idempotency().unwrap(), "nothing expired yet");
        assert_eq!(count(&inner.store.idem_exp), 700);
        tokio::time::sleep(Duration::from_millis(1100)).await;
        assert!(
            inner.sweep_idempotency().unwrap(),
            "one pass stops at sweep_batch and says more is left"
        );
        assert_eq!(count(&inner.store.idem), 200);
        assert_eq!(count(&inner.store.idem_exp), 200);
        assert!(!inner.sweep_idempotency().unwrap());
        assert_eq!(count(&inner.store.idem), 0);
        assert_eq!(count(&inner.store.idem_exp), 0);
        broker.shutdown();
    }

    /// Every key of a deleted topic leaves the store; a deletion cut short (marker left) is finished by the sweep.
    #[tokio::test]
    async fn deleting_a_topic_leaves_no_key_of_it_and_the_sweep_finishes_a_cut_short_deletion() {
        let dir = tempfile::TempDir::new().unwrap();
        let broker = Broker::open(Config {
            sweep_interval: Duration::from_secs(3600),
            ..Config::new(dir.path())
        })
        .unwrap();
        let keyed = |topic: &str, i: usize| Produce {
            topic: topic.into(),
            value: "v".into(),
            envelope: Some(Envelope {
                idempotency_key: Some(format!("k{i}")),
                // One partition, so that acking the second delivery leaves an ack above the low-water mark.
                partition_override: Some(0),
                ..Envelope::default()
            }),
            ..Produce::default()
        };
        let inner = &broker.inner;
        let count = |ks: &fjall::Keyspace| ks.iter().count();
        let all = || {
            [
                count(&inner.store.msgs),
                count(&inner.store.cursors),
                count(&inner.store.acks),
                count(&inner.store.attempts),
                count(&inner.store.idem),
            ]
        };
        for topic in ["a", "b"] {
            broker.create_topic(topic, Some(3)).await.unwrap();
            for i in 0..5 {
                broker.produce(keyed(topic, i)).await.unwrap();
            }
            let mut sub = broker.subscribe(topic, "g", "o", None).unwrap();
            let _first = sub.next().await.unwrap();
            let second = sub.next().await.unwrap();
            broker
                .ack(Settle {
                    topic: topic.into(),
                    group: "g".into(),
                    owner: "o".into(),
                    partition: second.partition,
                    offset: second.offset,
                })
                .await
                .unwrap();
        }
        let before = all();
        assert!(before.iter().all(|n| *n > 0), "{before:?}");
        broker.delete_topic("a").await.unwrap();
        let after = all();
        for (b, a) in before.iter().zip(after) {
            assert_eq!(
                a * 2,
                *b,
                "half the keys went with topic a: {before:?} -> {after:?}"
            );
        }
        assert_eq!(inner.store.meta.prefix(store::DELETED_PREFIX).count(), 0);

        // Cut short: the topic is unlinked but its keys are still there, as after a crash mid-deletion.
        let tid = inner.unlink_topic("b").unwrap().id;
        assert_eq!(all(), after);
        assert!(!inner.sweep_deleted_topics().unwrap());
        assert_eq!(all(), [0; 5]);
        assert_eq!(inner.store.meta.prefix(store::DELETED_PREFIX).count(), 0);
        assert!(
            deleted_topic_id_floor(&inner.store).unwrap() > tid,
            "ids are never reused"
        );
        broker.shutdown();
    }
}
