//! `dq demo`: the starter's "2-minute demo" as a checklist — 1 fail (forced), 2 DLQ persisted, 3 replay with
//! the fix applied, 4 success — each step ticking with its elapsed time as its event arrives. Without
//! `--url` / `DQ_URL` it runs against an embedded server on a free port with a temporary data dir, stopped
//! afterwards. Exit 0 only when all four happened; 3 when the story went another way; 124 when a step never
//! came.

use std::time::{Duration, Instant};

use dq_proto::event::EventBody;
use dq_proto::runs::{CreateRun, DlqRecord, ReplayRequest, RunStatus};
use serde::Serialize;

use crate::cli::DemoArgs;
use crate::client::Client;
use crate::commands::Ctx;
use crate::embedded::Embedded;
use crate::error::{CliError, ExitStatus, Result};
use crate::follow::follow;
use crate::output::{Printer, Render, Styles};

/// How long one step may take when `--timeout` does not say.
const STEP_WAIT: Duration = Duration::from_secs(30);
/// The checklist.
const STEPS: [&str; 4] = [
    "fail (forced)",
    "DLQ persisted",
    "replay with fix applied",
    "success",
];

/// One ticked (or failed) step.
#[derive(Debug, Clone, Serialize)]
struct Step {
    step: usize,
    name: &'static str,
    ok: bool,
    elapsed_ms: u64,
    detail: String,
}

impl Render for Step {
    fn human(&self, styles: &Styles) -> String {
        let mark = if self.ok {
            styles.ok("✓")
        } else {
            styles.bad("✗")
        };
        let elapsed = format!("{:>6.2}s", self.elapsed_ms as f64 / 1000.0);
        format!(
            " {mark} {}  {:<24} {}  {}",
            self.step,
            self.name,
            styles.dim(elapsed),
            self.detail
        )
        .trim_end()
        .to_owned()
    }
}

/// The `--json` summary.
#[derive(Debug, Serialize)]
struct Summary {
    ok: bool,
    run_id: String,
    url: String,
    embedded: bool,
    elapsed_ms: u64,
    steps: Vec<Step>,
    dlq: Option<DlqRecord>,
}

/// `dq demo`.
pub async fn run(args: DemoArgs, ctx: &Ctx) -> Result<ExitStatus> {
    let embedded = if ctx.settings.url_given {
        if args.fast {
            ctx.printer.warn(
                "--fast only speeds up the embedded server; the server at --url keeps its timings",
            );
        }
        None
    } else {
        let fast = args.fast;
        Some(
            Embedded::start("dq-demo-", |config| {
                // The store is thrown away with the temporary dir: waiting for fsync would only slow the story.
                config.broker.durable = false;
                if fast {
                    config.runs.step_delay = Duration::ZERO;
                    config.runs.backoff = Duration::ZERO;
                }
            })
            .await?,
        )
    };
    let url = embedded
        .as_ref()
        .map_or_else(|| ctx.settings.url.clone(), |e| e.url.clone());
    let client = Client::new(url, ctx.settings.token.as_deref())?;
    let result = tokio::select! {
        result = story(&client, ctx, embedded.is_some()) => result,
        _ = tokio::signal::ctrl_c() => Err(CliError::Interrupted),
    };
    if let Some(server) = embedded {
        server.stop(Duration::from_secs(1)).await;
    }
    result
}

