//! Input checks and small pure rules: names, partition choice, retry policy arithmetic.
//!
//! Everything here is a pure function of its arguments; no state, no I/O.

use std::time::Duration;

use dq_proto::broker::{Envelope, RetryPolicy};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::Error;

/// Longest topic name (Kafka's limit).
pub(crate) const MAX_TOPIC_LEN: usize = 249;
/// Longest group or owner name.
pub(crate) const MAX_NAME_LEN: usize = 255;
/// Longest idempotency key. It becomes part of two stored keys (`idem`, `idem_exp`, see `store`), and the
/// storage engine panics on a key over 65,535 bytes; 1 KiB leaves room for any real key (the worker's are
/// `evt:<run id>:<replay>:<attempt>:<type>:<step>`) and keeps the index small.
pub(crate) const MAX_IDEMPOTENCY_KEY_LEN: usize = 1024;
/// Longest tenant id: part of the same stored keys, behind a u16 length prefix.
pub(crate) const MAX_TENANT_LEN: usize = 255;
/// Shortest lease a stream may ask for: a consumer that never acks gets each message redelivered once per lease,
/// and `lease_ms=1` made that 17,000 redeliveries per second (each a journal write).
pub const MIN_LEASE: Duration = Duration::from_millis(100);
/// Longest backoff or delay honoured; longer ones are clamped (a message must not be parked for ages by a typo).
pub(crate) const MAX_DELAY: Duration = Duration::from_secs(7 * 24 * 3600);

/// Topic names: 1..=249 characters of `[A-Za-z0-9._:-]`.
pub(crate) fn topic_name(name: &str) -> Result<(), Error> {
    if name.is_empty() {
        return Err(Error::InvalidArgument("name is required".into()));
    }
    if name.len() > MAX_TOPIC_LEN {
        return Err(Error::InvalidArgument(format!(
            "topic name is longer than {MAX_TOPIC_LEN} characters"
        )));
    }
    if let Some(c) = name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | ':')))
    {
        return Err(Error::InvalidArgument(format!(
            "topic name {name:?} has the character {c:?}; allowed are letters, digits and . _ - :"
        )));
    }
    Ok(())
}

/// Longest topic name a request may refer to: created names have at most [`MAX_TOPIC_LEN`] bytes, but
/// dead-lettering adds a `dlq.` prefix (to a dead-letter topic too), so existing names can be a little longer.
const MAX_TOPIC_REF_LEN: usize = 1024;

/// A topic named by a request that reads or writes an existing topic: only its length is checked (a much longer
/// name cannot exist), so that the answer names the limit rather than an unknown topic.
pub(crate) fn topic_ref(what: &str, name: &str) -> Result<(), Error> {
    if name.len() > MAX_TOPIC_REF_LEN {
        return Err(Error::InvalidArgument(format!(
            "{what} is {} bytes, over the limit of {MAX_TOPIC_REF_LEN} bytes (topics are created with at most \
             {MAX_TOPIC_LEN})",
            name.len()
        )));
    }
    Ok(())
}

/// The envelope strings that become part of stored keys, or name a topic: `idempotency_key` (at most
/// [`MAX_IDEMPOTENCY_KEY_LEN`] bytes), `tenant_id` ([`MAX_TENANT_LEN`]) and `target_topic`.
pub(crate) fn envelope(envelope: &Envelope) -> Result<(), Error> {
    for (what, value, limit) in [
        (
            "envelope.idempotency_key",
            envelope.idempotency_key.as_deref(),
            MAX_IDEMPOTENCY_KEY_LEN,
        ),
        (
            "envelope.tenant_id",
            envelope.tenant_id.as_deref(),
            MAX_TENANT_LEN,
        ),
    ] {
        if let Some(value) = value
            && value.len() > limit
        {
            return Err(Error::InvalidArgument(format!(
                "{what} is {} bytes, over the limit of {limit} bytes",
                value.len()
            )));
        }
    }
    if let Some(target) = envelope.target_topic.as_deref() {
        topic_ref("envelope.target_topic", target)?;
    }
    Ok(())
}

/// Group and owner names: 1..=255 bytes, no control characters.
pub(crate) fn plain_name(what: &str, name: &str) -> Result<(), Error> {
    if name.is_empty() {
        return Err(Error::InvalidArgument(format!("{what} is required")));
    }
    if name.len() > MAX_NAME_LEN {
        return Err(Error::InvalidArgument(format!(
            "{what} is {} bytes, over the limit of {MAX_NAME_LEN} bytes",
            name.len()
        )));
    }
    if name.chars().any(char::is_control) {
        return Err(Error::InvalidArgument(format!(
            "{what} has control characters"
        )));
    }
    Ok(())
}

/// FNV-1a, 32 bits.
pub fn fnv1a32(bytes: &[u8]) -> u32 {
    bytes.iter().fold(0x811c_9dc5u32, |hash, b| {
        (hash ^ u32::from(*b)).wrapping_mul(0x0100_0193)
    })
}

