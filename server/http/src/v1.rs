//! The DriftQ v1 broker routes under `/v1`: health, version, topics (list, create, delete), produce, consume (an NDJSON stream), ack
//! and nack; the batch forms of produce and ack (dq additions) are in `batch`, the non-consuming read (a dq
//! addition) in `read`. Handlers check what the wire protocol makes the edge's job (presence of fields, signs and ranges
//! of numbers, the lease) and leave everything else to dq-broker; they never hold a lock across an await.

use std::time::Duration;

use axum::Json;
use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use dq_broker::{Produce, Settle, Subscription};
use dq_proto::broker::{
    AckRequest, ConsumeItem, CreateTopic, FEATURE_BATCH, Health, ProduceRequest, Produced,
    TopicCreated, TopicDeleted, TopicList, Version,
};
use dq_proto::error::ErrorCode;
use serde::Deserialize;
use tokio_util::sync::CancellationToken;

use crate::AppState;
use crate::error::ApiError;
use crate::extract::JsonOrQuery;

mod batch;
mod read;

/// Longest `delay_ms` a nack may ask for: a day. Anything longer is a bug in the client, not a plan.
const MAX_NACK_DELAY_MS: i64 = 24 * 3600 * 1000;

/// The `/v1` routes. Their fallbacks (JSON 404 / 405) are set once, by [`crate::router`].
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/v1/healthz", get(healthz))
        .route("/v1/version", get(version))
        .route("/v1/topics", get(list_topics).post(create_topic))
        .route("/v1/topics/{name}", delete(delete_topic))
        .route("/v1/produce", post(produce))
        .route("/v1/consume", get(consume))
        .route("/v1/ack", post(ack))
        .route("/v1/nack", post(nack))
        .route("/v1/read", get(read::read))
}

/// 200 `{"status": "ok"}`, or 503 naming the storage failure that makes every write fail.
async fn healthz(State(state): State<AppState>) -> Result<Json<Health>, ApiError> {
    if let Some(failure) = state.broker.storage_failure() {
        return Err(ApiError::unhealthy(&failure));
    }
    Ok(Json(Health {
        status: "ok".to_owned(),
    }))
}

async fn version(State(state): State<AppState>) -> Json<Version> {
    Json(Version {
        version: env!("CARGO_PKG_VERSION").to_owned(),
        // Set by release builds (`DQ_COMMIT=$(git rev-parse HEAD) cargo build`); a dev build has no commit.
        commit: option_env!("DQ_COMMIT").unwrap_or("unknown").to_owned(),
        wal_enabled: state.broker.durable(),
        features: vec![FEATURE_BATCH.to_owned()],
    })
}

async fn list_topics(State(state): State<AppState>) -> Json<TopicList> {
    Json(TopicList {
        topics: state.broker.topics(),
    })
}

async fn create_topic(
    State(state): State<AppState>,
    JsonOrQuery(req): JsonOrQuery<CreateTopic>,
) -> Result<(StatusCode, Json<TopicCreated>), ApiError> {
    let name = non_empty(req.name).ok_or_else(|| ApiError::invalid("name is required"))?;
    let max = state.config.broker.max_partitions;
    let partitions = match req.partitions {
        None => None,
        Some(n) => match u32::try_from(n) {
            Ok(n) if (1..=max).contains(&n) => Some(n),
            _ => {
                return Err(ApiError::invalid(format!(
                    "invalid partitions: {n} is not between 1 and {max}"
                )));
            }
        },
    };
    let info = state.broker.create_topic(&name, partitions).await?;
    // An existing topic answers 201 as well: clients "ensure" topics by creating them.
    Ok((
        StatusCode::CREATED,
        Json(TopicCreated {
            status: "created".to_owned(),
            name: info.name,
            partitions: info.partitions,
        }),
    ))
}

