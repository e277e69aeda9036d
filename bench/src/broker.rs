//! Broker scenarios: `/v1` produce → consume → ack throughput with produce latency under load (one message per
//! request, or dq's batch forms with `--batch N`), single-producer latency, and memory with a large unconsumed
//! backlog.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use dq_proto::broker::ConsumeItem;
use futures::StreamExt;
use hdrhistogram::Histogram;
use serde_json::json;
use tokio::sync::{Notify, Semaphore};

use crate::http1::Conn;
use crate::report::{histogram, latency_line, micros_each};
use crate::server::{Server, cpu_time, memory_mib};

/// Flags of the throughput scenario.
#[derive(Debug, clap::Args)]
pub struct ThroughputArgs {
    /// Messages to push through end to end.
    #[arg(long, default_value_t = 200_000)]
    messages: u64,
    /// Concurrent producers.
    #[arg(long, default_value_t = 32)]
    producers: usize,
    /// Consume streams (one consumer group).
    #[arg(long, default_value_t = 4)]
    streams: usize,
    /// Partitions of the topic.
    #[arg(long, default_value_t = 4)]
    partitions: u32,
    /// Bytes per value.
    #[arg(long, default_value_t = 100)]
    value_bytes: usize,
    /// Acks each stream may have outstanding at once (ack requests, with `--batch`).
    #[arg(long, default_value_t = 64)]
    acks_in_flight: usize,
    /// Messages per produce request and most offsets per ack request, through dq's batch forms (a dq
    /// addition); 1 sends DriftQ v1's one message per request.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..=1000))]
    batch: u64,
    /// Sequential produces for the single-producer latency phase.
    #[arg(long, default_value_t = 2_000)]
    latency_samples: u64,
    /// Extra flags for `dq up` (repeat), e.g. `--server-arg=--max-in-flight=512`.
    #[arg(long = "server-arg", allow_hyphen_values = true)]
    pub server_args: Vec<String>,
}

/// Flags of the backlog scenario.
#[derive(Debug, clap::Args)]
pub struct BacklogArgs {
    /// Messages to store without consuming them.
    #[arg(long, default_value_t = 1_000_000)]
    messages: u64,
    /// Concurrent producers.
    #[arg(long, default_value_t = 32)]
    producers: usize,
    /// Partitions of the topic.
    #[arg(long, default_value_t = 4)]
    partitions: u32,
    /// Bytes per value.
    #[arg(long, default_value_t = 100)]
    value_bytes: usize,
    /// Extra flags for `dq up` (repeat).
    #[arg(long = "server-arg", allow_hyphen_values = true)]
    server_args: Vec<String>,
}

const TOPIC: &str = "bench";
const GROUP: &str = "bench";

/// What the throughput scenario drives: a server on `addr` (base URL `url`) running as process `pid`, whose CPU
/// time and memory it reads.
pub struct Target {
    pub addr: SocketAddr,
    pub url: String,
    pub pid: u32,
}

/// Runs the throughput scenario against `dq up` and prints its figures.
pub async fn throughput(dq: &Path, args: ThroughputArgs) -> anyhow::Result<()> {
    let server = start(dq, &args.server_args).await?;
    let target = Target {
        addr: server.addr,
        url: server.url.clone(),
        pid: server.pid(),
    };
    drive(&target, &args).await
}

