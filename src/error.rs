//! Failures of the CLI and the exit codes they map to. This module is the only place that knows exit code
//! numbers: commands return [`ExitStatus`] for outcomes they report and [`CliError`] for failures, and `main`
//! turns either into a process exit code through [`ExitStatus::code`] and [`CliError::exit_code`].

use std::io;
use std::time::Duration;

/// The exit codes, as shown at the end of `dq --help` and in the README.
pub const EXIT_CODES_HELP: &str = "\
Exit codes:
  0    ok
  1    unexpected error
  2    usage error
  3    the run ended failed / dead-lettered
  4    not found or rejected by the server (4xx), or not a dq server
  5    server unreachable or 5xx
  124  timed out (--timeout; one-shot commands after 30s by default)
  130  interrupted (Ctrl-C)";

/// What a command reports when it did its job: whether the thing it watched went well.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitStatus {
    /// Exit 0.
    Success,
    /// Exit 3: the run (or the demo) ended failed or dead-lettered.
    RunFailed,
    /// Exit 4: the server refused some of what was asked (`dq dlq redrive`: a replay not accepted).
    Rejected,
}

impl ExitStatus {
    /// The process exit code.
    pub fn code(self) -> u8 {
        match self {
            Self::Success => 0,
            Self::RunFailed => 3,
            Self::Rejected => 4,
        }
    }
}

/// Everything that makes a command fail.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// A flag, argument or environment value is invalid (exit 2).
    #[error("{0}")]
    Usage(String),
    /// The server answered 4xx (exit 4): unknown run, invalid body, missing token…
    #[error("{message}")]
    Rejected {
        /// The HTTP status.
        status: u16,
        /// What the server said, with context.
        message: String,
    },
    /// The server lacks a route that is one of dq's additions to the starter API (exit 4).
    #[error(
        "the server at {url} lacks {route}, one of dq's additions to the starter API \
         (is it the original starter? `dq up` starts a dq server)"
    )]
    MissingRoute {
        /// The base URL.
        url: String,
        /// Method and path.
        route: String,
    },
    /// Something answered at the URL, but not as a dq server does (exit 4).
    #[error("{url} is not a dq server: {why}")]
    NotDq {
        /// The base URL.
        url: String,
        /// What it answered instead.
        why: String,
    },
    /// The server could not be reached (exit 5).
    #[error("cannot reach the server at {url}: {reason}; start one with `dq up --detach`")]
    Unreachable {
        /// The base URL tried.
        url: String,
        /// Why, in a few words.
        reason: String,
    },
    /// The server ended a run's event stream before the run ended, again and again, though it answers (exit 5):
    /// it cannot follow the run. `why` is what it answered when asked for the timeline instead, if it failed.
    #[error("the server at {url} ended the event stream of run {run_id} before the run did{why}")]
    StreamEnded {
        /// The base URL.
        url: String,
        /// The run followed.
        run_id: String,
        /// `"; GET /runs/R/timeline: …"`, or empty.
        why: String,
    },
    /// The server answered 5xx (exit 5).
    #[error("server error {status}: {message}")]
    ServerFailed {
        /// The HTTP status.
        status: u16,
        /// What the server said.
        message: String,
    },
    /// `--timeout` elapsed while waiting (exit 124).
    #[error("timed out after {} waiting for {what}", crate::duration::format_duration(*.after))]
    Timeout {
        /// The timeout that elapsed.
        after: Duration,
        /// What was being waited for.
        what: String,
    },
    /// Ctrl-C (exit 130).
    #[error("interrupted")]
    Interrupted,
    /// stdout was closed by its reader (`dq events | head`): not a failure, exit 0.
    #[error("broken pipe")]
    BrokenPipe,
    /// Anything else, said in words (exit 1).
    #[error("{0}")]
    Unexpected(String),
    /// Anything else, with the error that caused it kept as its source (exit 1).
    #[error("{context}: {source}")]
    Failed {
        /// What was being done.
        context: String,
        /// What went wrong.
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// Local I/O failed (exit 1).
    #[error("{context}: {source}")]
    Io {
        /// What was being done.
        context: String,
        /// The I/O error.
        source: io::Error,
    },
    /// The standalone worker failed (exit 5 when its broker is unreachable, else 1).
    #[error("worker: {0}")]
    Worker(#[from] dq_runs::RunsError),
    /// The embedded server failed (exit 1).
    #[error("server: {0}")]
    Server(#[from] dq_server::ServerError),
}

impl CliError {
    /// The process exit code for this failure.
    pub fn exit_code(&self) -> u8 {
        match self {
            Self::BrokenPipe => 0,
            Self::Worker(dq_runs::RunsError::Queue(e))
                if e.is_unavailable() || matches!(e, dq_runs::QueueError::Storage { .. }) =>
            {
                5
            }
            Self::Unexpected(_)
            | Self::Failed { .. }
            | Self::Io { .. }
            | Self::Server(_)
            | Self::Worker(_) => 1,
            Self::Usage(_) => 2,
            Self::Rejected { .. } | Self::MissingRoute { .. } | Self::NotDq { .. } => 4,
            Self::Unreachable { .. } | Self::StreamEnded { .. } | Self::ServerFailed { .. } => 5,
            Self::Timeout { .. } => 124,
            Self::Interrupted => 130,
        }
    }

    /// The error as printed on stderr with `--json`: `{"error": {"code": EXIT CODE, "message": …}}`, with the
    /// HTTP status as `status` when the server answered one.
    pub fn json(&self) -> serde_json::Value {
        let mut error = serde_json::json!({
            "code": self.exit_code(),
            "message": self.to_string(),
        });
        if let Self::Rejected { status, .. } | Self::ServerFailed { status, .. } = self {
            error["status"] = serde_json::Value::from(*status);
        }
        serde_json::json!({ "error": error })
    }

    /// Wraps an error with what was being done, keeping it as the source.
    pub fn failed(
        context: impl Into<String>,
        source: impl Into<Box<dyn std::error::Error + Send + Sync>>,
    ) -> Self {
        Self::Failed {
            context: context.into(),
            source: source.into(),
        }
    }

    /// Wraps an I/O error with what was being done; a broken pipe becomes [`CliError::BrokenPipe`].
    pub fn io(context: impl Into<String>, source: io::Error) -> Self {
        if source.kind() == io::ErrorKind::BrokenPipe {
            Self::BrokenPipe
        } else {
            Self::Io {
                context: context.into(),
                source,
            }
        }
    }
}

/// The result type of the CLI.
pub type Result<T, E = CliError> = std::result::Result<T, E>;
