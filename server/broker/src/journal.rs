//! Opening fjall so that a torn or corrupt journal tail is recovered, not fatal.
//!
//! How fjall 3 behaves (3.1, `src/journal/`): the newest `<n>.jnl` file in the data directory is the active
//! journal; it is preallocated with zeros and holds write batches framed as `Start`, items, `End(checksum)`
//! + magic `FJL\x03`. On open fjall replays it and
//! - truncates by itself a tail that is cut short, ends in garbage, or has a batch without its `End` marker
//!   (a torn write): `open` succeeds and the incomplete batch is gone;
//! - but fails with `JournalRecovery(ChecksumMismatch | InsufficientLength | TooManyItems)` when the last batch
//!   is complete but its bytes are wrong (a corrupt tail). Its `RecoveryMode` option is not wired up in 3.x.
//!
//! For the second case [`open_repairing`] keeps a copy of the journal (`<n>.jnl.corrupt-<unix ms>`), cuts the
//! `End` marker of the last batch, which turns it into a torn batch that fjall then drops, and opens again;
//! at most [`MAX_DROPPED_BATCHES`] times, so that corruption deep inside a journal still fails loudly instead
//! of silently discarding a long run of acknowledged writes. Every dropped byte range is logged with
//! `tracing::warn!`, in both cases.
//!
//! This module reads fjall's framing only to find the last `End` marker; it never writes journal bytes, it only
//! shortens the file. It must not be used on a database that is open.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use fjall::{Database, JournalRecoveryError};

use crate::Error;

/// Most tail batches dropped to get a corrupt journal to open.
pub(crate) const MAX_DROPPED_BATCHES: usize = 64;

/// The magic bytes that close every batch's `End` marker.
const MAGIC: &[u8; 4] = b"FJL\x03";
/// `End` marker: tag byte 3, u64 checksum, magic.
const END_MARKER_LEN: u64 = 1 + 8 + 4;
const END_TAG: u8 = 3;

/// Opens the database in `dir` with `open`, recovering a torn or corrupt journal tail. Also returns how many
/// journal bytes the open had to replay (start-up after a crash costs about that).
pub(crate) fn open_repairing(
    dir: &Path,
    open: impl Fn(&Path) -> fjall::Result<Database>,
) -> Result<(Database, u64), Error> {
    let active = active_journal(dir)
        .map_err(fjall::Error::Io)?
        .map(|(_, path)| path);
    let before = match &active {
        Some(path) => Some(data_len(path).map_err(fjall::Error::Io)?),
        None => None,
    };
    let replayed =
        sealed_bytes(dir, active.as_deref()).map_err(fjall::Error::Io)? + before.unwrap_or(0);
    let mut backed_up = false;
    let mut dropped_batches = 0;
    let db = loop {
        match open(dir) {
            Ok(db) => break db,
            Err(fjall::Error::JournalRecovery(
                kind @ (JournalRecoveryError::ChecksumMismatch
                | JournalRecoveryError::InsufficientLength
                | JournalRecoveryError::TooManyItems),
            )) if dropped_batches < MAX_DROPPED_BATCHES => {
                let Some(path) = &active else {
                    return Err(fjall::Error::JournalRecovery(kind).into());
                };
                if !backed_up {
                    let copy = backup_path(path);
                    std::fs::copy(path, &copy).map_err(fjall::Error::Io)?;
                    tracing::warn!(journal = %path.display(), copy = %copy.display(), error = ?kind,
                        "the journal tail is corrupt; kept a copy, dropping the corrupt tail batches");
                    backed_up = true;
                }
                if !cut_last_end_marker(path).map_err(fjall::Error::Io)? {
                    return Err(fjall::Error::JournalRecovery(kind).into());
                }
                dropped_batches += 1;
            }
            Err(e) => return Err(e.into()),
        }
    };
    if let (Some(path), Some(before)) = (&active, before) {
        let after = std::fs::metadata(path)
            .map_err(fjall::Error::Io)?
            .len()
            .min(before);
        if after < before {
            tracing::warn!(journal = %path.display(), from = after, to = before, bytes = before - after,
                corrupt_batches = dropped_batches,
                "recovered the journal by dropping its torn or corrupt tail (writes never acknowledged as durable, \
                 or damaged on disk)");
        }
    }
    Ok((db, replayed))
}

/// The active journal: the `<n>.jnl` file with the highest `n`, with its `n`.
pub(crate) fn active_journal(dir: &Path) -> std::io::Result<Option<(u64, PathBuf)>> {
    let mut best: Option<(u64, PathBuf)> = None;
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name();
        let Some(id) = name
            .to_str()
            .and_then(|n| n.strip_suffix(".jnl"))
            .and_then(|n| n.parse::<u64>().ok())
        else {
            continue;
        };
        if best.as_ref().is_none_or(|(b, _)| id > *b) {
            best = Some((id, entry.path()));
        }
    }
    Ok(best)
}

/// The size of every journal in `dir` but the active one: the sealed journals an open replays in full.
fn sealed_bytes(dir: &Path, active: Option<&Path>) -> std::io::Result<u64> {
    let mut total = 0;
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let path = entry.path();
        if path.extension().is_some_and(|e| e == "jnl") && Some(path.as_path()) != active {
            total += entry.metadata()?.len();
        }
    }
    Ok(total)
}

/// Where fjall keeps journal number `id`.
pub(crate) fn journal_path(dir: &Path, id: u64) -> PathBuf {
    dir.join(format!("{id}.jnl"))
}

