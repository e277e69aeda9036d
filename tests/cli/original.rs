//! Compatibility with the original starter's FastAPI API: `run`, `events RUN`, `dlq show RUN` and `replay RUN`
//! work with its routes alone (SSE frames without ids, `sse.connected` first, the whole timeline on every
//! connection), and a command that needs one of dq's additions says so. The stand-in below serves the
//! original's shapes from scripted timelines.

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::{Arc, Mutex};

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::sse::{Event, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use futures::StreamExt;
use serde_json::{Value, json};
use tokio::sync::oneshot;

use crate::util::{Printed, assert_exit, dq, parse};

const STEPS: [&str; 4] = ["fetch_input", "transform", "tool_call", "finalize"];

#[derive(Default)]
struct Starter {
    runs: Mutex<HashMap<String, Run>>,
}

#[derive(Default, Clone)]
struct Run {
    events: Vec<Value>,
    fail_at: Option<String>,
    dlq: Option<Value>,
    seq: u64,
}

/// What the original worker emits for one start or replay.
fn attempt_events(
    run: &str,
    replay_seq: u64,
    fail_at: Option<&str>,
) -> (Vec<Value>, Option<Value>) {
    let mut events = Vec::new();
    let max_attempts = 3;
    for attempt in 1..=max_attempts {
        events.push(json!({"type": "worker.received", "run_id": run, "ts": 1, "attempt": attempt, "replay_seq": replay_seq}));
        events.push(json!({"type": "run.started", "run_id": run, "ts": 1}));
        for step in STEPS {
            events.push(json!({"type": "step.started", "run_id": run, "ts": 1, "step": step}));
            if Some(step) == fail_at {
                let error = format!("forced failure at {step}");
                events.push(json!({"type": "run.attempt_failed", "run_id": run, "ts": 1, "attempt": attempt, "replay_seq": replay_seq, "error": error}));
                break;
            }
            events.push(json!({"type": "step.completed", "run_id": run, "ts": 1, "step": step}));
        }
        if fail_at.is_none() {
            events.push(json!({"type": "run.succeeded", "run_id": run, "ts": 1}));
            return (events, None);
        }
        if attempt < max_attempts {
            events.push(json!({"type": "run.retry_scheduled", "run_id": run, "ts": 1, "attempt": attempt + 1, "replay_seq": replay_seq, "max_attempts": max_attempts}));
        }
    }
    let step = fail_at.unwrap_or_default();
    let record = json!({
        "ts": 2, "type": "runs.dlq", "run_id": run, "workflow": "demo", "attempts": 3, "max_attempts": 3,
        "replay_seq": replay_seq, "reason": "max_attempts", "error": format!("forced failure at {step}"),
        "command": {"ts": 1, "type": "run.command", "run_id": run, "workflow": "demo", "input": {}, "fail_at": step},
    });
    events.push(json!({"type": "run.dlq", "run_id": run, "ts": 2, "replay_seq": replay_seq, "reason": "max_attempts", "dlq_topic": "runs.dlq", "dlq_idem": "x"}));
    events.push(json!({"type": "run.failed", "run_id": run, "ts": 2, "replay_seq": replay_seq}));
    (events, Some(record))
}

fn not_found(detail: &str) -> Response {
    (StatusCode::NOT_FOUND, Json(json!({"detail": detail}))).into_response()
}

async fn create(State(starter): State<Arc<Starter>>, Json(body): Json<Value>) -> Json<Value> {
    let id = uuid::Uuid::new_v4().simple().to_string();
    let fail_at = body["fail_at"].as_str().map(str::to_owned);
    let mut events =
        vec![json!({"type": "run.created", "run_id": id, "ts": 1, "fail_at": fail_at})];
    let (more, dlq) = attempt_events(&id, 0, fail_at.as_deref());
    events.extend(more);
    let run = Run {
        events,
        fail_at,
        dlq,
        seq: 0,
    };
    starter.runs.lock().unwrap().insert(id.clone(), run);
    Json(json!({"run_id": id, "events_topic": format!("runs.events.{id}")}))
}

async fn replay(
    State(starter): State<Arc<Starter>>,
    Path(id): Path<String>,
    body: Option<Json<Value>>,
) -> Response {
    let mut runs = starter.runs.lock().unwrap();
    let Some(run) = runs.get_mut(&id) else {
        return not_found("run not found");
    };
    let body = body.map_or_else(|| json!({}), |Json(b)| b);
    let fail_at = match body.get("fail_at") {
        None => run.fail_at.clone(),
        Some(value) => value.as_str().map(str::to_owned),
    };
    run.seq += 1;
    run.events.push(json!({"type": "run.replay_requested", "run_id": id, "ts": 3, "seq": run.seq, "fail_at": fail_at}));
    let (more, dlq) = attempt_events(&id, run.seq, fail_at.as_deref());
    run.events.extend(more);
    if dlq.is_some() {
        run.dlq = dlq;
    }
    Json(json!({"ok": true, "run_id": id, "seq": run.seq, "fail_at": fail_at})).into_response()
}

async fn events(State(starter): State<Arc<Starter>>, Path(id): Path<String>) -> Response {
    let Some(run) = starter.runs.lock().unwrap().get(&id).cloned() else {
        return not_found("run not found");
    };
    let mut frames = vec![json!({"type": "sse.connected", "run_id": id})];
    if let Some(record) = &run.dlq {
        frames.push(json!({"type": "dlq.available", "run_id": id, "dlq": record}));
    }
    frames.extend(run.events);
    let stream = futures::stream::iter(
        frames
            .into_iter()
            .map(|f| Ok::<_, Infallible>(Event::default().data(f.to_string()))),
    )
    .chain(futures::stream::pending());
    Sse::new(stream).into_response()
}

async fn dlq(State(starter): State<Arc<Starter>>, Path(id): Path<String>) -> Response {
    match starter
        .runs
        .lock()
        .unwrap()
        .get(&id)
        .and_then(|r| r.dlq.clone())
    {
        Some(record) => Json(record).into_response(),
        None => not_found("No DLQ record for this run_id"),
    }
}

async fn peek(State(starter): State<Arc<Starter>>) -> Json<Value> {
    let items: Vec<Value> = starter
        .runs
        .lock()
        .unwrap()
        .values()
        .filter_map(|r| r.dlq.clone())
        .collect();
    Json(json!({"count": items.len(), "items": items}))
}

/// The stand-in on a free port, on its own runtime thread; stops when dropped.
struct Original {
    url: String,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Original {
    fn start() -> Self {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let (stop, stopped) = oneshot::channel::<()>();
        let thread = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async move {
                let app = axum::Router::new()
                    .route(
                        "/healthz",
                        get(|| async { Json(json!({"ok": true, "driftq": {"status": "ok"}})) }),
                    )
                    .route("/runs", post(create))
                    .route("/runs/{id}/replay", post(replay))
                    .route("/runs/{id}/events", get(events))
                    .route("/runs/{id}/dlq", get(dlq))
                    .route("/debug/dlq/peek", get(peek))
                    .fallback(|| async { not_found("Not Found") })
                    .with_state(Arc::new(Starter::default()));
                let listener = tokio::net::TcpListener::from_std(listener).unwrap();
                axum::serve(listener, app)
                    .with_graceful_shutdown(async move {
                        let _ = stopped.await;
                    })
                    .await
                    .unwrap();
            });
        });
        Self {
            url,
            stop: Some(stop),
            thread: Some(thread),
        }
    }

    fn dq(&self) -> assert_cmd::Command {
        let mut cmd = dq();
        cmd.args(["--url", &self.url]);
        cmd
    }
}

