//! The store's health: whether a write has failed, and why.
//!
//! fjall poisons its database on the first failed journal write, journal persist or background flush and from
//! then on refuses every write with `Poisoned`, whatever the cause was and even once it is gone; only a new
//! process can open the data dir again (and replays the journal, so every acknowledged write is kept). So the
//! first failure is recorded here, by the write path ([`crate::store::Batch::commit`]) and by the group-commit
//! thread, and every later write, health check and the server's exit report that first cause instead of
//! fjall's `Poisoned`.
//!
//! A failure fjall hit in a background flush or compaction reaches us only as `Poisoned` (fjall logs the I/O
//! error itself); it is then classified by the free space left on the data dir's file system.
//!
//! This module owns the record and its classification; it never writes to the store.

use std::path::{Path, PathBuf};

use tokio::sync::watch;

use crate::error::{StorageCause, StorageFailure};

/// Free space under which a failure of unknown cause is called a full disk: a background flush writes up to a
/// memtable's worth (16 MiB for messages) at once, so a flush that failed with less than twice that left most
/// likely failed for lack of it.
const LOW_SPACE_BYTES: u64 = 32 * 1024 * 1024;

/// The first storage failure of this process, if any.
pub(crate) struct Health {
    dir: PathBuf,
    failure: watch::Sender<Option<StorageFailure>>,
}

impl Health {
    /// Healthy storage in `dir`.
    pub(crate) fn new(dir: &Path) -> Self {
        Self {
            dir: dir.to_owned(),
            failure: watch::Sender::new(None),
        }
    }

    /// Records that a write or fsync failed with `error` (the first failure wins) and returns the failure that
    /// stopped the store.
    pub(crate) fn fail(&self, error: &fjall::Error) -> StorageFailure {
        self.failure.send_if_modified(|current| {
            if current.is_some() {
                return false;
            }
            let failure = self.classify(error);
            tracing::error!(dir = %self.dir.display(), cause = failure.cause.describe(), error = %error,
                "a write failed; the store refuses every write until the process restarts");
            *current = Some(failure);
            true
        });
        self.failure
            .borrow()
            .clone()
            .unwrap_or_else(|| self.classify(error))
    }

    /// The failure that stopped the store, if one did.
    pub(crate) fn failure(&self) -> Option<StorageFailure> {
        self.failure.borrow().clone()
    }

    /// Resolves with the failure once one is recorded.
    pub(crate) fn failed(&self) -> impl Future<Output = StorageFailure> + Send + 'static {
        let mut rx = self.failure.subscribe();
        async move {
            if let Ok(failure) = rx.wait_for(Option::is_some).await
                && let Some(failure) = failure.clone()
            {
                return failure;
            }
            // The store was dropped without failing: it never will.
            std::future::pending().await
        }
    }

    /// Whether the data dir's file system has so little space left that flushing memtables would likely fail
    /// (and leave fjall's flush workers dead, with a close waiting for them forever).
    pub(crate) fn low_space(&self) -> bool {
        self.free_bytes().is_some_and(|free| free < LOW_SPACE_BYTES)
    }

    /// Bytes available to us on the data dir's file system, if the OS says.
    fn free_bytes(&self) -> Option<u64> {
        rustix::fs::statvfs(&self.dir)
            .ok()
            .map(|s| s.f_bavail.saturating_mul(s.f_frsize))
    }

    fn classify(&self, error: &fjall::Error) -> StorageFailure {
        if !matches!(error, fjall::Error::Poisoned) {
            return StorageFailure::of_fjall(&self.dir, error);
        }
        // Poisoned before any failure of ours: a background flush or compaction failed. Out of file descriptors
        // if we cannot open the data dir either; else out of space if little is left.
        let free = self.free_bytes();
        let cause = match std::fs::File::open(&self.dir) {
            Err(e) if StorageCause::of_io(&e) == StorageCause::TooManyFiles => {
                StorageCause::TooManyFiles
            }
            _ if free.is_some_and(|free| free < LOW_SPACE_BYTES) => StorageCause::DiskFull,
            _ => StorageCause::Io,
        };
        let free = free.map_or_else(|| "unknown".to_owned(), |b| format!("{} KiB", b / 1024));
        StorageFailure {
            cause,
            dir: self.dir.clone(),
            detail: format!(
                "a background flush or compaction failed (see the log); free space: {free}"
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_first_failure_is_kept_and_later_poisoned_writes_report_it() {
        let health = Health::new(Path::new("/data"));
        assert_eq!(health.failure(), None);
        let failed = health.failed();
        let full = fjall::Error::Io(std::io::Error::from_raw_os_error(28));
        let first = health.fail(&full);
        assert_eq!(first.cause, StorageCause::DiskFull);
        let later = health.fail(&fjall::Error::Poisoned);
        assert_eq!(later, first, "fjall's Poisoned says nothing of the cause");
        assert_eq!(health.failure(), Some(first.clone()));
        assert_eq!(failed.await, first);
    }

    #[test]
    fn poisoned_before_any_failure_of_ours_names_a_background_failure_and_the_free_space() {
        let dir = tempfile::TempDir::new().unwrap();
        let health = Health::new(dir.path());
        let failure = health.fail(&fjall::Error::Poisoned);
        assert!(
            failure
                .detail
                .starts_with("a background flush or compaction failed (see the log); free space: "),
            "{failure}"
        );
        assert_ne!(failure.cause, StorageCause::TooManyFiles);
    }
}
