//! `dq worker`: one standalone worker in this process, consuming run commands from the DriftQ v1 broker of the
//! dq server at `--url` (dq-runs' `run_worker`) until Ctrl-C or SIGTERM.

use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::cli::WorkerArgs;
use crate::commands::Ctx;
use crate::daemon::shutdown_signal;
use crate::error::{CliError, ExitStatus, Result};
use crate::settings::worker_config;

/// How long a stopping worker may take before the process exits anyway.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(1);

/// `dq worker`.
pub async fn run(args: WorkerArgs, ctx: &Ctx) -> Result<ExitStatus> {
    let config = worker_config(&args)?;
    let url = ctx.settings.url.as_str().trim_end_matches('/').to_owned();
    let shutdown = CancellationToken::new();
    ctx.printer.note(&format!(
        "dq worker on {url} (group {}, {} at a time) · Ctrl-C to stop",
        config.group, config.concurrency
    ));
    let mut worker = tokio::spawn({
        let shutdown = shutdown.clone();
        let token = ctx.settings.token.clone();
        async move { dq_runs::run_worker(&url, token, config, shutdown).await }
    });
    tokio::select! {
        joined = &mut worker => return worker_result(joined),
        () = shutdown_signal() => {}
    }
    shutdown.cancel();
    match tokio::time::timeout(SHUTDOWN_GRACE, worker).await {
        Ok(joined) => worker_result(joined),
        Err(_) => Ok(ExitStatus::Success),
    }
}

fn worker_result(
    joined: std::result::Result<
        std::result::Result<(), dq_runs::RunsError>,
        tokio::task::JoinError,
    >,
) -> Result<ExitStatus> {
    match joined {
        Ok(Ok(())) => Ok(ExitStatus::Success),
        Ok(Err(err)) => Err(err.into()),
        Err(err) => Err(CliError::failed("the worker stopped", err)),
    }
}
