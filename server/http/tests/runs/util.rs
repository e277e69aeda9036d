//! The harness: a real dq server on its own runtime thread with fast worker timings, that a test can restart
//! on the same data; and helpers that drive the runs API and read SSE frames.

use std::time::{Duration, Instant};

use dq_server::ServerConfig;
use futures::StreamExt;
use reqwest::StatusCode;
use serde_json::{Value, json};

#[path = "../common/server.rs"]
mod server;

use server::Server;

/// How long any single wait may take before the test fails instead of hanging. A guard, not an assertion.
pub const GUARD: Duration = Duration::from_secs(20);

/// A running dq server and a client that drives its runs API.
pub struct TestServer {
    server: Server,
    pub client: reqwest::Client,
}

impl TestServer {
    /// One in-process worker, 2 ms per step, 2 ms backoff.
    pub fn start() -> Self {
        Self::with(|_| {})
    }

    pub fn with(configure: impl FnOnce(&mut ServerConfig)) -> Self {
        let server = Server::over_a_temp_dir(|config| {
            config.runs.workers = 1;
            config.runs.step_delay = Duration::from_millis(2);
            config.runs.backoff = Duration::from_millis(2);
            configure(config);
        });
        Self {
            server,
            client: reqwest::Client::new(),
        }
    }

    pub fn url(&self, path: &str) -> String {
        self.server.url(path)
    }

    pub fn stop(&mut self) {
        self.server.stop();
    }

    pub fn restart(&mut self) {
        self.server.restart();
    }

    pub async fn get(&self, path: &str) -> (StatusCode, Value) {
        let response = self.client.get(self.url(path)).send().await.expect("get");
        let status = response.status();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    pub async fn post(&self, path: &str, body: Value) -> (StatusCode, Value) {
        let response = self
            .client
            .post(self.url(path))
            .json(&body)
            .send()
            .await
            .expect("post");
        let status = response.status();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    pub async fn post_raw(&self, path: &str, body: &'static str) -> (StatusCode, Value) {
        let response = self
            .client
            .post(self.url(path))
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .expect("post");
        let status = response.status();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    /// Starts a run and returns its id.
    pub async fn create(&self, body: Value) -> String {
        let (status, answer) = self.post("/runs", body).await;
        assert_eq!(status, StatusCode::OK, "{answer}");
        answer["run_id"].as_str().expect("run_id").to_owned()
    }

    /// Waits until the run has `status` at `replay_seq` (dead-lettered: closed by its `run.failed`), and returns its
    /// detail.
    pub async fn wait_status(&self, run_id: &str, replay_seq: u64, status: &str) -> Value {
        let started = Instant::now();
        loop {
            let (code, run) = self.get(&format!("/runs/{run_id}")).await;
            assert_eq!(code, StatusCode::OK, "{run}");
            // Dead-lettered from `run.dlq` on: wait for the `run.failed` that closes it too.
            let closed = status != "dead_lettered"
                || self
                    .events(run_id)
                    .await
                    .iter()
                    .any(|e| e["type"] == "run.failed" && e["replay_seq"] == replay_seq);
            if run["status"] == status && run["replay_seq"] == replay_seq && closed {
                return run;
            }
            assert!(
                started.elapsed() < GUARD,
                "run {run_id} never reached {status} at replay {replay_seq}: {run}"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// The run's events as stored.
    pub async fn events(&self, run_id: &str) -> Vec<Value> {
        let (status, timeline) = self.get(&format!("/runs/{run_id}/timeline")).await;
        assert_eq!(status, StatusCode::OK, "{timeline}");
        timeline["events"]
            .as_array()
            .expect("events")
            .iter()
            .map(|item| item["event"].clone())
            .collect()
    }
}

/// The `type` of each event.
pub fn types(events: &[Value]) -> Vec<String> {
    events
        .iter()
        .map(|e| e["type"].as_str().unwrap_or_default().to_owned())
        .collect()
}

/// One SSE frame.
#[derive(Debug, Clone)]
pub struct Frame {
    pub id: Option<u64>,
    pub data: Value,
    /// When the client had read the frame.
    pub received: std::time::Instant,
}

/// Reads SSE frames from `path` (with `headers`) until `done` holds for a frame; comments are skipped.
pub async fn sse_until(
    server: &TestServer,
    path: &str,
    headers: &[(&str, &str)],
    done: impl Fn(&Frame) -> bool,
) -> Vec<Frame> {
    let mut stream = SseStream::open(server, path, headers).await;
    let mut frames = Vec::new();
    let deadline = tokio::time::Instant::now() + GUARD;
    loop {
        let frame = tokio::time::timeout_at(deadline, stream.next())
            .await
            .unwrap_or_else(|_| panic!("sse frames never satisfied the wait: {frames:?}"));
        let finished = done(&frame);
        frames.push(frame);
        if finished {
            return frames;
        }
    }
}

/// An open SSE response, read one frame at a time (for a test that reads several at once).
pub struct SseStream {
    body: std::pin::Pin<Box<dyn futures::Stream<Item = reqwest::Result<bytes::Bytes>> + Send>>,
    buffer: String,
}

impl SseStream {
    /// Opens `path` with `headers`; asserts a 200 event stream.
    pub async fn open(server: &TestServer, path: &str, headers: &[(&str, &str)]) -> Self {
        let mut request = server.client.get(server.url(path));
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let response = request.send().await.expect("sse");
        assert_eq!(response.status(), StatusCode::OK);
        assert!(
            response.headers()["content-type"]
                .to_str()
                .unwrap()
                .starts_with("text/event-stream")
        );
        Self {
            body: Box::pin(response.bytes_stream()),
            buffer: String::new(),
        }
    }

    /// The next frame with data; comments are skipped. Unbounded: callers bound the wait. Cancel-safe: a chunk
    /// is buffered as soon as it is read.
    pub async fn next(&mut self) -> Frame {
        loop {
            while let Some(end) = self.buffer.find("\n\n") {
                let raw: String = self.buffer.drain(..end + 2).collect();
                let mut frame = Frame {
                    id: None,
                    data: Value::Null,
                    received: std::time::Instant::now(),
                };
                let mut data = String::new();
                for line in raw.lines() {
                    if let Some(id) = line.strip_prefix("id:") {
                        frame.id = Some(id.trim().parse().expect("numeric id"));
                    } else if let Some(d) = line.strip_prefix("data:") {
                        data.push_str(d.trim_start());
                    }
                }
                if data.is_empty() {
                    continue;
                }
                frame.data = serde_json::from_str(&data).expect("json data");
                return frame;
            }
            let chunk = self
                .body
                .next()
                .await
                .expect("sse stream ended early")
                .expect("sse chunk");
            self.buffer.push_str(&String::from_utf8_lossy(&chunk));
        }
    }
}

/// `{"fail_at": step}`.
pub fn failing(step: &str) -> Value {
    json!({"fail_at": step})
}
