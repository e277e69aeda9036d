//! On a pseudo-terminal: the live timeline renders (in colour, with a spinner) as events arrive, and the
//! replay picker chooses a run with the arrow keys.

use std::time::Duration;

use expectrl::Session;

use crate::util::{TestServer, parse};

fn on_terminal(server: &TestServer, args: &[&str]) -> Session {
    let mut command = std::process::Command::new(assert_cmd::cargo::cargo_bin("dq"));
    command
        .args(["--url", server.url()])
        .args(args)
        .env_remove("NO_COLOR")
        .env_remove("CI")
        .env_remove("DQ_URL")
        .env_remove("DQ_YES")
        .env("TERM", "xterm-256color");
    let mut session = Session::spawn(command).expect("dq on a pty");
    session.set_expect_timeout(Some(Duration::from_secs(30)));
    session
}

#[test]
fn the_timeline_renders_live_in_colour() {
    let server = TestServer::with(|config| config.runs.step_delay = Duration::from_millis(20));
    let mut dq = on_terminal(&server, &["run", "--fail", "transform"]);
    dq.expect("run.created").unwrap();
    dq.expect("step.started").unwrap();
    let failed = dq.expect("forced failure at transform").unwrap();
    assert!(failed.before().contains(&0x1b), "a terminal gets colour");
    let end = dq.expect("dead-lettered after 3/3 attempts").unwrap();
    assert!(String::from_utf8_lossy(end.before()).contains("run.failed"));
    let status = dq.get_process().wait().unwrap();
    assert_eq!(
        status,
        expectrl::WaitStatus::Exited(dq.get_process().pid(), 3)
    );
}

#[test]
fn the_replay_picker_chooses_a_run() {
    let server = TestServer::start();
    let older = server.run(&["--fail", "transform"]);
    let newer = server.run(&["--fail", "tool_call"]);
    let mut dq = on_terminal(&server, &["replay", "--fix"]);
    dq.expect("replay which dead-lettered run?").unwrap();
    dq.expect(newer["run_id"].as_str().unwrap()).unwrap();
    dq.expect(older["run_id"].as_str().unwrap()).unwrap();
    // Down to the older run, then Enter.
    dq.send("\x1b[B").unwrap();
    dq.send("\r").unwrap();
    dq.expect("succeeded").unwrap();
    let status = dq.get_process().wait().unwrap();
    assert_eq!(
        status,
        expectrl::WaitStatus::Exited(dq.get_process().pid(), 0)
    );
    let shown = |run: &serde_json::Value| {
        parse(
            &server
                .dq()
                .args(["runs", "show", run["run_id"].as_str().unwrap(), "--json"])
                .output()
                .unwrap()
                .stdout,
        )
    };
    assert_eq!(shown(&older)["status"], "succeeded");
    assert_eq!(shown(&newer)["status"], "dead_lettered");
}

#[test]
fn dlq_redrive_shows_a_progress_bar_on_a_terminal_only() {
    let server = TestServer::start();
    let first = server.run(&["--fail", "transform"]);
    let second = server.run(&["--fail", "transform"]);
    let mut dq = on_terminal(&server, &["dlq", "redrive", "--fix", "--rate", "4/s"]);
    dq.expect("replaying [").unwrap();
    dq.expect("1/2").unwrap();
    dq.expect("replay 1 started").unwrap();
    let status = dq.get_process().wait().unwrap();
    assert_eq!(
        status,
        expectrl::WaitStatus::Exited(dq.get_process().pid(), 0)
    );
    // Off a terminal: the table only, no bar on stderr.
    for run in [&first, &second] {
        server
            .dq()
            .args(["runs", "wait", run["run_id"].as_str().unwrap()])
            .assert()
            .code(0);
    }
    let third = server.run(&["--fail", "tool_call"]);
    let out = server
        .dq()
        .args(["dlq", "redrive", "--fix"])
        .output()
        .unwrap();
    assert!(out.status.success());
    assert!(!String::from_utf8_lossy(&out.stderr).contains("replaying ["));
    assert!(String::from_utf8_lossy(&out.stdout).contains(third["run_id"].as_str().unwrap()));
}

