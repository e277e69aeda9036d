//! What `dq up` and `dq worker` run with: the server's limits, connection timeouts, browser rules and token,
//! the runs settings (workers, attempts, backoff, workflow files), the data dir, the listen address and the
//! broker (`--broker`: a DriftQ v1 URL or a NATS cluster).

use std::net::{SocketAddr, ToSocketAddrs};
use std::path::PathBuf;

use url::Url;

use super::{Settings, parse_url, usage};
use crate::cli::{DataDirArgs, UpArgs, WorkerArgs, WorkerFlags};
use crate::duration::parse_duration;
use crate::error::{CliError, Result};

/// What `dq up` starts.
#[derive(Debug, Clone)]
pub struct UpSettings {
    /// Where to listen.
    pub listen: SocketAddr,
    /// The data directory.
    pub data_dir: PathBuf,
    /// Run in the background.
    pub detach: bool,
    /// Open the dashboard in a browser once up.
    pub open: bool,
    /// The server's configuration.
    pub server: dq_server::ServerConfig,
}

impl UpSettings {
    /// Resolves `dq up`'s flags; refuses a non-loopback address without a token.
    pub fn resolve(args: &UpArgs, global: &Settings) -> Result<Self> {
        let listen = resolve_listen(&args.listen)?;
        let token = resolve_server_token(args, global)?;
        if !listen.ip().is_loopback() && token.is_none() {
            return Err(CliError::Usage(format!(
                "refusing to listen on {listen} without a token: pass --token or set DQ_TOKEN"
            )));
        }
        let data_dir = resolve_data_dir(&args.data)?;
        let mut server = dq_server::ServerConfig::new(&data_dir);
        server.token = token;
        server.cors_origins = non_empty(&args.cors_origins);
        server.cors_origin_patterns = origin_patterns(&args.cors_origin_patterns)?;
        server.allowed_hosts = non_empty(&args.allowed_hosts);
        // In a Codespace, as the original starter: its UI's forwarded pages may call dq, through dq's own
        // forwarded name.
        if let Some(codespace) = dq_server::Codespace::detect(|var| std::env::var(var).ok()) {
            // A constant that parses (dq_server's tests parse it).
            let pattern = dq_server::CODESPACES_ORIGIN_PATTERN.parse();
            server.cors_origin_patterns.extend(pattern.ok());
            // Port 0 is known only once bound; such a server is not reached through a forwarded name.
            if listen.port() != 0 {
                server
                    .allowed_hosts
                    .push(codespace.forwarded_host(listen.port()));
            }
        }
        server.broker.durable = !args.no_fsync;
        if let Some(n) = args.max_in_flight {
            server.broker.max_in_flight = n;
        }
        apply_limit_flags(&mut server, args)?;
        if let Some(raw) = &args.broker {
            server.external_broker = Some(parse_broker(raw)?);
        }
        server.nats_creds.clone_from(&args.nats_creds);
        apply_connection_flags(&mut server, args)?;
        server.runs.workers = args.workers;
        if let Some(raw) = &args.archive_after {
            server.runs.archive_after = match raw.as_str() {
                "off" => None,
                _ => Some(parse_duration(raw).map_err(|e| usage("--archive-after", raw, &e))?),
            };
        }
        if let Some(raw) = &args.max_unfinished_runs {
            server.runs.max_unfinished = match raw.as_str() {
                "off" => None,
                _ => match raw.parse::<u64>() {
                    Ok(n) if n > 0 => Some(n),
                    _ => {
                        return Err(usage(
                            "--max-unfinished-runs",
                            raw,
                            "a count of 1 or more, or off",
                        ));
                    }
                },
            };
        }
        apply_worker_flags(&mut server.runs, &args.run)?;
        Ok(Self {
            listen,
            data_dir,
            detach: args.detach,
            open: args.open,
            server,
        })
    }
}

