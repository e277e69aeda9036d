//! Broker settings with their defaults.

use std::path::PathBuf;
use std::time::Duration;

use crate::clock::Clock;

/// Broker settings. `Config::new(dir)` gives the defaults.
#[derive(Debug, Clone)]
pub struct Config {
    /// Where the store lives.
    pub data_dir: PathBuf,
    /// Produce waits for fsync (group commit) before answering. Default true.
    pub durable: bool,
    /// Largest accepted value, in bytes. Default 1 MiB.
    pub max_value_bytes: usize,
    /// Lease used when a consumer names none. Default 2 s.
    pub default_lease: Duration,
    /// Longest lease a consumer may ask for. Default 1 h.
    pub max_lease: Duration,
    /// Messages in flight at once per (topic, group, partition). Default 64.
    pub max_in_flight: u32,
    /// Window in which an idempotency key suppresses duplicates. Default 10 min.
    pub idempotency_window: Duration,
    /// Most partitions a topic may have. Default 256.
    pub max_partitions: u32,
    /// Most topics at once; creating one more answers 429 (`topic_limit`). Each topic costs memory for as long
    /// as it exists, and every run makes one (`runs.events.<id>`). Dead-letter topics that the broker creates
    /// itself are never refused. Default 100,000.
    pub max_topics: usize,
    /// Most partitions across all topics at once; a creation that would pass it answers 429
    /// (`partition_limit`). Bounds the memory of many wide topics (20,000 × 256 partitions took 600 MiB).
    /// Default 1,000,000: room for `max_topics` one-partition run topics and a few thousand wide ones.
    pub max_total_partitions: u64,
    /// Messages older than this are deleted. Default 7 days.
    pub retention: Duration,
    /// Most stored messages per partition of an ordinary topic before produce answers 429. DLQ topics
    /// (`dlq.*`) are exempt. Default 10,000,000.
    pub max_partition_backlog: u64,
    /// Most offsets a group may have delivered past its committed low-water mark in one partition. It bounds the
    /// memory that out-of-order acks can pin while a lower message waits (e.g. in a long backoff). Default
    /// 100,000.
    pub max_ack_window: u64,
    /// Block cache of the store, in bytes. Default 8 MiB: reads are mostly of what was just written (still in
    /// a memtable); at 800 runs/s a 32 MiB cache cost 18 MiB more peak RSS and no CPU per run.
    pub cache_bytes: u64,
    /// A consumer group with no live stream, nothing in flight or waiting for redelivery and no activity for
    /// this long is forgotten (memory and store); the next consumer under its name starts from the earliest
    /// retained offset. Not shorter than `retention` by default, so that a forgotten group's acked messages are
    /// gone by then too. The clock restarts at each start. Default 7 days.
    pub group_idle_retention: Duration,
    /// How often the sweeps (retention, idempotency, deleted topics, idle groups) and the journal bound run.
    /// Default 1 s.
    pub sweep_interval: Duration,
    /// Most records one sweep pass deletes per kind, so that a sweep never stalls the broker. Default 10,000.
    pub sweep_batch: usize,
    /// On a clean close, write every memtable to tables and empty the journal, so that the next start has
    /// nothing to replay. Default true; off for a store that is deleted right after (the demo's).
    pub flush_on_close: bool,
    /// Where message timestamps, retention, idempotency windows and idle-group forgetting read the time.
    /// Default the system clock; tests give a [`ManualClock`](crate::ManualClock) and advance it.
    pub clock: Clock,
}

impl Config {
    /// The defaults, storing in `data_dir`.
    pub fn new(data_dir: impl Into<PathBuf>) -> Self {
        Self {
            data_dir: data_dir.into(),
            durable: true,
            max_value_bytes: 1024 * 1024,
            default_lease: Duration::from_secs(2),
            max_lease: Duration::from_secs(3600),
            max_in_flight: 64,
            idempotency_window: Duration::from_secs(600),
            max_partitions: 256,
            max_topics: 100_000,
            max_total_partitions: 1_000_000,
            retention: Duration::from_secs(7 * 24 * 3600),
            max_partition_backlog: 10_000_000,
            group_idle_retention: Duration::from_secs(7 * 24 * 3600),
            max_ack_window: 100_000,
            cache_bytes: 8 * 1024 * 1024,
            sweep_interval: Duration::from_secs(1),
            sweep_batch: 10_000,
            flush_on_close: true,
            clock: Clock::System,
        }
    }
}