impl Drop for Original {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        // Open SSE streams never end by themselves: let the thread go with the test process.
        drop(self.thread.take());
    }
}

#[test]
fn the_story_runs_on_the_original_routes() {
    let original = Original::start();
    let out = original
        .dq()
        .args(["run", "--fail", "tool_call", "--json"])
        .output()
        .unwrap();
    assert_exit(&out, 3);
    let run = parse(&out.stdout);
    assert_eq!(run["attempts"], 3);
    assert_eq!(run["error"], "forced failure at tool_call");
    let id = run["run_id"].as_str().unwrap();

    let events = original.dq().args(["events", id, "--json"]).ndjson();
    assert_eq!(events.first().unwrap()["type"], "run.created");
    // The original sends no ids and no replay_seq on most events: dq counts and folds them.
    assert!(
        events
            .iter()
            .enumerate()
            .all(|(i, e)| e["seq"] == i && e["replay_seq"] == 0),
        "{events:?}"
    );
    assert_eq!(events.last().unwrap()["type"], "run.failed");
    assert!(
        events
            .iter()
            .all(|e| e["type"] != "sse.connected" && e["type"] != "dlq.available")
    );

    let record = original.dq().args(["dlq", "show", id, "--json"]).json();
    assert_eq!(record["reason"], "max_attempts");

    // The replay's stream starts over with the first start's events: only replay 1 counts.
    let out = original
        .dq()
        .args(["replay", id, "--fix", "--json"])
        .output()
        .unwrap();
    assert_exit(&out, 0);
    let replay = parse(&out.stdout);
    assert_eq!(replay["replay_seq"], 1);
    assert_eq!(replay["status"], "succeeded");

    let list = original.dq().args(["dlq", "list", "--json"]).json();
    assert_eq!(list["count"], 1, "falls back to /debug/dlq/peek");
}

#[test]
fn dq_additions_say_plainly_that_the_server_lacks_them() {
    let original = Original::start();
    for args in [
        vec!["runs", "list"],
        vec!["dlq", "show"],
        vec!["events"],
        vec!["replay", "--fix"],
    ] {
        original
            .dq()
            .args(&args)
            .assert()
            .code(4)
            .stdout("")
            .stderr(predicates::str::contains("one of dq's additions"));
    }
}