/// The partition of a message: `partition_override`, else FNV-1a-32(key) mod N for a non-empty key, else 0.
pub(crate) fn choose_partition(
    partitions: u32,
    key: Option<&str>,
    over: Option<i64>,
) -> Result<u32, Error> {
    if let Some(p) = over {
        return u32::try_from(p)
            .ok()
            .filter(|p| *p < partitions)
            .ok_or_else(|| {
                Error::InvalidArgument(format!(
                    "partition_override {p} is out of range 0..{partitions}"
                ))
            });
    }
    Ok(match key {
        Some(k) if !k.is_empty() => fnv1a32(k.as_bytes()) % partitions.max(1),
        _ => 0,
    })
}

/// Fails when an RFC 3339 deadline is unparsable or already past.
pub(crate) fn deadline(deadline: &str, now: OffsetDateTime) -> Result<(), Error> {
    let at = OffsetDateTime::parse(deadline, &Rfc3339).map_err(|e| {
        Error::InvalidArgument(format!("deadline {deadline:?} is not RFC 3339: {e}"))
    })?;
    if at <= now {
        return Err(Error::InvalidArgument(format!(
            "deadline {deadline} has passed"
        )));
    }
    Ok(())
}

/// A checked retry policy.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Policy {
    /// Total deliveries; `None` = unlimited.
    pub(crate) max_attempts: Option<u32>,
    pub(crate) backoff_ms: u64,
    pub(crate) max_backoff_ms: Option<u64>,
}

impl Policy {
    /// Checks a policy from an envelope: max_attempts ≥ 1, backoffs ≥ 0.
    pub(crate) fn parse(policy: Option<&RetryPolicy>) -> Result<Self, Error> {
        let Some(policy) = policy else {
            return Ok(Self::default());
        };
        let max_attempts = policy
            .max_attempts
            .map(|n| {
                u32::try_from(n).ok().filter(|n| *n >= 1).ok_or_else(|| {
                    Error::InvalidArgument(format!(
                        "retry_policy.max_attempts {n} must be at least 1"
                    ))
                })
            })
            .transpose()?;
        let non_negative = |what: &str, v: Option<i64>| {
            v.map(|v| {
                u64::try_from(v).map_err(|_| {
                    Error::InvalidArgument(format!("retry_policy.{what} {v} must not be negative"))
                })
            })
            .transpose()
        };
        Ok(Self {
            max_attempts,
            backoff_ms: non_negative("backoff_ms", policy.backoff_ms)?.unwrap_or(0),
            max_backoff_ms: non_negative("max_backoff_ms", policy.max_backoff_ms)?,
        })
    }

    /// Backoff(n) = min(backoff_ms · 2^(n−1), max_backoff_ms) after the n-th failure.
    pub(crate) fn backoff(&self, failures: u32) -> Duration {
        if self.backoff_ms == 0 || failures == 0 {
            return Duration::ZERO;
        }
        let factor = 1u64.checked_shl(failures - 1).unwrap_or(u64::MAX);
        let mut ms = self.backoff_ms.saturating_mul(factor);
        if let Some(max) = self.max_backoff_ms {
            ms = ms.min(max);
        }
        Duration::from_millis(ms).min(MAX_DELAY)
    }

    /// Whether `failures` failed deliveries exhaust the policy.
    pub(crate) fn exhausted(&self, failures: u32) -> bool {
        self.max_attempts.is_some_and(|max| failures >= max)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fnv1a32_matches_the_reference_vectors() {
        assert_eq!(fnv1a32(b""), 0x811c_9dc5);
        assert_eq!(fnv1a32(b"a"), 0xe40c_292c);
        assert_eq!(fnv1a32(b"foobar"), 0xbf9c_f968);
    }

    #[test]
    fn backoff_doubles_and_is_capped() {
        let p = Policy {
            max_attempts: Some(5),
            backoff_ms: 100,
            max_backoff_ms: Some(350),
        };
        assert_eq!(p.backoff(1), Duration::from_millis(100));
        assert_eq!(p.backoff(2), Duration::from_millis(200));
        assert_eq!(p.backoff(3), Duration::from_millis(350));
        assert_eq!(p.backoff(200), Duration::from_millis(350));
        let uncapped = Policy {
            backoff_ms: 1000,
            ..Policy::default()
        };
        assert_eq!(uncapped.backoff(100), MAX_DELAY);
    }

    #[test]
    fn topic_names_are_checked() {
        assert!(topic_name("runs.events.0a1-b_c:d").is_ok());
        assert!(topic_name("").is_err());
        assert!(topic_name("a b").is_err());
        assert!(topic_name(&"x".repeat(250)).is_err());
    }

    #[test]
    fn partition_choice() {
        assert_eq!(
            choose_partition(4, Some("a"), None).ok(),
            Some(0xe40c_292c % 4)
        );
        assert_eq!(choose_partition(4, Some(""), None).ok(), Some(0));
        assert_eq!(choose_partition(4, None, Some(3)).ok(), Some(3));
        assert!(choose_partition(4, None, Some(4)).is_err());
        assert!(choose_partition(4, None, Some(-1)).is_err());
    }
}
