//! `dq up`, `dq up --detach` / `dq down` and `dq worker` as real processes.

use nix::sys::signal::Signal;

use crate::util::{Printed, Process, TestServer, assert_exit, dq, parse};

#[test]
fn up_serves_until_sigterm_and_exits_0() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().to_str().unwrap();
    let (mut child, url) = Process::up(&[
        "--listen",
        "127.0.0.1:0",
        "--data-dir",
        data,
        "--step-delay",
        "0ms",
        "--backoff",
        "0ms",
        "--max-attempts",
        "2",
    ]);
    let doc = dq()
        .args(["--url", &url, "run", "--fail", "transform", "--json"])
        .json();
    assert_eq!(doc["status"], "dead_lettered");
    assert_eq!(doc["attempts"], 2, "--max-attempts reaches the worker");
    let status = child.terminate();
    assert!(status.success(), "{status}");
}

#[test]
fn up_keeps_runs_across_restarts() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().to_str().unwrap();
    let args = [
        "--listen",
        "127.0.0.1:0",
        "--data-dir",
        data,
        "--step-delay",
        "0ms",
        "--backoff",
        "0ms",
    ];
    let (mut first, url) = Process::up(&args);
    let run = dq()
        .args(["--url", &url, "run", "--fail", "tool_call", "--json"])
        .json();
    assert!(first.terminate().success());
    let (mut second, url) = Process::up(&args);
    let record = dq().args(["--url", &url, "dlq", "show", "--json"]).json();
    assert_eq!(record["run_id"], run["run_id"]);
    assert!(second.terminate().success());
}

#[test]
fn up_reads_its_token_from_a_file_and_its_browser_settings_from_flags() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().to_str().unwrap();
    let token = "a-token-of-24-characters";
    let file = dir.path().join("token");
    std::fs::write(&file, format!("{token}\n")).unwrap();
    let (mut child, url) = Process::up(&[
        "--listen",
        "127.0.0.1:0",
        "--data-dir",
        data,
        "--token-file",
        file.to_str().unwrap(),
        "--cors-origin",
        "https://ui.example",
        "--cors-origin-regex",
        r"https://[a-z]+-3000\.preview\.example",
        "--allowed-host",
        "dq.internal,dq.other",
    ]);
    // Without the token: 401, exit 4; with the file's token (no newline): answered.
    dq().args(["--url", &url, "runs", "list"]).assert().code(4);
    dq().args(["--url", &url, "--token", token, "runs", "list", "--json"])
        .assert()
        .code(0);
    let raw = |host: &str, origin: &str| {
        use std::io::{Read, Write};
        let addr = url.trim_start_matches("http://");
        let mut tcp = std::net::TcpStream::connect(addr).unwrap();
        tcp.set_read_timeout(Some(std::time::Duration::from_secs(10)))
            .unwrap();
        write!(
            tcp,
            "POST /v1/topics?name=t HTTP/1.1\r\nhost: {host}\r\norigin: {origin}\r\n\
             authorization: Bearer {token}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
        )
        .unwrap();
        let mut answer = String::new();
        tcp.read_to_string(&mut answer).unwrap();
        answer.split(' ').nth(1).unwrap_or_default().to_owned()
    };
    assert_eq!(raw("dq.other:1", "https://ui.example"), "201");
    assert_eq!(raw("dq.other:1", "https://box-3000.preview.example"), "201");
    assert_eq!(raw("dq.other:1", "https://box-3001.preview.example"), "403");
    assert_eq!(raw("dq.internal", "https://evil.example"), "403");
    assert_eq!(raw("evil.example", "https://ui.example"), "421");
    assert!(child.terminate().success());
}

/// The status of `POST /v1/topics?name=t` sent with these `Host` and `Origin` headers.
fn status_of_a_write(url: &str, host: &str, origin: &str) -> String {
    use std::io::{Read, Write};
    let mut tcp = std::net::TcpStream::connect(url.trim_start_matches("http://")).unwrap();
    tcp.set_read_timeout(Some(std::time::Duration::from_secs(10)))
        .unwrap();
    write!(
        tcp,
        "POST /v1/topics?name=t HTTP/1.1\r\nhost: {host}\r\norigin: {origin}\r\n\
         content-length: 0\r\nconnection: close\r\n\r\n"
    )
    .unwrap();
    let mut answer = String::new();
    tcp.read_to_string(&mut answer).unwrap();
    answer.split(' ').nth(1).unwrap_or_default().to_owned()
}

