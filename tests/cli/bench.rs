//! `dq bench runs` and `dq bench broker`: their `--json` documents with small counts, against a server and
//! against the embedded one, and the refusal of a server on another machine without `--yes`.

use crate::util::{TestServer, assert_exit, dq, parse};

#[test]
fn bench_runs_reports_runs_per_second_latency_and_outcomes() {
    let server = TestServer::start();
    let out = server
        .dq()
        .args([
            "bench",
            "runs",
            "--json",
            "-n",
            "20",
            "-c",
            "4",
            "--fail-ratio",
            "0.25",
        ])
        .output()
        .unwrap();
    assert_exit(&out, 0);
    let doc = parse(&out.stdout);
    assert_eq!(doc["scenario"], "runs");
    assert_eq!(doc["embedded"], false);
    assert_eq!(doc["url"], server.url());
    assert_eq!(
        (doc["completed"].as_u64(), doc["errors"].as_u64()),
        (Some(20), Some(0))
    );
    assert_eq!(doc["details"]["succeeded"], 15);
    assert_eq!(
        doc["details"]["dead_lettered"], 5,
        "a quarter forced to fail"
    );
    let latency = &doc["latency"];
    assert_eq!(latency["samples"], 20);
    let p = |k: &str| latency[k].as_f64().unwrap();
    assert!(0.0 < p("p50_ms") && p("p50_ms") <= p("p90_ms") && p("p90_ms") <= p("p99_ms"));
    assert!(
        p("p99_ms") <= p("p99_9_ms") && p("p99_9_ms") <= p("max_ms"),
        "{latency}"
    );
    assert!(doc["throughput_per_s"].as_f64().unwrap() > 0.0);
}

#[test]
fn bench_broker_reports_messages_per_second_with_and_without_batches() {
    let server = TestServer::start();
    let out = server
        .dq()
        .args([
            "bench",
            "broker",
            "--json",
            "-n",
            "500",
            "--batch",
            "50",
            "--fail-ratio",
            "0.1",
        ])
        .output()
        .unwrap();
    assert_exit(&out, 0);
    let doc = parse(&out.stdout);
    assert_eq!(doc["scenario"], "broker");
    assert_eq!(
        (doc["completed"].as_u64(), doc["errors"].as_u64()),
        (Some(500), Some(0))
    );
    assert_eq!(doc["details"]["batch"], 50);
    assert_eq!(doc["details"]["produced"], 500);
    assert!(doc["details"]["nacked"].as_u64().unwrap() > 0, "{doc}");
    assert_eq!(
        doc["latency"]["samples"], 10,
        "one produce request per batch of 50"
    );
    assert!(doc["throughput_per_s"].as_f64().unwrap() > 0.0);
    let topics = tokio::runtime::Runtime::new().unwrap().block_on(async {
        let url = format!("{}/v1/topics", server.url());
        reqwest::get(url)
            .await
            .unwrap()
            .json::<serde_json::Value>()
            .await
            .unwrap()
    });
    let left: Vec<&serde_json::Value> = topics["topics"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| t.as_str().unwrap().starts_with("bench."))
        .collect();
    assert!(
        left.is_empty(),
        "the bench topic is deleted afterwards: {left:?}"
    );

    // Without --url: an embedded server, one request per message.
    let out = dq()
        .args(["bench", "broker", "--json", "-n", "200", "-c", "4"])
        .output()
        .unwrap();
    assert_exit(&out, 0);
    let doc = parse(&out.stdout);
    assert_eq!(doc["embedded"], true);
    assert_eq!(
        (doc["completed"].as_u64(), doc["errors"].as_u64()),
        (Some(200), Some(0))
    );
    assert_eq!(doc["latency"]["samples"], 200);
}

#[test]
fn bench_refuses_a_server_on_another_machine_without_yes() {
    // 192.0.2.0/24 is reserved for documentation: nothing answers there, and nothing is sent.
    let out = dq()
        .args([
            "--url",
            "http://192.0.2.1:8000",
            "bench",
            "broker",
            "-n",
            "1",
        ])
        .output()
        .unwrap();
    assert_exit(&out, 2);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("not on this machine: pass --yes"),
        "{stderr}"
    );
    let bad = dq()
        .args(["bench", "runs", "--fail-ratio", "2"])
        .output()
        .unwrap();
    assert_exit(&bad, 2);
}
