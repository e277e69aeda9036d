//! The accept loop and the life of each connection: HTTP/1 over hyper with the limits that keep a hostile or
//! broken client from holding the server's sockets and file descriptors forever. It owns:
//!
//! - the cap on open connections ([`crate::ServerConfig::max_connections`], by default below the process's fd
//!   limit, see [`default_max_connections`]): at the cap the server stops accepting (the kernel's backlog
//!   holds new clients) until a connection closes, so sockets never starve the store of file descriptors;
//! - the header timeout: a client must send a complete request head within it, counted from its connection or
//!   from its first byte after an idle keep-alive;
//! - the idle timeout: a keep-alive connection with no request in progress is closed after it, and so is one
//!   whose client has not read any of its answer (a stream's included) for that long;
//! - the body timeout: a request's whole body must arrive within it, counted from its head; past it, reading
//!   the body fails and the request is answered 408 with the error body of its route family, then closed;
//! - TCP_NODELAY, and graceful shutdown (idle connections close at once, busy ones after their answer).
//!
//! Why not `axum::serve` or hyper's own timers: `axum::serve` exposes none of these settings, and hyper's
//! `header_read_timeout` starts counting as soon as the connection waits for a head, so it cannot tell an idle
//! keep-alive (allowed `idle_timeout`) from a slow head (allowed `header_timeout`). Each connection here keeps
//! a small [`Activity`] record instead, fed by its socket (bytes read), its service (request started) and its
//! response body (answer done), and a timer in the connection's own task closes it once the record says it
//! is past its deadline. A response in progress has no deadline while its client reads it, so SSE and consume
//! streams live as long as they need.

use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::pin::{Pin, pin};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
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
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::Sleep;
use tokio_util::sync::CancellationToken;
use tower::Service;

use crate::error::ApiError;
use crate::fallback;

/// Upper bound of the default cap on open connections, whatever the fd limit.
const DEFAULT_MAX_CONNECTIONS: usize = 1024;
/// File descriptors left to the store (fjall's journals and segments), the runtime and logs at least.
const MIN_FD_HEADROOM: usize = 256;
/// The default cap never goes below this, even under a tiny fd limit.
const MIN_DEFAULT_CONNECTIONS: usize = 16;
/// How long the accept loop pauses after an accept error such as EMFILE before it tries again.
const ACCEPT_ERROR_PAUSE: Duration = Duration::from_millis(250);

/// The default cap on open connections: half the soft `RLIMIT_NOFILE` (at least 256 descriptors stay for the
/// store and the rest of the process), at most 1,024 and at least 16. A limit that cannot be read counts as
/// the usual 1,024.
pub fn default_max_connections() -> usize {
    let soft = fd_limit().unwrap_or(1024);
    let headroom = (soft / 2).max(MIN_FD_HEADROOM);
    soft.saturating_sub(headroom)
        .clamp(MIN_DEFAULT_CONNECTIONS, DEFAULT_MAX_CONNECTIONS)
}

/// The process's soft limit on open file descriptors, when it can be read.
fn fd_limit() -> Option<usize> {
    let (soft, _hard) =
        nix::sys::resource::getrlimit(nix::sys::resource::Resource::RLIMIT_NOFILE).ok()?;
    Some(usize::try_from(soft).unwrap_or(usize::MAX))
}

/// The connection limits of one server, from its [`crate::ServerConfig`].
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// See [`crate::ServerConfig::header_timeout`].
    pub header_timeout: Duration,
    /// See [`crate::ServerConfig::idle_timeout`].
    pub idle_timeout: Duration,
    /// See [`crate::ServerConfig::body_timeout`].
    pub body_timeout: Duration,
    /// See [`crate::ServerConfig::max_connections`].
    pub max_connections: usize,
}

impl Limits {
    /// The limits `config` sets, with the cap kept within what a semaphore can count.
    pub fn of(config: &crate::ServerConfig) -> Self {
        Self {
            header_timeout: config.header_timeout,
            idle_timeout: config.idle_timeout,
            body_timeout: config.body_timeout,
            max_connections: config
                .max_connections
                .clamp(1, Semaphore::MAX_PERMITS.min(u32::MAX as usize)),
        }
    }
}

