//! Failing a delivery: a nack or an expired lease makes the message wait for a retry (after its backoff), or,
//! once its attempts are spent, go to the topic's DLQ (`dlq.<topic>`) in the same batch that settles it.

use dq_proto::broker::DlqInfo;

use super::{
    ACK_TIMEOUT, Arc, Candidate, Counters, DLQ_RETRY, Duration, EXPIRY_BACKOFF_BASE,
    EXPIRY_BACKOFF_CAP, Error, Group, Host, Instant, MessageRecord, Part, Policy, Retry,
    TimerEntry, TimerKey, Topic, append_error, checked, partition_index, store,
};
use crate::validate::MAX_DELAY;

/// A failed delivery: how many deliveries it had, the reasons so far (this one included), and its policy.
struct Failure {
    attempts: u32,
    last_error: String,
    policy: Policy,
}

/// Nacks an in-flight message: redelivered after the backoff (or `delay`), or dead-lettered when its attempts
/// are exhausted. Returns the group-commit ticket to wait for.
pub(crate) fn nack(
    host: &impl Host,
    topic: &Arc<Topic>,
    group: &Arc<Group>,
    (p, offset, owner): (u32, u64, &str),
    reason: Option<&str>,
    delay: Option<Duration>,
) -> Result<Option<u64>, Error> {
    let now = Instant::now();
    let mut st = group.lock();
    let gp = st
        .parts
        .get_mut(partition_index(p))
        .ok_or(Error::NotInFlight)?;
    checked(gp, offset, owner)?;
    let Some(entry) = gp.in_flight.remove(&offset) else {
        return Err(Error::NotInFlight);
    };
    host.timers().cancel(entry.timer);
    let reason = reason.filter(|r| !r.is_empty()).unwrap_or("nack");
    let failure = Failure {
        attempts: entry.attempts,
        last_error: append_error(&entry.last_error, reason),
        policy: entry.policy,
    };
    let mut part = Part {
        host,
        topic,
        group,
        p,
        gp,
        now,
    };
    let result = part.fail(offset, failure, delay);
    drop(st);
    Counters::bump(&topic.counters.nacked);
    topic.notify.notify_waiters();
    result
}

/// A lease ran out: a failure with reason `ack_timeout`, redelivered after [`expiry_backoff`].
pub(crate) fn expire(
    host: &impl Host,
    topic: &Arc<Topic>,
    group: &Arc<Group>,
    (p, offset): (u32, u64),
    key: TimerKey,
) {
    let now = Instant::now();
    let mut st = group.lock();
    let Some(gp) = st.parts.get_mut(partition_index(p)) else {
        return;
    };
    // Settled (or settled and delivered again, with a new timer) between the pop and this lock: not ours.
    if gp
        .in_flight
        .get(&offset)
        .is_none_or(|entry| entry.timer != key)
    {
        return;
    }
    let Some(entry) = gp.in_flight.remove(&offset) else {
        return;
    };
    let wait = expiry_backoff(entry.lease, entry.attempts, &entry.policy);
    tracing::debug!(topic = %topic.name, group = %group.name, partition = p, offset, owner = %entry.owner,
        attempts = entry.attempts, ?wait, "lease expired");
    let failure = Failure {
        attempts: entry.attempts,
        last_error: append_error(&entry.last_error, ACK_TIMEOUT),
        policy: entry.policy,
    };
    let mut part = Part {
        host,
        topic,
        group,
        p,
        gp,
        now,
    };
    if let Err(e) = part.fail(offset, failure, Some(wait)) {
        tracing::warn!(topic = %topic.name, group = %group.name, partition = p, offset, error = %e,
            "could not record a lease expiry");
    }
    drop(st);
    topic.notify.notify_waiters();
}

/// How long a message whose lease ran out waits before its redelivery, after `attempts` deliveries.
///
/// Without it a consumer that takes messages and never acks (or a lease shorter than the work) gets each one back
/// at once, once per lease: with a 1 ms lease that was 17,000 redeliveries (journal writes) per second. So the
/// first expiry redelivers at once, as before (a crashed worker's message is not held up: the lease was the
/// wait), and each further one waits min(lease, 1 s) · 2^(attempts − 2), at most 30 s. `attempts` counts every
/// delivery, nacked ones included, because that is what is stored across restarts. The message's own retry
/// policy still applies when its backoff is longer.
fn expiry_backoff(lease: Duration, attempts: u32, policy: &Policy) -> Duration {
    let own = match attempts.checked_sub(2) {
        None => Duration::ZERO,
        Some(doublings) => lease
            .min(EXPIRY_BACKOFF_BASE)
            .saturating_mul(1u32.checked_shl(doublings).unwrap_or(u32::MAX))
            .min(EXPIRY_BACKOFF_CAP),
    };
    own.max(policy.backoff(attempts))
}

