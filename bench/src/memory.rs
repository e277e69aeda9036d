//! The memory scenario: offers runs at a fixed rate (default 10,000 runs/s) for a while (default 60 s) to a
//! real `dq up`, samples the server's resident memory throughout, waits for the backlog to drain, and prints
//! the peak RSS, the runs accepted, finished and refused, and the server's CPU per finished run.
//!
//! The offer is open loop: a request is sent on every tick whether or not earlier ones were answered, up to
//! `--in-flight` outstanding requests; a tick with no room is counted as "not sent" (the client's own limit,
//! not the server refusing). Refusals are counted by kind: a 429 is the server's limit of unfinished runs
//! (`--max-unfinished-runs`); a failed connection (refused, reset or timed out) is the connection cap or the
//! kernel's accept backlog; any other non-2xx answer is counted apart.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde_json::Value;
use tokio::sync::{Mutex, Semaphore};

use crate::server::{Server, cpu_by_thread, cpu_by_thread_line};

/// Flags of the memory scenario.
#[derive(Debug, clap::Args)]
pub struct MemoryArgs {
    /// Offered rate, in runs per second.
    #[arg(long, default_value_t = 10_000)]
    rate: u64,
    /// How long to offer runs, in seconds.
    #[arg(long, default_value_t = 60)]
    duration: u64,
    /// Most `POST /runs` requests outstanding at once.
    #[arg(long, default_value_t = 1024)]
    in_flight: usize,
    /// How long to wait, after the offer, for the accepted runs to finish, in seconds.
    #[arg(long, default_value_t = 120)]
    drain: u64,
    /// How often to sample the server's RSS, in milliseconds.
    #[arg(long, default_value_t = 100)]
    sample_ms: u64,
    /// Extra flags for `dq up` (repeat), e.g. `--server-arg=--archive-after=5s`.
    #[arg(long = "server-arg", allow_hyphen_values = true)]
    server_args: Vec<String>,
}

/// What the offer counted.
#[derive(Default)]
struct Counts {
    accepted: AtomicU64,
    /// Answered 429: past the server's limit of unfinished runs.
    too_many: AtomicU64,
    /// Answered with another non-2xx status: how many of each, and the first answer's body.
    other_status: std::sync::Mutex<std::collections::BTreeMap<u16, (u64, String)>>,
    /// No answer: the connection failed (the connection cap, the accept backlog, a reset).
    no_answer: AtomicU64,
    not_sent: AtomicU64,
}

