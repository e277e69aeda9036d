//! dq-runs: the runs service (start, replay, timelines, DLQ records, the run registry) and the worker that
//! executes runs. Both reach a broker only through the small [`Queue`] trait, which has an in-process
//! implementation over the embedded dq-broker and an HTTP implementation speaking DriftQ v1.
//!
//! (Skeleton: the runs-service work fills this crate in.)

use std::time::Duration;

/// Server-wide settings of the runs service and its in-process workers.
#[derive(Debug, Clone)]
pub struct RunsConfig {
    /// In-process workers to start (0 = none; runs wait for an external `dq worker`). Default 1.
    pub workers: usize,
    /// Commands each worker executes in parallel. Default 4.
    pub concurrency: usize,
    /// Pretend work per step. Default 200 ms.
    pub step_delay: Duration,
    /// Attempts per (run, replay_seq) before dead-lettering. Default 3.
    pub max_attempts: u32,
    /// Wait between attempts, multiplied by the attempt number. Default 300 ms.
    pub backoff: Duration,
}

impl Default for RunsConfig {
    fn default() -> Self {
        Self {
            workers: 1,
            concurrency: 4,
            step_delay: Duration::from_millis(200),
            max_attempts: 3,
            backoff: Duration::from_millis(300),
        }
    }
}
