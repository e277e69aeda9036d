//! `X-Request-Id` on every response: the request's own id when it sent a usable one, else a fresh one. The
//! id also names the tracing span of the request (opened by `edge`), so a client-reported id finds the
//! server's log lines.

use std::sync::LazyLock;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::extract::Request;
use axum::http::HeaderValue;

/// The header carrying the id, both ways.
pub const X_REQUEST_ID: &str = "x-request-id";

/// Longest id echoed back; longer ones are replaced, so a client cannot make us log arbitrary blobs.
const MAX_LEN: usize = 128;

/// The request's own id when it sent a usable one, else a fresh one; also set on the request, so that handlers
/// see the id the response will carry.
pub fn assign(req: &mut Request) -> HeaderValue {
    let id = req
        .headers()
        .get(X_REQUEST_ID)
        .filter(|value| is_usable(value))
        .cloned()
        .unwrap_or_else(generate);
    req.headers_mut().insert(X_REQUEST_ID, id.clone());
    id
}

fn is_usable(value: &HeaderValue) -> bool {
    let bytes = value.as_bytes();
    !bytes.is_empty() && bytes.len() <= MAX_LEN && bytes.iter().all(u8::is_ascii_graphic)
}

/// A fresh id: 16 hex characters drawn at random once per process, then a 16-hex-character counter. Unique
/// within the process and across restarts, like a uuid, without a `getrandom` syscall per request (one in
/// eight of the server's syscalls per message under the broker benchmark).
fn generate() -> HeaderValue {
    static PROCESS: LazyLock<u64> = LazyLock::new(|| uuid::Uuid::new_v4().as_u64_pair().0);
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let id = format!("{:016x}{n:016x}", *PROCESS);
    // Hex digits only: always a valid header value.
    HeaderValue::from_str(&id).unwrap_or(HeaderValue::from_static("unknown"))
}