/// The throughput scenario against `target`: creates the benchmark topic, drives the load and prints its
/// figures. `dq-bench floor` drives its `/v1` floor server with this same code.
pub async fn drive(target: &Target, args: &ThroughputArgs) -> anyhow::Result<()> {
    let client = &consume_client()?;
    create_topic(client, &target.url, TOPIC, args.partitions).await?;
    let addr = target.addr;

    let acked = Arc::new(AtomicU64::new(0));
    let redelivered = Arc::new(AtomicU64::new(0));
    let all_acked = Arc::new(Notify::new());
    let cpu_before = cpu_time(target.pid)?;
    let started = Instant::now();
    let mut consumers = Vec::new();
    for i in 0..args.streams {
        let ctx = AckContext {
            addr,
            owner: format!("c{i}"),
            batch: args.batch > 1,
            permits: Arc::new(Semaphore::new(args.acks_in_flight)),
            idle: Arc::default(),
            acked: acked.clone(),
            total: args.messages,
            all_acked: all_acked.clone(),
        };
        consumers.push(tokio::spawn(consume_and_ack(
            client.clone(),
            target.url.clone(),
            ctx,
            args.batch,
            redelivered.clone(),
        )));
    }

    let value = "x".repeat(args.value_bytes);
    let latencies = produce_all(addr, args.producers, args.messages, args.batch, &value).await?;
    let produced_in = started.elapsed();
    let wait = all_acked.notified();
    if acked.load(Ordering::SeqCst) < args.messages {
        tokio::time::timeout(Duration::from_secs(120), wait)
            .await
            .context("not every message was acked within 120 s of the last produce")?;
    }
    let elapsed = started.elapsed();
    let server_cpu = cpu_time(target.pid)?.saturating_sub(cpu_before);
    for c in consumers {
        c.abort();
    }
    let rate = args.messages as f64 / elapsed.as_secs_f64();
    let (rss, peak) = memory_mib(target.pid)?;
    println!(
        "end to end: {} messages of {} B, {} producers, {} streams, {} partitions, {} per request",
        args.messages, args.value_bytes, args.producers, args.streams, args.partitions, args.batch
    );
    println!(
        "  produced in {:.2} s, all acked in {:.2} s: {:.0} messages/s end to end",
        produced_in.as_secs_f64(),
        elapsed.as_secs_f64(),
        rate
    );
    println!(
        "  server CPU: {:.1} µs per message ({:.2} cores)",
        micros_each(server_cpu, args.messages),
        server_cpu.as_secs_f64() / elapsed.as_secs_f64()
    );
    println!("  redeliveries: {}", redelivered.load(Ordering::Relaxed));
    let what = if args.batch > 1 { "batch" } else { "produce" };
    println!("  {what} latency under load: {}", latency_line(&latencies));
    println!("  server memory: rss {rss:.1} MiB, peak {peak:.1} MiB");

    create_topic(client, &target.url, "latency", 1).await?;
    let mut conn = Conn::connect(addr).await?;
    let mut single = histogram();
    for i in 0..args.latency_samples {
        let t = Instant::now();
        produce(&mut conn, "latency", &format!("k{i}"), &value).await?;
        single.record(t.elapsed().as_micros() as u64)?;
    }
    println!("single producer, idle server: {}", latency_line(&single));
    Ok(())
}

/// Runs the backlog scenario and prints its figures.
pub async fn backlog(dq: &Path, args: BacklogArgs) -> anyhow::Result<()> {
    let server = start(dq, &args.server_args).await?;
    create_topic(&consume_client()?, &server.url, TOPIC, args.partitions).await?;
    let addr = server.addr;
    let value = "x".repeat(args.value_bytes);
    let cpu_before = server.cpu_time()?;
    let started = Instant::now();
    produce_all(addr, args.producers, args.messages, 1, &value).await?;
    let elapsed = started.elapsed();
    let server_cpu = server.cpu_time()?.saturating_sub(cpu_before);
    let (rss, peak) = server.memory_mib()?;
    println!(
        "backlog: {} messages of {} B stored in {:.1} s ({:.0}/s), none consumed",
        args.messages,
        args.value_bytes,
        elapsed.as_secs_f64(),
        args.messages as f64 / elapsed.as_secs_f64()
    );
    println!(
        "  server CPU: {:.0} µs per produce",
        micros_each(server_cpu, args.messages)
    );
    println!("  server memory: rss {rss:.1} MiB, peak {peak:.1} MiB");
    Ok(())
}

/// Starts `dq up` without workers plus `server_args`.
async fn start(dq: &Path, server_args: &[String]) -> anyhow::Result<Server> {
    let extra: Vec<&str> = ["--workers", "0"]
        .into_iter()
        .chain(server_args.iter().map(String::as_str))
        .collect();
    Server::start(dq, &extra).await
}

