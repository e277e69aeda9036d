//! Workflow files with real steps: commands (`sh` scripts in a temporary dir) and an HTTP step against a
//! loopback server in the test, each run by the real worker on the embedded broker. Each test asserts the
//! timeline (which attempt of which step ran), the attempt counts per step and the outcome; side effects are
//! counted in files, so that a step that ran again shows; a worker stopped mid-step kills the step and the next
//! worker resumes at that step.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use dq_proto::event::EventBody;
use dq_proto::runs::{CreateRun, DlqRecord, ReplayRequest, RunStatus};
use dq_runs::workflow::{Catalog, file};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::*;

/// A runtime running the workflows of `toml` (with `{dir}` replaced by `dir`).
async fn start(dir: &Path, toml: &str) -> (RunsRuntime, CancellationToken) {
    let text = toml.replace("{dir}", &dir.display().to_string());
    let workflows = file::parse(&text, "test.toml").expect("workflow file");
    let broker = Broker::open(Config::new(dir.join("data"))).expect("broker");
    let shutdown = CancellationToken::new();
    let config = RunsConfig {
        workflows: Catalog::new(workflows),
        ..fast(1)
    };
    let runtime = start_in_process(broker, config, shutdown.clone())
        .await
        .expect("runtime");
    (runtime, shutdown)
}

async fn stop(runtime: RunsRuntime, shutdown: CancellationToken) {
    shutdown.cancel();
    tokio::time::timeout(GUARD, runtime.join())
        .await
        .expect("workers stop");
}

fn run_of(workflow: &str, input: Value) -> CreateRun {
    CreateRun {
        workflow: workflow.to_owned(),
        input: input.as_object().cloned().unwrap_or_default(),
        ..CreateRun::default()
    }
}

/// The timeline of a run's replay `seq` as (type, step, attempt) triples, and its events.
async fn steps_of(service: &RunsService, run_id: &str, seq: u64) -> Vec<(String, String, u32)> {
    service
        .timeline(run_id, None)
        .await
        .expect("timeline")
        .into_iter()
        .filter(|item| item.event.replay_seq == Some(seq))
        .filter_map(|item| match item.event.body {
            EventBody::StepStarted { step, attempt } => {
                Some(("started".to_owned(), step, attempt.unwrap_or(0)))
            }
            EventBody::StepCompleted {
                step,
                attempt,
                reused_from,
                ..
            } => Some((
                if reused_from.is_some() {
                    "reused"
                } else {
                    "completed"
                }
                .to_owned(),
                step,
                attempt.unwrap_or(0),
            )),
            EventBody::AttemptFailed { attempt, step, .. } => {
                Some(("failed".to_owned(), step.unwrap_or_default(), attempt))
            }
            _ => None,
        })
        .collect()
}

fn triples(expected: &[(&str, &str, u32)]) -> Vec<(String, String, u32)> {
    expected
        .iter()
        .map(|(k, s, a)| ((*k).to_owned(), (*s).to_owned(), *a))
        .collect()
}

/// The output `step` recorded in replay `seq`.
async fn output_of(service: &RunsService, run_id: &str, seq: u64, step: &str) -> Option<Value> {
    service
        .timeline(run_id, None)
        .await
        .expect("timeline")
        .into_iter()
        .filter(|item| item.event.replay_seq == Some(seq))
        .find_map(|item| match item.event.body {
            EventBody::StepCompleted {
                step: s, output, ..
            } if s == step => output,
            _ => None,
        })
}

fn count(dir: &Path, name: &str) -> usize {
    std::fs::read_to_string(dir.join(name)).map_or(0, |s| s.lines().count())
}

