//! `dq runs list` and `dq runs show RUN`: the run registry, a dq addition to the starter API; `show` lists each
//! replay with its fail step, overrides, request time and outcome. `dq runs wait` lives in `runs_wait.rs`.

use dq_proto::runs::{RunDetail, RunList, RunStatus};

use crate::cli::{RunsCommand, RunsListArgs, RunsShowArgs};
use crate::commands::Ctx;
use crate::error::{CliError, ExitStatus, Result};
use crate::output::{Render, Styles, Tone, format_age, format_ts_full};

fn status(styles: &Styles, status: RunStatus) -> String {
    match status {
        RunStatus::Succeeded => styles.ok(status.as_str()),
        RunStatus::DeadLettered => styles.bad(status.as_str()),
        RunStatus::Retrying => styles.warn(status.as_str()),
        _ => status.as_str().to_owned(),
    }
}

fn tone(status: RunStatus) -> Tone {
    match status {
        RunStatus::Succeeded => Tone::Ok,
        RunStatus::DeadLettered => Tone::Bad,
        RunStatus::Retrying => Tone::Warn,
        _ => Tone::Plain,
    }
}

impl Render for RunList {
    fn human(&self, styles: &Styles) -> String {
        if self.runs.is_empty() {
            return "no runs".to_owned();
        }
        let mut table = styles.table(&[
            "run",
            "status",
            "replay",
            "attempts",
            "fail at",
            "last error",
            "updated",
        ]);
        for run in &self.runs {
            table.add_row(vec![
                run.run_id.clone().into(),
                styles.cell(run.status.as_str(), tone(run.status)),
                run.replay_seq.to_string().into(),
                run.attempts.to_string().into(),
                run.fail_at.clone().unwrap_or_else(|| "-".into()).into(),
                run.last_error.clone().unwrap_or_else(|| "-".into()).into(),
                format_age(run.updated_ms).into(),
            ]);
        }
        Styles::render(&table)
    }
}

/// `dq runs list --json`: the server's page with its list under `items`, the one list key of dq's documents
/// (`dq dlq list`, `dq dlq redrive`).
struct Listed<'a>(&'a RunList);

impl serde::Serialize for Listed<'_> {
    fn serialize<S: serde::Serializer>(
        &self,
        serializer: S,
    ) -> std::result::Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let list = self.0;
        let mut map = serializer.serialize_map(None)?;
        map.serialize_entry("count", &list.count)?;
        map.serialize_entry("items", &list.runs)?;
        if let Some(total) = list.total {
            map.serialize_entry("total", &total)?;
        }
        if let Some(next) = &list.next {
            map.serialize_entry("next", next)?;
        }
        map.end()
    }
}

impl Render for Listed<'_> {
    fn human(&self, styles: &Styles) -> String {
        self.0.human(styles)
    }
}

impl Render for RunDetail {
    fn human(&self, styles: &Styles) -> String {
        let run = &self.summary;
        let mut lines = vec![
            format!(
                "{:<12}{} ({})",
                "run",
                styles.accent(&run.run_id),
                run.workflow
            ),
            format!("{:<12}{}", "status", status(styles, run.status)),
            format!("{:<12}{}", "fail at", run.fail_at.as_deref().unwrap_or("-")),
            format!("{:<12}{}", "replay", run.replay_seq),
            format!(
                "{:<12}{}{}",
                "attempts",
                run.attempts,
                self.max_attempts
                    .map(|m| format!("/{m}"))
                    .unwrap_or_default()
            ),
            format!(
                "{:<12}{}",
                "last error",
                run.last_error.as_deref().unwrap_or("-")
            ),
            format!(
                "{:<12}{}",
                "input",
                serde_json::Value::Object(self.input.clone())
            ),
            format!("{:<12}{}", "created", format_ts_full(run.created_ms)),
            format!("{:<12}{}", "updated", format_ts_full(run.updated_ms)),
        ];
        if self.replays.is_empty() {
            lines.push(format!("{:<12}none", "replays"));
        } else {
            lines.push(styles.bold("replays"));
            for replay in &self.replays {
                let how = replay
                    .fail_at
                    .as_deref()
                    .map_or_else(|| "fix applied".to_owned(), |s| format!("fail at {s}"));
                let base = if replay.keep_overrides {
                    "previous input"
                } else {
                    "original input"
                };
                let overrides = if replay.overrides.is_empty() {
                    base.to_owned()
                } else {
                    format!(
                        "{base} + {}",
                        serde_json::Value::Object(replay.overrides.clone())
                    )
                };
                let outcome = match (replay.outcome, replay.ended_ms) {
                    (Some(outcome), Some(ended)) => {
                        format!("{} {}", status(styles, outcome), format_ts_full(ended))
                    }
                    (Some(outcome), None) => status(styles, outcome),
                    _ => "in flight".to_owned(),
                };
                lines.push(format!(
                    "  {}  {how}  {overrides}  requested {}  {outcome}",
                    replay.seq,
                    format_ts_full(replay.requested_ms)
                ));
            }
        }
        lines.join("\n")
    }
}

/// `dq runs …`.
pub async fn run(command: RunsCommand, ctx: &Ctx) -> Result<ExitStatus> {
    match command {
        RunsCommand::List(args) => list(args, ctx).await,
        RunsCommand::Show(args) => show(args, ctx).await,
        RunsCommand::Wait(args) => super::runs_wait::run(args, ctx).await,
    }
}

async fn list(args: RunsListArgs, ctx: &Ctx) -> Result<ExitStatus> {
    let status = args
        .status
        .as_deref()
        .map(|raw| {
            status_alias(raw)
                .parse::<RunStatus>()
                .map(RunStatus::as_str)
                .map_err(|e| CliError::Usage(format!("invalid --status: {e}")))
        })
        .transpose()?;
    let runs = ctx
        .client()?
        .runs(status, args.list.limit, args.list.after.as_deref())
        .await?;
    ctx.printer.result(&Listed(&runs))?;
    if let Some(total) = runs.total {
        ctx.printer.shown(runs.count, total, runs.next.as_deref());
    }
    Ok(ExitStatus::Success)
}

/// `--status dlq`, `failed` and `dead-lettered` mean dead_lettered.
fn status_alias(raw: &str) -> &str {
    match raw {
        "dlq" | "failed" | "dead-lettered" => "dead_lettered",
        other => other,
    }
}

async fn show(args: RunsShowArgs, ctx: &Ctx) -> Result<ExitStatus> {
    let run = ctx.client()?.run(&args.run).await?;
    ctx.printer.result(&run)?;
    Ok(ExitStatus::Success)
}