/// Topics the runs service creates once at start and relies on: deleting one would break every run.
const RUNS_SERVICE_TOPICS: [&str; 4] = [
    dq_proto::runs::COMMANDS_TOPIC,
    dq_proto::runs::DLQ_TOPIC,
    dq_runs::INDEX_TOPIC,
    dq_runs::ARCHIVE_TOPIC,
];

/// `DELETE /v1/topics/{name}` (a dq addition): answers once the topic's data is durably gone; 404 when there
/// is no such topic, 409 for the runs service's own topics (a run's timeline, `runs.events.<id>`, may go).
async fn delete_topic(
    State(state): State<AppState>,
    name: Result<Path<String>, PathRejection>,
) -> Result<Json<TopicDeleted>, ApiError> {
    let Path(name) = name.map_err(|e| ApiError::invalid(format!("invalid topic name: {e}")))?;
    if RUNS_SERVICE_TOPICS.contains(&name.as_str()) {
        return Err(ApiError::new(
            ErrorCode::FailedPrecondition,
            format!("topic {name:?} is used by the runs service and cannot be deleted"),
        ));
    }
    let info = state.broker.delete_topic(&name).await?;
    Ok(Json(TopicDeleted {
        status: "deleted".to_owned(),
        topic: info.name,
        partitions: info.partitions,
    }))
}

async fn produce(
    State(state): State<AppState>,
    req: Result<JsonOrQuery<ProduceRequest>, ApiError>,
) -> Result<Response, ApiError> {
    let req = match req {
        Ok(JsonOrQuery(req)) if req.messages.is_some() => {
            return Ok(batch::produce(&state, req).await?.into_response());
        }
        other => other,
    };
    let checked =
        req.and_then(
            |JsonOrQuery(req)| match (non_empty(req.topic), non_empty(req.value)) {
                (Some(topic), Some(value)) => Ok(Produce {
                    topic,
                    key: req.key,
                    value,
                    envelope: req.envelope,
                }),
                _ => Err(ApiError::invalid("topic and value are required")),
            },
        );
    let produce = checked.inspect_err(|err| match err.code() {
        ErrorCode::PayloadTooLarge => state.edge.produce_body_too_large(),
        _ => state.edge.produce_invalid(),
    })?;
    Ok(Json::<Produced>(state.broker.produce(produce).await?).into_response())
}

/// `GET /v1/consume` parameters. `lease_ms` is kept raw so that a non-number gets the same clear message from
/// a query string (where everything is text) as from a JSON body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ConsumeParams {
    #[serde(default)]
    topic: Option<String>,
    #[serde(default)]
    group: Option<String>,
    #[serde(default)]
    owner: Option<String>,
    #[serde(default)]
    lease_ms: Option<serde_json::Value>,
}

async fn consume(
    State(state): State<AppState>,
    JsonOrQuery(params): JsonOrQuery<ConsumeParams>,
) -> Result<Response, ApiError> {
    let (Some(topic), Some(group), Some(owner)) = (
        non_empty(params.topic),
        non_empty(params.group),
        non_empty(params.owner),
    ) else {
        return Err(ApiError::invalid("topic, group and owner are required"));
    };
    let lease = lease(params.lease_ms.as_ref(), state.config.broker.max_lease)?;
    // Subscribing before answering means an unknown topic is a 400, not a stream that ends at once.
    let subscription = state.broker.subscribe(&topic, &group, &owner, lease)?;
    let stream = ndjson(
        subscription,
        state.config.keepalive,
        CancellationToken::clone(&state.shutdown),
    );
    let mut response = Body::from_stream(stream).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/x-ndjson"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    // Stops reverse proxies (nginx) from buffering the stream and eating the keep-alives.
    headers.insert("x-accel-buffering", HeaderValue::from_static("no"));
    Ok(response)
}