async fn dlq_record(service: &RunsService, run_id: &str) -> DlqRecord {
    let mut records = service
        .dlq_list(&run_filter(run_id), 10)
        .await
        .expect("dlq");
    assert_eq!(records.len(), 1, "one DLQ record");
    records.remove(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_step_failing_twice_is_retried_by_itself_and_the_run_succeeds() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (runtime, shutdown) = start(
        dir.path(),
        r#"
[workflows.etl]
max_attempts = 3
backoff = { initial = "1ms", max = "5ms", multiplier = 2.0, jitter = 0.5 }

[[workflows.etl.steps]]
name = "prepare"
run = "sh -c 'echo ran >> {dir}/prepare; echo \"{\\\"n\\\": 7}\"'"
shell = true

[[workflows.etl.steps]]
name = "flaky"
shell = true
run = """
echo "$DQ_ATTEMPT" >> {dir}/flaky
if [ "$DQ_ATTEMPT" -lt 3 ]; then echo "not yet ($DQ_ATTEMPT)" >&2; exit 1; fi
echo "done for $DQ_RUN_ID"
"""

[[workflows.etl.steps]]
name = "report"
run = ["sh", "-c", "cat > {dir}/stdin; printf '%s' \"$DQ_STEPS\""]
"#,
    )
    .await;
    let service = runtime.service();
    let run = service
        .create_run(run_of("etl", json!({"source": "s3"})))
        .await
        .expect("create");
    wait_status(&service, &run.run_id, 0, RunStatus::Succeeded).await;
    assert_eq!(
        steps_of(&service, &run.run_id, 0).await,
        triples(&[
            ("started", "prepare", 1),
            ("completed", "prepare", 1),
            ("started", "flaky", 1),
            ("failed", "flaky", 1),
            ("started", "flaky", 2),
            ("failed", "flaky", 2),
            ("started", "flaky", 3),
            ("completed", "flaky", 3),
            ("started", "report", 1),
            ("completed", "report", 1),
        ])
    );
    // The earlier step ran once; the flaky one three times, told its attempt each time.
    assert_eq!(count(dir.path(), "prepare"), 1);
    assert_eq!(
        std::fs::read_to_string(dir.path().join("flaky")).expect("flaky"),
        "1\n2\n3\n"
    );
    // The input on stdin; the earlier outputs (JSON kept as JSON, text as a string) in DQ_STEPS.
    let stdin: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("stdin")).expect("stdin"))
            .expect("stdin is JSON");
    assert_eq!(stdin, json!({"source": "s3"}));
    let report = output_of(&service, &run.run_id, 0, "report").await;
    assert_eq!(
        report,
        Some(json!({"prepare": {"n": 7}, "flaky": format!("done for {}", run.run_id)}))
    );
    let errors: Vec<String> = service
        .timeline(&run.run_id, None)
        .await
        .expect("timeline")
        .into_iter()
        .filter_map(|item| match item.event.body {
            EventBody::AttemptFailed { error, .. } => Some(error),
            _ => None,
        })
        .collect();
    assert_eq!(
        errors,
        ["exit code 1: not yet (1)", "exit code 1: not yet (2)"]
    );
    stop(runtime, shutdown).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_step_that_times_out_is_killed_and_dead_letters_after_its_attempts() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (runtime, shutdown) = start(
        dir.path(),
        r#"
[workflows.slow]
[[workflows.slow.steps]]
name = "hang"
run = "echo $$ >> {dir}/pids; echo started >&2; exec sleep 30"
shell = true
timeout = "300ms"
max_attempts = 2
"#,
    )
    .await;
    let service = runtime.service();
    let run = service
        .create_run(run_of("slow", json!({})))
        .await
        .expect("create");
    wait_status(&service, &run.run_id, 0, RunStatus::DeadLettered).await;
    assert_eq!(
        steps_of(&service, &run.run_id, 0).await,
        triples(&[
            ("started", "hang", 1),
            ("failed", "hang", 1),
            ("started", "hang", 2),
            ("failed", "hang", 2),
        ])
    );
    let record = dlq_record(&service, &run.run_id).await;
    assert_eq!((record.attempts, record.max_attempts), (2, 2));
    assert_eq!(record.reason, "max_attempts");
    assert_eq!(record.error, "timed out after 300ms");
    // Both commands were killed, not left running.
    let pids = std::fs::read_to_string(dir.path().join("pids")).expect("pids");
    for pid in pids.lines() {
        let pid = nix::unistd::Pid::from_raw(pid.parse().expect("pid"));
        assert!(
            nix::sys::signal::kill(pid, None).is_err(),
            "process {pid} still runs"
        );
    }
    stop(runtime, shutdown).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_non_retryable_exit_code_dead_letters_at_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (runtime, shutdown) = start(
        dir.path(),
        r#"
[workflows.strict]
max_attempts = 5
non_retryable = [3]

[[workflows.strict.steps]]
name = "validate"
run = ["sh", "-c", "echo tried >> {dir}/validate; echo 'bad record 42' >&2; exit 3"]
"#,
    )
    .await;
    let service = runtime.service();
    let run = service
        .create_run(run_of("strict", json!({})))
        .await
        .expect("create");
    wait_status(&service, &run.run_id, 0, RunStatus::DeadLettered).await;
    assert_eq!(
        steps_of(&service, &run.run_id, 0).await,
        triples(&[("started", "validate", 1), ("failed", "validate", 1)])
    );
    assert_eq!(count(dir.path(), "validate"), 1);
    let record = dlq_record(&service, &run.run_id).await;
    assert_eq!(record.reason, "non_retryable");
    assert_eq!((record.attempts, record.max_attempts), (1, 5));
    assert_eq!(record.error, "exit code 3: bad record 42");
    stop(runtime, shutdown).await;
}

