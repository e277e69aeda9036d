//! [`BenchSettings`]: `dq bench`'s load shape resolved and checked, and the target refused when it is not a
//! loopback server and `--yes` was not given (a load test against someone's production server by accident
//! is worse than one more flag).

use std::net::IpAddr;
use std::time::Duration;

use url::{Host, Url};

use super::{parse_duration, usage};
use crate::cli::BenchLoad;
use crate::error::{CliError, Result};

/// When a benchmark stops starting new work.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Until {
    /// After this many runs or messages.
    Count(u64),
    /// After this long.
    Elapsed(Duration),
}

/// `dq bench`'s load shape.
#[derive(Debug, Clone, PartialEq)]
pub struct BenchSettings {
    /// Concurrent clients.
    pub concurrency: usize,
    /// When to stop.
    pub until: Until,
    /// Payload bytes.
    pub size: usize,
    /// Fraction that fails, 0 to 1.
    pub fail_ratio: f64,
}

impl BenchSettings {
    /// Resolves the flags; `default_count` applies when neither `--count` nor `--duration` is given.
    pub fn resolve(load: &BenchLoad, default_count: u64) -> Result<Self> {
        let until = match (&load.count, &load.duration) {
            (Some(n), _) => Until::Count(*n),
            (None, Some(raw)) => match parse_duration(raw) {
                Ok(d) if !d.is_zero() => Until::Elapsed(d),
                Ok(_) => return Err(usage("--duration", raw, "must be more than 0")),
                Err(e) => return Err(usage("--duration", raw, &e)),
            },
            (None, None) => Until::Count(default_count),
        };
        let fail_ratio = match load.fail_ratio.trim().parse::<f64>() {
            Ok(r) if (0.0..=1.0).contains(&r) => r,
            _ => {
                return Err(usage(
                    "--fail-ratio",
                    &load.fail_ratio,
                    "must be a number from 0 to 1",
                ));
            }
        };
        Ok(Self {
            concurrency: usize::try_from(load.concurrency).unwrap_or(usize::MAX),
            until,
            size: usize::try_from(load.size).unwrap_or(usize::MAX),
            fail_ratio,
        })
    }
}

/// Refuses a server that is not on this machine unless `yes_given` (an explicit `-y` / `DQ_YES`, not one
/// implied by CI or a pipe).
pub fn check_bench_target(url: &Url, yes_given: bool) -> Result<()> {
    let loopback = match url.host() {
        Some(Host::Domain(name)) => name.eq_ignore_ascii_case("localhost"),
        Some(Host::Ipv4(ip)) => IpAddr::V4(ip).is_loopback(),
        Some(Host::Ipv6(ip)) => IpAddr::V6(ip).is_loopback(),
        None => false,
    };
    if loopback || yes_given {
        return Ok(());
    }
    Err(CliError::Usage(format!(
        "refusing to load-test {url}, which is not on this machine: pass --yes if you mean it"
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(count: Option<u64>, duration: Option<&str>, ratio: &str) -> BenchLoad {
        BenchLoad {
            concurrency: 4,
            count,
            duration: duration.map(str::to_owned),
            size: 10,
            fail_ratio: ratio.to_owned(),
        }
    }

    #[test]
    fn count_duration_and_ratio_are_resolved_and_checked() {
        let s = BenchSettings::resolve(&load(None, None, "0.25"), 1000).unwrap();
        assert_eq!((s.until, s.fail_ratio), (Until::Count(1000), 0.25));
        let s = BenchSettings::resolve(&load(None, Some("2s"), "0"), 1000).unwrap();
        assert_eq!(s.until, Until::Elapsed(Duration::from_secs(2)));
        for bad in ["1.5", "-0.1", "half"] {
            assert!(BenchSettings::resolve(&load(Some(1), None, bad), 1).is_err());
        }
        assert!(BenchSettings::resolve(&load(None, Some("0s"), "0"), 1).is_err());
    }

    #[test]
    fn only_loopback_targets_go_without_yes() {
        for ok in [
            "http://127.0.0.1:8000",
            "http://localhost:1",
            "http://[::1]:8000",
        ] {
            check_bench_target(&Url::parse(ok).unwrap(), false).unwrap();
        }
        let remote = Url::parse("http://10.1.2.3:8000").unwrap();
        let err = check_bench_target(&remote, false).unwrap_err();
        assert!(err.to_string().contains("pass --yes"), "{err}");
        check_bench_target(&remote, true).unwrap();
    }
}
