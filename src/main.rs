//! `dq`: drive and inspect runs of a durable job workflow. `main` only parses, sets up logging, runs the command
//! and maps its result to an exit code (the policy lives in `error`).

mod cli;
mod client;
mod commands;
mod daemon;
mod duration;
mod embedded;
mod error;
mod follow;
mod output;
mod settings;

use std::process::ExitCode;

// The server answers tens of thousands of small requests a second, each allocating a little; glibc malloc took
// an eighth of its CPU in profiles, mimalloc a fraction of that. The `mimalloc` feature (default) can be switched
// off for a heap profiler, which sees only the system malloc.
#[cfg(feature = "mimalloc")]
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    if commands::version::printed() {
        return ExitCode::SUCCESS;
    }
    let cli = match cli::parse() {
        Ok(cli) => cli,
        Err(err) => {
            output::stderr_line(&format!("error: {err}"));
            return ExitCode::from(err.exit_code());
        }
    };
    // Colour in logs as in everything else on stderr: a terminal, `--color`, `NO_COLOR` (see `Settings`).
    let ansi = settings::Settings::resolve(&cli.global, settings::Terminal::detect())
        .is_ok_and(|settings| settings.color_stderr);
    init_tracing(ansi);
    let json = cli.global.json;
    // Before any thread starts (see `init_zone`).
    output::init_zone(cli.global.utc);
    let code = match commands::main(cli) {
        Ok(status) => status.code(),
        Err(err) => {
            if !matches!(err, error::CliError::BrokenPipe) {
                output::stderr_line(&if json {
                    err.json().to_string()
                } else {
                    format!("error: {err}")
                });
            }
            err.exit_code()
        }
    };
    ExitCode::from(code)
}

/// Logs go to stderr, filtered by `DQ_LOG` (e.g. `DQ_LOG=info`); warnings and errors by default; coloured only
/// when `ansi`. A closed or full stderr loses the logs, never the command.
fn init_tracing(ansi: bool) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("DQ_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(|| LossyStderr)
        .with_ansi(ansi)
        .with_target(false)
        .init();
}

/// stderr for logs, ignoring write errors (`EPIPE`, `ENOSPC`, `EBADF`): a log line is not worth a panic.
struct LossyStderr;

impl std::io::Write for LossyStderr {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let _ = std::io::stderr().write_all(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        let _ = std::io::stderr().flush();
        Ok(())
    }
}
