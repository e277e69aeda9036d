//! `/openapi.json` and `/docs`: the document names every route of the runs router and no other (the router's
//! routes are read from its source, `src/runs/mod.rs`), each documented operation answers a real server only
//! with a status the document lists for it, and both are served without the token.

use std::collections::BTreeSet;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::util::{Answer, TestServer};

/// The router's source: the one place the runs routes are listed.
const ROUTER: &str = include_str!("../../src/runs/mod.rs");

/// Routes that describe the API rather than belong to it (FastAPI leaves them out of its document too).
const META: [&str; 2] = ["/openapi.json", "/docs"];

/// (method, path) of every `.route("PATH", get(…).post(…))` in the router's source.
fn routed() -> BTreeSet<(String, String)> {
    let method = regex::Regex::new(r"(?:^|[\s,.(])(get|post|put|patch|delete)\(").unwrap();
    let mut routes = BTreeSet::new();
    for chunk in ROUTER.split(".route(\"").skip(1) {
        let (path, rest) = chunk.split_once('"').unwrap();
        let found: Vec<_> = method
            .captures_iter(rest)
            .map(|c| c[1].to_owned())
            .collect();
        assert!(!found.is_empty(), "no method for {path}");
        for m in found {
            routes.insert((m, path.to_owned()));
        }
    }
    routes
}

/// (method, path) of every operation of the document.
fn documented(doc: &Value) -> BTreeSet<(String, String)> {
    let mut ops = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            ops.insert((method.clone(), path.clone()));
        }
    }
    ops
}

async fn document(server: &TestServer) -> Value {
    let response = server
        .client()
        .get(server.url("/openapi.json"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["content-type"], "application/json");
    response.json().await.unwrap()
}

#[tokio::test]
async fn the_openapi_document_names_exactly_the_routes_of_the_runs_router() {
    let server = TestServer::start();
    let doc = document(&server).await;
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    let routes: BTreeSet<_> = routed()
        .into_iter()
        .filter(|(_, path)| !META.contains(&path.as_str()))
        .collect();
    assert!(routes.len() >= 12, "the source was not read: {routes:?}");
    let ops = documented(&doc);
    let undocumented: Vec<_> = routes.difference(&ops).collect();
    let unrouted: Vec<_> = ops.difference(&routes).collect();
    assert!(
        undocumented.is_empty(),
        "routes missing from openapi.json: {undocumented:?}"
    );
    assert!(
        unrouted.is_empty(),
        "documented but not routed: {unrouted:?}"
    );
    // Every `$ref` points at a component.
    let text = doc.to_string();
    for piece in text.split("\"$ref\":\"#/components/").skip(1) {
        let target = piece.split('"').next().unwrap();
        let (kind, name) = target.split_once('/').unwrap();
        assert!(
            doc["components"][kind][name].is_object(),
            "dangling $ref {target}"
        );
    }
}

#[tokio::test]
async fn each_documented_operation_answers_with_a_documented_status() {
    let server = TestServer::start();
    let doc = document(&server).await;
    for (method, path) in documented(&doc) {
        let url = server.url(&path.replace("{run_id}", "no-such-run"));
        let request = match method.as_str() {
            "get" => server.client().get(url),
            "post" => {
                let body = if path.ends_with("/emit") {
                    json!({"event": {"type": "demo.ping"}})
                } else {
                    json!({})
                };
                server.client().request(Method::POST, url).json(&body)
            }
            other => panic!("no probe for {other} {path}"),
        };
        let response = request.send().await.unwrap();
        let status = response.status().as_u16().to_string();
        let responses = &doc["paths"][&path][&method]["responses"];
        assert!(
            responses.get(&status).is_some(),
            "{method} {path} answered {status}, not in {responses}"
        );
        let body: Value = response.json().await.unwrap_or(Value::Null);
        assert_ne!(body["detail"], "Not Found", "{method} {path} is not routed");
    }
}

#[tokio::test]
async fn the_docs_page_is_served_whole_and_both_are_open_without_the_token() {
    let server = TestServer::with(|c| c.token = Some("a-token-of-24-characters".into()));
    let response = server
        .client()
        .get(server.url("/docs"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let headers = response.headers().clone();
    assert_eq!(headers["content-type"], "text/html; charset=utf-8");
    let policy = headers["content-security-policy"].to_str().unwrap();
    assert!(policy.contains("default-src 'none'") && policy.contains("connect-src 'self'"));
    let page = response.text().await.unwrap();
    assert!(page.contains("fetch(\"openapi.json\")"));
    assert!(!page.contains("src=\"http") && !page.contains("href=\"http"));
    document(&server).await;
    let Answer { status, .. } = server.get("/runs").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}
