//! [`HttpQueue`]: the queue trait over DriftQ v1 HTTP, for `dq worker --url` and `dq up --broker URL`.
//!
//! Works against dq's own `/v1` and against a real driftqd, with two differences. The non-consuming read
//! uses dq's extension route `GET /v1/read`; a real driftqd lacks it, so [`Queue::read`] answers
//! [`QueueError::Unsupported`] there (timelines and the run registry then need a dq server as broker). Nack
//! sends dq's `delay_ms`; when a broker refuses it, the worker's backoff is slept here and the nack is sent
//! without it.
//!
//! Against a dq server, acks made while another is under way go out together as one batch (`acks`).

use std::time::Duration;

use async_trait::async_trait;
use bytes::{Buf, BytesMut};
use dq_proto::broker::{AckRequest, ConsumeItem, Envelope, ProduceRequest, Produced};
use dq_proto::runs::{ReadItem, ReadResponse};
use futures::StreamExt;
use reqwest::{Client, RequestBuilder, Response, StatusCode};

use super::{ConsumeSpec, Deliveries, Outgoing, ProduceOutcome, Queue};
use crate::QueueError;

mod acks;

/// How long an ordinary (non-streaming) request may take.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// A DriftQ v1 broker at a URL.
#[derive(Clone)]
pub struct HttpQueue {
    client: Client,
    base: String,
    token: Option<String>,
    /// Acks go out in batches against a dq server (see `acks`).
    acks: std::sync::Arc<acks::Acks>,
}

impl HttpQueue {
    /// A queue speaking to `base_url` (e.g. `http://127.0.0.1:8000`), sending `Authorization: Bearer <token>`
    /// when a token is given.
    pub fn new(base_url: &str, token: Option<String>) -> Result<Self, QueueError> {
        let client = Client::builder()
            .connect_timeout(Duration::from_secs(5))
            // Under dq's idle timeout (30 s by default): the client drops an idle connection before the server
            // closes it, instead of sending a request down one being closed.
            .pool_idle_timeout(Duration::from_secs(15))
            .build()
            .map_err(|e| QueueError::Unavailable(format!("http client: {e}")))?;
        Ok(Self {
            client,
            base: base_url.trim_end_matches('/').to_owned(),
            token,
            acks: std::sync::Arc::default(),
        })
    }

    fn request(&self, method: reqwest::Method, path: &str) -> RequestBuilder {
        let builder = self.client.request(method, format!("{}{path}", self.base));
        match &self.token {
            Some(token) => builder.bearer_auth(token),
            None => builder,
        }
    }

    async fn send(&self, builder: RequestBuilder) -> Result<Response, QueueError> {
        let response = builder
            .timeout(REQUEST_TIMEOUT)
            .send()
            .await
            .map_err(|e| QueueError::Unavailable(e.to_string()))?;
        check(response).await
    }

    async fn settle(&self, path: &str, body: &AckRequest) -> Result<(), QueueError> {
        self.send(self.request(reqwest::Method::POST, path).json(body))
            .await
            .map(drop)
    }
}

/// The part of a DriftQ v1 error body this client reads.
#[derive(serde::Deserialize)]
struct BrokerError {
    message: String,
}

/// Turns a non-2xx answer into the matching error, keeping the broker's message.
async fn check(response: Response) -> Result<Response, QueueError> {
    let status = response.status();
    if status.is_success() {
        return Ok(response);
    }
    let text = response.text().await.unwrap_or_default();
    let message = serde_json::from_str::<BrokerError>(&text)
        .map(|body| body.message)
        .unwrap_or(text);
    let message = format!("{status}: {message}");
    Err(match status {
        StatusCode::PAYLOAD_TOO_LARGE => QueueError::TooLarge(message),
        StatusCode::INSUFFICIENT_STORAGE => QueueError::Storage {
            full: true,
            message,
        },
        _ if message.contains("topic does not exist") => QueueError::UnknownTopic(message),
        StatusCode::TOO_MANY_REQUESTS => QueueError::Unavailable(message),
        s if s.is_client_error() => QueueError::Rejected(message),
        _ => QueueError::Unavailable(message),
    })
}

fn ack_body(spec: &ConsumeSpec, partition: u32, offset: u64) -> AckRequest {
    AckRequest {
        topic: Some(spec.topic.clone()),
        group: Some(spec.group.clone()),
        owner: Some(spec.owner.clone()),
        partition: Some(i64::from(partition)),
        offset: i64::try_from(offset).ok(),
        reason: None,
        delay_ms: None,
        offsets: None,
    }
}

fn millis(duration: Duration) -> i64 {
    i64::try_from(duration.as_millis()).unwrap_or(i64::MAX)
}

#[async_trait]
impl Queue for HttpQueue {
    async fn health(&self) -> Result<serde_json::Value, QueueError> {
        let response = self
            .send(self.request(reqwest::Method::GET, "/v1/healthz"))
            .await?;
        response
            .json()
            .await
            .map_err(|e| QueueError::Protocol(e.to_string()))
    }

