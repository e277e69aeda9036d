//! The bearer-token check. When the server has a token, every route but the health checks, the API docs (and
//! the dashboard's login page and static assets) requires `Authorization: Bearer <token>` or the dashboard's
//! session cookie; anything else is answered 401 in the DriftQ error shape, except a dashboard page, which
//! redirects to the login form. The comparisons are constant-time so that response timing does not reveal how
//! much of a guess was right.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, Uri, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use dq_proto::error::ErrorCode;
use subtle::ConstantTimeEq;

use crate::error::ApiError;

/// Paths answered without a token, so that probes and load balancers need no secret, and the API's
/// description (nothing secret, and a browser opening `/docs` has no way to send the header).
const OPEN_PATHS: [&str; 4] = ["/v1/healthz", "/healthz", "/openapi.json", "/docs"];

/// The name of the dashboard's session cookie.
pub const SESSION_COOKIE: &str = "dq_session";

/// What web pages behind the token tell the check (the dashboard's, given by the crate root so that this
/// module names none of them).
#[derive(Debug, Clone, Copy)]
pub struct Pages {
    /// Whether a request needs no credentials (the login form, the assets it uses).
    pub is_open: fn(&Method, &str) -> bool,
    /// Whether a path is a page a browser navigates to: without credentials it is sent to the login form.
    pub is_page: fn(&str) -> bool,
    /// The login form's address, returning to the page asked for.
    pub login: fn(&Uri) -> String,
}

/// What a request may present: the server's token, or the session value the dashboard's login hands out.
#[derive(Debug)]
pub struct Credentials {
    token: Box<str>,
    /// Random per server process, so that the cookie never holds the token itself: a copied cookie is worth
    /// nothing once the server restarts, and the token never reaches the browser's storage.
    session: Box<str>,
    pages: Pages,
}

impl Credentials {
    /// The credentials of a server with `token`, whose login form and pages `pages` describes.
    pub fn new(token: &str, pages: Pages) -> Self {
        let session = format!(
            "{}{}",
            uuid::Uuid::new_v4().simple(),
            uuid::Uuid::new_v4().simple()
        );
        Self {
            token: token.into(),
            session: session.into(),
            pages,
        }
    }

    /// Whether `candidate` is the token.
    pub fn is_token(&self, candidate: &str) -> bool {
        candidate.as_bytes().ct_eq(self.token.as_bytes()).into()
    }

    /// The session cookie's value.
    pub fn session(&self) -> &str {
        &self.session
    }

    /// Whether `headers` carry the token or the session cookie.
    fn admits(&self, headers: &HeaderMap) -> bool {
        presented(headers.get(header::AUTHORIZATION), &self.token)
            || session_cookie(headers)
                .is_some_and(|value| value.as_bytes().ct_eq(self.session.as_bytes()).into())
    }
}

/// Middleware for a server with a token (without one, [`crate::router`] leaves it out): lets the request through
/// when the route is open or the request carries the token or the session cookie.
pub async fn require_token(
    State(credentials): State<Arc<Credentials>>,
    req: Request,
    next: Next,
) -> Response {
    let path = req.uri().path();
    let reading = matches!(*req.method(), Method::GET | Method::HEAD);
    let pages = credentials.pages;
    let open = (reading && OPEN_PATHS.contains(&path)) || (pages.is_open)(req.method(), path);
    if open || credentials.admits(req.headers()) {
        return next.run(req).await;
    }
    if reading && (pages.is_page)(path) {
        return Redirect::to(&(pages.login)(req.uri())).into_response();
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

/// The value of the session cookie, when the request has one.
fn session_cookie(headers: &HeaderMap) -> Option<&str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .find_map(|pair| {
            let (name, value) = pair.trim().split_once('=')?;
            (name == SESSION_COOKIE).then_some(value)
        })
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

    #[test]
    fn the_session_cookie_is_found_among_others() {
        let pages = Pages {
            is_open: |_, _| false,
            is_page: |_| false,
            login: |_| String::new(),
        };
        let credentials = Credentials::new("s3cret-token-0123", pages);
        let mut headers = HeaderMap::new();
        let cookie = format!("a=1; {SESSION_COOKIE}={}; b=2", credentials.session());
        headers.insert(header::COOKIE, HeaderValue::from_str(&cookie).unwrap());
        assert!(credentials.admits(&headers));
        headers.insert(
            header::COOKIE,
            HeaderValue::from_static("dq_session=s3cret-token-0123"),
        );
        assert!(!credentials.admits(&headers), "the token is not a session");
    }
}
