//! The runs API handlers other than SSE: each parses, calls the runs service and answers its value as JSON.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use dq_proto::runs::{
    CreateRun, CreateRunResponse, DlqList, DlqRecord, EmitRequest, HealthResponse, OkResponse,
    ReplayRequest, ReplayResponse, RunDetail, RunList, RunStatus, Timeline,
};
use dq_runs::DlqFilter;
use serde::Deserialize;

use super::RunsState;
use super::error::DetailError;
use super::extract::{Body, Params};

/// Listing limits: the default, and the most one request may ask for.
const DEFAULT_LIMIT: usize = 50;
const MAX_LIMIT: usize = 10_000;

type Answer<T> = Result<Json<T>, DetailError>;

fn clamp(limit: Option<usize>, default: usize) -> usize {
    limit.unwrap_or(default).min(MAX_LIMIT)
}

/// `GET /healthz`: 200 with the broker's health, or 503 naming why the broker is unhealthy.
pub async fn healthz(State(state): State<RunsState>) -> Answer<HealthResponse> {
    match state.service.health().await {
        Ok(driftq) => Ok(Json(HealthResponse { ok: true, driftq })),
        Err(e) => Err(DetailError::message(
            StatusCode::SERVICE_UNAVAILABLE,
            format!("driftq unhealthy: {e}"),
        )),
    }
}

/// `GET /workflows` (dq addition): the workflows runs may name, with their steps and policies.
pub async fn workflows(State(state): State<RunsState>) -> Json<dq_proto::workflow::WorkflowList> {
    Json(state.service.workflows())
}

/// `POST /runs`.
pub async fn create_run(
    State(state): State<RunsState>,
    Body(request): Body<CreateRun>,
) -> Answer<CreateRunResponse> {
    Ok(Json(state.service.create_run(request).await?))
}

/// `POST /runs/{id}/replay`.
pub async fn replay(
    State(state): State<RunsState>,
    Path(run_id): Path<String>,
    Body(request): Body<ReplayRequest>,
) -> Answer<ReplayResponse> {
    Ok(Json(state.service.replay(&run_id, request).await?))
}

/// `POST /runs/{id}/emit`.
pub async fn emit(
    State(state): State<RunsState>,
    Path(run_id): Path<String>,
    Body(request): Body<EmitRequest>,
) -> Answer<OkResponse> {
    state.service.emit(&run_id, request.event).await?;
    Ok(Json(OkResponse { ok: true }))
}

/// `GET /runs` query.
#[derive(Deserialize)]
pub struct ListRunsQuery {
    status: Option<String>,
    limit: Option<usize>,
    /// A page's cursor (`next`): list the runs after this one.
    after: Option<String>,
}

/// `GET /runs`: newest first.
pub async fn list_runs(
    State(state): State<RunsState>,
    Params(query): Params<ListRunsQuery>,
) -> Answer<RunList> {
    let status = query
        .status
        .as_deref()
        .map(str::parse::<RunStatus>)
        .transpose()
        .map_err(|e| DetailError::validation("value_error", &["query", "status"], e))?;
    let limit = clamp(query.limit, DEFAULT_LIMIT);
    // One more than asked: whether there is a next page.
    let (mut runs, total) = state
        .service
        .list_runs_page(status, query.after.as_deref(), limit.saturating_add(1))
        .await?;
    let next = if runs.len() > limit {
        runs.truncate(limit);
        runs.last().map(|run| run.run_id.clone())
    } else {
        None
    };
    Ok(Json(RunList {
        count: runs.len(),
        runs,
        total: Some(total),
        next,
    }))
}

/// `GET /runs/{id}`.
pub async fn show_run(
    State(state): State<RunsState>,
    Path(run_id): Path<String>,
) -> Answer<RunDetail> {
    Ok(Json(state.service.run(&run_id).await?))
}

/// `GET /runs/{id}/timeline` query: `since` = the last sequence already seen.
#[derive(Deserialize)]
pub struct TimelineQuery {
    since: Option<u64>,
}

/// `GET /runs/{id}/timeline`: the whole timeline (after `since`) as one JSON document.
pub async fn timeline(
    State(state): State<RunsState>,
    Path(run_id): Path<String>,
    Params(query): Params<TimelineQuery>,
) -> Answer<Timeline> {
    let events = state.service.timeline(&run_id, query.since).await?;
    Ok(Json(Timeline { run_id, events }))
}

/// `GET /runs/{id}/dlq`: the run's latest DLQ record.
pub async fn run_dlq(
    State(state): State<RunsState>,
    Path(run_id): Path<String>,
) -> Answer<DlqRecord> {
    Ok(Json(state.service.dlq_for_run(&run_id).await?))
}

/// `GET /dlq` query: the original filters (`run_id`, `workflow`, `limit`) and dq's (`error`: text the error
/// contains, case-insensitive; `since`: unix ms). Only runs dead-lettered now are listed, one record each.
#[derive(Deserialize)]
pub struct ListDlqQuery {
    run_id: Option<String>,
    workflow: Option<String>,
    error: Option<String>,
    since: Option<u64>,
    limit: Option<usize>,
    /// A page's cursor (`next`): list the records after this run's.
    after: Option<String>,
}

/// `GET /dlq`: DLQ records, newest first.
pub async fn list_dlq(
    State(state): State<RunsState>,
    Params(query): Params<ListDlqQuery>,
) -> Answer<DlqList> {
    if let Some(run_id) = &query.run_id {
        dq_proto::runs::validate_run_id(run_id)
            .map_err(|e| DetailError::validation("value_error", &["query", "run_id"], e))?;
    }
    let filter = DlqFilter {
        run_id: query.run_id,
        workflow: query.workflow,
        error: query.error.filter(|text| !text.is_empty()),
        since_ms: query.since,
    };
    let limit = clamp(query.limit, DEFAULT_LIMIT);
    // One record per run dead-lettered now: the run id is the cursor.
    let all = state.service.dlq_list(&filter, usize::MAX).await?;
    let total = all.len();
    let start = query
        .after
        .as_deref()
        .and_then(|after| all.iter().position(|r| r.run_id == after))
        .map_or(0, |i| i + 1);
    let items: Vec<DlqRecord> = all.into_iter().skip(start).take(limit).collect();
    let next = if start + items.len() < total {
        items.last().map(|r| r.run_id.clone())
    } else {
        None
    };
    Ok(Json(DlqList {
        count: items.len(),
        items,
        total: Some(total),
        next,
    }))
}

/// `GET /dlq/latest`: the newest DLQ record of any run.
pub async fn latest_dlq(State(state): State<RunsState>) -> Answer<DlqRecord> {
    let latest = state
        .service
        .dlq_list(&DlqFilter::default(), 1)
        .await?
        .pop();
    latest
        .map(Json)
        .ok_or_else(|| DetailError::message(StatusCode::NOT_FOUND, "no DLQ records"))
}

/// `GET /debug/dlq/peek` query.
#[derive(Deserialize)]
pub struct PeekQuery {
    limit: Option<usize>,
}

/// `GET /debug/dlq/peek?limit=5`: the oldest records, as the original.
pub async fn peek_dlq(
    State(state): State<RunsState>,
    Params(query): Params<PeekQuery>,
) -> Answer<DlqList> {
    let items = state.service.dlq_peek(clamp(query.limit, 5)).await?;
    Ok(Json(DlqList {
        count: items.len(),
        items,
        total: None,
        next: None,
    }))
}
