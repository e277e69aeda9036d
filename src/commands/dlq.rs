//! `dq dlq show [RUN]` and `dq dlq list`: dead-letter records, as a readable summary with the payload, or
//! exactly as stored with `--json`. `show RUN` uses the original starter's route; the defaults and the list use
//! dq's additions (the list falls back to the original's `/debug/dlq/peek`).

use dq_proto::runs::{DlqList, DlqRecord};

use crate::cli::{DlqCommand, DlqListArgs, DlqShowArgs};
use crate::commands::Ctx;
use crate::error::{CliError, ExitStatus, Result};
use crate::output::{Render, Styles, format_age, format_ts_full};

/// On a terminal, strings longer than this are cut (`--full` prints all).
const MAX_STRING_CHARS: usize = 200;
/// On a terminal, a payload longer than this many lines is cut (`--full` prints all).
const MAX_PAYLOAD_LINES: usize = 40;

impl Render for DlqRecord {
    fn human(&self, styles: &Styles) -> String {
        let payload = serde_json::to_string_pretty(&self.command).unwrap_or_default();
        summary(self, styles, payload)
    }
}

/// The summary with the payload shortened for a terminal: long strings cut, at most [`MAX_PAYLOAD_LINES`]
/// lines, and a note saying what was left out.
fn human_short(record: &DlqRecord, styles: &Styles) -> String {
    let mut command = record.command.clone();
    let cut = shorten_strings(&mut command);
    let pretty = serde_json::to_string_pretty(&command).unwrap_or_default();
    let lines: Vec<&str> = pretty.lines().collect();
    let total = lines.len();
    let mut payload = if total > MAX_PAYLOAD_LINES {
        let mut kept = lines[..MAX_PAYLOAD_LINES].join("\n");
        kept.push_str(&format!(
            "\n{}",
            styles.dim(format!(
                "… ({} more lines; --full prints all)",
                total - MAX_PAYLOAD_LINES
            ))
        ));
        kept
    } else {
        pretty.clone()
    };
    if cut > 0 && total <= MAX_PAYLOAD_LINES {
        payload.push_str(&format!(
            "\n{}",
            styles.dim(format!(
                "… ({cut} long strings shortened; --full prints all)"
            ))
        ));
    }
    summary(record, styles, payload)
}

/// The record's summary over `payload`.
fn summary(record: &DlqRecord, styles: &Styles, payload: String) -> String {
    [
        format!(
            "{:<9}{} ({})",
            "run",
            styles.accent(&record.run_id),
            record.workflow
        ),
        format!(
            "{:<9}{}/{}",
            "attempts", record.attempts, record.max_attempts
        ),
        format!("{:<9}{}", "replay", record.replay_seq),
        format!("{:<9}{}", "reason", record.reason),
        format!("{:<9}{}", "error", styles.bad(&record.error)),
        format!("{:<9}{}", "when", format_ts_full(record.ts)),
        styles.bold("payload"),
        payload,
    ]
    .join("\n")
}

/// Cuts every string longer than [`MAX_STRING_CHARS`] in `value`, saying how much was cut; returns how many.
fn shorten_strings(value: &mut serde_json::Value) -> usize {
    match value {
        serde_json::Value::String(text) => {
            let chars = text.chars().count();
            if chars <= MAX_STRING_CHARS {
                return 0;
            }
            let kept: String = text.chars().take(MAX_STRING_CHARS).collect();
            *text = format!("{kept}… ({} more chars)", chars - MAX_STRING_CHARS);
            1
        }
        serde_json::Value::Array(items) => items.iter_mut().map(shorten_strings).sum(),
        serde_json::Value::Object(map) => map.values_mut().map(shorten_strings).sum(),
        _ => 0,
    }
}

impl Render for DlqList {
    fn human(&self, styles: &Styles) -> String {
        if self.items.is_empty() {
            return "no DLQ records".to_owned();
        }
        let mut table = styles.table(&["run", "replay", "attempts", "error", "when"]);
        for record in &self.items {
            table.add_row(vec![
                record.run_id.clone(),
                record.replay_seq.to_string(),
                format!("{}/{}", record.attempts, record.max_attempts),
                record.error.clone(),
                format_age(record.ts),
            ]);
        }
        Styles::render(&table)
    }
}

/// `dq dlq …`.
pub async fn run(command: DlqCommand, ctx: &Ctx) -> Result<ExitStatus> {
    match command {
        DlqCommand::Show(args) => show(args, ctx).await,
        DlqCommand::List(args) => list(args, ctx).await,
        DlqCommand::Redrive(args) => super::dlq_redrive::run(args, ctx).await,
    }
}

async fn show(args: DlqShowArgs, ctx: &Ctx) -> Result<ExitStatus> {
    let client = ctx.client()?;
    let record = match &args.run {
        Some(run) => client.dlq(run).await?,
        None => client.dlq_latest().await?,
    };
    if ctx.printer.json() || args.full || !ctx.settings.terminal.stdout {
        ctx.printer.result(&record)?;
    } else {
        ctx.printer
            .line(&human_short(&record, ctx.printer.styles()))?;
    }
    ctx.printer.note(&format!(
        "replay it with the fix: dq replay {} --fix",
        record.run_id
    ));
    Ok(ExitStatus::Success)
}

async fn list(args: DlqListArgs, ctx: &Ctx) -> Result<ExitStatus> {
    let client = ctx.client()?;
    let limit = args.list.limit;
    let list = match client
        .dlq_list(limit, args.run.as_deref(), args.list.after.as_deref())
        .await
    {
        Err(CliError::MissingRoute { .. }) => {
            // The original starter: its peek lists oldest first.
            let mut peek = client.dlq_peek(limit).await?;
            peek.items.reverse();
            if let Some(run) = &args.run {
                peek.items.retain(|record| &record.run_id == run);
                peek.count = peek.items.len();
            }
            peek
        }
        other => other?,
    };
    ctx.printer.result(&list)?;
    if let Some(total) = list.total {
        ctx.printer.shown(list.count, total, list.next.as_deref());
    }
    Ok(ExitStatus::Success)
}
