//! `dq dlq redrive`: replays every run that is dead-lettered now and matches the filters. The server filters
//! (`GET /dlq?error=&workflow=&since=&limit=`, which lists only runs dead-lettered now); the CLI asks for one replay per run at `--rate`,
//! with the body `dq replay` builds ([`super::replay::request`]), shows a progress bar on a terminal only, and
//! prints what it replayed (or, with `--dry-run`, would replay). Exit 0 only when every replay was accepted,
//! else 4; the table says which were not and why.

use std::collections::HashSet;

use dq_proto::runs::DlqRecord;
use serde::Serialize;

use crate::cli::DlqRedriveArgs;
use crate::client::DlqQuery;
use crate::commands::Ctx;
use crate::error::{ExitStatus, Result};
use crate::output::{Render, Styles, Tone, format_ts_full};
use crate::settings::Redrive;

/// What a redrive did, or would do with `--dry-run`.
#[derive(Debug, Serialize)]
pub struct Redriven {
    /// Whether nothing was replayed (`--dry-run`).
    pub dry_run: bool,
    /// Matching runs.
    pub count: usize,
    /// Replays the server accepted.
    pub accepted: usize,
    /// One per matching run, newest dead-letter first.
    pub items: Vec<RedriveItem>,
}

/// One matching run.
#[derive(Debug, Serialize)]
pub struct RedriveItem {
    /// The run.
    pub run_id: String,
    /// Its workflow.
    pub workflow: String,
    /// The error it was dead-lettered with.
    pub dlq_error: String,
    /// When it was dead-lettered (unix ms).
    pub dlq_ts: u64,
    /// The replay started (its seq), when accepted.
    pub replay_seq: Option<u64>,
    /// Why the replay was not accepted.
    pub error: Option<String>,
}

impl Render for Redriven {
    fn human(&self, styles: &Styles) -> String {
        if self.items.is_empty() {
            return "no dead-lettered run matches".to_owned();
        }
        let mut table = if self.dry_run {
            styles.table(&["run", "workflow", "dlq error", "dead-lettered", "would"])
        } else {
            styles.table(&["run", "workflow", "dlq error", "dead-lettered", "replay"])
        };
        for item in &self.items {
            let outcome = match (&item.replay_seq, &item.error) {
                _ if self.dry_run => "replay".to_owned(),
                (Some(seq), _) => format!("replay {seq} started"),
                (None, Some(error)) => format!("refused: {error}"),
                (None, None) => "-".to_owned(),
            };
            let tone = if item.error.is_some() && !self.dry_run {
                Tone::Bad
            } else {
                Tone::Plain
            };
            table.add_row(vec![
                item.run_id.clone().into(),
                item.workflow.clone().into(),
                item.dlq_error.clone().into(),
                format_ts_full(item.dlq_ts).into(),
                styles.cell(outcome, tone),
            ]);
        }
        // The outcome is the point: the time and the workflow go first when the terminal is narrow.
        Styles::render_dropping(&table, &[3, 1])
    }
}

/// `dq dlq redrive`.
pub async fn run(args: DlqRedriveArgs, ctx: &Ctx) -> Result<ExitStatus> {
    let pacing = Redrive::resolve(&args)?;
    let body = super::replay::request(&args.replay)?;
    let client = ctx.client()?;
    let query = DlqQuery {
        error: args.error.as_deref(),
        workflow: args.workflow.as_deref(),
        since_ms: pacing.since_ms,
        limit: args.limit,
    };
    let records = client.dlq_search(&query).await?.items;
    let mut items: Vec<RedriveItem> = distinct_runs(records)
        .into_iter()
        .map(|record| RedriveItem {
            run_id: record.run_id,
            workflow: record.workflow,
            dlq_error: record.error,
            dlq_ts: record.ts,
            replay_seq: None,
            error: None,
        })
        .collect();
    if !args.dry_run && !items.is_empty() {
        let bar = ctx.printer.progress(items.len() as u64, "replaying");
        let mut pace = tokio::time::interval(pacing.interval);
        pace.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        for item in &mut items {
            pace.tick().await;
            match client.replay(&item.run_id, &body).await {
                Ok(replay) => item.replay_seq = Some(replay.seq),
                Err(err) => item.error = Some(err.to_string()),
            }
            bar.inc();
        }
    }
    let accepted = items.iter().filter(|i| i.replay_seq.is_some()).count();
    let report = Redriven {
        dry_run: args.dry_run,
        count: items.len(),
        accepted,
        items,
    };
    ctx.printer.result(&report)?;
    if report.dry_run {
        ctx.printer.note(&format!(
            "{} run(s) would be replayed; run again without --dry-run to replay them",
            report.count
        ));
        return Ok(ExitStatus::Success);
    }
    if accepted == report.count {
        if report.count > 0 {
            ctx.printer.note(&format!(
                "{accepted} replay(s) started; follow one with dq runs wait RUN"
            ));
        }
        Ok(ExitStatus::Success)
    } else {
        ctx.printer.warn(&format!(
            "{} of {} replay(s) were not accepted",
            report.count - accepted,
            report.count
        ));
        Ok(ExitStatus::Rejected)
    }
}

/// The first (newest) record of each run.
fn distinct_runs(records: Vec<DlqRecord>) -> Vec<DlqRecord> {
    let mut seen = HashSet::new();
    records
        .into_iter()
        .filter(|record| seen.insert(record.run_id.clone()))
        .collect()
}
