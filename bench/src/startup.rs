//! The start-up scenario: how long a server with many runs stored takes to answer again after a restart.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use serde_json::{Value, json};

use crate::server::Server;

/// Flags of the start-up scenario.
#[derive(Debug, clap::Args)]
pub struct StartupArgs {
    /// Runs to store before the restart (each runs to success with no pretend delay).
    #[arg(long, default_value_t = 10_000)]
    runs: u64,
    /// Concurrent clients creating the runs.
    #[arg(long, default_value_t = 64)]
    clients: usize,
    /// Stop the server with SIGKILL instead of SIGTERM: the restart then replays the journal.
    #[arg(long)]
    crash: bool,
}

/// Runs the scenario and prints its figures.
pub async fn startup(dq: &Path, args: StartupArgs) -> anyhow::Result<()> {
    let server = Server::start(dq, &["--step-delay", "0ms", "--concurrency", "64"]).await?;
    let client = reqwest::Client::new();
    let next = Arc::new(AtomicU64::new(0));
    let mut tasks = Vec::new();
    for _ in 0..args.clients {
        let (client, url, next, total) =
            (client.clone(), server.url.clone(), next.clone(), args.runs);
        tasks.push(tokio::spawn(async move {
            while next.fetch_add(1, Ordering::Relaxed) < total {
                client
                    .post(format!("{url}/runs"))
                    .json(&json!({}))
                    .send()
                    .await?
                    .error_for_status()?;
            }
            anyhow::Ok(())
        }));
    }
    for t in tasks {
        t.await??;
    }
    let deadline = Instant::now() + Duration::from_secs(300);
    while succeeded(&client, &server.url).await? < args.runs {
        if Instant::now() > deadline {
            bail!("the runs did not all succeed within 300 s");
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }

    let stopped = server.stop(args.crash)?;
    let journal = journal_bytes(stopped.data_dir())?;
    let started = Instant::now();
    let server = stopped.start(dq).await?;
    let healthy = started.elapsed();
    let listed = succeeded(&client, &server.url).await?;
    let all_listed = started.elapsed();
    if listed != args.runs {
        bail!(
            "after the restart {listed} of {} runs are listed as succeeded",
            args.runs
        );
    }
    println!(
        "start-up with {} runs stored, after {} (from spawning dq up): healthy after {:.0} ms, every run listed with its status after {:.0} ms; {:.1} MiB of journal to replay",
        args.runs,
        if args.crash { "SIGKILL" } else { "SIGTERM" },
        healthy.as_secs_f64() * 1000.0,
        all_listed.as_secs_f64() * 1000.0,
        journal as f64 / (1024.0 * 1024.0)
    );
    Ok(())
}

/// The bytes of journal the store in `dir` holds: what an open replays. fjall preallocates its journals with
/// zeros, so a journal's data ends at its last non-zero byte.
fn journal_bytes(dir: &Path) -> anyhow::Result<u64> {
    let mut total = 0;
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.extension().is_some_and(|e| e == "jnl") {
            let bytes = std::fs::read(&path)?;
            total += bytes
                .iter()
                .rposition(|b| *b != 0)
                .map_or(0, |i| i as u64 + 1);
        }
    }
    Ok(total)
}

/// How many runs `GET /runs?status=succeeded` lists.
async fn succeeded(client: &reqwest::Client, url: &str) -> anyhow::Result<u64> {
    let list: Value = client
        .get(format!("{url}/runs"))
        .query(&[("status", "succeeded"), ("limit", "10000")])
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    list["count"]
        .as_u64()
        .context("GET /runs answered without count")
}
