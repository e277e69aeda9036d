//! The command line as plain data: clap types only. Nothing here talks to a server or reads a file;
//! `settings` resolves these values (URLs, durations, paths) before any command runs.

use clap::parser::ValueSource;
use clap::{Args, CommandFactory, FromArgMatches, Parser, Subcommand, ValueEnum};

use crate::error::{CliError, EXIT_CODES_HELP};

mod bench;
mod server;
mod values;

pub use bench::{BenchBrokerArgs, BenchCommand, BenchLoad};
pub use server::{DataDirArgs, DownArgs, UpArgs, WorkerArgs, WorkerFlags};
use values::{STATUSES, STEPS, Suggest, max_attempts_parser};

/// Parses the command line. An empty environment value means unset (`DQ_JSON= dq health`); a positional
/// that names a subcommand of the plural command (`dq run list`) is a usage error with a "did you mean".
pub fn parse() -> Result<Cli, CliError> {
    let command = ignore_empty_env(Cli::command());
    let args: Vec<String> = std::env::args_os()
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    let matches = command.try_get_matches_from(&args).map_err(|e| {
        did_you_mean(&e, &args)
            .or_else(|| from_env(&e, &args))
            .unwrap_or_else(|| e.exit())
    })?;
    let mut cli = Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.exit());
    cli.global.from_env = ["url", "timeout", "color"]
        .into_iter()
        .filter(|id| matches.value_source(id) == Some(ValueSource::EnvVariable))
        .collect();
    Ok(cli)
}

/// Drops the environment twin of every argument whose variable is set but empty, in every subcommand.
fn ignore_empty_env(command: clap::Command) -> clap::Command {
    let empty = |arg: &clap::Arg| {
        arg.get_env()
            .and_then(std::env::var_os)
            .is_some_and(|value| value.is_empty())
    };
    let names: Vec<String> = command
        .get_subcommands()
        .map(|sub| sub.get_name().to_owned())
        .collect();
    let command = command.mut_args(|arg| if empty(&arg) { arg.env(None) } else { arg });
    names.iter().fold(command, |command, name| {
        command.mut_subcommand(name, ignore_empty_env)
    })
}

/// An invalid value that came from an environment variable, named by it: `DQ_COLOR=purple: …`.
fn from_env(error: &clap::Error, args: &[String]) -> Option<CliError> {
    use clap::error::{ContextKind, ContextValue, ErrorKind};
    if !matches!(
        error.kind(),
        ErrorKind::InvalidValue | ErrorKind::ValueValidation
    ) {
        return None;
    }
    let flag = error.get(ContextKind::InvalidArg)?.to_string();
    let long = flag.split([' ', '=']).next()?.strip_prefix("--")?;
    let command = Cli::command();
    let arg = std::iter::once(&command)
        .chain(command.get_subcommands())
        .flat_map(clap::Command::get_arguments)
        .find(|arg| arg.get_long() == Some(long))?;
    let var = arg.get_env()?.to_string_lossy().into_owned();
    let value = std::env::var(&var).ok()?;
    // On the command line too: the error is the flag's.
    if args
        .iter()
        .any(|a| a == &format!("--{long}") || a.starts_with(&format!("--{long}=")))
    {
        return None;
    }
    let expected = match error.get(ContextKind::ValidValue) {
        Some(ContextValue::Strings(values)) => format!("expected one of {}", values.join(", ")),
        _ if long == "json" || long == "quiet" || long == "yes" => {
            "expected true or false (1/0, yes/no, on/off)".to_owned()
        }
        _ => format!("not a valid value for --{long}"),
    };
    Some(CliError::Usage(format!("{var}={value}: {expected}")))
}

/// `dq run list` → "did you mean `dq runs list`?": the stray positional follows a command whose plural has it
/// as a subcommand.
fn did_you_mean(error: &clap::Error, args: &[String]) -> Option<CliError> {
    if error.kind() != clap::error::ErrorKind::UnknownArgument {
        return None;
    }
    let invalid = error.get(clap::error::ContextKind::InvalidArg)?.to_string();
    let at = args.iter().position(|arg| *arg == invalid)?;
    let command = args.get(at.checked_sub(1)?)?;
    let plural = format!("{command}s");
    Cli::command()
        .find_subcommand(&plural)?
        .find_subcommand(&invalid)?;
    Some(CliError::Usage(format!(
        "unexpected argument '{invalid}': did you mean `dq {plural} {invalid}`?"
    )))
}

