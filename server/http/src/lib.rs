//! dq-server: the HTTP edges of dq. It owns [`serve`] and [`router`], the DriftQ v1 broker routes under
//! `/v1`, `/metrics`, the runs API of the original starter (plus dq's additions) with its SSE timelines, the
//! bearer-token check and CORS. Business logic lives in dq-broker and dq-runs; this crate only translates.
//!
//! (Skeleton: the broker-HTTP and runs-service work fill this crate in.)

use std::future::Future;
use std::time::Duration;

/// Everything `dq up` can configure.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// The embedded broker's settings (its data dir included).
    pub broker: dq_broker::Config,
    /// Use this external DriftQ v1 broker instead of the embedded one (`dq up --broker URL`).
    pub external_broker: Option<String>,
    /// The runs service and in-process workers.
    pub runs: dq_runs::RunsConfig,
    /// When set, every route but the health checks requires `Authorization: Bearer <token>`.
    pub token: Option<String>,
    /// Idle interval after which consume streams send a blank line and SSE streams a comment. Default 5 s.
    pub keepalive: Duration,
    /// CORS origins allowed besides `http://localhost:3000`.
    pub cors_origins: Vec<String>,
}

impl ServerConfig {
    /// Defaults, storing in `data_dir`.
    pub fn new(data_dir: impl Into<std::path::PathBuf>) -> Self {
        Self {
            broker: dq_broker::Config::new(data_dir),
            external_broker: None,
            runs: dq_runs::RunsConfig::default(),
            token: None,
            keepalive: Duration::from_secs(5),
            cors_origins: Vec::new(),
        }
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
}

/// Serves dq on `listener` until `shutdown` resolves, then ends every stream promptly and returns.
pub async fn serve(
    listener: tokio::net::TcpListener,
    config: ServerConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServerError> {
    let _ = (listener, config, shutdown);
    todo!()
}
