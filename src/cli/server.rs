//! The arguments of the commands that run dq's own processes: `dq up` (and `--data-dir`, which `dq down`
//! shares), `dq down` and `dq worker`.

use std::path::PathBuf;

use clap::Args;

use super::values::{max_abandoned_parser, max_attempts_parser};

/// `--data-dir`, shared by `up` and `down`.
#[derive(Debug, Args)]
pub struct DataDirArgs {
    /// Where the server keeps its data, pid and log [default: the platform data dir + /dq]
    #[arg(long, env = "DQ_DATA_DIR", value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
}

/// `dq up`.
#[derive(Debug, Args)]
pub struct UpArgs {
    /// Address to listen on; a non-loopback address requires --token
    #[arg(
        long,
        env = "DQ_LISTEN",
        default_value = "127.0.0.1:8000",
        value_name = "ADDR"
    )]
    pub listen: String,
    /// Data directory.
    #[command(flatten)]
    pub data: DataDirArgs,
    /// Run in the background (pid and log in the data dir); print the URL once healthy
    #[arg(long)]
    pub detach: bool,
    /// Open the dashboard in a browser once the server is up ($BROWSER, else xdg-open or open)
    #[arg(long)]
    pub open: bool,
    /// Close a connection whose request head is not complete this long after it connects or starts sending
    /// it [default: 10s]
    #[arg(long, env = "DQ_HEADER_TIMEOUT", value_name = "DURATION")]
    pub header_timeout: Option<String>,
    /// Close a keep-alive connection idle this long between requests, or whose client reads none of its
    /// answer for this long [default: 30s]
    #[arg(long, env = "DQ_IDLE_TIMEOUT", value_name = "DURATION")]
    pub idle_timeout: Option<String>,
    /// Answer 408 and close when a request body has not fully arrived this long after its head [default: 30s]
    #[arg(long, env = "DQ_BODY_TIMEOUT", value_name = "DURATION")]
    pub body_timeout: Option<String>,
    /// Open connections at most; past it new ones wait to be accepted [default: half the open-file limit, at
    /// most 1024]
    #[arg(long, env = "DQ_MAX_CONNECTIONS", value_name = "N")]
    pub max_connections: Option<usize>,
    /// In-process workers (0: none, runs wait for `dq worker`)
    #[arg(long, default_value_t = 1, value_name = "N")]
    pub workers: usize,
    /// How the workers run.
    #[command(flatten)]
    pub run: WorkerFlags,
    /// Use this external broker instead of the embedded one: a DriftQ v1 server (http://…) or a NATS
    /// JetStream cluster (nats://h1:4222,nats://h2:4222; tls:// for TLS; user:password@ or token@ in the URL)
    #[arg(long, env = "DQ_BROKER", value_name = "URL")]
    pub broker: Option<String>,
    /// NATS credentials file (JWT and nkey seed) for --broker nats://…
    #[arg(long, env = "DQ_NATS_CREDS", value_name = "FILE")]
    pub nats_creds: Option<PathBuf>,
    /// Messages in flight per topic, group and partition [default: 64]
    #[arg(long, value_name = "N")]
    pub max_in_flight: Option<u32>,
    /// Answer produces before they reach the disk (faster, loses the last writes on a crash)
    #[arg(long)]
    pub no_fsync: bool,
    /// Most topics at once; one more is refused with 429 (each run makes one) [default: 100000]
    #[arg(long, env = "DQ_MAX_TOPICS", value_name = "N")]
    pub max_topics: Option<usize>,
    /// Most partitions across all topics; a topic over it is refused with 429 [default: 1000000]
    #[arg(long, env = "DQ_MAX_TOTAL_PARTITIONS", value_name = "N")]
    pub max_total_partitions: Option<u64>,
    /// Archive a finished run's timeline this long after its last event and delete its topic (reads and
    /// replays go on as before); off: keep every run's topic [default: 10s]
    #[arg(long, env = "DQ_ARCHIVE_AFTER", value_name = "DURATION|off")]
    pub archive_after: Option<String>,
    /// Most runs queued or running at once; one more is refused with 429 and Retry-After (what keeps memory
    /// bounded when runs come faster than the workers end them); off: no limit [default: 10000]
    #[arg(long, env = "DQ_MAX_UNFINISHED_RUNS", value_name = "N|off")]
    pub max_unfinished_runs: Option<String>,
    /// Forget a consumer group idle this long (no stream, nothing in flight), e.g. 7d, 12h [default: 7d]
    #[arg(long, env = "DQ_GROUP_RETENTION", value_name = "DURATION")]
    pub group_retention: Option<String>,
    // What browsers may do, and where the token comes from (see dq_server's `guard`).
    /// A web origin that may call the API besides the server's own and http://localhost:3000 (repeatable)
    #[arg(
        long = "cors-origin",
        env = "DQ_CORS_ORIGINS",
        value_delimiter = ',',
        value_name = "ORIGIN"
    )]
    pub cors_origins: Vec<String>,
    /// A regular expression for web origins that may call the API, matched against the whole origin
    /// (repeatable); in a GitHub Codespace, https://*.app.github.dev is allowed too
    #[arg(
        long = "cors-origin-regex",
        env = "DQ_CORS_ORIGIN_REGEX",
        value_name = "REGEX"
    )]
    pub cors_origin_patterns: Vec<String>,
    /// A Host name to answer besides localhost, loopback addresses and --listen; * for any (repeatable)
    #[arg(
        long = "allowed-host",
        env = "DQ_ALLOWED_HOSTS",
        value_delimiter = ',',
        value_name = "HOST"
    )]
    pub allowed_hosts: Vec<String>,
    /// Read the token (16 characters or more) from this file instead of --token / DQ_TOKEN
    #[arg(long, env = "DQ_TOKEN_FILE", value_name = "FILE")]
    pub token_file: Option<PathBuf>,
}