/// Drive and inspect runs of a durable job workflow: fail, dead-letter, replay, succeed.
#[derive(Debug, Parser)]
#[command(
    name = "dq",
    version,
    after_help = EXIT_CODES_HELP,
    max_term_width = 100,
    propagate_version = true,
    args_override_self = true
)]
pub struct Cli {
    /// Flags every command understands.
    #[command(flatten)]
    pub global: GlobalArgs,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Flags every command understands, each with an environment twin.
#[derive(Debug, Args)]
#[command(next_help_heading = "Global options")]
pub struct GlobalArgs {
    /// The dq server [default: http://127.0.0.1:8000]
    #[arg(long, env = "DQ_URL", global = true, value_name = "URL")]
    pub url: Option<String>,
    /// Print the result as JSON (one document, or one object per line when streaming)
    #[arg(long, env = "DQ_JSON", global = true, value_parser = clap::builder::BoolishValueParser::new())]
    pub json: bool,
    /// When to use colour; NO_COLOR in the environment means never
    #[arg(long, env = "DQ_COLOR", global = true, value_enum, default_value_t = ColorChoice::Auto)]
    pub color: ColorChoice,
    /// Print only the result: no progress or notes on stderr
    #[arg(short, long, env = "DQ_QUIET", global = true, value_parser = clap::builder::BoolishValueParser::new())]
    pub quiet: bool,
    /// Give up after this long (e.g. 30s, 500ms) and exit 124; one-shot commands stop after 30s by default,
    /// following and waiting ones only with --timeout; 0 means never
    #[arg(long, env = "DQ_TIMEOUT", global = true, value_name = "DURATION")]
    pub timeout: Option<String>,
    /// Answer yes to confirmations (implied when CI is set or stdin is not a terminal)
    #[arg(short = 'y', long, env = "DQ_YES", global = true, value_parser = clap::builder::BoolishValueParser::new())]
    pub yes: bool,
    /// Show times in UTC instead of the local zone
    #[arg(long, env = "DQ_UTC", global = true, value_parser = clap::builder::BoolishValueParser::new())]
    pub utc: bool,
    /// Bearer token sent to the server (and required by `dq up` on a non-loopback address)
    #[arg(
        long,
        env = "DQ_TOKEN",
        global = true,
        hide_env_values = true,
        value_name = "TOKEN"
    )]
    pub token: Option<String>,
    /// Which of `url`, `timeout` and `color` came from their environment variable (for error messages).
    #[arg(skip)]
    pub from_env: Vec<&'static str>,
}

/// `dq up --help`: examples.
const UP_EXAMPLES: &str = "\
Examples:
  dq up --detach                           # in the background; prints the URL once healthy
  dq up --detach --data-dir /tmp/dq        # a throw-away server (stop it: dq down --data-dir /tmp/dq)
  dq up --workers 0                        # no worker: runs wait for `dq worker`
  dq up --listen 0.0.0.0:8000 --token-file token.txt";

/// `dq run --help`: examples.
const RUN_EXAMPLES: &str = "\
Examples:
  dq run --fail tool_call                  # dead-letters after 3 attempts: exit 3
  dq run --input '{\"query\":\"hi\"}'          # succeeds: exit 0
  dq run --detach --fail transform         # prints the run id and returns
  dq run --max-attempts 1 --json           # one attempt; the run's document at the end";

/// `dq events --help`: examples.
const EVENTS_EXAMPLES: &str = "\
Examples:
  dq events                                # the most recent run's timeline
  dq events RUN --follow --until-end       # live, until the run ends (exit 0 / 3)
  dq events RUN --type run.attempt_failed --json
  dq events RUN --since 12                 # only events after seq 12";

/// `dq dlq --help`: examples.
const DLQ_EXAMPLES: &str = "\
Examples:
  dq dlq list                              # runs dead-lettered now, newest first
  dq dlq show                              # the latest record and its payload
  dq dlq show RUN --full                   # the whole payload, even on a terminal
  dq dlq redrive --error tool_call --fix --dry-run";

/// `dq replay --help`: examples.
const REPLAY_EXAMPLES: &str = "\
Examples:
  dq replay --fix                          # the run dead-lettered last, without the failure
  dq replay RUN --fail finalize            # again, failing at another step
  dq replay RUN --fix --set query=hello --detach
  dq replay RUN --fix --force              # supersede a replay still running";

