//! Connection limits against hostile or broken clients, over raw TCP: a silent client, a half-sent or dribbled
//! request head, a body that stops short and an idle keep-alive are each closed within their timeout; the cap
//! on open connections holds clients past it back until one closes; streams outlive every timeout while their
//! client reads them, and not when it stops.

use std::net::SocketAddr;
use std::time::Duration;

use futures::StreamExt;
use reqwest::StatusCode;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

use crate::util::{GUARD, TestServer, V1Api, client};

/// Timeouts short enough for a test, far below the guard.
const SHORT: Duration = Duration::from_millis(300);

/// A server whose header, idle and body timeouts are all [`SHORT`].
fn server_with_short_timeouts(configure: impl FnOnce(&mut dq_server::ServerConfig)) -> TestServer {
    TestServer::with(|config| {
        config.header_timeout = SHORT;
        config.idle_timeout = SHORT;
        config.body_timeout = SHORT;
        configure(config);
    })
}

fn addr(server: &TestServer) -> SocketAddr {
    server
        .url("")
        .trim_start_matches("http://")
        .parse()
        .expect("the server's address")
}

/// A whole `GET /v1/healthz` request, with `extra` header lines.
fn request(server: &TestServer, extra: &str) -> String {
    format!(
        "GET /v1/healthz HTTP/1.1\r\nHost: {}\r\n{extra}\r\n",
        addr(server)
    )
}

async fn connect(server: &TestServer) -> TcpStream {
    TcpStream::connect(addr(server)).await.expect("connect")
}

