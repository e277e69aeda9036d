//! `GET /v1/read?topic=&partition=&from=&limit=`: a dq-only extension of DriftQ v1, a non-consuming read of
//! stored messages. The HTTP queue of dq-runs uses it for timelines and the run registry when its broker is
//! a dq server; the original driftqd lacks it (dq-runs then reads by consume and ack). Errors use the DriftQ
//! v1 shape, as the rest of `/v1`.

use axum::Json;
use axum::extract::{Query, State};
use axum::http::Uri;
use dq_proto::runs::{ReadItem, ReadResponse};
use serde::Deserialize;

use crate::AppState;
use crate::error::ApiError;

/// Most messages one read answers.
const MAX_READ: usize = 1000;

/// The query.
#[derive(Deserialize)]
pub struct ReadQuery {
    topic: Option<String>,
    partition: Option<u32>,
    from: Option<u64>,
    limit: Option<usize>,
}

/// `GET /v1/read`.
pub(super) async fn read(
    State(state): State<AppState>,
    uri: Uri,
    query: Result<Query<ReadQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<ReadResponse>, ApiError> {
    crate::extract::query_utf8(uri.query().unwrap_or_default()).map_err(ApiError::invalid)?;
    let Query(query) = query.map_err(|e| ApiError::invalid(e.body_text().to_lowercase()))?;
    let topic = query
        .topic
        .filter(|t| !t.is_empty())
        .ok_or_else(|| ApiError::invalid("topic is required"))?;
    let limit = query.limit.unwrap_or(100).min(MAX_READ);
    let messages = state
        .broker
        .read(
            &topic,
            query.partition.unwrap_or(0),
            query.from.unwrap_or(0),
            limit,
        )?
        .into_iter()
        .map(|m| ReadItem {
            partition: m.partition,
            offset: m.offset,
            key: m.key,
            value: m.value,
            produced_at_ms: m.produced_at_ms,
        })
        .collect();
    Ok(Json(ReadResponse { messages }))
}
