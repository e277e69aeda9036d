//! SSE: the markers of the original, ids on timeline frames, resume without duplicates (by `Last-Event-ID`,
//! `?since=` or the original UI's `client_id`), and the headers that keep proxies from holding the stream.

use std::collections::BTreeMap;

use serde_json::json;

use crate::util::{Answer, Frame, GUARD, RunsApi, SseStream, TestServer, failing, sse_until};

#[tokio::test]
async fn sse_sends_connected_then_dlq_available_then_the_timeline() {
    let server = TestServer::start();
    let run_id = server.create(failing("tool_call")).await;
    server.wait_status(&run_id, 0, "dead_lettered").await;
    let frames = sse_until(
        &server,
        &format!("/runs/{run_id}/events?client_id=ui"),
        &[],
        |f| f.data["type"] == "run.failed",
    )
    .await;
    assert_eq!(
        frames[0].data,
        json!({"type": "sse.connected", "run_id": run_id})
    );
    assert_eq!(frames[0].id, None);
    assert_eq!(frames[1].data["type"], "dlq.available");
    assert_eq!(frames[1].data["run_id"], run_id.as_str());
    assert_eq!(frames[2].data["type"], "run.created");
    assert_eq!(frames[2].id, Some(0));
    let ids: Vec<u64> = frames[2..].iter().map(|f| f.id.unwrap()).collect();
    let expected: Vec<u64> = (0..ids.len() as u64).collect();
    assert_eq!(ids, expected);
}

#[tokio::test]
async fn sse_without_a_dlq_record_sends_no_dlq_marker_and_follows_live() {
    let server = TestServer::with(|c| c.runs.step_delay = std::time::Duration::from_millis(20));
    let run_id = server.create(json!({})).await;
    let frames = sse_until(&server, &format!("/runs/{run_id}/events"), &[], |f| {
        f.data["type"] == "run.succeeded"
    })
    .await;
    assert_eq!(frames[0].data["type"], "sse.connected");
    assert!(frames.iter().all(|f| f.data["type"] != "dlq.available"));
    assert_eq!(frames.len(), 1 + 12);
}

#[tokio::test]
async fn each_step_started_reaches_a_follower_before_the_steps_work_is_done() {
    // The worker writes events without waiting for each fsync and makes them durable together; before pretend
    // work it must flush (which wakes the followers), so that a live timeline shows the step that is running,
    // not every event at the end. Polling for other processes' writes is set too slow to hide a missing wake.
    let step_delay = std::time::Duration::from_millis(400);
    let server = TestServer::with(|c| {
        c.runs.step_delay = step_delay;
        c.timeline_poll = std::time::Duration::from_secs(60);
    });
    let run_id = server.create(json!({})).await;
    let frames = sse_until(&server, &format!("/runs/{run_id}/events"), &[], |f| {
        f.data["type"] == "run.succeeded"
    })
    .await;
    for step in ["fetch_input", "transform", "tool_call", "finalize"] {
        let at = |kind: &str| {
            frames
                .iter()
                .find(|f| f.data["type"] == kind && f.data["step"] == step)
                .unwrap_or_else(|| panic!("no {kind} for {step}: {frames:?}"))
                .received
        };
        let running = at("step.completed").duration_since(at("step.started"));
        assert!(
            running >= step_delay / 2,
            "{step}: step.started arrived only {running:?} before step.completed"
        );
    }
}

