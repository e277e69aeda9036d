//! `dq` as the tests run it: the preset command ([`dq`]: no colour, no `DQ_*` variable leaking in from the
//! developer's shell) and [`Process`], a real `dq` process (e.g. `dq up`) that can be signalled, killed and
//! reaped when dropped.

use std::io::{BufRead, BufReader, Lines};
use std::process::{Child, ChildStderr, ExitStatus, Stdio};
use std::thread::JoinHandle;
use std::time::Duration;

use assert_cmd::Command;
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

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

    /// Its process id, to read its `/proc` entries.
    pub fn pid(&self) -> u32 {
        self.0.id()
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
        crate::eventually_blocking("dq to exit", guard, || {
            self.0
                .try_wait()
                .expect("its status")
                .ok_or("still running")
        })
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
