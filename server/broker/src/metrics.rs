//! The [`Metrics`] snapshot of counters and gauges for `/metrics`. It only reads: it must not change any state,
//! and holds each lock only while it copies from it.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use crate::broker::Broker;
use crate::topic::Topic;
use crate::topic::group::{Group, GroupPart, GroupState};

/// Counters and gauges for `/metrics`.
#[derive(Debug, Clone, Default)]
pub struct Metrics {
    /// Messages stored by produce, per topic.
    pub produced: Vec<(String, u64)>,
    /// Messages delivered to consumers, per topic.
    pub delivered: Vec<(String, u64)>,
    /// Acks, per topic.
    pub acked: Vec<(String, u64)>,
    /// Nacks, per topic.
    pub nacked: Vec<(String, u64)>,
    /// Messages dead-lettered, per original topic.
    pub dead_lettered: Vec<(String, u64)>,
    /// Produce requests rejected, per reason (`too_large`, `backlog_full`, `deadline_passed`, ...).
    pub produce_rejected: Vec<(String, u64)>,
    /// In flight per (topic, group).
    pub in_flight: Vec<(String, String, u64)>,
    /// Consumer lag (head − committed low-water mark) per (topic, group).
    pub lag: Vec<(String, String, u64)>,
    /// Idempotent duplicates answered without storing.
    pub duplicates: u64,
    /// Live consume streams per (topic, group) (a dq addition).
    pub streams: Vec<(String, String, u64)>,
}

impl Broker {
    /// A snapshot of the counters and gauges.
    pub fn metrics(&self) -> Metrics {
        let shared = &self.shared;
        let mut m = Metrics {
            duplicates: shared.duplicates.load(Ordering::Relaxed),
            produce_rejected: shared
                .rejected
                .lock()
                .iter()
                .map(|(reason, n)| ((*reason).to_owned(), *n))
                .collect(),
            ..Metrics::default()
        };
        let mut topics: Vec<Arc<Topic>> = shared.topics.read().values().cloned().collect();
        topics.sort_unstable_by(|a, b| a.name.cmp(&b.name));
        for topic in topics {
            let c = &topic.counters;
            let name = &topic.name;
            m.produced
                .push((name.clone(), c.produced.load(Ordering::Relaxed)));
            m.delivered
                .push((name.clone(), c.delivered.load(Ordering::Relaxed)));
            m.acked
                .push((name.clone(), c.acked.load(Ordering::Relaxed)));
            m.nacked
                .push((name.clone(), c.nacked.load(Ordering::Relaxed)));
            m.dead_lettered
                .push((name.clone(), c.dead_lettered.load(Ordering::Relaxed)));
            let groups: Vec<Arc<Group>> = topic.groups.lock().values().cloned().collect();
            for group in groups {
                let st = group.state.lock();
                let in_flight: usize = st.parts.iter().map(GroupPart::in_flight).sum();
                let lag = unsettled(&topic, &st);
                let streams = u64::try_from(st.streams).unwrap_or(u64::MAX);
                drop(st);
                m.streams.push((name.clone(), group.name.clone(), streams));
                m.in_flight.push((
                    name.clone(),
                    group.name.clone(),
                    u64::try_from(in_flight).unwrap_or(u64::MAX),
                ));
                m.lag.push((name.clone(), group.name.clone(), lag));
            }
        }
        m
    }

    /// Messages of `topic` that `group` has not settled (head − committed low-water mark, summed over
    /// partitions; every stored message when the group does not exist yet), or `None` without the topic. The
    /// runs service bounds its unfinished runs by this for its commands topic: a command is acked once its run
    /// ended.
    pub fn lag(&self, topic: &str, group: &str) -> Option<u64> {
        let topic = self.shared.topic(topic)?;
        let group = topic.groups.lock().get(group).cloned();
        let lag = match group {
            Some(group) => unsettled(&topic, &group.state.lock()),
            None => topic
                .partitions
                .iter()
                .map(|part| part.visible().saturating_sub(part.first()))
                .sum(),
        };
        Some(lag)
    }
}

/// Head − committed low-water mark of `group` on `topic`, summed over partitions.
fn unsettled(topic: &Topic, group: &GroupState) -> u64 {
    group
        .parts
        .iter()
        .zip(&topic.partitions)
        .map(|(gp, part)| part.visible().saturating_sub(gp.lwm.max(part.first())))
        .sum()
}
