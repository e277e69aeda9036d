//! `dq --version`: the client's version (printed by clap), then the server's when one answers at `--url` /
//! `DQ_URL` within a second. Silent when none does: the flag must stay fast and never fail.

use std::ffi::OsString;
use std::time::Duration;

use clap::Parser;

use crate::cli::Cli;
use crate::client::Client;
use crate::settings::DEFAULT_URL;

/// How long `--version` waits for the server.
const WAIT: Duration = Duration::from_secs(1);

/// Handles `dq --version` (`-V`, on any subcommand): prints the client's version and the server's, and says
/// whether it did (then the process exits 0). Any other command line is left to the normal parse.
pub fn printed() -> bool {
    let args: Vec<OsString> = std::env::args_os().collect();
    match Cli::try_parse_from(&args) {
        Err(err) if err.kind() == clap::error::ErrorKind::DisplayVersion => {
            let _ = err.print();
            print_server_version(&args);
            true
        }
        _ => false,
    }
}

/// Prints `server VERSION at URL` on stdout when the server at `--url` answers `/v1/version` in time.
fn print_server_version(args: &[OsString]) {
    let url = flag(args, "--url")
        .or_else(|| env("DQ_URL"))
        .unwrap_or_else(|| DEFAULT_URL.to_owned());
    let token = flag(args, "--token").or_else(|| env("DQ_TOKEN"));
    let Ok(base) = url::Url::parse(&url) else {
        return;
    };
    let Ok(client) = Client::new(base, token.as_deref()) else {
        return;
    };
    let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    else {
        return;
    };
    let answer = runtime.block_on(async { tokio::time::timeout(WAIT, client.version()).await });
    if let Ok(Ok(version)) = answer {
        println!("server {} at {}", version.version, client.base());
    }
    runtime.shutdown_timeout(Duration::from_millis(100));
}

/// The value of `--name VALUE` or `--name=VALUE` (the last one given).
fn flag(args: &[OsString], name: &str) -> Option<String> {
    let mut found = None;
    let mut args = args.iter().filter_map(|a| a.to_str());
    while let Some(arg) = args.next() {
        if arg == name {
            found = args.next().map(str::to_owned);
        } else if let Some(value) = arg.strip_prefix(name).and_then(|v| v.strip_prefix('=')) {
            found = Some(value.to_owned());
        }
    }
    found.filter(|v| !v.is_empty())
}

/// An environment variable; empty means unset.
fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}
