//! Failing a delivery: a nack or an expired lease makes the message wait for a retry (after its backoff), or,
//! once its attempts are spent, go to the topic's DLQ (`dlq.<topic>`) in the same batch that settles it.

use super::{
    ACK_TIMEOUT, Arc, AttemptsRecord, Candidate, Counters, DLQ_RETRY, DlqInfo, Duration,
    EXPIRY_BACKOFF_BASE, EXPIRY_BACKOFF_CAP, Error, Group, GroupPart, Host, Instant, MAX_DELAY,
    MessageRecord, Policy, Retry, Settled, TimerEntry, TimerKey, Topic, append_error, apply_settle,
    checked, partition_index, read_message, settle_ops, store,
};

/// Nacks an in-flight message: redelivered after the backoff (or `delay`), or dead-lettered when its attempts
/// are exhausted. Returns the group-commit ticket to wait for.
pub(crate) fn nack(
    inner: &impl Host,
    topic: &Arc<Topic>,
    group: &Group,
    settle: (u32, u64, &str),
    reason: Option<&str>,
    delay: Option<Duration>,
) -> Result<Option<u64>, Error> {
    let (p, offset, owner) = settle;
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
    inner.timers().cancel(entry.timer);
    let reason = reason.filter(|r| !r.is_empty()).unwrap_or("nack");
    let last_error = append_error(&entry.last_error, reason);
    let result = fail(
        inner,
        topic,
        &group.name,
        gp,
        p,
        offset,
        (entry.attempts, last_error, entry.policy),
        delay,
        now,
    );
    drop(st);
    Counters::bump(&topic.counters.nacked);
    topic.notify.notify_waiters();
    result
}

/// A lease ran out: a failure with reason `ack_timeout`, redelivered after [`expiry_backoff`].
pub(crate) fn expire(
    inner: &impl Host,
    topic: &Arc<Topic>,
    group: &Group,
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
    let last_error = append_error(&entry.last_error, ACK_TIMEOUT);
    let wait = expiry_backoff(entry.lease, entry.attempts, &entry.policy);
    tracing::debug!(topic = %topic.name, group = %group.name, partition = p, offset, owner = %entry.owner,
        attempts = entry.attempts, ?wait, "lease expired");
    if let Err(e) = fail(
        inner,
        topic,
        &group.name,
        gp,
        p,
        offset,
        (entry.attempts, last_error, entry.policy),
        Some(wait),
        now,
    ) {
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

/// A delivery failed (nack or expiry) after `attempts` deliveries: dead-letter or park for redelivery.
#[allow(clippy::too_many_arguments)]
fn fail(
    inner: &impl Host,
    topic: &Arc<Topic>,
    group: &str,
    gp: &mut GroupPart,
    p: u32,
    offset: u64,
    (attempts, last_error, policy): (u32, String, Policy),
    delay: Option<Duration>,
    now: Instant,
) -> Result<Option<u64>, Error> {
    if policy.exhausted(attempts) {
        return dead_letter(inner, topic, group, gp, p, offset, attempts, &last_error).inspect_err(
            |e| {
                tracing::warn!(topic = %topic.name, group, partition = p, offset, error = %e,
                "dead-letter write failed; retrying in {DLQ_RETRY:?}");
                park(
                    inner,
                    topic,
                    gp,
                    offset,
                    Retry {
                        ready_at: now + DLQ_RETRY,
                        attempts,
                        last_error: last_error.clone(),
                    },
                );
            },
        );
    }
    let wait = delay.map_or_else(|| policy.backoff(attempts), |d| d.min(MAX_DELAY));
    let record = AttemptsRecord {
        attempts,
        last_error: last_error.clone(),
    };
    let committed = inner.store().batch().and_then(|mut batch| {
        batch.insert(
            &inner.store().attempts,
            store::group_offset_key(topic.id, group, p, offset),
            store::encode(&record),
        );
        batch.commit()
    });
    // Park it even if the write failed: the delivery state in memory is right, only its restart copy is stale.
    park(
        inner,
        topic,
        gp,
        offset,
        Retry {
            ready_at: now + wait,
            attempts,
            last_error,
        },
    );
    committed?;
    Ok(inner.ticket())
}

fn park(inner: &impl Host, topic: &Topic, gp: &mut GroupPart, offset: u64, retry: Retry) {
    if retry.ready_at > Instant::now() {
        inner.timers().schedule(
            retry.ready_at,
            TimerEntry::RetryReady {
                notify: Arc::clone(&topic.notify),
            },
        );
    }
    gp.retry.insert(offset, retry);
}

pub(super) fn dead_letter_or_park(
    inner: &impl Host,
    topic: &Arc<Topic>,
    group: &str,
    gp: &mut GroupPart,
    p: u32,
    c: Candidate,
    now: Instant,
) {
    if let Err(e) = dead_letter(
        inner,
        topic,
        group,
        gp,
        p,
        c.offset,
        c.attempts,
        &c.last_error,
    ) {
        tracing::warn!(topic = %topic.name, group, partition = p, offset = c.offset, error = %e,
            "dead-letter write failed; retrying in {DLQ_RETRY:?}");
        park(
            inner,
            topic,
            gp,
            c.offset,
            Retry {
                ready_at: now + DLQ_RETRY,
                attempts: c.attempts,
                last_error: c.last_error,
            },
        );
    }
}

/// Writes the message to `dlq.<topic>` with its DLQ metadata and settles the original, in one atomic batch.
#[allow(clippy::too_many_arguments)]
fn dead_letter(
    inner: &impl Host,
    topic: &Arc<Topic>,
    group: &str,
    gp: &mut GroupPart,
    p: u32,
    offset: u64,
    attempts: u32,
    last_error: &str,
) -> Result<Option<u64>, Error> {
    let Some(original) = read_message(inner, topic.id, p, offset)? else {
        // Deleted by retention: nothing to dead-letter, only settle.
        let mut batch = inner.store().batch()?;
        let settled = settle_ops(inner, topic.id, group, p, gp, &[offset], &mut batch);
        batch.commit()?;
        apply_settle(gp, settled);
        return Ok(inner.ticket());
    };

    let dlq =
        inner.ensure_topic_uncapped(&format!("dlq.{}", topic.name), topic.partition_count())?;
    let dp = p % dlq.partition_count().max(1);
    let now = inner.config().clock.now_ms();
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
    let mut settled = Settled::default();
    let (dlq_offset, ticket) = inner.append(&dlq, dp, &record, false, |batch, _| {
        settled = settle_ops(inner, topic.id, group, p, gp, &[offset], batch);
    })?;
    apply_settle(gp, settled);
    Counters::bump(&topic.counters.dead_lettered);
    tracing::info!(topic = %topic.name, group, partition = p, offset, attempts, dlq = %dlq.name,
        dlq_partition = dp, dlq_offset, "dead-lettered");
    Ok(ticket)
}
