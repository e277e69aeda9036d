//! `dq demo`: the four-step checklist, embedded or against a server.

use crate::util::{Printed, TestServer, assert_exit, dq, has_escapes, parse};

#[test]
fn the_embedded_demo_ticks_all_four_steps() {
    let out = dq().args(["demo", "--fast", "--json"]).output().unwrap();
    assert_exit(&out, 0);
    let doc = parse(&out.stdout);
    assert_eq!(doc["ok"], true);
    assert_eq!(doc["embedded"], true);
    let steps = doc["steps"].as_array().unwrap();
    let names: Vec<&str> = steps.iter().map(|s| s["name"].as_str().unwrap()).collect();
    assert_eq!(
        names,
        [
            "fail (forced)",
            "DLQ persisted",
            "replay with fix applied",
            "success"
        ]
    );
    assert!(steps.iter().all(|s| s["ok"] == true));
    assert_eq!(doc["dlq"]["error"], "forced failure at tool_call");
}

#[test]
fn the_demo_runs_against_a_server_and_reads_as_a_checklist() {
    let server = TestServer::start();
    let out = server.dq().arg("demo").output().unwrap();
    assert_exit(&out, 0);
    assert!(!has_escapes(&out.stdout));
    let text = String::from_utf8(out.stdout).unwrap();
    let ticks: Vec<&str> = text.lines().filter(|l| l.starts_with(" ✓")).collect();
    assert_eq!(ticks.len(), 4, "{text}");
    assert!(ticks[1].contains("3/3 attempts"));
    assert!(
        text.lines()
            .last()
            .unwrap()
            .starts_with("all four steps in")
    );
    // The run it made is there to inspect afterwards.
    let runs = server.dq().args(["runs", "list", "--json"]).json();
    assert_eq!(runs["items"][0]["status"], "succeeded");
    assert_eq!(runs["items"][0]["replay_seq"], 1);
}

#[test]
fn a_demo_step_that_never_comes_times_out_with_124() {
    let server = TestServer::with(|config| config.runs.workers = 0);
    server
        .dq()
        .args(["--timeout", "300ms", "demo"])
        .assert()
        .code(124)
        .stdout(predicates::str::contains("✗ 1"));
}
