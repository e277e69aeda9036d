//! `dq bench broker`: `/v1` messages end to end on a topic of its own (`bench.<random>`, deleted afterwards):
//! `--concurrency` closed-loop producers, one consume stream per partition acking what it receives, and
//! `--fail-ratio` of the messages nacked at their first delivery (acked when redelivered). With `--batch N`
//! (dq's batch forms, checked against the server's `/v1/version` first) a producer sends N messages per
//! request and a stream acks what one read brought, up to N per request. Latency is the produce request's.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use dq_proto::broker::{ConsumeItem, FEATURE_BATCH, Version};
use futures::StreamExt;
use serde_json::{Map, Value, json};
use tokio::sync::Semaphore;

use super::bench_load::{Latency, Report, Target, Work, fails, locked};
use crate::cli::BenchBrokerArgs;
use crate::commands::Ctx;
use crate::error::{CliError, Result};
use crate::settings::BenchSettings;

/// Messages when neither `--count` nor `--duration` is given.
pub const DEFAULT_COUNT: u64 = 100_000;
/// Longest wait for the last acks once every message is produced.
const DRAIN_WAIT: Duration = Duration::from_secs(60);
/// Settle requests each stream may have outstanding.
const SETTLES_IN_FLIGHT: usize = 64;
const GROUP: &str = "bench";

/// What every task shares.
struct Shared {
    http: reqwest::Client,
    target: String,
    topic: String,
    started: Instant,
    produced: AtomicU64,
    acked: AtomicU64,
    nacked: AtomicU64,
    /// Microseconds from the start to the latest ack answered.
    last_ack_us: AtomicU64,
    errors: AtomicU64,
    first_error: std::sync::Mutex<Option<String>>,
    latencies: std::sync::Mutex<Vec<u64>>,
}

impl Shared {
    fn error(&self, error: String) {
        self.errors.fetch_add(1, Ordering::Relaxed);
        locked(&self.first_error).get_or_insert(error);
    }

    fn at(&self, path: &str) -> String {
        format!("{}{path}", self.target)
    }

    /// POSTs `body`; an answer other than `expect` is an error naming `what`.
    async fn post(&self, path: &str, body: &Value, expect: u16, what: &str) -> bool {
        let answer = self.http.post(self.at(path)).json(body).send().await;
        match answer {
            Ok(r) if r.status().as_u16() == expect => true,
            Ok(r) => {
                let status = r.status();
                let text = r.text().await.unwrap_or_default();
                self.error(format!("{what}: {status} {text}"));
                false
            }
            Err(e) => {
                self.error(format!("{what}: {e}"));
                false
            }
        }
    }
}

