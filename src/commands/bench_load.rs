//! What `dq bench`'s scenarios share: the [`Target`] server, the [`Work`] counter that hands out runs or
//! messages while the count or the time lasts, the [`Latency`] summary and the [`Report`] (a comfy-table, or
//! one JSON document with `--json`).

use std::time::{Duration, Instant};

use serde::Serialize;

use crate::commands::Ctx;
use crate::error::{CliError, Result};
use crate::output::{Render, Spinner, Styles, Tone};
use crate::settings::Until;

/// The server under test.
pub struct Target {
    /// Its base URL, without a trailing slash.
    pub url: String,
    /// Bearer token, if any.
    pub token: Option<String>,
    /// Whether it is the embedded server.
    pub embedded: bool,
}

impl Target {
    /// An HTTP client for it (one connection pool shared by every task), sending the token.
    pub fn client(&self) -> Result<reqwest::Client> {
        let mut headers = reqwest::header::HeaderMap::new();
        if let Some(token) = &self.token {
            let value = reqwest::header::HeaderValue::from_str(&format!("Bearer {token}"))
                .map_err(|_| CliError::Usage("the token is not a valid header value".into()))?;
            headers.insert(reqwest::header::AUTHORIZATION, value);
        }
        reqwest::Client::builder()
            .default_headers(headers)
            .pool_max_idle_per_host(1024)
            .build()
            .map_err(|e| CliError::Unexpected(format!("http client: {e}")))
    }

    /// `{url}{path}`.
    pub fn at(&self, path: &str) -> String {
        format!("{}{path}", self.url.trim_end_matches('/'))
    }
}

/// What a benchmark measured: the `--json` document, and the table people see.
#[derive(Debug, Serialize)]
pub struct Report {
    /// `runs` or `broker`.
    pub scenario: &'static str,
    /// The server's URL.
    pub url: String,
    /// Whether it was the embedded server.
    pub embedded: bool,
    /// Concurrent clients.
    pub concurrency: usize,
    /// Runs or messages completed (succeeded or dead-lettered; acked).
    pub completed: u64,
    /// From the first request to the last completion, in seconds.
    pub elapsed_s: f64,
    /// `completed` per second.
    pub throughput_per_s: f64,
    /// What `latency` measures.
    pub latency_of: &'static str,
    /// Its percentiles.
    pub latency: Latency,
    /// Requests that failed or outcomes that were not the expected one.
    pub errors: u64,
    /// The first error, for a start.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_error: Option<String>,
    /// Scenario-specific counts (e.g. `succeeded`, `dead_lettered`; `nacked`, `batch`).
    pub details: serde_json::Map<String, serde_json::Value>,
}

impl Render for Report {
    fn human(&self, styles: &Styles) -> String {
        let unit = if self.scenario == "runs" {
            "runs"
        } else {
            "messages"
        };
        let place = if self.embedded {
            "embedded server"
        } else {
            self.url.as_str()
        };
        let mut table = styles.table(&[
            &format!("{unit}/s"),
            "p50",
            "p90",
            "p99",
            "p99.9",
            "max",
            "errors",
        ]);
        let ms = |v: f64| format!("{v:.2} ms");
        let tone = if self.errors == 0 {
            Tone::Plain
        } else {
            Tone::Bad
        };
        table.add_row(vec![
            format!("{:.0}", self.throughput_per_s).into(),
            ms(self.latency.p50_ms).into(),
            ms(self.latency.p90_ms).into(),
            ms(self.latency.p99_ms).into(),
            ms(self.latency.p99_9_ms).into(),
            ms(self.latency.max_ms).into(),
            styles.cell(self.errors, tone),
        ]);
        let details: Vec<String> = self
            .details
            .iter()
            .map(|(k, v)| format!("{k} {v}"))
            .collect();
        let mut text = format!(
            "dq bench {} · {place} · {} {unit} in {:.2}s, {} clients · latency of {}\n{table}",
            self.scenario, self.completed, self.elapsed_s, self.concurrency, self.latency_of,
        );
        if !details.is_empty() {
            text.push_str(&format!("\n{}", styles.dim(details.join(" · "))));
        }
        if let Some(error) = &self.first_error {
            text.push_str(&format!("\n{} {error}", styles.bad("first error:")));
        }
        text
    }
}

