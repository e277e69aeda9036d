//! dq on a NATS JetStream cluster: a 3-node cluster of real `nats-server` processes on loopback (see
//! `dq_nats::testing`: the binary is `$DQ_NATS_SERVER`, else `nats-server` on PATH; `.ci/run` installs one;
//! without it these tests skip, except under `CI=true` where they fail), `dq up --broker nats://…` serving the
//! runs API, and a separate `dq worker --broker nats://…` process executing the runs with no dq server in
//! between.

use dq_nats::testing::Cluster;

use crate::util::{Printed, Process, assert_exit, dq, parse};

#[test]
fn the_story_runs_on_jetstream_with_the_worker_in_another_process() {
    let Some(cluster) = Cluster::start(3) else {
        return;
    };
    let broker = cluster.url();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().to_str().unwrap();
    // No worker in the server: every step below is executed by the other process.
    let (mut up, url) = Process::up(&[
        "--listen",
        "127.0.0.1:0",
        "--data-dir",
        data,
        "--broker",
        &broker,
        "--workers",
        "0",
    ]);
    let mut worker = Process::spawn(&[
        "worker",
        "--broker",
        &broker,
        "--step-delay",
        "0ms",
        "--backoff",
        "0ms",
    ]);

    let failed = dq()
        .args(["--url", &url, "run", "--fail", "tool_call", "--json"])
        .json();
    assert_eq!(failed["status"], "dead_lettered", "{failed}");
    let run = failed["run_id"].as_str().unwrap().to_owned();
    let dlq = dq()
        .args(["--url", &url, "dlq", "show", &run])
        .output()
        .unwrap();
    assert_exit(&dlq, 0);
    let shown = String::from_utf8(dlq.stdout).unwrap();
    assert!(shown.contains("forced failure at tool_call"), "{shown}");

    let out = dq()
        .args(["--url", &url, "replay", &run, "--fix", "--json"])
        .output()
        .unwrap();
    assert_exit(&out, 0);
    let doc = parse(&out.stdout);
    assert_eq!(doc["status"], "succeeded", "{doc}");
    assert_eq!(doc["replay_seq"], 1);

    // The timeline, written by the worker process into JetStream, read through the server: three failed
    // attempts, the dead-letter, the replay and its success, in order.
    let events = dq()
        .args(["--url", &url, "events", &run, "--json"])
        .ndjson();
    let kinds: Vec<&str> = events.iter().filter_map(|e| e["type"].as_str()).collect();
    let at = |kind: &str| kinds.iter().position(|k| *k == kind).unwrap_or(usize::MAX);
    assert_eq!(
        kinds.iter().filter(|k| **k == "run.attempt_failed").count(),
        3,
        "{kinds:?}"
    );
    assert!(at("run.dlq") < at("run.replay_requested"), "{kinds:?}");
    assert!(
        at("run.replay_requested") < at("run.succeeded"),
        "{kinds:?}"
    );
    let seqs: Vec<u64> = events.iter().filter_map(|e| e["seq"].as_u64()).collect();
    assert!(seqs.windows(2).all(|w| w[0] < w[1]), "{seqs:?}");

    assert!(worker.terminate().success());
    assert!(up.terminate().success());
}

/// Starts a run without following it; its id.
fn start(url: &str) -> String {
    let out = dq()
        .args(["--url", url, "run", "--detach"])
        .output()
        .unwrap();
    assert_exit(&out, 0);
    String::from_utf8(out.stdout).unwrap().trim_end().to_owned()
}

#[test]
fn runs_in_flight_survive_the_meta_leader_and_a_new_server_rebuilds_them_from_the_cluster() {
    let Some(mut cluster) = Cluster::start(3) else {
        return;
    };
    let broker = cluster.url();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("first");
    let (mut up, url) = Process::up(&[
        "--listen",
        "127.0.0.1:0",
        "--data-dir",
        data.to_str().unwrap(),
        "--broker",
        &broker,
        // Slow enough that most runs are still queued or running when the leader dies.
        "--step-delay",
        "500ms",
        "--backoff",
        "0ms",
    ]);
    let runs: Vec<String> = (0..40).map(|_| start(&url)).collect();
    let leader = cluster.meta_leader().expect("a meta leader");
    assert!(cluster.kill(&leader), "{leader} was running");
    for run in &runs {
        let out = dq()
            .args([
                "--url",
                &url,
                "--timeout",
                "60s",
                "runs",
                "wait",
                run,
                "--json",
            ])
            .output()
            .unwrap();
        if out.status.code() != Some(0) {
            let events = dq().args(["--url", &url, "events", run]).output().unwrap();
            panic!(
                "{run} did not succeed: {}\n{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&events.stdout)
            );
        }
        // Executed to the end once: one success in its timeline.
        let kinds: Vec<String> = dq()
            .args(["--url", &url, "events", run, "--json"])
            .ndjson()
            .iter()
            .filter_map(|e| e["type"].as_str().map(str::to_owned))
            .collect();
        let succeeded = kinds.iter().filter(|k| *k == "run.succeeded").count();
        assert_eq!(succeeded, 1, "{run}: {kinds:?}");
    }
    up.sigkill();

    // A new server with an empty data dir knows every run, with its final status, from the cluster alone.
    let empty = dir.path().join("second");
    let (mut again, url) = Process::up(&[
        "--listen",
        "127.0.0.1:0",
        "--data-dir",
        empty.to_str().unwrap(),
        "--broker",
        &broker,
        "--workers",
        "0",
    ]);
    let listed = dq()
        .args(["--url", &url, "runs", "list", "--limit", "100", "--json"])
        .json();
    let items = listed["items"].as_array().expect("items");
    assert_eq!(items.len(), runs.len(), "{listed}");
    for item in items {
        assert_eq!(item["status"], "succeeded", "{item}");
        assert!(runs.contains(&item["run_id"].as_str().unwrap().to_owned()));
    }
    assert!(again.terminate().success());
}
