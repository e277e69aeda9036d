//! What a new user meets first: `dq health`'s summary and a foreign server, `dq --version` with the server's
//! version, the help's examples and the completions.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use crate::util::{TestServer, assert_exit, closed_port_url, dq, parse};

/// A tiny HTTP server on loopback that answers every request with `answer(path)` (status, body) and closes.
struct Foreign {
    url: String,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Foreign {
    fn start(answer: fn(&str) -> (u16, &'static str)) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let stop = Arc::new(AtomicBool::new(false));
        let stopping = stop.clone();
        let thread = std::thread::spawn(move || {
            while !stopping.load(Ordering::Relaxed) {
                let Ok((mut conn, _)) = listener.accept() else {
                    std::thread::sleep(Duration::from_millis(10));
                    continue;
                };
                conn.set_nonblocking(false).unwrap();
                conn.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
                let mut head = Vec::new();
                let mut buf = [0u8; 1024];
                while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                    match conn.read(&mut buf) {
                        Ok(0) | Err(_) => break,
                        Ok(n) => head.extend_from_slice(&buf[..n]),
                    }
                }
                let head = String::from_utf8_lossy(&head);
                let path = head.split_whitespace().nth(1).unwrap_or("/").to_owned();
                let (status, body) = answer(&path);
                let _ = write!(
                    conn,
                    "HTTP/1.1 {status} X\r\nContent-Type: text/plain\r\nContent-Length: {}\r\n\
                     Connection: close\r\n\r\n{body}",
                    body.len()
                );
            }
        });
        Self {
            url,
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for Foreign {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

#[test]
fn health_prints_a_human_summary() {
    let server = TestServer::start();
    let out = server.dq().arg("health").output().unwrap();
    assert_exit(&out, 0);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("is healthy"), "{text}");
    assert!(
        text.contains(&format!("version  {}", env!("CARGO_PKG_VERSION"))),
        "{text}"
    );
    assert!(text.contains("broker   ok"), "{text}");
    assert!(text.contains("storage  ok (fsync on)"), "{text}");
    let json = parse(
        &server
            .dq()
            .args(["health", "--json"])
            .output()
            .unwrap()
            .stdout,
    );
    assert_eq!(json["ok"], true);
    assert_eq!(json["version"], env!("CARGO_PKG_VERSION"));
}

#[test]
fn health_says_not_a_dq_server_for_a_foreign_server() {
    for answer in [
        (|_: &str| (200, "hello")) as fn(&str) -> (u16, &'static str),
        |_: &str| (404, "not here"),
    ] {
        let foreign = Foreign::start(answer);
        let out = dq()
            .args(["--url", &foreign.url, "health"])
            .output()
            .unwrap();
        assert_exit(&out, 4);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("is not a dq server"), "{err}");
        assert!(out.stdout.is_empty());
    }
}

#[test]
fn version_includes_the_servers_version_when_one_answers() {
    let foreign = Foreign::start(|path| match path {
        "/v1/version" => (
            200,
            r#"{"version":"9.8.7","commit":"abc","wal_enabled":true}"#,
        ),
        _ => (404, "no"),
    });
    let out = dq()
        .args(["--url", &foreign.url, "--version"])
        .output()
        .unwrap();
    assert_exit(&out, 0);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.starts_with(&format!("dq {}", env!("CARGO_PKG_VERSION"))),
        "{text}"
    );
    assert!(text.contains("server 9.8.7"), "{text}");
    // From DQ_URL too.
    let out = dq()
        .env("DQ_URL", &foreign.url)
        .arg("--version")
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).contains("server 9.8.7"));
}

#[test]
fn version_without_a_server_is_the_clients_alone() {
    let out = dq()
        .args(["--url", &closed_port_url(), "--version"])
        .output()
        .unwrap();
    assert_exit(&out, 0);
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        format!("dq {}", env!("CARGO_PKG_VERSION"))
    );
    assert!(out.stderr.is_empty());
}

#[test]
fn help_has_examples_for_the_main_commands() {
    for command in ["run", "replay", "dlq", "runs", "events", "up"] {
        for flag in ["-h", "--help"] {
            let out = dq().args([command, flag]).output().unwrap();
            assert_exit(&out, 0);
            let text = String::from_utf8_lossy(&out.stdout);
            let examples = text
                .split("Examples:")
                .nth(1)
                .unwrap_or_else(|| panic!("dq {command} {flag}: no examples\n{text}"));
            let lines = examples
                .lines()
                .filter(|l| l.trim_start().starts_with(&format!("dq {command}")))
                .count();
            assert!((2..=4).contains(&lines), "dq {command} {flag}: {examples}");
        }
    }
}

#[test]
fn completions_offer_fail_steps_and_status_values() {
    for shell in ["bash", "zsh", "fish"] {
        let out = dq().args(["completions", shell]).output().unwrap();
        assert_exit(&out, 0);
        let script = String::from_utf8_lossy(&out.stdout);
        for value in [
            "fetch_input",
            "transform",
            "tool_call",
            "finalize",
            "dead_lettered",
            "retrying",
        ] {
            assert!(script.contains(value), "{shell}: no {value}");
        }
    }
    // bash: the values are offered right after --fail and --status.
    let out = dq().args(["completions", "bash"]).output().unwrap();
    let script = String::from_utf8_lossy(&out.stdout);
    assert!(script.contains("\"fetch_input transform tool_call finalize\""));
    assert!(script.contains("\"queued running retrying succeeded dead_lettered\""));
}

#[test]
fn completions_help_says_how_to_install_them() {
    let out = dq().args(["completions", "--help"]).output().unwrap();
    assert_exit(&out, 0);
    let text = String::from_utf8_lossy(&out.stdout);
    for line in [
        "dq completions bash > ~/.local/share/bash-completion/completions/dq",
        "dq completions zsh > ~/.zfunc/_dq",
        "dq completions fish > ~/.config/fish/completions/dq.fish",
    ] {
        assert!(text.contains(line), "{text}");
    }
}
