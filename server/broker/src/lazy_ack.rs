//! Acks whose durability the acker does not wait for: committed at once (the message is settled and never
//! delivered again by this process), made durable by the next sync somebody waits for, or a few ms later. For
//! an acker to whom a lost ack only means a redelivery it already handles (dq's own worker: the run's timeline
//! says the run ended), so that an ack costs no fsync of its own.

use std::sync::Arc;

use fjall::OwnedWriteBatch;

use crate::broker::Broker;
use crate::state::Shared;
use crate::store::{MessageRecord, Store};
use crate::subscription::{Settle, touch};
use crate::timers::Timers;
use crate::topic::Topic;
use crate::topic::group::{self, Host, TimerEntry};
use crate::{Config, Error};

impl Broker {
    /// [`Broker::ack`] without waiting for the ack to be durable, and without asking for a sync: a crash before
    /// the next sync may deliver the message again.
    pub fn ack_lazily(&self, settle: &Settle) -> Result<(), Error> {
        let (topic, group) = self.settle_target(settle.names(), [settle.partition])?;
        group::ack(
            &Unasked(&self.shared),
            &topic,
            &group,
            &[(settle.partition, settle.offset)],
            &settle.owner,
        )?;
        touch(&group, &self.shared.config.clock);
        Ok(())
    }
}

/// The broker as its groups' host, registering a settle's batch as one nobody waits for.
struct Unasked<'a>(&'a Shared);

impl Host for Unasked<'_> {
    fn store(&self) -> &Store {
        Host::store(self.0)
    }

    fn timers(&self) -> &Timers<TimerEntry> {
        Host::timers(self.0)
    }

    fn config(&self) -> &Config {
        Host::config(self.0)
    }

    fn ticket(&self) -> Option<u64> {
        self.0.written();
        None
    }

    fn written(&self) {
        self.0.written();
    }

    fn ensure_topic_uncapped(&self, name: &str, partitions: u32) -> Result<Arc<Topic>, Error> {
        Host::ensure_topic_uncapped(self.0, name, partitions)
    }

    fn append(
        &self,
        topic: &Topic,
        p: u32,
        record: &MessageRecord,
        check_backlog: bool,
        extra: impl FnOnce(&mut OwnedWriteBatch, u64),
    ) -> Result<(u64, Option<u64>), Error> {
        Host::append(self.0, topic, p, record, check_backlog, extra)
    }
}

#[cfg(test)]
mod tests {
    use crate::{Broker, Config, Produce, Settle};

    #[tokio::test]
    async fn a_lazy_ack_asks_for_no_sync_and_is_durable_with_the_next_write_waited_for() {
        let dir = tempfile::TempDir::new().unwrap();
        let broker = Broker::open(Config::new(dir.path())).unwrap();
        broker.create_topic("t", None).await.unwrap();
        let produce = |value: &str| Produce {
            topic: "t".into(),
            value: value.into(),
            ..Produce::default()
        };
        broker.produce(produce("a")).await.unwrap();
        let mut sub = broker.subscribe("t", "g", "o", None).unwrap();
        let item = sub.next().await.unwrap();
        let asked = broker.shared.committer.wanted();
        broker
            .ack_lazily(&Settle {
                topic: "t".into(),
                group: "g".into(),
                owner: "o".into(),
                partition: item.partition,
                offset: item.offset,
            })
            .unwrap();
        assert_eq!(
            broker.shared.committer.wanted(),
            asked,
            "the ack asked for a sync of its own"
        );
        assert_eq!(broker.lag("t", "g"), Some(0), "settled at once");
        broker.produce(produce("b")).await.unwrap();
        drop(sub);
        broker.shutdown();
        drop(broker);

        let broker = Broker::open(Config::new(dir.path())).unwrap();
        let mut sub = broker.subscribe("t", "g", "o", None).unwrap();
        let next = sub.next().await.unwrap();
        assert_eq!(next.value, "b", "the acked message is not delivered again");
        drop(sub);
        broker.shutdown();
    }
}
