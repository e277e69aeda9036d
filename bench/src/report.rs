//! Summaries of latency histograms and of CPU time.

use std::time::Duration;

use hdrhistogram::Histogram;

/// A microsecond histogram with 3 significant figures, up to 60 s.
pub fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 60_000_000, 3).expect("valid histogram bounds")
}

/// `p50 … p99 … max` in milliseconds.
pub fn latency_line(h: &Histogram<u64>) -> String {
    let ms = |us: u64| us as f64 / 1000.0;
    format!(
        "p50 {:.2} ms, p90 {:.2} ms, p99 {:.2} ms, p99.9 {:.2} ms, max {:.2} ms ({} samples)",
        ms(h.value_at_quantile(0.50)),
        ms(h.value_at_quantile(0.90)),
        ms(h.value_at_quantile(0.99)),
        ms(h.value_at_quantile(0.999)),
        ms(h.max()),
        h.len()
    )
}

/// Microseconds of `total` per one of `count` things (messages, round trips).
pub fn micros_each(total: Duration, count: u64) -> f64 {
    total.as_secs_f64() * 1e6 / count as f64
}