/// `--max-topics`, `--max-total-partitions` and `--group-retention`: the broker's bounds on memory and disk.
pub(super) fn apply_limit_flags(server: &mut dq_server::ServerConfig, args: &UpArgs) -> Result<()> {
    let broker = &mut server.broker;
    if let Some(n) = args.max_topics {
        if n == 0 {
            return Err(CliError::Usage("--max-topics must be at least 1".into()));
        }
        broker.max_topics = n;
    }
    if let Some(n) = args.max_total_partitions {
        if n == 0 {
            return Err(CliError::Usage(
                "--max-total-partitions must be at least 1".into(),
            ));
        }
        broker.max_total_partitions = n;
    }
    if let Some(raw) = &args.group_retention {
        let window = parse_duration(raw).map_err(|e| usage("--group-retention", raw, &e))?;
        if window.is_zero() {
            return Err(usage("--group-retention", raw, "must be positive"));
        }
        broker.group_idle_retention = window;
    }
    Ok(())
}

/// The connection timeouts and cap of `dq up`; each timeout must be positive, the cap at least 1.
pub(super) fn apply_connection_flags(
    server: &mut dq_server::ServerConfig,
    args: &UpArgs,
) -> Result<()> {
    for (flag, raw, target) in [
        (
            "--header-timeout",
            &args.header_timeout,
            &mut server.header_timeout,
        ),
        (
            "--idle-timeout",
            &args.idle_timeout,
            &mut server.idle_timeout,
        ),
        (
            "--body-timeout",
            &args.body_timeout,
            &mut server.body_timeout,
        ),
    ] {
        if let Some(raw) = raw {
            let timeout = parse_duration(raw).map_err(|e| usage(flag, raw, &e))?;
            if timeout.is_zero() {
                return Err(usage(flag, raw, "must be more than 0"));
            }
            *target = timeout;
        }
    }
    if let Some(n) = args.max_connections {
        if n == 0 {
            return Err(CliError::Usage(
                "--max-connections must be at least 1".into(),
            ));
        }
        server.max_connections = n;
    }
    Ok(())
}

/// Shortest token `dq up` accepts: a guessable token is no better than none.
pub(super) const MIN_TOKEN_CHARS: usize = 16;

/// The token `dq up` requires: `--token-file` (its trailing newline removed) or `--token` / `DQ_TOKEN`, at
/// least [`MIN_TOKEN_CHARS`] long and without surrounding whitespace (a pasted token whose padding the
/// clients would not send).
pub(super) fn resolve_server_token(args: &UpArgs, global: &Settings) -> Result<Option<String>> {
    let token = match (&args.token_file, &global.token) {
        (Some(_), Some(_)) => {
            return Err(CliError::Usage(
                "pass the token with --token (DQ_TOKEN) or --token-file, not both".into(),
            ));
        }
        (Some(path), None) => {
            let raw = std::fs::read_to_string(path).map_err(|e| {
                CliError::Usage(format!("cannot read --token-file {}: {e}", path.display()))
            })?;
            let token = raw.strip_suffix('\n').unwrap_or(&raw);
            Some(token.strip_suffix('\r').unwrap_or(token).to_owned())
        }
        (None, token) => token.clone(),
    };
    if let Some(token) = &token {
        if token.trim() != token {
            return Err(CliError::Usage(
                "the token has leading or trailing whitespace: remove it".into(),
            ));
        }
        let chars = token.chars().count();
        if chars < MIN_TOKEN_CHARS {
            return Err(CliError::Usage(format!(
                "the token is {chars} characters long: use at least {MIN_TOKEN_CHARS}"
            )));
        }
    }
    Ok(token)
}

/// The values of a repeatable flag, without blanks (`DQ_CORS_ORIGINS=""`, a trailing comma).
pub(super) fn non_empty(values: &[String]) -> Vec<String> {
    values
        .iter()
        .map(|value| value.trim())
        .filter(|value| !value.is_empty())
        .map(str::to_owned)
        .collect()
}

