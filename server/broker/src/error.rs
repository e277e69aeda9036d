//! The broker's error type. Each error has a kind that the HTTP edge maps to a status and a DriftQ error code.
//! Also the classification of a failed write ([`StorageFailure`]): fjall poisons its database on the first
//! failed journal write, fsync or background flush, so such an error is not one request's problem but the
//! store's, and callers are told why in words (disk full, too many open files, I/O error) rather than fjall's.

use std::path::{Path, PathBuf};

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
    /// A write failed because the disk is full; the store refuses writes until a restart (507).
    StorageFull,
    /// A write or fsync failed otherwise (too many open files, I/O error); the store refuses writes until a
    /// restart (503, retry after the restart).
    StorageFailed,
    /// Storage failed to read, or a stored record is corrupt (500).
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
        /// The value's size, in bytes.
        size: usize,
        /// [`Config::max_value_bytes`](crate::Config::max_value_bytes).
        limit: usize,
    },
    /// A batch (`Broker::produce_batch`, `Broker::ack_batch`) holds more items than the broker takes at once.
    #[error("a batch of {count} items is over the limit of {limit} per request")]
    BatchTooLarge {
        /// Items in the batch.
        count: usize,
        /// The limit ([`crate::MAX_BATCH`]).
        limit: usize,
    },
    /// One message of a produce batch was refused (and with it the batch): `index` is its place in the batch.
    #[error("messages[{index}]: {source}")]
    InBatch {
        /// The message's index in the batch.
        index: usize,
        /// Why it was refused.
        source: Box<Error>,
    },
    /// A limit was reached.
    #[error("{message}")]
    Exhausted {
        /// A readable explanation.
        message: String,
        /// A short machine reason, e.g. `backlog_full`.
        reason: String,
        /// How long to wait before retrying, in ms (the answer's `Retry-After`, rounded up to seconds).
        retry_after_ms: u64,
    },
    /// The broker is shutting down.
    #[error("broker is shutting down")]
    ShuttingDown,
    /// Storage failed (a read, or a corrupt record).
    #[error("storage: {0}")]
    Storage(#[from] fjall::Error),
    /// A write failed and the store refuses every write from now on (fjall is poisoned): the process must
    /// restart, which replays the journal. Every write acknowledged before stays durable.
    #[error(
        "{0}; this write was not stored, acknowledged writes are safe, and dq stops to be restarted"
    )]
    StorageFailed(StorageFailure),
}

impl Error {
    /// The store's directory is locked by another process (another broker has it open).
    pub fn is_locked(&self) -> bool {
        matches!(self, Self::Storage(fjall::Error::Locked))
    }

    /// The coarse kind of this error.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Self::InvalidArgument(_) | Self::UnknownTopic(_) | Self::NotInFlight => {
                ErrorKind::InvalidArgument
            }
            Self::TopicNotFound(_) => ErrorKind::NotFound,
            Self::NotOwner => ErrorKind::FailedPrecondition,
            Self::TooLarge { .. } | Self::BatchTooLarge { .. } => ErrorKind::TooLarge,
            Self::InBatch { source, .. } => source.kind(),
            Self::Exhausted { .. } => ErrorKind::Exhausted,
            Self::ShuttingDown => ErrorKind::Unavailable,
            Self::Storage(_) => ErrorKind::Internal,
            Self::StorageFailed(failure) => match failure.cause {
                StorageCause::DiskFull => ErrorKind::StorageFull,
                StorageCause::TooManyFiles | StorageCause::Io => ErrorKind::StorageFailed,
            },
        }
    }

    /// The storage failure behind this error, if it is one.
    pub fn storage_failure(&self) -> Option<&StorageFailure> {
        match self {
            Self::StorageFailed(failure) => Some(failure),
            Self::InBatch { source, .. } => source.storage_failure(),
            _ => None,
        }
    }
}

/// Why the store stopped taking writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StorageCause {
    /// No space left on the device (`ENOSPC`) or over a disk quota (`EDQUOT`).
    DiskFull,
    /// The process or the system is out of file descriptors (`EMFILE`, `ENFILE`).
    TooManyFiles,
    /// Any other failed write or fsync (e.g. `EIO`), or a background flush that failed for a reason not known.
    Io,
}

/// A failed write that stopped the store: why, where, and the underlying error's text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("storage failed: {} in {}: {detail}", self.cause.describe(), self.dir.display())]
pub struct StorageFailure {
    /// Why: a full disk, too many open files, or another I/O failure.
    pub cause: StorageCause,
    /// The broker's data dir, whose file system failed.
    pub dir: PathBuf,
    /// What the OS (or fjall, when no OS error is known) said.
    pub detail: String,
}

