//! The journal bound: once fjall seals a journal, the broker flushes what pins it, so that a crash leaves at
//! most the active journal to replay; and what the sealed journal held is still there after the crash.

use std::path::Path;

use dq_broker::Config;
use tempfile::TempDir;

use crate::common::*;

/// The ids of the journal files (`<n>.jnl`) in `dir`.
fn journal_ids(dir: &Path) -> Vec<u64> {
    let mut ids: Vec<u64> = std::fs::read_dir(dir)
        .unwrap()
        .filter_map(|e| {
            let name = e.unwrap().file_name();
            name.to_str()?.strip_suffix(".jnl")?.parse().ok()
        })
        .collect();
    ids.sort_unstable();
    ids
}

/// Every file under `dir`, by its path relative to `dir`.
fn files(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(at) = pending.pop() {
        for entry in std::fs::read_dir(&at).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                pending.push(path);
            } else {
                out.push(path.strip_prefix(dir).unwrap().to_path_buf());
            }
        }
    }
    out.sort();
    out
}

/// Copies the live store at `from` into `to` as a crash would leave it: the broker's background flushes and
/// compactions add and delete table files while a copy runs, so a copy during which the set of files changed
/// (a table listed but gone, or one made after the listing that a newer version names) is made again.
fn snapshot(from: &Path, to: &Path) {
    let deadline = std::time::Instant::now() + PATIENCE;
    loop {
        let before = files(from);
        let copied = before.iter().all(|name| {
            let target = to.join(name);
            std::fs::create_dir_all(target.parent().unwrap()).unwrap();
            std::fs::copy(from.join(name), target).is_ok()
        });
        if copied && files(from) == before {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the store never held still for a copy"
        );
        std::fs::remove_dir_all(to).unwrap();
        std::fs::create_dir_all(to).unwrap();
    }
}

/// `len` hex digits from a xorshift generator seeded with `seed`.
fn noise(seed: usize, len: usize) -> String {
    let mut x = (seed as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            char::from_digit((x % 16) as u32, 16).unwrap()
        })
        .collect()
}

#[tokio::test]
async fn a_sealed_journal_is_flushed_away_and_a_crash_after_that_loses_nothing() {
    let dir = TempDir::new().unwrap();
    // No sweep within the test: the sweep thread's look at the journal between sweeps must free it at once.
    let broker = open(Config {
        sweep_interval: std::time::Duration::from_secs(3600),
        ..config(&dir)
    });
    // The topic record is the only write to `meta`: without the bound it pins the first journal for good.
    broker.create_topic("t", None).await.unwrap();
    // fjall seals its journal at the first flush after it passes 64 MB (msgs flushes every 16 MiB). The values
    // do not compress, as fjall compresses large journal values.
    let count = 100;
    let values: Vec<String> = (0..count).map(|i| noise(i, 900 * 1024)).collect();
    for value in &values {
        broker.produce(msg("t", value)).await.unwrap();
    }
    let deadline = std::time::Instant::now() + PATIENCE;
    loop {
        let ids = journal_ids(dir.path());
        if ids.len() == 1 && ids[0] > 0 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the sealed journal is still there: {ids:?}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }

    // A crash now: the copy is what SIGKILL would leave (every produce was answered, so it is in the journal
    // or in tables).
    let crashed = TempDir::new().unwrap();
    snapshot(dir.path(), crashed.path());
    close(broker);
    let broker = open(config(&crashed));
    let stored = broker.read("t", 0, 0, 1000).unwrap();
    assert_eq!(stored.len(), count, "every answered produce survives");
    for (i, (m, value)) in stored.iter().zip(&values).enumerate() {
        assert_eq!(m.offset, i as u64);
        assert!(m.value == *value, "message {i} comes back as written");
    }
    let produced = broker.produce(msg("t", "after")).await.unwrap();
    assert_eq!(
        produced.offset, count as u64,
        "offsets go on from the recovered head"
    );
    close(broker);
}
