//! The dashboard from the command line: `dq up` says where it is and `--open` hands it to a browser.

use std::time::{Duration, Instant};

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
    let mut up = Process::spawn_env(
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
    let started = Instant::now();
    while std::fs::read_to_string(&opened).unwrap_or_default() != dashboard {
        assert!(
            started.elapsed() < GUARD,
            "the browser was never asked to open {dashboard}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(up.terminate().success());
}
