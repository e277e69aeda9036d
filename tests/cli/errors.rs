//! Errors and exit codes: what the client can check itself is a usage error (exit 2) before any request,
//! failures say what to do next, one-shot commands time out by default, and the environment is read the way
//! people set it (empty means unset; the variable is named in errors).

use std::net::TcpListener;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use predicates::str::contains;

use nix::sys::signal::Signal;

use crate::util::{Process, TestServer, closed_port_url, dq, has_escapes};

#[test]
fn an_unknown_fail_step_is_a_usage_error_naming_the_valid_steps() {
    let url = closed_port_url();
    dq().args(["--url", &url, "run", "--fail", "no_such_step"])
        .assert()
        .code(2)
        .stderr(
            "error: unknown step no_such_step; valid: fetch_input, transform, tool_call, finalize\n",
        );
    // A replay's run may be of any workflow the server runs: the server checks its `--fail` (here:
    // unreachable, exit 5).
    for args in [
        vec!["replay", "abc", "--fail", "no_such_step"],
        vec!["dlq", "redrive", "--fail", "no_such_step"],
    ] {
        dq().args(["--url", &url]).args(&args).assert().code(5);
    }
    // A workflow the client does not know is left to the server (here: unreachable, exit 5).
    dq().args(["--url", &url, "run", "--workflow", "custom", "--fail", "x"])
        .assert()
        .code(5);
}

#[test]
fn bad_max_attempts_and_a_missing_input_file_are_usage_errors() {
    let url = closed_port_url();
    dq().args(["--url", &url, "run", "--max-attempts", "0"])
        .assert()
        .code(2);
    dq().args(["--url", &url, "run", "--input", "@no/such/input.json"])
        .assert()
        .code(2)
        .stderr(contains("cannot read --input file no/such/input.json"));
    dq().args(["--url", &url, "replay", "abc", "--input", "@missing.json"])
        .assert()
        .code(2);
}

#[test]
fn a_refusal_is_one_human_line_and_debug_logs_keep_the_route_and_status() {
    let server = TestServer::start();
    let run = "0123456789abcdef0123456789abcdef";
    let out = server
        .dq()
        .args(["runs", "show", run])
        .assert()
        .code(4)
        .stderr(contains("list runs with `dq runs list`"))
        .get_output()
        .clone();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !stderr.contains("GET /runs") && !stderr.contains("(404)"),
        "{stderr}"
    );
    server
        .dq()
        .env("DQ_LOG", "debug")
        .args(["runs", "show", run])
        .assert()
        .code(4)
        .stderr(contains("GET /runs/"))
        .stderr(contains("404"));
}

#[test]
fn a_missing_token_says_how_to_pass_one() {
    let token = "a-token-of-twenty-chars";
    let server = TestServer::with(|config| config.token = Some(token.into()));
    server
        .dq()
        .args(["runs", "list"])
        .assert()
        .code(4)
        .stderr(contains("pass `--token` / `DQ_TOKEN`"));
    server
        .dq()
        .args(["--token", token, "runs", "list"])
        .assert()
        .code(0);
}

#[test]
fn hints_for_an_unreachable_server_a_bare_address_https_and_a_singular_command() {
    dq().args(["--url", &closed_port_url(), "health"])
        .assert()
        .code(5)
        .stderr(contains("start one with `dq up --detach`"));
    dq().args(["--url", "127.0.0.1:8000", "health"])
        .assert()
        .code(2)
        .stderr(contains("did you mean http://127.0.0.1:8000?"));
    dq().args(["--url", "https://127.0.0.1:8000", "health"])
        .assert()
        .code(2)
        .stderr(contains("this build has no TLS"));
    dq().args(["run", "list"])
        .assert()
        .code(2)
        .stderr(contains("did you mean `dq runs list`?"));
}

