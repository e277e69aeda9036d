//! A topic in memory: its partitions' heads and its consumer groups. Messages themselves stay on disk.
//!
//! Per partition it keeps three numbers: `head` (the next offset to assign; its mutex is held while a message
//! batch is committed, so that journal order is offset order), `visible` (offsets below it are durable and may be
//! delivered) and `first` (the earliest offset not deleted by retention). It keeps no message bodies beyond the
//! bounded cache of the newest ones that delivery reads first ([`recent`]).
//!
//! A topic owns its consumer groups; their deliveries, settles and failures are in [`group`].

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use parking_lot::Mutex;
use tokio::sync::Notify;

pub(crate) mod group;
pub(crate) mod recent;

use group::Group;
use recent::Recent;

use crate::record::MessageRecord;

/// Per-topic counters for `/metrics`.
#[derive(Default)]
pub(crate) struct Counters {
    pub(crate) produced: AtomicU64,
    pub(crate) delivered: AtomicU64,
    pub(crate) acked: AtomicU64,
    pub(crate) nacked: AtomicU64,
    pub(crate) dead_lettered: AtomicU64,
}

impl Counters {
    pub(crate) fn bump(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn add(counter: &AtomicU64, n: usize) {
        counter.fetch_add(u64::try_from(n).unwrap_or(u64::MAX), Ordering::Relaxed);
    }
}

/// One partition's heads.
pub(crate) struct Partition {
    pub(crate) head: Mutex<u64>,
    pub(crate) visible: Arc<AtomicU64>,
    pub(crate) first: AtomicU64,
    /// For the retention sweep only: `(first offset, when it expires in Unix ms)` as last read, so that a sweep
    /// skips a partition whose first message is known to be young instead of reading it every pass.
    pub(crate) first_expiry: Mutex<Option<(u64, u64)>>,
    /// The newest messages, for delivery (see [`recent`]); appended to under the `head` lock.
    pub(crate) recent: Recent,
}

impl Partition {
    pub(crate) fn new(first: u64, head: u64) -> Self {
        Self {
            head: Mutex::new(head),
            visible: Arc::new(AtomicU64::new(head)),
            first: AtomicU64::new(first),
            first_expiry: Mutex::new(None),
            recent: Recent::default(),
        }
    }

    pub(crate) fn visible(&self) -> u64 {
        self.visible.load(Ordering::Acquire)
    }

    pub(crate) fn first(&self) -> u64 {
        self.first.load(Ordering::Acquire)
    }
}

/// A topic.
pub(crate) struct Topic {
    pub(crate) name: String,
    pub(crate) id: u32,
    pub(crate) partitions: Vec<Partition>,
    /// Wakes every stream of every group of this topic: new messages, settled messages, due retries, shutdown.
    pub(crate) notify: Arc<Notify>,
    pub(crate) groups: Mutex<BTreeMap<String, Arc<Group>>>,
    pub(crate) counters: Counters,
    /// When the topic was created: no message in it is older, which spares the retention sweep reading young
    /// topics at all.
    pub(crate) created_at_ms: u64,
    /// Set once by `DELETE /v1/topics/{name}`, before its data is removed: appends that hold this topic from
    /// before the deletion check it under the head lock, and its streams end.
    pub(crate) deleted: AtomicBool,
}

impl Topic {
    pub(crate) fn new(
        name: String,
        id: u32,
        partitions: Vec<Partition>,
        created_at_ms: u64,
    ) -> Self {
        Self {
            name,
            id,
            partitions,
            notify: Arc::new(Notify::new()),
            groups: Mutex::new(BTreeMap::new()),
            counters: Counters::default(),
            created_at_ms,
            deleted: AtomicBool::new(false),
        }
    }

    pub(crate) fn is_deleted(&self) -> bool {
        self.deleted.load(Ordering::Acquire)
    }

    pub(crate) fn partition_count(&self) -> u32 {
        u32::try_from(self.partitions.len()).unwrap_or(u32::MAX)
    }

    /// DLQ topics are exempt from the backlog limit: dead letters must never be refused.
    pub(crate) fn is_dlq(&self) -> bool {
        self.name.starts_with("dlq.")
    }

    pub(crate) fn partition(&self, p: u32) -> Option<&Partition> {
        self.partitions.get(usize::try_from(p).ok()?)
    }

    pub(crate) fn group(&self, name: &str) -> Option<Arc<Group>> {
        self.groups.lock().get(name).cloned()
    }

    /// Whether appends should keep their messages for delivery: only while the topic has a consumer group.
    pub(crate) fn wants_recent(&self) -> bool {
        !self.groups.lock().is_empty()
    }

    /// Keeps `records`, just appended to partition `p` at consecutive offsets from `offset` (call with its head
    /// lock held), for delivery.
    pub(crate) fn keep_recent(
        &self,
        p: u32,
        offset: u64,
        records: impl IntoIterator<Item = Arc<MessageRecord>>,
    ) {
        if let Some(partition) = self.partition(p) {
            let limit = recent::TOPIC_BYTES / self.partitions.len().max(1);
            partition.recent.extend(offset, records, limit);
        }
    }
}
