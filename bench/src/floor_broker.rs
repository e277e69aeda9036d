//! The `/v1` floor server: a bare hyper server speaking the part of DriftQ v1 the broker scenario uses (create
//! topic, produce, consume as an NDJSON stream, ack) over [`crate::floor_store`]'s in-memory topics, each
//! produce and ack answered only once its record is synced to a file by a group commit, as dq answers them.
//!
//! It is what any broker with one request per produce and per ack costs here with storage reduced to one
//! append and a shared `fdatasync`: one match on the path instead of a router, no layers, the same JSON types
//! as dq (`dq_proto`). Started by `dq-bench floor` as a child process, like the bare server.

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::Path;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};

use dq_proto::broker::{AckRequest, CreateTopic, ProduceRequest, Produced, TopicCreated};
use futures::{Stream, StreamExt};
use hyper::body::{Body, Bytes, Frame, Incoming, SizeHint};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode, header};
use hyper_util::rt::TokioIo;

use crate::floor_store::{AckRefused, Committer, Topic};

/// As dq's consume stream: at most 256 messages and 64 KiB of values in one chunk.
const MAX_CHUNK_ITEMS: usize = 256;
const MAX_CHUNK_BYTES: usize = 64 * 1024;

/// The server's state: topics by name and the group commit.
struct Floor {
    topics: Mutex<HashMap<String, Arc<Topic>>>,
    commit: Arc<Committer>,
}

/// Serves the `/v1` floor on `listen`, syncing its records to a file in `data_dir`.
pub async fn serve(listen: SocketAddr, data_dir: &Path) -> anyhow::Result<()> {
    let floor = Arc::new(Floor {
        topics: Mutex::default(),
        commit: Committer::start(&data_dir.join("floor.log"))?,
    });
    let listener = tokio::net::TcpListener::bind(listen).await?;
    loop {
        let (stream, _) = listener.accept().await?;
        stream.set_nodelay(true)?;
        let floor = floor.clone();
        tokio::spawn(async move {
            let service = service_fn(move |request| {
                let floor = floor.clone();
                async move { Ok::<_, Infallible>(floor.answer(request).await) }
            });
            // A client hanging up is the end of its connection, not an error of the benchmark.
            let _ = http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

/// A response body: one buffer (with its length), or a consume stream's chunks.
enum Reply {
    Full(Option<Bytes>),
    Stream(Pin<Box<dyn Stream<Item = Bytes> + Send>>),
}

impl Body for Reply {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        match self.get_mut() {
            Reply::Full(bytes) => Poll::Ready(bytes.take().map(|b| Ok(Frame::data(b)))),
            Reply::Stream(stream) => stream
                .poll_next_unpin(cx)
                .map(|chunk| chunk.map(|b| Ok(Frame::data(b)))),
        }
    }

    fn is_end_stream(&self) -> bool {
        matches!(self, Reply::Full(None))
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            Reply::Full(bytes) => {
                SizeHint::with_exact(bytes.as_ref().map_or(0, |b| b.len() as u64))
            }
            Reply::Stream(_) => SizeHint::default(),
        }
    }
}

fn reply(status: StatusCode, body: impl Into<Bytes>) -> Response<Reply> {
    let mut response = Response::new(Reply::Full(Some(body.into())));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("application/json"),
    );
    response
}

fn json(status: StatusCode, value: &impl serde::Serialize) -> Response<Reply> {
    match serde_json::to_vec(value) {
        Ok(body) => reply(status, body),
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string()),
    }
}

fn error(status: StatusCode, message: &str) -> Response<Reply> {
    json(status, &serde_json::json!({"error": message}))
}

fn no_content() -> Response<Reply> {
    let mut response = Response::new(Reply::Full(None));
    *response.status_mut() = StatusCode::NO_CONTENT;
    response
}

/// The whole request body.
async fn read_body(mut body: Incoming) -> Result<Vec<u8>, hyper::Error> {
    let mut out = Vec::new();
    while let Some(frame) = std::future::poll_fn(|cx| Pin::new(&mut body).poll_frame(cx)).await {
        if let Ok(data) = frame?.into_data() {
            out.extend_from_slice(&data);
        }
    }
    Ok(out)
}

/// The query parameters of `GET /v1/consume`.
struct ConsumeParams {
    topic: String,
    group: String,
    owner: String,
}

impl ConsumeParams {
    /// Reads `topic`, `group` and `owner` from a query string; the benchmark's names need no percent-decoding.
    fn parse(query: &str) -> Option<Self> {
        let field = |name: &str| {
            query.split('&').find_map(|pair| {
                let (k, v) = pair.split_once('=')?;
                (k == name && !v.is_empty()).then(|| v.to_owned())
            })
        };
        Some(Self {
            topic: field("topic")?,
            group: field("group")?,
            owner: field("owner")?,
        })
    }
}

/// FNV-1a, 32 bits: dq's partitioner, so that keys spread over partitions as they do there.
fn fnv1a32(bytes: &[u8]) -> u32 {
    bytes.iter().fold(0x811c_9dc5, |hash, b| {
        (hash ^ u32::from(*b)).wrapping_mul(0x0100_0193)
    })
}

impl Floor {
    async fn answer(self: Arc<Self>, request: Request<Incoming>) -> Response<Reply> {
        let (parts, body) = request.into_parts();
        if parts.method == Method::GET && parts.uri.path() == "/v1/consume" {
            return self.consume(parts.uri.query().unwrap_or(""));
        }
        if parts.method != Method::POST {
            return error(StatusCode::NOT_FOUND, "not found");
        }
        let body = match read_body(body).await {
            Ok(body) => body,
            Err(e) => return error(StatusCode::BAD_REQUEST, &e.to_string()),
        };
        match parts.uri.path() {
            "/v1/produce" => self.produce(&body).await,
            "/v1/ack" => self.ack(&body).await,
            "/v1/topics" => self.create_topic(&body),
            _ => error(StatusCode::NOT_FOUND, "not found"),
        }
    }