/// Runs the scenario.
pub async fn run(
    target: &Target,
    settings: &BenchSettings,
    args: &BenchBrokerArgs,
    ctx: &Ctx,
) -> Result<Report> {
    let http = target.client()?;
    let batch = u64::from(args.batch);
    if batch > 1 {
        check_batch_support(&http, target).await?;
    }
    let topic = format!("bench.{}", uuid::Uuid::new_v4().simple());
    let created = http
        .post(target.at("/v1/topics"))
        .json(&json!({"name": topic, "partitions": args.partitions}))
        .send()
        .await
        .map_err(|e| unreachable(target, &e))?;
    if created.status().as_u16() != 201 {
        return Err(CliError::Rejected {
            status: created.status().as_u16(),
            message: format!(
                "creating topic {topic}: {}",
                created.text().await.unwrap_or_default()
            ),
        });
    }
    let shared = Arc::new(Shared {
        http,
        target: target.url.trim_end_matches('/').to_owned(),
        topic,
        started: Instant::now(),
        produced: AtomicU64::new(0),
        acked: AtomicU64::new(0),
        nacked: AtomicU64::new(0),
        last_ack_us: AtomicU64::new(0),
        errors: AtomicU64::new(0),
        first_error: std::sync::Mutex::new(None),
        latencies: std::sync::Mutex::new(Vec::new()),
    });
    let streams: Vec<_> = (0..args.partitions)
        .map(|i| tokio::spawn(consume(Arc::clone(&shared), i, batch, settings.fail_ratio)))
        .collect();
    let work = Arc::new(Work::new(settings.until));
    let bar = Arc::new(work.progress(ctx, "messages"));
    let value = "x".repeat(settings.size);
    let producers: Vec<_> = (0..settings.concurrency)
        .map(|_| {
            let (shared, work, bar, value) = (
                Arc::clone(&shared),
                Arc::clone(&work),
                Arc::clone(&bar),
                value.clone(),
            );
            tokio::spawn(async move {
                while let Some(claimed) = work.claim(batch) {
                    let n = claimed.end - claimed.start;
                    let started = Instant::now();
                    if produce(&shared, claimed, batch > 1, &value).await {
                        shared.produced.fetch_add(n, Ordering::Relaxed);
                        let micros =
                            u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX);
                        locked(&shared.latencies).push(micros);
                    }
                    if work.counts() {
                        (0..n).for_each(|_| bar.inc());
                    }
                }
            })
        })
        .collect();
    let seconds = async { work.tick_seconds(&bar).await };
    let (joined, ()) = tokio::join!(futures::future::join_all(producers), seconds);
    for joined in joined {
        joined.map_err(|e| CliError::Unexpected(format!("a bench producer panicked: {e}")))?;
    }
    let produced = shared.produced.load(Ordering::Relaxed);
    let deadline = Instant::now() + DRAIN_WAIT;
    while shared.acked.load(Ordering::Relaxed) < produced && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    for stream in streams {
        stream.abort();
    }
    let acked = shared.acked.load(Ordering::Relaxed);
    if acked < produced {
        shared.error(format!(
            "{} of {produced} messages were not acked within {DRAIN_WAIT:?}",
            produced - acked
        ));
    }
    let deleted = shared
        .http
        .delete(shared.at(&format!("/v1/topics/{}", shared.topic)))
        .send()
        .await;
    if let Err(e) = deleted {
        ctx.printer
            .warn(&format!("could not delete topic {}: {e}", shared.topic));
    }
    let elapsed = Duration::from_micros(shared.last_ack_us.load(Ordering::Relaxed));
    let mut details = Map::new();
    details.insert("batch".into(), Value::from(batch));
    details.insert("partitions".into(), Value::from(args.partitions));
    details.insert("produced".into(), Value::from(produced));
    details.insert(
        "nacked".into(),
        Value::from(shared.nacked.load(Ordering::Relaxed)),
    );
    Ok(Report {
        scenario: "broker",
        url: target.url.clone(),
        embedded: target.embedded,
        concurrency: settings.concurrency,
        completed: acked,
        elapsed_s: elapsed.as_secs_f64(),
        throughput_per_s: acked as f64 / elapsed.as_secs_f64().max(1e-9),
        latency_of: if batch > 1 {
            "a produce request (one batch)"
        } else {
            "a produce request"
        },
        latency: Latency::of(std::mem::take(&mut *locked(&shared.latencies))),
        errors: shared.errors.load(Ordering::Relaxed),
        first_error: locked(&shared.first_error).take(),
        details,
    })
}

fn unreachable(target: &Target, e: &reqwest::Error) -> CliError {
    CliError::Unreachable {
        url: target.url.clone(),
        reason: e.to_string(),
    }
}

/// `--batch` needs dq's batch forms: a server that does not announce them gets a clear error, not 400s.
async fn check_batch_support(http: &reqwest::Client, target: &Target) -> Result<()> {
    let answer = http
        .get(target.at("/v1/version"))
        .send()
        .await
        .map_err(|e| unreachable(target, &e))?;
    let version: Option<Version> = answer.json().await.ok();
    if version.is_some_and(|v| v.features.iter().any(|f| f == FEATURE_BATCH)) {
        return Ok(());
    }
    Err(CliError::MissingRoute {
        url: target.url.clone(),
        route: "the batch forms of POST /v1/produce and POST /v1/ack (--batch)".into(),
    })
}

/// Produces the messages numbered `claimed`, in one request per message or one batch.
async fn produce(shared: &Shared, claimed: std::ops::Range<u64>, batch: bool, value: &str) -> bool {
    if batch {
        let messages: Vec<Value> = claimed
            .map(|i| json!({"key": format!("k{i}"), "value": value}))
            .collect();
        let body = json!({"topic": shared.topic, "messages": messages});
        return shared
            .post("/v1/produce", &body, 200, "produce batch")
            .await;
    }
    let mut ok = true;
    for i in claimed {
        let body = json!({"topic": shared.topic, "key": format!("k{i}"), "value": value});
        ok &= shared.post("/v1/produce", &body, 200, "produce").await;
    }
    ok
}

