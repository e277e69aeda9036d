//! Usage errors, help, an unreachable server, completions and broken pipes: what needs no running server.

use std::io::Read;
use std::process::Stdio;

use clap_complete::Shell;

use crate::util::{closed_port_url, dq};

#[test]
fn help_lists_every_command_and_the_exit_codes() {
    let out = dq().arg("--help").output().unwrap();
    assert!(out.status.success());
    let help = String::from_utf8(out.stdout).unwrap();
    for command in [
        "up",
        "down",
        "run",
        "events",
        "dlq",
        "replay",
        "runs",
        "demo",
        "health",
        "emit",
        "worker",
        "completions",
    ] {
        assert!(
            help.contains(&format!("\n  {command} ")),
            "help lacks {command}:\n{help}"
        );
    }
    for code in ["0 ", "1 ", "2 ", "3 ", "4 ", "5 ", "124", "130"] {
        assert!(
            help.contains(&format!("\n  {code}")),
            "help lacks exit code {code}"
        );
    }
}

#[test]
fn usage_errors_exit_2() {
    dq().assert().code(2);
    dq().args(["run", "--no-such-flag"]).assert().code(2);
    dq().args(["--timeout", "soon", "health"]).assert().code(2);
    dq().args(["--url", "not a url", "health"]).assert().code(2);
    dq().args(["--color", "sometimes", "health"])
        .assert()
        .code(2);
    dq().args(["replay", "--fix", "--fail", "transform"])
        .assert()
        .code(2);
    dq().args(["--url", &closed_port_url(), "emit", "r", "not json"])
        .assert()
        .code(2)
        .stderr(predicates::str::contains("not valid JSON"));
    dq().args([
        "--url",
        &closed_port_url(),
        "runs",
        "list",
        "--status",
        "sideways",
    ])
    .assert()
    .code(2);
}

#[test]
fn an_invalid_cors_origin_regex_is_a_usage_error() {
    dq().args([
        "up",
        "--listen",
        "127.0.0.1:0",
        "--cors-origin-regex",
        "https://(a",
    ])
    .assert()
    .code(2)
    .stdout("")
    .stderr(predicates::str::contains("--cors-origin-regex"));
}

#[test]
fn max_attempts_over_100_is_a_usage_error() {
    for args in [
        &["run", "--max-attempts", "101"][..],
        &["replay", "r", "--max-attempts", "2147483648"],
        &["worker", "--max-attempts", "1000"],
        &["up", "--max-attempts", "101"],
        &["up", "--max-attempts", "0"],
    ] {
        dq().args(["--url", &closed_port_url()])
            .args(args)
            .assert()
            .code(2)
            .stdout("")
            .stderr(predicates::str::contains("1..=100"));
    }
}

#[test]
fn max_abandoned_outside_1_to_1000_is_a_usage_error() {
    for args in [
        &["up", "--max-abandoned", "0"][..],
        &["worker", "--max-abandoned", "1001"],
    ] {
        dq().args(["--url", &closed_port_url()])
            .args(args)
            .assert()
            .code(2)
            .stdout("")
            .stderr(predicates::str::contains("1..=1000"));
    }
}

#[test]
fn up_refuses_a_public_address_without_a_token() {
    dq().args(["up", "--listen", "0.0.0.0:0"])
        .assert()
        .code(2)
        .stdout("")
        .stderr(predicates::str::contains("without a token"));
}

#[test]
fn up_refuses_a_short_or_padded_token() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().to_str().unwrap();
    let file = dir.path().join("token");
    std::fs::write(&file, "0123456789abcdef \n").unwrap();
    let file = file.to_str().unwrap();
    let up = ["up", "--listen", "127.0.0.1:0", "--data-dir", data];
    for (token, expected) in [
        ("short", "the token is 5 characters long: use at least 16"),
        (" 0123456789abcdef", "whitespace"),
        ("0123456789abcdef\n", "whitespace"),
    ] {
        dq().args(["--token", token])
            .args(up)
            .assert()
            .code(2)
            .stdout("")
            .stderr(predicates::str::contains(expected));
        dq().env("DQ_TOKEN", token)
            .args(up)
            .assert()
            .code(2)
            .stderr(predicates::str::contains(expected));
    }
    dq().args(up)
        .args(["--token-file", file])
        .assert()
        .code(2)
        .stderr(predicates::str::contains("whitespace"));
    dq().args(up)
        .args(["--token-file", "/nonexistent/dq-token"])
        .assert()
        .code(2)
        .stderr(predicates::str::contains("cannot read --token-file"));
    dq().args(["--token", "0123456789abcdef"])
        .args(up)
        .args(["--token-file", file])
        .assert()
        .code(2)
        .stderr(predicates::str::contains("not both"));
}

#[test]
fn an_unreachable_server_exits_5() {
    let url = closed_port_url();
    for args in [
        vec!["health"],
        vec!["run"],
        vec!["events", "abc"],
        vec!["dlq", "show", "abc"],
        vec!["replay", "abc", "--fix"],
        vec!["runs", "list"],
    ] {
        dq().args(["--url", &url])
            .args(&args)
            .assert()
            .code(5)
            .stdout("")
            .stderr(predicates::str::contains("cannot reach the server"));
    }
    dq().env("DQ_URL", &url).arg("health").assert().code(5);
}

#[test]
fn checked_in_completions_match_the_cli() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("completions");
    let update = std::env::var_os("DQ_UPDATE_COMPLETIONS").is_some();
    for (shell, file) in [
        (Shell::Bash, "dq.bash"),
        (Shell::Zsh, "_dq"),
        (Shell::Fish, "dq.fish"),
        (Shell::PowerShell, "_dq.ps1"),
        (Shell::Elvish, "dq.elv"),
    ] {
        let out = dq()
            .args(["completions", &shell.to_string()])
            .output()
            .unwrap();
        assert!(out.status.success());
        let generated = String::from_utf8(out.stdout).unwrap();
        let path = dir.join(file);
        if update {
            std::fs::write(&path, &generated).unwrap();
            continue;
        }
        let checked_in = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(
            generated == checked_in,
            "{} drifted from the CLI; regenerate with DQ_UPDATE_COMPLETIONS=1 cargo test -p dq",
            path.display()
        );
    }
}

#[test]
fn a_closed_stdout_is_not_an_error() {
    let mut child = std::process::Command::new(assert_cmd::cargo::cargo_bin("dq"))
        .args(["completions", "bash"])
        .env("NO_COLOR", "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let status = child.wait().unwrap();
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    assert!(status.success(), "exit {status}: {stderr}");
    assert_eq!(stderr, "");
}
