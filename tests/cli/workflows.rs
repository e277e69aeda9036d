//! Workflow files through the CLI: `dq up --workflows FILE` (and `dq worker`) refuses an invalid file naming its
//! line and key;
//! a real `dq up --workflows FILE` process lists them (`dq workflows list|show`, `GET /workflows`), runs one
//! (`dq run --workflow`) and replays it `--from` a middle step without running the steps before it again.

use serde_json::Value;

use crate::util::{Printed, Process, closed_port_url, dq};

/// Two steps that count their runs in files next to the workflow file; `shout` prints what `fetch` produced.
const FILE: &str = r#"
[workflows.greet]
max_attempts = 1

[[workflows.greet.steps]]
name = "fetch"
run = "echo x >> {dir}/fetch; echo '{\"name\": \"ada\"}'"
shell = true

[[workflows.greet.steps]]
name = "shout"
run = "echo x >> {dir}/shout; printf '%s' \"$DQ_STEPS\""
shell = true
timeout = "5s"
"#;

fn lines(dir: &std::path::Path, name: &str) -> usize {
    std::fs::read_to_string(dir.join(name)).map_or(0, |s| s.lines().count())
}

#[test]
fn an_invalid_workflow_file_stops_dq_up_naming_the_file_line_and_key() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("bad.toml");
    std::fs::write(
        &file,
        "[workflows.etl]\n[[workflows.etl.steps]]\nname = \"fetch\"\nsleep = \"soon\"\n",
    )
    .unwrap();
    let out = dq()
        .args(["up", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(dir.path().join("data"))
        .arg("--workflows")
        .arg(&file)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("bad.toml:4: workflows.etl.steps[0].sleep: bad duration \"soon\""),
        "{stderr}"
    );
    // `dq worker` checks the same file before it connects.
    let out = dq()
        .args(["--url", &closed_port_url(), "worker", "--workflows"])
        .arg(&file)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("bad.toml:4:"));
}

#[test]
fn dq_up_runs_the_workflows_of_its_file_and_replays_from_a_step() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("flows.toml");
    std::fs::write(&file, FILE.replace("{dir}", dir.path().to_str().unwrap())).unwrap();
    let data = dir.path().join("data");
    let (mut up, url) = Process::up(&[
        "--listen",
        "127.0.0.1:0",
        "--data-dir",
        data.to_str().unwrap(),
        "--step-delay",
        "0ms",
        "--backoff",
        "0ms",
        "--workflows",
        file.to_str().unwrap(),
    ]);
    let listed = dq()
        .args(["--url", &url, "workflows", "list", "--json"])
        .json();
    let names: Vec<&str> = listed["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["demo", "greet"]);
    let shown = dq()
        .args(["--url", &url, "workflows", "show", "greet"])
        .output()
        .unwrap();
    assert!(shown.status.success());
    let text = String::from_utf8_lossy(&shown.stdout);
    assert!(
        text.contains("fetch") && text.contains("shout") && text.contains("timeout 5000ms"),
        "{text}"
    );
    dq().args(["--url", &url, "workflows", "show", "nope"])
        .assert()
        .code(4);

    // A run that fails at the last step, then a replay --from it: fetch ran once in all.
    let failed = dq()
        .args([
            "--url",
            &url,
            "run",
            "--json",
            "--workflow",
            "greet",
            "--fail",
            "shout",
        ])
        .output()
        .unwrap();
    assert_eq!(failed.status.code(), Some(3), "dead-lettered");
    let run: Value = serde_json::from_slice(&failed.stdout).unwrap();
    let run_id = run["run_id"].as_str().unwrap();
    assert_eq!(
        (lines(dir.path(), "fetch"), lines(dir.path(), "shout")),
        (1, 0)
    );
    let replayed = dq()
        .args([
            "--url", &url, "replay", run_id, "--fix", "--from", "shout", "--json",
        ])
        .json();
    assert_eq!(replayed["status"], "succeeded", "{replayed}");
    assert_eq!(
        (lines(dir.path(), "fetch"), lines(dir.path(), "shout")),
        (1, 1)
    );
    // A step the workflow lacks is refused by the server, naming the valid ones.
    let bad = dq()
        .args(["--url", &url, "replay", run_id, "--fix", "--from", "nope"])
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(4));
    assert!(
        String::from_utf8_lossy(&bad.stderr).contains("valid steps: fetch, shout"),
        "{}",
        String::from_utf8_lossy(&bad.stderr)
    );
    up.terminate();
}
