//! Client strings that become part of stored keys (idempotency key, tenant, group, owner, topic) are bounded:
//! over the limit is a clear `InvalidArgument` naming the field and the limit, nothing is stored, and the topic
//! keeps working. The storage engine panics on a key over 65,535 bytes, with a lock held.

use dq_broker::{Broker, Error, ErrorKind, Produce};
use dq_proto::broker::Envelope;
use tempfile::TempDir;

use crate::common::*;

fn keyed(key: &str, tenant: Option<&str>) -> Produce {
    with_envelope(
        "t",
        "v",
        Envelope {
            idempotency_key: Some(key.to_owned()),
            tenant_id: tenant.map(str::to_owned),
            ..Envelope::default()
        },
    )
}

/// Asserts an `InvalidArgument` whose message names `field` and `limit`.
#[track_caller]
fn rejected<T>(result: Result<T, Error>, field: &str, limit: &str) {
    let Err(err) = result else {
        panic!("{field}: accepted");
    };
    assert_eq!(err.kind(), ErrorKind::InvalidArgument, "{err}");
    let message = err.to_string();
    assert!(
        message.contains(field) && message.contains(limit),
        "{field} / {limit}: {message}"
    );
}

/// Keyed and unkeyed produces to partition 0 of `t` still work and start at offset 0: nothing was stored.
async fn still_works_and_nothing_stored(broker: &Broker) {
    let first = broker.produce(keyed("fine", Some("acme"))).await.unwrap();
    assert_eq!(
        (first.partition, first.offset, first.duplicate),
        (0, 0, false)
    );
    let again = broker.produce(keyed("fine", Some("acme"))).await.unwrap();
    assert!(again.duplicate);
    let plain = broker.produce(msg("t", "plain")).await.unwrap();
    assert_eq!(plain.offset, 1);
    assert_eq!(broker.read("t", 0, 0, 10).unwrap().len(), 2);
}

#[tokio::test]
async fn oversized_idempotency_keys_and_tenants_are_rejected_and_store_nothing() {
    let dir = TempDir::new().unwrap();
    let broker = open(config(&dir));
    broker.create_topic("t", None).await.unwrap();
    // 65,525 bytes fit one stored key but not the other (the expiry index adds 8 bytes): the worst case.
    for len in [70_000, 65_525, 1025] {
        rejected(
            broker.produce(keyed(&"k".repeat(len), None)).await,
            "envelope.idempotency_key",
            "1024 bytes",
        );
    }
    for len in [70_000, 65_525, 256] {
        rejected(
            broker.produce(keyed("k", Some(&"t".repeat(len)))).await,
            "envelope.tenant_id",
            "255 bytes",
        );
        // Without a key the tenant is in no stored key, but the same rule keeps the answer predictable.
        let tenant_only = with_envelope(
            "t",
            "v",
            Envelope {
                tenant_id: Some("t".repeat(len)),
                ..Envelope::default()
            },
        );
        rejected(
            broker.produce(tenant_only).await,
            "envelope.tenant_id",
            "255",
        );
    }
    still_works_and_nothing_stored(&broker).await;
    // The limits themselves are allowed.
    let at_limit = broker
        .produce(keyed(&"k".repeat(1024), Some(&"t".repeat(255))))
        .await
        .unwrap();
    assert_eq!(at_limit.offset, 2);
    let metrics = broker.metrics();
    assert!(
        metrics
            .produce_rejected
            .iter()
            .any(|(reason, n)| reason == "invalid" && *n == 9),
        "{:?}",
        metrics.produce_rejected
    );
    close(broker);
}

#[tokio::test]
async fn oversized_topic_names_are_rejected_with_the_limit_everywhere() {
    let dir = TempDir::new().unwrap();
    let broker = open(config(&dir));
    broker.create_topic("t", None).await.unwrap();
    let long = "t".repeat(70_000);
    rejected(broker.produce(msg(&long, "v")).await, "topic", "249");
    let retarget = with_envelope(
        "t",
        "v",
        Envelope {
            target_topic: Some(long.clone()),
            ..Envelope::default()
        },
    );
    rejected(
        broker.produce(retarget).await,
        "envelope.target_topic",
        "249",
    );
    rejected(broker.subscribe(&long, "g", "o", None), "topic", "249");
    rejected(broker.read(&long, 0, 0, 1), "topic", "249");
    let item = {
        broker.produce(msg("t", "v")).await.unwrap();
        let mut sub = broker.subscribe("t", "g", "o", None).unwrap();
        next(&mut sub).await
    };
    rejected(
        broker.ack(settle(&long, "g", "o", &item)).await,
        "topic",
        "249",
    );
    rejected(broker.create_topic(&long, None).await, "topic", "249");
    assert_eq!(broker.topics(), vec!["t".to_owned()]);
    // The dead-letter topic of a topic with the longest name has a longer one, and can be read.
    let longest = "l".repeat(249);
    broker.create_topic(&longest, None).await.unwrap();
    let doomed = Produce {
        topic: longest.clone(),
        ..with_envelope("t", "v", policy(Some(1), None, None))
    };
    broker.produce(doomed).await.unwrap();
    let mut sub = broker.subscribe(&longest, "g", "o", None).unwrap();
    let item = next(&mut sub).await;
    broker
        .nack(settle(&longest, "g", "o", &item), None, None)
        .await
        .unwrap();
    let mut dlq = broker
        .subscribe(&format!("dlq.{longest}"), "g", "o", None)
        .unwrap();
    assert_eq!(next(&mut dlq).await.value, "v");
    close(broker);
}

#[tokio::test]
async fn oversized_groups_and_owners_are_rejected_on_consume_ack_and_nack() {
    let dir = TempDir::new().unwrap();
    let broker = open(config(&dir));
    broker.create_topic("t", None).await.unwrap();
    broker.produce(msg("t", "v")).await.unwrap();
    for len in [70_000, 256] {
        let long = "g".repeat(len);
        rejected(
            broker.subscribe("t", &long, "o", None),
            "group",
            "255 bytes",
        );
        rejected(
            broker.subscribe("t", "g", &long, None),
            "owner",
            "255 bytes",
        );
    }
    let mut sub = broker.subscribe("t", "g", "o", None).unwrap();
    let item = next(&mut sub).await;
    for len in [70_000, 256] {
        let long = "x".repeat(len);
        rejected(
            broker.ack(settle("t", &long, "o", &item)).await,
            "group",
            "255 bytes",
        );
        rejected(
            broker.ack(settle("t", "g", &long, &item)).await,
            "owner",
            "255 bytes",
        );
        rejected(
            broker
                .nack(settle("t", &long, "o", &item), None, None)
                .await,
            "group",
            "255 bytes",
        );
        rejected(
            broker
                .nack(settle("t", "g", &long, &item), None, None)
                .await,
            "owner",
            "255 bytes",
        );
    }
    // The delivery is still in flight to its owner, and the group's names at the limit work.
    broker.ack(settle("t", "g", "o", &item)).await.unwrap();
    let name = "n".repeat(255);
    let mut at_limit = broker.subscribe("t", &name, &name, None).unwrap();
    let again = next(&mut at_limit).await;
    broker.ack(settle("t", &name, &name, &again)).await.unwrap();
    close(broker);
}
