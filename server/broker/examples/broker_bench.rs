//! In-process load for the broker core, without HTTP: 32 producers, 4 consume streams that ack, 4 partitions,
//! 100-byte values, durable (group commit). Prints end-to-end throughput and produce latency percentiles.
//!
//! `cargo run --release -p dq-broker --example broker_bench -- [messages] [data-dir]`
//! (default 200,000 messages in a fresh temporary directory).
//!
//! `... -- 1000000 [data-dir] backlog` instead fills a never-consumed backlog (not waiting for fsync, to be
//! quick), reopens the store and prints the process's resident memory with that backlog.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use dq_broker::{Broker, Config, Produce, Settle};

const PRODUCERS: u64 = 32;
const STREAMS: usize = 4;
const PARTITIONS: u32 = 4;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let total: u64 = args
        .next()
        .map(|a| a.parse())
        .transpose()?
        .unwrap_or(200_000);
    let temp = tempfile::TempDir::new()?;
    let dir = args
        .next()
        .map_or_else(|| temp.path().to_path_buf(), Into::into);
    if args.next().as_deref() == Some("backlog") {
        return backlog(total, &dir).await;
    }
    let broker = Broker::open(Config::new(&dir))?;
    broker.create_topic("bench", Some(PARTITIONS)).await?;
    let value = "x".repeat(100);

    let acked = Arc::new(AtomicU64::new(0));
    let mut consumers = Vec::new();
    for s in 0..STREAMS {
        let broker = broker.clone();
        let acked = Arc::clone(&acked);
        consumers.push(tokio::spawn(async move {
            let owner = format!("c{s}");
            let mut sub = broker.subscribe("bench", "g", &owner, Some(Duration::from_secs(30)))?;
            while acked.load(Ordering::Relaxed) < total {
                let Ok(Some(item)) =
                    tokio::time::timeout(Duration::from_millis(200), sub.next()).await
                else {
                    continue;
                };
                let settle = Settle {
                    topic: "bench".into(),
                    group: "g".into(),
                    owner: owner.clone(),
                    partition: item.partition,
                    offset: item.offset,
                };
                // Acks are not awaited one by one: like an HTTP consumer, each is its own request.
                let broker = broker.clone();
                let acked = Arc::clone(&acked);
                tokio::spawn(async move {
                    if broker.ack(settle).await.is_ok() {
                        acked.fetch_add(1, Ordering::Relaxed);
                    }
                });
            }
            Ok::<_, dq_broker::Error>(())
        }));
    }

    let start = Instant::now();
    let mut producers = Vec::new();
    for w in 0..PRODUCERS {
        let broker = broker.clone();
        let value = value.clone();
        producers.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            for i in (w..total).step_by(usize::try_from(PRODUCERS).unwrap_or(1)) {
                let t = Instant::now();
                broker
                    .produce(Produce {
                        topic: "bench".into(),
                        key: Some(i.to_string()),
                        value: value.clone(),
                        envelope: None,
                    })
                    .await?;
                latencies.push(t.elapsed());
            }
            Ok::<_, dq_broker::Error>(latencies)
        }));
    }
    let mut latencies = Vec::new();
    for p in producers {
        latencies.extend(p.await??);
    }
    let produced_in = start.elapsed();
    for c in consumers {
        c.await??;
    }
    let e2e = start.elapsed();
    latencies.sort_unstable();
    let pct = |q: f64| latencies[((latencies.len() as f64 - 1.0) * q) as usize];
    println!("messages            {total}");
    println!(
        "produce throughput  {:.0} msg/s",
        total as f64 / produced_in.as_secs_f64()
    );
    println!(
        "end to end (acked)  {:.0} msg/s",
        total as f64 / e2e.as_secs_f64()
    );
    println!(
        "produce p50 {:?}  p99 {:?}  max {:?}",
        pct(0.5),
        pct(0.99),
        pct(1.0)
    );
    broker.shutdown();
    Ok(())
}

/// Fills a backlog of `total` messages, reopens the store and reports resident memory.
async fn backlog(total: u64, dir: &std::path::Path) -> Result<(), Box<dyn std::error::Error>> {
    let broker = Broker::open(Config {
        durable: false,
        ..Config::new(dir)
    })?;
    broker.create_topic("bench", Some(PARTITIONS)).await?;
    let value = "x".repeat(100);
    for i in 0..total {
        broker
            .produce(Produce {
                topic: "bench".into(),
                key: Some(i.to_string()),
                value: value.clone(),
                envelope: None,
            })
            .await?;
    }
    println!("filled {total}; {}", rss());
    broker.shutdown();
    drop(broker);
    let broker = Broker::open(Config::new(dir))?;
    let _sub = broker.subscribe("bench", "g", "c", None)?;
    let lag: u64 = broker.metrics().lag.iter().map(|(_, _, l)| l).sum();
    println!("reopened with a backlog of {lag}; {}", rss());
    broker.shutdown();
    Ok(())
}

fn rss() -> String {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .filter(|l| l.starts_with("VmRSS") || l.starts_with("VmHWM"))
        .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
        .collect::<Vec<_>>()
        .join(", ")
}
