//! `dq replay`: replays a run (`POST /runs/{id}/replay`) with the fix applied (`--fix`), a new failure
//! (`--fail STEP`) or its own `fail_at`, optionally with input overrides, and follows the replay until it ends.
//! A replay's input is the run's original input + this replay's overrides (`--keep-overrides`: the previous
//! replay's input + these). Owns the request body, which `dq dlq redrive` shares ([`request`]).
//! Without RUN it takes the run dead-lettered last; on a terminal with several candidates, a picker asks.
//! A run still queued or running is refused by the server (409, exit 4) unless `--force` supersedes it.
//! A replay runs from the step that failed, reusing the outputs of the steps before it; `--from STEP` picks
//! the step (the server checks it against the run's workflow).

use dq_proto::runs::{ReplayRequest, ReplayResponse, RunSummary};
use serde_json::{Map, Value};

use crate::cli::{ReplayArgs, ReplayBody};
use crate::client::Client;
use crate::commands::{Ctx, fail_step, read_object};
use crate::error::{CliError, ExitStatus, Result};
use crate::output::{Render, Styles, format_ts_full};

/// Most candidates the picker offers.
const CANDIDATES: usize = 20;

/// `dq replay --detach`'s document: the server's answer with the replay's number named `replay_seq`, as in
/// every other dq document (`seq` is an event's position in a timeline).
#[derive(Debug, serde::Serialize)]
struct Requested<'a> {
    ok: bool,
    run_id: &'a str,
    replay_seq: u64,
    fail_at: Option<&'a str>,
}

impl<'a> From<&'a ReplayResponse> for Requested<'a> {
    fn from(replay: &'a ReplayResponse) -> Self {
        Self {
            ok: replay.ok,
            run_id: &replay.run_id,
            replay_seq: replay.seq,
            fail_at: replay.fail_at.as_deref(),
        }
    }
}

impl Render for Requested<'_> {
    fn human(&self, _styles: &Styles) -> String {
        format!("{} {}", self.run_id, self.replay_seq)
    }
}

/// `dq replay`.
pub async fn run(args: ReplayArgs, ctx: &Ctx) -> Result<ExitStatus> {
    let body = ReplayRequest {
        force: args.force,
        from: args.from,
        ..request(&args.body)?
    };
    let client = ctx.client()?;
    let run_id = match args.run {
        Some(run) => run,
        None => pick_run(&client, ctx).await?,
    };
    let replay = client.replay(&run_id, &body).await.map_err(|e| match e {
        // The server's "run R is still running (attempt 2/3)", with what to do about it.
        CliError::Rejected {
            status: 409,
            message,
        } => CliError::Rejected {
            status: 409,
            message: format!("{message}; wait for it (dq runs wait {run_id}) or pass --force"),
        },
        other => other,
    })?;
    if args.detach {
        ctx.printer.result(&Requested::from(&replay))?;
        return Ok(ExitStatus::Success);
    }
    ctx.following(Some(&run_id));
    let how = match &replay.fail_at {
        None => "fix applied".to_owned(),
        Some(step) => format!("fail at {step}"),
    };
    ctx.printer.note(&format!(
        "replay {} of run {run_id} requested ({how})",
        replay.seq
    ));
    super::watch::watch(&client, ctx, &run_id, replay.seq).await
}

/// The `POST /runs/{id}/replay` body of `--fix` / `--fail`, the overrides and `--keep-overrides`
/// (shared with `dq dlq redrive`).
pub fn request(body: &ReplayBody) -> Result<ReplayRequest> {
    // The run's workflow (and so its steps) is the server's to know: it checks `--fail` (422, exit 2).
    Ok(ReplayRequest {
        fail_at: if body.fix {
            Some(None)
        } else {
            body.fail.as_deref().map(fail_step)
        },
        input: overrides(body.input.as_deref(), &body.set)?,
        max_attempts: body.max_attempts,
        keep_overrides: body.keep_overrides,
        force: false,
        from: None,
    })
}

