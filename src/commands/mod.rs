//! Dispatch only: resolves the global settings, builds the runtime and hands each subcommand its arguments and
//! the shared [`Ctx`]. Every subcommand lives in its own file with one signature,
//! `async fn run(args, &Ctx) -> Result<ExitStatus>`. Client commands are wrapped here once with `--timeout`
//! (exit 124) and Ctrl-C (exit 130); `up`, `down`, `worker` and `completions` manage their own lifetime.

mod completions;
mod demo;
mod dlq;
mod dlq_redrive;
mod down;
mod emit;
mod events;
mod health;
mod replay;
mod run;
mod runs;
mod runs_wait;
mod up;
pub mod version;
mod worker;

use std::future::Future;
use std::time::Duration;

use serde_json::{Map, Value};

use crate::cli::{Cli, Command, DlqCommand, RunsCommand};
use crate::client::Client;
use crate::error::{CliError, ExitStatus, Result};
use crate::output::Printer;
use crate::settings::{Settings, Terminal};

/// What every command gets: the resolved settings and the printer.
#[derive(Debug)]
pub struct Ctx {
    /// Global settings.
    pub settings: Settings,
    /// Output.
    pub printer: Printer,
}

impl Ctx {
    /// A client of `--url` / `DQ_URL`.
    pub fn client(&self) -> Result<Client> {
        Client::new(self.settings.url.clone(), self.settings.token.as_deref())
    }
}

/// Runs the parsed command line to its exit status.
pub fn main(cli: Cli) -> Result<ExitStatus> {
    let settings = Settings::resolve(&cli.global, Terminal::detect())?;
    let ctx = Ctx {
        printer: Printer::new(&settings),
        settings,
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| CliError::io("starting the async runtime", e))?;
    let result = runtime.block_on(dispatch(cli.command, &ctx));
    // A server that did not stop in time must not hold the process open.
    runtime.shutdown_timeout(Duration::from_millis(500));
    result
}

async fn dispatch(command: Command, ctx: &Ctx) -> Result<ExitStatus> {
    match command {
        Command::Up(args) => up::run(*args, ctx).await,
        Command::Down(args) => down::run(args, ctx).await,
        Command::Worker(args) => worker::run(args, ctx).await,
        Command::Completions(args) => completions::run(args, ctx).await,
        Command::Run(args) => guarded(ctx, "the run to end", run::run(args, ctx)).await,
        Command::Events(args) => guarded(ctx, "events", events::run(args, ctx)).await,
        Command::Dlq(DlqCommand::Redrive(args)) => {
            guarded(ctx, "the redrive", dlq_redrive::run(args, ctx)).await
        }
        Command::Dlq(args) => guarded(ctx, "the server", dlq::run(args, ctx)).await,
        Command::Replay(args) => guarded(ctx, "the replay to end", replay::run(args, ctx)).await,
        Command::Runs(RunsCommand::Wait(args)) => {
            guarded(ctx, "the run to end", runs_wait::run(args, ctx)).await
        }
        Command::Runs(args) => guarded(ctx, "the server", runs::run(args, ctx)).await,
        Command::Demo(args) => demo::run(args, ctx).await,
        Command::Health => guarded(ctx, "the server", health::run(ctx)).await,
        Command::Emit(args) => guarded(ctx, "the server", emit::run(args, ctx)).await,
    }
}

/// Runs a client command under `--timeout` (exit 124) and Ctrl-C (exit 130).
async fn guarded(
    ctx: &Ctx,
    waiting_for: &str,
    command: impl Future<Output = Result<ExitStatus>>,
) -> Result<ExitStatus> {
    let timed = async {
        match ctx.settings.timeout {
            Some(after) => tokio::time::timeout(after, command)
                .await
                .unwrap_or_else(|_| {
                    Err(CliError::Timeout {
                        after,
                        what: waiting_for.to_owned(),
                    })
                }),
            None => command.await,
        }
    };
    tokio::select! {
        result = timed => result,
        _ = tokio::signal::ctrl_c() => Err(CliError::Interrupted),
    }
}

/// Reads a JSON argument: the text itself, `@FILE`, or `-` for stdin.
fn read_json(raw: &str, what: &str) -> Result<Value> {
    let text = if raw == "-" {
        std::io::read_to_string(std::io::stdin())
            .map_err(|e| CliError::io(format!("reading {what} from stdin"), e))?
    } else if let Some(path) = raw.strip_prefix('@') {
        std::fs::read_to_string(path)
            .map_err(|e| CliError::io(format!("reading {what} from {path}"), e))?
    } else {
        raw.to_owned()
    };
    serde_json::from_str(&text)
        .map_err(|e| CliError::Usage(format!("{what} is not valid JSON: {e}")))
}

/// Reads a JSON object argument (see [`read_json`]).
fn read_object(raw: &str, what: &str) -> Result<Map<String, Value>> {
    match read_json(raw, what)? {
        Value::Object(map) => Ok(map),
        other => Err(CliError::Usage(format!(
            "{what} must be a JSON object, not {}",
            kind_of(&other)
        ))),
    }
}

fn kind_of(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// `"none"` means no forced failure.
fn fail_step(raw: &str) -> Option<String> {
    (raw != "none" && !raw.is_empty()).then(|| raw.to_owned())
}