/// `dq ARGS` on a terminal `cols` columns wide; everything it printed, escape codes stripped.
fn on_terminal_of_width(server: &TestServer, cols: u16, args: &[&str]) -> (String, i32) {
    let mut command = std::process::Command::new("sh");
    command
        .arg("-c")
        .arg(format!("stty cols {cols} rows 40 && exec \"$0\" \"$@\""))
        .arg(assert_cmd::cargo::cargo_bin("dq"))
        .args(["--url", server.url()])
        .args(args)
        .env_remove("NO_COLOR")
        .env_remove("CI")
        .env_remove("DQ_URL")
        .env_remove("COLUMNS")
        .env("TERM", "xterm-256color");
    let mut session = Session::spawn(command).expect("dq on a pty");
    session.set_expect_timeout(Some(Duration::from_secs(30)));
    let text = String::from_utf8_lossy(&rest(&mut session)).into_owned();
    let status = session.get_process().wait().unwrap();
    let code = match status {
        expectrl::WaitStatus::Exited(_, code) => code,
        other => panic!("dq ended with {other:?}"),
    };
    (strip_escapes(&text), code)
}

/// Everything the session prints until it closes the terminal.
fn rest(session: &mut Session) -> Vec<u8> {
    let all = session.expect(expectrl::Eof).unwrap();
    let mut bytes = all.before().to_vec();
    for matched in all.matches() {
        bytes.extend_from_slice(matched);
    }
    bytes
}

fn strip_escapes(text: &str) -> String {
    let mut out = String::new();
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c == '\x1b' {
            if chars.next() == Some('[') {
                for c in chars.by_ref() {
                    if ('@'..='~').contains(&c) {
                        break;
                    }
                }
            }
        } else if c != '\r' {
            out.push(c);
        }
    }
    out
}

