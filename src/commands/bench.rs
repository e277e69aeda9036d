//! `dq bench runs` and `dq bench broker`: load tests for users, next to the CLI (as `nats bench` or
//! `redis-benchmark` are). Against `--url` (a server on another machine only with `--yes`), or else an
//! embedded server on a free loopback port with a temporary data dir, durable as `dq up` is. This file picks
//! the target, runs the scenario (`bench_runs`, `bench_broker`) and prints its report; what the scenarios
//! share (the target, the work counter, the latency summary, the report) is in `bench_load`. `dq-bench` (the
//! workspace's benchmark binary) keeps the scenarios that start server processes and measure their CPU.

use std::time::Duration;

use super::bench_load::Target;
use super::{bench_broker, bench_runs};
use crate::cli::BenchCommand;
use crate::commands::Ctx;
use crate::embedded::Embedded;
use crate::error::{CliError, ExitStatus, Result};
use crate::settings::{BenchSettings, check_bench_target};

/// `dq bench`.
pub async fn run(command: BenchCommand, ctx: &Ctx) -> Result<ExitStatus> {
    let (settings, default_count) = match &command {
        BenchCommand::Runs(args) => (&args.load, bench_runs::DEFAULT_COUNT),
        BenchCommand::Broker(args) => (&args.load, bench_broker::DEFAULT_COUNT),
    };
    let settings = BenchSettings::resolve(settings, default_count)?;
    let embedded = if ctx.settings.url_given {
        check_bench_target(&ctx.settings.url, ctx.settings.yes_given)?;
        None
    } else {
        // With workers (`dq bench runs`), they run with no step delay and no backoff: what it measures is dq, not
        // the demo's pretend delays; `dq bench broker` needs none.
        let workers = matches!(command, BenchCommand::Runs(_));
        Some(
            Embedded::start("dq-bench-", |config| {
                if workers {
                    config.runs.step_delay = Duration::ZERO;
                    config.runs.backoff = Duration::ZERO;
                } else {
                    config.runs.workers = 0;
                }
            })
            .await?,
        )
    };
    let target = Target {
        url: embedded
            .as_ref()
            .map_or_else(|| ctx.settings.url.to_string(), |e| e.url.to_string())
            .trim_end_matches('/')
            .to_owned(),
        token: ctx.settings.token.clone(),
        embedded: embedded.is_some(),
    };
    let result = tokio::select! {
        result = async {
            match command {
                BenchCommand::Runs(_) => bench_runs::run(&target, &settings, ctx).await,
                BenchCommand::Broker(args) => bench_broker::run(&target, &settings, &args, ctx).await,
            }
        } => result,
        _ = tokio::signal::ctrl_c() => Err(CliError::Interrupted),
    };
    if let Some(server) = embedded {
        server.stop(Duration::from_secs(5)).await;
    }
    let report = result?;
    ctx.printer.result(&report)?;
    Ok(if report.errors == 0 {
        ExitStatus::Success
    } else {
        ExitStatus::Rejected
    })
}
