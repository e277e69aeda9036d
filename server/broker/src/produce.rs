//! Produce: [`Produce`] and the checks, idempotency look-up and append of [`Broker::produce`]. It appends only
//! through the shared write path and must not touch consumer groups.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use dq_proto::broker::{Envelope, Produced};
use fjall::OwnedWriteBatch;

use crate::Error;
use crate::broker::{Broker, Pending};
use crate::state::Shared;
use crate::store::{self, MessageRecord};
use crate::topic::Topic;
use crate::validate::{self, Policy};

/// A validated produce: the HTTP layer checks presence of fields, the broker checks everything else.
#[derive(Debug, Clone, Default)]
pub struct Produce {
    /// Topic to write to (the envelope's `target_topic` overrides it).
    pub topic: String,
    /// Chooses the partition by its FNV-1a hash ([`crate::fnv1a32`]); absent or empty: partition 0.
    pub key: Option<String>,
    /// The payload: not empty, at most `max_value_bytes`.
    pub value: String,
    /// Idempotency, routing, deadline and retry metadata, when the producer sent any.
    pub envelope: Option<Envelope>,
}

impl Broker {
    /// Stores a message; returns once it is durable. A duplicate (same tenant, topic and idempotency key inside
    /// the window) stores nothing and answers with `duplicate: true`.
    pub async fn produce(&self, produce: Produce) -> Result<Produced, Error> {
        let (produced, pending) = self.produce_pending(produce)?;
        pending.durable().await?;
        Ok(produced)
    }

    /// [`Broker::produce`] without the wait: the message is stored, after every write before it, when this
    /// returns; consumers and readers see it, and it may be reported stored, once the [`Pending`] is durable.
    pub fn produce_pending(&self, produce: Produce) -> Result<(Produced, Pending), Error> {
        let (produced, ticket) = self.produce_sync(produce)?;
        Ok((produced, self.pending(ticket)))
    }

    /// Everything of a produce but the wait for durability.
    fn produce_sync(&self, produce: Produce) -> Result<(Produced, Option<u64>), Error> {
        let shared = &*self.shared;
        let prepared = self.prepare(produce)?;
        let _idem_guard = prepared.idem_key.as_ref().map(|_| shared.idem_lock.lock());
        if let Some(produced) = self.stored_copy(&prepared)? {
            // The first copy may still be on its way to disk: answer once everything written so far is durable.
            let ticket = shared.config.durable.then(|| shared.committer.barrier());
            return Ok((produced, ticket));
        }
        let Prepared {
            topic,
            partition: p,
            idem_key,
            record,
        } = prepared;
        let expires = self.idem_expiry();
        let (offset, ticket) = shared.append(&topic, p, &record, true, |batch, offset| {
            if let Some(k) = &idem_key {
                idem_ops(shared, batch, k, (p, offset), expires);
            }
        })?;
        Ok((
            Produced {
                status: "produced".into(),
                topic: topic.name.clone(),
                partition: p,
                offset,
                duplicate: false,
            },
            ticket,
        ))
    }

