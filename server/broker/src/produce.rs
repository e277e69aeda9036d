//! Produce: [`Produce`] and the checks, idempotency look-up and append of [`Broker::produce`]. It appends only
//! through the shared write path and must not touch consumer groups.

use std::sync::atomic::Ordering;

use dq_proto::broker::{Envelope, Produced};

use crate::Error;
use crate::broker::{Broker, Pending};
use crate::state::now_ms;
use crate::store::{self, MessageRecord};
use crate::validate::{self, Policy};

/// A validated produce: the HTTP layer checks presence of fields, the broker checks everything else.
#[derive(Debug, Clone, Default)]
pub struct Produce {
    /// Topic to write to (the envelope's `target_topic` overrides it).
    pub topic: String,
    /// Partitioning key.
    pub key: Option<String>,
    /// Non-empty payload.
    pub value: String,
    /// Optional envelope.
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
        let p = validate::choose_partition(
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
        let _idem_guard = idem_key.as_ref().map(|_| shared.idem_lock.lock());
        let now = now_ms();
        if let Some(k) = &idem_key
            && let Some((dp, doff, expires)) = shared
                .store
                .idem
                .get(k)?
                .as_deref()
                .and_then(store::parse_idem_value)
            && expires > now
        {
            shared.duplicates.fetch_add(1, Ordering::Relaxed);
            // The first copy may still be on its way to disk: answer once everything written so far is durable.
            let ticket = shared.config.durable.then(|| shared.committer.barrier());
            let produced = Produced {
                status: "produced".into(),
                topic: topic.name.clone(),
                partition: dp,
                offset: doff,
                duplicate: true,
            };
            return Ok((produced, ticket));
        }
        let window_ms =
            u64::try_from(shared.config.idempotency_window.as_millis()).unwrap_or(u64::MAX);
        let expires = now.saturating_add(window_ms);
        let record = MessageRecord {
            produced_at_ms: now,
            key: key.unwrap_or_default(),
            value,
            envelope,
            dlq: None,
        };
        let (offset, ticket) = shared.append(&topic, p, &record, true, |batch, offset| {
            if let Some(k) = &idem_key {
                batch.insert(
                    &shared.store.idem,
                    k.clone(),
                    store::idem_value(p, offset, expires).to_vec(),
                );
                batch.insert(
                    &shared.store.idem_exp,
                    store::idem_exp_key(expires, k),
                    Vec::new(),
                );
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
}
