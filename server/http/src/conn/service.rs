//! The per-request side of a connection: [`ConnService`] puts each request body under its deadline and makes
//! each answer's body report when it is done ([`Tracked`]), and a body that misses its deadline turns the answer
//! into a 408 in the error shape of its route family.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::Json;
use axum::body::Body;
use axum::extract::Request;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use dq_proto::error::{DetailBody, ErrorCode};
use http_body::{Body as HttpBody, Frame, SizeHint};
use hyper::body::Incoming;
use tokio::time::Sleep;
use tower::Service;

use super::activity::Activity;
use crate::error::ApiError;
use crate::fallback;

/// The service hyper calls for each request of one connection: the server's service, with the request body
/// under its deadline and the answer's body reporting when it is done.
pub(super) struct ConnService<S> {
    pub(super) inner: S,
    pub(super) activity: Arc<Activity>,
    pub(super) body_timeout: Duration,
}

impl<S> hyper::service::Service<hyper::Request<Incoming>> for ConnService<S>
where
    S: Service<Request, Response = Response, Error = Infallible> + Clone + Unpin,
    S::Future: Unpin,
{
    type Response = hyper::Response<Tracked>;
    type Error = Infallible;
    type Future = Answer<S>;

    fn call(&self, req: hyper::Request<Incoming>) -> Self::Future {
        self.activity.request_started();
        let v1 = fallback::is_v1(req.uri());
        let req = req.map(|body| {
            // A request without a body (every GET) needs no timer.
            if body.is_end_stream() {
                Body::new(body)
            } else {
                Body::new(Deadline {
                    inner: body,
                    deadline: Instant::now() + self.body_timeout,
                    timeout: self.body_timeout,
                    sleep: None,
                    activity: Arc::clone(&self.activity),
                })
            }
        });
        Answer {
            state: AnswerState::Ready(self.inner.clone(), Some(req)),
            activity: Some(Arc::clone(&self.activity)),
            v1,
            body_timeout: self.body_timeout,
        }
    }
}

/// The answer to one request: waits for the service to be ready (the router always is), calls it, and turns
/// its response into a 408 when the request body missed its deadline.
pub(super) struct Answer<S: Service<Request>> {
    state: AnswerState<S>,
    activity: Option<Arc<Activity>>,
    v1: bool,
    body_timeout: Duration,
}

// The request is held inline until the first poll: boxing it would cost an allocation per request to save a
// few hundred bytes in a future that lives in one place.
#[allow(clippy::large_enum_variant)]
enum AnswerState<S: Service<Request>> {
    Ready(S, Option<Request>),
    Called(S::Future),
}

impl<S> Future for Answer<S>
where
    S: Service<Request, Response = Response, Error = Infallible> + Unpin,
    S::Future: Unpin,
{
    type Output = Result<hyper::Response<Tracked>, Infallible>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = &mut *self;
        loop {
            match &mut this.state {
                AnswerState::Ready(service, req) => {
                    let Poll::Ready(Ok(())) = service.poll_ready(cx) else {
                        return Poll::Pending;
                    };
                    let Some(req) = req.take() else {
                        return Poll::Pending;
                    };
                    this.state = AnswerState::Called(service.call(req));
                }
                AnswerState::Called(future) => {
                    let Poll::Ready(Ok(response)) = Pin::new(future).poll(cx) else {
                        return Poll::Pending;
                    };
                    let Some(activity) = this.activity.take() else {
                        return Poll::Pending;
                    };
                    let response = if activity.body_timed_out.swap(false, Ordering::Relaxed) {
                        body_timeout_response(this.v1, this.body_timeout, response)
                    } else {
                        response
                    };
                    return Poll::Ready(Ok(response.map(|inner| Tracked { inner, activity })));
                }
            }
        }
    }
}

/// The 408 that replaces the answer of a request whose body missed its deadline (the handler saw a read
/// error), in the error shape of its route family; the rest of that body will not be read, so the connection
/// closes after it.
fn body_timeout_response(v1: bool, timeout: Duration, original: Response) -> Response {
    let message = format!(
        "request body not received within the body timeout of {}",
        describe(timeout)
    );
    let answer = if v1 {
        ApiError::new(ErrorCode::RequestTimeout, message).into_response()
    } else {
        (
            StatusCode::REQUEST_TIMEOUT,
            Json(DetailBody::message(message)),
        )
            .into_response()
    };
    // Keep what the edge set on the original (the request id, CORS), not its body's framing.
    let (mut parts, _) = original.into_parts();
    parts.headers.remove(header::CONTENT_LENGTH);
    let (answer_parts, body) = answer.into_parts();
    parts.status = answer_parts.status;
    parts.headers.extend(answer_parts.headers);
    parts
        .headers
        .insert(header::CONNECTION, HeaderValue::from_static("close"));
    Response::from_parts(parts, body)
}

/// `30s`, `1500ms`.
fn describe(d: Duration) -> String {
    if d.subsec_millis() == 0 {
        format!("{}s", d.as_secs())
    } else {
        format!("{}ms", d.as_millis())
    }
}

/// Why reading a request body failed.
#[derive(Debug, thiserror::Error)]
enum BodyError {
    /// The connection failed or the client sent a malformed body.
    #[error(transparent)]
    Read(hyper::Error),
    /// The body did not arrive in time.
    #[error("request body not received within the body timeout of {}", describe(*.0))]
    TimedOut(Duration),
}

/// A request body that fails once its deadline has passed. The timer is created only if the body is not
/// already there when first read.
struct Deadline {
    inner: Incoming,
    deadline: Instant,
    timeout: Duration,
    sleep: Option<Pin<Box<Sleep>>>,
    activity: Arc<Activity>,
}

impl HttpBody for Deadline {
    type Data = Bytes;
    type Error = BodyError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BodyError>>> {
        let this = &mut *self;
        if let Poll::Ready(frame) = Pin::new(&mut this.inner).poll_frame(cx) {
            return Poll::Ready(frame.map(|frame| frame.map_err(BodyError::Read)));
        }
        let deadline = this.deadline;
        let sleep = this
            .sleep
            .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(deadline.into())));
        if sleep.as_mut().poll(cx).is_ready() {
            this.activity.body_timed_out.store(true, Ordering::Relaxed);
            return Poll::Ready(Some(Err(BodyError::TimedOut(this.timeout))));
        }
        Poll::Pending
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// An answer's body, telling the connection's [`Activity`] when it is done: hyper drops it once written
/// whole (or when the connection fails).
pub(super) struct Tracked {
    inner: Body,
    activity: Arc<Activity>,
}

impl HttpBody for Tracked {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        Pin::new(&mut self.inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

impl Drop for Tracked {
    fn drop(&mut self) {
        self.activity.response_done();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_are_described_in_whole_units() {
        assert_eq!(describe(Duration::from_secs(30)), "30s");
        assert_eq!(describe(Duration::from_millis(1500)), "1500ms");
    }
}