    /// Checks a produce and finds where it goes; stores nothing.
    pub(crate) fn prepare(&self, produce: Produce) -> Result<Prepared, Error> {
        let shared = &*self.shared;
        if shared.shutdown.is_set() {
            return Err(Error::ShuttingDown);
        }
        let Produce {
            topic,
            key,
            value,
            envelope,
        } = produce;
        if value.is_empty() {
            return Err(shared.reject(
                "invalid",
                Error::InvalidArgument("value is required".into()),
            ));
        }
        if value.len() > shared.config.max_value_bytes {
            return Err(shared.reject(
                "too_large",
                Error::TooLarge {
                    size: value.len(),
                    limit: shared.config.max_value_bytes,
                },
            ));
        }
        let env = envelope.as_ref();
        // Before anything else looks at them: these strings end up in stored keys, which have a hard size limit.
        validate::topic_ref("topic", &topic).map_err(|e| shared.reject("invalid", e))?;
        if let Some(env) = env {
            validate::envelope(env).map_err(|e| shared.reject("invalid", e))?;
        }
        let name = match env.and_then(|e| e.target_topic.as_deref()) {
            Some("") => {
                return Err(shared.reject(
                    "invalid",
                    Error::InvalidArgument("target_topic is empty".into()),
                ));
            }
            Some(target) => target,
            None => topic.as_str(),
        };
        let Some(topic) = shared.topic(name) else {
            return Err(shared.reject("unknown_topic", Error::UnknownTopic(name.to_owned())));
        };
        if let Some(deadline) = env.and_then(|e| e.deadline.as_deref()) {
            validate::deadline(deadline, time::OffsetDateTime::now_utc())
                .map_err(|e| shared.reject("deadline_passed", e))?;
        }
        Policy::parse(env.and_then(|e| e.retry_policy.as_ref()))
            .map_err(|e| shared.reject("invalid", e))?;
        let partition = validate::choose_partition(
            topic.partition_count(),
            key.as_deref(),
            env.and_then(|e| e.partition_override),
        )
        .map_err(|e| shared.reject("invalid", e))?;
        let idem_key = env
            .and_then(|e| {
                e.idempotency_key
                    .as_deref()
                    .filter(|k| !k.is_empty())
                    .map(|k| (e.tenant_id.as_deref().unwrap_or(""), k))
            })
            .map(|(tenant, k)| store::idem_key(topic.id, tenant, k));
        let record = MessageRecord {
            produced_at_ms: shared.config.clock.now_ms(),
            key: key.unwrap_or_default(),
            value,
            envelope,
            dlq: None,
        };
        Ok(Prepared {
            topic,
            partition,
            idem_key,
            record,
        })
    }

    /// The answer for a duplicate: where the first copy of a message with the same idempotency key is, while
    /// its key is inside the window. Call with the idempotency lock held.
    pub(crate) fn stored_copy(&self, prepared: &Prepared) -> Result<Option<Produced>, Error> {
        let shared = &*self.shared;
        let Some(k) = &prepared.idem_key else {
            return Ok(None);
        };
        let Some((partition, offset, expires)) = shared
            .store
            .idem
            .get(k)?
            .as_deref()
            .and_then(store::parse_idem_value)
        else {
            return Ok(None);
        };
        if expires <= shared.config.clock.now_ms() {
            return Ok(None);
        }
        shared.duplicates.fetch_add(1, Ordering::Relaxed);
        Ok(Some(Produced {
            status: "produced".into(),
            topic: prepared.topic.name.clone(),
            partition,
            offset,
            duplicate: true,
        }))
    }

    /// When an idempotency key written now leaves the window.
    pub(crate) fn idem_expiry(&self) -> u64 {
        let config = &self.shared.config;
        let window = u64::try_from(config.idempotency_window.as_millis()).unwrap_or(u64::MAX);
        config.clock.now_ms().saturating_add(window)
    }
}

/// A checked produce: its topic, partition, idempotency key (as stored) and record.
pub(crate) struct Prepared {
    pub(crate) topic: Arc<Topic>,
    pub(crate) partition: u32,
    pub(crate) idem_key: Option<Vec<u8>>,
    pub(crate) record: MessageRecord,
}

/// Adds the writes that record idempotency key `k` for the message at `(p, offset)` until `expires`: a batch
/// of one, whose expiry row has an empty value (the form older data dirs hold for every key).
pub(crate) fn idem_ops(
    shared: &Shared,
    batch: &mut OwnedWriteBatch,
    k: &[u8],
    (p, offset): (u32, u64),
    expires: u64,
) {
    idem_batch_ops(shared, batch, &[(k, (p, offset))], expires);
}

/// Adds the writes that record the idempotency keys of a produce batch, each `(k, (p, offset))`, until
/// `expires`: an `idem` row per key, as [`idem_ops`] does, but one `idem_exp` row for them all (see
/// [`store::idem_exp_value`]).
pub(crate) fn idem_batch_ops(
    shared: &Shared,
    batch: &mut OwnedWriteBatch,
    keyed: &[(&[u8], (u32, u64))],
    expires: u64,
) {
    let Some(((first, _), further)) = keyed.split_first() else {
        return;
    };
    for &(k, (p, offset)) in keyed {
        batch.insert(
            &shared.store.idem,
            k.to_vec(),
            store::idem_value(p, offset, expires).to_vec(),
        );
    }
    batch.insert(
        &shared.store.idem_exp,
        store::idem_exp_key(expires, first),
        store::idem_exp_value(further.iter().map(|&(k, _)| k)),
    );
}
