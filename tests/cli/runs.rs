//! Driving runs against a real server: run, events, dlq, replay, runs, emit, health — JSON parsed and checked,
//! each exit code from its real cause, nothing but the result on stdout, no colour unless asked.

use predicates::prelude::*;
use serde_json::Value;

use crate::util::{Printed, TestServer, assert_exit, has_escapes, parse, parse_lines};

#[test]
fn a_clean_run_succeeds_and_exits_0() {
    let server = TestServer::start();
    let out = server.dq().args(["run", "--json"]).output().unwrap();
    assert_exit(&out, 0);
    let doc = parse(&out.stdout);
    assert_eq!(doc["status"], "succeeded");
    assert_eq!(doc["replay_seq"], 0);
    assert_eq!(doc["attempts"], 1);
    assert_eq!(doc["error"], Value::Null);
    assert_eq!(doc["run_id"].as_str().unwrap().len(), 32);
}

#[test]
fn a_forced_failure_is_dead_lettered_and_exits_3() {
    let server = TestServer::start();
    let out = server
        .dq()
        .args(["run", "--fail", "tool_call", "--json"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3));
    let doc = parse(&out.stdout);
    assert_eq!(doc["status"], "dead_lettered");
    assert_eq!(doc["attempts"], 3);
    assert_eq!(doc["error"], "forced failure at tool_call");
}

#[test]
fn the_human_timeline_is_plain_text_on_stdout_when_not_a_terminal() {
    let server = TestServer::start();
    let out = server
        .dq()
        .args(["run", "--fail", "transform"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3));
    assert!(!has_escapes(&out.stdout) && !has_escapes(&out.stderr));
    let stdout = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<&str> = stdout.lines().collect();
    assert!(lines[0].contains("run.created"), "{stdout}");
    assert!(stdout.contains("run.attempt_failed"));
    assert!(stdout.contains("forced failure at transform"));
    assert!(
        lines
            .last()
            .unwrap()
            .contains("dead-lettered after 3/3 attempts"),
        "{stdout}"
    );
    // Notes and hints go to stderr, never to stdout.
    assert!(!stdout.contains("dq dlq show"));
    assert!(String::from_utf8_lossy(&out.stderr).contains("dq replay"));
}

#[test]
fn colour_only_when_asked_and_never_with_no_color_or_color_never() {
    let server = TestServer::start();
    let forced = server
        .dq()
        .env_remove("NO_COLOR")
        .args(["--color", "always", "run", "--fail", "transform"])
        .output()
        .unwrap();
    assert!(has_escapes(&forced.stdout));
    let never = server
        .dq()
        .env_remove("NO_COLOR")
        .args(["--color", "never", "run", "--fail", "transform"])
        .output()
        .unwrap();
    assert!(!has_escapes(&never.stdout) && !has_escapes(&never.stderr));
    // no-color.org: an explicit --color always beats NO_COLOR; NO_COLOR turns off the automatic colour.
    let no_color = server
        .dq()
        .env("NO_COLOR", "1")
        .args(["--color", "always", "run"])
        .output()
        .unwrap();
    assert!(has_escapes(&no_color.stdout));
    let no_color = server
        .dq()
        .env("NO_COLOR", "1")
        .args(["run"])
        .output()
        .unwrap();
    assert!(!has_escapes(&no_color.stdout) && !has_escapes(&no_color.stderr));
    let json = server
        .dq()
        .env_remove("NO_COLOR")
        .args(["--color", "always", "--json", "run"])
        .output()
        .unwrap();
    assert!(!has_escapes(&json.stdout));
}

#[test]
fn run_detach_prints_only_the_run_id() {
    let server = TestServer::start();
    let out = server.dq().args(["run", "--detach"]).output().unwrap();
    assert!(out.status.success());
    let stdout = String::from_utf8(out.stdout).unwrap();
    let id = stdout.trim_end();
    assert_eq!(stdout, format!("{id}\n"));
    assert!(id.len() == 32 && id.chars().all(|c| c.is_ascii_hexdigit()));
}