/// `None` (the broker's default lease, 2 s) when absent; a 400 for anything but a whole number of milliseconds
/// from the broker's minimum ([`dq_broker::MIN_LEASE`], 100 ms) to `max`.
fn lease(raw: Option<&serde_json::Value>, max: Duration) -> Result<Option<Duration>, ApiError> {
    let Some(raw) = raw else {
        return Ok(None);
    };
    let ms = match raw {
        serde_json::Value::Number(n) => n.as_i64(),
        serde_json::Value::String(s) => s.trim().parse::<i64>().ok(),
        _ => None,
    };
    let min_ms = i64::try_from(dq_broker::MIN_LEASE.as_millis()).unwrap_or(i64::MAX);
    let max_ms = i64::try_from(max.as_millis()).unwrap_or(i64::MAX);
    match ms {
        Some(ms) if ms >= min_ms && ms <= max_ms => {
            Ok(Some(Duration::from_millis(ms.unsigned_abs())))
        }
        _ => Err(ApiError::invalid(format!(
            "invalid lease_ms: {raw} is not a whole number of milliseconds between {min_ms} (the minimum) and {max_ms}"
        ))),
    }
}

/// Most messages sent in one chunk of a consume stream, so that one busy stream cannot take every ready message
/// from the other streams of its group (`max_in_flight` per partition and the byte limit bound it too). 256,
/// not 32: a chunk costs one broker write and one frame however many messages it holds, and a batch
/// consumer acks what one read brought, so larger chunks also mean fewer, larger ack batches.
const MAX_CHUNK_ITEMS: usize = 256;
/// A chunk takes no further message once its values reach this many bytes.
const MAX_CHUNK_BYTES: usize = 64 * 1024;

/// One consume stream: an item per line, a blank line after each idle `keepalive`, and the end when the
/// server shuts down (or the broker ends the subscription). Messages ready at once go out together: one write
/// for many lines, and one broker write for their deliveries. Dropping the body (client gone) drops the
/// subscription, which leaves the group.
fn ndjson(
    subscription: Subscription,
    keepalive: Duration,
    shutdown: CancellationToken,
) -> impl futures::Stream<Item = Result<Bytes, serde_json::Error>> + Send + 'static {
    // The token rides in the state: cloning it per chunk took its mutex twice (clone and drop).
    futures::stream::unfold(
        (subscription, shutdown),
        move |(mut subscription, shutdown)| {
            async move {
                // Shutdown first, so that a busy stream still ends promptly.
                if shutdown.is_cancelled() {
                    return None;
                }
                // A busy stream finds its next messages at once: no timer, no wait.
                let mut items = subscription.try_next_chunk(MAX_CHUNK_ITEMS, MAX_CHUNK_BYTES);
                if items.is_empty() {
                    items = tokio::select! {
                        biased;
                        () = shutdown.cancelled() => return None,
                        items = subscription.next_chunk(MAX_CHUNK_ITEMS, MAX_CHUNK_BYTES) => items,
                        () = tokio::time::sleep(keepalive) => {
                            return Some((Ok(Bytes::from_static(b"\n")), (subscription, shutdown)));
                        }
                    };
                    if items.is_empty() {
                        return None;
                    }
                }
                Some((chunk(&items), (subscription, shutdown)))
            }
        },
    )
}

/// The lines of one chunk, serialised straight into the buffer that becomes the body's frame.
fn chunk(items: &[ConsumeItem]) -> Result<Bytes, serde_json::Error> {
    let estimate: usize = items.iter().map(|item| item.value.len() + 160).sum();
    let mut buf = Vec::with_capacity(estimate);
    for item in items {
        serde_json::to_writer(&mut buf, item)?;
        buf.push(b'\n');
    }
    Ok(Bytes::from(buf))
}

