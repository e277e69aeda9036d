//! Consuming: joining a group ([`Broker::subscribe`]), the [`Subscription`] stream and settling deliveries
//! ([`Settle`], ack and nack). The delivery and settle logic itself is in `group`; this module finds the topic
//! and group, writes a new group's first cursors, counts streams and records activity; it must not deliver or
//! settle by itself.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use dq_proto::broker::ConsumeItem;

use crate::broker::Broker;
use crate::clock::Clock;
use crate::state::Shared;
use crate::store;
use crate::topic::Topic;
use crate::topic::group::{self, Group, GroupPart, Limit};
use crate::validate;
use crate::{Error, MIN_LEASE};

/// Identifies one delivered message for ack / nack.
#[derive(Debug, Clone)]
pub struct Settle {
    /// The topic it was consumed from.
    pub topic: String,
    /// The consumer group it was delivered to.
    pub group: String,
    /// Lease owner named by the request; it must hold the delivery's lease ([`Error::NotOwner`] otherwise).
    pub owner: String,
    /// The delivery's partition.
    pub partition: u32,
    /// The delivery's offset in it.
    pub offset: u64,
}

impl Settle {
    /// Topic, group and owner.
    pub(crate) fn names(&self) -> (&str, &str, &str) {
        (&self.topic, &self.group, &self.owner)
    }
}

/// One live consume stream of a group. Dropping it leaves the group (its in-flight messages expire by lease).
pub struct Subscription {
    shared: Arc<Shared>,
    topic: Arc<Topic>,
    group: Arc<Group>,
    owner: String,
    lease: Duration,
}

impl Broker {
    /// Joins `group` on `topic` as a new stream whose deliveries are leased to `owner` for `lease`
    /// (`None` = the configured default).
    pub fn subscribe(
        &self,
        topic: &str,
        group: &str,
        owner: &str,
        lease: Option<Duration>,
    ) -> Result<Subscription, Error> {
        let shared = &self.shared;
        let lease = lease.unwrap_or(shared.config.default_lease);
        if lease < MIN_LEASE {
            return Err(Error::InvalidArgument(format!(
                "lease of {} ms is under the minimum of {} ms",
                lease.as_millis(),
                MIN_LEASE.as_millis()
            )));
        }
        if lease > shared.config.max_lease {
            return Err(Error::InvalidArgument(format!(
                "lease of {} ms is over the limit of {} ms",
                lease.as_millis(),
                shared.config.max_lease.as_millis()
            )));
        }
        validate::topic_ref("topic", topic)?;
        validate::plain_name("group", group)?;
        validate::plain_name("owner", owner)?;
        if shared.shutdown.is_set() {
            return Err(Error::ShuttingDown);
        }
        let topic = shared
            .topic(topic)
            .ok_or_else(|| Error::UnknownTopic(topic.to_owned()))?;
        let group = {
            let mut groups = topic.groups.lock();
            // A deletion sets the flag before it takes this lock: a new group's cursors are written before the
            // deletion removes the topic's keys, or not at all.
            if topic.is_deleted() {
                return Err(Error::UnknownTopic(topic.name.clone()));
            }
            let joined = if let Some(existing) = groups.get(group) {
                Arc::clone(existing)
            } else {
                // A new group starts at the earliest retained offset. Its cursors are written now (not waited
                // for) so that its lag shows in metrics after a restart even before its first ack.
                let parts: Vec<GroupPart> = topic
                    .partitions
                    .iter()
                    .map(|p| GroupPart::new(p.first()))
                    .collect();
                let mut batch = shared.store.batch()?;
                for (idx, part) in parts.iter().enumerate() {
                    let p = u32::try_from(idx).unwrap_or(u32::MAX);
                    batch.insert(
                        &shared.store.cursors,
                        store::group_key(topic.id, group, p),
                        part.lwm.to_be_bytes().to_vec(),
                    );
                }
                batch.commit()?;
                shared.written();
                let created = Arc::new(Group::new(
                    group.to_owned(),
                    parts,
                    shared.config.clock.now_ms(),
                ));
                groups.insert(group.to_owned(), Arc::clone(&created));
                created
            };
            // Joined while the groups lock is held, so that the idle-group sweep (which takes it first) never
            // forgets a group between its lookup here and this stream's count.
            joined.state.lock().streams += 1;
            touch(&joined, &shared.config.clock);
            joined
        };
        Ok(Subscription {
            shared: Arc::clone(shared),
            topic,
            group,
            owner: owner.to_owned(),
            lease,
        })
    }

