//! Dispatch only: resolves the global settings, builds the runtime and hands each subcommand its arguments and
//! the shared [`Ctx`]. Every subcommand lives in its own file with one signature,
//! `async fn run(args, &Ctx) -> Result<ExitStatus>`. Client commands are wrapped here once with `--timeout`
//! (exit 124) and Ctrl-C (exit 130); `up`, `down`, `worker`, `bench` and `completions` manage their own lifetime.

mod bench;
mod bench_broker;
mod bench_load;
mod bench_runs;
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
mod watch;
mod worker;
mod workflows;

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
    /// The run being followed, if any: on a timeout or Ctrl-C it continues on the server, and we say so.
    pub followed: std::sync::Mutex<Option<String>>,
}

impl Ctx {
    /// From now on (or `None`: no longer) a timeout or Ctrl-C leaves `run` going on the server: say so then.
    pub fn following(&self, run: Option<&str>) {
        if let Ok(mut following) = self.followed.lock() {
            *following = run.map(str::to_owned);
        }
    }

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
        followed: std::sync::Mutex::new(None),
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
    // One request and its answer: `--timeout` or 30 s by default. Commands that follow or wait: `--timeout` only.
    let (once, wait) = (
        ctx.settings.timeout.one_shot(),
        ctx.settings.timeout.explicit(),
    );
    match command {
        Command::Up(args) => up::run(*args, ctx).await,
        Command::Down(args) => down::run(args, ctx).await,
        Command::Worker(args) => worker::run(args, ctx).await,
        Command::Completions(args) => completions::run(args, ctx).await,
        Command::Bench(args) => bench::run(args, ctx).await,
        Command::Run(args) => {
            let after = if args.detach { once } else { wait };
            guarded(ctx, after, "the run to end", run::run(args, ctx)).await
        }
        Command::Events(args) => {
            let after = if args.follow { wait } else { once };
            guarded(ctx, after, "events", events::run(args, ctx)).await
        }
        Command::Dlq(DlqCommand::Redrive(args)) => {
            guarded(ctx, wait, "the redrive", dlq_redrive::run(args, ctx)).await
        }
        Command::Dlq(args) => guarded(ctx, once, "the server", dlq::run(args, ctx)).await,
        Command::Replay(args) => {
            // Without RUN a picker may ask on a terminal: a person takes the time they need.
            let after = if args.detach && args.run.is_some() {
                once
            } else {
                wait
            };
            guarded(ctx, after, "the replay to end", replay::run(args, ctx)).await
        }
        Command::Runs(RunsCommand::Wait(args)) => {
            guarded(ctx, wait, "the run to end", runs_wait::run(args, ctx)).await
        }
        Command::Runs(args) => guarded(ctx, once, "the server", runs::run(args, ctx)).await,
        Command::Workflows(args) => {
            guarded(ctx, once, "the server", workflows::run(args, ctx)).await
        }
        Command::Demo(args) => demo::run(args, ctx).await,
        Command::Health => guarded(ctx, once, "the server", health::run(ctx)).await,
        Command::Emit(args) => guarded(ctx, once, "the server", emit::run(args, ctx)).await,
    }
}

/// Runs a client command under a timeout (exit 124) and Ctrl-C (exit 130). When either stops the following of
/// a run, the run goes on on the server: the note says how to wait for it.
async fn guarded(
    ctx: &Ctx,
    timeout: Option<Duration>,
    waiting_for: &str,
    command: impl Future<Output = Result<ExitStatus>>,
) -> Result<ExitStatus> {
    let timed = async {
        match timeout {
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
    let result = tokio::select! {
        result = timed => result,
        _ = tokio::signal::ctrl_c() => Err(CliError::Interrupted),
    };
    if let Err(CliError::Timeout { .. } | CliError::Interrupted) = &result
        && let Some(run) = ctx.followed.lock().ok().and_then(|run| run.clone())
    {
        ctx.printer.note(&format!(
            "run {run} continues on the server: dq runs wait {run}"
        ));
    }
    result
}

/// Reads a JSON argument: the text itself, `@FILE`, or `-` for stdin.
fn read_json(raw: &str, what: &str) -> Result<Value> {
    let text = if raw == "-" {
        std::io::read_to_string(std::io::stdin())
            .map_err(|e| CliError::io(format!("reading {what} from stdin"), e))?
    } else if let Some(path) = raw.strip_prefix('@') {
        // A missing or unreadable file is the caller's mistake, caught before any request: a usage error.
        std::fs::read_to_string(path)
            .map_err(|e| CliError::Usage(format!("cannot read {what} file {path}: {e}")))?
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

/// `--fail STEP` checked against the steps of `workflow` when the client knows them (the demo workflow); a
/// workflow it does not know is left to the server.
fn check_fail_step(raw: &str, workflow: &str) -> Result<()> {
    if workflow != dq_proto::runs::DEMO_WORKFLOW {
        return Ok(());
    }
    let steps = dq_proto::runs::DEMO_STEPS;
    match fail_step(raw) {
        Some(step) if !steps.contains(&step.as_str()) => Err(CliError::Usage(format!(
            "unknown step {step}; valid: {}",
            steps.join(", ")
        ))),
        _ => Ok(()),
    }
}