    fn topic(&self, name: &str) -> Option<Arc<Topic>> {
        self.topics
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(name)
            .cloned()
    }

    fn create_topic(&self, body: &[u8]) -> Response<Reply> {
        let Ok(CreateTopic {
            name: Some(name),
            partitions,
        }) = serde_json::from_slice(body)
        else {
            return error(StatusCode::BAD_REQUEST, "name is required");
        };
        let partitions = partitions
            .and_then(|p| u32::try_from(p).ok())
            .unwrap_or(1)
            .clamp(1, 256);
        let partitions = self
            .topics
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .entry(name.clone())
            .or_insert_with(|| Arc::new(Topic::new(partitions)))
            .partitions;
        json(
            StatusCode::CREATED,
            &TopicCreated {
                status: "created".to_owned(),
                name,
                partitions,
            },
        )
    }

    async fn produce(&self, body: &[u8]) -> Response<Reply> {
        let Ok(ProduceRequest {
            topic: Some(name),
            key,
            value: Some(value),
            ..
        }) = serde_json::from_slice(body)
        else {
            return error(StatusCode::BAD_REQUEST, "topic and value are required");
        };
        let Some(topic) = self.topic(&name) else {
            return error(StatusCode::NOT_FOUND, "unknown topic");
        };
        let key = key.unwrap_or_default();
        let partition = if key.is_empty() {
            0
        } else {
            fnv1a32(key.as_bytes()) % topic.partitions
        };
        // The record stored: what a restart would need to deliver the message again.
        let mut record = Vec::with_capacity(name.len() + key.len() + value.len() + 16);
        for field in [name.as_bytes(), key.as_bytes(), value.as_bytes()] {
            record.extend_from_slice(&(field.len() as u32).to_le_bytes());
            record.extend_from_slice(field);
        }
        record.extend_from_slice(&partition.to_le_bytes());
        let Some(offset) = self
            .commit
            .write(&record, Some((topic, partition, key, value)))
            .await
        else {
            return error(StatusCode::SERVICE_UNAVAILABLE, "the write failed");
        };
        json(
            StatusCode::OK,
            &Produced {
                status: "produced".to_owned(),
                topic: name,
                partition,
                offset,
                duplicate: false,
            },
        )
    }

    async fn ack(&self, body: &[u8]) -> Response<Reply> {
        let Ok(AckRequest {
            topic: Some(name),
            group: Some(group),
            owner: Some(owner),
            partition: Some(partition),
            offset: Some(offset),
            ..
        }) = serde_json::from_slice(body)
        else {
            return error(
                StatusCode::BAD_REQUEST,
                "topic, group, owner, partition and offset are required",
            );
        };
        let (Ok(partition), Ok(offset)) = (u32::try_from(partition), u64::try_from(offset)) else {
            return error(StatusCode::BAD_REQUEST, "invalid partition or offset");
        };
        let Some(topic) = self.topic(&name) else {
            return error(StatusCode::NOT_FOUND, "unknown topic");
        };
        match topic.ack(&group, &owner, partition, offset) {
            Ok(()) => {}
            Err(AckRefused::NoGroup) => return error(StatusCode::NOT_FOUND, "unknown group"),
            Err(AckRefused::NotInFlight) => {
                return error(StatusCode::CONFLICT, "not delivered to this owner");
            }
        }
        // The ack record, synced before the answer as dq's ack is.
        let mut record = Vec::with_capacity(name.len() + group.len() + 32);
        for field in [name.as_bytes(), group.as_bytes()] {
            record.extend_from_slice(&(field.len() as u32).to_le_bytes());
            record.extend_from_slice(field);
        }
        record.extend_from_slice(&partition.to_le_bytes());
        record.extend_from_slice(&offset.to_le_bytes());
        if self.commit.write(&record, None).await.is_none() {
            return error(StatusCode::SERVICE_UNAVAILABLE, "the write failed");
        }
        no_content()
    }

    fn consume(&self, query: &str) -> Response<Reply> {
        let Some(params) = ConsumeParams::parse(query) else {
            return error(
                StatusCode::BAD_REQUEST,
                "topic, group and owner are required",
            );
        };
        let Some(topic) = self.topic(&params.topic) else {
            return error(StatusCode::NOT_FOUND, "unknown topic");
        };
        topic.join(&params.group);
        let stream = futures::stream::unfold((topic, params), |(topic, params)| async move {
            loop {
                let mut chunk = Vec::new();
                let delivered = {
                    // Registered before looking, so that an append between the look and the wait still wakes
                    // this stream.
                    let appended = topic.appended.notified();
                    tokio::pin!(appended);
                    appended.as_mut().enable();
                    match topic.deliver(
                        &params.group,
                        &params.owner,
                        MAX_CHUNK_ITEMS,
                        MAX_CHUNK_BYTES,
                        &mut chunk,
                    ) {
                        Ok(0) => {
                            appended.await;
                            continue;
                        }
                        Ok(_) => true,
                        Err(_) => false,
                    }
                };
                return delivered.then(|| (Bytes::from(chunk), (topic, params)));
            }
        });
        let mut response = Response::new(Reply::Stream(Box::pin(stream)));
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            header::HeaderValue::from_static("application/x-ndjson"),
        );
        response
    }
}