/// In a GitHub Codespace (its variables set), `dq up` answers its own forwarded name and lets the forwarded
/// pages write, as the original starter allows them; elsewhere it does neither.
#[test]
fn up_in_a_codespace_answers_its_forwarded_name_and_pages() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().to_str().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let listen = format!("127.0.0.1:{port}");
    let args = ["--listen", &listen, "--data-dir", data];
    let host = format!("fluffy-x5v-{port}.app.github.dev");
    let page = "https://fluffy-x5v-3000.app.github.dev";
    let env = [("CODESPACES", "true"), ("CODESPACE_NAME", "fluffy-x5v")];
    let (mut child, url, _) = Process::up_in(&args, &env);
    assert_eq!(status_of_a_write(&url, &host, page), "201");
    let other = format!("other-box-{port}.app.github.dev");
    assert_eq!(status_of_a_write(&url, &other, page), "421");
    assert_eq!(
        status_of_a_write(&url, &listen, "https://evil.example"),
        "403"
    );
    assert!(child.terminate().success());

    let (mut child, url) = Process::up(&args);
    assert_eq!(status_of_a_write(&url, &host, page), "421");
    assert_eq!(status_of_a_write(&url, &listen, page), "403");
    assert!(child.terminate().success());
}

/// Runs `dq down` on a data dir when dropped, so that a failing test leaves no background server.
struct Down(String);

impl Drop for Down {
    fn drop(&mut self) {
        let _ = dq().args(["down", "--data-dir", &self.0]).output();
    }
}

#[test]
fn up_detach_returns_its_url_and_down_wipe_removes_everything() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("dq");
    let data = data.to_str().unwrap();
    let out = dq()
        .args([
            "up",
            "--detach",
            "--listen",
            "127.0.0.1:0",
            "--data-dir",
            data,
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let url = String::from_utf8(out.stdout).unwrap().trim_end().to_owned();
    let _down = Down(data.to_owned());
    assert!(url.starts_with("http://127.0.0.1:"), "{url}");
    assert!(std::path::Path::new(data).join("dq.pid").exists());
    dq().args(["--url", &url, "health"]).assert().code(0);
    // The same data dir and address again (a CI re-run): exit 0 with the same URL.
    let again = dq()
        .args([
            "up",
            "--detach",
            "--listen",
            "127.0.0.1:0",
            "--data-dir",
            data,
        ])
        .output()
        .unwrap();
    assert_exit(&again, 0);
    assert_eq!(String::from_utf8(again.stdout).unwrap().trim_end(), url);
    // Another address on the same data dir is refused.
    dq().args([
        "up",
        "--detach",
        "--listen",
        "127.0.0.2:0",
        "--data-dir",
        data,
    ])
    .assert()
    .code(1);
    // No terminal on stdin: -y is implied.
    dq().args(["down", "--wipe", "--data-dir", data])
        .assert()
        .code(0);
    assert!(!std::path::Path::new(data).exists());
    dq().args(["--url", &url, "health"]).assert().code(5);
}

#[test]
fn down_wipe_leaves_a_foreign_directory_intact() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("thesis.tex"), "years of work").unwrap();
    std::fs::create_dir(dir.path().join("keyspaces")).unwrap();
    let out = dq()
        .args(["down", "--wipe", "-y", "--data-dir"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("is not a dq data dir") && stderr.contains("nothing deleted"),
        "{stderr}"
    );
    assert!(dir.path().join("thesis.tex").exists());
    assert!(dir.path().join("keyspaces").exists());
}

