//! The batch forms of `POST /v1/produce` (`"messages": [...]`) and `POST /v1/ack` (`"offsets": [...]`), dq
//! additions to DriftQ v1: each is stored all or none by dq-broker and answered once durable. This module
//! checks what is the edge's job (presence, signs, the batch size limit, not mixing the single and batch
//! forms) with errors naming the message's index, and leaves the rest to the broker.

use axum::Json;
use dq_broker::{AckBatch, Broker, MAX_BATCH, Produce};
use dq_proto::broker::{AckPosition, AckRequest, ProduceRequest, ProducedBatch};
use dq_proto::error::ErrorCode;

use super::non_empty;
use crate::AppState;
use crate::error::ApiError;

/// The batch form of produce; `req.messages` is set.
pub(super) async fn produce(
    state: &AppState,
    req: ProduceRequest,
) -> Result<Json<ProducedBatch>, ApiError> {
    let messages = produce_batch(req).inspect_err(|err| match err.code() {
        ErrorCode::PayloadTooLarge => state.edge.produce_body_too_large(),
        _ => state.edge.produce_invalid(),
    })?;
    let produced = state.broker.produce_batch(messages).await?;
    Ok(Json(ProducedBatch {
        status: "produced".to_owned(),
        messages: produced,
    }))
}

fn produce_batch(req: ProduceRequest) -> Result<Vec<Produce>, ApiError> {
    if req.key.is_some() || req.value.is_some() || req.envelope.is_some() {
        return Err(ApiError::invalid(
            "a batch takes key, value and envelope per message in messages, not at the top",
        ));
    }
    let topic = non_empty(req.topic).ok_or_else(|| ApiError::invalid("topic is required"))?;
    let messages = req.messages.unwrap_or_default();
    check_count("messages", messages.len())?;
    messages
        .into_iter()
        .enumerate()
        .map(|(idx, m)| {
            let value = non_empty(m.value)
                .ok_or_else(|| ApiError::invalid(format!("messages[{idx}]: value is required")))?;
            Ok(Produce {
                topic: topic.clone(),
                key: m.key,
                value,
                envelope: m.envelope,
            })
        })
        .collect()
}

/// The batch form of ack; `req.offsets` is set.
pub(super) async fn ack(broker: &Broker, req: AckRequest) -> Result<(), ApiError> {
    broker.ack_batch(ack_batch(req)?).await?;
    Ok(())
}

fn ack_batch(req: AckRequest) -> Result<AckBatch, ApiError> {
    if req.offset.is_some() {
        return Err(ApiError::invalid(
            "give offset (one message) or offsets (a batch), not both",
        ));
    }
    let (Some(topic), Some(group), Some(owner)) = (
        non_empty(req.topic),
        non_empty(req.group),
        non_empty(req.owner),
    ) else {
        return Err(ApiError::invalid("topic, group and owner are required"));
    };
    let offsets = req.offsets.unwrap_or_default();
    check_count("offsets", offsets.len())?;
    let positions = offsets
        .into_iter()
        .enumerate()
        .map(|(idx, position)| {
            let (partition, offset) = match position {
                AckPosition::Offset(offset) => (
                    req.partition.ok_or_else(|| {
                        ApiError::invalid(format!(
                            "offsets[{idx}]: a bare offset needs the request's partition"
                        ))
                    })?,
                    offset,
                ),
                AckPosition::At { partition, offset } => (partition, offset),
            };
            match (u32::try_from(partition), u64::try_from(offset)) {
                (Ok(p), Ok(o)) => Ok((p, o)),
                _ => Err(ApiError::invalid(format!(
                    "offsets[{idx}]: partition {partition} offset {offset} is not a position"
                ))),
            }
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(AckBatch {
        topic,
        group,
        owner,
        positions,
    })
}

/// 400 for an empty batch, 413 for one over [`MAX_BATCH`].
fn check_count(field: &str, count: usize) -> Result<(), ApiError> {
    if count == 0 {
        return Err(ApiError::invalid(format!(
            "{field} is empty: a batch needs at least one item"
        )));
    }
    if count > MAX_BATCH {
        return Err(ApiError::new(
            ErrorCode::PayloadTooLarge,
            format!("{field} holds {count} items, over the limit of {MAX_BATCH} per request"),
        ));
    }
    Ok(())
}
