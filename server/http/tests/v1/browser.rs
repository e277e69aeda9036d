//! What a web page can do through the user's browser to the default (loopback, tokenless) server: cross-site
//! writes (a foreign `Origin`) are 403 and DNS rebinding (a foreign `Host`) is 421, on the `/v1` routes and the
//! runs API alike, with the JSON body of each family and nothing stored. Clients without `Origin` (the
//! starter's Python client, the worker, `dq`) are untouched: every other test of this binary is one.

use std::io::{Read, Write};
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::util::{Answer, TestServer, V1Api, client};

const EVIL: &str = "http://evil.example";

impl TestServer {
    /// `host:port` of the server.
    fn authority(&self) -> String {
        self.url("")
            .trim_start_matches("http://")
            .trim_end_matches('/')
            .to_owned()
    }

    async fn send(&self, request: reqwest::RequestBuilder) -> Answer {
        dq_testkit::http::send(request).await
    }

    async fn topics(&self) -> Vec<Value> {
        self.get("/v1/topics").await.json["topics"]
            .as_array()
            .cloned()
            .unwrap_or_default()
    }

    async fn runs(&self) -> Vec<Value> {
        let answer = self.get("/runs").await;
        assert_eq!(answer.status, StatusCode::OK, "{}", answer.json);
        answer.json["runs"].as_array().cloned().unwrap_or_default()
    }
}

/// The FastAPI-shaped error of the runs API: asserts the status and returns the message.
#[track_caller]
fn detail(answer: &Answer, status: u16) -> String {
    assert_eq!(answer.status.as_u16(), status, "body: {}", answer.json);
    answer.json["detail"]
        .as_str()
        .unwrap_or_else(|| panic!("a detail message: {}", answer.json))
        .to_owned()
}

