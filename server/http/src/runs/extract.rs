//! Extractors that reject in the runs API's FastAPI shape instead of axum's plain text: [`Body`] for JSON
//! bodies and [`Params`] for query strings.

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{FromRequest, FromRequestParts, Query, Request};
use axum::http::StatusCode;
use axum::http::request::Parts;
use serde::de::DeserializeOwned;
use serde_json::Value;

use super::error::DetailError;

/// A JSON body. As the original's optional bodies, an empty body or `null` reads as `{}`; the content type is
/// not checked, so that `curl -d` works. Invalid JSON or a wrong shape answers 422, an oversized body 413.
pub struct Body<T>(pub T);

impl<S, T> FromRequest<S> for Body<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = DetailError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let bytes =
            Bytes::from_request(req, state)
                .await
                .map_err(|rejection: BytesRejection| {
                    let status = rejection.status();
                    if status == StatusCode::PAYLOAD_TOO_LARGE {
                        DetailError::message(status, "request body is over the size limit")
                    } else {
                        DetailError::message(status, rejection.body_text().to_lowercase())
                    }
                })?;
        let value = if bytes.iter().all(u8::is_ascii_whitespace) {
            Value::Null
        } else {
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
            other => other,
        };
        serde_json::from_value(value)
            .map(Body)
            .map_err(|e| DetailError::validation("value_error", &["body"], e.to_string()))
    }
}

/// Query parameters; a malformed one answers 422 naming the problem.
pub struct Params<T>(pub T);

impl<S, T> FromRequestParts<S> for Params<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = DetailError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        Query::<T>::from_request_parts(parts, state)
            .await
            .map(|Query(value)| Params(value))
            .map_err(|rejection| {
                DetailError::validation("value_error", &["query"], rejection.body_text())
            })
    }
}
