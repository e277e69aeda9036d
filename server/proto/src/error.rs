//! Error bodies: the DriftQ v1 shape `{"error": CODE, "message": text}` used under `/v1`, and the FastAPI
//! shape `{"detail": ...}` used by the runs API of the original starter.

use serde::{Deserialize, Serialize};

/// The error codes of the DriftQ v1 protocol, each tied to one HTTP status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ErrorCode {
    /// 400: the request is malformed or names something that does not exist.
    InvalidArgument,
    /// 401: a token is required and was missing or wrong.
    Unauthenticated,
    /// 403: the request comes from a web page whose origin is not allowed to change anything.
    PermissionDenied,
    /// 404: no such route or resource.
    NotFound,
    /// 405: the route exists but not for this method.
    MethodNotAllowed,
    /// 408: the request (its body) did not arrive within the server's time limit.
    RequestTimeout,
    /// 409: the request conflicts with the current state (e.g. not the lease owner).
    FailedPrecondition,
    /// 413: the body or value is over the configured size limit.
    PayloadTooLarge,
    /// 415: the body is not JSON (its `Content-Type` says something else).
    UnsupportedMediaType,
    /// 421: the `Host` header names a host this server does not answer for (DNS rebinding).
    MisdirectedRequest,
    /// 429: a limit was reached; retry later.
    ResourceExhausted,
    /// 500: the server failed.
    Internal,
    /// 503: the server is shutting down, a dependency is down, or storage failed (with `Retry-After`).
    Unavailable,
    /// 507: a write failed because the server's disk is full (a dq addition).
    InsufficientStorage,
}

impl ErrorCode {
    /// The HTTP status code that carries this error.
    pub fn status(self) -> u16 {
        match self {
            Self::InvalidArgument => 400,
            Self::Unauthenticated => 401,
            Self::PermissionDenied => 403,
            Self::NotFound => 404,
            Self::MethodNotAllowed => 405,
            Self::RequestTimeout => 408,
            Self::FailedPrecondition => 409,
            Self::PayloadTooLarge => 413,
            Self::UnsupportedMediaType => 415,
            Self::MisdirectedRequest => 421,
            Self::ResourceExhausted => 429,
            Self::Internal => 500,
            Self::Unavailable => 503,
            Self::InsufficientStorage => 507,
        }
    }
}

/// The DriftQ v1 error body. `reason` and `retry_after_ms` are present only on 429 answers and on storage
/// failures (503 / 507, reason `disk_full`, `too_many_open_files` or `storage_failed`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    /// The machine-readable code.
    pub error: ErrorCode,
    /// A lowercase, human-readable explanation.
    pub message: String,
    /// Why a limit was hit (429), or why storage failed (503 / 507).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// How long to wait before retrying (429, 503 on a storage failure).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_after_ms: Option<u64>,
}

impl ErrorBody {
    /// An error body with a code and a message.
    pub fn new(error: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            error,
            message: message.into(),
            reason: None,
            retry_after_ms: None,
        }
    }
}

/// The FastAPI-shaped error body of the runs API: `{"detail": "..."}`, or a list of problems on 422.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DetailBody {
    /// A message, or (for validation errors) a list of objects describing each problem.
    pub detail: serde_json::Value,
}

impl DetailBody {
    /// A detail body carrying one message.
    pub fn message(text: impl Into<String>) -> Self {
        Self {
            detail: serde_json::Value::String(text.into()),
        }
    }
}
