//! dq-server: the HTTP edges of dq. It owns [`serve`] and [`router`], the DriftQ v1 broker routes under
//! `/v1`, `/metrics`, the runs API of the original starter (plus dq's additions) with its SSE timelines, the
//! bearer-token check and CORS. Business logic lives in dq-broker and dq-runs; this crate only translates.
//!
//! Layout: `v1` holds the broker routes, `extract` the JSON-or-query extractor, `error` the one error type of
//! the `/v1` handlers, `metrics` the Prometheus exposition, `auth` the token check, `request_id` the
//! `X-Request-Id` values, `fallback` the JSON 404 / 405 answers and `edge` the wrapper around the whole router
//! that applies the request id, the `Host` / `Origin` checks of `guard`, CORS (for the web origins of
//! `origins`) and the 405 bodies to every request; `conn` accepts connections and holds each to its timeouts, under the cap on open connections. A new
//! family of routes (the runs API) gets its own module, its fields in [`AppState`], a `.merge` in [`router`]
//! and its start-up in [`serve`].

mod auth;
mod conn;
mod dashboard;
mod edge;
mod error;
mod extract;
mod fallback;
mod guard;
mod metrics;
mod origins;
mod request_id;
mod runs;
mod v1;

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::middleware;
use axum::routing::get;
use dq_broker::Broker;
use tokio_util::sync::CancellationToken;
use tower::Service;

pub use conn::default_max_connections;
pub use origins::{CODESPACES_ORIGIN_PATTERN, Codespace, OriginPattern};
pub use request_id::X_REQUEST_ID;

/// Everything `dq up` can configure.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// The embedded broker's settings (its data dir included).
    pub broker: dq_broker::Config,
    /// Use this external broker instead of the embedded one (`dq up --broker URL`): a DriftQ v1 server
    /// (`http://…`) or a NATS JetStream cluster (`nats://h1:4222,nats://h2:4222`).
    pub external_broker: Option<String>,
    /// The NATS credentials file for a `nats://` broker (`--nats-creds`).
    pub nats_creds: Option<std::path::PathBuf>,
    /// The runs service and in-process workers.
    pub runs: dq_runs::RunsConfig,
    /// When set, every route but the health checks requires `Authorization: Bearer <token>`.
    pub token: Option<String>,
    /// Idle interval after which consume streams send a blank line and SSE streams a comment. Default 5 s.
    pub keepalive: Duration,
    /// How often an SSE stream looks for timeline events written by another process (a `dq worker`); writes
    /// made in this process wake it at once. Default 200 ms.
    pub timeline_poll: Duration,
    /// Time a client has to send a whole request head, counted from its connection or, on a keep-alive
    /// connection, from the first byte after the previous answer; past it the connection is closed. Default
    /// 10 s.
    pub header_timeout: Duration,
    /// Time a keep-alive connection may wait for its next request, and a client may leave its answer unread;
    /// past it the connection is closed. A stream whose client reads it is never idle. Default 30 s.
    pub idle_timeout: Duration,
    /// Time a request's whole body has to arrive, counted from its head; past it the request is answered 408
    /// and its connection closed. Default 30 s.
    pub body_timeout: Duration,
    /// Open connections at most; at the cap the server accepts no more until one closes. Default
    /// [`default_max_connections`]: below the process's open-file limit, so that clients cannot take the
    /// descriptors the store needs.
    pub max_connections: usize,
    /// CORS origins allowed besides `http://localhost:3000` and the server's own (`--cors-origin`); they may
    /// also change state (see `guard`).
    pub cors_origins: Vec<String>,
    /// Patterns of further such origins (`--cors-origin-regex`).
    pub cors_origin_patterns: Vec<OriginPattern>,
    /// Names accepted in the `Host` header besides `localhost`, loopback addresses and the listen address
    /// (`--allowed-host`; `*` accepts any).
    pub allowed_hosts: Vec<String>,
}

impl ServerConfig {
    /// Defaults, storing in `data_dir`.
    pub fn new(data_dir: impl Into<std::path::PathBuf>) -> Self {
        Self {
            broker: dq_broker::Config::new(data_dir),
            external_broker: None,
            nats_creds: None,
            runs: dq_runs::RunsConfig::default(),
            token: None,
            keepalive: Duration::from_secs(5),
            timeline_poll: Duration::from_millis(200),
            header_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(30),
            body_timeout: Duration::from_secs(30),
            max_connections: default_max_connections(),
            cors_origins: Vec::new(),
            cors_origin_patterns: Vec::new(),
            allowed_hosts: Vec::new(),
        }
    }

