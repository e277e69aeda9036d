//! dq-bench: benchmarks of dq measured from outside, over real HTTP, against a real `dq up` process.
//!
//! Each scenario starts its own server with a fresh temporary data dir, drives it with concurrent clients on
//! loopback, prints its figures and stops the server. Nothing here asserts a target: the figures are for
//! people (the README and closing notes quote them with the command that produced them).

mod broker;
mod floor;
mod floor_broker;
mod floor_store;
#[cfg(test)]
mod floor_store_tests;
mod http1;
mod memory;
mod report;
mod runs;
mod server;
mod startup;

use std::path::PathBuf;

use clap::{Parser, Subcommand};

// The same allocator as `dq`: the client's allocations share the two cores with the server under test.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Benchmarks of dq over real HTTP.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Args {
    /// The `dq` binary to benchmark (default: `dq` next to this benchmark's executable).
    #[arg(long, global = true)]
    dq: Option<PathBuf>,
    #[command(subcommand)]
    scenario: Scenario,
}

#[derive(Debug, Subcommand)]
enum Scenario {
    /// `/v1` produce → consume → ack end to end with concurrent producers and consume streams, then the
    /// latency of a single producer.
    Broker(broker::ThroughputArgs),
    /// Produces a large backlog nobody consumes and reports the server's resident memory.
    Backlog(broker::BacklogArgs),
    /// Runs per second end to end and create → succeeded latency, step delay 0, no failures.
    Runs(runs::RunsArgs),
    /// Peak server memory while runs are offered at a fixed rate (default 10,000/s for 60 s), with the runs
    /// accepted, finished and refused and the server's CPU per run.
    Memory(memory::MemoryArgs),
    /// Start-up time of a server with many runs stored (default 10,000), after a restart.
    Startup(startup::StartupArgs),
    /// HTTP round trips per second on this machine: a bare hyper server, then `dq up`'s `/v1/healthz`; then
    /// the broker scenario against a bare `/v1` server with in-memory topics and a group-committed sync.
    Floor(floor::FloorArgs),
    /// The bare server of the floor scenario (started by it as a child process).
    #[command(hide = true)]
    FloorServer {
        /// Address to listen on.
        #[arg(long)]
        listen: std::net::SocketAddr,
    },
    /// The `/v1` server of the floor scenario (started by it as a child process).
    #[command(hide = true)]
    FloorBrokerServer {
        /// Address to listen on.
        #[arg(long)]
        listen: std::net::SocketAddr,
        /// Where its group commit writes.
        #[arg(long)]
        data_dir: PathBuf,
    },
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let dq = match args.dq {
        Some(path) => path,
        None => server::sibling_dq()?,
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        match args.scenario {
            Scenario::Broker(a) => broker::throughput(&dq, a).await,
            Scenario::Backlog(a) => broker::backlog(&dq, a).await,
            Scenario::Runs(a) => runs::runs(&dq, a).await,
            Scenario::Memory(a) => memory::memory(&dq, a).await,
            Scenario::Startup(a) => startup::startup(&dq, a).await,
            Scenario::Floor(a) => floor::floor(&dq, a).await,
            Scenario::FloorServer { listen } => floor::serve_bare(listen).await,
            Scenario::FloorBrokerServer { listen, data_dir } => {
                floor_broker::serve(listen, &data_dir).await
            }
        }
    })
}
