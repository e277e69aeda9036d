//! A topic created for the writes that follow it asks the group commit for no sync of its own: one sync covers
//! the creation and the first write into the topic.

use crate::{Broker, Config, Produce};

#[tokio::test]
async fn a_topic_created_pending_asks_for_no_sync_until_somebody_waits_for_it() {
    let dir = tempfile::TempDir::new().unwrap();
    let broker = Broker::open(Config::new(dir.path())).unwrap();
    let committer = &broker.shared.committer;
    let asked = committer.wanted();
    let (_, created) = broker.create_topic_pending("t", None).unwrap();
    assert_eq!(
        committer.wanted(),
        asked,
        "creating the topic asked for a sync of its own"
    );
    let (_, produced) = broker
        .produce_pending(Produce {
            topic: "t".into(),
            value: "v".into(),
            ..Produce::default()
        })
        .unwrap();
    assert!(committer.wanted() > asked, "the write asks for its sync");
    produced.durable().await.unwrap();
    created.durable().await.unwrap();

    // Waiting for the creation alone asks for the sync it needs.
    let asked = committer.wanted();
    let (_, alone) = broker.create_topic_pending("u", None).unwrap();
    alone.durable().await.unwrap();
    assert!(committer.wanted() > asked);
    broker.shutdown();
    drop(broker);

    let broker = Broker::open(Config::new(dir.path())).unwrap();
    assert_eq!(broker.topics(), ["t", "u"]);
    assert_eq!(broker.read("t", 0, 0, 10).unwrap().len(), 1);
    broker.shutdown();
}

/// The group commit lingers for as many writers as its last round carried: a topic created with its first write,
/// and a wait for a ticket somebody already asked for, are no writers of their own.
#[tokio::test]
async fn a_topic_created_with_its_first_write_counts_as_one_writer_of_the_round() {
    let dir = tempfile::TempDir::new().unwrap();
    let broker = Broker::open(Config::new(dir.path())).unwrap();
    let committer = &broker.shared.committer;
    let before = committer.asks();
    let (_, created) = broker.create_topic_pending("t", None).unwrap();
    let (_, produced) = broker
        .produce_pending(Produce {
            topic: "t".into(),
            value: "v".into(),
            ..Produce::default()
        })
        .unwrap();
    produced.durable().await.unwrap();
    created.durable().await.unwrap();
    assert_eq!(committer.asks(), before + 1);
    broker.shutdown();
}
