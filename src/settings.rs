//! Flags and environment resolved into typed settings (a [`Url`], a [`Duration`], a [`SocketAddr`], a path)
//! before any command runs. Invalid values become [`CliError::Usage`] (exit 2) here, so commands never parse.

use std::io::IsTerminal;
use std::net::{SocketAddr, ToSocketAddrs};
use std::path::PathBuf;
use std::time::Duration;

use url::Url;

use crate::cli::{ColorChoice, DataDirArgs, GlobalArgs, UpArgs, WorkerArgs};
use crate::duration::parse_duration;
use crate::error::{CliError, Result};

mod bench;
pub use bench::{BenchSettings, Until, check_bench_target};

/// The server dq talks to when neither `--url` nor `DQ_URL` says otherwise.
pub const DEFAULT_URL: &str = "http://127.0.0.1:8000";

/// The global settings every command gets.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The server's base URL.
    pub url: Url,
    /// Whether the URL came from `--url` / `DQ_URL` (the demo starts its own server otherwise).
    pub url_given: bool,
    /// Print JSON.
    pub json: bool,
    /// Colour on stdout.
    pub color_stdout: bool,
    /// Colour on stderr.
    pub color_stderr: bool,
    /// No progress or notes on stderr.
    pub quiet: bool,
    /// Give up waiting after this long (`--timeout`).
    pub timeout: Timeout,
    /// Confirmations are answered yes.
    pub yes: bool,
    /// `-y` / `DQ_YES` itself was given (not implied by CI or a pipe): what `dq bench` needs against a
    /// server on another machine.
    pub yes_given: bool,
    /// Bearer token for the server.
    pub token: Option<String>,
    /// Whether stdin, stdout and stderr are terminals.
    pub terminal: Terminal,
}

/// How long a one-shot command (one request and its answer) may take when `--timeout` is not given.
pub const ONE_SHOT_TIMEOUT: Duration = Duration::from_secs(30);

/// `--timeout`: absent, `0` (no timeout) or a duration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Timeout {
    /// Not given: [`ONE_SHOT_TIMEOUT`] for one-shot commands, none for commands that follow or wait.
    Default,
    /// `--timeout 0`: never time out.
    None,
    /// `--timeout DURATION`.
    After(Duration),
}

impl Timeout {
    /// The explicit timeout, if any (what following and waiting commands honour).
    pub fn explicit(self) -> Option<Duration> {
        match self {
            Self::After(after) => Some(after),
            Self::Default | Self::None => None,
        }
    }

    /// The timeout of a one-shot command: the explicit one, else [`ONE_SHOT_TIMEOUT`] unless `--timeout 0`.
    pub fn one_shot(self) -> Option<Duration> {
        match self {
            Self::Default => Some(ONE_SHOT_TIMEOUT),
            Self::None => None,
            Self::After(after) => Some(after),
        }
    }
}

/// Which standard streams are terminals.
#[derive(Debug, Clone, Copy)]
pub struct Terminal {
    /// stdin.
    pub stdin: bool,
    /// stdout.
    pub stdout: bool,
    /// stderr.
    pub stderr: bool,
}

impl Terminal {
    /// Looks at the real streams.
    pub fn detect() -> Self {
        Self {
            stdin: std::io::stdin().is_terminal(),
            stdout: std::io::stdout().is_terminal(),
            stderr: std::io::stderr().is_terminal(),
        }
    }

    /// Prompts and pickers are allowed: both ends of the conversation are a terminal.
    pub fn interactive(self) -> bool {
        self.stdin && self.stderr
    }
}

