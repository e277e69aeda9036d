//! Restarts: the runs list and the DLQ records survive a restart of the server on the same data dir, and
//! a replay after the restart continues the seq.

use serde_json::json;

use crate::util::{Answer, RunsApi, TestServer, failing};

#[tokio::test(flavor = "multi_thread")]
async fn a_restart_keeps_the_runs_list_and_the_dlq_records() {
    let mut server = TestServer::start();
    let ok_run = server.create(json!({"input": {"n": 1}})).await;
    let bad_run = server.create(failing("transform")).await;
    server.wait_status(&ok_run, 0, "succeeded").await;
    server.wait_status(&bad_run, 0, "dead_lettered").await;
    let Answer {
        json: runs_before, ..
    } = server.get("/runs").await;
    let Answer {
        json: dlq_before, ..
    } = server.get("/dlq").await;
    let Answer {
        json: detail_before,
        ..
    } = server.get(&format!("/runs/{bad_run}")).await;

    server.restart();

    let Answer {
        json: runs_after, ..
    } = server.get("/runs").await;
    let Answer {
        json: dlq_after, ..
    } = server.get("/dlq").await;
    let Answer {
        json: detail_after, ..
    } = server.get(&format!("/runs/{bad_run}")).await;
    assert_eq!(runs_after, runs_before);
    assert_eq!(dlq_after, dlq_before);
    assert_eq!(detail_after, detail_before);
    assert_eq!(runs_after["count"], 2);
    assert_eq!(dlq_after["count"], 1);

    let Answer { json: answer, .. } = server
        .post(&format!("/runs/{bad_run}/replay"), json!({"fail_at": null}))
        .await;
    assert_eq!(answer["seq"], 1);
    server.wait_status(&bad_run, 1, "succeeded").await;
}
