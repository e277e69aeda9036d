//! A dq server in this process, on a free loopback port, with its data in a temporary directory that is deleted
//! once the server stopped: what `dq demo` and `dq bench` use when no `--url` is given.

use std::time::Duration;

use tokio::sync::oneshot;

use crate::error::{CliError, Result};

/// A running embedded server.
pub struct Embedded {
    /// Where it listens.
    pub url: url::Url,
    stop: oneshot::Sender<()>,
    task: tokio::task::JoinHandle<std::result::Result<(), dq_server::ServerError>>,
    // Deleted on drop, after the server stopped.
    _dir: tempfile::TempDir,
}

impl Embedded {
    /// Starts a server with its data in a new temporary directory named `prefix…`, configured by `configure`
    /// (the defaults of `dq up` otherwise).
    pub async fn start(
        prefix: &str,
        configure: impl FnOnce(&mut dq_server::ServerConfig),
    ) -> Result<Self> {
        let dir = tempfile::Builder::new()
            .prefix(prefix)
            .tempdir()
            .map_err(|e| CliError::io("creating a temporary data dir", e))?;
        let mut config = dq_server::ServerConfig::new(dir.path());
        // Thrown away with the directory: nothing to flush on the way out.
        config.broker.flush_on_close = false;
        configure(&mut config);
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0))
            .await
            .map_err(|e| CliError::io("listening on a free port", e))?;
        let addr = listener
            .local_addr()
            .map_err(|e| CliError::io("reading the listening address", e))?;
        let url = url::Url::parse(&format!("http://{addr}"))
            .map_err(|e| CliError::failed("embedded server url", e))?;
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(dq_server::serve(listener, config, async move {
            let _ = stopped.await;
        }));
        Ok(Self {
            url,
            stop,
            task,
            _dir: dir,
        })
    }

    /// Stops the server, waiting at most `grace` for it; a failure is logged, not returned (the command's own
    /// outcome is what counts).
    pub async fn stop(self, grace: Duration) {
        let _ = self.stop.send(());
        match tokio::time::timeout(grace, self.task).await {
            Ok(Ok(Err(err))) => tracing::warn!(%err, "the embedded server failed"),
            Ok(Err(err)) => tracing::warn!(%err, "the embedded server panicked"),
            Ok(Ok(Ok(()))) | Err(_) => {}
        }
    }
}
