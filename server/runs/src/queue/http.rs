//! [`HttpQueue`]: the queue trait over DriftQ v1 HTTP, for `dq worker --url` and `dq up --broker URL`.
//!
//! Works against dq's own `/v1` and against the original DriftQ broker (driftqd), which lacks two of dq's
//! additions:
//! - The non-consuming read `GET /v1/read`. When the broker answers it 404 (or 405), every later read is served
//!   by [`reader::ConsumeReader`] instead: each topic read is followed with plain consume and ack under a
//!   consumer group private to this process, and what it delivered is kept here (see that module for the
//!   trade-offs).
//! - `delay_ms` on nack. The first nack that the broker refuses with it is sent again without it, after the
//!   backoff was slept here; from then on every nack is sent without it, so a broker that refuses it every time
//!   costs one refused request, not one per nack.
//!
//! Broker errors are classified by their DriftQ error code (and, for an answer without a DriftQ body, by the
//! HTTP status), in the context of the call: see [`classify`].
//!
//! Against a dq server, acks made while another is under way go out together as one batch (`acks`), and the
//! messages of one [`Queue::produce_all`] as a batch per topic (`produce`); the original broker, which lacks
//! the batch forms, gets one request per ack and per message.

mod reader;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use dq_proto::broker::{AckRequest, ConsumeItem, Envelope, ProduceRequest, Produced};
use dq_proto::error::{ErrorBody, ErrorCode};
use dq_proto::runs::{ReadItem, ReadResponse};
use futures::StreamExt;
use reqwest::{Client, RequestBuilder, Response, StatusCode};
use tokio_util::codec::{FramedRead, LinesCodec, LinesCodecError};
use tokio_util::io::StreamReader;

use super::{ConsumeSpec, Deliveries, Outgoing, ProduceOutcome, Queue};
use crate::QueueError;
use reader::ConsumeReader;

mod acks;
mod produce;

/// Longest consume line read: far above what any message can take (a dq server refuses request bodies over
/// twice its value limit), so only a broken stream reaches it.
const MAX_CONSUME_LINE: usize = 64 * 1024 * 1024;

/// How long an ordinary (non-streaming) request may take.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// A DriftQ v1 broker at a URL.
#[derive(Clone)]
pub struct HttpQueue {
    link: Link,
    /// Set once the broker answered `GET /v1/read` 404 or 405: reads go through [`ConsumeReader`] from then on.
    reads_missing: Arc<AtomicBool>,
    reader: Arc<ConsumeReader>,
    /// Set once the broker refused a nack's `delay_ms`.
    nack_delay_refused: Arc<AtomicBool>,
}

/// The connection to the broker: what [`HttpQueue`] and the tasks of its [`ConsumeReader`] share.
#[derive(Clone)]
pub(crate) struct Link {
    client: Client,
    base: String,
    token: Option<String>,
    /// Acks go out in batches against a dq server (see `acks`).
    acks: Arc<acks::Acks>,
}

/// What kind of call an answer is to, for reading its error code in context (see [`classify`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Call {
    /// Produce or consume: the request names a topic and is otherwise well-formed by construction.
    NamesTopic,
    /// `GET /v1/read`, a dq extension a broker may lack; otherwise as [`Call::NamesTopic`].
    Read,
    /// Anything else (health, topics, ack, nack).
    Other,
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
            .map_err(|source| QueueError::Transport {
                context: "building the http client".to_owned(),
                source,
            })?;
        let link = Link {
            client,
            base: base_url.trim_end_matches('/').to_owned(),
            token,
            acks: Arc::default(),
        };
        Ok(Self {
            reader: Arc::new(ConsumeReader::new(link.clone())),
            link,
            reads_missing: Arc::default(),
            nack_delay_refused: Arc::default(),
        })
    }
}

impl Link {
    fn request(&self, method: reqwest::Method, path: &str) -> RequestBuilder {
        let builder = self.client.request(method, format!("{}{path}", self.base));
        match &self.token {
            Some(token) => builder.bearer_auth(token),
            None => builder,
        }
    }

    async fn send(
        &self,
        builder: RequestBuilder,
        context: &str,
        call: Call,
    ) -> Result<Response, QueueError> {
        let response = builder
            .timeout(REQUEST_TIMEOUT)
            .send()
            .await
            .map_err(|source| QueueError::Transport {
                context: context.to_owned(),
                source,
            })?;
        check(response, call).await
    }