async fn ack(
    State(state): State<AppState>,
    JsonOrQuery(req): JsonOrQuery<AckRequest>,
) -> Result<StatusCode, ApiError> {
    if req.offsets.is_some() {
        batch::ack(&state.broker, req).await?;
        return Ok(StatusCode::NO_CONTENT);
    }
    state.broker.ack(settle(req)?).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn nack(
    State(state): State<AppState>,
    JsonOrQuery(mut req): JsonOrQuery<AckRequest>,
) -> Result<StatusCode, ApiError> {
    if req.offsets.is_some() {
        return Err(ApiError::invalid(
            "offsets is for ack only: nack one message at a time",
        ));
    }
    let delay = match req.delay_ms {
        None => None,
        Some(ms) if (0..=MAX_NACK_DELAY_MS).contains(&ms) => {
            Some(Duration::from_millis(ms.unsigned_abs()))
        }
        Some(ms) => {
            return Err(ApiError::invalid(format!(
                "invalid delay_ms: {ms} is not between 0 and {MAX_NACK_DELAY_MS}"
            )));
        }
    };
    let reason = req.reason.take().filter(|r| !r.is_empty());
    state.broker.nack(settle(req)?, reason, delay).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The message an ack or nack names. `reason` and `delay_ms` are the caller's business.
fn settle(req: AckRequest) -> Result<Settle, ApiError> {
    let (Some(topic), Some(group), Some(owner)) = (
        non_empty(req.topic),
        non_empty(req.group),
        non_empty(req.owner),
    ) else {
        return Err(ApiError::invalid("topic, group and owner are required"));
    };
    let (Some(partition), Some(offset)) = (req.partition, req.offset) else {
        return Err(ApiError::invalid("partition and offset are required"));
    };
    let partition = u32::try_from(partition).map_err(|_| {
        ApiError::invalid(format!(
            "invalid partition: {partition} is not a partition number"
        ))
    })?;
    let offset = u64::try_from(offset)
        .map_err(|_| ApiError::invalid(format!("invalid offset: {offset} is negative")))?;
    Ok(Settle {
        topic,
        group,
        owner,
        partition,
        offset,
    })
}

fn non_empty(value: Option<String>) -> Option<String> {
    value.filter(|v| !v.is_empty())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    const MAX: Duration = Duration::from_secs(3600);

    #[test]
    fn lease_accepts_positive_numbers_and_numeric_strings() {
        assert_eq!(lease(None, MAX).unwrap(), None);
        assert_eq!(
            lease(Some(&json!(1500)), MAX).unwrap(),
            Some(Duration::from_millis(1500))
        );
        assert_eq!(
            lease(Some(&json!("30000")), MAX).unwrap(),
            Some(Duration::from_secs(30))
        );
    }

    #[test]
    fn absurd_leases_are_rejected() {
        for raw in [
            json!(0),
            json!(-5),
            json!("soon"),
            json!(3_600_001),
            json!(1.5),
            json!(null),
        ] {
            let err = lease(Some(&raw), MAX).unwrap_err();
            assert!(
                err.to_string().starts_with("invalid lease_ms"),
                "{raw}: {err}"
            );
        }
    }

    #[test]
    fn leases_under_the_minimum_are_rejected_naming_it() {
        for raw in [json!(1), json!(99), json!("50")] {
            let err = lease(Some(&raw), MAX).unwrap_err();
            assert!(
                err.to_string()
                    .contains("between 100 (the minimum) and 3600000"),
                "{raw}: {err}"
            );
        }
        assert_eq!(
            lease(Some(&json!(100)), MAX).unwrap(),
            Some(Duration::from_millis(100))
        );
    }

    #[test]
    fn settle_rejects_negative_positions() {
        let base = AckRequest {
            topic: Some("t".into()),
            group: Some("g".into()),
            owner: Some("o".into()),
            partition: Some(0),
            offset: Some(0),
            ..AckRequest::default()
        };
        assert!(settle(base.clone()).is_ok());
        let negative_offset = AckRequest {
            offset: Some(-1),
            ..base.clone()
        };
        assert!(settle(negative_offset).is_err());
        let negative_partition = AckRequest {
            partition: Some(-1),
            ..base
        };
        assert!(settle(negative_partition).is_err());
    }
}
