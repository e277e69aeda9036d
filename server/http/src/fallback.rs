//! Answers for requests that match no handler: an unknown path (404) or a known path with the wrong method
//! (405; axum adds the `Allow` header). Under `/v1` they use the DriftQ body; elsewhere the FastAPI body
//! `{"detail": ...}` of the original starter's API, so each family of routes keeps one error shape.

use axum::Json;
use axum::http::{StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use dq_proto::error::{DetailBody, ErrorCode};

use crate::error::ApiError;

/// Fallback for unknown paths.
pub async fn not_found(uri: Uri) -> Response {
    if is_v1(&uri) {
        ApiError::new(ErrorCode::NotFound, format!("no route for {}", uri.path())).into_response()
    } else {
        (
            StatusCode::NOT_FOUND,
            Json(DetailBody::message("Not Found")),
        )
            .into_response()
    }
}

/// Fallback for a known path asked with a method it does not serve.
pub async fn method_not_allowed(uri: Uri) -> Response {
    if is_v1(&uri) {
        ApiError::new(
            ErrorCode::MethodNotAllowed,
            format!("method not allowed on {}", uri.path()),
        )
        .into_response()
    } else {
        (
            StatusCode::METHOD_NOT_ALLOWED,
            Json(DetailBody::message("Method Not Allowed")),
        )
            .into_response()
    }
}

fn is_v1(uri: &Uri) -> bool {
    let path = uri.path();
    path == "/v1" || path.starts_with("/v1/")
}
