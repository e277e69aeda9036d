//! `GET /runs/{id}/events`: a run's timeline as server-sent events, as the original: `sse.connected` first,
//! `dlq.available` when the run has a DLQ record, then every event from the start, live. Each timeline
//! frame carries `id: <seq>`, so a client resumes with `Last-Event-ID` (or `?since=`) without duplicates;
//! the two markers carry no id, so they never move a client's resume point. With `?client_id=` the stream
//! resumes where the last connection with that id stopped, and shares the events with any other connection
//! open with it, each event going to one (see `cursor`).
//!
//! Each event goes out as the JSON it was stored with (see `RunsService::timeline_json`).
//!
//! A follower wakes on the service's hub for writes made in this process and polls for writes made
//! elsewhere (an external worker). It ends when the client goes away or the server shuts down.

use std::convert::Infallible;

use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, header};
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use dq_runs::now_ms;
use futures::StreamExt;
use serde::Deserialize;
use serde_json::json;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;

use super::RunsState;
use super::cursor::Cursor;
use super::error::DetailError;
use super::extract::Params;
use dq_runs::RunsError;

/// `GET /runs/{id}/events` query.
#[derive(Deserialize)]
pub struct EventsQuery {
    since: Option<u64>,
    /// The original UI's id of its browser tab (the consumer group of the original).
    client_id: Option<String>,
}

/// Opens the stream.
pub async fn events(
    State(state): State<RunsState>,
    Path(run_id): Path<String>,
    headers: HeaderMap,
    Params(query): Params<EventsQuery>,
) -> Result<Response, DetailError> {
    if !state.service.exists(&run_id).await? {
        return Err(RunsError::RunNotFound.into());
    }
    let last_event_id = headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    let resume = last_event_id.or(query.since);
    let cursor = query
        .client_id
        .filter(|id| !id.is_empty())
        .and_then(|id| state.cursors.open(&run_id, &id, resume));
    let after = cursor.as_ref().map_or(resume, Cursor::sent);
    let (tx, rx) = mpsc::channel::<Frame>(64);
    tokio::spawn(follow(state.clone(), run_id, after, tx));
    // The client id's point moves as the body takes each frame to write, not as the follower queues it: what
    // is still queued when the client leaves goes to its next connection.
    let stream = ReceiverStream::new(rx).filter_map(move |(seq, frame)| {
        let ours = match (&cursor, seq) {
            (Some(cursor), Some(seq)) => cursor.take(seq),
            _ => true,
        };
        futures::future::ready(ours.then_some(Ok::<_, Infallible>(frame)))
    });
    let sse = Sse::new(stream).keep_alive(KeepAlive::new().interval(state.keepalive));
    // `no-transform` as the original sends: a compressing proxy in front (Next.js's `/api` rewrite, whose
    // `compression` honours it) would otherwise gzip the stream and hold events back until its buffer fills.
    // `X-Accel-Buffering: no` asks nginx not to buffer it either.
    let extra = [
        (
            header::CACHE_CONTROL,
            HeaderValue::from_static("no-cache, no-transform"),
        ),
        (
            HeaderName::from_static("x-accel-buffering"),
            HeaderValue::from_static("no"),
        ),
    ];
    Ok((extra, sse).into_response())
}

/// A frame and the timeline seq it carries (`None` for the markers).
type Frame = (Option<u64>, SseEvent);

/// Feeds one stream until the client leaves or the server stops.
async fn follow(state: RunsState, run_id: String, mut after: Option<u64>, tx: mpsc::Sender<Frame>) {
    let connected = json!({"type": "sse.connected", "run_id": run_id});
    if tx
        .send((None, SseEvent::default().data(connected.to_string())))
        .await
        .is_err()
    {
        return;
    }
    if state.service.dlq_for_run(&run_id).await.is_ok() {
        let available = json!({
            "ts": now_ms(),
            "type": "dlq.available",
            "run_id": run_id,
            "hint": "DLQ record exists for this run. Use /runs/{run_id}/dlq",
        });
        if tx
            .send((None, SseEvent::default().data(available.to_string())))
            .await
            .is_err()
        {
            return;
        }
    }
    let hub = state.service.follow(&run_id);
    loop {
        // Registered before reading, so that a write between the read and the wait still wakes us.
        let woken = hub.notified();
        tokio::pin!(woken);
        woken.as_mut().enable();
        // The events as stored: no decoding and encoding again per frame.
        let items = match state.service.timeline_json(&run_id, after).await {
            Ok(items) => items,
            Err(e) => {
                tracing::warn!(run_id, "sse timeline read failed: {e}");
                return;
            }
        };
        let idle = items.is_empty();
        for (seq, data) in items {
            let frame = SseEvent::default().id(seq.to_string()).data(data);
            if tx.send((Some(seq), frame)).await.is_err() {
                return;
            }
            after = Some(seq);
        }
        if idle {
            tokio::select! {
                () = state.shutdown.cancelled() => return,
                () = tx.closed() => return,
                () = &mut woken => {}
                () = tokio::time::sleep(state.timeline_poll) => {}
            }
        } else if state.shutdown.is_cancelled() {
            return;
        }
    }
}
