//! `dq completions SHELL`: prints the completion script generated from the clap definition. The scripts checked
//! in under `completions/` are this output; a test fails when they drift.

use clap::CommandFactory;

use crate::cli::{Cli, CompletionsArgs};
use crate::commands::Ctx;
use crate::error::{CliError, ExitStatus, Result};

/// `dq completions`.
pub async fn run(args: CompletionsArgs, ctx: &Ctx) -> Result<ExitStatus> {
    let mut script = Vec::new();
    clap_complete::generate(args.shell, &mut Cli::command(), "dq", &mut script);
    let script = String::from_utf8(script)
        .map_err(|e| CliError::failed("completion script is not utf-8", e))?;
    ctx.printer.line(script.trim_end())?;
    Ok(ExitStatus::Success)
}
