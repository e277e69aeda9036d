//! The snapshot streams of the Runs and DLQ pages: `GET /ui/live/runs[?status=S]` and `GET /ui/live/dlq` answer
//! server-sent events whose data is the whole list (`GET /runs` / `GET /dlq` shaped), sent at once and again
//! whenever it changes. The registry has no change feed across runs (each run's timeline has its own), so a
//! stream compares a fresh listing every `timeline_poll`; settled runs cost no read, and a stream runs only
//! while a page is open.

use std::convert::Infallible;
use std::future::Future;

use axum::Json;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use dq_proto::runs::{DlqList, RunList, RunStatus};
use dq_runs::{DlqFilter, RunsError};
use futures::StreamExt;
use serde::{Deserialize, Serialize};
use serde_json::json;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;

use super::Dashboard;
use crate::runs::RunsState;

/// How many runs (and DLQ records) a page shows: the newest.
const SHOWN: usize = 200;

/// `GET /ui/live/runs` query.
#[derive(Deserialize)]
pub(super) struct RunsQuery {
    /// Only runs with this status (filtered on the server: the newest runs of a status may be older than the
    /// newest runs of all).
    status: Option<String>,
}

/// `GET /ui/live/runs[?status=S]`: the newest runs, as `GET /runs` lists them.
pub(super) async fn runs(
    State(dash): State<Dashboard>,
    Query(query): Query<RunsQuery>,
) -> Response {
    let parsed = query
        .status
        .as_deref()
        .filter(|s| !s.is_empty())
        .map(str::parse::<RunStatus>)
        .transpose();
    let status = match parsed {
        Ok(status) => status,
        Err(e) => {
            return (StatusCode::UNPROCESSABLE_ENTITY, Json(json!({"detail": e}))).into_response();
        }
    };
    stream(dash.runs, move |runs| async move {
        let (runs, total) = runs.service.list_runs_page(status, None, SHOWN).await?;
        Ok(RunList {
            count: runs.len(),
            runs,
            total: Some(total),
            next: None,
        })
    })
}

/// `GET /ui/live/dlq`: the runs dead-lettered now, as `GET /dlq` lists them.
pub(super) async fn dlq(State(dash): State<Dashboard>) -> Response {
    stream(dash.runs, |runs| async move {
        let items = runs.service.dlq_list(&DlqFilter::default(), SHOWN).await?;
        Ok(DlqList {
            count: items.len(),
            items,
            total: None,
            next: None,
        })
    })
}

/// Sends `snapshot`'s answer as a `snapshot` event whenever it differs from the last one sent, and a read
/// error as a `problem` event (once per distinct error; `error` is taken by `EventSource`'s own), until the
/// client leaves or the server stops.
fn stream<T, F, Fut>(state: RunsState, snapshot: F) -> Response
where
    T: Serialize,
    F: Fn(RunsState) -> Fut + Send + 'static,
    Fut: Future<Output = Result<T, RunsError>> + Send,
{
    let (tx, rx) = mpsc::channel::<Event>(4);
    let keepalive = state.keepalive;
    tokio::spawn(async move {
        let mut last = String::new();
        loop {
            let frame = match snapshot(state.clone()).await {
                Ok(value) => serde_json::to_string(&value).map_or_else(
                    |e| ("problem", json!({"detail": e.to_string()}).to_string()),
                    |data| ("snapshot", data),
                ),
                Err(e) => ("problem", json!({"detail": e.to_string()}).to_string()),
            };
            if frame.1 != last {
                if tx
                    .send(Event::default().event(frame.0).data(&frame.1))
                    .await
                    .is_err()
                {
                    return;
                }
                last = frame.1;
            }
            tokio::select! {
                () = state.shutdown.cancelled() => return,
                () = tx.closed() => return,
                () = tokio::time::sleep(state.timeline_poll) => {}
            }
        }
    });
    let stream = ReceiverStream::new(rx).map(Ok::<_, Infallible>);
    Sse::new(stream)
        .keep_alive(KeepAlive::new().interval(keepalive))
        .into_response()
}
