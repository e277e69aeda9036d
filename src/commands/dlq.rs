//! `dq dlq show [RUN]` and `dq dlq list`: dead-letter records, as a readable summary with the payload, or
//! exactly as stored with `--json`. `show RUN` uses the original starter's route; the defaults and the list use
//! dq's additions (the list falls back to the original's `/debug/dlq/peek`).

use dq_proto::runs::{DlqList, DlqRecord};

use crate::cli::{DlqCommand, DlqListArgs, DlqShowArgs};
use crate::commands::Ctx;
use crate::error::{CliError, ExitStatus, Result};
use crate::output::{Render, Styles, format_age, format_ts_full};

impl Render for DlqRecord {
    fn human(&self, styles: &Styles) -> String {
        let payload = serde_json::to_string_pretty(&self.command).unwrap_or_default();
        [
            format!(
                "{:<9}{} ({})",
                "run",
                styles.accent(&self.run_id),
                self.workflow
            ),
            format!("{:<9}{}/{}", "attempts", self.attempts, self.max_attempts),
            format!("{:<9}{}", "replay", self.replay_seq),
            format!("{:<9}{}", "reason", self.reason),
            format!("{:<9}{}", "error", styles.bad(&self.error)),
            format!("{:<9}{}", "when", format_ts_full(self.ts)),
            styles.bold("payload"),
            payload,
        ]
        .join("\n")
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
    ctx.printer.result(&record)?;
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
