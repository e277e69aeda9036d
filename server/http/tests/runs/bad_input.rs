//! Bad input answers in FastAPI's shape: 404 for unknown runs, 422 naming the problem, 413 for big inputs.
//! Asked of the router without a socket (`oneshot`), but for a body that must really be written to one.

use axum::body::Body;
use dq_testkit::{App, request};
use reqwest::StatusCode;
use serde_json::json;

use crate::util::{Answer, RunsApi, TestServer, app, app_with};

const UNKNOWN: &str = "0123456789abcdef0123456789abcdef";

#[tokio::test]
async fn unknown_runs_are_404_with_a_json_detail() {
    let server = app().await;
    for path in [
        format!("/runs/{UNKNOWN}"),
        format!("/runs/{UNKNOWN}/events"),
        format!("/runs/{UNKNOWN}/timeline"),
    ] {
        let Answer {
            status, json: body, ..
        } = server.get(&path).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}");
        assert_eq!(body, json!({"detail": "run not found"}), "{path}");
    }
    for path in [
        format!("/runs/{UNKNOWN}/replay"),
        format!("/runs/{UNKNOWN}/emit"),
    ] {
        let Answer {
            status, json: body, ..
        } = server.post(&path, json!({"event": {}})).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}");
        assert_eq!(body, json!({"detail": "run not found"}), "{path}");
    }
}