/// Latency percentiles in milliseconds.
#[derive(Debug, Default, Serialize)]
pub struct Latency {
    /// Samples.
    pub samples: usize,
    /// Median.
    pub p50_ms: f64,
    /// 90th percentile.
    pub p90_ms: f64,
    /// 99th percentile.
    pub p99_ms: f64,
    /// 99.9th percentile.
    pub p99_9_ms: f64,
    /// Slowest.
    pub max_ms: f64,
}

impl Latency {
    /// From samples in microseconds (nearest-rank percentiles).
    pub fn of(mut micros: Vec<u64>) -> Self {
        micros.sort_unstable();
        let at = |q: f64| -> f64 {
            if micros.is_empty() {
                return 0.0;
            }
            let rank = ((q * micros.len() as f64).ceil() as usize).clamp(1, micros.len());
            micros[rank - 1] as f64 / 1000.0
        };
        Self {
            samples: micros.len(),
            p50_ms: at(0.50),
            p90_ms: at(0.90),
            p99_ms: at(0.99),
            p99_9_ms: at(0.999),
            max_ms: at(1.0),
        }
    }
}

/// Hands out work: the next index while the count or the time lasts.
pub struct Work {
    until: Until,
    started: Instant,
    next: std::sync::atomic::AtomicU64,
}

impl Work {
    /// Work from now on.
    pub fn new(until: Until) -> Self {
        Self {
            until,
            started: Instant::now(),
            next: std::sync::atomic::AtomicU64::new(0),
        }
    }

    /// Claims up to `n` consecutive indices; `None` once the work is handed out.
    pub fn claim(&self, n: u64) -> Option<std::ops::Range<u64>> {
        use std::sync::atomic::Ordering;
        match self.until {
            Until::Count(total) => {
                let first = self.next.fetch_add(n, Ordering::Relaxed);
                (first < total).then(|| first..(first + n).min(total))
            }
            Until::Elapsed(limit) => {
                if self.started.elapsed() >= limit {
                    return None;
                }
                let first = self.next.fetch_add(n, Ordering::Relaxed);
                Some(first..first + n)
            }
        }
    }

    /// When it started.
    pub fn started(&self) -> Instant {
        self.started
    }

    /// A progress bar of the count or of the seconds (on a terminal only); `tick` moves a count bar.
    pub fn progress(&self, ctx: &Ctx, what: &str) -> Spinner {
        match self.until {
            Until::Count(total) => ctx.printer.progress(total, what.to_owned()),
            Until::Elapsed(limit) => ctx.printer.progress(limit.as_secs().max(1), "seconds"),
        }
    }

    /// Whether the bar counts work done (else seconds, ticked by [`Work::tick_seconds`]).
    pub fn counts(&self) -> bool {
        matches!(self.until, Until::Count(_))
    }

    /// Moves a seconds bar once a second until the time is up.
    pub async fn tick_seconds(&self, bar: &Spinner) {
        if let Until::Elapsed(limit) = self.until {
            let mut ticker = tokio::time::interval(Duration::from_secs(1));
            ticker.tick().await;
            while self.started.elapsed() < limit {
                ticker.tick().await;
                bar.inc();
            }
        }
    }
}

/// The value behind a mutex, even if a task panicked while holding it (its tally is still worth reporting).
pub fn locked<T>(mutex: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// `n` is one of the `ratio` share that fails: spread evenly and the same on every run of the bench.
pub fn fails(n: u64, ratio: f64) -> bool {
    ((n + 1) as f64 * ratio).floor() > (n as f64 * ratio).floor()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_are_nearest_rank() {
        let latency = Latency::of((1..=1000).map(|ms| ms * 1000).collect());
        assert_eq!(latency.samples, 1000);
        assert_eq!(
            (
                latency.p50_ms,
                latency.p90_ms,
                latency.p99_ms,
                latency.p99_9_ms,
                latency.max_ms
            ),
            (500.0, 900.0, 990.0, 999.0, 1000.0)
        );
        assert!(Latency::of(Vec::new()).max_ms.abs() < f64::EPSILON);
    }

    #[test]
    fn the_fail_ratio_is_spread_evenly() {
        let failing = |ratio| (0..1000).filter(|&n| fails(n, ratio)).count();
        assert_eq!(failing(0.0), 0);
        assert_eq!(failing(0.1), 100);
        assert_eq!(failing(1.0), 1000);
        assert!(fails(9, 0.1) && !fails(0, 0.1));
    }
}
