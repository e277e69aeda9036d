//! The defaults of this binary's server (no workers) and the DriftQ v1 calls its tests make: create a topic,
//! produce, settle, and consume streams read line by line. The server, the HTTP helper and the waits are the
//! test kit's (`dq-testkit`).

use std::future::Future;
use std::ops::{Deref, DerefMut};
use std::time::Duration;

use dq_proto::broker::ConsumeItem;
use dq_testkit::{App, Endpoint, Server, eventually};
use futures::StreamExt;
use reqwest::StatusCode;
use serde_json::Value;

pub use dq_testkit::Answer;
pub use dq_testkit::http::client;

/// How long any single wait may take before the test fails instead of hanging. A guard, not an assertion.
pub const GUARD: Duration = Duration::from_secs(10);

/// A dq server with no workers; everything else is the kit's [`Server`].
pub struct TestServer(Server);

impl Deref for TestServer {
    type Target = Server;

    fn deref(&self) -> &Server {
        &self.0
    }
}

impl DerefMut for TestServer {
    fn deref_mut(&mut self) -> &mut Server {
        &mut self.0
    }
}

impl TestServer {
    /// A server with the defaults, except a 200 ms keep-alive and no workers.
    pub fn start() -> Self {
        Self::with(|_| {})
    }

    /// A server whose configuration `configure` adjusts.
    pub fn with(configure: impl FnOnce(&mut dq_server::ServerConfig)) -> Self {
        Self(Server::over_a_temp_dir(|config| {
            config.runs.workers = 0;
            configure(config);
        }))
    }
}

/// The DriftQ v1 calls the tests make, on a [`TestServer`] (through its kit [`Server`]) or on a socketless
/// [`App`].
pub trait V1Api: Endpoint {
    /// Creates a topic and asserts the 201.
    fn create_topic(&self, name: &str, partitions: u32) -> impl Future<Output = ()> + Send {
        async move {
            let answer = self
                .post(
                    "/v1/topics",
                    serde_json::json!({"name": name, "partitions": partitions}),
                )
                .await;
            assert_eq!(answer.status, StatusCode::CREATED, "{}", answer.json);
        }
    }

    /// Waits (within the guard time) until the topic exists, e.g. a `dlq.<topic>` the broker creates.
    fn wait_for_topic(&self, name: &str) -> impl Future<Output = ()> + Send {
        async move {
            eventually(&format!("topic {name} to appear"), GUARD, || async {
                let topics = self.get("/v1/topics").await.json;
                if topics["topics"]
                    .as_array()
                    .is_some_and(|t| t.contains(&Value::from(name)))
                {
                    Ok(())
                } else {
                    Err(topics)
                }
            })
            .await;
        }
    }

    /// Produces a value (with an optional envelope) and returns the answer's JSON after asserting 200.
    fn produce(
        &self,
        topic: &str,
        value: &str,
        envelope: Option<Value>,
    ) -> impl Future<Output = Value> + Send {
        async move {
            let mut body = serde_json::json!({"topic": topic, "value": value});
            if let Some(envelope) = envelope {
                body["envelope"] = envelope;
            }
            let answer = self.post("/v1/produce", body).await;
            assert_eq!(answer.status, StatusCode::OK, "{}", answer.json);
            answer.json
        }
    }

    /// Acks or nacks (`route` is `/v1/ack` or `/v1/nack`) the item, as `owner`.
    fn settle(
        &self,
        route: &str,
        topic: &str,
        group: &str,
        owner: &str,
        item: &ConsumeItem,
    ) -> impl Future<Output = Answer> + Send {
        let body = serde_json::json!({
            "topic": topic, "group": group, "owner": owner,
            "partition": item.partition, "offset": item.offset,
        });
        self.post(route, body)
    }

    /// Opens a consume stream and asserts that it starts (200, NDJSON).
    fn consume(
        &self,
        topic: &str,
        group: &str,
        owner: &str,
        lease_ms: Option<u64>,
    ) -> impl Future<Output = Consumer> + Send {
        let mut query = form_urlencoded::Serializer::new(String::new());
        query
            .append_pair("topic", topic)
            .append_pair("group", group)
            .append_pair("owner", owner);
        if let Some(lease) = lease_ms {
            query.append_pair("lease_ms", &lease.to_string());
        }
        let path = format!("/v1/consume?{}", query.finish());
        async move {
            let response = tokio::time::timeout(GUARD, self.stream(&path))
                .await
                .expect("consume headers arrive without waiting for a message");
            assert_eq!(response.status, StatusCode::OK);
            assert_eq!(response.headers["content-type"], "application/x-ndjson");
            Consumer {
                body: response.body,
                buffer: Vec::new(),
            }
        }
    }
}

impl<T: Endpoint> V1Api for T {}

/// A socketless app with this binary's defaults (no workers), for request-shape tests.
pub async fn app() -> App {
    App::over_a_temp_dir(|_| {}).await
}

/// An open consume stream, read line by line.
pub struct Consumer {
    body: futures::stream::BoxStream<'static, Result<bytes::Bytes, String>>,
    buffer: Vec<u8>,
}

impl Consumer {
    pub fn new(response: reqwest::Response) -> Self {
        Self {
            body: response
                .bytes_stream()
                .map(|chunk| chunk.map_err(|e| e.to_string()))
                .boxed(),
            buffer: Vec::new(),
        }
    }

    /// The next line (without its newline; `""` for a keep-alive), or `None` when the stream ended.
    pub async fn next_line(&mut self) -> Option<String> {
        tokio::time::timeout(GUARD, async {
            loop {
                if let Some(end) = self.buffer.iter().position(|&b| b == b'\n') {
                    let line: Vec<u8> = self.buffer.drain(..=end).collect();
                    return Some(String::from_utf8(line[..end].to_vec()).expect("utf-8 line"));
                }
                match self.body.next().await {
                    Some(Ok(chunk)) => self.buffer.extend_from_slice(&chunk),
                    Some(Err(err)) => panic!("consume stream failed: {err}"),
                    None => {
                        assert!(self.buffer.is_empty(), "stream ended inside a line");
                        return None;
                    }
                }
            }
        })
        .await
        .expect("a line (or the end) within the guard time")
    }

    /// The next message, skipping keep-alives.
    pub async fn next_item(&mut self) -> ConsumeItem {
        loop {
            let line = self
                .next_line()
                .await
                .expect("stream ended before the next message");
            if !line.is_empty() {
                return serde_json::from_str(&line).expect("a consume item per line");
            }
        }
    }
}
