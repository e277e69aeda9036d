//! The runs API's errors in the FastAPI shape of the original starter: `{"detail": "..."}`, or on 422 a list
//! of problems `{"detail": [{"type", "loc", "msg"}]}`. Runs-service errors map here by variant, so that no
//! handler picks a status by hand.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use dq_proto::error::DetailBody;
use dq_runs::{QueueError, RunsError};
use serde_json::json;

/// A failed runs-API request.
#[derive(Debug)]
pub struct DetailError {
    status: StatusCode,
    body: DetailBody,
}

impl DetailError {
    /// `{"detail": message}` with `status`.
    pub fn message(status: StatusCode, message: impl Into<String>) -> Self {
        Self {
            status,
            body: DetailBody::message(message),
        }
    }

    /// 422 with FastAPI's list of one validation problem at `loc`.
    pub fn validation(kind: &str, loc: &[&str], msg: impl Into<String>) -> Self {
        Self {
            status: StatusCode::UNPROCESSABLE_ENTITY,
            body: DetailBody {
                detail: json!([{"type": kind, "loc": loc, "msg": msg.into()}]),
            },
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
            RunsError::InputTooLarge { .. } | RunsError::Queue(QueueError::TooLarge(_)) => {
                Self::message(StatusCode::PAYLOAD_TOO_LARGE, message)
            }
            RunsError::Queue(QueueError::Unavailable(_)) => {
                Self::message(StatusCode::SERVICE_UNAVAILABLE, message)
            }
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
        (self.status, Json(self.body)).into_response()
    }
}
