//! How the server's memory is held: the allocator keeps its heap in small pages, so that memory the server
//! frees can go back to the kernel instead of sitting in huge pages that one live allocation keeps resident.

use std::time::Duration;

use dq_testkit::{Process, eventually};
use serde_json::json;

const GUARD: Duration = Duration::from_secs(60);

/// Bytes of transparent huge pages mapped by process `pid` (0 where the kernel has none).
fn huge_page_kib(pid: u32) -> u64 {
    let rollup = std::fs::read_to_string(format!("/proc/{pid}/smaps_rollup")).unwrap();
    rollup
        .lines()
        .find_map(|line| line.strip_prefix("AnonHugePages:"))
        .map_or(0, |kib| {
            kib.trim().trim_end_matches("kB").trim().parse().unwrap()
        })
}

/// mimalloc asks the kernel for transparent huge pages by default: its arenas were 2 MiB pages (12 MiB of them
/// right after start), which a single live allocation keeps resident, and that cost 45 MiB of RSS in
/// `dq-bench memory`. Built without them, a busy server maps none.
#[tokio::test(flavor = "multi_thread")]
async fn the_server_heap_uses_no_transparent_huge_pages() {
    let data = tempfile::tempdir().unwrap();
    let (mut up, url) = Process::up(&[
        "--listen",
        "127.0.0.1:0",
        "--step-delay",
        "0ms",
        "--data-dir",
        data.path().to_str().unwrap(),
    ]);
    let client = reqwest::Client::new();
    let mut last = String::new();
    for _ in 0..100 {
        let created: serde_json::Value = client
            .post(format!("{url}/runs"))
            .json(&json!({"workflow": "demo", "input": {}}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        last = created["run_id"].as_str().unwrap().to_owned();
    }
    eventually("the last run to succeed", GUARD, || {
        let (client, url, last) = (client.clone(), url.clone(), last.clone());
        async move {
            let run: serde_json::Value = client
                .get(format!("{url}/runs/{last}"))
                .send()
                .await
                .map_err(|e| e.to_string())?
                .json()
                .await
                .map_err(|e| e.to_string())?;
            if run["status"] == "succeeded" {
                Ok(())
            } else {
                Err(format!("status {}", run["status"]))
            }
        }
    })
    .await;
    let huge = huge_page_kib(up.pid());
    up.terminate();
    assert_eq!(
        huge, 0,
        "KiB of transparent huge pages in the server's heap"
    );
}
