//! A stand-in for the original DriftQ broker (driftqd), for tests of `dq up --broker` against it: an HTTP
//! proxy in front of a real dq `/v1` that behaves as driftqd does where it differs from dq (see the wire
//! notes of DriftQ v1):
//! - `GET /v1/read` (a dq extension) answers 404 with Go's plain-text "404 page not found";
//! - a nack with `delay_ms` (a dq extension) answers 400 `INVALID_ARGUMENT` (driftqd refuses unknown fields);
//! - a produce answers only `{"status": "produced", "topic"}` (no offset, no duplicate flag);
//! - a consume stream sends no headers before its first message and no keep-alives.
//!
//! Everything else is forwarded as is, consume streams streamed; [`Driftqd::cut_streams`] ends the open ones, as
//! a broker restart or a network cut would. It runs on its own runtime thread (so both
//! async and sync tests can use it) and stops when dropped.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use futures::StreamExt;
use tokio::sync::oneshot;
use tokio_util::sync::CancellationToken;

/// What the stand-in counted.
#[derive(Default)]
pub struct Counts {
    /// `GET /v1/read` requests refused.
    pub reads_refused: AtomicUsize,
    /// Nacks refused for their `delay_ms`.
    pub nacks_with_delay: AtomicUsize,
    /// Nacks forwarded (without `delay_ms`).
    pub nacks: AtomicUsize,
}

/// A running stand-in.
pub struct Driftqd {
    addr: SocketAddr,
    /// What it counted.
    pub counts: Arc<Counts>,
    cut: Arc<Mutex<CancellationToken>>,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

#[derive(Clone)]
struct Proxy {
    upstream: String,
    client: reqwest::Client,
    counts: Arc<Counts>,
    /// Cancelled to end the consume streams open now.
    cut: Arc<Mutex<CancellationToken>>,
}

impl Driftqd {
    /// A stand-in on a free loopback port in front of the dq `/v1` at `upstream` (`http://host:port`).
    pub fn start(upstream: &str) -> Self {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        listener.set_nonblocking(true).expect("non-blocking");
        let addr = listener.local_addr().expect("local addr");
        let counts = Arc::new(Counts::default());
        let cut = Arc::new(Mutex::new(CancellationToken::new()));
        let proxy = Proxy {
            upstream: upstream.trim_end_matches('/').to_owned(),
            client: reqwest::Client::new(),
            counts: Arc::clone(&counts),
            cut: Arc::clone(&cut),
        };
        let (stop, stopped) = oneshot::channel::<()>();
        let thread = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(1)
                .enable_all()
                .build()
                .expect("stand-in runtime");
            runtime.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener).expect("listener");
                let app = Router::new().fallback(forward).with_state(proxy);
                // Open consume streams would hold a graceful shutdown: the runtime's drop ends them.
                tokio::select! {
                    served = axum::serve(listener, app) => served.expect("stand-in serves"),
                    _ = stopped => {}
                }
            });
        });
        Self {
            addr,
            counts,
            cut,
            stop: Some(stop),
            thread: Some(thread),
        }
    }

    /// `http://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Ends every consume stream open now (later ones are not affected).
    pub fn cut_streams(&self) {
        let mut cut = self.cut.lock().expect("cut lock");
        cut.cancel();
        *cut = CancellationToken::new();
    }
}

impl Drop for Driftqd {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn driftq_error(status: StatusCode, code: &str, message: &str) -> Response {
    let body = serde_json::json!({"error": code, "message": message});
    (status, axum::Json(body)).into_response()
}

async fn forward(
    State(proxy): State<Proxy>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let path = uri.path();
    if path == "/v1/read" {
        proxy.counts.reads_refused.fetch_add(1, Ordering::Relaxed);
        return (StatusCode::NOT_FOUND, "404 page not found\n").into_response();
    }
    if path == "/v1/nack" {
        let in_body = serde_json::from_slice::<serde_json::Value>(&body)
            .is_ok_and(|b| b.get("delay_ms").is_some());
        if in_body || uri.query().is_some_and(|q| q.contains("delay_ms")) {
            proxy
                .counts
                .nacks_with_delay
                .fetch_add(1, Ordering::Relaxed);
            return driftq_error(
                StatusCode::BAD_REQUEST,
                "INVALID_ARGUMENT",
                "json: unknown field \"delay_ms\"",
            );
        }
        proxy.counts.nacks.fetch_add(1, Ordering::Relaxed);
    }
    let target = format!(
        "{}{}",
        proxy.upstream,
        uri.path_and_query().map_or("/", |p| p.as_str())
    );
    let mut request = proxy.client.request(method, target).body(body);
    for name in [header::CONTENT_TYPE, header::AUTHORIZATION] {
        if let Some(value) = headers.get(&name) {
            request = request.header(name, value);
        }
    }
    let answer = match request.send().await {
        Ok(answer) => answer,
        Err(e) => return driftq_error(StatusCode::BAD_GATEWAY, "INTERNAL", &e.to_string()),
    };
    let status = answer.status();
    let content_type = answer.headers().get(header::CONTENT_TYPE).cloned();
    if path == "/v1/produce" && status.is_success() {
        let sent: serde_json::Value = answer.json().await.unwrap_or_default();
        let body = serde_json::json!({"status": "produced", "topic": sent["topic"]});
        return (status, axum::Json(body)).into_response();
    }
    let cut = proxy.cut.lock().expect("cut lock").clone();
    let mut body = answer
        .bytes_stream()
        .filter(|chunk| {
            // dq's keep-alives are blank lines: driftqd sends none.
            let blank = matches!(chunk, Ok(bytes) if bytes.iter().all(u8::is_ascii_whitespace));
            std::future::ready(!blank)
        })
        .take_until(cut.cancelled_owned())
        .boxed();
    // Nothing, not even the headers, before the first message.
    let first = if path == "/v1/consume" && status.is_success() {
        body.next().await
    } else {
        None
    };
    let body = futures::stream::iter(first).chain(body);
    let mut response = Response::new(Body::from_stream(body));
    *response.status_mut() = status;
    if let Some(value) = content_type {
        response.headers_mut().insert(header::CONTENT_TYPE, value);
    }
    response
}
