//! Not a subcommand: the live view of one start or replay of a run, shared by `dq run` and `dq replay`: a spinner, the timeline
//! as it happens (through [`crate::follow`]), a note when no worker takes the run, then the outcome and the exit
//! status it means.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use dq_proto::runs::RunStatus;

use crate::client::Client;
use crate::commands::Ctx;
use crate::error::{ExitStatus, Result};
use crate::follow::{Outcome, follow};
use crate::output::{Render, Styles, event_line};

impl Render for Outcome {
    fn human(&self, styles: &Styles) -> String {
        let which = if self.replay_seq == 0 {
            String::new()
        } else {
            format!(" (replay {})", self.replay_seq)
        };
        let attempts = match self.max_attempts {
            Some(max) => format!("{}/{max}", self.attempts),
            None => self.attempts.to_string(),
        };
        let plural = if self.attempts == 1 { "" } else { "s" };
        match self.status {
            RunStatus::Succeeded => format!(
                "{} run {}{which} succeeded after {attempts} attempt{plural}",
                styles.ok("✓"),
                styles.accent(&self.run_id)
            ),
            _ => format!(
                "{} run {}{which} dead-lettered after {attempts} attempt{plural}: {}",
                styles.bad("✗"),
                styles.accent(&self.run_id),
                self.error.as_deref().unwrap_or("no error recorded")
            ),
        }
    }
}

/// How long a followed run may wait for a worker before `dq run` says that none has taken it.
const QUEUED_NOTE_AFTER: Duration = Duration::from_secs(3);

/// Follows start (0) or replay (n) of a run, printing its timeline live, then its outcome.
pub async fn watch(
    client: &Client,
    ctx: &Ctx,
    run_id: &str,
    replay_seq: u64,
) -> Result<ExitStatus> {
    let printer = &ctx.printer;
    ctx.following(Some(run_id));
    let spinner = printer.spinner(format!("following run {run_id}"));
    let taken = AtomicBool::new(false);
    let outcome = {
        let following = follow(client, run_id, replay_seq, |frame| {
            if frame.event.kind().starts_with("worker.") || frame.event.kind().starts_with("step.")
            {
                taken.store(true, Ordering::Relaxed);
            }
            spinner.set_message(format!("following run {run_id} · {}", frame.event.kind()));
            if printer.json() {
                Ok(())
            } else {
                spinner.line(printer, &event_line(&frame.event, printer.styles()))
            }
        });
        tokio::pin!(following);
        tokio::select! {
            outcome = &mut following => outcome?,
            () = tokio::time::sleep(QUEUED_NOTE_AFTER) => {
                // Said once; the run may still be taken later, so keep waiting.
                if !taken.load(Ordering::Relaxed) {
                    spinner.note(
                        printer,
                        &format!(
                            "run {run_id} is queued; no worker has taken it yet \
                             (`dq up` runs one, or start `dq worker`)"
                        ),
                    );
                }
                following.await?
            }
        }
    };
    drop(spinner);
    ctx.following(None);
    printer.result(&outcome)?;
    if outcome.status == RunStatus::Succeeded {
        Ok(ExitStatus::Success)
    } else {
        printer.note(&format!(
            "inspect the DLQ record: dq dlq show {run_id} · replay with the fix: dq replay {run_id} --fix"
        ));
        Ok(ExitStatus::RunFailed)
    }
}
