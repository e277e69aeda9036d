//! `dq events [RUN]` (alias `tail`): a run's timeline, one line per event led by its position in the
//! timeline (`seq`, what `--since` takes), or NDJSON of the events as stored with `--json`, each with `seq` and
//! `replay_seq` added: `seq` is the event's position (for `run.replay_requested`, whose stored `seq` is the
//! replay's number, that number is its `replay_seq`), and `replay_seq` the start or replay it belongs to,
//! folded from the timeline when an old event lacks it. Without `--follow` it prints the events so far (dq's
//! `/timeline`, or the original starter's SSE stream read until it goes quiet); with `--follow` it streams
//! until the server ends it or Ctrl-C, and with `--until-end` until the run's current start or replay ends
//! (exit 0 succeeded, 3 dead-lettered), judged by the follower's [`Tracker`].

use std::time::Duration;

use dq_proto::event::Event;
use dq_proto::fold::RunState;
use dq_proto::runs::RunStatus;
use serde::de::{Deserialize, Deserializer, MapAccess, Visitor};
use serde::ser::{Serialize, SerializeMap, Serializer};
use serde_json::Value;

use crate::cli::EventsArgs;
use crate::client::{Client, Frame};
use crate::commands::Ctx;
use crate::error::{CliError, ExitStatus, Result};
use crate::follow::{Tracker, is_meta, stream_ended};
use crate::output::event_line_at;

/// The original starter's SSE stream never ends: once it has been quiet this long, the backlog is out.
const QUIET: Duration = Duration::from_millis(500);

/// `dq events`.
pub async fn run(args: EventsArgs, ctx: &Ctx) -> Result<ExitStatus> {
    let client = ctx.client()?;
    let run_id = match &args.run {
        Some(run) => run.clone(),
        None => latest_run(&client, ctx).await?,
    };
    let mut filter = Filter::new(&args);
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
            return Err(stream_ended(&client, &run_id).await);
        }
        return Ok(ExitStatus::Success);
    }
    // The whole timeline, so that the fold knows the replay of old events that lack `replay_seq`.
    match client.timeline(&run_id, None).await {
        Ok(timeline) => {
            for item in timeline.events {
                let replay = filter.fold(&item.event);
                if filter.keeps(&item.event, Some(item.seq)) {
                    print_event(ctx, item.seq, replay, &item.event, None)?;
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
    let runs = client.runs(None, 1, None).await?;
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
    /// The run's state so far: the replay of events that do not name theirs.
    state: RunState,
}

impl Filter {
    fn new(args: &EventsArgs) -> Self {
        Self {
            types: args.types.clone(),
            grep: args.grep.clone(),
            since: args.since,
            state: RunState::new(),
        }
    }

    /// Folds the next event in; returns the start or replay it belongs to.
    fn fold(&mut self, event: &Event) -> u64 {
        self.state.apply(event);
        event.replay().unwrap_or(self.state.replay_seq)
    }

    /// Whether an event at `position` passes `--type`, `--grep` and `--since`.
    fn keeps(&self, event: &Event, position: Option<u64>) -> bool {
        if !self.types.is_empty() && !self.types.iter().any(|t| glob(t, event.kind())) {
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
    fn print(&mut self, ctx: &Ctx, frame: &Frame, position: &mut u64) -> Result<()> {
        if is_meta(&frame.event) {
            return Ok(());
        }
        let seq = frame.id.unwrap_or(*position);
        *position += 1;
        let replay = self.fold(&frame.event);
        if self.keeps(&frame.event, Some(seq)) {
            print_event(ctx, seq, replay, &frame.event, Some(&frame.raw))?;
        }
        Ok(())
    }
}

/// Whether `text` matches `pattern`, where `*` is any run of characters and `?` any one character.
fn glob(pattern: &str, text: &str) -> bool {
    let (p, t): (Vec<char>, Vec<char>) = (pattern.chars().collect(), text.chars().collect());
    let (mut pi, mut ti) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some((pi, ti));
            pi += 1;
        } else if let Some((sp, st)) = star {
            pi = sp + 1;
            ti = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == '*')
}

/// Prints one event at timeline position `seq`, of start or replay `replay`.
fn print_event(ctx: &Ctx, seq: u64, replay: u64, event: &Event, raw: Option<&str>) -> Result<()> {
    if !ctx.printer.json() {
        return ctx
            .printer
            .line(&event_line_at(seq, event, ctx.printer.styles()));
    }
    // The fields as received, in their order (the event re-encoded when the text is not an object).
    let stored = raw.and_then(|raw| serde_json::from_str::<Ordered>(raw).ok());
    let mut fields = match stored {
        Some(fields) => fields.0,
        None => serde_json::to_string(event)
            .ok()
            .and_then(|text| serde_json::from_str::<Ordered>(&text).ok())
            .map(|fields| fields.0)
            .unwrap_or_default(),
    };
    fields.retain(|(key, _)| key != "seq" && key != "replay_seq");
    fields.push(("replay_seq".to_owned(), Value::from(replay)));
    fields.push(("seq".to_owned(), Value::from(seq)));
    ctx.printer.json_line(&Ordered(fields))
}

/// A JSON object's fields in their order (`serde_json::Map` sorts them).
struct Ordered(Vec<(String, Value)>);

impl<'de> Deserialize<'de> for Ordered {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> std::result::Result<Self, D::Error> {
        struct Fields;
        impl<'de> Visitor<'de> for Fields {
            type Value = Ordered;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(
                self,
                mut map: A,
            ) -> std::result::Result<Ordered, A::Error> {
                let mut fields = Vec::new();
                while let Some(entry) = map.next_entry::<String, Value>()? {
                    fields.push(entry);
                }
                Ok(Ordered(fields))
            }
        }
        deserializer.deserialize_map(Fields)
    }
}

impl Serialize for Ordered {
    fn serialize<S: Serializer>(&self, serializer: S) -> std::result::Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.0.len()))?;
        for (key, value) in &self.0 {
            map.serialize_entry(key, value)?;
        }
        map.end()
    }
}

#[cfg(test)]
mod tests {
    use super::glob;

    #[test]
    fn type_patterns_glob() {
        assert!(glob("step.*", "step.started"));
        assert!(glob("run.created", "run.created"));
        assert!(glob("*.failed", "step.failed"));
        assert!(glob("step.?nded", "step.ended"));
        assert!(!glob("step.*", "run.created"));
        assert!(!glob("step", "step.started"));
    }
}
