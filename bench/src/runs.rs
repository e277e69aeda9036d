//! The runs scenario: runs per second end to end and create → succeeded latency, observed the way a client
//! observes a run — `POST /runs`, then the run's SSE timeline until `run.succeeded`.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use dq_proto::event::Event;
use dq_proto::fold::RunState;
use dq_proto::runs::RunStatus;
use futures::StreamExt;
use hdrhistogram::Histogram;
use serde_json::{Value, json};
use tokio::sync::Mutex;

use dq_nats::testing::Cluster;

use crate::report::{histogram, latency_line};
use crate::server::{Server, cpu_by_thread, cpu_by_thread_line};

/// Flags of the runs scenario.
#[derive(Debug, clap::Args)]
pub struct RunsArgs {
    /// Runs for the closed-loop throughput phase.
    #[arg(long, default_value_t = 10_000)]
    runs: u64,
    /// Concurrent clients in the throughput phase, each starting a run and following it to the end.
    #[arg(long, default_value_t = 64)]
    clients: usize,
    /// Offered rate of the latency phase, in runs per second.
    #[arg(long, default_value_t = 200)]
    rate: u64,
    /// Runs in the latency phase (it comes first, so that it does not measure the flushes and compactions
    /// that the throughput burst leaves behind).
    #[arg(long, default_value_t = 4_000)]
    latency_runs: u64,
    /// Extra flags for `dq up` (repeat), e.g. `--server-arg=--concurrency=64`.
    #[arg(long = "server-arg", allow_hyphen_values = true)]
    server_args: Vec<String>,
    /// Run `dq up --broker URL`, e.g. a NATS JetStream cluster (`nats://h1:4222,nats://h2:4222`), or `nats`
    /// for a 3-node cluster on loopback started here (`nats-server` from `DQ_NATS_SERVER` or PATH, each node
    /// with `sync_interval: always`).
    #[arg(long, value_name = "URL")]
    broker: Option<String>,
}

/// Runs the scenario and prints its figures.
pub async fn runs(dq: &Path, args: RunsArgs) -> anyhow::Result<()> {
    let cluster = match args.broker.as_deref() {
        Some("nats") => {
            Some(Cluster::start(3).context("no nats-server >= 2.10: set DQ_NATS_SERVER")?)
        }
        _ => None,
    };
    let broker = match (&cluster, &args.broker) {
        (Some(cluster), _) => Some(cluster.url()),
        (None, broker) => broker.clone(),
    };
    let extra: Vec<&str> = ["--step-delay", "0ms"]
        .into_iter()
        .chain(broker.iter().flat_map(|url| ["--broker", url.as_str()]))
        .chain(args.server_args.iter().map(String::as_str))
        .collect();
    let server = Server::start(dq, &extra).await?;
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(512)
        .build()?;

    let open_loop = open_loop(&client, &server.url, args.rate, args.latency_runs).await?;
    println!(
        "latency at {} runs/s offered ({} runs): create → succeeded {}",
        args.rate,
        args.latency_runs,
        latency_line(&open_loop)
    );

    let latencies = Arc::new(Mutex::new(histogram()));
    let next = Arc::new(AtomicU64::new(0));
    let cpu_before = server.cpu_time()?;
    let threads_before = cpu_by_thread(server.pid())?;
    let started = Instant::now();
    let mut clients = Vec::new();
    for _ in 0..args.clients {
        let (client, url, next, latencies) = (
            client.clone(),
            server.url.clone(),
            next.clone(),
            latencies.clone(),
        );
        let total = args.runs;
        clients.push(tokio::spawn(async move {
            let mut local = histogram();
            while next.fetch_add(1, Ordering::Relaxed) < total {
                let t = Instant::now();
                run_to_success(&client, &url).await?;
                local.record(t.elapsed().as_micros() as u64)?;
            }
            latencies.lock().await.add(&local)?;
            anyhow::Ok(())
        }));
    }
    for c in clients {
        c.await??;
    }
    let elapsed = started.elapsed();
    let server_cpu = server.cpu_time()?.saturating_sub(cpu_before);
    let threads = cpu_by_thread_line(&threads_before, &cpu_by_thread(server.pid())?, args.runs);
    println!(
        "throughput: {} runs, {} clients, step delay 0: {:.2} s, {:.0} runs/s",
        args.runs,
        args.clients,
        elapsed.as_secs_f64(),
        args.runs as f64 / elapsed.as_secs_f64()
    );
    println!(
        "  server CPU: {:.0} µs per run (by thread: {threads})",
        server_cpu.as_secs_f64() * 1e6 / args.runs as f64
    );
    println!(
        "  create → succeeded under that load: {}",
        latency_line(&*latencies.lock().await)
    );
    let (rss, peak) = server.memory_mib()?;
    println!("  server memory: rss {rss:.1} MiB, peak {peak:.1} MiB");
    Ok(())
}

/// Starts `count` runs at a fixed `rate`, each followed to success on its own task.
async fn open_loop(
    client: &reqwest::Client,
    url: &str,
    rate: u64,
    count: u64,
) -> anyhow::Result<Histogram<u64>> {
    let latencies = Arc::new(Mutex::new(histogram()));
    let mut ticker = tokio::time::interval(Duration::from_micros(1_000_000 / rate.max(1)));
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let mut tasks = Vec::new();
    for _ in 0..count {
        ticker.tick().await;
        let (client, url, latencies) = (client.clone(), url.to_owned(), latencies.clone());
        tasks.push(tokio::spawn(async move {
            let t = Instant::now();
            run_to_success(&client, &url).await?;
            latencies
                .lock()
                .await
                .record(t.elapsed().as_micros() as u64)?;
            anyhow::Ok(())
        }));
    }
    for t in tasks {
        t.await??;
    }
    let h = latencies.lock().await.clone();
    Ok(h)
}

/// Starts one run of the demo workflow; its id.
pub(crate) async fn create(client: &reqwest::Client, url: &str) -> anyhow::Result<String> {
    let created: Value = client
        .post(format!("{url}/runs"))
        .json(&json!({"workflow": "demo", "input": {}}))
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    Ok(created["run_id"]
        .as_str()
        .context("POST /runs answered without run_id")?
        .to_owned())
}

/// Starts one run and reads its SSE timeline until it ends (folded as the CLI does), which must be a success.
async fn run_to_success(client: &reqwest::Client, url: &str) -> anyhow::Result<()> {
    let run_id = create(client, url).await?;
    let response = client
        .get(format!("{url}/runs/{run_id}/events"))
        .send()
        .await?
        .error_for_status()?;
    let mut body = response.bytes_stream();
    let mut buffer: Vec<u8> = Vec::new();
    let mut state = RunState::new();
    while let Some(chunk) = body.next().await {
        buffer.extend_from_slice(&chunk?);
        while let Some(end) = buffer.iter().position(|&b| b == b'\n') {
            let line: Vec<u8> = buffer.drain(..=end).collect();
            let Some(data) = line.strip_prefix(b"data:") else {
                continue;
            };
            let event: Event = serde_json::from_slice(data.trim_ascii())?;
            state.apply(&event);
            if state.ended {
                match state.status {
                    RunStatus::Succeeded => return Ok(()),
                    _ => bail!("run {run_id} failed: {:?}", state.last_error),
                }
            }
        }
    }
    bail!("the timeline of run {run_id} ended before run.succeeded")
}