/// A loopback HTTP server answering 503 to its first request and 200 with a JSON body after; it keeps the
/// bodies it received.
async fn flaky_server() -> (
    u16,
    Arc<AtomicU32>,
    Arc<parking_lot::Mutex<Vec<String>>>,
    tokio::task::JoinHandle<()>,
) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let hits = Arc::new(AtomicU32::new(0));
    let bodies = Arc::new(parking_lot::Mutex::new(Vec::new()));
    let (h, b) = (Arc::clone(&hits), Arc::clone(&bodies));
    let task = tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            let mut request = Vec::new();
            let mut buf = [0u8; 4096];
            // Read the head, then the body by its Content-Length.
            while let Ok(n) = socket.read(&mut buf).await {
                if n == 0 {
                    break;
                }
                request.extend_from_slice(&buf[..n]);
                let text = String::from_utf8_lossy(&request).to_string();
                if let Some(end) = text.find("\r\n\r\n") {
                    let length = text[..end]
                        .lines()
                        .find_map(|l| {
                            l.to_ascii_lowercase()
                                .strip_prefix("content-length:")
                                .map(|v| v.trim().parse::<usize>().unwrap_or(0))
                        })
                        .unwrap_or(0);
                    if request.len() >= end + 4 + length {
                        b.lock().push(text[end + 4..].to_owned());
                        break;
                    }
                }
            }
            let answer = if h.fetch_add(1, Ordering::SeqCst) == 0 {
                "HTTP/1.1 503 Service Unavailable\r\ncontent-length: 4\r\nconnection: close\r\n\r\nbusy".to_owned()
            } else {
                let body = r#"{"stored":true}"#;
                format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                )
            };
            let _ = socket.write_all(answer.as_bytes()).await;
            let _ = socket.shutdown().await;
        }
    });
    (port, hits, bodies, task)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_http_step_answered_503_then_200_is_retried_once_and_keeps_the_body() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (port, hits, bodies, server) = flaky_server().await;
    let toml = r#"
