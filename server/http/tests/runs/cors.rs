//! CORS on the runs API: preflights and simple requests from the UI's origin, configured origins and
//! origins matching a pattern get the CORS headers; others get none, and may not write. Asked of the router
//! without a socket (`oneshot`).

use axum::body::Body;
use dq_testkit::request;
use serde_json::json;

use crate::util::app_with;

#[tokio::test]
async fn cors_allows_the_ui_origin_and_configured_ones() {
    let server = app_with(|c| c.cors_origins = vec!["https://example.test".to_owned()]).await;
    for origin in ["http://localhost:3000", "https://example.test"] {
        let response = server
            .call(
                "OPTIONS",
                "/runs",
                &[
                    ("origin", origin),
                    ("access-control-request-method", "POST"),
                    ("access-control-request-headers", "content-type"),
                ],
            )
            .await;
        assert!(response.status.is_success(), "{}", response.status);
        assert_eq!(response.headers["access-control-allow-origin"], origin);
    }
    // A simple (not preflighted) request from an allowed origin.
    let response = server
        .call("GET", "/healthz", &[("origin", "http://localhost:3000")])
        .await;
    assert_eq!(
        response.headers["access-control-allow-origin"],
        "http://localhost:3000"
    );
    assert!(response.headers.contains_key("x-request-id"));
    let response = server
        .call("GET", "/healthz", &[("origin", "https://evil.test")])
        .await;
    assert!(
        response
            .headers
            .get("access-control-allow-origin")
            .is_none()
    );
    // No `Origin`, no browser: no CORS headers at all.
    let response = server.call("GET", "/healthz", &[]).await;
    assert!(response.status.is_success());
    assert!(
        !response
            .headers
            .keys()
            .any(|name| name.as_str().starts_with("access-control-"))
    );
}

/// `--cors-origin-regex`: a matching origin (a Codespaces-style forwarded UI) gets preflights answered, with
/// `Access-Control-Max-Age`, and may create runs; one that only contains a match may not.
#[tokio::test]
async fn cors_allows_origins_matching_a_pattern_and_lets_them_write() {
    let server = app_with(|c| {
        c.cors_origin_patterns = vec![dq_server::CODESPACES_ORIGIN_PATTERN.parse().unwrap()];
    })
    .await;
    let ui = "https://fluffy-guide-5x7-3000.app.github.dev";
    let evil = "https://fluffy-guide-5x7-3000.app.github.dev.evil.test";
    for (origin, allowed) in [(ui, true), (evil, false)] {
        let preflight = server
            .call(
                "OPTIONS",
                "/runs",
                &[
                    ("origin", origin),
                    ("access-control-request-method", "POST"),
                    ("access-control-request-headers", "content-type"),
                ],
            )
            .await;
        let headers = &preflight.headers;
        if allowed {
            assert_eq!(headers["access-control-allow-origin"], origin);
            assert_eq!(headers["access-control-max-age"], "600");
        } else {
            assert!(headers.get("access-control-allow-origin").is_none());
        }
        let create = server
            .send(
                request("POST", "/runs")
                    .header("origin", origin)
                    .header("content-type", "application/json")
                    .body(Body::from(json!({"workflow": "demo"}).to_string()))
                    .unwrap(),
            )
            .await;
        let expected = if allowed { 200 } else { 403 };
        assert_eq!(create.status.as_u16(), expected, "{origin}");
        if allowed {
            assert_eq!(create.headers["access-control-allow-origin"], origin);
        }
    }
}
