//! `dq bench runs` and `dq bench broker`: load tests for users, next to the CLI (as `nats bench` or
//! `redis-benchmark` are). Against `--url` (a server on another machine only with `--yes`), or else an
//! embedded server on a free loopback port with a temporary data dir, durable as `dq up` is. This file picks
//! the target, runs the scenario (`bench_runs`, `bench_broker`) and prints its report; what the scenarios
//! share (the target, the work counter, the latency summary, the report) is in `bench_load`. `dq-bench` (the
//! workspace's benchmark binary) keeps the scenarios that start server processes and measure their CPU.

use std::time::Duration;

use tokio::sync::oneshot;

use super::bench_load::Target;
use super::{bench_broker, bench_runs};
use crate::cli::BenchCommand;
use crate::commands::Ctx;
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
        Some(Embedded::start(matches!(command, BenchCommand::Runs(_))).await?)
    };
    let target = Target {
        url: embedded
            .as_ref()
            .map_or_else(|| ctx.settings.url.to_string(), |e| e.url.clone())
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
        server.stop().await;
    }
    let report = result?;
    ctx.printer.result(&report)?;
    Ok(if report.errors == 0 {
        ExitStatus::Success
    } else {
        ExitStatus::Rejected
    })
}

/// A dq server in this process on a free loopback port, storing durably in a temporary directory.
struct Embedded {
    url: String,
    stop: oneshot::Sender<()>,
    task: tokio::task::JoinHandle<std::result::Result<(), dq_server::ServerError>>,
    // Deleted on drop, after the server stopped.
    _dir: tempfile::TempDir,
}

impl Embedded {
    /// With `workers`, the runs service's workers run with no step delay and no backoff (what `dq bench runs`
    /// measures is dq, not the demo's pretend delays); without, none run.
    async fn start(workers: bool) -> Result<Self> {
        let dir = tempfile::Builder::new()
            .prefix("dq-bench-")
            .tempdir()
            .map_err(|e| CliError::io("creating a temporary data dir", e))?;
        let mut config = dq_server::ServerConfig::new(dir.path());
        config.broker.flush_on_close = false;
        if workers {
            config.runs.step_delay = Duration::ZERO;
            config.runs.backoff = Duration::ZERO;
        } else {
            config.runs.workers = 0;
        }
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0))
            .await
            .map_err(|e| CliError::io("listening on a free port", e))?;
        let addr = listener
            .local_addr()
            .map_err(|e| CliError::io("reading the listening address", e))?;
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(dq_server::serve(listener, config, async move {
            let _ = stopped.await;
        }));
        Ok(Self {
            url: format!("http://{addr}"),
            stop,
            task,
            _dir: dir,
        })
    }

    async fn stop(self) {
        let _ = self.stop.send(());
        match tokio::time::timeout(Duration::from_secs(5), self.task).await {
            Ok(Ok(Err(err))) => tracing::warn!(%err, "the embedded server failed"),
            Ok(Err(err)) => tracing::warn!(%err, "the embedded server panicked"),
            Ok(Ok(Ok(()))) | Err(_) => {}
        }
    }
}
