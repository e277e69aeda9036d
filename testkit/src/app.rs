//! The server's whole HTTP service without a socket, for request-shape tests (bad input, auth, 404 / 405
//! bodies, CORS), driven with `tower::ServiceExt::oneshot` as axum's testing example does: no port, no
//! runtime thread, a store in a temporary dir.

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;

use axum::body::Body;
use axum::extract::Request;
use axum::response::Response;
use dq_broker::Broker;
use dq_server::{AppState, ServerConfig};
use futures::StreamExt;
use serde_json::Value;
use tempfile::TempDir;
use tower::ServiceExt;
use tower::util::BoxCloneSyncService;

use crate::endpoint::Streaming;
use crate::http::Answer;

/// The address the service believes it listens on (its `Host` / `Origin` checks compare against it).
pub const LOCAL: SocketAddr = SocketAddr::new(std::net::IpAddr::V4(Ipv4Addr::LOCALHOST), 7700);

/// The service of a dq server over a temporary data dir (embedded broker, runs service), answering requests
/// one at a time on the test's own runtime.
pub struct App {
    service: BoxCloneSyncService<Request, Response, std::convert::Infallible>,
    state: AppState,
    // Held, not joined: dropping it aborts the workers, which the test runtime would end anyway.
    _runs: dq_runs::RunsRuntime,
    // Dropped last: the store lives in it.
    _dir: TempDir,
}

impl App {
    /// The service with the defaults, except no workers, and what `configure` adjusts.
    pub async fn over_a_temp_dir(configure: impl FnOnce(&mut ServerConfig)) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut config = ServerConfig::new(dir.path());
        config.runs.workers = 0;
        configure(&mut config);
        let broker = Broker::open(config.broker.clone()).expect("the broker opens");
        let mut state = AppState::new(broker.clone(), config);
        let queue: Arc<dyn dq_runs::Queue> = Arc::new(dq_local::LocalQueue::new(broker));
        let runs = dq_runs::RunsRuntime::start(
            queue,
            state.config.runs.clone(),
            (*state.shutdown).clone(),
        )
        .await
        .expect("the runs service starts");
        state.set_runs(runs.service());
        let service = BoxCloneSyncService::new(dq_server::app(state.clone(), LOCAL));
        Self {
            service,
            state,
            _runs: runs,
            _dir: dir,
        }
    }

    /// Answers `request` and reads the answer whole.
    pub async fn send(&self, request: Request) -> Answer {
        let response = self
            .service
            .clone()
            .oneshot(request)
            .await
            .unwrap_or_else(|never| match never {});
        let (parts, body) = response.into_parts();
        let body = axum::body::to_bytes(body, usize::MAX)
            .await
            .expect("the body is read");
        Answer::new(parts.status, parts.headers, body)
    }

    /// `GET path`, answered as soon as the headers are in; the body is read by the caller.
    pub async fn stream(&self, path: &str) -> Streaming {
        let response = self
            .service
            .clone()
            .oneshot(request("GET", path).body(Body::empty()).expect("a request"))
            .await
            .unwrap_or_else(|never| match never {});
        let (parts, body) = response.into_parts();
        Streaming {
            status: parts.status,
            headers: parts.headers,
            body: body
                .into_data_stream()
                .map(|chunk| chunk.map_err(|e| e.to_string()))
                .boxed(),
        }
    }

    /// `GET path`.
    pub async fn get(&self, path: &str) -> Answer {
        self.send(request("GET", path).body(Body::empty()).expect("a request"))
            .await
    }

    /// `POST path` with a JSON body.
    pub async fn post(&self, path: &str, body: Value) -> Answer {
        self.post_raw(path, body.to_string()).await
    }

    /// `POST path` with `body` sent as is, labelled JSON.
    pub async fn post_raw(&self, path: &str, body: impl Into<bytes::Bytes>) -> Answer {
        self.send(
            request("POST", path)
                .header("content-type", "application/json")
                .body(Body::from(body.into()))
                .expect("a request"),
        )
        .await
    }

    /// `method path` with `headers` and no body.
    pub async fn call(&self, method: &str, path: &str, headers: &[(&str, &str)]) -> Answer {
        let mut builder = request(method, path);
        for (name, value) in headers {
            builder = builder.header(*name, *value);
        }
        self.send(builder.body(Body::empty()).expect("a request"))
            .await
    }
}

/// A request builder for `method path`, to add headers to and [`App::send`].
pub fn request(method: &str, path: &str) -> axum::http::request::Builder {
    Request::builder().method(method).uri(path)
}

impl Drop for App {
    fn drop(&mut self) {
        self.state.shutdown.cancel();
        self.state.broker.shutdown();
    }
}
