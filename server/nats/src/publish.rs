//! [`Writes`]: pipelined publishes that keep the queue trait's ordering promise on JetStream.
//!
//! A publish is durable once its ack arrives (a quorum of replicas has it; on disk with `sync_interval:
//! always`). Each publish's durability also awaits the previous publish to the same stream, because one later
//! ack does not prove an earlier one (a leader change can drop a message in flight). The four streams have no
//! common order, so the queue says so (`orders_across_topics` is false) and each writer of the runs layer
//! waits for its own pending writes before it switches topics: a barrier per writer, not one that would make
//! every writer wait for everyone else's writes to other streams.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_nats::HeaderMap;
use async_nats::jetstream::context::{PublishError, PublishErrorKind};
use bytes::Bytes;
use futures::FutureExt;
use futures::future::{BoxFuture, Shared};

use dq_runs::QueueError;

use crate::layout::Route;

/// The header carrying dq's partitioning key (JetStream has none).
pub(crate) const KEY_HEADER: &str = "Dq-Key";
/// JetStream's idempotency header.
pub(crate) const MSG_ID_HEADER: &str = "Nats-Msg-Id";

/// What a publish stored: its stream sequence and whether it was a duplicate.
pub(crate) type Stored = (u64, bool);
/// A publish's ack, awaitable by many (its writer, later publishes, barriers).
pub(crate) type Ack = Shared<BoxFuture<'static, Result<Stored, Arc<QueueError>>>>;

/// The publishes in flight, per stream.
pub(crate) struct Writes {
    js: async_nats::jetstream::Context,
    /// The last publish to each stream (at most four entries).
    tails: parking_lot::Mutex<HashMap<&'static str, Ack>>,
    /// The highest sequence acked per subject, for reads of this process's own writes (read-your-writes).
    acked: Arc<parking_lot::Mutex<HashMap<String, u64>>>,
    /// Held while a publish is handed to the client, so that the order of the tails is the order on the wire.
    order: tokio::sync::Mutex<()>,
}

impl Writes {
    pub fn new(js: async_nats::jetstream::Context) -> Self {
        Self {
            js,
            tails: parking_lot::Mutex::default(),
            acked: Arc::default(),
            order: tokio::sync::Mutex::new(()),
        }
    }

    /// Publishes `value` to `route`; the returned ack resolves once it and every earlier publish to its stream
    /// are durable.
    pub async fn publish(
        &self,
        route: &Route,
        key: Option<&str>,
        value: String,
        msg_id: Option<&str>,
    ) -> Result<Ack, QueueError> {
        let mut headers = HeaderMap::new();
        if let Some(key) = key {
            headers.insert(KEY_HEADER, key);
        }
        if let Some(id) = msg_id {
            headers.insert(MSG_ID_HEADER, id);
        }
        let payload = Bytes::from(value);
        let _order = self.order.lock().await;
        let pending = self
            .js
            .publish_with_headers(route.subject.clone(), headers.clone(), payload.clone())
            .await
            .map_err(publish_error)?;
        let mut tails = self.tails.lock();
        // A failed tail failed its own writer and those chained to it; later writes start afresh.
        let previous = tails.get(route.stream).filter(|ack| !failed(ack)).cloned();
        let acked = Arc::clone(&self.acked);
        let (js, subject) = (self.js.clone(), route.subject.clone());
        let ack: Ack = async move {
            let mut pending = pending;
            let deadline = Instant::now() + RETRY_FOR;
            let stored = loop {
                match pending.await {
                    Ok(stored) => break stored,
                    Err(e) if not_stored(&e) && Instant::now() < deadline => {
                        tracing::debug!("publish to {subject} not stored ({e}); again");
                        // Retried writes keep the stream's order: the write before settles first.
                        if let Some(previous) = &previous {
                            let _ = previous.clone().await;
                        }
                        tokio::time::sleep(RETRY_PAUSE).await;
                        pending = js
                            .publish_with_headers(subject.clone(), headers.clone(), payload.clone())
                            .await
                            .map_err(|e| Arc::new(publish_error(e)))?;
                    }
                    Err(e) => return Err(Arc::new(publish_error(e))),
                }
            };
            {
                let mut highest = acked.lock();
                // One entry per run written to: forgetting them all now and then bounds the memory; a read
                // of a forgotten subject just loses the staleness check.
                if highest.len() >= ACKED_SUBJECTS && !highest.contains_key(&subject) {
                    highest.clear();
                }
                let seen = highest.entry(subject.clone()).or_default();
                *seen = (*seen).max(stored.sequence);
            }
            if let Some(previous) = previous {
                previous.await?;
            }
            Ok((stored.sequence, stored.duplicate))
        }
        .boxed()
        .shared();
        tails.insert(route.stream, ack.clone());
        Ok(ack)
    }
}

impl Writes {
    /// The highest sequence of `subject` this queue has seen acked (0: none known).
    pub fn acked(&self, subject: &str) -> u64 {
        self.acked.lock().get(subject).copied().unwrap_or(0)
    }
}

/// Subjects whose last acked sequence is remembered.
const ACKED_SUBJECTS: usize = 65_536;

/// How long a publish the cluster did not store is tried again: past a leader election (4–9 s measured),
/// during which a stream has no leader to answer. The same `Nats-Msg-Id` goes with each try.
const RETRY_FOR: Duration = Duration::from_secs(20);
/// The pause between tries.
const RETRY_PAUSE: Duration = Duration::from_millis(250);

/// Whether a failed publish was certainly not stored (no stream answered, or JetStream refused it for now),
/// so that publishing it again cannot store it twice. A timeout or a broken connection is not: the message
/// may have been stored.
fn not_stored(error: &PublishError) -> bool {
    matches!(
        error.kind(),
        PublishErrorKind::StreamNotFound | PublishErrorKind::Other
    )
}

/// Whether `ack` has resolved with an error.
fn failed(ack: &Ack) -> bool {
    matches!(ack.peek(), Some(Err(_)))
}

/// A shared error handed to one more waiter.
pub(crate) fn copy(error: &QueueError) -> QueueError {
    match error {
        QueueError::UnknownTopic(s) => QueueError::UnknownTopic(s.clone()),
        QueueError::TooLarge(s) => QueueError::TooLarge(s.clone()),
        QueueError::Rejected(s) => QueueError::Rejected(s.clone()),
        QueueError::Unavailable(s) => QueueError::Unavailable(s.clone()),
        QueueError::Storage { full, message } => QueueError::Storage {
            full: *full,
            message: message.clone(),
        },
        QueueError::Unsupported(s) => QueueError::Unsupported(s),
        QueueError::Protocol(s) => QueueError::Protocol(s.clone()),
        // Errors of the HTTP queue, whose sources cannot be copied: the copy keeps their words.
        QueueError::Transport { .. } => QueueError::Unavailable(error.to_string()),
        QueueError::Json { .. } => QueueError::Protocol(error.to_string()),
    }
}

fn publish_error(error: PublishError) -> QueueError {
    let message = format!("jetstream publish: {error}");
    match error.kind() {
        PublishErrorKind::StreamNotFound => QueueError::UnknownTopic(message),
        PublishErrorKind::MaxPayloadExceeded => QueueError::TooLarge(message),
        PublishErrorKind::WrongLastMessageId | PublishErrorKind::WrongLastSequence => {
            QueueError::Rejected(message)
        }
        _ => QueueError::Unavailable(message),
    }
}