/// Length of the journal's data: the file is preallocated with zeros, and every batch ends with the non-zero
/// magic, so the data ends after the last non-zero byte.
pub(crate) fn data_len(path: &Path) -> std::io::Result<u64> {
    const CHUNK: u64 = 64 * 1024;
    let mut file = File::open(path)?;
    let mut end = file.metadata()?.len();
    let mut buf = vec![0u8; usize::try_from(CHUNK).unwrap_or(64 * 1024)];
    while end > 0 {
        let start = end.saturating_sub(CHUNK);
        let len = usize::try_from(end - start).unwrap_or(buf.len());
        file.seek(SeekFrom::Start(start))?;
        let chunk = &mut buf[..len];
        file.read_exact(chunk)?;
        if let Some(i) = chunk.iter().rposition(|b| *b != 0) {
            return Ok(start + i as u64 + 1);
        }
        end = start;
    }
    Ok(0)
}

/// Truncates the journal just before the last `End` marker in its data; false when there is none.
fn cut_last_end_marker(path: &Path) -> std::io::Result<bool> {
    let len = data_len(path)?;
    let window = len.min(16 * 1024 * 1024);
    let start = len - window;
    let mut file = OpenOptions::new().read(true).write(true).open(path)?;
    file.seek(SeekFrom::Start(start))?;
    let mut data = vec![0u8; usize::try_from(window).unwrap_or(0)];
    file.read_exact(&mut data)?;
    // A magic inside a value (not preceded by the `End` tag) is skipped; one that is preceded by it by chance can
    // only lie inside the last (corrupt) batch, and cutting there tears that batch just the same.
    let tag_distance = usize::try_from(END_MARKER_LEN).unwrap_or(13) - MAGIC.len();
    let marker = (0..data.len().saturating_sub(MAGIC.len() - 1))
        .rev()
        .find_map(|i| {
            let is_magic = data.get(i..i + MAGIC.len()) == Some(&MAGIC[..]);
            let tag_at = i.checked_sub(tag_distance)?;
            (is_magic && data.get(tag_at) == Some(&END_TAG)).then_some(tag_at)
        });
    let Some(marker_start) = marker else {
        return Ok(false);
    };
    let cut = start + marker_start as u64;
    tracing::warn!(journal = %path.display(), at = cut, "cutting the end marker of a corrupt journal batch");
    file.set_len(cut)?;
    file.sync_all()?;
    Ok(true)
}

fn backup_path(path: &Path) -> PathBuf {
    let ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or_default();
    let mut name = path
        .file_name()
        .map(std::ffi::OsStr::to_os_string)
        .unwrap_or_default();
    name.push(format!(".corrupt-{ms}"));
    path.with_file_name(name)
}

/// Empties the active journal after a clean close ([`crate::store::Store::close`]): every batch in it is in
/// the tables by then and no batch can follow, so the next open has nothing to replay. Shortening the file is
/// the same change fjall makes itself when it drops a torn tail; the file stays, and fjall appends to it.
pub(crate) fn empty_active(dir: &Path) -> std::io::Result<()> {
    if let Some((_, path)) = active_journal(dir)? {
        let file = OpenOptions::new().write(true).open(&path)?;
        file.set_len(0)?;
        file.sync_all()?;
        tracing::debug!(journal = %path.display(), "journal emptied after a clean close");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    //! This module reads fjall's private journal framing; fjall is pinned to `~3.1` for it. These tests write a
    //! real batch through fjall and check the framing this module relies on, so that a fjall release that changes
    //! it fails here, loudly, rather than in a recovery after a crash.

    use fjall::{Database, KeyspaceCreateOptions, PersistMode};

    use super::*;

    /// Writes one batch of `value` and closes the database without emptying its journal.
    fn journal_with_one_batch(dir: &Path, value: &[u8]) -> PathBuf {
        let db = Database::builder(dir).open().expect("open");
        let keyspace = db
            .keyspace("k", KeyspaceCreateOptions::default)
            .expect("keyspace");
        let mut batch = db.batch();
        batch.insert(&keyspace, b"key", value);
        batch.commit().expect("commit");
        db.persist(PersistMode::SyncAll).expect("persist");
        drop(keyspace);
        drop(db);
        active_journal(dir)
            .expect("read dir")
            .expect("an active journal")
            .1
    }

    #[test]
    fn a_batch_ends_with_the_end_tag_a_checksum_and_the_magic() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = journal_with_one_batch(dir.path(), b"value");
        let len = data_len(&path).expect("data_len");
        assert!(
            len > END_MARKER_LEN,
            "the journal holds no batch: {len} bytes"
        );
        let bytes = std::fs::read(&path).expect("read journal");
        let data = &bytes[..usize::try_from(len).expect("len")];
        assert_eq!(&data[data.len() - MAGIC.len()..], MAGIC, "the magic moved");
        let tag_at = data.len() - usize::try_from(END_MARKER_LEN).expect("len");
        assert_eq!(data[tag_at], END_TAG, "the End tag moved");
    }

    #[test]
    fn cutting_the_last_end_marker_tears_the_batch_and_fjall_drops_it() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = journal_with_one_batch(dir.path(), b"value");
        let before = data_len(&path).expect("data_len");
        assert!(
            cut_last_end_marker(&path).expect("cut"),
            "no End marker found"
        );
        assert_eq!(data_len(&path).expect("data_len"), before - END_MARKER_LEN);
        let db = Database::builder(dir.path())
            .open()
            .expect("reopen after the cut");
        let keyspace = db
            .keyspace("k", KeyspaceCreateOptions::default)
            .expect("keyspace");
        assert_eq!(
            keyspace.get(b"key").expect("get"),
            None,
            "the torn batch was replayed"
        );
    }
}
