//! `X-Request-Id` on every response: the request's own id when it sent a usable one, else a fresh one. The
//! id also names the tracing span of the request (opened by `edge`), so a client-reported id finds the
//! server's log lines.

use std::sync::LazyLock;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::extract::Request;
use axum::http::{HeaderName, HeaderValue};
use bytes::Bytes;

/// The header carrying the id, both ways.
pub const X_REQUEST_ID: &str = "x-request-id";

/// [`X_REQUEST_ID`] as a header name, made once: a name given as text is parsed again at every look-up.
pub(crate) static X_REQUEST_ID_NAME: HeaderName = HeaderName::from_static(X_REQUEST_ID);

/// Longest id echoed back; longer ones are replaced, so a client cannot make us log arbitrary blobs.
const MAX_LEN: usize = 128;

/// The request's own id when it sent a usable one, else a fresh one; also set on the request, so that handlers
/// see the id the response will carry.
pub fn assign(req: &mut Request) -> HeaderValue {
    let id = req
        .headers()
        .get(&X_REQUEST_ID_NAME)
        .filter(|value| is_usable(value))
        .cloned()
        .unwrap_or_else(generate);
    req.headers_mut()
        .insert(X_REQUEST_ID_NAME.clone(), id.clone());
    id
}

fn is_usable(value: &HeaderValue) -> bool {
    let bytes = value.as_bytes();
    !bytes.is_empty() && bytes.len() <= MAX_LEN && bytes.iter().all(u8::is_ascii_graphic)
}

/// A fresh id: 16 hex characters drawn at random once per process, then a 16-hex-character counter. Unique
/// within the process and across restarts, like a uuid, without a `getrandom` syscall per request (one in
/// eight of the server's syscalls per message under the broker benchmark). Written digit by digit into the
/// buffer the header value keeps: `format!` and a copy cost half of the id's work per request (callgrind).
fn generate() -> HeaderValue {
    static PROCESS: LazyLock<u64> = LazyLock::new(|| uuid::Uuid::new_v4().as_u64_pair().0);
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let mut id = Vec::with_capacity(32);
    push_hex(&mut id, *PROCESS);
    push_hex(&mut id, n);
    // Hex digits only: always a valid header value.
    HeaderValue::from_maybe_shared(Bytes::from(id)).unwrap_or(HeaderValue::from_static("unknown"))
}

/// Appends `n` as 16 lowercase hex digits.
fn push_hex(out: &mut Vec<u8>, n: u64) {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    for shift in (0..16).rev() {
        out.push(DIGITS[((n >> (shift * 4)) & 0xf) as usize]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fresh_id_is_the_process_part_then_the_counter_in_hex() {
        let (a, b) = (generate(), generate());
        let (a, b) = (a.to_str().unwrap(), b.to_str().unwrap());
        assert_eq!(a.len(), 32);
        assert!(
            a.bytes()
                .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase()),
            "{a}"
        );
        assert_eq!(a[..16], b[..16]);
        let counter = |id: &str| u64::from_str_radix(&id[16..], 16).unwrap();
        assert!(counter(b) > counter(a), "{a} {b}");
        let mut hex = Vec::new();
        push_hex(&mut hex, 0x0123_4567_89ab_cdef);
        assert_eq!(hex, b"0123456789abcdef");
    }
}