/// `--input` merged with each `--set KEY=VALUE`; `None` when there are no overrides.
fn overrides(input: Option<&str>, set: &[String]) -> Result<Option<Map<String, Value>>> {
    let mut map = match input {
        Some(raw) => read_object(raw, "--input")?,
        None => Map::new(),
    };
    for pair in set {
        let (key, value) = pair.split_once('=').ok_or_else(|| {
            CliError::Usage(format!("invalid --set '{pair}': expected KEY=VALUE"))
        })?;
        if key.is_empty() {
            return Err(CliError::Usage(format!(
                "invalid --set '{pair}': empty key"
            )));
        }
        let value = serde_json::from_str(value).unwrap_or_else(|_| Value::String(value.to_owned()));
        map.insert(key.to_owned(), value);
    }
    Ok((!map.is_empty() || input.is_some()).then_some(map))
}

/// The run dead-lettered last (of those dead-lettered now), or the one picked on a terminal when there are
/// several.
async fn pick_run(client: &Client, ctx: &Ctx) -> Result<String> {
    // Only runs dead-lettered now (the server's status); the one dead-lettered last first.
    let mut candidates = client
        .runs(Some("dead_lettered"), CANDIDATES, None)
        .await?
        .runs;
    candidates.sort_by_key(|run| std::cmp::Reverse(run.updated_ms));
    let Some(latest) = candidates.first() else {
        return Err(CliError::Rejected {
            status: 404,
            message: "no dead-lettered run to replay; name one: dq replay RUN".into(),
        });
    };
    // No picker without a person at a terminal, nor with -y or in CI (`yes` covers both).
    if candidates.len() == 1
        || !ctx.settings.terminal.interactive()
        || ctx.settings.yes
        || ctx.printer.json()
    {
        let others = if candidates.len() > 1 {
            format!(
                " (newest of {}; name another: dq replay RUN)",
                candidates.len()
            )
        } else {
            String::new()
        };
        ctx.printer.note(&format!(
            "replaying the latest dead-lettered run {}{others}",
            latest.run_id
        ));
        return Ok(latest.run_id.clone());
    }
    let items: Vec<String> = candidates.iter().map(describe).collect();
    // Shows the cursor again however the picker ends, this future dropped by Ctrl-C included.
    let cursor = CursorShown;
    // On a thread of its own: a Ctrl-C that comes before the picker's raw mode is a SIGINT, which the command's
    // Ctrl-C handling must be free to take (exit 130) while the picker blocks.
    let chosen = tokio::task::spawn_blocking(move || {
        dialoguer::Select::new()
            .with_prompt("replay which dead-lettered run?")
            .items(&items)
            .default(0)
            .interact_opt()
    })
    .await
    .map_err(|e| CliError::failed("the picker", e))?
    .map_err(|e| match e {
        // Ctrl-C arrives as a key in the picker's raw mode: console reports it as an interrupted read.
        dialoguer::Error::IO(e) if e.kind() == std::io::ErrorKind::Interrupted => {
            CliError::Interrupted
        }
        e @ dialoguer::Error::IO(_) => CliError::failed("asking which run", e),
    });
    drop(cursor);
    Ok(candidates[chosen?.ok_or(CliError::Interrupted)?]
        .run_id
        .clone())
}

/// Shows the cursor when dropped: the picker hides it and leaves it hidden on Ctrl-C or Esc.
struct CursorShown;

impl Drop for CursorShown {
    fn drop(&mut self) {
        crate::output::show_cursor();
    }
}

fn describe(run: &RunSummary) -> String {
    format!(
        "{}  {}  {}",
        run.run_id,
        run.last_error.as_deref().unwrap_or("-"),
        format_ts_full(run.updated_ms)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_values_are_json_or_strings() {
        let map = overrides(None, &["n=3".into(), "name=ada".into(), "ok=true".into()])
            .unwrap()
            .unwrap();
        assert_eq!(map["n"], Value::from(3));
        assert_eq!(map["name"], Value::from("ada"));
        assert_eq!(map["ok"], Value::from(true));
        assert_eq!(overrides(None, &[]).unwrap(), None);
        assert!(overrides(None, &["novalue".into()]).is_err());
    }
}
