//! The runs API of the original starter (`POST /runs`, replay, SSE events, DLQ, emit, peek, `/healthz`)
//! plus dq's additions (`GET /runs`, `GET /runs/{id}`, `GET /runs/{id}/timeline`, `GET /dlq`,
//! `GET /dlq/latest`), and its OpenAPI document and docs page (`/openapi.json`, `/docs`).
//!
//! Handlers only translate between HTTP and [`dq_runs::RunsService`]; they hold no state of their own.

mod cursor;
mod docs;
mod error;
mod extract;
mod handlers;
mod sse;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::routing::{get, post};
use dq_runs::RunsService;
use tokio_util::sync::CancellationToken;

pub use cursor::Cursors;

/// What the runs handlers reach.
#[derive(Clone)]
pub struct RunsState {
    /// The runs service.
    pub service: Arc<RunsService>,
    /// Cancelled when the server shuts down; SSE streams end on it.
    pub shutdown: CancellationToken,
    /// Idle interval after which an SSE stream sends a comment.
    pub keepalive: Duration,
    /// How often an SSE stream looks for events written by another process.
    pub timeline_poll: Duration,
    /// Largest request body read ([`crate::ServerConfig::max_body_bytes`]).
    pub max_body_bytes: usize,
    /// The SSE resume points of `client_id`s.
    pub cursors: Arc<Cursors>,
}

/// The runs routes, ready to merge into any router.
pub fn routes<S>(state: RunsState) -> Router<S>
where
    S: Clone + Send + Sync + 'static,
{
    Router::new()
        .route("/healthz", get(handlers::healthz))
        .route("/runs", post(handlers::create_run).get(handlers::list_runs))
        .route("/workflows", get(handlers::workflows))
        .route("/runs/{run_id}", get(handlers::show_run))
        .route("/runs/{run_id}/replay", post(handlers::replay))
        .route("/runs/{run_id}/events", get(sse::events))
        .route("/runs/{run_id}/timeline", get(handlers::timeline))
        .route("/runs/{run_id}/dlq", get(handlers::run_dlq))
        .route("/runs/{run_id}/emit", post(handlers::emit))
        .route("/dlq", get(handlers::list_dlq))
        .route("/dlq/latest", get(handlers::latest_dlq))
        .route("/debug/dlq/peek", get(handlers::peek_dlq))
        .route("/openapi.json", get(docs::openapi))
        .route("/docs", get(docs::page))
        .with_state(state)
}
