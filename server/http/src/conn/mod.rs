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
//! a small `Activity` record (in `activity`) instead, fed by its socket (bytes read), its service (request started) and its
//! response body (answer done), and a timer in the connection's own task closes it once the record says it
//! is past its deadline. A response in progress has no deadline while its client reads it, so SSE and consume
//! streams live as long as they need.

use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::pin::{Pin, pin};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::Request;
use axum::response::Response;
use hyper_util::rt::TokioIo;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_util::sync::CancellationToken;
use tower::Service;

mod activity;
mod service;

use activity::{Activity, Watched};
use service::ConnService;

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
        let permit = if let Ok(permit) = Arc::clone(&permits).try_acquire_owned() {
            if at_cap && permits.available_permits() >= limits.max_connections / 2 {
                at_cap = false;
            }
            permit
        } else {
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
}