impl Settings {
    /// Resolves the global flags against the environment (`NO_COLOR`, `CI`) and the terminal.
    pub fn resolve(args: &GlobalArgs, terminal: Terminal) -> Result<Self> {
        // An error names the variable when the value came from it: `DQ_TIMEOUT=abc: …`.
        let named = |id: &str, flag: &'static str, var: &'static str| {
            if args.from_env.contains(&id) {
                var
            } else {
                flag
            }
        };
        let (url, url_given) = match &args.url {
            Some(raw) => (parse_url(raw, named("url", "--url", "DQ_URL"))?, true),
            None => (parse_url(DEFAULT_URL, "--url")?, false),
        };
        let set = |var: &str| std::env::var_os(var).is_some_and(|v| !v.is_empty() && v != "0");
        // no-color.org: an explicit `--color always` (or CLICOLOR_FORCE) beats NO_COLOR.
        let (force_color, no_color) = (set("CLICOLOR_FORCE"), set("NO_COLOR"));
        let color = |is_terminal: bool| match args.color {
            ColorChoice::Never => false,
            ColorChoice::Always => true,
            ColorChoice::Auto if force_color => true,
            ColorChoice::Auto => !no_color && is_terminal,
        };
        let ci = std::env::var_os("CI").is_some_and(|v| !v.is_empty() && v != "false" && v != "0");
        Ok(Self {
            url,
            url_given,
            json: args.json,
            color_stdout: !args.json && color(terminal.stdout),
            color_stderr: color(terminal.stderr),
            quiet: args.quiet,
            timeout: match args.timeout.as_deref() {
                None => Timeout::Default,
                Some(raw) => {
                    let name = named("timeout", "--timeout", "DQ_TIMEOUT");
                    match parse_duration(raw).map_err(|e| usage(name, raw, &e))? {
                        zero if zero.is_zero() => Timeout::None,
                        after => Timeout::After(after),
                    }
                }
            },
            yes: args.yes || ci || !terminal.stdin,
            yes_given: args.yes,
            token: args.token.clone().filter(|t| !t.is_empty()),
            terminal,
        })
    }
}

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
        apply_runs_flags(
            &mut server.runs,
            args.concurrency,
            args.step_delay.as_deref(),
            args.max_attempts,
            args.backoff.as_deref(),
        )?;
        apply_workflows(&mut server.runs, args.workflows.as_deref())?;
        if let Some(n) = args.max_abandoned {
            server.runs.max_abandoned = n;
        }
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
fn apply_limit_flags(server: &mut dq_server::ServerConfig, args: &UpArgs) -> Result<()> {
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
fn apply_connection_flags(server: &mut dq_server::ServerConfig, args: &UpArgs) -> Result<()> {
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
const MIN_TOKEN_CHARS: usize = 16;

/// The token `dq up` requires: `--token-file` (its trailing newline removed) or `--token` / `DQ_TOKEN`, at
/// least [`MIN_TOKEN_CHARS`] long and without surrounding whitespace (a pasted token whose padding the
/// clients would not send).
fn resolve_server_token(args: &UpArgs, global: &Settings) -> Result<Option<String>> {
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
fn non_empty(values: &[String]) -> Vec<String> {
    values
        .iter()
        .map(|value| value.trim())
        .filter(|value| !value.is_empty())
        .map(str::to_owned)
        .collect()
}

/// The `--cors-origin-regex` patterns.
fn origin_patterns(raw: &[String]) -> Result<Vec<dq_server::OriginPattern>> {
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
    apply_runs_flags(
        &mut config,
        args.concurrency,
        args.step_delay.as_deref(),
        args.max_attempts,
        args.backoff.as_deref(),
    )?;
    apply_workflows(&mut config, args.workflows.as_deref())?;
    if let Some(n) = args.max_abandoned {
        config.max_abandoned = n;
    }
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

fn apply_runs_flags(
    config: &mut dq_runs::RunsConfig,
    concurrency: Option<usize>,
    step_delay: Option<&str>,
    max_attempts: Option<u32>,
    backoff: Option<&str>,
) -> Result<()> {
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

fn resolve_listen(raw: &str) -> Result<SocketAddr> {
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

fn parse_url(raw: &str, flag: &str) -> Result<Url> {
    // `127.0.0.1:8000` parses with the scheme `127.0.0.1` or not at all; `localhost:8000` with `localhost`.
    let no_scheme = !raw.contains("://");
    let url = Url::parse(raw).map_err(|e| {
        if no_scheme {
            usage(flag, raw, &format!("no scheme: did you mean http://{raw}?"))
        } else {
            usage(flag, raw, &e.to_string())
        }
    })?;
    match url.scheme() {
        "http" => Ok(url),
        // reqwest is built without a TLS backend (no `rustls` / `native-tls` feature).
        "https" => Err(usage(
            flag,
            raw,
            "this build has no TLS: use http:// (behind a TLS-terminating proxy if needed)",
        )),
        _ if no_scheme => Err(usage(
            flag,
            raw,
            &format!("no scheme: did you mean http://{raw}?"),
        )),
        _ => Err(usage(flag, raw, "expected an http:// URL")),
    }
}

/// `invalid --flag 'raw': why`, or `VAR=raw: why` when `flag` is the environment variable it came from.
fn usage(flag: &str, raw: &str, why: &str) -> CliError {
    if flag.starts_with("DQ_") {
        return CliError::Usage(format!("{flag}={raw}: {why}"));
    }
    CliError::Usage(format!("invalid {flag} '{raw}': {why}"))
}

/// `dq dlq redrive`'s pacing and time filter, resolved.
#[derive(Debug, Clone, PartialEq)]
pub struct Redrive {
    /// Only records written at or after this time (unix ms), from `--since DURATION` ago.
    pub since_ms: Option<u64>,
    /// The least time between two replay requests, from `--rate N/s`.
    pub interval: Duration,
}

impl Redrive {
    /// Resolves `--since` against the clock and `--rate`.
    pub fn resolve(args: &crate::cli::DlqRedriveArgs) -> Result<Self> {
        let since_ms = match &args.since {
            Some(raw) => {
                let ago = parse_duration(raw).map_err(|e| usage("--since", raw, &e))?;
                let now = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .unwrap_or_default();
                Some(u64::try_from(now.saturating_sub(ago).as_millis()).unwrap_or(u64::MAX))
            }
            None => None,
        };
        let rate = parse_rate(&args.rate).map_err(|e| usage("--rate", &args.rate, &e))?;
        Ok(Self {
            since_ms,
            interval: Duration::from_secs_f64(1.0 / rate),
        })
    }
}

/// Parses a rate per second: `10`, `10/s`, `0.5/s`; positive and at most 1000.
pub fn parse_rate(raw: &str) -> std::result::Result<f64, String> {
    let number = raw.trim().strip_suffix("/s").unwrap_or(raw.trim());
    let rate: f64 = number
        .parse()
        .map_err(|_| "expected requests per second, such as 10/s".to_string())?;
    if rate.is_finite() && rate > 0.0 && rate <= 1000.0 {
        Ok(rate)
    } else {
        Err("the rate must be above 0 and at most 1000/s".to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origin_patterns_are_checked() {
        let raw = vec![r"https://[a-z]+\.example".to_owned(), " ".to_owned()];
        assert_eq!(origin_patterns(&raw).unwrap().len(), 1);
        let err = origin_patterns(&["(unclosed".to_owned()]).unwrap_err();
        assert!(err.to_string().contains("--cors-origin-regex"), "{err}");
    }

    #[test]
    fn rates_are_per_second_and_bounded() {
        assert_eq!(parse_rate("10/s"), Ok(10.0));
        assert_eq!(parse_rate("2.5"), Ok(2.5));
        assert!(parse_rate("0/s").is_err());
        assert!(parse_rate("fast").is_err());
        assert!(parse_rate("5000").is_err());
    }

    #[test]
    fn connection_flags_reach_the_server_config() {
        let server = up(&[
            "--header-timeout",
            "2s",
            "--idle-timeout",
            "1m",
            "--body-timeout",
            "500ms",
            "--max-connections",
            "64",
        ])
        .expect("valid flags")
        .server;
        assert_eq!(server.header_timeout, Duration::from_secs(2));
        assert_eq!(server.idle_timeout, Duration::from_secs(60));
        assert_eq!(server.body_timeout, Duration::from_millis(500));
        assert_eq!(server.max_connections, 64);
    }

    #[test]
    fn connection_flags_refuse_zero_and_nonsense() {
        for flags in [
            ["--header-timeout", "0s"],
            ["--idle-timeout", "soon"],
            ["--body-timeout", "0"],
            ["--max-connections", "0"],
        ] {
            let err = up(&flags).expect_err("refused").to_string();
            assert!(err.contains(flags[0]), "{flags:?}: {err}");
        }
    }

    #[test]
    fn one_shot_commands_time_out_by_default_and_0_means_none() {
        let timeout = |args: &[&str]| {
            use clap::Parser as _;
            let cli =
                crate::cli::Cli::try_parse_from([&["dq"], args, &["health"]].concat()).unwrap();
            let terminal = Terminal {
                stdin: false,
                stdout: false,
                stderr: false,
            };
            Settings::resolve(&cli.global, terminal).unwrap().timeout
        };
        assert_eq!(timeout(&[]).one_shot(), Some(ONE_SHOT_TIMEOUT));
        assert_eq!(
            timeout(&[]).explicit(),
            None,
            "following waits for as long as it takes"
        );
        assert_eq!(timeout(&["--timeout", "0"]).one_shot(), None);
        assert_eq!(
            timeout(&["--timeout", "2s"]).one_shot(),
            Some(Duration::from_secs(2))
        );
        assert!(ONE_SHOT_TIMEOUT < Duration::from_secs(60));
    }

    fn up(args: &[&str]) -> Result<UpSettings> {
        use clap::Parser as _;
        let cli = crate::cli::Cli::try_parse_from([&["dq", "up"], args].concat()).unwrap();
        let crate::cli::Command::Up(up) = &cli.command else {
            unreachable!("parsed as up")
        };
        let terminal = Terminal {
            stdin: false,
            stdout: false,
            stderr: false,
        };
        UpSettings::resolve(up, &Settings::resolve(&cli.global, terminal)?)
    }

    #[test]
    fn max_abandoned_reaches_the_runs_config_of_up_and_worker() {
        use clap::Parser as _;
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().to_str().unwrap();
        assert_eq!(
            up(&["--data-dir", data]).unwrap().server.runs.max_abandoned,
            10
        );
        let runs = up(&["--data-dir", data, "--max-abandoned", "4"])
            .unwrap()
            .server
            .runs;
        assert_eq!((runs.max_abandoned, runs.max_attempts), (4, 3));
        let cli =
            crate::cli::Cli::try_parse_from(["dq", "worker", "--max-abandoned", "7"]).unwrap();
        let crate::cli::Command::Worker(worker) = &cli.command else {
            unreachable!("parsed as worker")
        };
        assert_eq!(worker_config(worker).unwrap().max_abandoned, 7);
    }

    #[test]
    fn up_broker_takes_a_nats_cluster_and_its_credentials_file() {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().to_str().unwrap();
        let cluster = "nats://a:4222,nats://u:p@b:4222,tls://c:4222";
        let server = up(&[
            "--data-dir",
            data,
            "--broker",
            cluster,
            "--nats-creds",
            "x.creds",
        ])
        .unwrap()
        .server;
        assert_eq!(server.external_broker.as_deref(), Some(cluster));
        assert_eq!(server.nats_creds, Some(PathBuf::from("x.creds")));
        let http = up(&["--data-dir", data, "--broker", "http://h:8000"]).unwrap();
        assert_eq!(
            http.server.external_broker.as_deref(),
            Some("http://h:8000/")
        );
        for bad in ["nats://a:4222,http://b:8000", "nats://", "nats://a:4222,"] {
            let err = up(&["--data-dir", data, "--broker", bad]).unwrap_err();
            assert!(err.to_string().contains("--broker"), "{bad}: {err}");
        }
    }

    #[test]
    fn up_limit_flags_reach_the_broker() {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().to_str().unwrap();
        let defaults = up(&["--data-dir", data]).unwrap().server.broker;
        assert_eq!(defaults.max_topics, 100_000);
        assert_eq!(defaults.max_total_partitions, 1_000_000);
        assert_eq!(
            defaults.group_idle_retention,
            Duration::from_secs(7 * 86400)
        );
        let broker = up(&[
            "--data-dir",
            data,
            "--max-topics",
            "5",
            "--max-total-partitions",
            "40",
            "--group-retention",
            "12h",
        ])
        .unwrap()
        .server
        .broker;
        assert_eq!(broker.max_topics, 5);
        assert_eq!(broker.max_total_partitions, 40);
        assert_eq!(broker.group_idle_retention, Duration::from_secs(12 * 3600));
        for bad in [
            ["--max-topics", "0"],
            ["--max-total-partitions", "0"],
            ["--group-retention", "0s"],
            ["--group-retention", "soon"],
        ] {
            let err = up(&[&["--data-dir", data][..], &bad[..]].concat()).unwrap_err();
            assert!(err.to_string().contains(bad[0]), "{bad:?}: {err}");
        }
    }
}