impl Counts {
    /// Counts a `POST /runs` that was not accepted by what the server said, if anything.
    fn refused(&self, refusal: Refusal) {
        match refusal {
            Refusal::Status(reqwest::StatusCode::TOO_MANY_REQUESTS, _) => {
                self.too_many.fetch_add(1, Ordering::Relaxed);
            }
            Refusal::Status(other, body) => {
                let mut seen = self
                    .other_status
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                seen.entry(other.as_u16()).or_insert((0, body)).0 += 1;
            }
            Refusal::NoAnswer => {
                self.no_answer.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
}

/// Why a `POST /runs` was not accepted.
enum Refusal {
    /// A non-2xx answer, with its body.
    Status(reqwest::StatusCode, String),
    /// No answer: the connection failed or the answer was cut short.
    NoAnswer,
}

/// Starts one run; its id, or why it was refused.
async fn post_run(client: &reqwest::Client, url: &str) -> Result<String, Refusal> {
    let response = client
        .post(format!("{url}/runs"))
        .json(&serde_json::json!({"workflow": "demo", "input": {}}))
        .send()
        .await
        .map_err(|_| Refusal::NoAnswer)?;
    let status = response.status();
    if !status.is_success() {
        return Err(Refusal::Status(
            status,
            response.text().await.unwrap_or_default(),
        ));
    }
    let created: Value = response.json().await.map_err(|_| Refusal::NoAnswer)?;
    created["run_id"]
        .as_str()
        .map(str::to_owned)
        .ok_or_else(|| Refusal::Status(status, created.to_string()))
}

/// Runs the scenario and prints its figures.
pub async fn memory(dq: &Path, args: MemoryArgs) -> anyhow::Result<()> {
    let extra: Vec<&str> = ["--step-delay", "0ms"]
        .into_iter()
        .chain(args.server_args.iter().map(String::as_str))
        .collect();
    let server = Arc::new(Server::start(dq, &extra).await?);
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(args.in_flight)
        .build()?;
    let (_, start_peak) = server.memory_mib()?;
    let sampler = Sampler::start(&server, Duration::from_millis(args.sample_ms.max(1)));
    let cpu_before = server.cpu_time()?;
    let threads_before = cpu_by_thread(server.pid())?;
    let started = Instant::now();

    let counts = Arc::new(Counts::default());
    let last_run: Arc<Mutex<Option<String>>> = Arc::default();
    offer(&client, &server.url, &args, &counts, &last_run).await;
    let offered_for = started.elapsed();
    let offer_cpu = server.cpu_time()?.saturating_sub(cpu_before);
    let accepted = counts.accepted.load(Ordering::Relaxed);
    let other: Vec<String> = counts
        .other_status
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .iter()
        .map(|(status, (n, first))| format!("{n} × {status} (the first: {first})"))
        .collect();
    println!(
        "offered {} runs/s for {:.1} s: {accepted} accepted ({:.0}/s), {} refused with 429, other non-2xx: {}, {} \
         without an answer (connection failed), {} not sent (client at {} in flight)",
        args.rate,
        offered_for.as_secs_f64(),
        accepted as f64 / offered_for.as_secs_f64(),
        counts.too_many.load(Ordering::Relaxed),
        if other.is_empty() {
            "none".to_owned()
        } else {
            other.join(", ")
        },
        counts.no_answer.load(Ordering::Relaxed),
        counts.not_sent.load(Ordering::Relaxed),
        args.in_flight,
    );
    println!(
        "  server CPU while offered: {:.2} cores",
        offer_cpu.as_secs_f64() / offered_for.as_secs_f64()
    );

    // The newest accepted run ends about last: the workers take commands in order.
    let newest = last_run.lock().await.clone();
    let drained = match newest {
        Some(run_id) => {
            wait_ended(
                &client,
                &server.url,
                &run_id,
                Duration::from_secs(args.drain),
            )
            .await?
        }
        None => true,
    };
    let total_time = started.elapsed();
    let server_cpu = server.cpu_time()?.saturating_sub(cpu_before);
    let threads_after = cpu_by_thread(server.pid())?;
    let peak = sampler.stop().await;
    let (rss, hwm) = server.memory_mib()?;
    // The newest run ending first leaves a few older ones still running: every listed run must end too.
    let deadline = Instant::now() + Duration::from_secs(args.drain);
    let (mut finished, mut listed) = count_finished(&client, &server.url).await?;
    while finished < listed && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(500)).await;
        (finished, listed) = count_finished(&client, &server.url).await?;
    }
    println!(
        "  drained: {} after {:.1} s; finished {finished} of {listed} listed runs",
        if drained { "yes" } else { "NO (timed out)" },
        total_time.as_secs_f64()
    );
    if finished > 0 {
        println!(
            "  server CPU: {:.0} µs per finished run ({:.2} s in all, {:.0} finished runs/s over offer + drain)",
            server_cpu.as_secs_f64() * 1e6 / finished as f64,
            server_cpu.as_secs_f64(),
            finished as f64 / total_time.as_secs_f64()
        );
        println!(
            "    by thread, µs per finished run: {}",
            cpu_by_thread_line(&threads_before, &threads_after, finished)
        );
    }
    println!(
        "  server memory: peak RSS sampled {peak:.1} MiB (kernel high-water mark {hwm:.1} MiB, {start_peak:.1} MiB at start), {rss:.1} MiB at the end"
    );
    Ok(())
}

/// Sends `POST /runs` at `args.rate` for `args.duration`, at most `args.in_flight` at once.
async fn offer(
    client: &reqwest::Client,
    url: &str,
    args: &MemoryArgs,
    counts: &Arc<Counts>,
    last_run: &Arc<Mutex<Option<String>>>,
) {
    let permits = Arc::new(Semaphore::new(args.in_flight.max(1)));
    // One tick per millisecond, each sending its share: a timer cannot tick every 100 µs reliably.
    let per_tick = args.rate as f64 / 1000.0;
    let mut owed = 0.0;
    let mut ticker = tokio::time::interval(Duration::from_millis(1));
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let end = Instant::now() + Duration::from_secs(args.duration);
    let mut tasks = tokio::task::JoinSet::new();
    while Instant::now() < end {
        ticker.tick().await;
        owed += per_tick;
        while owed >= 1.0 {
            owed -= 1.0;
            let Ok(permit) = Arc::clone(&permits).try_acquire_owned() else {
                counts.not_sent.fetch_add(1, Ordering::Relaxed);
                continue;
            };
            let (client, url, counts, last_run) = (
                client.clone(),
                url.to_owned(),
                Arc::clone(counts),
                Arc::clone(last_run),
            );
            tasks.spawn(async move {
                match post_run(&client, &url).await {
                    Ok(run_id) => {
                        counts.accepted.fetch_add(1, Ordering::Relaxed);
                        *last_run.lock().await = Some(run_id);
                    }
                    Err(refusal) => counts.refused(refusal),
                }
                drop(permit);
            });
        }
        while tasks.try_join_next().is_some() {}
    }
    while tasks.join_next().await.is_some() {}
}

/// Polls `GET /runs/{id}` until the run ended; false when `timeout` passed first.
async fn wait_ended(
    client: &reqwest::Client,
    url: &str,
    run_id: &str,
    timeout: Duration,
) -> anyhow::Result<bool> {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        let run: Value = client
            .get(format!("{url}/runs/{run_id}"))
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?;
        if matches!(run["status"].as_str(), Some("succeeded" | "dead_lettered")) {
            return Ok(true);
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    Ok(false)
}

/// (runs that ended, runs listed), paging through `GET /runs` (which folds each listed run's status).
async fn count_finished(client: &reqwest::Client, url: &str) -> anyhow::Result<(u64, u64)> {
    let (mut finished, mut listed) = (0, 0);
    let mut after: Option<String> = None;
    loop {
        let mut query = vec![("limit", "10000".to_owned())];
        if let Some(after) = &after {
            query.push(("after", after.clone()));
        }
        let page: Value = client
            .get(format!("{url}/runs"))
            .query(&query)
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?;
        for run in page["runs"].as_array().into_iter().flatten() {
            listed += 1;
            if matches!(run["status"].as_str(), Some("succeeded" | "dead_lettered")) {
                finished += 1;
            }
        }
        match page["next"].as_str() {
            Some(next) => after = Some(next.to_owned()),
            None => return Ok((finished, listed)),
        }
    }
}

/// Samples the server's RSS on its own task; [`Sampler::stop`] answers the peak.
struct Sampler {
    stop: tokio::sync::oneshot::Sender<()>,
    task: tokio::task::JoinHandle<f64>,
}

impl Sampler {
    fn start(server: &Arc<Server>, every: Duration) -> Self {
        let (stop, mut stopped) = tokio::sync::oneshot::channel();
        let server = Arc::clone(server);
        let task = tokio::spawn(async move {
            let mut peak: f64 = 0.0;
            let mut ticker = tokio::time::interval(every);
            loop {
                if let Ok((rss, _)) = server.memory_mib() {
                    peak = peak.max(rss);
                }
                tokio::select! {
                    _ = &mut stopped => return peak,
                    _ = ticker.tick() => {}
                }
            }
        });
        Self { stop, task }
    }

    async fn stop(self) -> f64 {
        let _ = self.stop.send(());
        self.task.await.unwrap_or(0.0)
    }
}
