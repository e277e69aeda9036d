//! Test helpers: a dq server on its own runtime thread (port 0, temporary data dir, no pretend delays), the
//! preset `dq` command, what it printed read as JSON, and `dq` as a real process that can be signalled.

use std::io::{BufRead, BufReader, Lines};
use std::net::TcpListener;
use std::process::{Child, ChildStderr, ExitStatus, Output, Stdio};
use std::thread::JoinHandle;
use std::time::Duration;

use assert_cmd::Command;
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use serde_json::Value;
use tokio::sync::oneshot;

/// Variables that must not leak from the developer's shell into a test.
pub const LEAKY: [&str; 20] = [
    "DQ_URL",
    "DQ_TOKEN",
    "DQ_JSON",
    "DQ_COLOR",
    "DQ_QUIET",
    "DQ_TIMEOUT",
    "DQ_YES",
    "DQ_DATA_DIR",
    "DQ_LISTEN",
    "DQ_TOKEN_FILE",
    "DQ_CORS_ORIGINS",
    "DQ_CORS_ORIGIN_REGEX",
    "CODESPACES",
    "DQ_ALLOWED_HOSTS",
    "DQ_LOG",
    "DQ_BROKER",
    "DQ_NATS_CREDS",
    "DQ_WORKFLOWS",
    "CLICOLOR_FORCE",
    "RUST_LOG",
];

/// The `dq` binary, with `NO_COLOR` set and no `DQ_*` variables.
pub fn dq() -> Command {
    let mut cmd = Command::cargo_bin("dq").expect("the dq binary");
    for var in LEAKY {
        cmd.env_remove(var);
    }
    cmd.env("NO_COLOR", "1").timeout(Duration::from_secs(60));
    cmd
}

/// A dq server (broker, runs API, workers) on a free loopback port, storing in a temporary directory.
pub struct TestServer {
    url: String,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
    _dir: tempfile::TempDir,
}

impl TestServer {
    /// One in-process worker, no step delay, no backoff.
    pub fn start() -> Self {
        Self::with(|_| {})
    }

    /// Like [`TestServer::start`], with the configuration adjusted by `adjust`.
    pub fn with(adjust: impl FnOnce(&mut dq_server::ServerConfig)) -> Self {
        let dir = tempfile::tempdir().expect("a temporary data dir");
        let mut config = dq_server::ServerConfig::new(dir.path());
        config.runs.step_delay = Duration::ZERO;
        config.runs.backoff = Duration::ZERO;
        config.keepalive = Duration::from_millis(500);
        adjust(&mut config);
        let listener = TcpListener::bind("127.0.0.1:0").expect("a free port");
        listener
            .set_nonblocking(true)
            .expect("a non-blocking listener");
        let url = format!("http://{}", listener.local_addr().expect("its address"));
        let (stop, stopped) = oneshot::channel::<()>();
        let thread = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .expect("a runtime");
            runtime.block_on(async move {
                let listener =
                    tokio::net::TcpListener::from_std(listener).expect("a tokio listener");
                dq_server::serve(listener, config, async move {
                    let _ = stopped.await;
                })
                .await
                .expect("the server runs");
            });
        });
        Self {
            url,
            stop: Some(stop),
            thread: Some(thread),
            _dir: dir,
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

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
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

/// `dq` as a real process: stdout discarded, stderr piped, the same clean environment as [`dq`]. Killed and
/// reaped when dropped, so that a failing test leaves nothing running.
pub struct Process(Child);

impl Process {
    /// Starts `dq <args>`.
    pub fn spawn(args: &[&str]) -> Self {
        Self::spawn_in(args, &[])
    }

    /// Starts `dq <args>` with the variables `env` set.
    pub fn spawn_in(args: &[&str], env: &[(&str, &str)]) -> Self {
        let mut cmd = std::process::Command::new(assert_cmd::cargo::cargo_bin("dq"));
        for var in LEAKY {
            cmd.env_remove(var);
        }
        let child = cmd
            .args(args)
            .envs(env.iter().copied())
            .env("NO_COLOR", "1")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("dq starts");
        Self(child)
    }

    /// Starts `dq up <args>`; returns the process and the URL from its `dq listening on` line. The rest of its
    /// stderr is drained, so that the server never blocks on a full pipe.
    pub fn up(args: &[&str]) -> (Self, String) {
        let (up, url, _stderr) = Self::up_with_stderr(args);
        (up, url)
    }

    /// [`Process::up`], also returning the lines of stderr printed after the URL, collected until it exits.
    pub fn up_with_stderr(args: &[&str]) -> (Self, String, JoinHandle<Vec<String>>) {
        Self::up_in(args, &[])
    }

    /// [`Process::up_with_stderr`] with the variables `env` set.
    pub fn up_in(args: &[&str], env: &[(&str, &str)]) -> (Self, String, JoinHandle<Vec<String>>) {
        let mut up = Self::spawn_in(&[&["up"], args].concat(), env);
        let mut lines = up.stderr_lines();
        let url = loop {
            let line = lines
                .next()
                .expect("dq up printed where it listens")
                .expect("a line");
            if let Some(url) = line.strip_prefix("dq listening on ") {
                break url.trim().to_owned();
            }
        };
        let stderr = std::thread::spawn(move || lines.map_while(Result::ok).collect());
        (up, url, stderr)
    }

    /// Its stderr, line by line (once).
    pub fn stderr_lines(&mut self) -> Lines<BufReader<ChildStderr>> {
        BufReader::new(self.0.stderr.take().expect("stderr")).lines()
    }

    /// Sends `signal`.
    pub fn signal(&self, signal: Signal) {
        let pid = Pid::from_raw(i32::try_from(self.0.id()).expect("a pid"));
        kill(pid, signal).expect("the signal is sent");
    }

    /// Waits for it to exit.
    pub fn wait(&mut self) -> ExitStatus {
        self.0.wait().expect("reaped")
    }

    /// Waits for it to exit on its own, failing the test after `guard`.
    pub fn exits_within(&mut self, guard: Duration) -> ExitStatus {
        let started = std::time::Instant::now();
        loop {
            if let Some(status) = self.0.try_wait().expect("its status") {
                return status;
            }
            assert!(started.elapsed() < guard, "still running after {guard:?}");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// SIGTERM, then its exit status.
    pub fn terminate(&mut self) -> ExitStatus {
        self.signal(Signal::SIGTERM);
        self.wait()
    }

    /// `kill -9`, reaped.
    pub fn sigkill(&mut self) {
        self.signal(Signal::SIGKILL);
        self.wait();
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
