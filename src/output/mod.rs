//! Everything the CLI prints. A command builds a value and hands it to the [`Printer`], which renders it as
//! JSON (`--json`) or for people ([`Render`]). stdout carries only the result; notes, warnings, spinners and
//! prompts go to stderr, and spinners and progress bars only on a terminal. A closed stdout (`dq events | head`) becomes
//! [`CliError::BrokenPipe`], which exits 0.

mod style;
mod timeline;

use std::io::Write;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde::Serialize;

pub use style::{Styles, Tone};
pub use timeline::{event_line, event_line_at, format_age, format_ts_full, init_zone};

use crate::error::{CliError, Result};
use crate::settings::Settings;

/// A value that also has a human rendering.
pub trait Render: Serialize {
    /// The text printed on stdout without `--json` (no trailing newline needed).
    fn human(&self, styles: &Styles) -> String;
}

/// Prints results to stdout and notes to stderr, following the output contract.
#[derive(Debug, Clone)]
pub struct Printer {
    json: bool,
    quiet: bool,
    out: Styles,
    err: Styles,
    progress: bool,
}

impl Printer {
    /// A printer for these settings.
    pub fn new(settings: &Settings) -> Self {
        Self {
            json: settings.json,
            quiet: settings.quiet,
            out: Styles::new(settings.color_stdout, settings.terminal.stdout),
            err: Styles::new(settings.color_stderr, settings.terminal.stderr),
            progress: settings.terminal.stderr && !settings.quiet,
        }
    }

    /// Whether results are JSON.
    pub fn json(&self) -> bool {
        self.json
    }

    /// The stdout palette.
    pub fn styles(&self) -> &Styles {
        &self.out
    }

    /// Prints the result: one JSON document with `--json`, else its human rendering.
    pub fn result<T: Render>(&self, value: &T) -> Result<()> {
        if self.json {
            let mut doc =
                serde_json::to_value(value).map_err(|e| CliError::failed("encoding json", e))?;
            timeline::add_rfc3339(&mut doc);
            let text = serde_json::to_string_pretty(&doc)
                .map_err(|e| CliError::failed("encoding json", e))?;
            self.line(&text)
        } else {
            self.line(&value.human(&self.out))
        }
    }

    /// Prints one NDJSON line (streaming commands).
    pub fn json_line<T: Serialize + ?Sized>(&self, value: &T) -> Result<()> {
        let text =
            serde_json::to_string(value).map_err(|e| CliError::failed("encoding json", e))?;
        self.line(&text)
    }

    /// Prints one line of result on stdout and flushes it (a live timeline must show at once). A method, though
    /// stdout is the process's, so that all output goes through the printer.
    #[allow(clippy::unused_self)]
    pub fn line(&self, text: &str) -> Result<()> {
        let mut out = std::io::stdout().lock();
        writeln!(out, "{text}")
            .and_then(|()| out.flush())
            .map_err(|e| CliError::io("writing to stdout", e))
    }

    /// A note for people on stderr (not with `-q`).
    pub fn note(&self, text: &str) {
        if !self.quiet {
            stderr_line(text);
        }
    }

    /// Under a cut list, for people: "showing 20 of 25 (use --limit …)" (JSON has `total` and `next`).
    pub fn shown(&self, count: usize, total: usize, next: Option<&str>) {
        if self.json || count >= total {
            return;
        }
        let more = match next {
            Some(next) => format!("use --limit, or --after {next} for the next page"),
            None => "use --limit".to_owned(),
        };
        self.note(&format!("showing {count} of {total} ({more})"));
    }

    /// A warning on stderr (even with `-q`).
    pub fn warn(&self, text: &str) {
        stderr_line(&format!("{} {text}", self.err.warn("warning:")));
    }

    /// A spinner on stderr: drawn only on a terminal and without `-q`, otherwise hidden.
    pub fn spinner(&self, message: impl Into<String>) -> Spinner {
        let bar = if self.progress {
            let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
            bar.set_style(
                ProgressStyle::with_template("{spinner} {msg} {elapsed:.dim}")
                    .unwrap_or_else(|_| ProgressStyle::default_spinner()),
            );
            bar.enable_steady_tick(Duration::from_millis(80));
            bar
        } else {
            ProgressBar::hidden()
        };
        bar.set_message(message.into());
        Spinner { bar }
    }

    /// A progress bar of `len` steps on stderr: drawn only on a terminal and without `-q`, otherwise hidden.
    pub fn progress(&self, len: u64, message: impl Into<String>) -> Spinner {
        let bar = if self.progress {
            let bar = ProgressBar::with_draw_target(Some(len), ProgressDrawTarget::stderr());
            bar.set_style(
                ProgressStyle::with_template("{msg} [{bar:30}] {pos}/{len} {elapsed:.dim}")
                    .unwrap_or_else(|_| ProgressStyle::default_bar())
                    .progress_chars("=> "),
            );
            bar
        } else {
            ProgressBar::hidden()
        };
        bar.set_message(message.into());
        Spinner { bar }
    }
}

/// Writes a line to stderr. A closed stderr is ignored: a server whose log reader went away keeps serving.
pub fn stderr_line(text: &str) {
    let _ = writeln!(std::io::stderr().lock(), "{text}");
}

/// Shows the terminal's cursor again on stderr (after a prompt was interrupted).
pub fn show_cursor() {
    let mut err = std::io::stderr().lock();
    let _ = write!(err, "\x1b[?25h").and_then(|()| err.flush());
}

/// A spinner on stderr; lines printed through it appear above it without tearing.
#[derive(Debug)]
pub struct Spinner {
    bar: ProgressBar,
}

impl Spinner {
    /// Changes the message.
    pub fn set_message(&self, message: impl Into<String>) {
        self.bar.set_message(message.into());
    }

    /// One more step done (progress bars).
    pub fn inc(&self) {
        self.bar.inc(1);
    }

    /// Prints a note on stderr (not with `-q`) while the spinner steps aside.
    pub fn note(&self, printer: &Printer, text: &str) {
        self.bar.suspend(|| printer.note(text));
    }

    /// Prints a result line on stdout while the spinner steps aside.
    pub fn line(&self, printer: &Printer, text: &str) -> Result<()> {
        self.bar.suspend(|| printer.line(text))
    }
}

impl Drop for Spinner {
    fn drop(&mut self) {
        self.bar.finish_and_clear();
    }
}
