//! dq on the original DriftQ broker: `dq up --broker` against a stand-in for driftqd (a proxy in front of a
//! real dq `/v1` that lacks `GET /v1/read` and refuses nack's `delay_ms`, shared with the server's tests), with
//! the whole story told through the CLI; and the CLI's error for a server that answers but cannot follow a
//! run, which must not say the server cannot be reached.

use std::sync::atomic::Ordering;

use axum::Json;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use dq_testkit::driftqd::Driftqd;
use serde_json::json;
use tokio::sync::oneshot;

use crate::util::{Printed, Process, TestServer, assert_exit, dq, parse};

#[test]
fn up_on_the_original_broker_tells_the_whole_story() {
    let broker = TestServer::with(|c| c.runs.workers = 0);
    let driftqd = Driftqd::start(broker.url());
    let dir = tempfile::tempdir().expect("temp dir");
    let (mut server, base) = Process::up(&[
        "--listen",
        "127.0.0.1:0",
        "--data-dir",
        dir.path().to_str().expect("utf-8 path"),
        "--broker",
        &driftqd.url(),
        "--step-delay",
        "0ms",
        "--backoff",
        "0ms",
    ]);
    let cli = || {
        let mut cmd = dq();
        cmd.args(["--url", &base]);
        cmd
    };

    let out = cli()
        .args(["run", "--fail", "tool_call", "--json"])
        .output()
        .expect("dq run");
    assert_exit(&out, 3);
    let run = parse(&out.stdout);
    let run_id = run["run_id"].as_str().expect("run_id").to_owned();
    assert_eq!(run["attempts"], 3, "{run}");

    let events = cli().args(["events", &run_id, "--json"]).ndjson();
    let kinds: Vec<&str> = events.iter().filter_map(|e| e["type"].as_str()).collect();
    assert_eq!(kinds.first(), Some(&"run.created"), "{kinds:?}");
    assert_eq!(kinds.last(), Some(&"run.failed"), "{kinds:?}");
    assert_eq!(
        kinds.iter().filter(|k| **k == "run.attempt_failed").count(),
        3
    );

    let record = cli().args(["dlq", "show", &run_id, "--json"]).json();
    assert_eq!(record["error"], "forced failure at tool_call");
    assert_eq!(record["command"]["fail_at"], "tool_call");

    // The broker drops every consume stream (the worker's and the server's readers): they join again.
    driftqd.cut_streams();
    let out = cli()
        .args(["replay", &run_id, "--fix", "--json"])
        .output()
        .expect("dq replay");
    assert_exit(&out, 0);
    let runs = cli().args(["runs", "list", "--json"]).json();
    assert_eq!(runs["items"][0]["run_id"], run_id.as_str(), "{runs}");
    assert_eq!(runs["items"][0]["status"], "succeeded", "{runs}");

    let out = cli().args(["demo", "--json"]).output().expect("dq demo");
    assert_exit(&out, 0);
    let demo = parse(&out.stdout);
    assert_eq!(demo["ok"], true, "{demo}");

    assert!(driftqd.counts.reads_refused.load(Ordering::Relaxed) >= 1);
    // Refused once; every later nack (two per dead-lettered run) went without delay_ms.
    assert_eq!(driftqd.counts.nacks_with_delay.load(Ordering::Relaxed), 1);
    assert_eq!(driftqd.counts.nacks.load(Ordering::Relaxed), 4);
    server.terminate();
}

/// A run id the stand-in below hands out.
const RUN: &str = "0123456789abcdef0123456789abcdef";

/// A runs API that accepts a run but cannot follow it: its event stream ends after `sse.connected`, and its
/// timeline answers 501, as a dq server did on a broker without reads.
fn blind_server() -> (String, oneshot::Sender<()>, std::thread::JoinHandle<()>) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.set_nonblocking(true).expect("non-blocking");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    let (stop, stopped) = oneshot::channel::<()>();
    let thread = std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        runtime.block_on(async move {
            let events = || async {
                let frame = format!("data: {}\n\n", json!({"type": "sse.connected", "run_id": RUN}));
                ([(header::CONTENT_TYPE, "text/event-stream")], frame)
            };
            let timeline = || async {
                let detail = "driftq: not supported by this broker: non-consuming read (GET /v1/read is a dq extension)";
                (StatusCode::NOT_IMPLEMENTED, Json(json!({"detail": detail}))).into_response()
            };
            let app = axum::Router::new()
                .route(
                    "/runs",
                    post(|| async {
                        Json(json!({"run_id": RUN, "events_topic": format!("runs.events.{RUN}")}))
                    }),
                )
                .route("/runs/{id}/events", get(events))
                .route("/runs/{id}/timeline", get(timeline));
            let listener = tokio::net::TcpListener::from_std(listener).expect("listener");
            axum::serve(listener, app)
                .with_graceful_shutdown(async move {
                    let _ = stopped.await;
                })
                .await
                .expect("serves");
        });
    });
    (url, stop, thread)
}

#[test]
fn a_server_that_cannot_follow_a_run_is_not_called_unreachable() {
    let (url, stop, thread) = blind_server();
    for args in [&["demo"][..], &["run"][..]] {
        let out = dq().args(["--url", &url]).args(args).output().expect("dq");
        assert_exit(&out, 5);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!stderr.contains("cannot reach"), "{stderr}");
        assert!(
            stderr.contains(&format!(
                "ended the event stream of run {RUN} before the run did"
            )),
            "{stderr}"
        );
        assert!(stderr.contains("not supported by this broker"), "{stderr}");
    }
    let _ = stop.send(());
    let _ = thread.join();
}