#[test]
fn run_input_and_max_attempts_reach_the_server() {
    let server = TestServer::start();
    let doc = server.run(&[
        "--fail",
        "tool_call",
        "--max-attempts",
        "1",
        "--input",
        r#"{"user":"ada"}"#,
    ]);
    assert_eq!(doc["status"], "dead_lettered");
    assert_eq!(doc["attempts"], 1);
    let run = doc["run_id"].as_str().unwrap();
    let record = server.dq().args(["dlq", "show", run, "--json"]).json();
    assert_eq!(record["max_attempts"], 1);
    assert_eq!(record["command"]["input"]["user"], "ada");
    server
        .dq()
        .args(["run", "--input", "[1, 2]"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("must be a JSON object"));
}

#[test]
fn a_step_the_workflow_lacks_is_a_usage_error() {
    let server = TestServer::start();
    server
        .dq()
        .args(["run", "--fail", "teleport"])
        .assert()
        .code(2)
        .stdout("")
        .stderr(predicate::str::contains("tool_call"));
}

#[test]
fn events_prints_the_stored_timeline_as_ndjson() {
    let server = TestServer::start();
    let run = server.run(&["--fail", "tool_call"]);
    let run = run["run_id"].as_str().unwrap();
    let out = server
        .dq()
        .args(["events", run, "--json"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let events = parse_lines(&out.stdout);
    let kinds: Vec<&str> = events.iter().map(|e| e["type"].as_str().unwrap()).collect();
    assert_eq!(kinds.first(), Some(&"run.created"));
    assert_eq!(kinds.last(), Some(&"run.failed"));
    assert_eq!(
        kinds.iter().filter(|k| **k == "run.attempt_failed").count(),
        3
    );
    assert!(
        events
            .iter()
            .all(|e| e["run_id"] == run && e["ts"].is_u64())
    );

    let only = server
        .dq()
        .args([
            "tail",
            run,
            "--json",
            "--type",
            "run.attempt_failed",
            "--type",
            "run.dlq",
        ])
        .ndjson();
    assert_eq!(only.len(), 4);
    let grep = server
        .dq()
        .args(["events", run, "--grep", "max_attempts"])
        .output()
        .unwrap();
    let text = String::from_utf8(grep.stdout).unwrap();
    assert!(
        text.lines().count() >= 1 && text.lines().all(|l| l.contains("run.")),
        "{text}"
    );
}

#[test]
fn events_since_skips_what_was_seen() {
    let server = TestServer::start();
    let run = server.run(&[]);
    let run = run["run_id"].as_str().unwrap();
    let all = server.dq().args(["events", run, "--json"]).ndjson();
    let later = server
        .dq()
        .args(["events", run, "--json", "--since", "2"])
        .ndjson();
    assert_eq!(later.as_slice(), &all[3..]);
}

#[test]
fn events_without_a_run_shows_the_most_recent_one() {
    let server = TestServer::start();
    server.run(&[]);
    let last = server.run(&["--fail", "finalize"]);
    let events = server.dq().args(["events", "--json"]).ndjson();
    assert!(events.iter().all(|e| e["run_id"] == last["run_id"]));
}

#[test]
fn an_unknown_run_exits_4() {
    let server = TestServer::start();
    let unknown = "0123456789abcdef0123456789abcdef";
    for args in [
        vec!["events", unknown],
        vec!["dlq", "show", unknown],
        vec!["replay", unknown, "--fix"],
        vec!["runs", "show", unknown],
    ] {
        server.dq().args(&args).assert().code(4).stdout("");
    }
}

#[test]
fn dlq_show_prints_the_record_exactly_and_a_readable_summary() {
    let server = TestServer::start();
    let run = server.run(&["--fail", "tool_call"]);
    let run = run["run_id"].as_str().unwrap();
    let record = server.dq().args(["dlq", "show", run, "--json"]).json();
    assert_eq!(record["type"], "runs.dlq");
    assert_eq!(record["run_id"], run);
    assert_eq!(record["attempts"], 3);
    assert_eq!(record["max_attempts"], 3);
    assert_eq!(record["reason"], "max_attempts");
    assert_eq!(record["error"], "forced failure at tool_call");
    assert_eq!(record["command"]["fail_at"], "tool_call");

    let latest = server.dq().args(["dlq", "show", "--json"]).json();
    assert_eq!(latest, record);

    let human = server.dq().args(["dlq", "show", run]).output().unwrap();
    let text = String::from_utf8(human.stdout).unwrap();
    assert!(
        text.contains("attempts 3/3") && text.contains("payload"),
        "{text}"
    );
}

#[test]
fn a_run_without_a_dlq_record_exits_4() {
    let server = TestServer::start();
    let run = server.run(&[]);
    server
        .dq()
        .args(["dlq", "show", run["run_id"].as_str().unwrap()])
        .assert()
        .code(4);
}

#[test]
fn dlq_list_shows_every_record_newest_first() {
    let server = TestServer::start();
    let first = server.run(&["--fail", "transform"]);
    let second = server.run(&["--fail", "tool_call"]);
    let list = server.dq().args(["dlq", "list", "--json"]).json();
    assert_eq!(list["count"], 2);
    assert_eq!(list["items"][0]["run_id"], second["run_id"]);
    assert_eq!(list["items"][1]["run_id"], first["run_id"]);
    let table = server.dq().args(["dlq", "list"]).output().unwrap();
    let text = String::from_utf8(table.stdout).unwrap();
    assert!(
        text.contains("RUN") && text.contains("forced failure at transform"),
        "{text}"
    );
}

#[test]
fn replay_with_the_fix_succeeds_and_exits_0() {
    let server = TestServer::start();
    let run = server.run(&["--fail", "tool_call"]);
    let run = run["run_id"].as_str().unwrap();
    let out = server
        .dq()
        .args(["replay", run, "--fix", "--json"])
        .output()
        .unwrap();
    assert_exit(&out, 0);
    let doc = parse(&out.stdout);
    assert_eq!(doc["status"], "succeeded");
    assert_eq!(doc["replay_seq"], 1);
    assert_eq!(doc["run_id"], run);
}

#[test]
fn events_json_lines_all_have_their_seq_and_replay_seq() {
    let server = TestServer::start();
    let run = server.run(&["--fail", "tool_call"]);
    let run = run["run_id"].as_str().unwrap();
    server
        .dq()
        .args(["emit", run, r#"{"type":"note"}"#])
        .assert()
        .success();
    server
        .dq()
        .args(["replay", run, "--fix"])
        .assert()
        .success();
    let events = server.dq().args(["events", run, "--json"]).ndjson();
    // `seq` is the position in the timeline, the cursor `--since` takes; `replay_seq` the start or replay.
    let seqs: Vec<u64> = events.iter().map(|e| e["seq"].as_u64().unwrap()).collect();
    assert_eq!(seqs, (0..events.len() as u64).collect::<Vec<_>>());
    let replay = events
        .iter()
        .position(|e| e["type"] == "run.replay_requested")
        .unwrap();
    for (i, event) in events.iter().enumerate() {
        let expected = u64::from(i >= replay);
        assert_eq!(event["replay_seq"], expected, "{event}");
    }
    assert_eq!(events.last().unwrap()["type"], "run.succeeded");
    let note = events.iter().find(|e| e["type"] == "note").unwrap();
    assert_eq!(note["source"], "user");
    // The human timeline leads each line with the same seq.
    let human = server.dq().args(["events", run]).output().unwrap();
    let text = String::from_utf8(human.stdout).unwrap();
    let first: Vec<&str> = text
        .lines()
        .map(|l| l.split_whitespace().next().unwrap())
        .collect();
    let expected: Vec<String> = seqs.iter().map(u64::to_string).collect();
    assert_eq!(first, expected, "{text}");
}

#[test]
fn replay_inherits_or_overrides_the_failure() {
    let server = TestServer::start();
    let run = server.run(&["--fail", "tool_call"]);
    let run = run["run_id"].as_str().unwrap();
    let inherited = server
        .dq()
        .args(["replay", run, "--json"])
        .output()
        .unwrap();
    assert_eq!(inherited.status.code(), Some(3));
    assert_eq!(
        parse(&inherited.stdout)["error"],
        "forced failure at tool_call"
    );
    let other = server
        .dq()
        .args(["replay", run, "--fail", "transform", "--json"])
        .output()
        .unwrap();
    assert_eq!(other.status.code(), Some(3));
    let doc = parse(&other.stdout);
    assert_eq!(doc["replay_seq"], 2);
    assert_eq!(doc["error"], "forced failure at transform");
}

#[test]
fn replay_without_a_run_takes_the_latest_dead_lettered_one_without_asking() {
    let server = TestServer::start();
    server.run(&["--fail", "transform"]);
    let latest = server.run(&["--fail", "tool_call"]);
    server.run(&[]);
    // stdin is not a terminal here: no prompt, the latest candidate.
    let out = server
        .dq()
        .args(["replay", "--fix", "--json"])
        .output()
        .unwrap();
    assert_exit(&out, 0);
    assert_eq!(parse(&out.stdout)["run_id"], latest["run_id"]);
    assert!(!String::from_utf8_lossy(&out.stderr).contains("which"));
}

#[test]
fn replay_set_overrides_the_input() {
    let server = TestServer::start();
    let run = server.run(&["--fail", "tool_call", "--input", r#"{"user":"ada","n":1}"#]);
    let run = run["run_id"].as_str().unwrap();
    server
        .dq()
        .args(["replay", run, "--fix", "--set", "n=2", "--set", "mode=safe"])
        .assert()
        .code(0);
    let detail = server.dq().args(["runs", "show", run, "--json"]).json();
    assert_eq!(detail["input"]["user"], "ada");
    assert_eq!(detail["input"]["n"], 2);
    assert_eq!(detail["input"]["mode"], "safe");
}

#[test]
fn replay_detach_returns_at_once() {
    let server = TestServer::start();
    let run = server.run(&["--fail", "tool_call"]);
    let run = run["run_id"].as_str().unwrap();
    let out = server
        .dq()
        .args(["replay", run, "--fix", "--detach", "--json"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let doc = parse(&out.stdout);
    assert_eq!(doc["replay_seq"], 1, "one name for the replay's number");
    assert!(doc.get("seq").is_none(), "{doc}");
    assert_eq!(doc["fail_at"], Value::Null);
}

#[test]
fn runs_list_and_show_report_the_registry() {
    let server = TestServer::start();
    let ok = server.run(&[]);
    let dead = server.run(&["--fail", "transform"]);
    let list = server.dq().args(["runs", "list", "--json"]).json();
    assert_eq!(list["count"], 2);
    assert_eq!(list["items"][0]["run_id"], dead["run_id"]);
    assert_eq!(list["items"][0]["status"], "dead_lettered");
    assert_eq!(list["items"][1]["status"], "succeeded");
    let filtered = server
        .dq()
        .args(["runs", "list", "--status", "succeeded", "--json"])
        .json();
    assert_eq!(filtered["count"], 1);
    assert_eq!(filtered["items"][0]["run_id"], ok["run_id"]);

    let dead_id = dead["run_id"].as_str().unwrap();
    server
        .dq()
        .args(["replay", dead_id, "--fix"])
        .assert()
        .code(0);
    let detail = server.dq().args(["runs", "show", dead_id, "--json"]).json();
    assert_eq!(detail["status"], "succeeded");
    assert_eq!(detail["replay_seq"], 1);
    assert_eq!(detail["replays"][0]["seq"], 1);
    assert_eq!(detail["replays"][0]["fail_at"], Value::Null);
    let human = server
        .dq()
        .args(["runs", "show", dead_id])
        .output()
        .unwrap();
    assert!(
        String::from_utf8(human.stdout)
            .unwrap()
            .contains("fix applied")
    );
}

#[test]
fn emit_adds_an_event_to_the_timeline() {
    let server = TestServer::start();
    let run = server.run(&[]);
    let run = run["run_id"].as_str().unwrap();
    let out = server
        .dq()
        .args(["emit", run, r#"{"type":"note","text":"hello"}"#, "--json"])
        .output()
        .unwrap();
    assert!(out.status.success());
    assert_eq!(parse(&out.stdout)["ok"], true);
    let notes = server
        .dq()
        .args(["events", run, "--type", "note", "--json"])
        .ndjson();
    assert_eq!(notes.len(), 1);
    assert_eq!(notes[0]["text"], "hello");
}

#[test]
fn health_answers_with_the_broker_state() {
    let server = TestServer::start();
    let out = server.dq().args(["health", "--json"]).output().unwrap();
    assert!(out.status.success());
    let doc = parse(&out.stdout);
    assert_eq!(doc["ok"], true);
    assert!(doc["driftq"].is_object());
}

#[test]
fn a_run_that_never_ends_times_out_with_124() {
    // No worker: runs stay queued.
    let server = TestServer::with(|config| config.runs.workers = 0);
    server
        .dq()
        .args(["--timeout", "300ms", "run"])
        .assert()
        .code(124)
        .stderr(predicate::str::contains("timed out after 300ms"));
    let queued = server.dq().args(["run", "--detach"]).output().unwrap();
    let queued = String::from_utf8(queued.stdout).unwrap();
    server
        .dq()
        .env("DQ_TIMEOUT", "200ms")
        .args(["events", queued.trim(), "--follow", "--json"])
        .assert()
        .code(124);
}

#[test]
fn a_token_is_sent_when_set() {
    let server = TestServer::with(|config| config.token = Some("s3cret".into()));
    server.dq().args(["runs", "list"]).assert().code(4);
    server
        .dq()
        .env("DQ_TOKEN", "s3cret")
        .args(["runs", "list", "--json"])
        .assert()
        .code(0);
}

#[test]
fn replay_of_a_run_still_in_flight_is_refused_with_exit_4_and_force_supersedes_it() {
    let server = TestServer::with(|config| {
        config.runs.step_delay = std::time::Duration::from_millis(300);
    });
    let detached = server
        .dq()
        .args(["run", "--detach", "--fail", "tool_call", "--json"])
        .json();
    let run = detached["run_id"].as_str().unwrap();
    let out = server.dq().args(["replay", run, "--fix"]).output().unwrap();
    assert_exit(&out, 4);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(stderr.trim().lines().count(), 1, "one line: {stderr}");
    assert!(stderr.contains(&format!("run {run} is still ")), "{stderr}");
    assert!(
        stderr.contains(&format!(
            "; wait for it (dq runs wait {run}) or pass --force"
        )),
        "{stderr}"
    );
    assert!(out.stdout.is_empty());

    let out = server
        .dq()
        .args(["replay", run, "--fix", "--force", "--json"])
        .output()
        .unwrap();
    assert_exit(&out, 0);
    let doc = parse(&out.stdout);
    assert_eq!(
        (&doc["status"], &doc["replay_seq"]),
        (&"succeeded".into(), &1.into())
    );
    let shown = server.dq().args(["runs", "show", run, "--json"]).json();
    assert_eq!(shown["status"], "succeeded");
    let events = server.dq().args(["events", run, "--json"]).ndjson();
    assert!(
        events
            .iter()
            .any(|e| e["type"] == "run.superseded" && e["by"] == 1)
    );
}

#[test]
fn replay_without_a_run_takes_the_run_dead_lettered_last_of_those_dead_lettered_now() {
    let server = TestServer::start();
    let first = server.run(&["--fail", "transform"]);
    let second = server.run(&["--fail", "transform"]);
    let newest = server.run(&["--fail", "tool_call"]);
    let id = |run: &Value| run["run_id"].as_str().unwrap().to_owned();
    // `second` is no longer dead-lettered; `first` is dead-lettered again, after `newest`.
    let out = server
        .dq()
        .args(["replay", &id(&second), "--fix"])
        .output()
        .unwrap();
    assert_exit(&out, 0);
    let out = server
        .dq()
        .args(["replay", &id(&first), "--fail", "finalize"])
        .output()
        .unwrap();
    assert_exit(&out, 3);
    let out = server
        .dq()
        .args(["replay", "--fix", "--json"])
        .output()
        .unwrap();
    assert_exit(&out, 0);
    assert_eq!(parse(&out.stdout)["run_id"], id(&first).as_str());
    assert_ne!(id(&newest), id(&first));
    let out = server
        .dq()
        .args(["replay", "--fix", "--json"])
        .output()
        .unwrap();
    assert_exit(&out, 0);
    assert_eq!(parse(&out.stdout)["run_id"], id(&newest).as_str());
    let out = server.dq().args(["replay", "--fix"]).output().unwrap();
    assert_exit(&out, 4);
    assert!(String::from_utf8_lossy(&out.stderr).contains("no dead-lettered run to replay"));
}

/// A server whose steps take a little while, so that a detached run is still going when a command starts.
fn slow_server() -> TestServer {
    TestServer::with(|config| config.runs.step_delay = std::time::Duration::from_millis(40))
}

fn detached(server: &TestServer, args: &[&str]) -> String {
    let out = server
        .dq()
        .args(["run", "--detach"])
        .args(args)
        .output()
        .unwrap();
    assert_exit(&out, 0);
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

#[test]
fn runs_wait_exits_0_or_3_with_the_run_document() {
    let server = slow_server();
    let failing = detached(&server, &["--fail", "tool_call"]);
    let ok = detached(&server, &[]);
    let out = server
        .dq()
        .args(["runs", "wait", &failing, "--json"])
        .output()
        .unwrap();
    assert_exit(&out, 3);
    let waited = parse(&out.stdout);
    assert_eq!(waited["status"], "dead_lettered");
    let shown = server
        .dq()
        .args(["runs", "show", &failing, "--json"])
        .json();
    assert_eq!(waited, shown, "the same document as runs show --json");
    server
        .dq()
        .args(["runs", "wait", &ok, "--json"])
        .assert()
        .code(0);

    // Replays: the latest by default, or the one named; an ended one returns at once.
    server
        .dq()
        .args(["replay", &failing, "--fix", "--detach"])
        .assert()
        .code(0);
    let out = server
        .dq()
        .args(["runs", "wait", &failing, "--json"])
        .output()
        .unwrap();
    assert_exit(&out, 0);
    assert_eq!(parse(&out.stdout)["replay_seq"], 1);
    server
        .dq()
        .args(["runs", "wait", &failing, "--replay", "0"])
        .assert()
        .code(3);
    server
        .dq()
        .args(["runs", "wait", &failing, "--replay", "1"])
        .assert()
        .code(0)
        .stdout(predicate::str::contains("succeeded"));
    server
        .dq()
        .args(["runs", "wait", &failing, "--replay", "7"])
        .assert()
        .code(4)
        .stderr(predicate::str::contains("no replay 7"));
}

#[test]
fn runs_wait_times_out_with_124() {
    // No worker: runs stay queued.
    let server = TestServer::with(|config| config.runs.workers = 0);
    let queued = detached(&server, &[]);
    server
        .dq()
        .args(["--timeout", "300ms", "runs", "wait", &queued])
        .assert()
        .code(124)
        .stderr(predicate::str::contains("waiting for the run to end"));
}

#[test]
fn events_until_end_stops_when_the_run_ends() {
    let server = slow_server();
    let failing = detached(&server, &["--fail", "transform"]);
    let out = server
        .dq()
        .args(["events", &failing, "--follow", "--until-end", "--json"])
        .output()
        .unwrap();
    assert_exit(&out, 3);
    let events = parse_lines(&out.stdout);
    assert_eq!(events.last().unwrap()["type"], "run.failed");
    assert_eq!(events[0]["type"], "run.created");

    // A replay in flight: it stops at the replay's end, and --since only trims what is printed.
    server
        .dq()
        .args(["replay", &failing, "--fix", "--detach"])
        .assert()
        .code(0);
    let out = server
        .dq()
        .args([
            "events",
            &failing,
            "--follow",
            "--until-end",
            "--since",
            "3",
            "--json",
        ])
        .output()
        .unwrap();
    assert_exit(&out, 0);
    let events = parse_lines(&out.stdout);
    assert_eq!(events.last().unwrap()["type"], "run.succeeded");
    assert_ne!(events[0]["type"], "run.created", "--since 3 skips it");
    assert!(
        events.iter().any(|e| e["type"] == "run.replay_requested"),
        "{events:?}"
    );
    server
        .dq()
        .args(["events", &failing, "--until-end"])
        .assert()
        .code(2);
}

#[test]
fn dlq_redrive_dry_run_lists_and_replays_nothing() {
    let server = TestServer::start();
    let transform = server.run(&["--fail", "transform"]);
    let tool = server.run(&["--fail", "tool_call"]);
    server.run(&[]);
    let out = server
        .dq()
        .args(["dlq", "redrive", "--dry-run", "--fix", "--json"])
        .output()
        .unwrap();
    assert_exit(&out, 0);
    let doc = parse(&out.stdout);
    assert_eq!(doc["dry_run"], true);
    assert_eq!(doc["count"], 2);
    assert_eq!(doc["accepted"], 0);
    assert_eq!(doc["items"][0]["run_id"], tool["run_id"]);
    assert_eq!(doc["items"][1]["run_id"], transform["run_id"]);
    let human = server
        .dq()
        .args(["dlq", "redrive", "--dry-run", "--error", "transform"])
        .output()
        .unwrap();
    assert_exit(&human, 0);
    let table = String::from_utf8(human.stdout).unwrap();
    assert!(
        table.contains(transform["run_id"].as_str().unwrap()),
        "{table}"
    );
    assert!(!table.contains(tool["run_id"].as_str().unwrap()), "{table}");
    let dead = server
        .dq()
        .args(["runs", "list", "--status", "dead_lettered", "--json"])
        .json();
    assert_eq!(dead["count"], 2, "nothing was replayed");
    assert!(
        dead["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r["replay_seq"] == 0)
    );
}

#[test]
fn dlq_redrive_fix_replays_the_matching_runs_and_exits_0() {
    let server = TestServer::start();
    let transform = server.run(&["--fail", "transform"]);
    let tool_a = server.run(&["--fail", "tool_call"]);
    let tool_b = server.run(&["--fail", "tool_call"]);
    let out = server
        .dq()
        .args([
            "dlq",
            "redrive",
            "--error",
            "AT TOOL_CALL",
            "--workflow",
            "demo",
            "--since",
            "1h",
            "--fix",
            "--rate",
            "50/s",
            "--json",
        ])
        .output()
        .unwrap();
    assert_exit(&out, 0);
    let doc = parse(&out.stdout);
    assert_eq!(doc["count"], 2);
    assert_eq!(doc["accepted"], 2);
    for (item, run) in doc["items"]
        .as_array()
        .unwrap()
        .iter()
        .zip([&tool_b, &tool_a])
    {
        assert_eq!(item["run_id"], run["run_id"]);
        assert_eq!(item["replay_seq"], 1);
        assert_eq!(item["error"], Value::Null);
        server
            .dq()
            .args(["runs", "wait", run["run_id"].as_str().unwrap()])
            .assert()
            .code(0);
    }
    let untouched = server
        .dq()
        .args([
            "runs",
            "show",
            transform["run_id"].as_str().unwrap(),
            "--json",
        ])
        .json();
    assert_eq!(untouched["status"], "dead_lettered");
    assert_eq!(untouched["replay_seq"], 0);

    // Those runs are no longer dead-lettered: the same redrive finds nothing, and says so.
    let again = server
        .dq()
        .args(["dlq", "redrive", "--error", "at tool_call", "--fix"])
        .output()
        .unwrap();
    assert_exit(&again, 0);
    assert!(
        String::from_utf8(again.stdout)
            .unwrap()
            .contains("no dead-lettered run matches")
    );
    let none = server
        .dq()
        .args(["dlq", "redrive", "--workflow", "other", "--fix", "--json"])
        .json();
    assert_eq!(none["count"], 0);
}

#[test]
fn dlq_redrive_exits_4_when_a_replay_is_refused() {
    let server = TestServer::with(|config| config.runs.max_input_bytes = 64);
    let run = server.run(&["--fail", "transform"]);
    // An override past the server's input limit: refused by the server, not the client.
    let big = format!("big={}", "x".repeat(100));
    let out = server
        .dq()
        .args(["dlq", "redrive", "--set", &big, "--json"])
        .output()
        .unwrap();
    assert_exit(&out, 4);
    let doc = parse(&out.stdout);
    assert_eq!(doc["count"], 1);
    assert_eq!(doc["accepted"], 0);
    assert_eq!(doc["items"][0]["run_id"], run["run_id"]);
    assert!(
        doc["items"][0]["error"]
            .as_str()
            .unwrap()
            .contains("over the limit")
    );
    server
        .dq()
        .args(["dlq", "redrive", "--rate", "0/s"])
        .assert()
        .code(2);
}

#[test]
fn replay_overrides_start_from_the_original_input_unless_kept() {
    let server = TestServer::start();
    let run = server.run(&["--fail", "tool_call", "--input", r#"{"user":"ada"}"#]);
    let run = run["run_id"].as_str().unwrap();
    server
        .dq()
        .args(["replay", run, "--set", "n=2"])
        .assert()
        .code(3);
    let detail = server.dq().args(["runs", "show", run, "--json"]).json();
    assert_eq!(detail["input"], serde_json::json!({"user": "ada", "n": 2}));
    server
        .dq()
        .args(["replay", run, "--set", "m=3", "--keep-overrides", "--fix"])
        .assert()
        .code(0);
    let detail = server.dq().args(["runs", "show", run, "--json"]).json();
    assert_eq!(
        detail["input"],
        serde_json::json!({"user": "ada", "n": 2, "m": 3}),
        "no \"replay\": true in the input"
    );
    server
        .dq()
        .args(["replay", run, "--fix", "--set", "k=1"])
        .assert()
        .code(0);
    let detail = server.dq().args(["runs", "show", run, "--json"]).json();
    assert_eq!(detail["input"], serde_json::json!({"user": "ada", "k": 1}));
    let replays = detail["replays"].as_array().unwrap();
    assert_eq!(replays[0]["overrides"], serde_json::json!({"n": 2}));
    assert_eq!(replays[0]["fail_at"], "tool_call");
    assert_eq!(replays[0]["outcome"], "dead_lettered");
    assert_eq!(replays[1]["keep_overrides"], true);
    assert_eq!(replays[1]["outcome"], "succeeded");
    assert!(
        replays[1]["ended_ms"].as_u64().unwrap() >= replays[1]["requested_ms"].as_u64().unwrap()
    );

    // The human view lists each replay: overrides, fail step, outcome.
    let human = server.dq().args(["runs", "show", run]).output().unwrap();
    let text = String::from_utf8(human.stdout).unwrap();
    assert!(
        text.contains(r#"1  fail at tool_call  original input + {"n":2}"#),
        "{text}"
    );
    assert!(text.contains("dead_lettered"), "{text}");
    assert!(
        text.contains(r#"2  fix applied  previous input + {"m":3}"#),
        "{text}"
    );
    assert!(text.contains("succeeded"), "{text}");
}

/// The story of the run-model issue, end to end: a replay of a run still going is refused, `runs wait` tells
/// the outcome, the replay with the fix succeeds, and everything the CLI shows of the run then agrees.
#[test]
fn a_replay_waits_for_its_run_and_then_every_view_of_the_run_agrees() {
    let server = TestServer::with(|config| {
        config.runs.step_delay = std::time::Duration::from_millis(200);
    });
    let run = detached(&server, &["--fail", "tool_call"]);
    let out = server
        .dq()
        .args(["replay", &run, "--fix"])
        .output()
        .unwrap();
    assert_exit(&out, 4);
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("is still running")
            || String::from_utf8_lossy(&out.stderr).contains("is still queued"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_exit(
        &server.dq().args(["runs", "wait", &run]).output().unwrap(),
        3,
    );
    assert_exit(
        &server
            .dq()
            .args(["replay", &run, "--fix", "-q"])
            .output()
            .unwrap(),
        0,
    );
    assert_exit(
        &server.dq().args(["runs", "wait", &run]).output().unwrap(),
        0,
    );

    let events = server.dq().args(["events", &run, "--json"]).ndjson();
    assert!(
        events
            .iter()
            .all(|e| e["seq"].is_u64() && e["replay_seq"].is_u64())
    );
    let terminal = events
        .iter()
        .rev()
        .find(|e| ["run.succeeded", "run.failed"].contains(&e["type"].as_str().unwrap()))
        .unwrap();
    assert_eq!(
        (&terminal["type"], &terminal["replay_seq"]),
        (&Value::from("run.succeeded"), &Value::from(1))
    );
    let shown = server.dq().args(["runs", "show", &run, "--json"]).json();
    assert_eq!(shown["status"], "succeeded", "{shown}");
    let out = server.dq().args(["replay"]).output().unwrap();
    assert_exit(&out, 4);
    assert!(String::from_utf8_lossy(&out.stderr).contains("no dead-lettered run to replay"));
}

#[test]
fn lists_say_how_many_there_are_and_page_with_after() {
    let server = TestServer::start();
    let first = server.run(&["--fail", "transform"]);
    let second = server.run(&[]);
    let third = server.run(&["--fail", "tool_call"]);
    let page = server
        .dq()
        .args(["runs", "list", "--limit", "2", "--json"])
        .json();
    assert_eq!(page["total"], 3, "{page}");
    assert_eq!(page["count"], 2);
    assert_eq!(page["items"][0]["run_id"], third["run_id"]);
    assert_eq!(page["next"], second["run_id"]);
    let next = page["next"].as_str().unwrap();
    let rest = server
        .dq()
        .args(["runs", "list", "--limit", "2", "--json", "--after", next])
        .json();
    assert_eq!(rest["count"], 1, "{rest}");
    assert_eq!(rest["items"][0]["run_id"], first["run_id"]);
    assert!(rest.get("next").is_none_or(Value::is_null), "{rest}");
    let human = server
        .dq()
        .args(["runs", "list", "--limit", "2"])
        .output()
        .unwrap();
    assert_exit(&human, 0);
    let stderr = String::from_utf8(human.stderr).unwrap();
    assert!(stderr.contains("showing 2 of 3 (use --limit"), "{stderr}");
    // --status aliases of dead_lettered.
    for alias in ["dlq", "failed", "dead-lettered"] {
        let dead = server
            .dq()
            .args(["runs", "list", "--json", "--status", alias])
            .json();
        assert_eq!(dead["total"], 2, "{alias}: {dead}");
    }
    // The DLQ list: total, paging and --run.
    let dlq = server
        .dq()
        .args(["dlq", "list", "--json", "--limit", "1"])
        .json();
    assert_eq!(dlq["total"], 2, "{dlq}");
    assert_eq!(dlq["next"], third["run_id"]);
    let one = server
        .dq()
        .args(["dlq", "list", "--json", "--run"])
        .arg(first["run_id"].as_str().unwrap())
        .json();
    assert_eq!(one["count"], 1, "{one}");
    assert_eq!(one["items"][0]["run_id"], first["run_id"]);
}

#[test]
fn events_type_globs() {
    let server = TestServer::start();
    let run = server.run(&[]);
    let run = run["run_id"].as_str().unwrap();
    let steps = server
        .dq()
        .args(["events", run, "--json", "--type", "step.*"])
        .ndjson();
    assert!(!steps.is_empty());
    assert!(
        steps
            .iter()
            .all(|e| e["type"].as_str().unwrap().starts_with("step.")),
        "{steps:?}"
    );
}

#[test]
fn with_json_an_error_is_a_json_object_on_stderr() {
    let server = TestServer::start();
    let out = server
        .dq()
        .args(["runs", "show", "0123456789abcdef0123456789abcdef", "--json"])
        .output()
        .unwrap();
    assert_exit(&out, 4);
    assert!(out.stdout.is_empty());
    let doc = parse(&out.stderr);
    assert_eq!(doc["error"]["code"], 4, "{doc}");
    assert_eq!(doc["error"]["status"], 404, "{doc}");
    assert!(doc["error"]["message"].is_string(), "{doc}");
    // Without --json: a line for people.
    let human = server
        .dq()
        .args(["runs", "show", "0123456789abcdef0123456789abcdef"])
        .output()
        .unwrap();
    assert!(
        String::from_utf8(human.stderr)
            .unwrap()
            .starts_with("error: ")
    );
}

#[test]
fn json_documents_carry_rfc3339_times_beside_epoch_ms() {
    let server = TestServer::start();
    let run = server.run(&["--fail", "tool_call"]);
    let list = server.dq().args(["runs", "list", "--json"]).json();
    let first = &list["items"][0];
    let updated = first["updated"]
        .as_str()
        .expect("updated beside updated_ms");
    assert!(updated.ends_with('Z') && updated.contains('T'), "{updated}");
    assert!(first["updated_ms"].is_u64());
    assert!(first["created"].is_string(), "{first}");
    let dlq = server
        .dq()
        .args(["dlq", "show", "--json"])
        .arg(run["run_id"].as_str().unwrap())
        .json();
    assert!(dlq["at"].is_string() && dlq["ts"].is_u64(), "{dlq}");
}

#[test]
fn timeline_times_are_local_with_the_zone_shown_or_utc() {
    let server = TestServer::start();
    let run = server.run(&[]);
    let run = run["run_id"].as_str().unwrap();
    // A POSIX zone two hours east of UTC, no tz database needed.
    let local = server
        .dq()
        .env("TZ", "XYZ-2")
        .args(["events", run])
        .output()
        .unwrap();
    assert_exit(&local, 0);
    let text = String::from_utf8(local.stdout).unwrap();
    assert!(text.lines().all(|l| l.contains(" +02:00  ")), "{text}");
    let utc = server
        .dq()
        .env("TZ", "XYZ-2")
        .args(["events", run, "--utc"])
        .output()
        .unwrap();
    let text = String::from_utf8(utc.stdout).unwrap();
    assert!(text.lines().all(|l| l.contains(" UTC  ")), "{text}");
    // Lists show ages.
    let list = server.dq().args(["runs", "list"]).output().unwrap();
    let text = String::from_utf8(list.stdout).unwrap();
    assert!(text.contains(" ago") || text.contains("just now"), "{text}");
}
