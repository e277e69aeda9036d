//! [`HttpQueue::produce_all`](super::HttpQueue) over the batch form of `POST /v1/produce` (a dq addition): the
//! messages for one topic in a row go out as one request, stored all or none and answered once durable, so that
//! a remote `dq worker` writing an attempt's events sends a request per attempt, not one per event. The
//! original broker, which lacks the batch forms, and a queue reading by consume (whose reader must expect each
//! message before it is sent) get one request per message, as before.

use dq_proto::broker::{BatchMessage, Envelope, ProduceRequest, ProducedBatch};

use super::{Call, HttpQueue};
use crate::QueueError;
use crate::queue::{Outgoing, ProduceOutcome, Queue};

/// Most messages in one request (the server takes up to 1,000).
const MAX_BATCH: usize = 500;

impl HttpQueue {
    /// Stores `messages` in order: a batch request per run of messages for one topic where the server has the
    /// batch form, otherwise one produce each. Each request is answered once durable, so the requests in a row
    /// keep the order across topics.
    pub(super) async fn produce_in_batches(
        &self,
        messages: &[Outgoing],
    ) -> Result<Vec<ProduceOutcome>, QueueError> {
        let batches = !self
            .reads_missing
            .load(std::sync::atomic::Ordering::Acquire)
            && self.link.acks.batch_supported(&self.link).await;
        let mut outcomes = Vec::with_capacity(messages.len());
        if !batches {
            for message in messages {
                outcomes.push(self.produce(message.clone()).await?);
            }
            return Ok(outcomes);
        }
        for run in messages.chunk_by(|a, b| a.topic == b.topic) {
            for chunk in run.chunks(MAX_BATCH) {
                outcomes.extend(self.send_batch(chunk).await?);
            }
        }
        Ok(outcomes)
    }

    /// One batch request; every message of `chunk` is for the same topic.
    async fn send_batch(&self, chunk: &[Outgoing]) -> Result<Vec<ProduceOutcome>, QueueError> {
        let Some(first) = chunk.first() else {
            return Ok(Vec::new());
        };
        let body = ProduceRequest {
            topic: Some(first.topic.clone()),
            messages: Some(
                chunk
                    .iter()
                    .map(|message| BatchMessage {
                        key: message.key.clone(),
                        value: Some(message.value.clone()),
                        envelope: message.idempotency_key.clone().map(|key| Envelope {
                            idempotency_key: Some(key),
                            ..Envelope::default()
                        }),
                    })
                    .collect(),
            ),
            ..ProduceRequest::default()
        };
        let link = &self.link;
        let answer: ProducedBatch = link
            .send(
                link.request(reqwest::Method::POST, "/v1/produce")
                    .json(&body),
                "POST /v1/produce (a batch)",
                Call::NamesTopic,
            )
            .await?
            .json()
            .await
            .map_err(|source| QueueError::Transport {
                context: "reading the batch produce answer".to_owned(),
                source,
            })?;
        Ok(answer
            .messages
            .into_iter()
            .map(|p| ProduceOutcome {
                offset: Some(p.offset),
                duplicate: p.duplicate,
            })
            .collect())
    }
}
