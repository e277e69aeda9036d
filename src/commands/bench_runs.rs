//! `dq bench runs`: runs of the demo workflow end to end, the way a client sees them — `POST /runs`, then the
//! run's SSE timeline, folded as `dq run` folds it, until the run ends. Each of `--concurrency` clients starts
//! a run and follows it to its end before starting the next; `--fail-ratio` of the runs are forced to fail at
//! `tool_call` with one attempt, so they dead-letter without waiting out retries. Latency is create → end.

use std::sync::Arc;
use std::time::{Duration, Instant};

use dq_proto::fold::RunState;
use dq_proto::runs::{CreateRun, RunStatus};
use serde_json::{Map, Value, json};

use super::bench_load::{Latency, Report, Target, Work, fails, locked};
use crate::client::Client;
use crate::commands::Ctx;
use crate::error::{CliError, Result};
use crate::settings::BenchSettings;

/// Runs when neither `--count` nor `--duration` is given.
pub const DEFAULT_COUNT: u64 = 1000;
/// Longest a run may take to end before it counts as an error (a server without workers never ends any).
const RUN_WAIT: Duration = Duration::from_secs(60);

/// What the clients found.
#[derive(Default)]
struct Tally {
    latencies: Vec<u64>,
    succeeded: u64,
    dead_lettered: u64,
    errors: u64,
    first_error: Option<String>,
}

impl Tally {
    fn error(&mut self, error: String) {
        self.errors += 1;
        self.first_error.get_or_insert(error);
    }
}

/// Runs the scenario.
pub async fn run(target: &Target, settings: &BenchSettings, ctx: &Ctx) -> Result<Report> {
    let url = url::Url::parse(&target.url)
        .map_err(|e| CliError::Usage(format!("invalid url {}: {e}", target.url)))?;
    let client = Arc::new(Client::new(url, target.token.as_deref())?);
    let work = Arc::new(Work::new(settings.until));
    let tally = Arc::new(std::sync::Mutex::new(Tally::default()));
    let bar = Arc::new(work.progress(ctx, "runs"));
    let mut clients = Vec::with_capacity(settings.concurrency);
    let input = json!({"payload": "x".repeat(settings.size)});
    for _ in 0..settings.concurrency {
        let (client, work, tally, bar) = (
            Arc::clone(&client),
            Arc::clone(&work),
            Arc::clone(&tally),
            Arc::clone(&bar),
        );
        let (input, ratio) = (input.clone(), settings.fail_ratio);
        clients.push(tokio::spawn(async move {
            while let Some(claimed) = work.claim(1) {
                let fail = fails(claimed.start, ratio);
                let started = Instant::now();
                let outcome = tokio::time::timeout(RUN_WAIT, one_run(&client, &input, fail)).await;
                let micros = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX);
                let mut tally = locked(&tally);
                match outcome {
                    Ok(Ok(RunStatus::Succeeded)) if !fail => {
                        tally.succeeded += 1;
                        tally.latencies.push(micros);
                    }
                    Ok(Ok(RunStatus::DeadLettered)) if fail => {
                        tally.dead_lettered += 1;
                        tally.latencies.push(micros);
                    }
                    Ok(Ok(status)) => tally.error(format!(
                        "a run {} ended {status:?}",
                        if fail {
                            "forced to fail"
                        } else {
                            "not forced to fail"
                        }
                    )),
                    Ok(Err(e)) => tally.error(e.to_string()),
                    Err(_) => tally.error(format!("a run did not end within {RUN_WAIT:?}")),
                }
                drop(tally);
                if work.counts() {
                    bar.inc();
                }
            }
        }));
    }
    let seconds = async { work.tick_seconds(&bar).await };
    let all = futures::future::join_all(clients);
    let (joined, ()) = tokio::join!(all, seconds);
    let elapsed = work.started().elapsed();
    for joined in joined {
        joined.map_err(|e| CliError::Unexpected(format!("a bench client panicked: {e}")))?;
    }
    let tally = std::mem::take(&mut *locked(&tally));
    let completed = tally.succeeded + tally.dead_lettered;
    let mut details = Map::new();
    details.insert("succeeded".into(), Value::from(tally.succeeded));
    details.insert("dead_lettered".into(), Value::from(tally.dead_lettered));
    details.insert("fail_ratio".into(), Value::from(settings.fail_ratio));
    Ok(Report {
        scenario: "runs",
        url: target.url.clone(),
        embedded: target.embedded,
        concurrency: settings.concurrency,
        completed,
        elapsed_s: elapsed.as_secs_f64(),
        throughput_per_s: completed as f64 / elapsed.as_secs_f64().max(1e-9),
        latency_of: "create → end of run",
        latency: Latency::of(tally.latencies),
        errors: tally.errors,
        first_error: tally.first_error,
        details,
    })
}

/// Starts one run and follows its timeline until the run ends; returns how it ended.
async fn one_run(client: &Client, input: &Value, fail: bool) -> Result<RunStatus> {
    let body = CreateRun {
        input: input.as_object().cloned().unwrap_or_default(),
        fail_at: fail.then(|| "tool_call".to_owned()),
        max_attempts: fail.then_some(1),
        ..CreateRun::default()
    };
    let created = client.create_run(&body).await?;
    let mut events = client.events(&created.run_id, None).await?;
    let mut state = RunState::new();
    while let Some(frame) = events.next().await? {
        state.apply(&frame.event);
        if state.ended {
            return Ok(state.status);
        }
    }
    Err(CliError::Unexpected(format!(
        "the server closed run {}'s event stream before the run ended",
        created.run_id
    )))
}
