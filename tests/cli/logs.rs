//! `DQ_LOG`: logs on stderr never cost the command its result (a closed or full stderr), carry no colour in a
//! pipe, and leave no temporary data dir behind.

use std::process::{Command, Stdio};
use std::time::Duration;

use crate::util::{LEAKY, TestServer, has_escapes};

/// `dq ARGS` with `DQ_LOG=debug`, its stderr going to `stderr`; its exit code (waited for, bounded).
fn logging_into(args: &[&str], stderr: Stdio, tmp: &std::path::Path) -> Option<i32> {
    let mut command = Command::new(assert_cmd::cargo::cargo_bin("dq"));
    for var in LEAKY {
        command.env_remove(var);
    }
    let mut child = command
        .args(args)
        .env("DQ_LOG", "debug")
        .env("TMPDIR", tmp)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(stderr)
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status.code();
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("dq {args:?} did not end within 60 s");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn dev_full() -> Stdio {
    Stdio::from(
        std::fs::OpenOptions::new()
            .write(true)
            .open("/dev/full")
            .unwrap(),
    )
}

/// The write end of a pipe whose read end is already closed: every write fails with EPIPE.
fn closed_pipe() -> Stdio {
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    Stdio::from(writer)
}

#[test]
fn a_closed_or_full_stderr_does_not_stop_a_logging_command() {
    let server = TestServer::start();
    let tmp = tempfile::tempdir().unwrap();
    for (what, stderr) in [("/dev/full", dev_full()), ("a closed pipe", closed_pipe())] {
        let code = logging_into(&["--url", server.url(), "health"], stderr, tmp.path());
        assert_eq!(code, Some(0), "dq health with stderr on {what}");
    }
    // A failing command keeps its own exit code.
    let code = logging_into(
        &["--url", server.url(), "runs", "show", "no-such-run"],
        closed_pipe(),
        tmp.path(),
    );
    assert_eq!(code, Some(4));
}

#[test]
fn the_demo_with_a_full_stderr_finishes_and_removes_its_temporary_data_dir() {
    let tmp = tempfile::tempdir().unwrap();
    let code = logging_into(&["demo", "--fast"], dev_full(), tmp.path());
    assert_eq!(code, Some(0));
    let left: Vec<_> = std::fs::read_dir(tmp.path()).unwrap().collect();
    assert!(left.is_empty(), "left behind: {left:?}");
}

#[test]
fn logs_in_a_pipe_have_no_colour() {
    let server = TestServer::start();
    let out = server
        .dq()
        .env_remove("NO_COLOR")
        .env("DQ_LOG", "debug")
        .arg("health")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&out.stderr).contains("DEBUG"));
    assert!(
        !has_escapes(&out.stderr),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
