//! The one wrapper every request passes through on its way to the router: it gives the request its
//! `X-Request-Id` (see `request_id`) and a tracing span, refuses it when its `Host` or `Origin` is not allowed
//! (see `guard`), sends it through CORS only when it carries an `Origin`, gives axum's bare 405 the JSON body of
//! its route family (see `fallback`), and turns a panic while answering into a 500 for that request alone, with
//! one error line naming the request id: hyper would otherwise drop the connection without an answer. (The
//! broker's locks do not poison, so nothing else is left broken. A panic while a streamed body is sent, after
//! the answer started, still only ends that connection.)
//!
//! Why one hand-written service instead of `middleware::from_fn` layers on the router: a router layer wraps
//! every route, and `from_fn` clones and boxes the inner service for each request. Three such layers had cost
//! `GET /v1/healthz` 30% of its round trips per second (`dq-bench floor`). This wrapper sits outside the
//! router, calls it in place and boxes one future per request.
//!
//! CORS only concerns browsers, and a browser sends `Origin` on every cross-origin request and preflight. A
//! request without one (the DriftQ clients, the worker, `dq` itself) gets no CORS headers, as from a server
//! without CORS. This module also owns the server's CORS set-up ([`cors_layer`]): the origins `origins`
//! allows (the same set `guard` lets write), credentials, and how long a browser may reuse a preflight's
//! answer. CORS sits here,
//! outside the router and the token check, so that a preflight is answered before routing (an `OPTIONS` route
//! would otherwise be a 405) and without credentials, which browsers never send on one.

use std::convert::Infallible;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::extract::Request;
use axum::http::header;
use axum::response::Response;
use futures::FutureExt;
use futures::future::Either;
use tower::{Layer, Service};
use tower_http::cors::{AllowHeaders, AllowMethods, AllowOrigin, CorsLayer};
use tracing::Instrument;

use crate::guard::Guard;
use crate::origins::AllowedOrigins;
use crate::{fallback, request_id};

/// How long a browser may reuse a preflight's answer (`Access-Control-Max-Age`): one preflight per route
/// every ten minutes instead of one before each of the UI's POSTs. Chromium caps it at two hours.
const CORS_MAX_AGE: Duration = Duration::from_secs(600);

/// CORS for `origins`, with credentials (as the original) and any method and header the browser asks for.
pub fn cors_layer(origins: Arc<AllowedOrigins>) -> CorsLayer {
    CorsLayer::new()
        .allow_origin(AllowOrigin::predicate(move |origin, _| {
            origin.to_str().is_ok_and(|origin| origins.allows(origin))
        }))
        .allow_methods(AllowMethods::mirror_request())
        .allow_headers(AllowHeaders::mirror_request())
        .allow_credentials(true)
        .max_age(CORS_MAX_AGE)
}

/// The router (or any service answering like it) behind the request id, the host and origin checks, CORS
/// and the 405 body. Cheap to clone (hyper clones the service for every request): the router is a handle, and
/// the CORS settings and the guard are shared.
#[derive(Clone)]
pub struct Edge<S> {
    inner: S,
    cors: Arc<CorsLayer>,
    guard: Arc<Guard>,
}

impl<S> Edge<S> {
    /// Wraps `inner`; `cors` applies to requests that carry an `Origin`, after `guard` let them through.
    pub fn new(inner: S, cors: CorsLayer, guard: Guard) -> Self {
        Self {
            inner,
            cors: Arc::new(cors),
            guard: Arc::new(guard),
        }
    }
}

impl<S> Service<Request> for Edge<S>
where
    S: Service<Request, Response = Response, Error = Infallible> + Clone + Send + 'static,
    S::Future: Send + 'static,
{
    type Response = Response;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Response, Infallible>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request) -> Self::Future {
        let id = request_id::assign(&mut req);
        let span = tracing::debug_span!(
            "request",
            id = id.to_str().unwrap_or_default(),
            method = %req.method(),
            path = %req.uri().path(),
        );
        let v1 = fallback::is_v1(req.uri());
        // For a panic's log line: the URI's clone shares its bytes, where the path's own copy cost an allocation
        // per request.
        let (method, uri) = (req.method().clone(), req.uri().clone());
        // A panic while routing (before any future exists) is caught as well as one while answering.
        let answer = std::panic::catch_unwind(AssertUnwindSafe(|| {
            if let Some(refused) = self.guard.refuse(&req) {
                Either::Left(std::future::ready(Ok(refused)))
            } else if req.headers().contains_key(header::ORIGIN) {
                // The ready inner service goes into the CORS service; a clone of it stays for the next request.
                let next = self.inner.clone();
                let inner = std::mem::replace(&mut self.inner, next);
                Either::Right(Either::Left(self.cors.layer(inner).call(req)))
            } else {
                Either::Right(Either::Right(self.inner.call(req)))
            }
        }));
        Box::pin(
            async move {
                let answered = match answer {
                    Ok(answer) => AssertUnwindSafe(answer).catch_unwind().await,
                    Err(panic) => Err(panic),
                };
                let response = match answered {
                    Ok(Ok(response)) => response,
                    Err(panic) => {
                        tracing::error!(
                            request_id = id.to_str().unwrap_or_default(),
                            %method,
                            path = uri.path(),
                            panic = panic_message(panic.as_ref()),
                            "the request's handler panicked; answered 500"
                        );
                        fallback::internal_error(v1)
                    }
                };
                let mut response = fallback::with_405_body(v1, response);
                response
                    .headers_mut()
                    .insert(request_id::X_REQUEST_ID_NAME.clone(), id);
                Ok(response)
            }
            .instrument(span),
        )
    }
}

