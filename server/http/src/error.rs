//! The one error type of the HTTP edges: [`ApiError`] carries a DriftQ [`ErrorCode`] and a lowercase message and
//! renders as the DriftQ v1 body `{"error": CODE, "message": text}` (plus `reason`, `retry_after_ms` and a
//! `Retry-After` header on 429 and on a storage failure's 503; a full disk is 507 with its `reason`). Broker
//! errors map here by [`dq_broker::ErrorKind`], so no handler picks a status code by hand.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use dq_broker::{ErrorKind, StorageFailure};
use dq_proto::error::{ErrorBody, ErrorCode};

/// When a client should retry after a storage failure other than a full disk: the server exits on one, and a
/// supervisor restarts it (replaying the journal) within seconds.
const STORAGE_RETRY_AFTER_MS: u64 = 5_000;

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

    /// 503 for a health check while storage has failed, naming why.
    pub fn unhealthy(failure: &StorageFailure) -> Self {
        Self {
            code: ErrorCode::Unavailable,
            message: format!(
                "{failure}; writes are refused until dq restarts ({})",
                failure.cause.advice()
            ),
            reason: Some(failure.cause.reason().to_owned()),
            retry_after_ms: Some(STORAGE_RETRY_AFTER_MS),
        }
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
            ErrorKind::Unavailable | ErrorKind::StorageFailed => ErrorCode::Unavailable,
            ErrorKind::StorageFull => ErrorCode::InsufficientStorage,
            ErrorKind::Internal => ErrorCode::Internal,
        };
        let mut api = Self::new(code, err.to_string());
        if let Some(failure) = err.storage_failure() {
            api.reason = Some(failure.cause.reason().to_owned());
            // A full disk needs someone to free space: no point in telling clients when to come back.
            if code == ErrorCode::Unavailable {
                api.retry_after_ms = Some(STORAGE_RETRY_AFTER_MS);
            }
        }
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

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use dq_broker::{StorageCause, StorageFailure};

    use super::*;

    fn failure(cause: StorageCause) -> dq_broker::Error {
        dq_broker::Error::StorageFailed(StorageFailure {
            cause,
            dir: PathBuf::from("/data"),
            detail: "No space left on device (os error 28)".into(),
        })
    }

    #[test]
    fn a_full_disk_answers_507_naming_the_disk_and_the_data_dir() {
        let api = ApiError::from(failure(StorageCause::DiskFull));
        assert_eq!(api.code(), ErrorCode::InsufficientStorage);
        assert!(
            api.to_string()
                .starts_with("storage failed: disk full in /data: No space left on device"),
            "{api}"
        );
        let response = api.into_response();
        assert_eq!(response.status(), StatusCode::INSUFFICIENT_STORAGE);
        assert!(response.headers().get(header::RETRY_AFTER).is_none());
    }

    #[test]
    fn other_storage_failures_answer_503_with_retry_after() {
        for cause in [StorageCause::TooManyFiles, StorageCause::Io] {
            let api = ApiError::from(failure(cause));
            assert_eq!(api.code(), ErrorCode::Unavailable);
            let response = api.into_response();
            assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
            assert_eq!(response.headers()[header::RETRY_AFTER], "5");
        }
    }
}
