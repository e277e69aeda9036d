//! The errors of dq-runs: [`QueueError`] for anything a broker answered or failed to answer, [`RunsError`] for
//! the runs service and the worker. The HTTP edge maps each [`RunsError`] to one status.
//!
//! A failure that has an error of its own underneath (a transport error, a body that does not decode) keeps it
//! as its `#[source]`, so a caller can look at it; the message names it too, because dq prints an error as one
//! line.

/// A broker call failed.
#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    /// The topic does not exist.
    #[error("topic does not exist: {0}")]
    UnknownTopic(String),
    /// The value is over the broker's size limit.
    #[error("value too large: {0}")]
    TooLarge(String),
    /// The broker refused the request (a 4xx other than the above).
    #[error("rejected by the broker: {0}")]
    Rejected(String),
    /// The broker is unreachable, shutting down, overloaded or failing (5xx, 429, connection errors).
    #[error("broker unavailable: {0}")]
    Unavailable(String),
    /// The broker's storage failed: its disk is full (507) or a write or fsync failed (503); it refuses writes
    /// until it restarts.
    #[error("{message}")]
    Storage {
        /// Whether the disk is full.
        full: bool,
        /// What the broker said.
        message: String,
    },
    /// The broker does not offer this operation (e.g. `GET /v1/read` on the original driftqd; the HTTP queue
    /// then reads by consume, so only a queue without a fallback answers this).
    #[error("not supported by this broker: {0}")]
    Unsupported(&'static str),
    /// The broker answered something this client cannot understand.
    #[error("unexpected answer from the broker: {0}")]
    Protocol(String),
    /// The broker could not be reached, or the connection broke mid-answer (like [`QueueError::Unavailable`],
    /// with the transport's error kept).
    #[error("broker unavailable: {context}: {source}")]
    Transport {
        /// What was being done (e.g. `POST /v1/produce`).
        context: String,
        /// The transport's error.
        #[source]
        source: reqwest::Error,
    },
    /// A message or an answer did not encode or decode as JSON (like [`QueueError::Protocol`], with serde's
    /// error kept).
    #[error("unexpected JSON: {context}: {source}")]
    Json {
        /// What was being encoded or decoded.
        context: String,
        /// serde's error.
        #[source]
        source: serde_json::Error,
    },
}

impl QueueError {
    /// Whether the broker is unreachable, shutting down, overloaded or failing: worth retrying later, and a 503 /
    /// exit 5 to whoever asked.
    pub fn is_unavailable(&self) -> bool {
        matches!(self, Self::Unavailable(_) | Self::Transport { .. })
    }
}

/// A runs-service or worker operation failed.
#[derive(Debug, thiserror::Error)]
pub enum RunsError {
    /// No run with this id.
    #[error("run not found")]
    RunNotFound,
    /// `RunsConfig::max_unfinished` runs are queued or running already: a new one waits until some end.
    #[error("too many unfinished runs ({unfinished}, the limit is {limit}); try again later")]
    TooManyUnfinished {
        /// Runs not finished yet (commands the workers have not settled).
        unfinished: u64,
        /// The limit.
        limit: u64,
    },
    /// The run has no DLQ record.
    #[error("No DLQ record for this run_id")]
    NoDlqRecord,
    /// The workflow is not one the worker knows.
    #[error("unknown workflow {workflow:?}; known workflows: {known}")]
    UnknownWorkflow {
        /// What was asked for.
        workflow: String,
        /// The known workflows, comma-separated.
        known: String,
    },
    /// `fail_at` names no step of the workflow.
    #[error("fail_at {fail_at:?} is not a step of workflow {workflow:?}; valid steps: {steps}")]
    InvalidFailAt {
        /// What was asked for.
        fail_at: String,
        /// The workflow.
        workflow: String,
        /// Its steps, comma-separated.
        steps: String,
    },
    /// A replay's `from` names no step of the workflow.
    #[error("from {from:?} is not a step of workflow {workflow:?}; valid steps: {steps}")]
    InvalidFrom {
        /// What was asked for.
        from: String,
        /// The workflow.
        workflow: String,
        /// Its steps, comma-separated.
        steps: String,
    },
    /// `max_attempts` is outside 1..=[`dq_proto::runs::MAX_ATTEMPTS_LIMIT`]; the message names the bound.
    #[error("{0}")]
    InvalidMaxAttempts(String),
    /// A run id (in a path) breaks the run id rule of [`dq_proto::runs::validate_run_id`].
    #[error("{0}")]
    InvalidRunId(String),
    /// A field of an emitted event has the wrong type.
    #[error("{message}")]
    InvalidEvent {
        /// The field (`ts`, `type` or `run_id`; empty for the event as a whole).
        field: &'static str,
        /// What is wrong with it.
        message: String,
    },
    /// The run's input is over the configured limit.
    #[error("input is {size} bytes, over the limit of {limit} bytes")]
    InputTooLarge {
        /// The serialised input's size.
        size: usize,
        /// The limit.
        limit: usize,
    },
    /// A replay was asked for while the run or an earlier replay is still in flight (and not forced); the
    /// message says which, e.g. "run R is still running (attempt 2/3)".
    #[error("{0}")]
    ReplayInFlight(String),
    /// The broker failed.
    #[error("driftq: {0}")]
    Queue(#[from] QueueError),
}