/// The text of a panic payload (`panic!` with a literal or a format string), if it is text.
fn panic_message(panic: &(dyn std::any::Any + Send)) -> &str {
    panic
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| panic.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("(not text)")
}

#[cfg(test)]
mod tests {
    use axum::Router;
    use axum::body::Body;
    use axum::http::{HeaderMap, StatusCode};
    use axum::routing::get;
    use serde_json::Value;
    use tower::ServiceExt;

    use super::*;

    fn loopback_guard() -> Guard {
        Guard::new(
            ([127, 0, 0, 1], 8000).into(),
            &[],
            Arc::new(AllowedOrigins::new(&[], &[])),
        )
    }

    async fn boom() -> &'static str {
        panic!("a bug in a handler")
    }

    async fn send<S>(edge: &mut Edge<S>, path: &str, origin: bool) -> (StatusCode, HeaderMap, Value)
    where
        Edge<S>: Service<Request, Response = Response, Error = Infallible>,
    {
        let mut request = Request::get(path);
        if origin {
            request = request.header(header::ORIGIN, "http://localhost:3000");
        }
        let request = request.body(Body::empty()).unwrap();
        let Ok(response) = edge.ready().await.unwrap().call(request).await;
        let status = response.status();
        let headers = response.headers().clone();
        let body = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .unwrap();
        let json = serde_json::from_slice(&body).unwrap_or(Value::Null);
        (status, headers, json)
    }

    /// A panicking handler fails its own request with a 500 in the JSON body of its route family, and the
    /// same edge keeps answering the next requests.
    #[tokio::test]
    async fn a_panic_in_a_handler_is_a_500_for_that_request_only() {
        let router = Router::new()
            .route("/v1/boom", get(boom))
            .route("/runs/boom", get(boom))
            .route("/v1/healthz", get(|| async { "ok" }));
        let mut edge = Edge::new(router, CorsLayer::permissive(), loopback_guard());
        for origin in [false, true] {
            let (status, headers, body) = send(&mut edge, "/v1/boom", origin).await;
            assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
            assert_eq!(body["error"], "INTERNAL", "{body}");
            assert!(
                body["message"]
                    .as_str()
                    .unwrap()
                    .starts_with("internal error")
            );
            assert!(headers.contains_key(request_id::X_REQUEST_ID));
            let (status, _, body) = send(&mut edge, "/runs/boom", origin).await;
            assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
            assert!(
                body["detail"]
                    .as_str()
                    .unwrap()
                    .starts_with("internal error")
            );
            let (status, _, _) = send(&mut edge, "/v1/healthz", origin).await;
            assert_eq!(status, StatusCode::OK);
        }
    }

    /// A service that panics while routing, before it returns a future, is caught too.
    #[tokio::test]
    async fn a_panic_while_routing_is_a_500_too() {
        let service = tower::service_fn(|req: Request| {
            assert!(req.uri().path() != "/v1/boom", "a bug while routing");
            async { Ok::<_, Infallible>(Response::new(axum::body::Body::from("ok"))) }
        });
        let mut edge = Edge::new(service, CorsLayer::permissive(), loopback_guard());
        let (status, _, body) = send(&mut edge, "/v1/boom", false).await;
        assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(body["error"], "INTERNAL");
        let (status, _, _) = send(&mut edge, "/v1/other", false).await;
        assert_eq!(status, StatusCode::OK);
    }

    /// A preflight from an allowed origin is answered before routing (no `OPTIONS` route exists) with the
    /// origin, credentials and how long to keep the answer; one from another origin gets no CORS headers.
    #[tokio::test]
    async fn a_preflight_is_answered_for_allowed_origins_with_a_max_age() {
        let router = Router::new().route("/runs", axum::routing::post(|| async { "ok" }));
        let patterns = [r"https://[a-z0-9-]+\.preview\.example".parse().unwrap()];
        let origins = Arc::new(AllowedOrigins::new(&[], &patterns));
        let mut edge = Edge::new(router, cors_layer(origins), loopback_guard());
        for (origin, allowed) in [
            ("https://box-3000.preview.example", true),
            ("http://localhost:3000", true),
            ("https://evil.example", false),
        ] {
            let request = Request::options("/runs")
                .header(header::ORIGIN, origin)
                .header(header::ACCESS_CONTROL_REQUEST_METHOD, "POST")
                .header(header::ACCESS_CONTROL_REQUEST_HEADERS, "content-type")
                .body(Body::empty())
                .unwrap();
            let Ok(response) = edge.ready().await.unwrap().call(request).await;
            assert!(response.status().is_success(), "{origin}");
            let headers = response.headers();
            let allow = headers.get(header::ACCESS_CONTROL_ALLOW_ORIGIN);
            if allowed {
                assert_eq!(allow.unwrap(), origin);
                assert_eq!(headers[header::ACCESS_CONTROL_MAX_AGE], "600");
                assert_eq!(headers[header::ACCESS_CONTROL_ALLOW_CREDENTIALS], "true");
                assert_eq!(headers[header::ACCESS_CONTROL_ALLOW_METHODS], "POST");
            } else {
                assert!(allow.is_none(), "{origin}");
            }
        }
    }
}
