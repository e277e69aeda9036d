//! The runs API's errors in the FastAPI shape of the original starter: `{"detail": "..."}`, or on 422 a list
//! of problems `{"detail": [{"type", "loc", "msg"}]}`. Runs-service errors map here by variant, so that no
//! handler picks a status by hand. A broker whose storage failed answers 507 (disk full) or 503 with
//! `Retry-After` (any other failed write), as under `/v1`.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use dq_proto::error::DetailBody;
use dq_runs::{QueueError, RunsError};
use serde_json::json;

/// A failed runs-API request.
#[derive(Debug)]
pub struct DetailError {
    status: StatusCode,
    body: DetailBody,
    /// Seconds for a `Retry-After` header.
    retry_after: Option<u64>,
}

/// `Retry-After` of a 503 for a failed write: dq exits on one and a supervisor restarts it within seconds.
const STORAGE_RETRY_AFTER_SECS: u64 = 5;

/// `Retry-After` of a 429 for too many unfinished runs: the workers end hundreds of runs a second.
const UNFINISHED_RETRY_AFTER_SECS: u64 = 1;

impl DetailError {
    /// `{"detail": message}` with `status`.
    pub fn message(status: StatusCode, message: impl Into<String>) -> Self {
        Self {
            status,
            body: DetailBody::message(message),
            retry_after: None,
        }
    }

    /// 422 with FastAPI's list of one validation problem at `loc`.
    pub fn validation(kind: &str, loc: &[&str], msg: impl Into<String>) -> Self {
        Self {
            status: StatusCode::UNPROCESSABLE_ENTITY,
            body: DetailBody {
                detail: json!([{"type": kind, "loc": loc, "msg": msg.into()}]),
            },
            retry_after: None,
        }
    }
}

impl From<RunsError> for DetailError {
    fn from(error: RunsError) -> Self {
        let message = error.to_string();
        match error {
            RunsError::RunNotFound | RunsError::NoDlqRecord => {
                Self::message(StatusCode::NOT_FOUND, message)
            }
            RunsError::UnknownWorkflow { .. } => {
                Self::validation("value_error", &["body", "workflow"], message)
            }
            RunsError::InvalidFailAt { .. } => {
                Self::validation("value_error", &["body", "fail_at"], message)
            }
            RunsError::InvalidFrom { .. } => {
                Self::validation("value_error", &["body", "from"], message)
            }
            RunsError::InvalidMaxAttempts(_) => {
                Self::validation("value_error", &["body", "max_attempts"], message)
            }
            RunsError::InvalidRunId(_) => {
                Self::validation("value_error", &["path", "run_id"], message)
            }
            RunsError::InvalidEvent { field: "", .. } => {
                Self::validation("type_error", &["body", "event"], message)
            }
            RunsError::InvalidEvent { field, .. } => {
                Self::validation("type_error", &["body", "event", field], message)
            }
            RunsError::ReplayInFlight(_) => Self::message(StatusCode::CONFLICT, message),
            RunsError::TooManyUnfinished { .. } => Self {
                retry_after: Some(UNFINISHED_RETRY_AFTER_SECS),
                ..Self::message(StatusCode::TOO_MANY_REQUESTS, message)
            },
            RunsError::InputTooLarge { .. } | RunsError::Queue(QueueError::TooLarge(_)) => {
                Self::message(StatusCode::PAYLOAD_TOO_LARGE, message)
            }
            RunsError::Queue(e) if e.is_unavailable() => {
                Self::message(StatusCode::SERVICE_UNAVAILABLE, message)
            }
            RunsError::Queue(QueueError::Storage { full: true, .. }) => {
                Self::message(StatusCode::INSUFFICIENT_STORAGE, message)
            }
            RunsError::Queue(QueueError::Storage { full: false, .. }) => Self {
                retry_after: Some(STORAGE_RETRY_AFTER_SECS),
                ..Self::message(StatusCode::SERVICE_UNAVAILABLE, message)
            },
            RunsError::Queue(QueueError::Unsupported(_)) => {
                Self::message(StatusCode::NOT_IMPLEMENTED, message)
            }
            // As the original: a broker call that failed answers 502 with what the broker said.
            RunsError::Queue(_) => Self::message(StatusCode::BAD_GATEWAY, message),
        }
    }
}

impl IntoResponse for DetailError {
    fn into_response(self) -> Response {
        let mut response = (self.status, Json(self.body)).into_response();
        if let Some(secs) = self.retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use dq_broker::{StorageCause, StorageFailure};

    use super::*;

    fn from_broker(cause: StorageCause) -> Response {
        let broker = dq_broker::Error::StorageFailed(StorageFailure {
            cause,
            dir: PathBuf::from("/data"),
            detail: "os error".into(),
        });
        DetailError::from(RunsError::Queue(dq_local::queue_error(broker))).into_response()
    }

    #[test]
    fn a_broker_with_a_full_disk_makes_runs_routes_answer_507_not_502() {
        let response = from_broker(StorageCause::DiskFull);
        assert_eq!(response.status(), StatusCode::INSUFFICIENT_STORAGE);
    }

    #[test]
    fn other_storage_failures_make_runs_routes_answer_503_with_retry_after() {
        for cause in [StorageCause::TooManyFiles, StorageCause::Io] {
            let response = from_broker(cause);
            assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
            assert_eq!(response.headers()[header::RETRY_AFTER], "5");
        }
    }
}
