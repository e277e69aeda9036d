//! The broker's error type. Each error has a kind that the HTTP edge maps to a status and a DriftQ error code.

/// What went wrong, coarsely: the HTTP edge maps each kind to one status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// Bad input (400).
    InvalidArgument,
    /// The named thing does not exist where the route names it (404), e.g. deleting an unknown topic.
    NotFound,
    /// Conflicts with current state, e.g. not the lease owner (409).
    FailedPrecondition,
    /// Over a size limit (413).
    TooLarge,
    /// A limit was reached; retry later (429).
    Exhausted,
    /// The broker is shutting down (503).
    Unavailable,
    /// Storage failed (500).
    Internal,
}

/// A broker error. Messages are lowercase fragments with context.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Bad input.
    #[error("{0}")]
    InvalidArgument(String),
    /// The topic does not exist.
    #[error("topic does not exist (create it first)")]
    UnknownTopic(String),
    /// The topic a request addresses by name (e.g. `DELETE /v1/topics/{name}`) does not exist. Unlike
    /// [`Error::UnknownTopic`] (a bad field of a produce or consume: 400), the topic is the resource here: 404.
    #[error("topic {0:?} does not exist")]
    TopicNotFound(String),
    /// The request's owner is not the lease holder.
    #[error("not owner")]
    NotOwner,
    /// The message is not in flight (never delivered, already acked, or expired and redelivered).
    #[error("message is not in-flight")]
    NotInFlight,
    /// The value is over the size limit.
    #[error("value is {size} bytes, over the limit of {limit} bytes")]
    TooLarge {
        /// The value's size.
        size: usize,
        /// The limit.
        limit: usize,
    },
    /// A limit was reached.
    #[error("{message}")]
    Exhausted {
        /// A readable explanation.
        message: String,
        /// A short machine reason, e.g. `backlog_full`.
        reason: String,
        /// When to retry.
        retry_after_ms: u64,
    },
    /// The broker is shutting down.
    #[error("broker is shutting down")]
    ShuttingDown,
    /// Storage failed.
    #[error("storage: {0}")]
    Storage(#[from] fjall::Error),
}

impl Error {
    /// The coarse kind of this error.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Self::InvalidArgument(_) | Self::UnknownTopic(_) | Self::NotInFlight => {
                ErrorKind::InvalidArgument
            }
            Self::TopicNotFound(_) => ErrorKind::NotFound,
            Self::NotOwner => ErrorKind::FailedPrecondition,
            Self::TooLarge { .. } => ErrorKind::TooLarge,
            Self::Exhausted { .. } => ErrorKind::Exhausted,
            Self::ShuttingDown => ErrorKind::Unavailable,
            Self::Storage(_) => ErrorKind::Internal,
        }
    }
}