/// Accepts connections on `listener` and serves each with `service` until `signal` resolves; then stops
/// accepting, shuts every connection down gracefully and returns once all are closed. Accept errors (e.g.
/// EMFILE) never end the loop: it logs them and pauses briefly.
pub async fn serve<S>(
    listener: TcpListener,
    service: S,
    limits: Limits,
    signal: impl Future<Output = ()>,
) where
    S: Service<Request, Response = Response, Error = Infallible> + Clone + Unpin + Send + 'static,
    S::Future: Unpin + Send + 'static,
{
    if fd_limit().is_some_and(|soft| limits.max_connections >= soft) {
        tracing::warn!(
            max_connections = limits.max_connections,
            "the connection cap is not below the process's open-file limit: clients can exhaust the store's file descriptors"
        );
    }
    let permits = Arc::new(Semaphore::new(limits.max_connections));
    let closing = CancellationToken::new();
    let mut signal = pin!(signal);
    // Warn once per burst: when the cap is first reached, and again only after the server got back below half
    // of it.
    let mut at_cap = false;
    loop {
        let permit = match Arc::clone(&permits).try_acquire_owned() {
            Ok(permit) => {
                if at_cap && permits.available_permits() >= limits.max_connections / 2 {
                    at_cap = false;
                }
                permit
            }
            Err(_) => {
                if !at_cap {
                    at_cap = true;
                    tracing::warn!(
                        max_connections = limits.max_connections,
                        "open connections at the cap: not accepting more until one closes"
                    );
                }
                tokio::select! {
                    permit = Arc::clone(&permits).acquire_owned() => match permit {
                        Ok(permit) => permit,
                        // The semaphore is never closed.
                        Err(_) => break,
                    },
                    () = &mut signal => break,
                }
            }
        };
        let tcp = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((tcp, _)) => tcp,
                Err(err) => {
                    accept_error(&err, &mut signal).await;
                    continue;
                }
            },
            () = &mut signal => break,
        };
        tokio::spawn(connection(
            tcp,
            service.clone(),
            limits,
            // A token of its own: the connection polls it on every wake-up, and one shared token would make
            // every connection take the same lock to do so.
            closing.child_token(),
            permit,
        ));
    }
    closing.cancel();
    // Every connection holds a permit until it is closed: all of them back means all closed.
    let all = u32::try_from(limits.max_connections).unwrap_or(u32::MAX);
    let _ = permits.acquire_many(all).await;
}

/// An accept error fails that accept only. Errors of one connection (reset before it was accepted) are not
/// worth a pause; others, such as EMFILE when the process is out of descriptors, are logged and followed by a
/// pause, so that the loop does not spin while nothing can be accepted.
async fn accept_error(err: &io::Error, signal: &mut Pin<&mut impl Future<Output = ()>>) {
    if matches!(
        err.kind(),
        io::ErrorKind::ConnectionRefused
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
    ) {
        return;
    }
    tracing::error!(error = %err, "accept failed; retrying shortly");
    tokio::select! {
        () = tokio::time::sleep(ACCEPT_ERROR_PAUSE) => {}
        // Leave the signal to the accept loop, which polls it again at once.
        () = signal.as_mut() => {}
    }
}

/// Serves one connection until it ends, times out or the server has shut it down. Holding `_permit` counts it
/// against the cap.
async fn connection<S>(
    tcp: TcpStream,
    service: S,
    limits: Limits,
    closing: CancellationToken,
    _permit: OwnedSemaphorePermit,
) where
    S: Service<Request, Response = Response, Error = Infallible> + Clone + Unpin + Send + 'static,
    S::Future: Unpin + Send + 'static,
{
    // Consume streams write a chunk whenever messages become ready: without TCP_NODELAY, Nagle's algorithm would
    // hold a chunk back until the client acknowledged the previous one.
    if let Err(err) = tcp.set_nodelay(true) {
        tracing::debug!(error = %err, "could not set TCP_NODELAY");
    }
    let activity = Arc::new(Activity::new());
    let io = TokioIo::new(Watched {
        inner: tcp,
        activity: Arc::clone(&activity),
    });
    let service = ConnService {
        inner: service,
        activity: Arc::clone(&activity),
        body_timeout: limits.body_timeout,
    };
    let mut builder = hyper::server::conn::http1::Builder::new();
    // The deadlines below replace hyper's own header timer (see the module doc).
    builder.header_read_timeout(None);
    let mut conn = pin!(builder.serve_connection(io, service));
    // While idle the timer wakes at least once per header timeout, so that a head begun between two wakes is
    // seen in time for its own deadline.
    let period = limits.header_timeout.min(limits.idle_timeout);
    let mut timer = pin!(tokio::time::sleep(period));
    let mut shutting_down = false;
    loop {
        tokio::select! {
            // The connection first: it is what wakes the task nearly every time.
            biased;
            served = conn.as_mut() => {
                if let Err(err) = served {
                    tracing::debug!(error = %err, "connection ended with an error");
                }
                break;
            }
            () = closing.cancelled(), if !shutting_down => {
                shutting_down = true;
                conn.as_mut().graceful_shutdown();
            }
            () = &mut timer => {
                let now = Instant::now();
                match activity.deadline(&limits) {
                    Some((deadline, why)) if deadline <= now => {
                        tracing::debug!("closing a connection: {why}");
                        // Dropping the connection closes the socket. Nothing is lost: no request is in progress,
                        // or its client has stopped reading the answer.
                        break;
                    }
                    Some((deadline, _)) => timer.as_mut().reset(deadline.min(now + period).into()),
                    None => timer.as_mut().reset((now + period).into()),
                }
            }
        }
    }
}