    /// Finds the topic and group of a settle request naming `partitions`.
    pub(crate) fn settle_target(
        &self,
        (topic, group, owner): (&str, &str, &str),
        partitions: impl IntoIterator<Item = u32>,
    ) -> Result<(Arc<Topic>, Arc<Group>), Error> {
        validate::topic_ref("topic", topic)?;
        validate::plain_name("group", group)?;
        validate::plain_name("owner", owner)?;
        if self.shared.shutdown.is_set() {
            return Err(Error::ShuttingDown);
        }
        let topic = self
            .shared
            .topic(topic)
            .ok_or_else(|| Error::UnknownTopic(topic.to_owned()))?;
        if let Some(p) = partitions
            .into_iter()
            .find(|&p| p >= topic.partition_count())
        {
            return Err(Error::InvalidArgument(format!(
                "partition {p} is out of range 0..{}",
                topic.partition_count()
            )));
        }
        let group = topic.group(group).ok_or(Error::NotInFlight)?;
        Ok((topic, group))
    }

    /// Acknowledges a delivered message; returns once the commit is durable.
    pub async fn ack(&self, settle: Settle) -> Result<(), Error> {
        let ticket = {
            let (topic, group) = self.settle_target(settle.names(), [settle.partition])?;
            let ticket = group::ack(
                &*self.shared,
                &topic,
                &group,
                &[(settle.partition, settle.offset)],
                &settle.owner,
            )?;
            touch(&group, &self.shared.config.clock);
            ticket
        };
        self.shared.wait(ticket).await
    }

    /// Rejects a delivered message: it is redelivered after the retry policy's backoff (or `delay`), or
    /// dead-lettered when its attempts are exhausted.
    pub async fn nack(
        &self,
        settle: Settle,
        reason: Option<String>,
        delay: Option<Duration>,
    ) -> Result<(), Error> {
        let ticket = {
            let (topic, group) = self.settle_target(settle.names(), [settle.partition])?;
            let ticket = group::nack(
                &*self.shared,
                &topic,
                &group,
                (settle.partition, settle.offset, &settle.owner),
                reason.as_deref(),
                delay,
            )?;
            touch(&group, &self.shared.config.clock);
            ticket
        };
        self.shared.wait(ticket).await
    }
}

impl Subscription {
    /// The next message for this stream, waiting until one is available. `None` once the broker shuts down.
    pub async fn next(&mut self) -> Option<ConsumeItem> {
        self.next_chunk(1, usize::MAX).await.pop()
    }

    /// The messages deliverable to this stream (as [`Subscription::try_next_chunk`]), waiting until there is at
    /// least one. Empty once the broker shuts down.
    pub async fn next_chunk(&mut self, max_items: usize, max_bytes: usize) -> Vec<ConsumeItem> {
        loop {
            let notified = self.topic.notify.notified();
            tokio::pin!(notified);
            // Registered before looking, so that a message arriving in between still wakes us.
            notified.as_mut().enable();
            if self.shared.shutdown.is_set() || self.topic.is_deleted() {
                return Vec::new();
            }
            let items = self.take(Limit {
                items: max_items,
                bytes: max_bytes,
            });
            if !items.is_empty() {
                return items;
            }
            notified.await;
        }
    }

    /// The next message if one is deliverable right now, without waiting (`None` otherwise, and once the broker
    /// shuts down).
    pub fn try_next(&mut self) -> Option<ConsumeItem> {
        self.take(Limit::ONE).pop()
    }

    /// Every message deliverable right now, up to `max_items` and no further once their values reach
    /// `max_bytes`, without waiting (empty otherwise, and once the broker shuts down): lets a stream send every
    /// ready message in one write, and costs the broker one write for their delivery records.
    pub fn try_next_chunk(&mut self, max_items: usize, max_bytes: usize) -> Vec<ConsumeItem> {
        self.take(Limit {
            items: max_items,
            bytes: max_bytes,
        })
    }

    fn take(&self, limit: Limit) -> Vec<ConsumeItem> {
        if self.shared.shutdown.is_set() || self.topic.is_deleted() {
            return Vec::new();
        }
        group::take(
            &*self.shared,
            &self.topic,
            &self.group,
            (&self.owner, self.lease),
            limit,
        )
        .unwrap_or_else(|e| {
            tracing::warn!(topic = %self.topic.name, group = %self.group.name, error = %e,
                "delivery failed; waiting for the next change");
            Vec::new()
        })
    }

    /// The owner this stream leases to.
    pub fn owner(&self) -> &str {
        &self.owner
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        let mut st = self.group.state.lock();
        st.streams = st.streams.saturating_sub(1);
        touch(&self.group, &self.shared.config.clock);
    }
}

/// Records activity on a group, for the idle-group sweep.
pub(crate) fn touch(group: &Group, clock: &Clock) {
    group
        .last_active_ms
        .store(clock.now_ms(), Ordering::Relaxed);
}