/// `ENFILE`, `EMFILE`, `ENOSPC` and `EDQUOT` on Linux (the numbers `std::io::ErrorKind` does not name stably).
const ENFILE: i32 = 23;
const EMFILE: i32 = 24;
const ENOSPC: i32 = 28;
const EDQUOT: i32 = 122;

impl StorageCause {
    /// A few words for messages: "disk full", "too many open files", "i/o error".
    pub fn describe(self) -> &'static str {
        match self {
            Self::DiskFull => "disk full",
            Self::TooManyFiles => "too many open files",
            Self::Io => "i/o error",
        }
    }

    /// A short machine reason for error bodies: `disk_full`, `too_many_open_files`, `storage_failed`.
    pub fn reason(self) -> &'static str {
        match self {
            Self::DiskFull => "disk_full",
            Self::TooManyFiles => "too_many_open_files",
            Self::Io => "storage_failed",
        }
    }

    /// What an operator should do before restarting.
    pub fn advice(self) -> &'static str {
        match self {
            Self::DiskFull => "restart when space is free",
            Self::TooManyFiles => {
                "raise the open-file limit (ulimit -n) or close connections, then restart"
            }
            Self::Io => "check the disk and the log, then restart",
        }
    }

    /// The cause of an I/O error.
    pub fn of_io(error: &std::io::Error) -> Self {
        match error.raw_os_error() {
            Some(ENOSPC | EDQUOT) => Self::DiskFull,
            Some(EMFILE | ENFILE) => Self::TooManyFiles,
            _ if error.kind() == std::io::ErrorKind::StorageFull => Self::DiskFull,
            _ => Self::Io,
        }
    }
}

impl StorageFailure {
    /// Classifies a fjall error from a write or fsync in `dir`: the first I/O error in its chain of sources
    /// decides (fjall wraps lsm-tree's errors, which wrap the OS's).
    pub fn of_fjall(dir: &Path, error: &fjall::Error) -> Self {
        let mut source: Option<&(dyn std::error::Error + 'static)> = Some(error);
        while let Some(current) = source {
            if let Some(io) = current.downcast_ref::<std::io::Error>() {
                return Self {
                    cause: StorageCause::of_io(io),
                    dir: dir.to_owned(),
                    detail: io.to_string(),
                };
            }
            source = current.source();
        }
        Self {
            cause: StorageCause::Io,
            dir: dir.to_owned(),
            detail: error.to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::io;

    use super::*;

    fn os(code: i32) -> fjall::Error {
        fjall::Error::Io(io::Error::from_raw_os_error(code))
    }

    #[test]
    fn write_errors_are_classified_by_their_os_error() {
        let dir = Path::new("/data");
        let cause = |e: &fjall::Error| StorageFailure::of_fjall(dir, e).cause;
        assert_eq!(cause(&os(ENOSPC)), StorageCause::DiskFull);
        assert_eq!(cause(&os(EDQUOT)), StorageCause::DiskFull);
        assert_eq!(
            cause(&fjall::Error::Io(io::Error::from(
                io::ErrorKind::StorageFull
            ))),
            StorageCause::DiskFull
        );
        assert_eq!(cause(&os(EMFILE)), StorageCause::TooManyFiles);
        assert_eq!(cause(&os(ENFILE)), StorageCause::TooManyFiles);
        // EIO, as an fsync reports a lost write.
        assert_eq!(cause(&os(5)), StorageCause::Io);
        assert_eq!(cause(&fjall::Error::Poisoned), StorageCause::Io);
    }

    #[test]
    fn a_full_disk_is_507_and_other_write_failures_503_never_internal() {
        let dir = Path::new("/data");
        let full = Error::StorageFailed(StorageFailure::of_fjall(dir, &os(ENOSPC)));
        assert_eq!(full.kind(), ErrorKind::StorageFull);
        let message = full.to_string();
        assert!(
            message.starts_with("storage failed: disk full in /data: No space left on device"),
            "{message}"
        );
        assert!(
            message.contains("acknowledged writes are safe"),
            "{message}"
        );
        for code in [EMFILE, 5] {
            let failed = Error::StorageFailed(StorageFailure::of_fjall(dir, &os(code)));
            assert_eq!(failed.kind(), ErrorKind::StorageFailed, "{failed}");
        }
        let emfile = StorageFailure::of_fjall(dir, &os(EMFILE));
        assert_eq!(
            emfile.to_string(),
            "storage failed: too many open files in /data: Too many open files (os error 24)"
        );
    }
}