/// `dq runs --help`: examples.
const RUNS_EXAMPLES: &str = "\
Examples:
  dq runs list --status dead_lettered
  dq runs show RUN
  dq runs wait RUN --timeout 2m            # exit 0 succeeded, 3 dead-lettered, 124 timed out";

/// `dq completions --help`: how to install the scripts.
const COMPLETIONS_INSTALL: &str = "\
Install:
  bash  dq completions bash > ~/.local/share/bash-completion/completions/dq
  zsh   dq completions zsh > ~/.zfunc/_dq
        (once, in ~/.zshrc before compinit: fpath=(~/.zfunc $fpath); autoload -U compinit && compinit)
  fish  dq completions fish > ~/.config/fish/completions/dq.fish
Open a new shell afterwards. They complete subcommands, flags, --fail steps and --status values.";

/// `--color`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ColorChoice {
    /// Colour when writing to a terminal.
    Auto,
    /// Always colour (except with --json).
    Always,
    /// Never colour.
    Never,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Start the server: broker, runs API and worker(s) in one process
    #[command(after_help = UP_EXAMPLES)]
    Up(Box<UpArgs>),
    /// Stop a server started with `dq up --detach`
    Down(DownArgs),
    /// Start a run and follow it until it ends (exit 0 succeeded, 3 dead-lettered)
    #[command(after_help = RUN_EXAMPLES)]
    Run(RunArgs),
    /// Show a run's timeline, one line per event
    #[command(alias = "tail", after_help = EVENTS_EXAMPLES)]
    Events(EventsArgs),
    /// Inspect dead-letter records
    #[command(subcommand, after_help = DLQ_EXAMPLES)]
    Dlq(DlqCommand),
    /// Replay a run, with the fix applied or a new failure, and follow it until it ends
    #[command(
        long_about = "Replay a run, with the fix applied or a new failure, and follow it until it ends.\n\n\
        Each replay's input is the run's original input + this replay's overrides (--set, --input): \
        overrides of earlier replays are not carried over unless --keep-overrides is given, which starts \
        from the previous replay's input instead.",
        after_help = REPLAY_EXAMPLES
    )]
    Replay(ReplayArgs),
    /// List runs and show one run's state
    #[command(subcommand, after_help = RUNS_EXAMPLES)]
    Runs(RunsCommand),
    /// List the workflows the server runs and show one's steps and retry policies
    #[command(subcommand)]
    Workflows(WorkflowsCommand),
    /// The 2-minute demo as a checklist: fail, DLQ persisted, replay with the fix, success
    Demo(DemoArgs),
    /// Check that the server and its broker answer
    Health,
    /// Push a debug event into a run's timeline
    Emit(EmitArgs),
    /// Run a worker in this process against the broker of the dq server at --url, or at --broker
    Worker(WorkerArgs),
    /// Load-test a dq server (--url, else an embedded one): runs or /v1 messages per second and latency
    #[command(subcommand)]
    Bench(BenchCommand),
    /// Print a shell completion script
    #[command(after_help = COMPLETIONS_INSTALL)]
    Completions(CompletionsArgs),
}

/// `dq run`.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// Force a failure when this step starts (none, fetch_input, transform, tool_call, finalize)
    #[arg(
        long = "fail",
        value_name = "STEP",
        default_value = "none",
        value_parser = Suggest(&["none", STEPS[0], STEPS[1], STEPS[2], STEPS[3]]),
        hide_possible_values = true
    )]
    pub fail: String,
    /// The run's input: JSON, @FILE, or - for stdin
    #[arg(long, value_name = "JSON")]
    pub input: Option<String>,
    /// The workflow to run
    #[arg(long, default_value = "demo", value_name = "NAME")]
    pub workflow: String,
    /// Attempts before dead-lettering, 1 to 100 (the server's default when absent)
    #[arg(long, value_name = "N", value_parser = max_attempts_parser())]
    pub max_attempts: Option<u32>,
    /// Print the run id and return without following
    #[arg(long)]
    pub detach: bool,
}

