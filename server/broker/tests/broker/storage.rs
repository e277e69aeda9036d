//! A full disk, for real: the store on a small tmpfs is filled by produces until a write fails. The failing
//! write and every later one name the full disk (never fjall's `Poisoned`), the broker reports the failure,
//! shuts down without hanging, and once the tmpfs is enlarged a new broker on the same dir has every
//! acknowledged message. Mounting needs root: elsewhere the test prints a note and passes.

use dq_broker::{Config, ErrorKind, StorageCause};
use dq_testkit::full_disk::{Tmpfs, incompressible};

use crate::common::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_fails_writes_with_its_cause_and_a_restart_keeps_every_acknowledged_write() {
    let Some(disk) = Tmpfs::mount("4m") else {
        return;
    };
    let broker = open(Config::new(disk.path()));
    broker.create_topic("t", Some(1)).await.unwrap();
    let mut acked = Vec::new();
    let error = loop {
        assert!(acked.len() < 2_000, "4 MiB never filled up");
        let value = format!(
            "{}-{}",
            acked.len(),
            incompressible(acked.len() as u64, 10_000)
        );
        match broker.produce(msg("t", &value)).await {
            Ok(produced) => acked.push((produced.offset, value)),
            Err(e) => break e,
        }
    };
    assert!(!acked.is_empty());
    let dir = disk.path().display().to_string();
    assert_eq!(error.kind(), ErrorKind::StorageFull, "{error}");
    let message = error.to_string();
    assert!(
        message.starts_with(&format!("storage failed: disk full in {dir}")),
        "{message}"
    );
    let again = broker.produce(msg("t", "small")).await.unwrap_err();
    assert_eq!(again.kind(), ErrorKind::StorageFull, "{again}");
    assert!(!again.to_string().contains("Poisoned"), "{again}");
    let topic = broker.create_topic("another", None).await.unwrap_err();
    assert_eq!(topic.kind(), ErrorKind::StorageFull, "{topic}");
    let failure = broker.storage_failure().expect("the broker knows");
    assert_eq!(failure.cause, StorageCause::DiskFull);
    assert_eq!(
        tokio::time::timeout(PATIENCE, broker.storage_failed()).await,
        Ok(failure)
    );
    // Must not hang on fjall's flush, whose workers are gone.
    close(broker);

    // Restarted while the disk is still full (a supervisor does that): whether or not it opens, its close must
    // not wait forever for a flush that cannot be written.
    // A thread of its own, so that a close that hangs fails the test instead of hanging it.
    let (closed, done) = std::sync::mpsc::channel();
    let config = Config::new(disk.path());
    let runtime = tokio::runtime::Handle::current();
    std::thread::spawn(move || {
        let _runtime = runtime.enter();
        let _ = closed.send(dq_broker::Broker::open(config).map(close).is_ok());
    });
    let opened = done
        .recv_timeout(PATIENCE)
        .expect("a broker on a full disk opens or fails, and closes, in time");
    eprintln!("a broker on the full disk opened: {opened}");

    disk.resize("64m");
    let broker = open(Config::new(disk.path()));
    assert_eq!(broker.storage_failure(), None);
    let stored = broker.read("t", 0, 0, acked.len() + 10).unwrap();
    let stored: Vec<(u64, String)> = stored.into_iter().map(|m| (m.offset, m.value)).collect();
    assert!(
        stored.len() >= acked.len(),
        "{} acknowledged, {} stored",
        acked.len(),
        stored.len()
    );
    assert_eq!(
        stored[..acked.len()],
        acked[..],
        "every acknowledged write, in order"
    );
    broker.produce(msg("t", "after")).await.unwrap();
    close(broker);
}
