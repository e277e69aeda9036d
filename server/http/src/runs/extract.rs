//! Extractors that reject in the runs API's FastAPI shape instead of axum's plain text: [`Body`] for JSON
//! bodies and [`Params`] for query strings. The rules are those of the `/v1` routes (see `crate::extract`):
//! a bounded read with a drain before the 413, a 415 for a body whose `Content-Type` is not JSON, a 400 for a
//! query string that is not UTF-8.

use axum::extract::{FromRequest, FromRequestParts, Query, Request};
use axum::http::StatusCode;
use axum::http::request::Parts;
use serde::de::DeserializeOwned;
use serde_json::Value;

use super::RunsState;
use super::error::DetailError;
use crate::extract::{BodyError, json_content_type, query_utf8, read_limited};

/// A JSON object body. As the original's optional bodies, an empty body or `null` reads as `{}`; any other
/// non-object (an array would otherwise fill the fields by position) answers 422, as does invalid JSON or a
/// wrong shape. A body over the limit answers 413, one with a non-JSON `Content-Type` 415 (so `curl -d`
/// needs `--json`).
pub struct Body<T>(pub T);

impl<T> FromRequest<RunsState> for Body<T>
where
    T: DeserializeOwned,
{
    type Rejection = DetailError;

    async fn from_request(req: Request, state: &RunsState) -> Result<Self, Self::Rejection> {
        let content_type = json_content_type(req.headers());
        let bytes = read_limited(req, state.max_body_bytes)
            .await
            .map_err(|err| {
                let status = match err {
                    BodyError::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
                    BodyError::Read(_) => StatusCode::BAD_REQUEST,
                };
                DetailError::message(status, err.to_string())
            })?;
        let value = if bytes.iter().all(u8::is_ascii_whitespace) {
            Value::Null
        } else {
            content_type.map_err(|message| {
                DetailError::message(StatusCode::UNSUPPORTED_MEDIA_TYPE, message)
            })?;
            serde_json::from_slice(&bytes).map_err(|e| {
                DetailError::validation(
                    "json_invalid",
                    &["body"],
                    format!("JSON decode error: {e}"),
                )
            })?
        };
        let value = match value {
            Value::Null => Value::Object(serde_json::Map::new()),
            object @ Value::Object(_) => object,
            // FastAPI's words for a body that is not an object.
            _ => {
                return Err(DetailError::validation(
                    "model_attributes_type",
                    &["body"],
                    "Input should be a valid dictionary or object to extract fields from",
                ));
            }
        };
        serde_json::from_value(value)
            .map(Body)
            .map_err(|e| DetailError::validation("value_error", &["body"], e.to_string()))
    }
}

/// Query parameters; a malformed one answers 422 naming the problem, one that is not UTF-8 400.
pub struct Params<T>(pub T);

impl<S, T> FromRequestParts<S> for Params<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = DetailError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        query_utf8(parts.uri.query().unwrap_or_default())
            .map_err(|message| DetailError::message(StatusCode::BAD_REQUEST, message))?;
        Query::<T>::from_request_parts(parts, state)
            .await
            .map(|Query(value)| Params(value))
            .map_err(|rejection| {
                DetailError::validation("value_error", &["query"], rejection.body_text())
            })
    }
}