/// `dq events`.
#[derive(Debug, Args)]
pub struct EventsArgs {
    /// The run [default: the most recent run]
    pub run: Option<String>,
    /// Keep following new events until Ctrl-C
    #[arg(short, long)]
    pub follow: bool,
    /// Only events of this type (repeatable); * and ? are wildcards, e.g. 'step.*'
    #[arg(long = "type", value_name = "TYPE")]
    pub types: Vec<String>,
    /// Only events whose JSON contains this text
    #[arg(long, value_name = "TEXT")]
    pub grep: Option<String>,
    /// Only events after this sequence number: the number leading each line (`seq` in JSON)
    #[arg(long, value_name = "SEQ")]
    pub since: Option<u64>,
    /// With --follow: stop when the run's current start or replay ends (exit 0 succeeded, 3 dead-lettered)
    #[arg(long, requires = "follow")]
    pub until_end: bool,
}

/// `dq workflows …`.
#[derive(Debug, Subcommand)]
pub enum WorkflowsCommand {
    /// List the workflows: name, where from, steps
    List,
    /// Show one workflow's steps, what each does and how it is retried
    Show(WorkflowsShowArgs),
}

/// `dq workflows show`.
#[derive(Debug, Args)]
pub struct WorkflowsShowArgs {
    /// The workflow
    pub name: String,
}

/// `dq dlq …`.
#[derive(Debug, Subcommand)]
pub enum DlqCommand {
    /// Show a run's latest DLQ record [default: the latest dead-lettered run]
    Show(DlqShowArgs),
    /// List DLQ records, newest first
    List(DlqListArgs),
    /// Replay every matching run that is dead-lettered now, paced; exit 0 only when every replay was accepted
    Redrive(DlqRedriveArgs),
}

/// `dq dlq redrive`.
#[derive(Debug, Args)]
pub struct DlqRedriveArgs {
    /// Only runs whose DLQ error contains this text (case-insensitive)
    #[arg(long, value_name = "TEXT")]
    pub error: Option<String>,
    /// Only runs of this workflow
    #[arg(long, value_name = "NAME")]
    pub workflow: Option<String>,
    /// Only runs dead-lettered within this long (e.g. 1h, 30m)
    #[arg(long, value_name = "DURATION")]
    pub since: Option<String>,
    /// The replays: fix, failure and overrides, as for `dq replay`
    #[command(flatten)]
    pub replay: ReplayBody,
    /// Replays requested per second at most, e.g. 10 or 10/s
    #[arg(long, default_value = "10/s", value_name = "N/s")]
    pub rate: String,
    /// List what would be replayed, replay nothing
    #[arg(long)]
    pub dry_run: bool,
    /// Replay at most this many runs
    #[arg(long, default_value_t = 100, value_name = "N")]
    pub limit: usize,
}

/// `dq dlq list`.
#[derive(Debug, Args)]
pub struct DlqListArgs {
    /// Only this run's record
    #[arg(long, value_name = "RUN")]
    pub run: Option<String>,
    /// Paging.
    #[command(flatten)]
    pub list: ListArgs,
}

/// `dq dlq show`.
#[derive(Debug, Args)]
pub struct DlqShowArgs {
    /// The run
    pub run: Option<String>,
    /// Print the whole payload on a terminal too (there, long strings and payloads are shortened; a pipe and
    /// --json always get all of it)
    #[arg(long)]
    pub full: bool,
}

/// `--limit`, shared by the list commands.
#[derive(Debug, Args)]
pub struct ListArgs {
    /// At most this many
    #[arg(long, default_value_t = 20, value_name = "N")]
    pub limit: usize,
    /// The next page: list what comes after this run (the `next` of a JSON page)
    #[arg(long, value_name = "RUN")]
    pub after: Option<String>,
}

/// `dq replay`.
#[derive(Debug, Args)]
pub struct ReplayArgs {
    /// The run [default: the run dead-lettered last; a picker on a terminal when there are several]
    pub run: Option<String>,
    /// What to replay with.
    #[command(flatten)]
    pub body: ReplayBody,
    /// Print the replay and return without following
    #[arg(long)]
    pub detach: bool,
    /// Replay even while the run or an earlier replay is still queued or running: that one is superseded
    /// (its worker stops at the next step). Without it, such a replay is refused (exit 4)
    #[arg(long)]
    pub force: bool,
    /// Run from this step, reusing the outputs the steps before it have in the run's timeline [default: the
    /// step that failed]
    #[arg(long, value_name = "STEP")]
    pub from: Option<String>,
}