    async fn settle(&self, path: &str, body: &AckRequest) -> Result<(), QueueError> {
        let context = format!("POST {path}");
        self.send(
            self.request(reqwest::Method::POST, path).json(body),
            &context,
            Call::Other,
        )
        .await
        .map(drop)
    }

    /// Joins `spec.group` as `spec.owner` and streams its deliveries (`GET /v1/consume`, NDJSON).
    pub(crate) async fn consume(&self, spec: &ConsumeSpec) -> Result<Deliveries, QueueError> {
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
            .map_err(|source| QueueError::Transport {
                context: format!("GET /v1/consume of {}", spec.topic),
                source,
            })?;
        // NDJSON: tokio-util frames the lines (a blank one is a keep-alive), serde reads each.
        let body = check(response, Call::NamesTopic)
            .await?
            .bytes_stream()
            .map(|chunk| chunk.map_err(std::io::Error::other));
        let lines = FramedRead::new(
            StreamReader::new(body),
            LinesCodec::new_with_max_length(MAX_CONSUME_LINE),
        );
        let stream = lines.filter_map(|line| async move {
            match line {
                Ok(line) if line.trim().is_empty() => None,
                Ok(line) => Some(serde_json::from_str::<ConsumeItem>(line.trim()).map_err(
                    |source| QueueError::Json {
                        context: "a consume line".to_owned(),
                        source,
                    },
                )),
                Err(LinesCodecError::Io(broken)) => Some(Err(stream_broke(broken))),
                Err(LinesCodecError::MaxLineLengthExceeded) => Some(Err(QueueError::Protocol(
                    format!("a consume line over {MAX_CONSUME_LINE} bytes"),
                ))),
            }
        });
        Ok(stream.boxed())
    }

    /// Acknowledges a delivery: in a batch with other acks of its consumer when the broker has the batch form.
    pub(crate) async fn ack(
        &self,
        spec: &ConsumeSpec,
        partition: u32,
        offset: u64,
    ) -> Result<(), QueueError> {
        self.acks.ack(self, spec, partition, offset).await
    }
}

/// The error of a consume stream that broke: the transport's own error when it was one.
fn stream_broke(broken: std::io::Error) -> QueueError {
    match broken.into_inner().map(
        <dyn std::error::Error + std::marker::Send + std::marker::Sync + 'static>::downcast::<
            reqwest::Error,
        >,
    ) {
        Some(Ok(source)) => QueueError::Transport {
            context: "the consume stream".to_owned(),
            source: *source,
        },
        Some(Err(other)) => QueueError::Unavailable(format!("the consume stream broke: {other}")),
        None => QueueError::Unavailable("the consume stream broke".to_owned()),
    }
}

/// Turns a non-2xx answer into the matching error, keeping the broker's message.
async fn check(response: Response, call: Call) -> Result<Response, QueueError> {
    let status = response.status();
    if status.is_success() {
        return Ok(response);
    }
    let text = response.text().await.unwrap_or_default();
    Err(match serde_json::from_str::<ErrorBody>(&text) {
        Ok(body) => classify(
            status,
            Some(body.error),
            call,
            format!("{status}: {}", body.message),
        ),
        Err(_) => classify(status, None, call, format!("{status}: {}", text.trim())),
    })
}

