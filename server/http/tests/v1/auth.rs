//! The bearer token: required on every route but the health checks when the server has one. Asked of the
//! router without a socket (`oneshot`).

use dq_testkit::App;
use reqwest::StatusCode;

#[tokio::test]
async fn a_token_guards_everything_but_health() {
    let app = App::over_a_temp_dir(|config| config.token = Some("s3cret".to_owned())).await;

    let open = app.get("/v1/healthz").await;
    assert_eq!(open.status, StatusCode::OK);

    for (path, token) in [
        ("/v1/topics", None),
        ("/v1/topics", Some("Bearer wrong")),
        ("/v1/topics", Some("s3cret")),
        ("/v1/version", Some("Basic s3cret")),
        ("/metrics", None),
        ("/v1/nope", None),
    ] {
        let headers: Vec<(&str, &str)> = token.map(|t| ("authorization", t)).into_iter().collect();
        let answer = app.call("GET", path, &headers).await;
        assert_eq!(answer.headers["www-authenticate"], "Bearer");
        answer.error(401, "UNAUTHENTICATED");
        assert!(answer.headers.contains_key("x-request-id"));
    }

    for path in ["/v1/topics", "/v1/version", "/metrics"] {
        let response = app
            .call("GET", path, &[("authorization", "Bearer s3cret")])
            .await;
        assert_eq!(response.status, StatusCode::OK, "{path}");
    }
}

#[tokio::test]
async fn without_a_token_nothing_is_asked() {
    let app = App::over_a_temp_dir(|_| {}).await;
    assert_eq!(app.get("/v1/topics").await.status, StatusCode::OK);
}
