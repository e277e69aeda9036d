//! A real dq server on its own runtime thread, bound to 127.0.0.1:0 over a temporary data dir, that a test can
//! stop and restart on the same data, with the HTTP helpers of [`crate::http`] bound to its address. Each test
//! binary's `util` gives it its defaults.

use std::net::SocketAddr;
use std::thread::JoinHandle;
use std::time::Duration;

use dq_server::{ServerConfig, ServerError};
use serde_json::Value;
use tempfile::TempDir;
use tokio::sync::oneshot;

use crate::http::{self, Answer};

/// A running dq server.
pub struct Server {
    config: ServerConfig,
    addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<Result<(), ServerError>>>,
    // Dropped last: the data outlives every incarnation of the server.
    dir: TempDir,
}

impl Server {
    /// A server over a fresh temporary data dir, with a 200 ms keep-alive and the configuration that
    /// `configure` adjusts.
    pub fn over_a_temp_dir(configure: impl FnOnce(&mut ServerConfig)) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut config = ServerConfig::new(dir.path());
        config.keepalive = Duration::from_millis(200);
        configure(&mut config);
        let (addr, stop, thread) = spawn(config.clone());
        Self {
            config,
            addr,
            stop: Some(stop),
            thread: Some(thread),
            dir,
        }
    }

    /// `http://127.0.0.1:<port><path>`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// `http://127.0.0.1:<port>`.
    pub fn base(&self) -> String {
        self.url("")
    }

    /// Where it listens.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Its data dir.
    pub fn data_dir(&self) -> &std::path::Path {
        self.dir.path()
    }

    /// A fresh HTTP client (see [`http::client`]).
    pub fn client(&self) -> reqwest::Client {
        http::client()
    }

    /// `GET path`.
    pub async fn get(&self, path: &str) -> Answer {
        http::get(&self.url(path)).await
    }

    /// `POST path` with a JSON body.
    pub async fn post(&self, path: &str, body: Value) -> Answer {
        http::post(&self.url(path), &body).await
    }

    /// `POST path` with `body` sent as is, labelled JSON.
    pub async fn post_raw(&self, path: &str, body: impl Into<bytes::Bytes>) -> Answer {
        http::post_raw(&self.url(path), body).await
    }

    /// `DELETE path`.
    pub async fn delete(&self, path: &str) -> Answer {
        http::delete(&self.url(path)).await
    }

    /// Shuts the server down and waits until `serve` has returned.
    pub fn stop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let served = thread.join().expect("server thread panicked");
            served.expect("serve returned an error");
        }
    }

    /// Stops the server and starts it again on the same data dir (on a new port).
    pub fn restart(&mut self) {
        self.stop();
        let (addr, stop, thread) = spawn(self.config.clone());
        self.addr = addr;
        self.stop = Some(stop);
        self.thread = Some(thread);
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            // Never panic in drop (a failing test is already unwinding); the next assertion reports it.
            let _ = thread.join();
        }
    }
}

fn spawn(
    config: ServerConfig,
) -> (
    SocketAddr,
    oneshot::Sender<()>,
    JoinHandle<Result<(), ServerError>>,
) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    listener.set_nonblocking(true).expect("non-blocking");
    let addr = listener.local_addr().expect("local addr");
    let (stop, stopped) = oneshot::channel::<()>();
    let thread = std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("server runtime");
        runtime.block_on(async move {
            let listener = tokio::net::TcpListener::from_std(listener)?;
            dq_server::serve(listener, config, async {
                let _ = stopped.await;
            })
            .await
        })
    });
    (addr, stop, thread)
}