/// The general-purpose client of the scenarios' few requests outside the hot loops (topics, consume streams).
fn consume_client() -> anyhow::Result<reqwest::Client> {
    Ok(reqwest::Client::builder()
        .pool_max_idle_per_host(256)
        .build()?)
}

/// Produces `total` messages to the benchmark topic from `producers` concurrent closed-loop producers, `batch`
/// messages per request; returns the latency of every request.
async fn produce_all(
    addr: SocketAddr,
    producers: usize,
    total: u64,
    batch: u64,
    value: &str,
) -> anyhow::Result<Histogram<u64>> {
    let next = Arc::new(AtomicU64::new(0));
    let mut tasks = Vec::new();
    for _ in 0..producers {
        let (next, value) = (next.clone(), value.to_owned());
        tasks.push(tokio::spawn(async move {
            let mut conn = Conn::connect(addr).await?;
            let mut latencies = histogram();
            loop {
                let i = next.fetch_add(batch, Ordering::Relaxed);
                if i >= total {
                    break;
                }
                let t = Instant::now();
                if batch == 1 {
                    produce(&mut conn, TOPIC, &format!("k{i}"), &value).await?;
                } else {
                    produce_batch(&mut conn, i..(i + batch).min(total), &value).await?;
                }
                latencies.record(t.elapsed().as_micros() as u64)?;
            }
            anyhow::Ok(latencies)
        }));
    }
    let mut all = histogram();
    for task in tasks {
        all.add(&task.await??)?;
    }
    Ok(all)
}

/// Creates topic `name` with `partitions` on the server at `url`.
async fn create_topic(
    client: &reqwest::Client,
    url: &str,
    name: &str,
    partitions: u32,
) -> anyhow::Result<()> {
    let r = client
        .post(format!("{url}/v1/topics"))
        .json(&json!({"name": name, "partitions": partitions}))
        .send()
        .await?;
    if r.status().as_u16() != 201 {
        bail!("creating topic {name}: {} {}", r.status(), r.text().await?);
    }
    Ok(())
}

/// The body of `POST /v1/produce`, serialised straight from borrowed fields.
#[derive(serde::Serialize)]
struct ProduceBody<'a> {
    topic: &'a str,
    key: &'a str,
    value: &'a str,
}

/// The body of `POST /v1/ack`.
#[derive(serde::Serialize)]
struct AckBody<'a> {
    topic: &'a str,
    group: &'a str,
    owner: &'a str,
    partition: u32,
    offset: u64,
}

async fn produce(conn: &mut Conn, topic: &str, key: &str, value: &str) -> anyhow::Result<()> {
    let body = serde_json::to_vec(&ProduceBody { topic, key, value })?;
    let answer = conn.post_json("/v1/produce", &body).await?;
    if answer.status != 200 {
        bail!(
            "produce: {} {}",
            answer.status,
            String::from_utf8_lossy(&answer.body)
        );
    }
    Ok(())
}

/// The body of a batch `POST /v1/produce` (a dq addition).
#[derive(serde::Serialize)]
struct ProduceBatchBody<'a> {
    topic: &'a str,
    messages: Vec<BatchMessage<'a>>,
}

#[derive(serde::Serialize)]
struct BatchMessage<'a> {
    key: String,
    value: &'a str,
}

/// The body of a batch `POST /v1/ack` (a dq addition).
#[derive(serde::Serialize)]
struct AckBatchBody<'a> {
    topic: &'a str,
    group: &'a str,
    owner: &'a str,
    offsets: Vec<AckPosition>,
}

#[derive(serde::Serialize)]
struct AckPosition {
    partition: u32,
    offset: u64,
}

async fn produce_batch(
    conn: &mut Conn,
    indices: std::ops::Range<u64>,
    value: &str,
) -> anyhow::Result<()> {
    let messages = indices
        .map(|i| BatchMessage {
            key: format!("k{i}"),
            value,
        })
        .collect();
    let body = serde_json::to_vec(&ProduceBatchBody {
        topic: TOPIC,
        messages,
    })?;
    let answer = conn.post_json("/v1/produce", &body).await?;
    if answer.status != 200 {
        bail!(
            "produce batch: {} {}",
            answer.status,
            String::from_utf8_lossy(&answer.body)
        );
    }
    Ok(())
}