[workflows.hook]
[[workflows.hook.steps]]
name = "notify"
http = { method = "POST", url = "http://127.0.0.1:PORT/hook", headers = { content-type = "application/json" }, body_template = '{"run": "{{run_id}}", "order": {{input.order}}}' }
timeout = "5s"
max_attempts = 3
backoff = { initial = "1ms" }
"#
    .replace("PORT", &port.to_string());
    let (runtime, shutdown) = start(dir.path(), &toml).await;
    let service = runtime.service();
    let run = service
        .create_run(run_of("hook", json!({"order": 17})))
        .await
        .expect("create");
    wait_status(&service, &run.run_id, 0, RunStatus::Succeeded).await;
    assert_eq!(
        steps_of(&service, &run.run_id, 0).await,
        triples(&[
            ("started", "notify", 1),
            ("failed", "notify", 1),
            ("started", "notify", 2),
            ("completed", "notify", 2),
        ])
    );
    assert_eq!(hits.load(Ordering::SeqCst), 2);
    let sent = bodies.lock().clone();
    assert_eq!(sent.len(), 2);
    assert_eq!(
        serde_json::from_str::<Value>(&sent[1]).expect("JSON body"),
        json!({"run": run.run_id, "order": 17})
    );
    assert_eq!(
        output_of(&service, &run.run_id, 0, "notify").await,
        Some(json!({"stored": true}))
    );
    stop(runtime, shutdown).await;
    server.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replay_from_a_middle_step_does_not_run_the_steps_before_it_again() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (runtime, shutdown) = start(
        dir.path(),
        r#"
[workflows.chain]
max_attempts = 1

[[workflows.chain.steps]]
name = "llm"
run = "echo called >> {dir}/llm; echo '\"expensive answer\"'"
shell = true

[[workflows.chain.steps]]
name = "shape"
run = "echo called >> {dir}/shape; echo shaped"
shell = true

[[workflows.chain.steps]]
name = "store"
run = "echo called >> {dir}/store; printf '%s' \"$DQ_STEPS\""
shell = true
"#,
    )
    .await;
    let service = runtime.service();
    let mut request = run_of("chain", json!({}));
    request.fail_at = Some("store".to_owned());
    let run = service.create_run(request).await.expect("create");
    let id = &run.run_id;
    wait_status(&service, id, 0, RunStatus::DeadLettered).await;
    let calls = |dir: &Path| (count(dir, "llm"), count(dir, "shape"), count(dir, "store"));
    assert_eq!(calls(dir.path()), (1, 1, 0));

    // Without --from, the replay starts at the step that failed.
    let fix = ReplayRequest {
        fail_at: Some(None),
        ..ReplayRequest::default()
    };
    service.replay(id, fix.clone()).await.expect("replay");
    wait_status(&service, id, 1, RunStatus::Succeeded).await;
    assert_eq!(calls(dir.path()), (1, 1, 1));
    assert_eq!(
        steps_of(&service, id, 1).await,
        triples(&[
            ("reused", "llm", 0),
            ("reused", "shape", 0),
            ("started", "store", 1),
            ("completed", "store", 1),
        ])
    );
    assert_eq!(
        output_of(&service, id, 1, "store").await,
        Some(json!({"llm": "expensive answer", "shape": "shaped"}))
    );

    // --from shape: the LLM call is not paid again.
    let from = ReplayRequest {
        from: Some("shape".to_owned()),
        ..fix
    };
    service.replay(id, from).await.expect("replay --from");
    wait_status(&service, id, 2, RunStatus::Succeeded).await;
    assert_eq!(calls(dir.path()), (1, 2, 2));
    assert_eq!(
        steps_of(&service, id, 2).await,
        triples(&[
            ("reused", "llm", 0),
            ("started", "shape", 1),
            ("completed", "shape", 1),
            ("started", "store", 1),
            ("completed", "store", 1),
        ])
    );
    // A step the workflow does not have is refused.
    let bad = ReplayRequest {
        from: Some("nope".to_owned()),
        ..ReplayRequest::default()
    };
    let refused = service.replay(id, bad).await.expect_err("unknown step");
    assert!(
        refused
            .to_string()
            .contains("valid steps: llm, shape, store"),
        "{refused}"
    );
    stop(runtime, shutdown).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_stopped_mid_step_kills_it_and_the_next_one_resumes_at_that_step() {
    let dir = tempfile::tempdir().expect("tempdir");
    let toml = r#"
[workflows.resume]
[[workflows.resume.steps]]
name = "extract"
run = "echo x >> {dir}/extract; echo '[1, 2]'"
shell = true

[[workflows.resume.steps]]
name = "load"
shell = true
timeout = "60s"
run = """
echo $$ >> {dir}/load
if [ -f {dir}/resumed ]; then printf '%s' "$DQ_STEPS"; exit 0; fi
touch {dir}/resumed
exec sleep 60
"""
"#
    .replace("{dir}", &dir.path().display().to_string());
    let workflows = file::parse(&toml, "test.toml").expect("workflow file");
    let broker = Broker::open(Config::new(dir.path().join("data"))).expect("broker");
    let config = RunsConfig {
        workflows: Catalog::new(workflows),
        ..fast(1)
    };
    let first = CancellationToken::new();
    let runtime = start_in_process(broker.clone(), config.clone(), first.clone())
        .await
        .expect("runtime");
    let service = runtime.service();
    let run = service
        .create_run(run_of("resume", json!({})))
        .await
        .expect("create");
    // Stop the worker while `load` sleeps.
    eventually("the load step to start", GUARD, || async {
        dir.path().join("resumed").exists().then_some(()).ok_or(())
    })
    .await;
    first.cancel();
    tokio::time::timeout(GUARD, runtime.join())
        .await
        .expect("the worker stops without waiting for the step");
    let sleeper = std::fs::read_to_string(dir.path().join("load")).expect("pid");
    let sleeper = nix::unistd::Pid::from_raw(sleeper.trim().parse().expect("pid"));
    assert!(
        nix::sys::signal::kill(sleeper, None).is_err(),
        "the step's process was killed with the worker"
    );

    let second = CancellationToken::new();
    let runtime = start_in_process(broker.clone(), config, second.clone())
        .await
        .expect("runtime");
    let service = runtime.service();
    wait_status(&service, &run.run_id, 0, RunStatus::Succeeded).await;
    // `extract` ran once; `load` ran again with its output.
    assert_eq!(count(dir.path(), "extract"), 1);
    assert_eq!(count(dir.path(), "load"), 2);
    assert_eq!(
        output_of(&service, &run.run_id, 0, "load").await,
        Some(json!({"extract": [1, 2]}))
    );
    assert_eq!(
        steps_of(&service, &run.run_id, 0).await,
        triples(&[
            ("started", "extract", 1),
            ("completed", "extract", 1),
            ("started", "load", 1),
            ("started", "load", 1),
            ("completed", "load", 1),
        ])
    );
    stop(runtime, second).await;
    broker.shutdown();
}