#[tokio::test]
async fn cross_site_writes_are_403_and_store_nothing() {
    let server = TestServer::start();
    server.create_topic("t", 1).await;
    let http = client();
    for origin in [EVIL, "null", "http://localhost:3001"] {
        // A JSON body, a `text/plain` "simple" request and a query-string-only POST.
        let requests = [
            http.post(server.url("/v1/topics"))
                .json(&json!({"name": "evil", "partitions": 1})),
            http.post(server.url("/v1/produce"))
                .header("content-type", "text/plain")
                .body(r#"{"topic":"t","value":"evil"}"#),
            http.post(server.url("/v1/produce?topic=t&value=evil")),
        ];
        for request in requests {
            let answer = server.send(request.header("origin", origin)).await;
            let message = answer.error(403, "PERMISSION_DENIED");
            assert!(message.contains(origin), "{message}");
            assert!(message.contains("--cors-origin"), "{message}");
        }
        let answer = server
            .send(
                http.post(server.url("/runs"))
                    .header("origin", origin)
                    .header("content-type", "text/plain")
                    .body(r#"{"workflow":"demo"}"#),
            )
            .await;
        assert!(detail(&answer, 403).contains(origin));
    }
    assert_eq!(server.topics().await, vec![json!("t")]);
    assert!(server.runs().await.is_empty());
    // Reads from any page stay answered (CORS decides whether the page may see them).
    let read = server
        .send(http.get(server.url("/v1/topics")).header("origin", EVIL))
        .await;
    assert_eq!(read.status, StatusCode::OK);
    server.produce("t", "good", None).await;
    let mut consumer = server.consume("t", "g", "o", None).await;
    let first = consumer.next_item().await;
    assert_eq!((first.offset, first.value.as_str()), (0, "good"));
}

#[tokio::test]
async fn the_servers_own_origin_the_ui_and_configured_origins_may_write() {
    let server = TestServer::with(|c| c.cors_origins = vec!["https://ui.example/".into()]);
    let own = server.url("");
    let own = own.trim_end_matches('/');
    let http = client();
    let origins = [
        own.to_owned(),
        own.replace("127.0.0.1", "localhost"),
        "http://localhost:3000".to_owned(),
        "https://ui.example".to_owned(),
    ];
    for (i, origin) in origins.iter().enumerate() {
        let answer = server
            .send(
                http.post(server.url("/v1/topics"))
                    .header("origin", origin)
                    .json(&json!({"name": format!("t{i}"), "partitions": 1})),
            )
            .await;
        assert_eq!(
            answer.status,
            StatusCode::CREATED,
            "{origin}: {}",
            answer.json
        );
    }
    let answer = server
        .send(
            http.post(server.url("/runs"))
                .header("origin", "http://localhost:3000")
                .json(&json!({"workflow": "demo"})),
        )
        .await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.json);
    assert_eq!(server.runs().await.len(), 1);
}

#[tokio::test]
async fn a_foreign_host_is_421_on_every_route() {
    let server = TestServer::start();
    server.create_topic("t", 1).await;
    let http = client();
    let port = server.authority().rsplit(':').next().unwrap().to_owned();
    for host in [
        format!("evil.example:{port}"),
        "evil.example".into(),
        "localhost.evil.example".into(),
    ] {
        for path in ["/v1/topics", "/v1/healthz", "/metrics"] {
            let answer = server
                .send(http.get(server.url(path)).header("host", &host))
                .await;
            if path.starts_with("/v1") {
                let message = answer.error(421, "MISDIRECTED_REQUEST");
                assert!(message.contains("--allowed-host"), "{message}");
            } else {
                assert!(detail(&answer, 421).contains(&host));
            }
        }
        assert!(
            detail(
                &server
                    .send(http.get(server.url("/runs")).header("host", &host))
                    .await,
                421
            )
            .contains(&host)
        );
        let answer = server
            .send(
                http.post(server.url("/v1/produce"))
                    .header("host", &host)
                    .json(&json!({"topic": "t", "value": "rebound"})),
            )
            .await;
        answer.error(421, "MISDIRECTED_REQUEST");
        let answer = server
            .send(
                http.post(server.url("/runs"))
                    .header("host", &host)
                    .json(&json!({"workflow": "demo"})),
            )
            .await;
        detail(&answer, 421);
    }
    assert!(server.runs().await.is_empty());
    server.produce("t", "good", None).await;
    let mut consumer = server.consume("t", "g", "o", None).await;
    let first = consumer.next_item().await;
    assert_eq!((first.offset, first.value.as_str()), (0, "good"));
}

#[tokio::test]
async fn loopback_names_and_allowed_hosts_are_answered() {
    let server = TestServer::with(|c| c.allowed_hosts = vec!["dq.internal".into()]);
    let http = client();
    let port = server.authority().rsplit(':').next().unwrap().to_owned();
    for host in [
        format!("localhost:{port}"),
        format!("127.0.0.1:{port}"),
        format!("[::1]:{port}"),
        "localhost".into(),
        format!("dq.internal:{port}"),
        "DQ.Internal".into(),
    ] {
        let answer = server
            .send(http.get(server.url("/v1/healthz")).header("host", &host))
            .await;
        assert_eq!(answer.status, StatusCode::OK, "{host}: {}", answer.json);
    }
    // The same name in `Origin` is this server's own page: it may write.
    let answer = server
        .send(
            http.post(server.url("/v1/topics"))
                .header("host", format!("dq.internal:{port}"))
                .header("origin", format!("http://dq.internal:{port}"))
                .json(&json!({"name": "t", "partitions": 1})),
        )
        .await;
    assert_eq!(answer.status, StatusCode::CREATED, "{}", answer.json);
}

#[test]
fn a_request_without_host_is_answered() {
    let server = TestServer::start();
    let mut tcp = std::net::TcpStream::connect(server.authority()).unwrap();
    tcp.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    tcp.write_all(b"GET /v1/healthz HTTP/1.0\r\n\r\n").unwrap();
    let mut answer = String::new();
    tcp.read_to_string(&mut answer).unwrap();
    assert!(answer.starts_with("HTTP/1.0 200"), "{answer}");
}