/// The error for an answer with `status` and, when the body was a DriftQ error, its `code`. Both dq and the
/// original broker answer INVALID_ARGUMENT for a topic that does not exist: on produce, consume and read, whose
/// requests this client builds well-formed, that is the one argument a broker can find invalid. An answer
/// without a DriftQ body (a proxy's, or a router's for a route it lacks) is read by its status alone.
fn classify(
    status: StatusCode,
    code: Option<ErrorCode>,
    call: Call,
    message: String,
) -> QueueError {
    let code = code.unwrap_or(match status {
        StatusCode::NOT_FOUND => ErrorCode::NotFound,
        StatusCode::METHOD_NOT_ALLOWED => ErrorCode::MethodNotAllowed,
        StatusCode::PAYLOAD_TOO_LARGE => ErrorCode::PayloadTooLarge,
        StatusCode::INSUFFICIENT_STORAGE => ErrorCode::InsufficientStorage,
        StatusCode::TOO_MANY_REQUESTS => ErrorCode::ResourceExhausted,
        s if s.is_client_error() => ErrorCode::InvalidArgument,
        _ => ErrorCode::Unavailable,
    });
    match code {
        ErrorCode::NotFound | ErrorCode::MethodNotAllowed if call == Call::Read => {
            QueueError::Unsupported("non-consuming read (GET /v1/read is a dq extension)")
        }
        ErrorCode::InvalidArgument if call != Call::Other => QueueError::UnknownTopic(message),
        ErrorCode::PayloadTooLarge => QueueError::TooLarge(message),
        ErrorCode::InsufficientStorage => QueueError::Storage {
            full: true,
            message,
        },
        ErrorCode::ResourceExhausted | ErrorCode::Unavailable | ErrorCode::Internal => {
            QueueError::Unavailable(message)
        }
        ErrorCode::InvalidArgument
        | ErrorCode::Unauthenticated
        | ErrorCode::PermissionDenied
        | ErrorCode::NotFound
        | ErrorCode::MethodNotAllowed
        | ErrorCode::RequestTimeout
        | ErrorCode::FailedPrecondition
        | ErrorCode::UnsupportedMediaType
        | ErrorCode::MisdirectedRequest => QueueError::Rejected(message),
    }
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
        let link = &self.link;
        let response = link
            .send(
                link.request(reqwest::Method::GET, "/v1/healthz"),
                "GET /v1/healthz",
                Call::Other,
            )
            .await?;
        response
            .json()
            .await
            .map_err(|source| QueueError::Transport {
                context: "reading the health answer".to_owned(),
                source,
            })
    }

    async fn create_topic(&self, name: &str, partitions: u32) -> Result<(), QueueError> {
        let body = serde_json::json!({"name": name, "partitions": partitions});
        let link = &self.link;
        link.send(
            link.request(reqwest::Method::POST, "/v1/topics")
                .json(&body),
            "POST /v1/topics",
            Call::Other,
        )
        .await
        .map(drop)
    }

    async fn delete_topic(&self, name: &str) -> Result<(), QueueError> {
        let link = &self.link;
        let sent = link
            .send(
                link.request(reqwest::Method::DELETE, &format!("/v1/topics/{name}")),
                "DELETE /v1/topics",
                Call::Other,
            )
            .await;
        match sent {
            // Not there (any more): nothing to delete.
            Ok(_) | Err(QueueError::Rejected(_)) => Ok(()),
            Err(e) => Err(e),
        }
    }

    async fn produce(&self, message: Outgoing) -> Result<ProduceOutcome, QueueError> {
        let (topic, value) = (message.topic.clone(), message.value.clone());
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
        // Expected by this topic's reader before it is sent: its delivery may come before the answer.
        let claim = if self.reads_missing.load(Ordering::Acquire) {
            self.reader.expect(&topic, &value)
        } else {
            None
        };
        let link = &self.link;
        let sent = link
            .send(
                link.request(reqwest::Method::POST, "/v1/produce")
                    .json(&body),
                "POST /v1/produce",
                Call::NamesTopic,
            )
            .await;
        let response = match sent {
            Ok(response) => response,
            Err(e) => {
                if let Some(claim) = claim {
                    self.reader.forget(claim);
                }
                return Err(e);
            }
        };
        // A real driftqd answers only `{"status","topic"}`: offset and duplicate are dq additions.
        let text = response
            .text()
            .await
            .map_err(|source| QueueError::Transport {
                context: "reading the produce answer".to_owned(),
                source,
            })?;
        let answer: serde_json::Value =
            serde_json::from_str(&text).map_err(|source| QueueError::Json {
                context: "the produce answer".to_owned(),
                source,
            })?;
        let offset = answer.get("offset").and_then(serde_json::Value::as_u64);
        let duplicate = serde_json::from_value::<Produced>(answer).is_ok_and(|p| p.duplicate);
        if duplicate && let Some(claim) = claim {
            self.reader.forget(claim);
        }
        Ok(ProduceOutcome { offset, duplicate })
    }

    /// A batch request per topic in a row where the server takes them (see `produce`).
    async fn produce_all(&self, messages: &[Outgoing]) -> Result<Vec<ProduceOutcome>, QueueError> {
        self.produce_in_batches(messages).await
    }

    async fn consume(&self, spec: &ConsumeSpec) -> Result<Deliveries, QueueError> {
        self.link.consume(spec).await
    }

    async fn ack(&self, spec: &ConsumeSpec, partition: u32, offset: u64) -> Result<(), QueueError> {
        self.link.ack(spec, partition, offset).await
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
        if self.nack_delay_refused.load(Ordering::Acquire) {
            // A broker without dq's `delay_ms` redelivers at once: hold the backoff here instead.
            tokio::time::sleep(delay).await;
            return self.link.settle("/v1/nack", &body).await;
        }
        body.delay_ms = Some(millis(delay));
        match self.link.settle("/v1/nack", &body).await {
            // INVALID_ARGUMENT: the unknown `delay_ms`, or a delivery no longer in flight. Sent again without
            // it (after the backoff, which is due in the first case); if that goes through, it was the field.
            Err(QueueError::Rejected(first)) => {
                tokio::time::sleep(delay).await;
                body.delay_ms = None;
                match self.link.settle("/v1/nack", &body).await {
                    Ok(()) => {
                        tracing::info!(
                            "the broker refuses nack's delay_ms ({first}): nacks go without it from now on"
                        );
                        self.nack_delay_refused.store(true, Ordering::Release);
                        Ok(())
                    }
                    Err(_) => Err(QueueError::Rejected(first)),
                }
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
        if self.reads_missing.load(Ordering::Acquire) {
            return self.reader.read(topic, partition, from, limit).await;
        }
        let link = &self.link;
        let request = link.request(reqwest::Method::GET, "/v1/read").query(&[
            ("topic", topic.to_owned()),
            ("partition", partition.to_string()),
            ("from", from.to_string()),
            ("limit", limit.to_string()),
        ]);
        let response = match link.send(request, "GET /v1/read", Call::Read).await {
            Err(QueueError::Unsupported(what)) => {
                if !self.reads_missing.swap(true, Ordering::AcqRel) {
                    tracing::warn!(
                        "the broker lacks {what}: reading by consume and ack from now on, and keeping what was read in this server"
                    );
                }
                return self.reader.read(topic, partition, from, limit).await;
            }
            other => other?,
        };
        let body: ReadResponse = response
            .json()
            .await
            .map_err(|source| QueueError::Transport {
                context: "reading the read answer".to_owned(),
                source,
            })?;
        Ok(body.messages)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_transport_failure_keeps_its_source() {
        // A port nobody listens on: bound, then released.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let queue = HttpQueue::new(&format!("http://127.0.0.1:{port}"), None).expect("client");
        let error = queue.health().await.expect_err("nobody listens");
        assert!(error.is_unavailable(), "{error}");
        let source = std::error::Error::source(&error).expect("the transport error is kept");
        assert!(source.is::<reqwest::Error>(), "{source}");
        assert!(
            error
                .to_string()
                .starts_with("broker unavailable: GET /v1/healthz"),
            "{error}"
        );
    }

    #[test]
    fn errors_are_classified_by_driftq_code_in_context() {
        let bad = StatusCode::BAD_REQUEST;
        let invalid = Some(ErrorCode::InvalidArgument);
        let message = || "400: whatever the broker says".to_owned();
        assert!(matches!(
            classify(bad, invalid, Call::NamesTopic, message()),
            QueueError::UnknownTopic(_)
        ));
        // The same code on an ack is about the delivery, not a topic.
        assert!(matches!(
            classify(bad, invalid, Call::Other, message()),
            QueueError::Rejected(_)
        ));
        let not_found = StatusCode::NOT_FOUND;
        assert!(matches!(
            classify(not_found, None, Call::Read, "404 page not found".into()),
            QueueError::Unsupported(_)
        ));
        assert!(matches!(
            classify(bad, invalid, Call::Read, message()),
            QueueError::UnknownTopic(_)
        ));
        assert!(matches!(
            classify(not_found, None, Call::Other, "404 page not found".into()),
            QueueError::Rejected(_)
        ));
        let busy = StatusCode::TOO_MANY_REQUESTS;
        assert!(matches!(
            classify(
                busy,
                Some(ErrorCode::ResourceExhausted),
                Call::NamesTopic,
                message()
            ),
            QueueError::Unavailable(_)
        ));
        assert!(matches!(
            classify(StatusCode::BAD_GATEWAY, None, Call::NamesTopic, message()),
            QueueError::Unavailable(_)
        ));
        assert!(matches!(
            classify(
                StatusCode::INSUFFICIENT_STORAGE,
                None,
                Call::Other,
                message()
            ),
            QueueError::Storage { full: true, .. }
        ));
    }
}
