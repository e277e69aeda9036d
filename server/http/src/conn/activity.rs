//! What one connection is doing, for its deadlines: the [`Activity`] record the connection's timer reads (see
//! the module doc of `conn`), and [`Watched`], the socket wrapper that feeds it with reads and blocked writes.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

use super::Limits;

/// What one connection is doing, for its deadlines. Times are milliseconds since `epoch`. Every access comes
/// from the connection's own task (hyper polls the socket, the service and the bodies there), so relaxed
/// atomics suffice; they are atomics only because the record is shared between those parts.
pub(super) struct Activity {
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
    pub(super) body_timed_out: AtomicBool,
}

impl Activity {
    const NONE: u64 = u64::MAX;

    pub(super) fn new() -> Self {
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
    pub(super) fn on_read(&self) {
        if self.in_flight.load(Ordering::Relaxed) == 0
            && self.head_started.load(Ordering::Relaxed) == Self::NONE
        {
            self.head_started.store(self.now(), Ordering::Relaxed);
        }
    }

    /// A write to the socket was accepted (`blocked` false) or refused for lack of room (`blocked` true).
    pub(super) fn on_write(&self, blocked: bool) {
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
    pub(super) fn request_started(&self) {
        self.head_started.store(Self::NONE, Ordering::Relaxed);
        self.in_flight.fetch_add(1, Ordering::Relaxed);
    }

    /// The answer's body is done (written whole, or dropped).
    pub(super) fn response_done(&self) {
        self.idle_since.store(self.now(), Ordering::Relaxed);
        self.in_flight.fetch_sub(1, Ordering::Relaxed);
    }

    /// When the connection must be closed if nothing changes, and why; `None` while a request is in progress
    /// and its client reads the answer.
    pub(super) fn deadline(&self, limits: &Limits) -> Option<(Instant, &'static str)> {
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
pub(super) struct Watched {
    pub(super) inner: TcpStream,
    pub(super) activity: Arc<Activity>,
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