/// `dq down`.
#[derive(Debug, Args)]
pub struct DownArgs {
    /// Data directory of the detached server.
    #[command(flatten)]
    pub data: DataDirArgs,
    /// Also delete the data directory (asks first on a terminal unless -y). Only a directory `dq up` marked as
    /// its data dir (a `dq-data-dir` file), and in it only dq's files; any other directory exits 2, untouched
    #[arg(long)]
    pub wipe: bool,
}

/// `dq worker`.
#[derive(Debug, Args)]
pub struct WorkerArgs {
    /// How the worker runs.
    #[command(flatten)]
    pub run: WorkerFlags,
    /// Consume from this broker instead of the dq server at --url: a DriftQ v1 server (http://…) or a NATS
    /// JetStream cluster (nats://h1:4222,nats://h2:4222), with no dq server in between
    #[arg(long, env = "DQ_BROKER", value_name = "URL")]
    pub broker: Option<String>,
    /// NATS credentials file (JWT and nkey seed) for --broker nats://…
    #[arg(long, env = "DQ_NATS_CREDS", value_name = "FILE")]
    pub nats_creds: Option<PathBuf>,
}

/// How workers run, the same for `dq up`'s in-process workers and `dq worker`.
#[derive(Debug, Args)]
pub struct WorkerFlags {
    /// Commands each worker executes in parallel [default: 16]
    #[arg(long, value_name = "N")]
    pub concurrency: Option<usize>,
    /// Pretend work per step of the built-in demo, e.g. 200ms [default: 200ms]
    #[arg(long, value_name = "DURATION")]
    pub step_delay: Option<String>,
    /// Attempts per run before dead-lettering, 1 to 100 [default: 3]
    #[arg(long, value_name = "N", value_parser = max_attempts_parser())]
    pub max_attempts: Option<u32>,
    /// Attempts abandoned by a vanished worker (a server restart, an expired lease) per run before
    /// dead-lettering with reason max_abandoned, 1 to 1000; they do not count against --max-attempts [default: 10]
    #[arg(long, value_name = "N", value_parser = max_abandoned_parser())]
    pub max_abandoned: Option<u32>,
    /// Wait between attempts, multiplied by the attempt number [default: 300ms]
    #[arg(long, value_name = "DURATION")]
    pub backoff: Option<String>,
    /// Also run the workflows of this TOML file (the built-in demo stays); an invalid file is refused with
    /// its file, line and key
    #[arg(long, env = "DQ_WORKFLOWS", value_name = "FILE")]
    pub workflows: Option<PathBuf>,
}
