//! `dq runs wait RUN [--replay N]`: waits for a run's latest start or replay (or replay N; 0 is the first start)
//! to end, without printing its timeline: exit 0 succeeded, 3 dead-lettered, 124 on `--timeout`. It prints the
//! final run document (`dq runs show RUN`; with `--json` exactly `GET /runs/{id}`). A run that already ended
//! returns at once; otherwise it follows the run's events with [`crate::follow`].

use dq_proto::runs::{RunDetail, RunStatus};

use crate::cli::RunsWaitArgs;
use crate::commands::Ctx;
use crate::error::{CliError, ExitStatus, Result};
use crate::follow::follow;

/// `dq runs wait`.
pub async fn run(args: RunsWaitArgs, ctx: &Ctx) -> Result<ExitStatus> {
    let client = ctx.client()?;
    let mut detail = client.run(&args.run).await?;
    let latest = detail.summary.replay_seq;
    let target = args.replay.unwrap_or(latest);
    if target > latest {
        return Err(CliError::Rejected {
            status: 404,
            message: format!(
                "run {} has no replay {target} (its latest is {latest})",
                args.run
            ),
        });
    }
    let status = if let Some(status) = ended(&detail, target) {
        status
    } else {
        let which = if target == 0 {
            format!("run {}", args.run)
        } else {
            format!("replay {target} of run {}", args.run)
        };
        let spinner = ctx.printer.spinner(format!("waiting for {which}"));
        let outcome = follow(&client, &args.run, target, |frame| {
            spinner.set_message(format!("waiting for {which} · {}", frame.event.kind()));
            Ok(())
        })
        .await?;
        drop(spinner);
        detail = client.run(&args.run).await?;
        outcome.status
    };
    ctx.printer.result(&detail)?;
    Ok(if status == RunStatus::Succeeded {
        ExitStatus::Success
    } else {
        ExitStatus::RunFailed
    })
}

/// How start/replay `target` ended, when the run document already says so.
fn ended(detail: &RunDetail, target: u64) -> Option<RunStatus> {
    let run = &detail.summary;
    if target == run.replay_seq {
        return run.status.is_terminal().then_some(run.status);
    }
    detail
        .replays
        .iter()
        .find(|replay| replay.seq == target)
        .and_then(|replay| replay.outcome)
}
