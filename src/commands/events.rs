//! `dq events [RUN]` (alias `tail`): a run's timeline, one line per event, or NDJSON of the events as stored
//! with `--json`. Without `--follow` it prints the events so far (dq's `/timeline`, or the original starter's
//! SSE stream read until it goes quiet); with `--follow` it streams until the server ends it or Ctrl-C, and with
//! `--until-end` until the run's current start or replay ends (exit 0 succeeded, 3 dead-lettered), judged by
//! the follower's [`Tracker`].

use std::time::Duration;

use dq_proto::runs::{Event, RunStatus};

use crate::cli::EventsArgs;
use crate::client::{Client, Frame};
use crate::commands::Ctx;
use crate::error::{CliError, ExitStatus, Result};
use crate::follow::{Tracker, is_meta};
use crate::output::event_line;

/// The original starter's SSE stream never ends: once it has been quiet this long, the backlog is out.
const QUIET: Duration = Duration::from_millis(500);

/// `dq events`.
pub async fn run(args: EventsArgs, ctx: &Ctx) -> Result<ExitStatus> {
    let client = ctx.client()?;
    let run_id = match &args.run {
        Some(run) => run.clone(),
        None => latest_run(&client, ctx).await?,
    };
    let filter = Filter::new(&args);
    if args.follow {
        let mut tracker = if args.until_end {
            Some(Tracker::new(
                &run_id,
                current_replay(&client, &run_id).await?,
            ))
        } else {
            None
        };
        // Until the end: the tracker needs the whole timeline; `--since` only filters what is printed.
        let resume = if tracker.is_some() { None } else { args.since };
        let mut stream = client.events(&run_id, resume).await?;
        let mut position = 0u64;
        while let Some(frame) = stream.next().await? {
            filter.print(ctx, &frame, &mut position)?;
            if let Some(tracker) = &mut tracker
                && !is_meta(&frame.event)
            {
                tracker.observe(&frame.event);
                if let Some(outcome) = tracker.outcome() {
                    return Ok(if outcome.status == RunStatus::Succeeded {
                        ExitStatus::Success
                    } else {
                        ExitStatus::RunFailed
                    });
                }
            }
        }
        if tracker.is_some() {
            return Err(CliError::Unreachable {
                url: client.base().to_string(),
                reason: format!("the event stream of run {run_id} ended before the run did"),
            });
        }
        return Ok(ExitStatus::Success);
    }
    match client.timeline(&run_id, args.since).await {
        Ok(timeline) => {
            for item in timeline.events {
                if filter.keeps(&item.event, None) {
                    print_event(ctx, &item.event, None)?;
                }
            }
        }
        Err(CliError::MissingRoute { .. }) => {
            // The original starter: read the SSE backlog until the stream goes quiet.
            let mut stream = client.events(&run_id, args.since).await?;
            let mut position = 0u64;
            while let Ok(next) = tokio::time::timeout(QUIET, stream.next()).await {
                let Some(frame) = next? else { break };
                filter.print(ctx, &frame, &mut position)?;
            }
        }
        Err(err) => return Err(err),
    }
    Ok(ExitStatus::Success)
}

/// The replay the run is on (0: its first start); 0 on the original starter, which cannot say.
async fn current_replay(client: &Client, run_id: &str) -> Result<u64> {
    match client.run(run_id).await {
        Ok(detail) => Ok(detail.summary.replay_seq),
        Err(CliError::MissingRoute { .. }) => Ok(0),
        Err(err) => Err(err),
    }
}

async fn latest_run(client: &Client, ctx: &Ctx) -> Result<String> {
    let runs = client.runs(None, 1).await?;
    let run = runs
        .runs
        .into_iter()
        .next()
        .ok_or_else(|| CliError::Rejected {
            status: 404,
            message: "no runs yet; start one with `dq run`".into(),
        })?;
    ctx.printer
        .note(&format!("events of the most recent run {}", run.run_id));
    Ok(run.run_id)
}

struct Filter {
    types: Vec<String>,
    grep: Option<String>,
    since: Option<u64>,
}

impl Filter {
    fn new(args: &EventsArgs) -> Self {
        Self {
            types: args.types.clone(),
            grep: args.grep.clone(),
            since: args.since,
        }
    }

    /// Whether an event passes `--type`, `--grep` and (for streams without ids) `--since`.
    fn keeps(&self, event: &Event, position: Option<u64>) -> bool {
        if !self.types.is_empty() && !self.types.contains(&event.kind) {
            return false;
        }
        if let (Some(since), Some(position)) = (self.since, position)
            && position <= since
        {
            return false;
        }
        match &self.grep {
            Some(text) => {
                serde_json::to_string(event).is_ok_and(|json| json.contains(text.as_str()))
            }
            None => true,
        }
    }

    /// Prints one streamed frame if it passes; `position` counts stored events for streams without ids.
    fn print(&self, ctx: &Ctx, frame: &Frame, position: &mut u64) -> Result<()> {
        if is_meta(&frame.event) {
            return Ok(());
        }
        let seq = frame.id.unwrap_or(*position);
        *position += 1;
        // Ids are timeline seqs; positions count the same events: `--since` applies to either.
        let position = Some(seq);
        if self.keeps(&frame.event, position) {
            print_event(ctx, &frame.event, Some(&frame.raw))?;
        }
        Ok(())
    }
}

fn print_event(ctx: &Ctx, event: &Event, raw: Option<&str>) -> Result<()> {
    if ctx.printer.json() {
        match raw {
            Some(raw) if !raw.contains('\n') => ctx.printer.line(raw),
            _ => ctx.printer.json_line(event),
        }
    } else {
        ctx.printer.line(&event_line(event, ctx.printer.styles()))
    }
}
