//! The dashboard from the command line: `dq up` says where it is and `--open` hands it to a browser; and the
//! whole dashboard story in headless Chromium against a real `dq up`.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use dq_testkit::eventually_blocking;

use crate::util::Process;

/// How long a wait may take before the test fails instead of hanging.
const GUARD: Duration = Duration::from_secs(20);

#[test]
fn up_prints_the_dashboard_url_and_open_hands_it_to_the_browser() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let opened = dir.path().join("opened");
    // A stand-in browser that records what it was asked to open.
    let browser = dir.path().join("browser.sh");
    std::fs::write(
        &browser,
        format!("#!/bin/sh\nprintf '%s' \"$1\" > '{}'\n", opened.display()),
    )
    .unwrap();
    std::fs::set_permissions(
        &browser,
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    let mut up = Process::spawn_in(
        &[
            "up",
            "--open",
            "--listen",
            "127.0.0.1:0",
            "--data-dir",
            data.to_str().unwrap(),
        ],
        &[("BROWSER", browser.to_str().unwrap())],
    );
    let mut lines = up.stderr_lines();
    let mut listening = None;
    let dashboard = loop {
        let line = lines
            .next()
            .expect("dq up printed its lines")
            .expect("a line");
        if let Some(url) = line.strip_prefix("dq listening on ") {
            listening = Some(url.trim().to_owned());
        }
        if let Some(url) = line.strip_prefix("dashboard ") {
            break url.trim().to_owned();
        }
    };
    let listening = listening.expect("the listening line comes first");
    assert_eq!(dashboard, format!("{listening}/"));
    eventually_blocking(
        &format!("the browser to be asked to open {dashboard}"),
        GUARD,
        || {
            let asked = std::fs::read_to_string(&opened).unwrap_or_default();
            if asked == dashboard {
                Ok(())
            } else {
                Err(asked)
            }
        },
    );
    assert!(up.terminate().success());
}

/// The dashboard in headless Chromium: `tests/browser/dashboard.test.mjs` (node + playwright-core) against a
/// real `dq up` process, with a `dq worker` started when the script asks for it (see the script's header).
///
/// Needs what `.ci/run` installs: Debian's `chromium` at `/usr/bin/chromium` (or `DQ_CHROMIUM`), `node` on
/// `PATH` and `npm ci` done in `tests/browser/`. Without them the test is skipped with a note, except under
/// `CI=true`, where it fails. Screenshots go to `target/dashboard-screenshots/` (or `DQ_SCREENSHOTS`), printed,
/// with `failure.png` when a step failed; `DQ_UPDATE_SCREENSHOT=1` copies the Run page's (`readme.png`) into `docs/dashboard.png`, the README's.
#[test]
fn the_dashboard_in_headless_chromium() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let script_dir = root.join("tests/browser");
    let chromium = std::env::var("DQ_CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".to_owned());
    let missing: Vec<&str> = [
        (!std::path::Path::new(&chromium).exists()).then_some("chromium"),
        (!script_dir.join("node_modules/playwright-core").exists())
            .then_some("playwright-core (npm ci in tests/browser)"),
        (Command::new("node").arg("--version").output().is_err()).then_some("node"),
    ]
    .into_iter()
    .flatten()
    .collect();
    if !missing.is_empty() {
        let note = format!("the browser test needs {}", missing.join(", "));
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "{note}: .ci/run installs them"
        );
        eprintln!("skipped: {note}");
        return;
    }
    let shots = std::env::var("DQ_SCREENSHOTS")
        .map_or_else(|_| root.join("target/dashboard-screenshots"), PathBuf::from);
    println!("screenshots in {}", shots.display());

    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().to_str().unwrap();
    let (mut up, url) = Process::up(&[
        "--listen",
        "127.0.0.1:0",
        "--data-dir",
        data,
        "--workers",
        "0",
    ]);
    // A second server with a token, for the login.
    let token_dir = tempfile::tempdir().unwrap();
    let (mut guarded, token_url) = Process::up(&[
        "--listen",
        "127.0.0.1:0",
        "--data-dir",
        token_dir.path().to_str().unwrap(),
        "--token",
        BROWSER_TOKEN,
        "--step-delay",
        "20ms",
    ]);
    let mut node = Command::new("node")
        .arg(script_dir.join("dashboard.test.mjs"))
        .arg(&url)
        .arg(&shots)
        .arg(&token_url)
        .env("DQ_CHROMIUM", &chromium)
        .env("DQ_BROWSER_TOKEN", BROWSER_TOKEN)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("node starts");
    let stdout = node.stdout.take().expect("stdout");
    let stderr = node.stderr.take().expect("stderr");
    let (lines, received) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if lines.send(line).is_err() {
                return;
            }
        }
    });
    let errors = std::thread::spawn(move || std::io::read_to_string(stderr).unwrap_or_default());

    let mut worker = None;
    let deadline = Instant::now() + BROWSER_GUARD;
    loop {
        match received.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
            Ok(line) if line == "need-worker" => {
                let mut started = Process::spawn(&[
                    "--url",
                    &url,
                    "worker",
                    "--step-delay",
                    "100ms",
                    "--backoff",
                    "100ms",
                ]);
                // Drained, so that the worker never blocks on a full pipe.
                let lines = started.stderr_lines();
                std::thread::spawn(move || lines.count());
                worker = Some(started);
            }
            Ok(line) => println!("{line}"),
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
            Err(mpsc::RecvTimeoutError::Timeout) => {
                let _ = node.kill();
                let _ = node.wait();
                panic!("the browser test took longer than {BROWSER_GUARD:?}");
            }
        }
    }
    let status = node.wait().expect("node exits");
    let errors = errors.join().unwrap_or_default();
    drop(worker);
    assert!(up.terminate().success());
    assert!(guarded.terminate().success());
    assert!(
        status.success(),
        "the browser test failed ({status}):\n{errors}"
    );
    if std::env::var_os("DQ_UPDATE_SCREENSHOT").is_some() {
        std::fs::create_dir_all(root.join("docs")).unwrap();
        std::fs::copy(shots.join("readme.png"), root.join("docs/dashboard.png")).unwrap();
    }
}

/// The token of the second server, which the browser logs in to.
const BROWSER_TOKEN: &str = "browser-test-token-0123";

/// The browser test's own watchdog is shorter; this one only keeps a stuck `node` from hanging the suite.
const BROWSER_GUARD: Duration = Duration::from_secs(180);
