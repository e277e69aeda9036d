//! `dq bench` flags: the two load scenarios (`runs`, `broker`) and the load shape they share. Resolved into
//! typed settings by `settings::BenchSettings`.

use clap::{Args, Subcommand};

/// `dq bench`.
#[derive(Debug, Subcommand)]
pub enum BenchCommand {
    /// Runs end to end: start runs of the demo workflow and follow each to its end (step delay of the server)
    Runs(BenchRunsArgs),
    /// /v1 messages end to end: produce, consume and ack on a topic of its own, deleted afterwards
    Broker(BenchBrokerArgs),
}

/// The load shape of both scenarios.
#[derive(Debug, Args)]
pub struct BenchLoad {
    /// Concurrent clients (producers for `broker`)
    #[arg(long, short = 'c', default_value_t = 16, env = "DQ_BENCH_CONCURRENCY", value_parser = clap::value_parser!(u32).range(1..=4096))]
    pub concurrency: u32,
    /// Stop after this many runs or messages [default: 1000 runs, 100000 messages]
    #[arg(long, short = 'n', conflicts_with = "duration", value_parser = clap::value_parser!(u64).range(1..))]
    pub count: Option<u64>,
    /// Stop starting new work after this long instead, e.g. 10s
    #[arg(long, short = 'd')]
    pub duration: Option<String>,
    /// Bytes of payload: each run's input, each message's value
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u32).range(1..=1_048_576))]
    pub size: u32,
    /// Fraction (0 to 1) that fails: runs forced to fail at tool_call (dead-lettered at their first attempt),
    /// or messages nacked at their first delivery (acked when redelivered)
    #[arg(long, default_value = "0")]
    pub fail_ratio: String,
}

/// `dq bench runs`.
#[derive(Debug, Args)]
#[command(
    after_help = "Examples:\n  dq bench runs -n 500\n  dq bench runs --url http://127.0.0.1:8000 -c 64 -d 30s --fail-ratio 0.1 --json"
)]
pub struct BenchRunsArgs {
    #[command(flatten)]
    pub load: BenchLoad,
}

/// `dq bench broker`.
#[derive(Debug, Args)]
#[command(
    after_help = "Examples:\n  dq bench broker -n 100000\n  dq bench broker --batch 100 -c 8 -d 10s --json"
)]
pub struct BenchBrokerArgs {
    #[command(flatten)]
    pub load: BenchLoad,
    /// Messages per produce request and most offsets per ack request, through dq's batch forms; 1 sends one
    /// request per message as DriftQ v1 does
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub batch: u32,
    /// Partitions of the benchmark topic (one consume stream each)
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u32).range(1..=64))]
    pub partitions: u32,
}
