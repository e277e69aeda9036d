//! A hostile client against a real `dq up` with its default security settings (only the connection timeouts
//! are shortened so that the test does not wait 10 s): every class of bad input gets a 4xx with a JSON error
//! body or a closed connection, nothing of it is stored, and an ordinary user is served throughout.

use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::util::{Printed, Process, assert_exit, dq};

/// The status and JSON body of one request sent over a connection of its own.
fn send(addr: &str, head: &str, body: &str) -> (u16, Value) {
    let mut tcp = TcpStream::connect(addr).expect("connects");
    tcp.set_read_timeout(Some(Duration::from_secs(20)))
        .expect("a read timeout");
    let request = format!(
        "{head}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    tcp.write_all(request.as_bytes())
        .expect("the request is sent");
    let mut answer = Vec::new();
    tcp.read_to_end(&mut answer).expect("the answer is read");
    let answer = String::from_utf8_lossy(&answer);
    let status = answer
        .get(9..12)
        .and_then(|code| code.parse().ok())
        .unwrap_or_else(|| panic!("not an HTTP answer: {answer}"));
    let body = answer.split_once("\r\n\r\n").map_or("", |(_, body)| body);
    let json = serde_json::from_str(body).unwrap_or(Value::Null);
    (status, json)
}

/// `POST path` with a JSON body, as a well-behaved local client sends it.
fn post_json(addr: &str, path: &str, body: &Value) -> (u16, Value) {
    send(
        addr,
        &format!("POST {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json"),
        &body.to_string(),
    )
}

/// Asserts a refusal: the status, and a JSON error body in either route family's shape.
#[track_caller]
fn assert_refused((status, body): (u16, Value), expected: u16, what: &str) {
    assert_eq!(status, expected, "{what}: {body}");
    assert!(
        body.get("error").is_some() || body.get("detail").is_some(),
        "{what}: the error body is JSON: {body}"
    );
}

/// Whether the server has closed `tcp` (EOF or reset) within `within`.
fn closed_within(mut tcp: &TcpStream, within: Duration) -> bool {
    let deadline = Instant::now() + within;
    tcp.set_read_timeout(Some(Duration::from_millis(200)))
        .expect("a read timeout");
    let mut buf = [0u8; 512];
    while Instant::now() < deadline {
        match tcp.read(&mut buf) {
            Ok(0) => return true,
            Ok(_) => {}
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Err(_) => return true,
        }
    }
    false
}

#[test]
fn a_hostile_client_is_refused_or_cut_off_and_everyone_else_is_served() {
    let dir = tempfile::tempdir().unwrap();
    let (mut up, url) = Process::up(&[
        "--listen",
        "127.0.0.1:0",
        "--data-dir",
        dir.path().to_str().unwrap(),
        "--step-delay",
        "0ms",
        "--backoff",
        "0ms",
        "--header-timeout",
        "1s",
        "--idle-timeout",
        "2s",
        "--body-timeout",
        "1s",
    ]);
    let addr = url
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .to_owned();
    let before = dq().args(["--url", &url, "run", "--json"]).json();
    assert_eq!(before["status"], "succeeded");
    let run = before["run_id"].as_str().unwrap().to_owned();
    let (status, created) = post_json(&addr, "/v1/topics", &json!({"name": "t"}));
    assert_eq!(status, 201, "{created}");

    // 200 connections that send nothing or half a request head, held open while the rest goes on.
    let held: Vec<TcpStream> = (0..200)
        .map(|i| {
            let mut tcp = TcpStream::connect(&addr).expect("connects");
            if i % 2 == 1 {
                tcp.write_all(b"POST /runs HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Le")
                    .expect("half a head");
            }
            tcp
        })
        .collect();

    // Oversized stored keys: the storage engine's 65,535-byte key limit is never reached.
    let key = "k".repeat(70_000);
    let produce = json!({"topic": "t", "value": "v", "envelope": {"idempotency_key": key}});
    assert_refused(post_json(&addr, "/v1/produce", &produce), 400, "70 KB key");
    let tenant = json!({"topic": "t", "value": "v", "envelope": {"tenant_id": "x".repeat(300)}});
    assert_refused(post_json(&addr, "/v1/produce", &tenant), 400, "tenant");
    // Cross-site writes: a foreign Origin, and the text/plain body a page can send without a preflight.
    assert_refused(
        send(
            &addr,
            &format!(
                "POST /runs HTTP/1.1\r\nHost: {addr}\r\nOrigin: http://evil.example\r\nContent-Type: application/json"
            ),
            "{}",
        ),
        403,
        "foreign origin",
    );
    assert_refused(
        send(
            &addr,
            &format!("POST /runs HTTP/1.1\r\nHost: {addr}\r\nContent-Type: text/plain"),
            "{}",
        ),
        415,
        "text/plain body",
    );
    // DNS rebinding: a page under another name reads nothing.
    assert_refused(
        send(&addr, "GET /runs HTTP/1.1\r\nHost: evil.example", ""),
        421,
        "foreign Host",
    );
    // Forged lifecycle events and poison run input.
    assert_refused(
        post_json(
            &addr,
            &format!("/runs/{run}/emit"),
            &json!({"event": {"type": "run.failed"}}),
        ),
        422,
        "forged run.failed",
    );
    assert_refused(
        post_json(&addr, "/runs", &json!(["demo", {}, "tool_call", 1])),
        422,
        "array body",
    );
    assert_refused(
        post_json(&addr, "/runs", &json!({"max_attempts": 2_147_483_648_u64})),
        422,
        "endless max_attempts",
    );
    assert_refused(
        send(
            &addr,
            &format!("GET /v1/consume?topic=t&group=g&owner=o&lease_ms=1 HTTP/1.1\r\nHost: {addr}"),
            "",
        ),
        400,
        "1 ms lease",
    );
    assert_refused(
        send(
            &addr,
            &format!("POST /v1/produce?topic=t&value=%FF HTTP/1.1\r\nHost: {addr}"),
            "",
        ),
        400,
        "query string that is not UTF-8",
    );

    // Everyone else is served while the hostile connections are held.
    let out = dq()
        .args(["--url", &url, "run", "--fail", "tool_call", "-q"])
        .output()
        .unwrap();
    assert_exit(&out, 3);
    let out = dq()
        .args(["--url", &url, "replay", "--fix", "-q"])
        .output()
        .unwrap();
    assert_exit(&out, 0);

    // The held connections are closed by the header timeout, not kept forever.
    let still_open = held
        .iter()
        .filter(|tcp| !closed_within(tcp, Duration::from_secs(10)))
        .count();
    assert_eq!(still_open, 0, "connections the server kept open");

    // Nothing of the hostile input was stored: two ordinary runs, one topic of the test's, no message in it.
    let runs = dq().args(["--url", &url, "runs", "list", "--json"]).json();
    assert_eq!(runs["count"], 2, "{runs}");
    let (status, read) = send(
        &addr,
        &format!("GET /v1/read?topic=t&partition=0&from=0&limit=10 HTTP/1.1\r\nHost: {addr}"),
        "",
    );
    assert_eq!(status, 200, "{read}");
    assert_eq!(read["messages"], json!([]), "{read}");
    assert!(up.terminate().success());
}