/// What a replay runs with, shared by `dq replay` and `dq dlq redrive`.
#[derive(Debug, Args)]
pub struct ReplayBody {
    /// Apply the fix: replay without the forced failure
    #[arg(long, conflicts_with = "fail")]
    pub fix: bool,
    /// Replay with a forced failure at this step instead (fetch_input, transform, tool_call, finalize)
    #[arg(long, value_name = "STEP", value_parser = Suggest(&STEPS), hide_possible_values = true)]
    pub fail: Option<String>,
    /// Override one input field over the original input (VALUE is JSON, or a string when it is not valid
    /// JSON); repeatable
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub set: Vec<String>,
    /// Input overrides over the original input, as a JSON object, @FILE, or - for stdin
    #[arg(long, value_name = "JSON")]
    pub input: Option<String>,
    /// Start from the previous replay's input (its overrides kept) instead of the original input
    #[arg(long)]
    pub keep_overrides: bool,
    /// Attempts for this replay, 1 to 100 (the run's when absent)
    #[arg(long, value_name = "N", value_parser = max_attempts_parser())]
    pub max_attempts: Option<u32>,
}

/// `dq runs …`.
#[derive(Debug, Subcommand)]
pub enum RunsCommand {
    /// List runs, newest first
    List(RunsListArgs),
    /// Show one run: state, attempts, last error, replays
    Show(RunsShowArgs),
    /// Wait for a run (or one of its replays) to end: exit 0 succeeded, 3 dead-lettered, 124 on --timeout
    Wait(RunsWaitArgs),
}

/// `dq runs wait`.
#[derive(Debug, Args)]
pub struct RunsWaitArgs {
    /// The run
    pub run: String,
    /// Wait for this replay (0: the first start) [default: the run's latest]
    #[arg(long, value_name = "N")]
    pub replay: Option<u64>,
}

/// `dq runs list`.
#[derive(Debug, Args)]
pub struct RunsListArgs {
    /// Only runs in this state (queued, running, retrying, succeeded, dead_lettered; dlq, failed and
    /// dead-lettered mean dead_lettered)
    #[arg(long, value_name = "STATUS", value_parser = Suggest(&STATUSES), hide_possible_values = true)]
    pub status: Option<String>,
    /// Paging.
    #[command(flatten)]
    pub list: ListArgs,
}

/// `dq runs show`.
#[derive(Debug, Args)]
pub struct RunsShowArgs {
    /// The run
    pub run: String,
}

/// `dq demo`.
#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Drop the pretend delays (embedded server only: no step delay, no backoff)
    #[arg(long)]
    pub fast: bool,
}

/// `dq emit`.
#[derive(Debug, Args)]
pub struct EmitArgs {
    /// The run
    pub run: String,
    /// The event: a JSON object, @FILE, or - for stdin
    pub event: String,
}

/// `dq completions`.
#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    /// `--fail` and `--status` offer values to completions but accept others (a custom workflow's steps).
    #[test]
    fn suggested_values_are_not_the_only_ones_accepted() {
        for args in [
            &["dq", "run", "--fail", "my_step"][..],
            &["dq", "replay", "R", "--fail", "my_step"],
            &["dq", "dlq", "redrive", "--fail", "my_step"],
            &["dq", "runs", "list", "--status", "dlq"],
        ] {
            if let Err(e) = Cli::try_parse_from(args) {
                panic!("{args:?}: {e}");
            }
        }
    }

    /// Every example in the help parses as it is written (RUN stands for a run id).
    #[test]
    fn the_help_examples_parse() {
        for examples in [
            UP_EXAMPLES,
            RUN_EXAMPLES,
            EVENTS_EXAMPLES,
            DLQ_EXAMPLES,
            REPLAY_EXAMPLES,
            RUNS_EXAMPLES,
        ] {
            let lines: Vec<&str> = examples
                .lines()
                .filter_map(|l| l.trim().strip_prefix("dq "))
                .collect();
            assert!((2..=4).contains(&lines.len()), "{examples}");
            for line in lines {
                let command = line.split(" # ").next().unwrap_or(line);
                let args = std::iter::once("dq").chain(command.split_whitespace());
                if let Err(e) = Cli::try_parse_from(args) {
                    panic!("`dq {command}` does not parse: {e}");
                }
            }
        }
    }
}
