//! Coalesced acks for [`super::HttpQueue`] (and its reader, through the same [`Link`]): acks of one consumer (topic, group, owner) asked for while one of its ack
//! requests is under way go out together, as one batch `POST /v1/ack` with `"offsets"` (a dq addition), once
//! that request is answered — group commit for acks — so that a busy remote worker sends a request per round
//! trip, not per message, and a lone ack is sent at once. Used only when the server announces the batch forms
//! in `/v1/version` (the original broker does not: there every ack stays its own request). A batch is all or
//! nothing, so when one fails its acks are sent again one by one and each caller gets its own answer.

use std::collections::HashMap;

use dq_proto::broker::{AckPosition, FEATURE_BATCH, Version};
use parking_lot::Mutex;
use tokio::sync::oneshot;

use super::{Call, Link, ack_body};
use crate::QueueError;
use crate::queue::ConsumeSpec;

/// Most acks in one request (the server takes up to 1,000).
const MAX_BATCH: usize = 500;

/// An ack waiting to be sent, and where its answer goes.
type Waiter = (u32, u64, oneshot::Sender<Result<(), QueueError>>);
/// Topic, group and owner.
type ConsumerKey = (String, String, String);

#[derive(Default)]
struct Consumer {
    waiting: Vec<Waiter>,
    /// A task is sending this consumer's acks: new ones join `waiting` for its next request.
    sending: bool,
}

/// The ack state of one [`Link`] and its clones.
#[derive(Default)]
pub(super) struct Acks {
    /// Whether the server takes batch acks, once it answered `/v1/version`.
    batch: Mutex<Option<bool>>,
    consumers: Mutex<HashMap<ConsumerKey, Consumer>>,
}

impl Acks {
    /// Acks one delivery, in a batch with other acks of its consumer when the server has the batch form.
    pub(super) async fn ack(
        &self,
        queue: &Link,
        spec: &ConsumeSpec,
        partition: u32,
        offset: u64,
    ) -> Result<(), QueueError> {
        if !self.batch_supported(queue).await {
            return queue
                .settle("/v1/ack", &ack_body(spec, partition, offset))
                .await;
        }
        let key = (spec.topic.clone(), spec.group.clone(), spec.owner.clone());
        let (answer, answered) = oneshot::channel();
        let lead = {
            let mut consumers = self.consumers.lock();
            let consumer = consumers.entry(key.clone()).or_default();
            consumer.waiting.push((partition, offset, answer));
            !std::mem::replace(&mut consumer.sending, true)
        };
        if lead {
            // A task of its own: the acks that join this round must not depend on this caller staying around.
            tokio::spawn(drain(queue.clone(), spec.clone(), key));
        }
        answered.await.unwrap_or_else(|_| {
            Err(QueueError::Unavailable(
                "the ack was dropped before it was sent".into(),
            ))
        })
    }

    /// Whether the server takes the batch forms of ack and produce (asked once, with `GET /v1/version`).
    pub(super) async fn batch_supported(&self, queue: &Link) -> bool {
        if let Some(known) = *self.batch.lock() {
            return known;
        }
        let response = match queue
            .send(
                queue.request(reqwest::Method::GET, "/v1/version"),
                "GET /v1/version",
                Call::Other,
            )
            .await
        {
            Ok(response) => response,
            // Unknown for now: ask again with the next ack.
            Err(QueueError::Transport { .. }) => return false,
            // A broker that answers, but not with its version, has no batch forms either.
            Err(_) => {
                *self.batch.lock() = Some(false);
                return false;
            }
        };
        let known = response
            .json::<Version>()
            .await
            .is_ok_and(|v| v.features.iter().any(|f| f == FEATURE_BATCH));
        *self.batch.lock() = Some(known);
        known
    }
}

/// Sends the consumer's waiting acks, a batch per request, until none is left.
async fn drain(queue: Link, spec: ConsumeSpec, key: ConsumerKey) {
    loop {
        let round: Vec<Waiter> = {
            let mut consumers = queue.acks.consumers.lock();
            let Some(consumer) = consumers.get_mut(&key) else {
                return;
            };
            if consumer.waiting.is_empty() {
                consumers.remove(&key);
                return;
            }
            let n = consumer.waiting.len().min(MAX_BATCH);
            consumer.waiting.drain(..n).collect()
        };
        send(&queue, &spec, round).await;
    }
}

async fn send(queue: &Link, spec: &ConsumeSpec, round: Vec<Waiter>) {
    if round.len() > 1 {
        let mut body = ack_body(spec, 0, 0);
        body.partition = None;
        body.offset = None;
        body.offsets = Some(
            round
                .iter()
                .map(|(partition, offset, _)| AckPosition::At {
                    partition: i64::from(*partition),
                    offset: i64::try_from(*offset).unwrap_or(i64::MAX),
                })
                .collect(),
        );
        if queue.settle("/v1/ack", &body).await.is_ok() {
            for (_, _, answer) in round {
                let _ = answer.send(Ok(()));
            }
            return;
        }
    }
    for (partition, offset, answer) in round {
        let result = queue
            .settle("/v1/ack", &ack_body(spec, partition, offset))
            .await;
        let _ = answer.send(result);
    }
}