/// What one connection is doing, for its deadlines. Times are milliseconds since `epoch`. Every access comes
/// from the connection's own task (hyper polls the socket, the service and the bodies there), so relaxed
/// atomics suffice; they are atomics only because the record is shared between those parts.
struct Activity {
    epoch: Instant,
    /// Requests whose answer is not yet fully written (0 or 1 in HTTP/1).
    in_flight: AtomicUsize,
    /// When the last answer was done (or the connection opened).
    idle_since: AtomicU64,
    /// When the first byte of the next request head arrived, or [`Activity::NONE`].
    head_started: AtomicU64,
    /// Since when the socket has refused every write (the client reads nothing), or [`Activity::NONE`].
    write_blocked_since: AtomicU64,
    /// Set when a request body missed its deadline; the answer becomes a 408.
    body_timed_out: AtomicBool,
}

impl Activity {
    const NONE: u64 = u64::MAX;

    fn new() -> Self {
        Self {
            epoch: Instant::now(),
            in_flight: AtomicUsize::new(0),
            idle_since: AtomicU64::new(0),
            // A new connection owes its first request head at once: the header timeout runs from the accept.
            head_started: AtomicU64::new(0),
            write_blocked_since: AtomicU64::new(Self::NONE),
            body_timed_out: AtomicBool::new(false),
        }
    }

    fn now(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX - 1)
    }

    fn at(&self, millis: u64) -> Instant {
        self.epoch + Duration::from_millis(millis)
    }

    /// Bytes arrived from the client.
    fn on_read(&self) {
        if self.in_flight.load(Ordering::Relaxed) == 0
            && self.head_started.load(Ordering::Relaxed) == Self::NONE
        {
            self.head_started.store(self.now(), Ordering::Relaxed);
        }
    }

    /// A write to the socket was accepted (`blocked` false) or refused for lack of room (`blocked` true).
    fn on_write(&self, blocked: bool) {
        let since = self.write_blocked_since.load(Ordering::Relaxed);
        if blocked && since == Self::NONE {
            self.write_blocked_since
                .store(self.now(), Ordering::Relaxed);
        } else if !blocked && since != Self::NONE {
            self.write_blocked_since
                .store(Self::NONE, Ordering::Relaxed);
        }
    }

    /// hyper has read a whole request head and calls the service.
    fn request_started(&self) {
        self.head_started.store(Self::NONE, Ordering::Relaxed);
        self.in_flight.fetch_add(1, Ordering::Relaxed);
    }

    /// The answer's body is done (written whole, or dropped).
    fn response_done(&self) {
        self.idle_since.store(self.now(), Ordering::Relaxed);
        self.in_flight.fetch_sub(1, Ordering::Relaxed);
    }

    /// When the connection must be closed if nothing changes, and why; `None` while a request is in progress
    /// and its client reads the answer.
    fn deadline(&self, limits: &Limits) -> Option<(Instant, &'static str)> {
        let stalled = match self.write_blocked_since.load(Ordering::Relaxed) {
            Self::NONE => None,
            since => Some((
                self.at(since) + limits.idle_timeout,
                "the client read none of its answer within the idle timeout",
            )),
        };
        let waiting = if self.in_flight.load(Ordering::Relaxed) > 0 {
            None
        } else {
            match self.head_started.load(Ordering::Relaxed) {
                Self::NONE => Some((
                    self.at(self.idle_since.load(Ordering::Relaxed)) + limits.idle_timeout,
                    "idle past the idle timeout",
                )),
                started => Some((
                    self.at(started) + limits.header_timeout,
                    "no complete request head within the header timeout",
                )),
            }
        };
        match (stalled, waiting) {
            (Some(a), Some(b)) => Some(if a.0 <= b.0 { a } else { b }),
            (a, b) => a.or(b),
        }
    }
}

/// The socket, reporting reads and refused writes to the connection's [`Activity`].
struct Watched {
    inner: TcpStream,
    activity: Arc<Activity>,
}

impl AsyncRead for Watched {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let read = Pin::new(&mut self.inner).poll_read(cx, buf);
        if matches!(read, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            self.activity.on_read();
        }
        read
    }
}

impl AsyncWrite for Watched {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let written = Pin::new(&mut self.inner).poll_write(cx, buf);
        self.activity.on_write(written.is_pending());
        written
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let written = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        self.activity.on_write(written.is_pending());
        written
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// The service hyper calls for each request of one connection: the server's service, with the request body
/// under its deadline and the answer's body reporting when it is done.
struct ConnService<S> {
    inner: S,
    activity: Arc<Activity>,
    body_timeout: Duration,
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
struct Answer<S: Service<Request>> {
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
struct Tracked {
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
    fn the_default_cap_stays_below_the_fd_limit() {
        let cap = default_max_connections();
        assert!((MIN_DEFAULT_CONNECTIONS..=DEFAULT_MAX_CONNECTIONS).contains(&cap));
        if let Some(soft) = fd_limit().filter(|&soft| soft >= 2 * MIN_FD_HEADROOM) {
            assert!(cap <= soft - MIN_FD_HEADROOM, "cap {cap}, fd limit {soft}");
        }
    }

    #[test]
    fn durations_are_described_in_whole_units() {
        assert_eq!(describe(Duration::from_secs(30)), "30s");
        assert_eq!(describe(Duration::from_millis(1500)), "1500ms");
    }
}