#[tokio::test]
async fn fail_at_that_is_no_step_is_422_naming_the_steps() {
    let server = app().await;
    let Answer {
        status, json: body, ..
    } = server.post("/runs", json!({"fail_at": "deploy"})).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let msg = body["detail"][0]["msg"].as_str().unwrap();
    assert!(
        msg.contains("fetch_input, transform, tool_call, finalize"),
        "{msg}"
    );
    assert_eq!(body["detail"][0]["loc"], json!(["body", "fail_at"]));

    let run_id = server.create(json!({})).await;
    server.wait_status(&run_id, 0, "succeeded").await;
    let Answer {
        status, json: body, ..
    } = server
        .post(
            &format!("/runs/{run_id}/replay"),
            json!({"fail_at": "deploy"}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    // A rejected replay burns no seq.
    let Answer { json: answer, .. } = server
        .post(&format!("/runs/{run_id}/replay"), json!({"fail_at": null}))
        .await;
    assert_eq!(answer["seq"], 1);
}

#[tokio::test]
async fn malformed_bodies_are_422_with_a_detail_list() {
    let server = app().await;
    let Answer {
        status, json: body, ..
    } = server.post_raw("/runs", "{\"workflow\": ").await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(body["detail"][0]["type"], "json_invalid");
    let Answer {
        status, json: body, ..
    } = server.post_raw("/runs", "{\"input\": 5}").await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        body["detail"][0]["msg"].as_str().unwrap().contains("input") || body["detail"].is_array()
    );
    let Answer { status, .. } = server.post("/runs", json!({"workflow": "nope"})).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let Answer { status, .. } = server.post("/runs", json!({"max_attempts": 0})).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let run_id = server.create(json!({})).await;
    let Answer { status, .. } = server.post_raw(&format!("/runs/{run_id}/emit"), "{}").await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
}

#[tokio::test]
async fn an_input_over_the_limit_is_413() {
    let server = app_with(|c| c.runs.max_input_bytes = 1024).await;
    let big = "x".repeat(2048);
    let Answer {
        status, json: body, ..
    } = server.post("/runs", json!({"input": {"blob": big}})).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    assert!(
        body["detail"].as_str().unwrap().contains("over the limit"),
        "{body}"
    );
}

/// The one validation problem of a FastAPI-shaped 422 body, checked to sit at `loc` and to mention `words`.
fn assert_422(
    status: StatusCode,
    body: &serde_json::Value,
    loc: serde_json::Value,
    words: &[&str],
) {
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    let problems = body["detail"].as_array().expect("a detail list");
    assert_eq!(problems.len(), 1, "{body}");
    assert_eq!(problems[0]["loc"], loc, "{body}");
    let msg = problems[0]["msg"].as_str().expect("msg");
    for word in words {
        assert!(msg.contains(word), "{msg:?} does not mention {word:?}");
    }
}

#[tokio::test]
async fn max_attempts_over_100_is_422_naming_the_bound_and_stores_nothing() {
    let server = app().await;
    for n in [101_u64, 1 << 31, u64::from(u32::MAX)] {
        let Answer {
            status, json: body, ..
        } = server.post("/runs", json!({"max_attempts": n})).await;
        assert_422(
            status,
            &body,
            json!(["body", "max_attempts"]),
            &["max_attempts", "100", &n.to_string()],
        );
    }
    let Answer {
        status, json: body, ..
    } = server.post("/runs", json!({"max_attempts": 0})).await;
    assert_422(status, &body, json!(["body", "max_attempts"]), &["100"]);
    let Answer { json: runs, .. } = server.get("/runs").await;
    assert_eq!(runs["count"], 0, "a refused start stores no run: {runs}");

    let run_id = server.create(json!({"max_attempts": 100})).await;
    server.wait_status(&run_id, 0, "succeeded").await;
    let Answer {
        status, json: body, ..
    } = server
        .post(
            &format!("/runs/{run_id}/replay"),
            json!({"max_attempts": 1_u64 << 31}),
        )
        .await;
    assert_422(status, &body, json!(["body", "max_attempts"]), &["100"]);
    let Answer {
        status,
        json: answer,
        ..
    } = server
        .post(
            &format!("/runs/{run_id}/replay"),
            json!({"max_attempts": 100}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(answer["seq"], 1, "a refused replay burns no seq");
}

#[tokio::test]
async fn emit_with_a_wrongly_typed_ts_type_or_run_id_or_a_lifecycle_type_is_422_naming_the_field() {
    let server = app().await;
    let run_id = server.create(json!({})).await;
    server.wait_status(&run_id, 0, "succeeded").await;
    let before = server.events(&run_id).await.len();
    for (field, value) in [
        ("type", json!(5)),
        ("type", json!(null)),
        ("ts", json!("x")),
        ("ts", json!(-1)),
        ("ts", json!(1.5)),
        ("run_id", json!([])),
        ("run_id", json!({"a": 1})),
    ] {
        let Answer {
            status, json: body, ..
        } = server
            .post(
                &format!("/runs/{run_id}/emit"),
                json!({"event": {field: value}}),
            )
            .await;
        assert_422(status, &body, json!(["body", "event", field]), &[field]);
    }
    // A client cannot forge a run's lifecycle: the events the service and the worker write are refused.
    for kind in [
        "run.succeeded",
        "run.failed",
        "step.started",
        "run.replay_requested",
    ] {
        let Answer {
            status, json: body, ..
        } = server
            .post(
                &format!("/runs/{run_id}/emit"),
                json!({"event": {"type": kind}}),
            )
            .await;
        assert_422(
            status,
            &body,
            json!(["body", "event", "type"]),
            &[kind, "lifecycle"],
        );
    }
    assert_eq!(
        server.events(&run_id).await.len(),
        before,
        "nothing was stored"
    );
    // Well-typed fields still work, including another run's id (kept as `emitted_run_id`).
    let Answer {
        status, json: body, ..
    } = server
        .post(
            &format!("/runs/{run_id}/emit"),
            json!({"event": {"type": "note", "ts": 7, "run_id": "other"}}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(server.events(&run_id).await.len(), before + 1);
}

#[tokio::test]
async fn ill_formed_run_ids_are_422_on_every_route_and_store_nothing() {
    let server = app().await;
    let long = "a".repeat(65);
    let very_long = "b".repeat(5000);
    for id in [
        long.as_str(),
        very_long.as_str(),
        "a%20b",
        "a.b",
        "a:b",
        "%C3%A9t%C3%A9",
        "a%00b",
    ] {
        for path in [
            format!("/runs/{id}"),
            format!("/runs/{id}/events"),
            format!("/runs/{id}/timeline"),
            format!("/runs/{id}/dlq"),
        ] {
            let Answer {
                status, json: body, ..
            } = server.get(&path).await;
            assert_422(status, &body, json!(["path", "run_id"]), &["run_id"]);
        }
        for path in [format!("/runs/{id}/replay"), format!("/runs/{id}/emit")] {
            let Answer {
                status, json: body, ..
            } = server.post(&path, json!({"event": {"type": "x"}})).await;
            assert_422(status, &body, json!(["path", "run_id"]), &["run_id"]);
        }
        let Answer {
            status, json: body, ..
        } = server.get(&format!("/dlq?run_id={id}")).await;
        assert_422(status, &body, json!(["query", "run_id"]), &["run_id"]);
    }
    let Answer {
        status, json: body, ..
    } = server.get(&format!("/runs/{long}")).await;
    assert_422(status, &body, json!(["path", "run_id"]), &["64"]);
    // A well-formed id of the longest length is merely unknown.
    let Answer {
        status, json: body, ..
    } = server.get(&format!("/runs/{}", "c".repeat(64))).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    let Answer { json: topics, .. } = server.get("/v1/topics").await;
    assert!(
        !topics.to_string().contains("runs.events.a"),
        "no timeline topic was made: {topics}"
    );
}

/// The number of runs the server lists.
async fn run_count(server: &App) -> usize {
    let Answer {
        status, json: body, ..
    } = server.get("/runs").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["runs"].as_array().expect("runs").len()
}

#[tokio::test]
async fn non_object_bodies_are_422_and_start_no_run() {
    let server = app().await;
    // serde would read the array as the fields of `CreateRun` by position.
    for body in [r#"["demo",{},"tool_call",1]"#, r#""demo""#, "42", "true"] {
        let Answer {
            status,
            json: answer,
            ..
        } = server.post_raw("/runs", body).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}: {answer}");
        assert_eq!(answer["detail"][0]["type"], "model_attributes_type");
        assert_eq!(answer["detail"][0]["loc"], json!(["body"]));
    }
    assert_eq!(run_count(&server).await, 0);
    let run_id = server.create(json!({})).await;
    let Answer { status, .. } = server
        .post_raw(&format!("/runs/{run_id}/replay"), r"[null, {}]")
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    // Empty and `null` bodies still read as `{}`, as in the original.
    for body in ["", "null"] {
        let Answer {
            status,
            json: answer,
            ..
        } = server.post_raw("/runs", body).await;
        assert_eq!(status, StatusCode::OK, "{body:?}: {answer}");
    }
    assert_eq!(run_count(&server).await, 3);
}

#[tokio::test]
async fn non_json_content_types_are_415_and_start_no_run() {
    let server = app().await;
    for content_type in [
        "text/plain",
        "text/plain;charset=UTF-8",
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=x",
    ] {
        let response = server
            .send(
                request("POST", "/runs")
                    .header("content-type", content_type)
                    .body(Body::from(r#"{"workflow": "demo"}"#))
                    .unwrap(),
            )
            .await;
        assert_eq!(response.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
        let body: serde_json::Value = serde_json::from_slice(&response.body).unwrap();
        let detail = body["detail"].as_str().expect("a detail message");
        assert!(detail.contains("content-type"), "{detail}");
    }
    assert_eq!(run_count(&server).await, 0);
    // A JSON type with parameters, and no type at all, are read as JSON.
    for content_type in [Some("application/json; charset=utf-8"), None] {
        let mut request = request("POST", "/runs");
        if let Some(content_type) = content_type {
            request = request.header("content-type", content_type);
        }
        let response = server
            .send(request.body(Body::from(r#"{"workflow": "demo"}"#)).unwrap())
            .await;
        assert_eq!(response.status, StatusCode::OK, "{content_type:?}");
    }
    assert_eq!(run_count(&server).await, 2);
}

#[tokio::test]
async fn query_strings_that_are_not_utf8_are_400() {
    let server = app().await;
    for path in ["/runs?status=%FF", "/dlq?limit=1&x=%C3", "/runs?%FF=1"] {
        let Answer {
            status, json: body, ..
        } = server.get(path).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{path}: {body}");
        let detail = body["detail"].as_str().expect("a detail message");
        assert!(detail.contains("utf-8"), "{path}: {detail}");
    }
    let Answer {
        status, json: body, ..
    } = server.get("/runs?status=%FF").await;
    assert!(
        body["detail"].as_str().unwrap().contains("\"status\""),
        "{status} {body}"
    );
}

#[test]
fn a_body_over_the_limit_is_read_before_the_413() {
    use std::io::{Read, Write};

    let server = TestServer::with(|c| c.broker.max_value_bytes = 1024);
    // `max_body_bytes` is 2 × 1024 + 64 KiB; a client that writes a body of 6 times that in full before
    // reading sees the 413, not a broken pipe.
    let len = 6 * (2 * 1024 + 64 * 1024);
    let addr = server
        .url("")
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .to_owned();
    let mut tcp = std::net::TcpStream::connect(&addr).unwrap();
    tcp.set_read_timeout(Some(std::time::Duration::from_secs(10)))
        .unwrap();
    tcp.set_write_timeout(Some(std::time::Duration::from_secs(10)))
        .unwrap();
    let head = format!(
        "POST /runs HTTP/1.1\r\nhost: {addr}\r\ncontent-type: application/json\r\ncontent-length: {len}\r\nconnection: close\r\n\r\n"
    );
    tcp.write_all(head.as_bytes()).unwrap();
    let mut body = String::from(r#"{"input": {"blob": ""#);
    body.push_str(&"x".repeat(len - body.len() - 3));
    body.push_str(r#""}}"#);
    assert_eq!(body.len(), len);
    tcp.write_all(body.as_bytes())
        .expect("the whole body is accepted");
    let mut answer = String::new();
    tcp.read_to_string(&mut answer).expect("the answer is read");
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    assert!(
        answer.contains(r#"{"detail":"request body is over the size limit of"#),
        "{answer}"
    );
}