#[test]
fn tables_fit_80_and_120_column_terminals() {
    let server = TestServer::start();
    let runs: Vec<String> = ["transform", "tool_call"]
        .iter()
        .map(|step| {
            server.run(&["--fail", step])["run_id"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    for cols in [80, 120] {
        for list in [["runs", "list"], ["dlq", "list"]] {
            let (text, code) = on_terminal_of_width(&server, cols, &list);
            assert_eq!(code, 0, "{text}");
            for line in text.lines() {
                assert!(
                    line.chars().count() <= usize::from(cols),
                    "{list:?} at {cols} columns printed a line of {}:\n{text}",
                    line.chars().count()
                );
            }
            for run in &runs {
                assert!(text.contains(&run[..8]), "{list:?} shows {run}:\n{text}");
            }
            // One rule, under the header; not one under every row.
            assert_eq!(
                text.lines()
                    .filter(|l| l.contains('═') || l.contains('─'))
                    .count(),
                1,
                "{text}"
            );
        }
    }
    // Piped: the plain layout, whole values, no escapes.
    let out = server.dq().args(["runs", "list"]).output().unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.contains("forced failure at transform")
            && !text.contains('…')
            && !text.contains('\x1b')
    );
}

#[test]
fn ctrl_c_in_the_replay_picker_exits_130_with_the_cursor_shown() {
    let server = TestServer::start();
    server.run(&["--fail", "transform"]);
    server.run(&["--fail", "tool_call"]);
    let mut dq = on_terminal(&server, &["replay", "--fix"]);
    dq.expect("replay which dead-lettered run?").unwrap();
    dq.send("\x03").unwrap();
    let text = String::from_utf8_lossy(&rest(&mut dq)).into_owned();
    let status = dq.get_process().wait().unwrap();
    assert_eq!(
        status,
        expectrl::WaitStatus::Exited(dq.get_process().pid(), 130),
        "{text}"
    );
    assert!(!text.contains("read interrupted"), "{text}");
    assert!(
        text.contains("\x1b[?25h"),
        "the cursor is shown again: {text:?}"
    );
}

#[test]
fn with_ci_set_the_replay_takes_the_latest_run_without_a_picker() {
    let server = TestServer::start();
    server.run(&["--fail", "transform"]);
    let newer = server.run(&["--fail", "tool_call"]);
    let mut command = std::process::Command::new(assert_cmd::cargo::cargo_bin("dq"));
    command
        .args(["--url", server.url(), "replay", "--fix"])
        .env_remove("NO_COLOR")
        .env_remove("DQ_URL")
        .env_remove("DQ_YES")
        .env("CI", "true")
        .env("TERM", "xterm-256color");
    let mut dq = Session::spawn(command).expect("dq on a pty");
    dq.set_expect_timeout(Some(Duration::from_secs(30)));
    let note = dq.expect("replaying the latest dead-lettered run").unwrap();
    assert!(!String::from_utf8_lossy(note.before()).contains("replay which"));
    dq.expect(newer["run_id"].as_str().unwrap()).unwrap();
    dq.expect(expectrl::Eof).unwrap();
    let status = dq.get_process().wait().unwrap();
    assert_eq!(
        status,
        expectrl::WaitStatus::Exited(dq.get_process().pid(), 0)
    );
}

#[test]
fn logs_on_a_terminal_honour_color_never() {
    let server = TestServer::start();
    let run = |color: &[&str]| {
        let mut command = std::process::Command::new(assert_cmd::cargo::cargo_bin("dq"));
        command
            .args(["--url", server.url()])
            .args(color)
            .arg("health")
            .env_remove("NO_COLOR")
            .env_remove("CI")
            .env_remove("DQ_URL")
            .env("DQ_LOG", "debug")
            .env("TERM", "xterm-256color");
        let mut session = Session::spawn(command).expect("dq on a pty");
        session.set_expect_timeout(Some(Duration::from_secs(30)));
        let log = session.expect("DEBUG").unwrap();
        let mut bytes = log.before().to_vec();
        bytes.extend_from_slice(&rest(&mut session));
        let status = session.get_process().wait().unwrap();
        assert_eq!(
            status,
            expectrl::WaitStatus::Exited(session.get_process().pid(), 0)
        );
        bytes
    };
    assert!(run(&[]).contains(&0x1b), "a terminal gets coloured logs");
    assert!(!run(&["--color", "never"]).contains(&0x1b), "--color never");
}

/// A payload with a 1,000-character string and 100 list items: the terminal gets it shortened.
fn huge_input() -> String {
    let items: Vec<u32> = (0..100).collect();
    serde_json::json!({ "big": "x".repeat(1000), "items": items }).to_string()
}

#[test]
fn dlq_show_shortens_a_huge_payload_on_a_terminal() {
    let server = TestServer::start();
    let input = huge_input();
    let run = server.run(&["--fail", "tool_call", "--input", &input]);
    let id = run["run_id"].as_str().unwrap();
    let mut dq = on_terminal(&server, &["dlq", "show", id]);
    dq.expect("more lines; --full prints all").unwrap();
    dq.expect(expectrl::Eof).unwrap();
    let status = dq.get_process().wait().unwrap();
    assert_eq!(
        status,
        expectrl::WaitStatus::Exited(dq.get_process().pid(), 0)
    );
    // The whole screen: the long string is cut, the payload has at most 40 lines.
    let mut dq = on_terminal(&server, &["dlq", "show", id]);
    let all = dq.expect(expectrl::Eof).unwrap();
    let text = String::from_utf8_lossy(all.as_bytes()).into_owned();
    assert!(text.contains("… (800 more chars)"), "{text}");
    assert!(!text.contains(&"x".repeat(201)));
    let payload_lines = text
        .lines()
        .skip_while(|l| !l.contains("payload"))
        .take_while(|l| !l.contains("more lines"))
        .count();
    assert!(payload_lines <= 41, "{payload_lines} lines: {text}");
    // --full prints all of it on a terminal too.
    let mut dq = on_terminal(&server, &["dlq", "show", id, "--full"]);
    let all = dq.expect(expectrl::Eof).unwrap();
    let text = String::from_utf8_lossy(all.as_bytes()).into_owned();
    assert!(text.contains(&"x".repeat(1000)));
    assert!(!text.contains("--full prints all"));
}

#[test]
fn dlq_show_in_a_pipe_prints_the_whole_payload() {
    let server = TestServer::start();
    let input = huge_input();
    let run = server.run(&["--fail", "tool_call", "--input", &input]);
    let id = run["run_id"].as_str().unwrap();
    let out = server.dq().args(["dlq", "show", id]).output().unwrap();
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains(&"x".repeat(1000)));
    assert!(text.lines().count() > 100, "every item: {text}");
    assert!(!text.contains("--full prints all"));
    let record = parse(
        &server
            .dq()
            .args(["dlq", "show", id, "--json"])
            .output()
            .unwrap()
            .stdout,
    );
    assert_eq!(record["command"]["input"]["big"], "x".repeat(1000));
    assert_eq!(
        record["command"]["input"]["items"]
            .as_array()
            .unwrap()
            .len(),
        100
    );
}