/// One consume stream of partition-count many: acks (or, for the failing share, first nacks) what it reads.
async fn consume(shared: Arc<Shared>, index: u32, batch: u64, fail_ratio: f64) {
    let owner = format!("bench-{index}");
    let response = shared
        .http
        .get(shared.at("/v1/consume"))
        .query(&[
            ("topic", shared.topic.as_str()),
            ("group", GROUP),
            ("owner", owner.as_str()),
            ("lease_ms", "30000"),
        ])
        .send()
        .await;
    let response = match response {
        Ok(r) if r.status().is_success() => r,
        Ok(r) => return shared.error(format!("consume: {}", r.status())),
        Err(e) => return shared.error(format!("consume: {e}")),
    };
    let permits = Arc::new(Semaphore::new(SETTLES_IN_FLIGHT));
    let mut body = response.bytes_stream();
    let mut buffer: Vec<u8> = Vec::new();
    let mut acks: Vec<Value> = Vec::new();
    while let Some(chunk) = body.next().await {
        let Ok(chunk) = chunk else {
            return shared.error("consume stream broke".into());
        };
        buffer.extend_from_slice(&chunk);
        let mut start = 0;
        while let Some(len) = buffer[start..].iter().position(|&b| b == b'\n') {
            let line = &buffer[start..start + len];
            start += len + 1;
            if line.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            let Ok(item) = serde_json::from_slice::<ConsumeItem>(line) else {
                shared.error("an unreadable consume line".into());
                continue;
            };
            let position = json!({"partition": item.partition, "offset": item.offset});
            if item.attempts == 1 && fails(item.offset, fail_ratio) {
                let mut nack =
                    json!({"topic": shared.topic, "group": GROUP, "owner": owner, "delay_ms": 0});
                nack["partition"] = position["partition"].clone();
                nack["offset"] = position["offset"].clone();
                settle(&shared, &permits, "/v1/nack", nack, 0).await;
                continue;
            }
            acks.push(position);
            if acks.len() as u64 >= batch {
                send_acks(&shared, &permits, &owner, &mut acks, batch > 1).await;
            }
        }
        buffer.drain(..start);
        if !acks.is_empty() {
            send_acks(&shared, &permits, &owner, &mut acks, batch > 1).await;
        }
    }
}

/// Acks `acks` (emptying it): one batch request, or one request per message.
async fn send_acks(
    shared: &Arc<Shared>,
    permits: &Arc<Semaphore>,
    owner: &str,
    acks: &mut Vec<Value>,
    batch: bool,
) {
    let base = json!({"topic": shared.topic, "group": GROUP, "owner": owner});
    if batch {
        let mut body = base;
        let count = acks.len() as u64;
        body["offsets"] = Value::Array(std::mem::take(acks));
        settle(shared, permits, "/v1/ack", body, count).await;
        return;
    }
    for position in acks.drain(..) {
        let mut body = base.clone();
        body["partition"] = position["partition"].clone();
        body["offset"] = position["offset"].clone();
        settle(shared, permits, "/v1/ack", body, 1).await;
    }
}

/// Sends one ack or nack on a task of its own (at most [`SETTLES_IN_FLIGHT`] at once per stream); `acks` is how
/// many messages it acks (0 for a nack).
async fn settle(
    shared: &Arc<Shared>,
    permits: &Arc<Semaphore>,
    path: &'static str,
    body: Value,
    acks: u64,
) {
    let Ok(permit) = Arc::clone(permits).acquire_owned().await else {
        return;
    };
    let shared = Arc::clone(shared);
    tokio::spawn(async move {
        let what = if acks == 0 { "nack" } else { "ack" };
        if shared.post(path, &body, 204, what).await {
            if acks == 0 {
                shared.nacked.fetch_add(1, Ordering::Relaxed);
            } else {
                shared.acked.fetch_add(acks, Ordering::Relaxed);
                let micros =
                    u64::try_from(shared.started.elapsed().as_micros()).unwrap_or(u64::MAX);
                shared.last_ack_us.fetch_max(micros, Ordering::Relaxed);
            }
        }
        drop(permit);
    });
}