#[tokio::test]
async fn sse_resumes_from_last_event_id_or_since_without_duplicates() {
    let server = TestServer::start();
    let run_id = server.create(json!({})).await;
    server.wait_status(&run_id, 0, "succeeded").await;
    let path = format!("/runs/{run_id}/events");
    let all = sse_until(&server, &path, &[], |f| f.data["type"] == "run.succeeded").await;
    let timeline: Vec<_> = all.iter().filter(|f| f.id.is_some()).cloned().collect();
    let seen = &timeline[..5];
    let last = seen.last().unwrap().id.unwrap().to_string();

    for (headers, query) in [
        (vec![("last-event-id", last.as_str())], String::new()),
        (vec![], format!("?since={last}")),
    ] {
        let resumed = sse_until(&server, &format!("{path}{query}"), &headers, |f| {
            f.data["type"] == "run.succeeded"
        })
        .await;
        let rest: Vec<_> = resumed.iter().filter(|f| f.id.is_some()).collect();
        assert_eq!(rest[0].id, Some(5));
        let mut ids: Vec<u64> = seen
            .iter()
            .chain(rest.iter().copied())
            .map(|f| f.id.unwrap())
            .collect();
        let total = ids.len();
        ids.dedup();
        assert_eq!(ids.len(), total, "no duplicates");
        assert_eq!(ids.len(), timeline.len(), "nothing missing");
    }
}

/// A compressing proxy (Next.js's `/api` rewrite, nginx) must pass the stream through untouched and unbuffered,
/// or the live timeline behind it receives nothing until the proxy's buffer fills.
#[tokio::test]
async fn sse_asks_proxies_not_to_compress_or_buffer_the_stream() {
    let server = TestServer::start();
    let run_id = server.create(json!({})).await;
    let response = server
        .client()
        .get(server.url(&format!("/runs/{run_id}/events")))
        .header("accept-encoding", "gzip")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), reqwest::StatusCode::OK);
    let headers = response.headers();
    assert_eq!(headers["cache-control"], "no-cache, no-transform");
    assert_eq!(headers["x-accel-buffering"], "no");
    assert!(headers.get("content-encoding").is_none());
}

/// Two connections open at once with one `client_id` (a second "Connect SSE" in the original UI) share the
/// run's events, each going to one of them; a later connection with the id resumes after them, and another id
/// still gets the whole history.
#[tokio::test]
async fn connections_with_one_client_id_get_each_event_once_and_a_reconnect_resumes() {
    let server = TestServer::with(|c| c.runs.step_delay = std::time::Duration::from_millis(20));
    let run_id = server.create(json!({})).await;
    let path = format!("/runs/{run_id}/events?client_id=tab-1");
    let mut a = SseStream::open(&server.url(&path), &[]).await;
    let mut b = SseStream::open(&server.url(&path), &[]).await;
    // A succeeding run has 12 events (seq 0..=11). Read both until every seq has arrived once.
    let mut seen: BTreeMap<u64, usize> = BTreeMap::new();
    let deadline = tokio::time::Instant::now() + GUARD;
    while seen.len() < 12 {
        let frame: Frame = tokio::time::timeout_at(deadline, async {
            tokio::select! {
                frame = a.next() => frame,
                frame = b.next() => frame,
            }
        })
        .await
        .unwrap_or_else(|_| panic!("not every event arrived: {seen:?}"));
        if let Some(seq) = frame.id {
            *seen.entry(seq).or_default() += 1;
            assert_eq!(seen[&seq], 1, "seq {seq} was sent twice: {seen:?}");
        }
    }
    assert_eq!(
        seen.keys().copied().collect::<Vec<_>>(),
        (0..12).collect::<Vec<_>>()
    );
    drop((a, b));

    // A reconnect: the markers, then only what is new.
    let mut again = SseStream::open(&server.url(&path), &[]).await;
    let first = again.next().await;
    assert_eq!(first.data["type"], "sse.connected");
    let Answer { status, .. } = server
        .post(
            &format!("/runs/{run_id}/emit"),
            json!({"event": {"type": "demo.ping"}}),
        )
        .await;
    assert!(status.is_success());
    let next = tokio::time::timeout(GUARD, again.next()).await.unwrap();
    assert_eq!(
        (next.id, &next.data["type"]),
        (Some(12), &json!("demo.ping"))
    );

    // Another tab starts from the beginning.
    let other = sse_until(
        &server,
        &format!("/runs/{run_id}/events?client_id=tab-2"),
        &[],
        |f| f.id == Some(12),
    )
    .await;
    let ids: Vec<u64> = other.iter().filter_map(|f| f.id).collect();
    assert_eq!(ids, (0..=12).collect::<Vec<_>>());
}