/// Reads until the server closes the connection (end of stream, or a reset) and returns what it sent.
/// Fails the test if the connection is still open after the guard time.
async fn read_until_closed(stream: &mut TcpStream) -> String {
    let mut seen = Vec::new();
    let mut buf = [0u8; 4096];
    tokio::time::timeout(GUARD, async {
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => seen.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await
    .expect("the server closes the connection within the guard time");
    String::from_utf8_lossy(&seen).into_owned()
}

/// The JSON body of a raw HTTP/1.1 answer (no chunked encoding: error bodies have a length).
fn json_body(answer: &str) -> Value {
    let (_, body) = answer.split_once("\r\n\r\n").expect("a head and a body");
    serde_json::from_str(body).unwrap_or_else(|e| panic!("JSON body ({e}): {answer}"))
}

#[tokio::test]
async fn a_silent_connection_is_closed_after_the_header_timeout() {
    let server = server_with_short_timeouts(|_| {});
    let mut stream = connect(&server).await;
    assert_eq!(read_until_closed(&mut stream).await, "");
    // Everyone else is still served.
    assert_eq!(server.get("/v1/healthz").await.status, StatusCode::OK);
}

#[tokio::test]
async fn a_half_sent_request_head_is_closed_after_the_header_timeout() {
    let server = server_with_short_timeouts(|_| {});
    let mut stream = connect(&server).await;
    stream
        .write_all(format!("GET /v1/healthz HTTP/1.1\r\nHost: {}\r\n", addr(&server)).as_bytes())
        .await
        .expect("write half a head");
    assert_eq!(read_until_closed(&mut stream).await, "");
}

#[tokio::test]
async fn a_dribbled_request_head_is_closed_after_the_header_timeout() {
    // A byte every 50 ms: each read is well within the timeout, the whole head never is.
    let server = server_with_short_timeouts(|_| {});
    let mut stream = connect(&server).await;
    let (mut reader, mut writer) = stream.split();
    writer
        .write_all(b"GET /v1/healthz HTTP/1.1\r\n")
        .await
        .expect("write a request line");
    let mut buf = [0u8; 1024];
    // One future for both halves, so that a failure drops the connection before the server.
    let read = tokio::time::timeout(GUARD, async {
        loop {
            tokio::select! {
                read = reader.read(&mut buf) => return read,
                () = tokio::time::sleep(Duration::from_millis(50)) => {
                    if writer.write_all(b"X").await.is_err() {
                        return Ok(0);
                    }
                }
            }
        }
    })
    .await
    .expect("the server closes the connection within the guard time");
    assert!(matches!(read, Ok(0) | Err(_)), "{read:?}");
}

#[tokio::test]
async fn a_body_that_stops_short_is_answered_408_and_the_connection_closed() {
    let server = server_with_short_timeouts(|_| {});
    for (path, v1) in [("/v1/produce", true), ("/runs", false)] {
        let mut stream = connect(&server).await;
        let host = addr(&server);
        let head = format!(
            "POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n"
        );
        stream.write_all(head.as_bytes()).await.expect("write head");
        stream
            .write_all(b"{\"topic\":")
            .await
            .expect("write 10 bytes");
        let answer = read_until_closed(&mut stream).await;
        assert!(answer.starts_with("HTTP/1.1 408"), "{path}: {answer}");
        let body = json_body(&answer);
        let message = if v1 {
            assert_eq!(body["error"], "REQUEST_TIMEOUT", "{answer}");
            body["message"].as_str().expect("message").to_owned()
        } else {
            body["detail"].as_str().expect("detail").to_owned()
        };
        assert!(message.contains("body timeout of 300ms"), "{message}");
    }
    // Nothing was stored, and the server keeps serving.
    assert_eq!(
        server.get("/v1/topics").await.json["topics"],
        json!([]),
        "no topic was created"
    );
}

#[tokio::test]
async fn an_idle_keep_alive_connection_is_closed_after_the_idle_timeout() {
    let server = server_with_short_timeouts(|config| {
        // Longer than the others, so that the idle timeout is the one that closes it.
        config.idle_timeout = Duration::from_millis(600);
    });
    let mut stream = connect(&server).await;
    stream
        .write_all(request(&server, "").as_bytes())
        .await
        .expect("write a request");
    let answer = read_until_closed(&mut stream).await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(
        !answer.to_ascii_lowercase().contains("connection: close"),
        "a keep-alive connection, closed for idling only: {answer}"
    );
}

#[tokio::test]
async fn connections_past_the_cap_wait_until_one_closes() {
    let server = TestServer::with(|config| config.max_connections = 8);
    // Eight kept-alive connections, each with an answered request: all accepted, all open.
    let mut held = Vec::new();
    for _ in 0..8 {
        let mut stream = connect(&server).await;
        stream
            .write_all(request(&server, "").as_bytes())
            .await
            .expect("write a request");
        let mut buf = [0u8; 1024];
        let n = tokio::time::timeout(GUARD, stream.read(&mut buf))
            .await
            .expect("an answer within the guard time")
            .expect("read");
        assert!(buf[..n].starts_with(b"HTTP/1.1 200"));
        held.push(stream);
    }
    // The ninth is not accepted while the eight are open: no answer to its request.
    let mut ninth = connect(&server).await;
    ninth
        .write_all(request(&server, "Connection: close\r\n").as_bytes())
        .await
        .expect("write a request");
    let mut buf = [0u8; 1024];
    let early = tokio::time::timeout(Duration::from_millis(500), ninth.read(&mut buf)).await;
    assert!(
        early.is_err(),
        "a connection past the cap was served: {early:?}"
    );
    // One closes: the ninth is accepted and answered.
    drop(held.pop());
    let answer = read_until_closed(&mut ninth).await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
}

#[tokio::test]
async fn silent_connections_at_the_cap_do_not_lock_out_other_clients() {
    let server = server_with_short_timeouts(|config| config.max_connections = 8);
    let mut silent = Vec::new();
    for _ in 0..20 {
        silent.push(connect(&server).await);
    }
    // Served once the silent ones before it have timed out, eight at a time.
    let answer = tokio::time::timeout(GUARD, server.get("/v1/healthz"))
        .await
        .expect("an answer within the guard time");
    assert_eq!(answer.status, StatusCode::OK);
    for stream in &mut silent {
        assert_eq!(read_until_closed(stream).await, "");
    }
}

#[tokio::test]
async fn a_consume_stream_outlives_the_connection_timeouts() {
    let server = server_with_short_timeouts(|_| {});
    server.create_topic("quiet", 1).await;
    let mut consumer = server.consume("quiet", "g", "o", None).await;
    // A keep-alive every 200 ms: eight of them take far longer than every timeout.
    for _ in 0..8 {
        assert_eq!(consumer.next_line().await.as_deref(), Some(""));
    }
}

#[tokio::test]
async fn an_sse_stream_outlives_the_connection_timeouts() {
    let server = server_with_short_timeouts(|_| {});
    // No workers: the run stays queued and its timeline open.
    let created = server.post("/runs", json!({})).await;
    assert_eq!(created.status, StatusCode::OK, "{}", created.json);
    let run_id = created.json["run_id"].as_str().expect("run_id");
    let response = client()
        .get(server.url(&format!("/runs/{run_id}/events")))
        .send()
        .await
        .expect("GET events");
    assert_eq!(response.status(), StatusCode::OK);
    let mut body = response.bytes_stream();
    let mut text = String::new();
    // A keep-alive comment every 200 ms: eight of them take far longer than every timeout.
    while text.matches("\n:").count() < 8 {
        let chunk = tokio::time::timeout(GUARD, body.next())
            .await
            .expect("a frame within the guard time")
            .expect("the stream is still open")
            .expect("a chunk");
        text.push_str(&String::from_utf8_lossy(&chunk));
    }
}

#[tokio::test]
async fn a_client_that_stops_reading_its_stream_is_closed() {
    let server = server_with_short_timeouts(|_| {});
    // Megabytes of messages, far more than the socket buffers between a client that reads nothing and the
    // server: the server's writes block.
    server.create_topic("big", 1).await;
    let value = "x".repeat(512 * 1024);
    for _ in 0..16 {
        server.produce("big", &value, None).await;
    }
    let socket = TcpSocket::new_v4().expect("socket");
    socket
        .set_recv_buffer_size(4096)
        .expect("small receive buffer");
    let mut stream = socket.connect(addr(&server)).await.expect("connect");
    let head = format!(
        "GET /v1/consume?topic=big&group=g&owner=o HTTP/1.1\r\nHost: {}\r\n\r\n",
        addr(&server)
    );
    stream
        .write_all(head.as_bytes())
        .await
        .expect("write a request");
    // Read nothing for several idle timeouts, then everything: a stream the server kept would go on with
    // keep-alives forever instead of ending.
    tokio::time::sleep(SHORT * 6).await;
    let mut buf = vec![0u8; 64 * 1024];
    tokio::time::timeout(GUARD, async {
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    })
    .await
    .expect("the server closed the stream it could not write");
    // Everyone else is still served.
    assert_eq!(server.get("/v1/healthz").await.status, StatusCode::OK);
}

#[tokio::test]
async fn two_hundred_idle_or_half_sent_connections_are_closed_and_others_served() {
    let server = server_with_short_timeouts(|_| {});
    let mut hostile = Vec::new();
    for i in 0..200 {
        let mut stream = connect(&server).await;
        if i % 2 == 1 {
            let half = format!("POST /v1/produce HTTP/1.1\r\nHost: {}\r\n", addr(&server));
            stream
                .write_all(half.as_bytes())
                .await
                .expect("write half a head");
        }
        hostile.push(stream);
    }
    assert_eq!(server.get("/v1/healthz").await.status, StatusCode::OK);
    for stream in &mut hostile {
        assert_eq!(read_until_closed(stream).await, "");
    }
    assert_eq!(server.get("/v1/healthz").await.status, StatusCode::OK);
}