#[test]
fn down_wipe_deletes_only_dqs_files_in_a_data_dir() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().to_str().unwrap();
    let (mut child, url) = Process::up(&["--listen", "127.0.0.1:0", "--data-dir", data]);
    dq().args(["--url", &url, "run", "--detach"])
        .assert()
        .code(0);
    assert!(child.terminate().success());
    assert!(dir.path().join("dq-data-dir").exists());
    std::fs::write(dir.path().join("notes.txt"), "mine").unwrap();
    let out = dq()
        .args(["down", "--wipe", "--data-dir", data])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let left: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(
        left,
        ["notes.txt"],
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn a_second_up_on_a_data_dir_in_use_says_so_and_never_listens() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("dq");
    let data = data.to_str().unwrap();
    let out = dq()
        .args([
            "up",
            "--detach",
            "--listen",
            "127.0.0.1:0",
            "--data-dir",
            data,
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let _down = Down(data.to_owned());
    let pid = std::fs::read_to_string(std::path::Path::new(data).join("dq.pid")).unwrap();
    let second = dq()
        .args(["up", "--listen", "127.0.0.1:0", "--data-dir", data])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&second.stderr);
    assert_eq!(second.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains(&format!(
            "data dir {data} is in use by another dq server (pid {})",
            pid.trim()
        )),
        "{stderr}"
    );
    assert!(!stderr.contains("listening"), "{stderr}");
}

#[test]
fn up_detach_records_its_url_and_down_finds_it_from_the_url() {
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("cache");
    let data = dir.path().join("dq");
    let data = data.to_str().unwrap();
    let out = dq()
        .env("XDG_CACHE_HOME", &cache)
        .args([
            "up",
            "--detach",
            "--listen",
            "127.0.0.1:0",
            "--data-dir",
            data,
        ])
        .output()
        .unwrap();
    assert_exit(&out, 0);
    let _down = Down(data.to_owned());
    let url = String::from_utf8(out.stdout).unwrap().trim_end().to_owned();
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(
        stderr.contains(&format!("`dq down --data-dir {data}`")),
        "{stderr}"
    );
    let recorded = std::fs::read_to_string(std::path::Path::new(data).join("dq.url")).unwrap();
    assert_eq!(recorded.trim_end(), url);
    // No --data-dir: the URL finds the server; --json prints a document.
    let down = dq()
        .env("XDG_CACHE_HOME", &cache)
        .env("HOME", dir.path())
        .args(["--url", &url, "down", "--json"])
        .output()
        .unwrap();
    assert_exit(&down, 0);
    let doc = parse(&down.stdout);
    assert_eq!(doc["stopped"], true, "{doc}");
    assert_eq!(doc["url"], url.as_str());
    dq().args(["--url", &url, "health"]).assert().code(5);
    assert!(!std::path::Path::new(data).join("dq.url").exists());
}

#[test]
fn a_standalone_worker_executes_runs() {
    let server = TestServer::with(|config| config.runs.workers = 0);
    let mut worker = Process::spawn(&[
        "--url",
        server.url(),
        "worker",
        "--step-delay",
        "0ms",
        "--backoff",
        "0ms",
    ]);
    let doc = server.run(&[]);
    assert_eq!(doc["status"], "succeeded");
    let failed = server.run(&["--fail", "tool_call"]);
    assert_eq!(failed["status"], "dead_lettered");
    assert!(worker.terminate().success());
}

#[test]
fn ctrl_c_while_following_exits_130() {
    // No worker: the run never ends, so only the interrupt stops `dq run`.
    let server = TestServer::with(|config| config.runs.workers = 0);
    let mut child = Process::spawn(&["--url", server.url(), "run"]);
    let mut lines = child.stderr_lines();
    let started = lines.next().expect("a note once the run started").unwrap();
    assert!(started.starts_with("run "), "{started}");
    let run = started.split_whitespace().nth(1).expect("the run id");
    child.signal(Signal::SIGINT);
    assert_eq!(child.wait().code(), Some(130));
    let rest: Vec<String> = lines.map_while(Result::ok).collect();
    let continues = format!("run {run} continues on the server: dq runs wait {run}");
    assert_eq!(rest, [continues.as_str(), "error: interrupted"]);
}

#[test]
fn up_max_topics_refuses_runs_past_the_topic_limit_with_the_limit_named() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().to_str().unwrap();
    let (mut child, url) = Process::up(&[
        "--listen",
        "127.0.0.1:0",
        "--data-dir",
        data,
        "--workers",
        "0",
        "--max-topics",
        "5",
    ]);
    // Each run makes a timeline topic besides the shared runs.* topics: a few runs reach the limit.
    let refused = (0..5)
        .map(|_| {
            dq().args(["--url", &url, "run", "--detach", "--json"])
                .output()
                .unwrap()
        })
        .find(|out| !out.status.success())
        .expect("a run past the topic limit is refused");
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(stderr.contains("max_topics"), "{stderr}");
    let status = child.terminate();
    assert!(status.success(), "{status}");
}

#[test]
fn run_without_a_worker_says_it_is_queued_and_keeps_waiting() {
    let server = TestServer::with(|config| config.runs.workers = 0);
    // --timeout bounds the wait should the note never come.
    let mut child = Process::spawn(&["--url", server.url(), "--timeout", "30s", "run"]);
    let mut lines = child.stderr_lines();
    let started = lines.next().expect("a note once the run started").unwrap();
    assert!(started.starts_with("run "), "{started}");
    let queued = lines.next().expect("the queued note").unwrap();
    assert!(
        queued.contains("is queued; no worker has taken it yet"),
        "{queued}"
    );
    // Still following: only the interrupt stops it.
    child.signal(Signal::SIGINT);
    assert_eq!(child.wait().code(), Some(130));
}