impl<H: Host> Part<'_, H> {
    /// A delivery of `offset` failed (nack or expiry): dead-letter it, or park it for redelivery after its
    /// backoff (or `delay`). Returns the group-commit ticket to wait for.
    fn fail(
        &mut self,
        offset: u64,
        failure: Failure,
        delay: Option<Duration>,
    ) -> Result<Option<u64>, Error> {
        let Failure {
            attempts,
            last_error,
            policy,
        } = failure;
        if policy.exhausted(attempts) {
            let candidate = Candidate {
                offset,
                attempts,
                last_error,
            };
            return self.dead_letter_or_park_as(candidate);
        }
        let wait = delay.map_or_else(|| policy.backoff(attempts), |d| d.min(MAX_DELAY));
        let record = store::AttemptsRecord {
            attempts,
            last_error: last_error.clone(),
        };
        let committed = self.host.store().batch().and_then(|mut batch| {
            batch.insert(
                &self.host.store().attempts,
                self.offset_key(offset),
                store::encode(&record),
            );
            batch.commit()
        });
        // Park it even if the write failed: the delivery state in memory is right, only its restart copy is
        // stale.
        self.park(
            offset,
            Retry {
                ready_at: self.now + wait,
                attempts,
                last_error,
            },
        );
        committed?;
        Ok(self.host.ticket())
    }

    /// Keeps `offset` for redelivery once `retry.ready_at` is due (waking the topic's streams then).
    fn park(&mut self, offset: u64, retry: Retry) {
        if retry.ready_at > Instant::now() {
            self.host.timers().schedule(
                retry.ready_at,
                TimerEntry::RetryReady {
                    notify: Arc::clone(&self.topic.notify),
                },
            );
        }
        self.gp.retry.insert(offset, retry);
    }

    /// Dead-letters a candidate whose attempts are spent; if that write fails, parks it to try again after
    /// [`DLQ_RETRY`].
    pub(super) fn dead_letter_or_park(&mut self, c: Candidate) {
        // The error is logged by `dead_letter_or_park_as`; the message waits for the retry.
        let _ = self.dead_letter_or_park_as(c);
    }

    /// [`Part::dead_letter_or_park`], returning the dead-letter's ticket or the write's error.
    fn dead_letter_or_park_as(&mut self, c: Candidate) -> Result<Option<u64>, Error> {
        match self.dead_letter(c.offset, c.attempts, &c.last_error) {
            Ok(ticket) => Ok(ticket),
            Err(e) => {
                tracing::warn!(topic = %self.topic.name, group = %self.group.name, partition = self.p,
                    offset = c.offset, error = %e, "dead-letter write failed; retrying in {DLQ_RETRY:?}");
                self.park(
                    c.offset,
                    Retry {
                        ready_at: self.now + DLQ_RETRY,
                        attempts: c.attempts,
                        last_error: c.last_error,
                    },
                );
                Err(e)
            }
        }
    }

    /// Writes the message at `offset` to `dlq.<topic>` with its DLQ metadata and settles the original, in one
    /// atomic batch.
    fn dead_letter(
        &mut self,
        offset: u64,
        attempts: u32,
        last_error: &str,
    ) -> Result<Option<u64>, Error> {
        let (host, topic, p) = (self.host, self.topic, self.p);
        let Some(original) = self.read_message(offset)? else {
            // Deleted by retention: nothing to dead-letter, only settle.
            let mut batch = host.store().batch()?;
            let settled = self.settle_ops(&[offset], &mut batch);
            batch.commit()?;
            self.apply_settle(settled);
            return Ok(host.ticket());
        };

        let dlq =
            host.ensure_topic_uncapped(&format!("dlq.{}", topic.name), topic.partition_count())?;
        let dp = p % dlq.partition_count().max(1);
        let now = host.config().clock.now_ms();
        let record = MessageRecord {
            produced_at_ms: now,
            key: original.key,
            value: original.value,
            envelope: original.envelope,
            dlq: Some(DlqInfo {
                topic: topic.name.clone(),
                partition: p,
                offset,
                attempts,
                last_error: last_error.to_owned(),
                dead_lettered_at_ms: now,
            }),
        };
        let mut settled = None;
        let (dlq_offset, ticket) = host.append(&dlq, dp, &record, false, |batch, _| {
            settled = Some(self.settle_ops(&[offset], batch));
        })?;
        if let Some(settled) = settled {
            self.apply_settle(settled);
        }
        Counters::bump(&topic.counters.dead_lettered);
        tracing::info!(topic = %topic.name, group = %self.group.name, partition = p, offset, attempts,
            dlq = %dlq.name, dlq_partition = dp, dlq_offset, "dead-lettered");
        Ok(ticket)
    }
}