async fn story(client: &Client, ctx: &Ctx, embedded: bool) -> Result<ExitStatus> {
    let printer = &ctx.printer;
    let wait = ctx.settings.timeout.explicit().unwrap_or(STEP_WAIT);
    let start = Instant::now();
    let mut steps: Vec<Step> = Vec::new();
    let created = client
        .create_run(&CreateRun {
            fail_at: Some("tool_call".into()),
            ..CreateRun::default()
        })
        .await?;
    let run_id = created.run_id;
    if !printer.json() {
        let place = if embedded { " (embedded)" } else { "" };
        printer.line(&format!(
            "dq demo · run {} · {}{place}",
            printer.styles().accent(&run_id),
            client.base()
        ))?;
    }
    let spinner = printer.spinner(waiting(1));
    let tick = |steps: &mut Vec<Step>, n: usize, ok: bool, detail: String| -> Result<()> {
        let step = Step {
            step: n,
            name: STEPS[n - 1],
            ok,
            elapsed_ms: millis(start.elapsed()),
            detail,
        };
        if !printer.json() {
            spinner.line(printer, &step.human(printer.styles()))?;
        }
        steps.push(step);
        if n < STEPS.len() {
            spinner.set_message(waiting(n + 1));
        }
        Ok(())
    };

    // Steps 1 and 2: the forced failure, retried until the run is dead-lettered.
    let first = follow(client, &run_id, 0, |frame| {
        if let EventBody::AttemptFailed { error, .. } = &frame.event.body
            && steps.is_empty()
        {
            tick(&mut steps, 1, true, error.clone())?;
        }
        Ok(())
    });
    let outcome = match tokio::time::timeout(wait, first).await {
        Ok(outcome) => outcome?,
        Err(_) => return timed_out(&mut steps, &tick, wait),
    };
    if outcome.status != RunStatus::DeadLettered {
        tick(
            &mut steps,
            1,
            false,
            "the run succeeded: the failure was not forced".into(),
        )?;
        return finish(printer, start, steps, run_id, client, embedded, None);
    }
    if steps.is_empty() {
        let error = outcome.error.clone().unwrap_or_default();
        tick(&mut steps, 1, true, error)?;
    }
    let record = client.dlq(&run_id).await?;
    tick(
        &mut steps,
        2,
        true,
        format!(
            "{}/{} attempts · {}",
            record.attempts, record.max_attempts, record.error
        ),
    )?;
    if !printer.json() {
        let payload = serde_json::to_string(&record.command).unwrap_or_default();
        spinner.line(
            printer,
            &format!(
                "       {} {}",
                printer.styles().dim("payload"),
                printer.styles().dim(payload)
            ),
        )?;
    }

    // Steps 3 and 4: replay with the fix applied, until it succeeds.
    let replay = client
        .replay(
            &run_id,
            &ReplayRequest {
                fail_at: Some(None),
                ..ReplayRequest::default()
            },
        )
        .await?;
    tick(
        &mut steps,
        3,
        true,
        format!("replay {} · fail_at cleared", replay.seq),
    )?;
    let second = follow(client, &run_id, replay.seq, |_| Ok(()));
    let outcome = match tokio::time::timeout(wait, second).await {
        Ok(outcome) => outcome?,
        Err(_) => return timed_out(&mut steps, &tick, wait),
    };
    if outcome.status == RunStatus::Succeeded {
        let plural = if outcome.attempts == 1 { "" } else { "s" };
        tick(
            &mut steps,
            4,
            true,
            format!("{} attempt{plural}", outcome.attempts),
        )?;
    } else {
        let error = outcome.error.unwrap_or_default();
        tick(
            &mut steps,
            4,
            false,
            format!("dead-lettered again: {error}"),
        )?;
    }
    drop(spinner);
    finish(
        printer,
        start,
        steps,
        run_id,
        client,
        embedded,
        Some(record),
    )
}

fn waiting(step: usize) -> String {
    format!("step {step}: {}", STEPS[step - 1])
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// Marks the pending step failed and reports the timeout (exit 124).
fn timed_out(
    steps: &mut Vec<Step>,
    tick: &impl Fn(&mut Vec<Step>, usize, bool, String) -> Result<()>,
    wait: Duration,
) -> Result<ExitStatus> {
    let pending = steps.len() + 1;
    tick(steps, pending, false, "timed out".into())?;
    Err(CliError::Timeout {
        after: wait,
        what: format!("step {pending} ({})", STEPS[pending - 1]),
    })
}

fn finish(
    printer: &Printer,
    start: Instant,
    steps: Vec<Step>,
    run_id: String,
    client: &Client,
    embedded: bool,
    dlq: Option<DlqRecord>,
) -> Result<ExitStatus> {
    let ok = steps.len() == STEPS.len() && steps.iter().all(|s| s.ok);
    let elapsed_ms = millis(start.elapsed());
    if printer.json() {
        printer.result(&Summary {
            ok,
            run_id,
            url: client.base().to_string(),
            embedded,
            elapsed_ms,
            steps,
            dlq,
        })?;
    } else if ok {
        printer.line(&printer.styles().ok(format!(
            "all four steps in {:.2}s",
            elapsed_ms as f64 / 1000.0
        )))?;
    } else {
        printer.line(&printer.styles().bad("the demo did not reach success"))?;
    }
    Ok(if ok {
        ExitStatus::Success
    } else {
        ExitStatus::RunFailed
    })
}

impl Render for Summary {
    fn human(&self, styles: &Styles) -> String {
        self.steps
            .iter()
            .map(|s| s.human(styles))
            .collect::<Vec<_>>()
            .join("\n")
    }
}
