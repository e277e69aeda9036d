//! The one error type of the HTTP edges: [`ApiError`] carries a DriftQ [`ErrorCode`] and a lowercase message and
//! renders as the DriftQ v1 body `{"error": CODE, "message": text}` (plus `reason`, `retry_after_ms` and a
//! `Retry-After` header on 429). Broker errors map here by [`dq_broker::ErrorKind`], so no handler picks a
//! status code by hand.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use dq_broker::ErrorKind;
use dq_proto::error::{ErrorBody, ErrorCode};

/// A failed request, ready to be answered.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct ApiError {
    code: ErrorCode,
    message: String,
    reason: Option<String>,
    retry_after_ms: Option<u64>,
}

impl ApiError {
    /// An error with a code and a message.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
            reason: None,
            retry_after_ms: None,
        }
    }

    /// 400: the request is malformed or names something that does not exist.
    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::InvalidArgument, message)
    }

    /// The code this error answers with.
    pub fn code(&self) -> ErrorCode {
        self.code
    }
}

impl From<dq_broker::Error> for ApiError {
    fn from(err: dq_broker::Error) -> Self {
        let code = match err.kind() {
            ErrorKind::InvalidArgument => ErrorCode::InvalidArgument,
            ErrorKind::NotFound => ErrorCode::NotFound,
            ErrorKind::FailedPrecondition => ErrorCode::FailedPrecondition,
            ErrorKind::TooLarge => ErrorCode::PayloadTooLarge,
            ErrorKind::Exhausted => ErrorCode::ResourceExhausted,
            ErrorKind::Unavailable => ErrorCode::Unavailable,
            ErrorKind::Internal => ErrorCode::Internal,
        };
        let mut api = Self::new(code, err.to_string());
        if let dq_broker::Error::Exhausted {
            reason,
            retry_after_ms,
            ..
        } = err
        {
            api.reason = Some(reason);
            api.retry_after_ms = Some(retry_after_ms);
        }
        api
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status =
            StatusCode::from_u16(self.code.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        if status.is_server_error() {
            tracing::error!(code = ?self.code, message = %self.message, "request failed");
        }
        // `Retry-After` is in whole seconds; round up so that a client honouring it never retries early.
        let retry_after = self
            .retry_after_ms
            .map(|ms| HeaderValue::from(ms.div_ceil(1000).max(1)));
        let body = ErrorBody {
            error: self.code,
            message: self.message,
            reason: self.reason,
            retry_after_ms: self.retry_after_ms,
        };
        let mut response = (status, Json(body)).into_response();
        if let Some(value) = retry_after {
            response.headers_mut().insert(header::RETRY_AFTER, value);
        }
        response
    }
}