    async fn create_topic(&self, name: &str, partitions: u32) -> Result<(), QueueError> {
        let body = serde_json::json!({"name": name, "partitions": partitions});
        self.send(
            self.request(reqwest::Method::POST, "/v1/topics")
                .json(&body),
        )
        .await
        .map(drop)
    }

    async fn produce(&self, message: Outgoing) -> Result<ProduceOutcome, QueueError> {
        let body = ProduceRequest {
            topic: Some(message.topic),
            key: message.key,
            value: Some(message.value),
            envelope: message.idempotency_key.map(|key| Envelope {
                idempotency_key: Some(key),
                ..Envelope::default()
            }),
            messages: None,
        };
        let response = self
            .send(
                self.request(reqwest::Method::POST, "/v1/produce")
                    .json(&body),
            )
            .await?;
        // A real driftqd answers only `{"status","topic"}`: offset and duplicate are dq additions.
        let text = response
            .text()
            .await
            .map_err(|e| QueueError::Unavailable(e.to_string()))?;
        let value: serde_json::Value =
            serde_json::from_str(&text).map_err(|e| QueueError::Protocol(e.to_string()))?;
        let offset = value.get("offset").and_then(serde_json::Value::as_u64);
        let duplicate = serde_json::from_value::<Produced>(value)
            .map(|p| p.duplicate)
            .unwrap_or(false);
        Ok(ProduceOutcome { offset, duplicate })
    }

    async fn consume(&self, spec: &ConsumeSpec) -> Result<Deliveries, QueueError> {
        let lease_ms = millis(spec.lease).to_string();
        let request = self.request(reqwest::Method::GET, "/v1/consume").query(&[
            ("topic", spec.topic.as_str()),
            ("group", spec.group.as_str()),
            ("owner", spec.owner.as_str()),
            ("lease_ms", lease_ms.as_str()),
        ]);
        let response = request
            .send()
            .await
            .map_err(|e| QueueError::Unavailable(e.to_string()))?;
        let body = check(response).await?.bytes_stream();
        let state = (body, BytesMut::new());
        let stream = futures::stream::unfold(state, |(mut body, mut buffer)| async move {
            loop {
                if let Some(newline) = buffer.iter().position(|b| *b == b'\n') {
                    let line = buffer.split_to(newline + 1);
                    let line = line.chunk().trim_ascii();
                    // Blank lines are the broker's keep-alives.
                    if line.is_empty() {
                        continue;
                    }
                    let item = serde_json::from_slice::<ConsumeItem>(line)
                        .map_err(|e| QueueError::Protocol(format!("consume line: {e}")));
                    return Some((item, (body, buffer)));
                }
                match body.next().await {
                    Some(Ok(chunk)) => buffer.extend_from_slice(&chunk),
                    Some(Err(e)) => {
                        let error = QueueError::Unavailable(format!("consume stream: {e}"));
                        return Some((Err(error), (body, BytesMut::new())));
                    }
                    None => return None,
                }
            }
        });
        Ok(stream.boxed())
    }

    async fn ack(&self, spec: &ConsumeSpec, partition: u32, offset: u64) -> Result<(), QueueError> {
        self.acks.ack(self, spec, partition, offset).await
    }

    async fn nack(
        &self,
        spec: &ConsumeSpec,
        partition: u32,
        offset: u64,
        reason: &str,
        delay: Duration,
    ) -> Result<(), QueueError> {
        let mut body = ack_body(spec, partition, offset);
        body.reason = Some(reason.to_owned());
        body.delay_ms = Some(millis(delay));
        match self.settle("/v1/nack", &body).await {
            Err(QueueError::Rejected(message))
                if !message.contains("not owner") && !message.contains("not in-flight") =>
            {
                // A broker without dq's `delay_ms` redelivers at once: hold the backoff here instead.
                tokio::time::sleep(delay).await;
                body.delay_ms = None;
                self.settle("/v1/nack", &body).await
            }
            other => other,
        }
    }

    async fn read(
        &self,
        topic: &str,
        partition: u32,
        from: u64,
        limit: usize,
    ) -> Result<Vec<ReadItem>, QueueError> {
        let request = self.request(reqwest::Method::GET, "/v1/read").query(&[
            ("topic", topic.to_owned()),
            ("partition", partition.to_string()),
            ("from", from.to_string()),
            ("limit", limit.to_string()),
        ]);
        let response = match self.send(request).await {
            Err(QueueError::Rejected(message))
                if message.starts_with("404") || message.starts_with("405") =>
            {
                return Err(QueueError::Unsupported(
                    "non-consuming read (GET /v1/read is a dq extension)",
                ));
            }
            other => other?,
        };
        let body: ReadResponse = response
            .json()
            .await
            .map_err(|e| QueueError::Protocol(e.to_string()))?;
        Ok(body.messages)
    }
}
