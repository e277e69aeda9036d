//! `dq worker`: one standalone worker in this process, consuming run commands until Ctrl-C or SIGTERM from the
//! DriftQ v1 broker of the dq server at `--url` (dq-runs' `run_worker`), or from `--broker`: another DriftQ v1
//! broker, or a NATS JetStream cluster with no dq server in between.

use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::cli::WorkerArgs;
use crate::commands::Ctx;
use crate::daemon::shutdown_signal;
use crate::error::{CliError, ExitStatus, Result};
use crate::settings::{parse_broker, worker_config};

/// How long a stopping worker may take before the process exits anyway.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(1);

/// `dq worker`.
pub async fn run(args: WorkerArgs, ctx: &Ctx) -> Result<ExitStatus> {
    let config = worker_config(&args)?;
    let url = match &args.broker {
        Some(raw) => parse_broker(raw)?,
        None => ctx.settings.url.as_str().trim_end_matches('/').to_owned(),
    };
    let shutdown = CancellationToken::new();
    let nats = if dq_nats::is_nats_url(&url) {
        let options = dq_nats::NatsOptions {
            urls: url.clone(),
            creds_file: args.nats_creds.clone(),
            pull_batch: config.concurrency,
        };
        let queue = dq_nats::NatsQueue::connect(&options)
            .await
            .map_err(dq_runs::RunsError::from)?;
        Some(Arc::new(queue) as Arc<dyn dq_runs::Queue>)
    } else {
        None
    };
    let stop_asked = shutdown_signal();
    ctx.printer.note(&format!(
        "dq worker on {} (group {}, {} at a time) · Ctrl-C to stop",
        shown(&url),
        config.group,
        config.concurrency
    ));
    let mut worker = tokio::spawn({
        let shutdown = shutdown.clone();
        let token = ctx.settings.token.clone();
        async move {
            match nats {
                Some(queue) => dq_runs::run_worker_on(queue, config, shutdown).await,
                None => dq_runs::run_worker(&url, token, config, shutdown).await,
            }
        }
    });
    tokio::select! {
        joined = &mut worker => return worker_result(joined),
        () = stop_asked => {}
    }
    shutdown.cancel();
    match tokio::time::timeout(SHUTDOWN_GRACE, worker).await {
        Ok(joined) => worker_result(joined),
        Err(_) => Ok(ExitStatus::Success),
    }
}

/// The broker URLs without the credentials they may carry (`nats://user:pass@host`).
fn shown(urls: &str) -> String {
    urls.split(',')
        .map(|u| match (u.split_once("://"), u.rsplit_once('@')) {
            (Some((scheme, _)), Some((_, host))) => format!("{scheme}://{host}"),
            _ => u.to_owned(),
        })
        .collect::<Vec<_>>()
        .join(",")
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