/// One consume stream, as `ctx.owner`: acks every message it receives with up to the permits of `ctx` in ack
/// requests outstanding, each for at most `batch` messages (what arrived in one read of the stream, with
/// `batch` > 1).
async fn consume_and_ack(
    client: reqwest::Client,
    url: String,
    ctx: AckContext,
    batch: u64,
    redelivered: Arc<AtomicU64>,
) -> anyhow::Result<()> {
    let response = client
        .get(format!("{url}/v1/consume"))
        .query(&[
            ("topic", TOPIC),
            ("group", GROUP),
            ("owner", ctx.owner.as_str()),
            ("lease_ms", "30000"),
        ])
        .send()
        .await?;
    if !response.status().is_success() {
        bail!("consume: {}", response.status());
    }
    let mut pending = Vec::new();
    let mut body = response.bytes_stream();
    let mut buffer: Vec<u8> = Vec::new();
    while let Some(chunk) = body.next().await {
        buffer.extend_from_slice(&chunk?);
        // Lines are parsed in place and the buffer shifted once per read, not once per line.
        let mut start = 0;
        while let Some(len) = buffer[start..].iter().position(|&b| b == b'\n') {
            let line = &buffer[start..start + len];
            start += len + 1;
            if line.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            let item: ConsumeItem = serde_json::from_slice(line)?;
            if item.attempts > 1 {
                redelivered.fetch_add(1, Ordering::Relaxed);
            }
            pending.push(AckPosition {
                partition: item.partition,
                offset: item.offset,
            });
            if pending.len() as u64 >= batch {
                send_acks(&mut pending, &ctx).await?;
            }
        }
        buffer.drain(..start);
        if !pending.is_empty() {
            send_acks(&mut pending, &ctx).await?;
        }
    }
    Ok(())
}

/// What the ack requests of one consume stream share.
struct AckContext {
    addr: SocketAddr,
    owner: String,
    /// Use the batch form (else one request per message).
    batch: bool,
    permits: Arc<Semaphore>,
    /// Idle ack connections: an ack takes one (or connects) and puts it back when answered.
    idle: Arc<Mutex<Vec<Conn>>>,
    acked: Arc<AtomicU64>,
    total: u64,
    all_acked: Arc<Notify>,
}

/// Sends the acks of `pending` (emptying it) on a connection of its own, without waiting for the answer.
async fn send_acks(pending: &mut Vec<AckPosition>, ctx: &AckContext) -> anyhow::Result<()> {
    let permit = ctx.permits.clone().acquire_owned().await?;
    let count = pending.len() as u64;
    let body = if ctx.batch {
        serde_json::to_vec(&AckBatchBody {
            topic: TOPIC,
            group: GROUP,
            owner: &ctx.owner,
            offsets: std::mem::take(pending),
        })?
    } else {
        let Some(one) = pending.pop() else {
            return Ok(());
        };
        serde_json::to_vec(&AckBody {
            topic: TOPIC,
            group: GROUP,
            owner: &ctx.owner,
            partition: one.partition,
            offset: one.offset,
        })?
    };
    let (idle, acked, all_acked) = (ctx.idle.clone(), ctx.acked.clone(), ctx.all_acked.clone());
    let (addr, total) = (ctx.addr, ctx.total);
    tokio::spawn(async move {
        let reused = idle.lock().expect("ack pool lock poisoned").pop();
        let conn = match reused {
            Some(conn) => Ok(conn),
            None => Conn::connect(addr).await,
        };
        let answered = match conn {
            Ok(mut conn) => {
                let answer = conn.post_json("/v1/ack", &body).await;
                if answer.is_ok() {
                    idle.lock().expect("ack pool lock poisoned").push(conn);
                }
                answer.ok()
            }
            Err(_) => None,
        };
        drop(permit);
        if answered.is_some_and(|a| a.status == 204) {
            let before = acked.fetch_add(count, Ordering::SeqCst);
            if before < total && before + count >= total {
                all_acked.notify_one();
            }
        }
    });
    Ok(())
}
