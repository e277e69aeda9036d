//! In-process load for the broker core, without HTTP: 32 producers, 4 consume streams that ack, 4 partitions,
//! 100-byte values, durable (group commit). Prints end-to-end throughput and produce latency percentiles.
//!
//! `cargo run --release -p dq-broker --example broker_bench -- [messages] [data-dir]`
//! (default 200,000 messages in a fresh temporary directory).

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
