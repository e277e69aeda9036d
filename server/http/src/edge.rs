//! The one wrapper every request passes through on its way to the router: it gives the request its
//! `X-Request-Id` (see `request_id`) and a tracing span, refuses it when its `Host` or `Origin` is not allowed
//! (see `guard`), sends it through CORS only when it carries an `Origin`, and gives axum's bare 405 the JSON
//! body of its route family (see `fallback`).
//!
//! Why one hand-written service instead of `middleware::from_fn` layers on the router: a router layer wraps
//! every route, and `from_fn` clones and boxes the inner service for each request. Three such layers had cost
//! `GET /v1/healthz` 30% of its round trips per second (`dq-bench floor`). This wrapper sits outside the
//! router, calls it in place and boxes one future per request.
//!
//! CORS only concerns browsers, and a browser sends `Origin` on every cross-origin request and preflight. A
//! request without one (the DriftQ clients, the worker, `dq` itself) gets no CORS headers, as from a server
//! without CORS.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use axum::extract::Request;
use axum::http::header;
use axum::response::Response;
use futures::future::Either;
use tower::{Layer, Service};
use tower_http::cors::CorsLayer;
use tracing::Instrument;

use crate::guard::Guard;
use crate::{fallback, request_id};

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
        let answer = if let Some(refused) = self.guard.refuse(&req) {
            Either::Left(std::future::ready(Ok(refused)))
        } else if req.headers().contains_key(header::ORIGIN) {
            // The ready inner service goes into the CORS service; a clone of it stays for the next request.
            let next = self.inner.clone();
            let inner = std::mem::replace(&mut self.inner, next);
            Either::Right(Either::Left(self.cors.layer(inner).call(req)))
        } else {
            Either::Right(Either::Right(self.inner.call(req)))
        };
        Box::pin(
            async move {
                let Ok(response) = answer.await;
                let mut response = fallback::with_405_body(v1, response);
                response.headers_mut().insert(request_id::X_REQUEST_ID, id);
                Ok(response)
            }
            .instrument(span),
        )
    }
}
