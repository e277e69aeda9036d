//! Wall-clock time in Unix milliseconds: what message timestamps, retention, idempotency windows and idle-group
//! forgetting are measured in. The broker reads it through the [`Clock`] in its [`Config`](crate::Config), so
//! that a test can move time on with a [`ManualClock`] instead of sleeping through a window. (Leases and
//! backoffs run on `tokio::time` instead, so that paused-time tests drive them.)

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Where the broker reads the time. The default is the system clock.
#[derive(Debug, Clone, Default)]
pub enum Clock {
    /// The system's wall clock.
    #[default]
    System,
    /// A clock that stands still until its holder advances it (tests).
    Manual(ManualClock),
}

impl Clock {
    /// Unix time in milliseconds.
    #[must_use]
    pub fn now_ms(&self) -> u64 {
        match self {
            Self::System => system_ms(),
            Self::Manual(manual) => manual.now_ms(),
        }
    }
}

impl From<ManualClock> for Clock {
    fn from(manual: ManualClock) -> Self {
        Self::Manual(manual)
    }
}

/// A clock that moves only when [`advance`](Self::advance)d. Clones share the time, so a test keeps one and
/// gives the broker another (`Config { clock: manual.clone().into(), .. }`).
#[derive(Debug, Clone)]
pub struct ManualClock(Arc<AtomicU64>);

impl ManualClock {
    /// A clock standing at the current system time: the broker takes a time of 0 for "not yet" (a retention
    /// cutoff before the epoch), so a clock that started there would keep the sweeps from ever running.
    #[must_use]
    pub fn new() -> Self {
        Self(Arc::new(AtomicU64::new(system_ms())))
    }

    /// Moves the time on by `by` (whole milliseconds).
    pub fn advance(&self, by: Duration) {
        let ms = u64::try_from(by.as_millis()).unwrap_or(u64::MAX);
        // fetch_update never fails with a closure that always answers Some.
        let _ = self
            .0
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |t| {
                Some(t.saturating_add(ms))
            });
    }

    /// The time it stands at, in Unix milliseconds.
    #[must_use]
    pub fn now_ms(&self) -> u64 {
        self.0.load(Ordering::Acquire)
    }
}

impl Default for ManualClock {
    fn default() -> Self {
        Self::new()
    }
}

/// The system's Unix time in milliseconds (0 before the epoch).
fn system_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::{Clock, ManualClock};

    #[test]
    fn a_manual_clock_moves_only_when_advanced_and_its_clones_share_the_time() {
        let manual = ManualClock::new();
        let clock = Clock::from(manual.clone());
        let start = clock.now_ms();
        assert!(start > 0, "it starts at the system time, not the epoch");
        manual.advance(Duration::from_millis(1500));
        assert_eq!(clock.now_ms(), start + 1500);
    }
}
