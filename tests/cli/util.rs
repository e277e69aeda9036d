//! This binary's server defaults (no pretend delays, a 500 ms keep-alive), the preset `dq` command bound to a
//! server, and what `dq` printed read as JSON. The server and `dq` as a real process are the test kit's
//! (`dq-testkit`).

use std::net::TcpListener;
use std::process::Output;
use std::time::Duration;

use assert_cmd::Command;
use dq_testkit::Server;
use serde_json::Value;

pub use dq_testkit::{LEAKY, Process, dq};

/// A dq server (broker, runs API, workers) on a free loopback port, storing in a temporary directory.
pub struct TestServer {
    // Held for its drop, which stops the server.
    _server: Server,
    url: String,
}

impl TestServer {
    /// One in-process worker, no step delay, no backoff.
    pub fn start() -> Self {
        Self::with(|_| {})
    }

    /// Like [`TestServer::start`], with the configuration adjusted by `adjust`.
    pub fn with(adjust: impl FnOnce(&mut dq_server::ServerConfig)) -> Self {
        let server = Server::over_a_temp_dir(|config| {
            config.runs.step_delay = Duration::ZERO;
            config.runs.backoff = Duration::ZERO;
            config.keepalive = Duration::from_millis(500);
            adjust(config);
        });
        let url = server.base();
        Self {
            _server: server,
            url,
        }
    }

    /// The base URL.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// `dq --url <this server>`.
    pub fn dq(&self) -> Command {
        let mut cmd = dq();
        cmd.args(["--url", &self.url]);
        cmd
    }

    /// Starts a run with `dq run --json` and returns its final document.
    pub fn run(&self, args: &[&str]) -> Value {
        self.dq().args(["run", "--json"]).args(args).json()
    }
}

/// What a `dq` command printed on stdout, read once it has finished.
pub trait Printed {
    /// Its stdout as one JSON document.
    fn json(&mut self) -> Value;
    /// Its stdout as one JSON object per line.
    fn ndjson(&mut self) -> Vec<Value>;
}

impl Printed for Command {
    fn json(&mut self) -> Value {
        parse(&self.output().expect("dq runs").stdout)
    }

    fn ndjson(&mut self) -> Vec<Value> {
        parse_lines(&self.output().expect("dq runs").stdout)
    }
}

/// Asserts that `out` exited with `code`, showing its stderr when it did not.
#[track_caller]
pub fn assert_exit(out: &Output, code: i32) {
    assert_eq!(
        out.status.code(),
        Some(code),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// One JSON document.
pub fn parse(bytes: &[u8]) -> Value {
    let text = String::from_utf8_lossy(bytes);
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("not one JSON document ({e}): {text}"))
}

/// One JSON object per line.
pub fn parse_lines(bytes: &[u8]) -> Vec<Value> {
    String::from_utf8_lossy(bytes)
        .lines()
        .map(|line| {
            serde_json::from_str(line).unwrap_or_else(|e| panic!("not NDJSON ({e}): {line}"))
        })
        .collect()
}

/// A loopback port nothing listens on.
pub fn closed_port_url() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").expect("a free port");
    let port = listener.local_addr().expect("its address").port();
    drop(listener);
    format!("http://127.0.0.1:{port}")
}

/// Whether text contains an ANSI escape sequence.
pub fn has_escapes(bytes: &[u8]) -> bool {
    bytes.contains(&0x1b)
}