/// A loopback listener that accepts connections and never answers, until `stop` is set.
struct SilentServer {
    url: String,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl SilentServer {
    fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("a free port");
        listener.set_nonblocking(true).expect("non-blocking");
        let url = format!("http://{}", listener.local_addr().expect("its address"));
        let stop = Arc::new(AtomicBool::new(false));
        let stopped = stop.clone();
        let thread = std::thread::spawn(move || {
            let mut held = Vec::new();
            while !stopped.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((conn, _)) => held.push(conn),
                    Err(_) => std::thread::sleep(Duration::from_millis(20)),
                }
            }
        });
        Self {
            url,
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for SilentServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

#[test]
fn a_server_that_never_answers_times_out_with_124() {
    let server = SilentServer::start();
    dq().args(["--url", &server.url, "--timeout", "2s", "health"])
        .assert()
        .code(124)
        .stderr(contains("timed out"));
}

#[test]
fn timeout_0_means_none_and_a_detached_run_prints_its_id() {
    let server = TestServer::with(|config| config.runs.workers = 0);
    let out = server
        .dq()
        .args(["--timeout", "0", "run", "--detach"])
        .assert()
        .code(0)
        .get_output()
        .clone();
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim().len(), 32);
}

#[test]
fn a_timeout_while_following_says_the_run_continues_on_the_server() {
    let server = TestServer::with(|config| config.runs.workers = 0);
    let out = server
        .dq()
        .args(["--timeout", "2s", "run"])
        .assert()
        .code(124)
        .get_output()
        .clone();
    let stderr = String::from_utf8_lossy(&out.stderr);
    let run = stderr
        .split_whitespace()
        .skip_while(|word| *word != "run")
        .nth(1)
        .expect("the run's id in the start note");
    assert!(
        stderr.contains(&format!(
            "run {run} continues on the server: dq runs wait {run}"
        )),
        "{stderr}"
    );
}

#[test]
fn empty_environment_values_mean_unset_and_errors_name_the_variable() {
    let server = TestServer::start();
    for var in [
        "DQ_JSON",
        "DQ_TIMEOUT",
        "DQ_COLOR",
        "DQ_QUIET",
        "DQ_YES",
        "DQ_TOKEN",
    ] {
        server.dq().env(var, "").arg("health").assert().code(0);
    }
    dq().env("DQ_URL", "")
        .args(["--url", server.url(), "health"])
        .assert()
        .code(0);
    server
        .dq()
        .env("DQ_TIMEOUT", "abc")
        .arg("health")
        .assert()
        .code(2)
        .stderr(contains("DQ_TIMEOUT=abc: "));
    for (var, value) in [("DQ_JSON", "abc"), ("DQ_COLOR", "purple")] {
        server
            .dq()
            .env(var, value)
            .arg("health")
            .assert()
            .code(2)
            .stderr(contains(format!("{var}={value}: ")));
    }
    dq().env("DQ_URL", "localhost:1")
        .arg("health")
        .assert()
        .code(2)
        .stderr(contains("DQ_URL=localhost:1: "));
}

#[test]
fn color_always_and_clicolor_force_beat_no_color() {
    let server = TestServer::start();
    // `dq()` sets NO_COLOR=1.
    let plain = server.dq().arg("health").output().unwrap();
    assert!(!has_escapes(&plain.stdout));
    let forced = server
        .dq()
        .args(["--color", "always", "health"])
        .output()
        .unwrap();
    assert!(has_escapes(&forced.stdout), "--color always");
    let forced = server
        .dq()
        .env("CLICOLOR_FORCE", "1")
        .arg("health")
        .output()
        .unwrap();
    assert!(has_escapes(&forced.stdout), "CLICOLOR_FORCE=1");
}

#[test]
fn repeated_boolean_flags_are_accepted() {
    let server = TestServer::start();
    server
        .dq()
        .args(["-q", "-q", "--json", "--json", "health"])
        .assert()
        .code(0);
    server
        .dq()
        .args(["run", "--detach", "--detach"])
        .assert()
        .code(0);
}

#[test]
fn ctrl_c_while_following_says_the_run_continues_on_the_server() {
    let server = TestServer::with(|config| config.runs.workers = 0);
    let mut run = Process::spawn(&["--url", server.url(), "run"]);
    let mut lines = run.stderr_lines();
    let id = loop {
        let line = lines
            .next()
            .expect("dq run printed its start")
            .expect("a line");
        if let Some(rest) = line.strip_prefix("run ") {
            break rest.split_whitespace().next().expect("an id").to_owned();
        }
    };
    run.signal(Signal::SIGINT);
    let status = run.exits_within(Duration::from_secs(30));
    assert_eq!(status.code(), Some(130));
    let rest: Vec<String> = lines.map_while(Result::ok).collect();
    let expected = format!("run {id} continues on the server: dq runs wait {id}");
    assert!(rest.contains(&expected), "{rest:?}");
}
