//! The idempotency keys of a produce batch: one expiry index row for the whole batch, which the sweep reads
//! back into every key it stands for, next to the one row per key of single produces (and of older data dirs).

use std::time::Duration;

use dq_proto::broker::Envelope;

use crate::{Broker, Config, ManualClock, Produce};

fn keyed(key: Option<&str>) -> Produce {
    Produce {
        topic: "t".into(),
        value: "v".into(),
        envelope: key.map(|k| Envelope {
            idempotency_key: Some(k.into()),
            ..Envelope::default()
        }),
        ..Produce::default()
    }
}

#[tokio::test]
async fn a_batch_writes_one_expiry_row_for_its_keys_and_the_sweep_removes_each_key_once_expired() {
    let dir = tempfile::TempDir::new().unwrap();
    let clock = ManualClock::new();
    let broker = Broker::open(Config {
        idempotency_window: Duration::from_secs(1),
        clock: clock.clone().into(),
        // Only the calls below sweep.
        sweep_interval: Duration::from_secs(3600),
        ..Config::new(dir.path())
    })
    .unwrap();
    broker.create_topic("t", None).await.unwrap();
    let batch = ["k0", "k1", "k2", "k3"].map(Some).to_vec();
    let first = broker
        .produce_batch(
            batch
                .iter()
                .copied()
                .chain([None, Some("k1")])
                .map(keyed)
                .collect(),
        )
        .await
        .unwrap();
    assert_eq!(
        first.iter().map(|p| p.duplicate).collect::<Vec<_>>(),
        [false, false, false, false, false, true]
    );
    // A single produce keeps its own row, the form every row of an older data dir has.
    broker.produce(keyed(Some("single"))).await.unwrap();
    let shared = &broker.shared;
    let count = |ks: &fjall::Keyspace| ks.iter().count();
    assert_eq!(count(&shared.store.idem), 5);
    assert_eq!(
        count(&shared.store.idem_exp),
        2,
        "one expiry row for the batch's four keys, one for the single produce"
    );

    // Every key of the batch still finds its first copy.
    let again = broker
        .produce_batch(batch.iter().copied().map(keyed).collect())
        .await
        .unwrap();
    assert!(again.iter().all(|p| p.duplicate));
    assert_eq!(
        again.iter().map(|p| p.offset).collect::<Vec<_>>(),
        first[..4].iter().map(|p| p.offset).collect::<Vec<_>>()
    );

    // Once expired, `k1` is stored again with a new expiry: the batch's row must not remove that entry.
    clock.advance(Duration::from_secs(1));
    let reused = broker.produce(keyed(Some("k1"))).await.unwrap();
    assert!(!reused.duplicate);
    assert!(!shared.sweep_idempotency().unwrap());
    assert_eq!(count(&shared.store.idem), 1, "only the reused k1 is left");
    assert_eq!(count(&shared.store.idem_exp), 1);
    assert!(broker.produce(keyed(Some("k1"))).await.unwrap().duplicate);
    assert!(!broker.produce(keyed(Some("k2"))).await.unwrap().duplicate);
    broker.shutdown();
}

#[test]
fn an_expiry_row_reads_back_as_every_key_it_stands_for() {
    let key = crate::store::idem_exp_key(7, b"first");
    let value = crate::store::idem_exp_value([&b"second"[..], b"", b"third"]);
    assert_eq!(
        crate::store::idem_exp_keys(&key, &value),
        Some((7, vec![&b"first"[..], b"second", b"", b"third"]))
    );
    // A row of a single produce, or of an older data dir.
    assert_eq!(
        crate::store::idem_exp_keys(&key, &[]),
        Some((7, vec![&b"first"[..]]))
    );
    // A damaged value yields the keys before the damage.
    assert_eq!(
        crate::store::idem_exp_keys(&key, &value[..value.len() - 1]),
        Some((7, vec![&b"first"[..], b"second", b""]))
    );
    assert_eq!(crate::store::idem_exp_keys(b"short", &value), None);
}
