//! Answers for requests that match no handler: an unknown path (404) or a known path with the wrong method
//! (405, with the `Allow` header axum sets), and for a handler that panicked (500). Under `/v1` they use the DriftQ body; elsewhere the FastAPI body
//! `{"detail": ...}` of the original starter's API, so each family of routes keeps one error shape.

use axum::Json;
use axum::http::{StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use dq_proto::error::{DetailBody, ErrorBody, ErrorCode};

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

/// Gives axum's bare 405 (no body; `Allow` already set) the JSON body of its route family; any other
/// response passes unchanged. Applied by `edge` to every response rather than through
/// `Router::method_not_allowed_fallback`, which misses routers merged with their state already applied.
pub fn with_405_body(v1: bool, response: Response) -> Response {
    if response.status() != StatusCode::METHOD_NOT_ALLOWED
        || response.headers().contains_key(header::CONTENT_TYPE)
    {
        return response;
    }
    let (mut parts, _) = response.into_parts();
    // Set for the empty body; hyper frames the new one by itself.
    parts.headers.remove(header::CONTENT_LENGTH);
    let body = if v1 {
        ApiError::new(ErrorCode::MethodNotAllowed, "method not allowed").into_response()
    } else {
        Json(DetailBody::message("Method Not Allowed")).into_response()
    };
    let (body_parts, body) = body.into_parts();
    parts.headers.extend(body_parts.headers);
    Response::from_parts(parts, body)
}

/// The 500 answered for a request whose handler panicked (see `edge`), in the body of its route family. The
/// message says nothing of the panic: that goes to the log, with the request id.
pub fn internal_error(v1: bool) -> Response {
    let message = "internal error: the request failed; the server keeps serving (see its log)";
    // Built here rather than through `ApiError`, which logs every 5xx: `edge` already logged this one.
    let body = if v1 {
        Json(ErrorBody::new(ErrorCode::Internal, message)).into_response()
    } else {
        Json(DetailBody::message(message)).into_response()
    };
    (StatusCode::INTERNAL_SERVER_ERROR, body).into_response()
}

/// Whether `uri` is under `/v1`, the DriftQ family of routes.
pub fn is_v1(uri: &Uri) -> bool {
    let path = uri.path();
    path == "/v1" || path.starts_with("/v1/")
}
