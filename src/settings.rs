//! Flags and environment resolved into typed settings (a [`Url`], a [`Duration`], a [`SocketAddr`](std::net::SocketAddr), a path)
//! before any command runs. Invalid values become [`CliError::Usage`] (exit 2) here, so commands never parse.
//! What `dq up` and `dq worker` run with is in `server`, `dq bench`'s load shape in `bench`.

use std::io::IsTerminal;
use std::time::Duration;

use url::Url;

use crate::cli::{ColorChoice, GlobalArgs};
use crate::duration::parse_duration;
use crate::error::{CliError, Result};

mod bench;
mod server;

pub use bench::{BenchSettings, Until, check_bench_target};
pub use server::{UpSettings, parse_broker, resolve_data_dir, worker_config};

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
    use std::path::PathBuf;

    use super::server::origin_patterns;
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
    fn archive_after_reaches_the_runs_service_and_off_keeps_every_topic() {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().to_str().unwrap();
        let runs = |extra: &[&str]| {
            up(&[&["--data-dir", data][..], extra].concat()).map(|s| s.server.runs.archive_after)
        };
        assert_eq!(runs(&[]).unwrap(), Some(Duration::from_secs(10)));
        assert_eq!(
            runs(&["--archive-after", "2m"]).unwrap(),
            Some(Duration::from_secs(120))
        );
        assert_eq!(runs(&["--archive-after", "off"]).unwrap(), None);
        let err = runs(&["--archive-after", "soon"]).unwrap_err();
        assert!(err.to_string().contains("--archive-after"), "{err}");
    }

    #[test]
    fn max_unfinished_runs_reaches_the_runs_service_and_off_lifts_it() {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().to_str().unwrap();
        let limit = |extra: &[&str]| {
            up(&[&["--data-dir", data][..], extra].concat()).map(|s| s.server.runs.max_unfinished)
        };
        assert_eq!(limit(&[]).unwrap(), Some(10_000));
        assert_eq!(limit(&["--max-unfinished-runs", "50"]).unwrap(), Some(50));
        assert_eq!(limit(&["--max-unfinished-runs", "off"]).unwrap(), None);
        for bad in ["0", "many"] {
            let err = limit(&["--max-unfinished-runs", bad]).unwrap_err();
            assert!(
                err.to_string().contains("--max-unfinished-runs"),
                "{bad}: {err}"
            );
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
