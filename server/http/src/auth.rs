//! The bearer-token check. When the server has a token, every route but the health checks and the API docs
//! requires `Authorization: Bearer <token>`; anything else is answered 401 in the DriftQ error shape. The
//! comparison is constant-time so that response timing does not reveal how much of a guess was right.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{HeaderValue, Method, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use dq_proto::error::ErrorCode;
use subtle::ConstantTimeEq;

use crate::error::ApiError;

/// Paths answered without a token, so that probes and load balancers need no secret, and the API's
/// description (nothing secret, and a browser opening `/docs` has no way to send the header).
const OPEN_PATHS: [&str; 4] = ["/v1/healthz", "/healthz", "/openapi.json", "/docs"];

/// Middleware for a server with a token (without one, [`crate::router`] leaves it out): lets the request through
/// when the route is a health check or the request carries the token.
pub async fn require_token(State(token): State<Arc<str>>, req: Request, next: Next) -> Response {
    let is_health = matches!(*req.method(), Method::GET | Method::HEAD)
        && OPEN_PATHS.contains(&req.uri().path());
    if is_health || presented(req.headers().get(header::AUTHORIZATION), &token) {
        return next.run(req).await;
    }
    let mut response = ApiError::new(
        ErrorCode::Unauthenticated,
        "missing or invalid bearer token",
    )
    .into_response();
    response
        .headers_mut()
        .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    response
}

/// Whether `authorization` is `Bearer <token>`. Only the token's length can leak through timing, which is
/// not a secret worth hiding.
fn presented(authorization: Option<&HeaderValue>, token: &str) -> bool {
    let Some(value) = authorization else {
        return false;
    };
    let bytes = value.as_bytes();
    let scheme = b"bearer ";
    if bytes.len() < scheme.len() || !bytes[..scheme.len()].eq_ignore_ascii_case(scheme) {
        return false;
    }
    let candidate = bytes[scheme.len()..].trim_ascii();
    candidate.ct_eq(token.as_bytes()).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_exact_bearer_token_passes() {
        let check = |v: &'static str| presented(Some(&HeaderValue::from_static(v)), "s3cret");
        assert!(check("Bearer s3cret"));
        assert!(check("bearer s3cret"));
        assert!(!check("Bearer s3cre"));
        assert!(!check("Bearer s3cret2"));
        assert!(!check("Basic s3cret"));
        assert!(!check("s3cret"));
        assert!(!presented(None, "s3cret"));
    }
}
