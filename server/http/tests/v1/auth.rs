//! The bearer token: required on every route but the health checks when the server has one.

use reqwest::StatusCode;

use crate::util::{Answer, TestServer, client};

#[tokio::test]
async fn a_token_guards_everything_but_health() {
    let server = TestServer::with(|config| config.token = Some("s3cret".to_owned()));
    let http = client();

    let open = http.get(server.url("/v1/healthz")).send().await.unwrap();
    assert_eq!(open.status(), StatusCode::OK);

    for (path, token) in [
        ("/v1/topics", None),
        ("/v1/topics", Some("Bearer wrong")),
        ("/v1/topics", Some("s3cret")),
        ("/v1/version", Some("Basic s3cret")),
        ("/metrics", None),
        ("/v1/nope", None),
    ] {
        let mut request = http.get(server.url(path));
        if let Some(token) = token {
            request = request.header("authorization", token);
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.headers()["www-authenticate"], "Bearer");
        let answer = Answer::read(response).await;
        answer.error(401, "UNAUTHENTICATED");
        assert!(answer.headers.contains_key("x-request-id"));
    }

    for path in ["/v1/topics", "/v1/version", "/metrics"] {
        let response = http
            .get(server.url(path))
            .header("authorization", "Bearer s3cret")
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{path}");
    }
}

#[tokio::test]
async fn without_a_token_nothing_is_asked() {
    let server = TestServer::start();
    assert_eq!(server.get("/v1/topics").await.status, StatusCode::OK);
}
