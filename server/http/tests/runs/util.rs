//! The defaults of this binary's server (one in-process worker with fast timings) and the runs API calls its
//! tests make: create a run, wait for a status, read its events and SSE frames. The server, the HTTP helper,
//! the waits and the SSE reader are the test kit's (`dq-testkit`).

use std::future::Future;
use std::ops::{Deref, DerefMut};
use std::time::Duration;

use dq_server::ServerConfig;
use dq_testkit::{App, Endpoint, Server, eventually};
use reqwest::StatusCode;
use serde_json::{Value, json};

pub use dq_testkit::Answer;
pub use dq_testkit::sse::{Frame, SseStream};

/// How long any single wait may take before the test fails instead of hanging. A guard, not an assertion.
pub const GUARD: Duration = Duration::from_secs(20);

/// A dq server with one in-process worker; everything else is the kit's [`Server`].
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
    /// One in-process worker, 2 ms per step, 2 ms backoff.
    pub fn start() -> Self {
        Self::with(|_| {})
    }

    pub fn with(configure: impl FnOnce(&mut ServerConfig)) -> Self {
        Self(Server::over_a_temp_dir(|config| {
            fast(config);
            configure(config);
        }))
    }
}

/// The runs API calls the tests make, on a [`TestServer`] (through its kit [`dq_testkit::Server`]) or on a
/// socketless [`dq_testkit::App`].
pub trait RunsApi: Endpoint {
    /// Starts a run and returns its id.
    fn create(&self, body: Value) -> impl Future<Output = String> + Send {
        async move {
            let Answer {
                status,
                json: answer,
                ..
            } = self.post("/runs", body).await;
            assert_eq!(status, StatusCode::OK, "{answer}");
            answer["run_id"].as_str().expect("run_id").to_owned()
        }
    }

    /// Waits until the run has `status` at `replay_seq` (dead-lettered: closed by its `run.failed`), and returns
    /// its detail.
    fn wait_status(
        &self,
        run_id: &str,
        replay_seq: u64,
        status: &str,
    ) -> impl Future<Output = Value> + Send {
        async move {
            let what = format!("run {run_id} to reach {status} at replay {replay_seq}");
            eventually(&what, GUARD, || async {
                let Answer {
                    status: code,
                    json: run,
                    ..
                } = self.get(&format!("/runs/{run_id}")).await;
                assert_eq!(code, StatusCode::OK, "{run}");
                // Dead-lettered from `run.dlq` on: wait for the `run.failed` that closes it too.
                let closed = status != "dead_lettered"
                    || self
                        .events(run_id)
                        .await
                        .iter()
                        .any(|e| e["type"] == "run.failed" && e["replay_seq"] == replay_seq);
                if run["status"] == status && run["replay_seq"] == replay_seq && closed {
                    Ok(run)
                } else {
                    Err(run)
                }
            })
            .await
        }
    }

    /// The run's events as stored.
    fn events(&self, run_id: &str) -> impl Future<Output = Vec<Value>> + Send {
        async move {
            let Answer {
                status,
                json: timeline,
                ..
            } = self.get(&format!("/runs/{run_id}/timeline")).await;
            assert_eq!(status, StatusCode::OK, "{timeline}");
            timeline["events"]
                .as_array()
                .expect("events")
                .iter()
                .map(|item| item["event"].clone())
                .collect()
        }
    }
}

impl<T: Endpoint> RunsApi for T {}

/// A socketless app with this binary's defaults (one worker, fast timings), for request-shape tests.
pub async fn app() -> App {
    app_with(|_| {}).await
}

/// [`app`], with the configuration `configure` adjusts.
pub async fn app_with(configure: impl FnOnce(&mut ServerConfig)) -> App {
    App::over_a_temp_dir(|config| {
        fast(config);
        configure(config);
    })
    .await
}

/// This binary's defaults: one in-process worker, 2 ms per step, 2 ms backoff.
fn fast(config: &mut ServerConfig) {
    config.runs.workers = 1;
    config.runs.step_delay = Duration::from_millis(2);
    config.runs.backoff = Duration::from_millis(2);
}

/// The `type` of each event.
pub fn types(events: &[Value]) -> Vec<String> {
    events
        .iter()
        .map(|e| e["type"].as_str().unwrap_or_default().to_owned())
        .collect()
}

/// Reads SSE frames from `path` (with `headers`) until `done` holds for a frame; comments are skipped.
pub async fn sse_until(
    server: &TestServer,
    path: &str,
    headers: &[(&str, &str)],
    done: impl Fn(&Frame) -> bool,
) -> Vec<Frame> {
    dq_testkit::sse::until(&server.url(path), headers, GUARD, done).await
}

/// `{"fail_at": step}`.
pub fn failing(step: &str) -> Value {
    json!({"fail_at": step})
}