/// The `--cors-origin-regex` patterns.
pub(super) fn origin_patterns(raw: &[String]) -> Result<Vec<dq_server::OriginPattern>> {
    non_empty(raw)
        .iter()
        .map(|pattern| {
            pattern
                .parse::<dq_server::OriginPattern>()
                .map_err(|e| usage("--cors-origin-regex", pattern, &e.to_string()))
        })
        .collect()
}

/// Resolves `dq worker`'s flags into the runs configuration it executes with.
pub fn worker_config(args: &WorkerArgs) -> Result<dq_runs::RunsConfig> {
    let mut config = dq_runs::RunsConfig::default();
    apply_worker_flags(&mut config, &args.run)?;
    Ok(config)
}

/// `--workflows FILE`: loaded and validated now, so that a bad file stops `dq up` / `dq worker` before they
/// start (exit 2, naming the file, line and key).
fn apply_workflows(config: &mut dq_runs::RunsConfig, file: Option<&std::path::Path>) -> Result<()> {
    if let Some(file) = file {
        let workflows = dq_runs::workflow::load(file)
            .map_err(|e| CliError::Usage(format!("--workflows: {e}")))?;
        config.workflows = dq_runs::workflow::Catalog::new(workflows);
    }
    Ok(())
}

/// The flags of [`WorkerFlags`], the same for `dq up` and `dq worker`.
fn apply_worker_flags(config: &mut dq_runs::RunsConfig, flags: &WorkerFlags) -> Result<()> {
    let WorkerFlags {
        concurrency,
        step_delay,
        max_attempts,
        max_abandoned,
        backoff,
        workflows,
    } = flags;
    apply_workflows(config, workflows.as_deref())?;
    if let Some(n) = *max_abandoned {
        config.max_abandoned = n;
    }
    let (concurrency, max_attempts) = (*concurrency, *max_attempts);
    let (step_delay, backoff) = (step_delay.as_deref(), backoff.as_deref());
    if let Some(n) = concurrency {
        if n == 0 {
            return Err(CliError::Usage("--concurrency must be at least 1".into()));
        }
        config.concurrency = n;
    }
    if let Some(raw) = step_delay {
        config.step_delay = parse_duration(raw).map_err(|e| usage("--step-delay", raw, &e))?;
    }
    if let Some(n) = max_attempts {
        if n == 0 {
            return Err(CliError::Usage("--max-attempts must be at least 1".into()));
        }
        config.max_attempts = n;
    }
    if let Some(raw) = backoff {
        config.backoff = parse_duration(raw).map_err(|e| usage("--backoff", raw, &e))?;
    }
    Ok(())
}

/// The data directory: `--data-dir`, `DQ_DATA_DIR`, else the platform's data directory + `dq`.
pub fn resolve_data_dir(args: &DataDirArgs) -> Result<PathBuf> {
    match &args.data_dir {
        Some(dir) => Ok(dir.clone()),
        None => dirs::data_dir().map(|d| d.join("dq")).ok_or_else(|| {
            CliError::Usage("no platform data directory: pass --data-dir or set DQ_DATA_DIR".into())
        }),
    }
}

pub(super) fn resolve_listen(raw: &str) -> Result<SocketAddr> {
    raw.to_socket_addrs()
        .map_err(|e| usage("--listen", raw, &e.to_string()))?
        .next()
        .ok_or_else(|| usage("--listen", raw, "resolves to no address"))
}

/// `--broker`: a DriftQ v1 broker (`http://…`) or a NATS cluster (`nats://h1:4222,nats://h2:4222`, `tls://…`).
pub fn parse_broker(raw: &str) -> Result<String> {
    if !dq_nats::is_nats_url(raw) {
        return Ok(parse_url(raw, "--broker")?.to_string());
    }
    for part in raw.split(',').map(str::trim) {
        let url = Url::parse(part).map_err(|e| usage("--broker", raw, &e.to_string()))?;
        if !matches!(url.scheme(), "nats" | "tls") || url.host_str().is_none() {
            return Err(usage(
                "--broker",
                raw,
                "every URL of a NATS cluster is nats://host:port or tls://host:port",
            ));
        }
    }
    Ok(raw.to_owned())
}
