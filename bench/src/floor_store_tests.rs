//! The `/v1` floor's storage answers for real: a produced message is in the file and delivered once, to the
//! group's stream that asked, after its sync; only that stream's ack settles it, once.

use std::sync::Arc;

use dq_proto::broker::ConsumeItem;

use crate::floor_store::{AckRefused, Committer, Topic};

#[tokio::test]
async fn a_message_is_stored_delivered_once_and_acked_once_by_its_owner() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("floor.log");
    let commit = Committer::start(&path).unwrap();
    let topic = Arc::new(Topic::new(2));
    topic.join("g");
    let mut out = Vec::new();
    assert_eq!(topic.deliver("g", "o1", 256, 65536, &mut out).unwrap(), 0);

    let offset = commit
        .write(
            b"record-of-k-v",
            Some((topic.clone(), 1, "k".into(), "v".into())),
        )
        .await;
    assert_eq!(offset, Some(0));
    let file = std::fs::read(&path).unwrap();
    assert!(
        file.windows(13).any(|w| w == b"record-of-k-v"),
        "the record is in the file"
    );

    assert_eq!(topic.deliver("g", "o1", 256, 65536, &mut out).unwrap(), 1);
    let item: ConsumeItem = serde_json::from_slice(out.strip_suffix(b"\n").unwrap()).unwrap();
    assert_eq!(
        (
            item.partition,
            item.offset,
            item.attempts,
            &*item.key,
            &*item.value
        ),
        (1, 0, 1, "k", "v")
    );
    out.clear();
    assert_eq!(
        topic.deliver("g", "o2", 256, 65536, &mut out).unwrap(),
        0,
        "delivered once per group"
    );

    assert!(matches!(
        topic.ack("g", "o2", 1, 0),
        Err(AckRefused::NotInFlight)
    ));
    assert!(matches!(
        topic.ack("other", "o1", 1, 0),
        Err(AckRefused::NoGroup)
    ));
    assert!(topic.ack("g", "o1", 1, 0).is_ok());
    assert!(matches!(
        topic.ack("g", "o1", 1, 0),
        Err(AckRefused::NotInFlight)
    ));
    assert_eq!(commit.write(b"ack", None).await, Some(0));
}
