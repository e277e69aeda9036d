//! `dq up`, `dq up --detach` / `dq down` and `dq worker` as real processes.

use std::io::{BufRead, BufReader};
use std::process::{Child, Stdio};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

use crate::util::{TestServer, dq, parse};

/// A child process that is killed if a failing test leaves it running.
struct Guard(Child);

impl Drop for Guard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `dq <args>` with stderr piped; returns the child and the URL from its `dq listening on` line.
fn spawn_up(args: &[&str]) -> (Guard, String) {
    let mut child = std::process::Command::new(assert_cmd::cargo::cargo_bin("dq"))
        .args(args)
        .env("NO_COLOR", "1")
        .env_remove("DQ_TOKEN")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let url = loop {
        let line = lines
            .next()
            .expect("dq up printed where it listens")
            .unwrap();
        if let Some(url) = line.strip_prefix("dq listening on ") {
            break url.to_owned();
        }
    };
    (Guard(child), url)
}

fn terminate(child: &mut Guard) -> std::process::ExitStatus {
    signal(child, Signal::SIGTERM);
    child.0.wait().unwrap()
}

fn signal(child: &Guard, signal: Signal) {
    kill(Pid::from_raw(i32::try_from(child.0.id()).unwrap()), signal).unwrap();
}

#[test]
fn up_serves_until_sigterm_and_exits_0() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().to_str().unwrap();
    let (mut child, url) = spawn_up(&[
        "up",
        "--listen",
        "127.0.0.1:0",
        "--data-dir",
        data,
        "--step-delay",
        "0ms",
        "--backoff",
        "0ms",
        "--max-attempts",
        "2",
    ]);
    let doc = parse(
        &dq()
            .args(["--url", &url, "run", "--fail", "transform", "--json"])
            .output()
            .unwrap()
            .stdout,
    );
    assert_eq!(doc["status"], "dead_lettered");
    assert_eq!(doc["attempts"], 2, "--max-attempts reaches the worker");
    let status = terminate(&mut child);
    assert!(status.success(), "{status}");
}

#[test]
fn up_keeps_runs_across_restarts() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().to_str().unwrap();
    let args = [
        "up",
        "--listen",
        "127.0.0.1:0",
        "--data-dir",
        data,
        "--step-delay",
        "0ms",
        "--backoff",
        "0ms",
    ];
    let (mut first, url) = spawn_up(&args);
    let run = parse(
        &dq()
            .args(["--url", &url, "run", "--fail", "tool_call", "--json"])
            .output()
            .unwrap()
            .stdout,
    );
    assert!(terminate(&mut first).success());
    let (mut second, url) = spawn_up(&args);
    let record = parse(
        &dq()
            .args(["--url", &url, "dlq", "show", "--json"])
            .output()
            .unwrap()
            .stdout,
    );
    assert_eq!(record["run_id"], run["run_id"]);
    assert!(terminate(&mut second).success());
}

/// Runs `dq down` on a data dir when dropped, so that a failing test leaves no background server.
struct Down(String);

impl Drop for Down {
    fn drop(&mut self) {
        let _ = dq().args(["down", "--data-dir", &self.0]).output();
    }
}

#[test]
fn up_detach_returns_its_url_and_down_wipe_removes_everything() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("dq");
    let data = data.to_str().unwrap();
    let out = dq()
        .args([
            "up",
            "--detach",
            "--listen",
            "127.0.0.1:0",
            "--data-dir",
            data,
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let url = String::from_utf8(out.stdout).unwrap().trim_end().to_owned();
    let _down = Down(data.to_owned());
    assert!(url.starts_with("http://127.0.0.1:"), "{url}");
    assert!(std::path::Path::new(data).join("dq.pid").exists());
    dq().args(["--url", &url, "health"]).assert().code(0);
    // A second detached server on the same data dir is refused.
    dq().args([
        "up",
        "--detach",
        "--listen",
        "127.0.0.1:0",
        "--data-dir",
        data,
    ])
    .assert()
    .code(1);
    // No terminal on stdin: -y is implied.
    dq().args(["down", "--wipe", "--data-dir", data])
        .assert()
        .code(0);
    assert!(!std::path::Path::new(data).exists());
    dq().args(["--url", &url, "health"]).assert().code(5);
}

#[test]
fn a_standalone_worker_executes_runs() {
    let server = TestServer::with(|config| config.runs.workers = 0);
    let mut worker = Guard(
        std::process::Command::new(assert_cmd::cargo::cargo_bin("dq"))
            .args([
                "--url",
                server.url(),
                "worker",
                "--step-delay",
                "0ms",
                "--backoff",
                "0ms",
            ])
            .env("NO_COLOR", "1")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let doc = server.run(&[]);
    assert_eq!(doc["status"], "succeeded");
    let failed = server.run(&["--fail", "tool_call"]);
    assert_eq!(failed["status"], "dead_lettered");
    assert!(terminate(&mut worker).success());
}

#[test]
fn ctrl_c_while_following_exits_130() {
    // No worker: the run never ends, so only the interrupt stops `dq run`.
    let server = TestServer::with(|config| config.runs.workers = 0);
    let mut child = Guard(
        std::process::Command::new(assert_cmd::cargo::cargo_bin("dq"))
            .args(["--url", server.url(), "run"])
            .env("NO_COLOR", "1")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let mut lines = BufReader::new(child.0.stderr.take().unwrap()).lines();
    let started = lines.next().expect("a note once the run started").unwrap();
    assert!(started.starts_with("run "), "{started}");
    signal(&child, Signal::SIGINT);
    assert_eq!(child.0.wait().unwrap().code(), Some(130));
    let rest: Vec<String> = lines.map_while(Result::ok).collect();
    assert_eq!(rest, ["error: interrupted"]);
}