    /// Largest request body read by any handler: room for a value at the broker's limit even when JSON
    /// escaping doubles it, plus the envelope. A value over `max_value_bytes` that fits under this limit is
    /// refused by the broker with its exact size in the message.
    pub fn max_body_bytes(&self) -> usize {
        self.broker
            .max_value_bytes
            .saturating_mul(2)
            .saturating_add(64 * 1024)
    }
}

/// Why the server could not start or stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// The broker could not open its store.
    #[error("broker: {0}")]
    Broker(#[from] dq_broker::Error),
    /// Listening failed.
    #[error("io: {0}")]
    Io(#[from] std::io::Error),
    /// The runs service could not start (e.g. the external broker is unreachable).
    #[error("runs: {0}")]
    Runs(#[from] dq_runs::RunsError),
    /// A write or fsync failed: the store refuses writes until the process restarts, so the server stopped.
    #[error("{0}; acknowledged writes are safe, {advice}", advice = .0.cause.advice())]
    StorageFailed(dq_broker::StorageFailure),
}

impl ServerError {
    /// The data dir is locked by another process (another server has it open).
    pub fn is_data_dir_in_use(&self) -> bool {
        matches!(self, Self::Broker(e) if e.is_locked())
    }
}

/// What every handler can reach: one handle on [`ServerState`]. axum clones the state for every request, so it is
/// one `Arc` (one atomic increment and decrement a request) rather than the handles themselves (six, each a
/// counter both runtime threads write).
#[derive(Clone)]
pub struct AppState(Arc<ServerState>);

/// The handles behind [`AppState`]; the services a server runs besides the broker (the runs service) are built
/// in [`serve`].
#[derive(Clone)]
pub struct ServerState {
    /// The embedded broker.
    pub broker: Broker,
    /// The server's settings.
    pub config: Arc<ServerConfig>,
    /// Cancelled when the server begins to shut down; long-lived responses (streams) end on it. Behind an `Arc`
    /// so that the hot routes' own state can hold it without a token's clone and drop, each of which takes a
    /// mutex.
    pub shutdown: Arc<CancellationToken>,
    edge: Arc<metrics::EdgeCounters>,
    /// The runs service, once started; its routes are served only with it.
    pub runs: Option<Arc<dq_runs::RunsService>>,
    /// What the token check accepts (the token, the dashboard's session), when the server has a token.
    credentials: Option<Arc<auth::Credentials>>,
}

impl std::ops::Deref for AppState {
    type Target = ServerState;

    fn deref(&self) -> &ServerState {
        &self.0
    }
}

impl AppState {
    /// State over an opened broker.
    pub fn new(broker: Broker, config: ServerConfig) -> Self {
        let credentials = config
            .token
            .as_deref()
            .map(|token| Arc::new(auth::Credentials::new(token, dashboard::PAGES)));
        Self(Arc::new(ServerState {
            credentials,
            broker,
            config: Arc::new(config),
            shutdown: Arc::new(CancellationToken::new()),
            edge: Arc::default(),
            runs: None,
        }))
    }

    /// Serves the runs routes with `runs` (a state cloned before keeps serving without them).
    pub fn set_runs(&mut self, runs: Arc<dq_runs::RunsService>) {
        Arc::make_mut(&mut self.0).runs = Some(runs);
    }
}

/// Every route of the server, with the layers that apply to all of them. [`serve`] wraps it in `edge`
/// (request id, CORS, 405 bodies).
pub fn router(state: AppState) -> Router {
    let body_limit = state.config.max_body_bytes();
    let router = Router::new()
        .merge(v1::routes())
        .route("/metrics", get(metrics::handler))
        .merge(state.runs.clone().map_or_else(Router::new, |service| {
            let runs_state = runs::RunsState {
                service,
                shutdown: CancellationToken::clone(&state.shutdown),
                keepalive: state.config.keepalive,
                timeline_poll: state.config.timeline_poll,
                max_body_bytes: body_limit,
                cursors: Arc::default(),
            };
            // The dashboard's pages live on the runs API: they are served only with it.
            let pages = dashboard::routes(runs_state.clone(), state.credentials.clone());
            runs::routes(runs_state).merge(pages)
        }))
        // Further route families (the runs API) merge here, above the fallback: `merge` refuses two routers
        // that both set one, so only this router does.
        .fallback(fallback::not_found)
        // Layers wrap everything above, fallback included; the last one added runs first.
        // For axum's own body extractors (the runs API); `JsonOrQuery` applies the same limit itself.
        .layer(DefaultBodyLimit::max(body_limit));
    // Without a token there is nothing to check: no layer, no cost per request.
    let router = match state.credentials.clone() {
        Some(credentials) => router.layer(middleware::from_fn_with_state(
            credentials,
            auth::require_token,
        )),
        None => router,
    };
    router.with_state(state)
}

/// What [`serve`] answers with for a server listening on `local`: the [`router`] behind the request id, the
/// `Host` / `Origin` checks, CORS and the 405 bodies. Tests of request shapes drive it without a socket, with
/// `tower::ServiceExt::oneshot`.
pub fn app(
    state: AppState,
    local: SocketAddr,
) -> impl Service<
    axum::extract::Request,
    Response = axum::response::Response,
    Error = Infallible,
    Future: Unpin + Send + 'static,
> + Clone
+ Unpin
+ Send
+ 'static {
    let origins = Arc::new(origins::AllowedOrigins::new(
        &state.config.cors_origins,
        &state.config.cors_origin_patterns,
    ));
    let guard = guard::Guard::new(local, &state.config.allowed_hosts, Arc::clone(&origins));
    edge::Edge::new(router(state), edge::cors_layer(origins), guard)
}

/// How long a server whose storage failed waits for open requests before it returns anyway.
const STORAGE_EXIT_GRACE: Duration = Duration::from_secs(5);

/// Serves dq on `listener` until `shutdown` resolves, then ends every stream promptly and returns.
///
/// A failed write or fsync stops the server too, with [`ServerError::StorageFailed`]: fjall refuses every
/// write after one, even once the cause is gone, and only a new process recovers (from the journal, keeping
/// every acknowledged write). So the server answers the requests under way (507 / 503, health 503) and returns,
/// for `dq up` to exit non-zero and a supervisor to restart it.
pub async fn serve(
    listener: tokio::net::TcpListener,
    config: ServerConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServerError> {
    serve_ready(listener, config, shutdown, || {}).await
}

/// [`serve`], calling `ready` once the store, the broker and the runs service are open, just before the first
/// connection is accepted: a caller announces the server there, not before start-up can still fail.
pub async fn serve_ready(
    listener: tokio::net::TcpListener,
    config: ServerConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
    ready: impl FnOnce() + Send,
) -> Result<(), ServerError> {
    let broker = Broker::open(config.broker.clone())?;
    let mut state = AppState::new(broker, config);
    // The runs service and its workers use the embedded broker, or the external one (`dq up --broker`).
    let queue: Arc<dyn dq_runs::Queue> = match &state.config.external_broker {
        Some(urls) if dq_nats::is_nats_url(urls) => {
            let options = dq_nats::NatsOptions {
                urls: urls.clone(),
                creds_file: state.config.nats_creds.clone(),
                pull_batch: state.config.runs.concurrency,
            };
            Arc::new(
                dq_nats::NatsQueue::connect(&options)
                    .await
                    .map_err(dq_runs::RunsError::from)?,
            )
        }
        Some(url) => {
            Arc::new(dq_runs::HttpQueue::new(url, None).map_err(dq_runs::RunsError::from)?)
        }
        None => Arc::new(dq_local::LocalQueue::new(state.broker.clone())),
    };
    let runs =
        dq_runs::RunsRuntime::start(queue, state.config.runs.clone(), (*state.shutdown).clone())
            .await?;
    state.set_runs(runs.service());
    let app = app(state.clone(), listener.local_addr()?);

    // Graceful shutdown waits for open connections, and a consume stream never closes by itself: end the
    // streams as soon as the signal comes, not after the connections have waited for them.
    let stopping = state.clone();
    tracing::info!("store, broker and runs service open; serving");
    ready();
    let storage_failed = state.broker.storage_failed();
    let storage_grace = state.broker.storage_failed();
    let serving = conn::serve(listener, app, conn::Limits::of(&state.config), async move {
        tokio::select! {
            () = shutdown => tracing::info!("shutting down"),
            failure = storage_failed => {
                tracing::error!(%failure, "shutting down: the store refuses writes until a restart");
            }
        }
        stopping.shutdown.cancel();
        stopping.broker.shutdown();
    });
    tokio::select! {
        () = serving => {}
        // A client that keeps its request open must not keep a broken server up.
        () = async {
            storage_grace.await;
            tokio::time::sleep(STORAGE_EXIT_GRACE).await;
        } => {}
    }

    // Also when the accept loop ended for another reason, so that background tasks never outlive `serve`.
    state.shutdown.cancel();
    runs.join().await;
    state.broker.shutdown();
    if let Some(failure) = state.broker.storage_failure() {
        return Err(ServerError::StorageFailed(failure));
    }
    Ok(())
}
