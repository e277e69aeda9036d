//! Wall-clock time in Unix milliseconds: what message timestamps, retention and idempotency windows are measured
//! in. (Leases and backoffs run on `tokio::time` instead, so that paused-time tests drive them.)

/// Unix time in milliseconds.
pub(crate) fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or_default()
}
