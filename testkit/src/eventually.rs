//! The one bounded wait of the tests: poll a probe until it holds, and fail with what was awaited (and what
//! was last seen) when it does not within the timeout. Timeouts are guards, never assertions on speed.

use std::fmt::Debug;
use std::future::Future;
use std::time::Duration;

/// How long a wait sleeps between two probes.
pub const POLL: Duration = Duration::from_millis(10);

/// Polls `probe` every [`POLL`] until it returns `Ok`, and returns that value. Panics after `timeout` (a probe
/// that hangs counts too), naming `what` was awaited and the last `Err` the probe returned.
///
/// Uses tokio's clock, so a test with paused time waits in paused time.
pub async fn eventually<T, E, F, Fut>(what: &str, timeout: Duration, probe: F) -> T
where
    E: Debug,
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, E>>,
{
    within(timeout, probe).await.unwrap_or_else(|last| {
        panic!("timed out after {timeout:?} waiting for {what}; last seen: {last:?}")
    })
}

/// [`eventually`] without the panic, for a test that must stop what it started before it fails: the value,
/// or the last `Err` the probe returned (`None` if no probe finished) once `timeout` has passed.
pub async fn within<T, E, F, Fut>(timeout: Duration, mut probe: F) -> Result<T, Option<E>>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, E>>,
{
    let deadline = tokio::time::Instant::now() + timeout;
    let mut last = None;
    loop {
        match tokio::time::timeout_at(deadline, probe()).await {
            Ok(Ok(value)) => return Ok(value),
            Ok(Err(seen)) => last = Some(seen),
            Err(_) => {}
        }
        if tokio::time::Instant::now() >= deadline {
            return Err(last);
        }
        tokio::time::sleep(POLL).await;
    }
}

/// [`eventually`] for a test without a runtime: the probe is a plain function, the sleep a thread sleep.
pub fn eventually_blocking<T, E, F>(what: &str, timeout: Duration, mut probe: F) -> T
where
    E: Debug,
    F: FnMut() -> Result<T, E>,
{
    let started = std::time::Instant::now();
    loop {
        let seen = match probe() {
            Ok(value) => return value,
            Err(seen) => seen,
        };
        assert!(
            started.elapsed() < timeout,
            "timed out after {timeout:?} waiting for {what}; last seen: {seen:?}"
        );
        std::thread::sleep(POLL);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_wait_returns_the_first_value_that_holds() {
        let mut polls = 0;
        let value = eventually("three polls", Duration::from_secs(10), || {
            polls += 1;
            let now = polls;
            async move { if now == 3 { Ok(now) } else { Err(now) } }
        })
        .await;
        assert_eq!(value, 3);
    }

    #[tokio::test]
    #[should_panic(expected = "waiting for the impossible; last seen: Some(\"never\")")]
    async fn a_wait_that_times_out_says_what_it_waited_for_and_what_it_saw() {
        eventually("the impossible", Duration::from_millis(30), || async {
            Err::<(), _>("never")
        })
        .await;
    }

    #[test]
    #[should_panic(expected = "waiting for a flag; last seen: false")]
    fn a_blocking_wait_that_times_out_says_what_it_waited_for() {
        eventually_blocking("a flag", Duration::from_millis(30), || Err::<(), _>(false));
    }
}
