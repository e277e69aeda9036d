//! [`JsonOrQuery`]: the request extractor of the DriftQ v1 routes. A request with a body is read as JSON, one
//! without as query parameters (DriftQ clients use both forms). Every rejection is an [`ApiError`] in the DriftQ
//! shape with a message naming the problem (and the field, when serde knows it), never axum's plain-text
//! rejections; a body over [`crate::ServerConfig::max_body_bytes`] is a 413. Field presence and ranges are the handlers' business; this module only decodes.

use axum::extract::{FromRequest, Request};
use axum::http::header;
use bytes::{Bytes, BytesMut};
use dq_proto::error::ErrorCode;
use futures::StreamExt;
use serde::de::DeserializeOwned;

use crate::AppState;
use crate::error::ApiError;

/// How far past the limit an oversized body is read (and discarded) so that its sender sees the 413.
const DRAIN_FACTOR: usize = 8;

/// A body decoded from JSON when the request has one, else from the query string.
#[derive(Debug, Clone)]
pub struct JsonOrQuery<T>(pub T);

impl<T> FromRequest<AppState> for JsonOrQuery<T>
where
    T: DeserializeOwned,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, ApiError> {
        let limit = state.config.max_body_bytes();
        let query = req.uri().query().unwrap_or_default().to_owned();
        let body = read_body(req, limit).await?;
        if body.iter().all(u8::is_ascii_whitespace) {
            from_query(&query).map(Self)
        } else {
            from_json(&body).map(Self)
        }
    }
}

/// Reads at most `limit` bytes of body. An oversized body is read on and discarded up to `DRAIN_FACTOR`
/// times the limit before the 413 is sent: a server that answers and closes while the client is still
/// uploading makes the client see a broken pipe instead of the answer.
async fn read_body(req: Request, limit: usize) -> Result<Bytes, ApiError> {
    let too_large = || {
        ApiError::new(
            ErrorCode::PayloadTooLarge,
            format!("request body is over the size limit of {limit} bytes"),
        )
    };
    let drain_limit = limit.saturating_mul(DRAIN_FACTOR);
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok()?.parse::<usize>().ok());
    if declared.is_some_and(|len| len > drain_limit) {
        return Err(too_large());
    }
    let mut stream = req.into_body().into_data_stream();
    let mut body = BytesMut::new();
    let mut seen = 0usize;
    while let Some(chunk) = stream.next().await {
        let chunk = chunk
            .map_err(|err| ApiError::invalid(format!("could not read the request body: {err}")))?;
        seen = seen.saturating_add(chunk.len());
        if seen <= limit {
            body.extend_from_slice(&chunk);
        } else if seen > drain_limit {
            break;
        }
    }
    if seen > limit {
        return Err(too_large());
    }
    Ok(body.freeze())
}

fn from_json<T: DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    // serde would also read a struct from a JSON array, by position; DriftQ bodies are objects only.
    if body.trim_ascii_start().first() != Some(&b'{') {
        return Err(ApiError::invalid(
            "invalid json body: expected a json object",
        ));
    }
    // Trailing garbage after a valid document is a malformed body too (`from_slice` checks).
    if let Ok(value) = serde_json::from_slice(body) {
        return Ok(value);
    }
    // Tracking the path costs an allocation per key: only for the error message, on a second pass.
    let mut de = serde_json::Deserializer::from_slice(body);
    let value = serde_path_to_error::deserialize(&mut de)
        .map_err(|err| ApiError::invalid(format!("invalid json body: {}", describe(&err))))?;
    de.end()
        .map_err(|err| ApiError::invalid(format!("invalid json body: {err}")))?;
    Ok(value)
}

fn from_query<T: DeserializeOwned>(query: &str) -> Result<T, ApiError> {
    if let Ok(value) = serde_urlencoded::from_str(query) {
        return Ok(value);
    }
    let de = serde_urlencoded::Deserializer::new(form_urlencoded::parse(query.as_bytes()));
    serde_path_to_error::deserialize(de)
        .map_err(|err| ApiError::invalid(format!("invalid query parameters: {}", describe(&err))))
}

/// `field: problem`, or just the problem when it concerns the whole document.
fn describe<E: std::fmt::Display>(err: &serde_path_to_error::Error<E>) -> String {
    let path = err.path().to_string();
    if path == "." || path.is_empty() {
        err.inner().to_string()
    } else {
        format!("{path}: {}", err.inner())
    }
}

#[cfg(test)]
mod tests {
    use dq_proto::broker::{CreateTopic, ProduceRequest};

    use super::*;

    #[test]
    fn json_type_errors_name_the_field() {
        let err = from_json::<CreateTopic>(br#"{"name":"t","partitions":"two"}"#).unwrap_err();
        assert_eq!(err.code(), ErrorCode::InvalidArgument);
        assert!(err.to_string().contains("partitions"), "{err}");
    }

    #[test]
    fn json_unknown_fields_are_rejected() {
        let err =
            from_json::<ProduceRequest>(br#"{"topic":"t","value":"v","bogus":1}"#).unwrap_err();
        assert!(err.to_string().contains("unknown field `bogus`"), "{err}");
    }

    #[test]
    fn json_trailing_garbage_and_non_objects_are_rejected() {
        assert!(from_json::<CreateTopic>(br#"{"name":"t"} x"#).is_err());
        let err = from_json::<CreateTopic>(br#"["t", 2]"#).unwrap_err();
        assert!(err.to_string().contains("expected a json object"), "{err}");
    }

    #[test]
    fn query_numbers_are_parsed_and_checked() {
        let ok: CreateTopic = from_query("name=t&partitions=3").unwrap();
        assert_eq!(ok.partitions, Some(3));
        let err = from_query::<CreateTopic>("name=t&partitions=x").unwrap_err();
        assert!(err.to_string().contains("partitions"), "{err}");
        assert!(from_query::<CreateTopic>("name=t&color=red").is_err());
    }
}
