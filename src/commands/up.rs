//! `dq up`: the server, broker and worker(s) in this process until Ctrl-C or SIGTERM, with the dashboard's URL
//! on stderr (`--open` opens it in a browser); with `--detach`, the same
//! in a background process whose pid and log live in the data dir (`dq.pid`, `dq.log`), returning once it
//! answers `/healthz` and printing its URL. A failed write (disk full, too many open files, fsync error) stops
//! the server: `dq up` then exits 1 with the reason as its last line of stderr, for a supervisor to restart it.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::oneshot;

use crate::cli::UpArgs;
use crate::client::Client;
use crate::commands::Ctx;
use crate::daemon::{
    self, log_file, marker_file, pid_file, recorded_url, shutdown_signal, url_file, url_index_file,
};
use crate::duration::format_duration;
use crate::error::{CliError, ExitStatus, Result};
use crate::settings::UpSettings;

/// The line the server prints once it listens; `--detach` reads it from the log to learn the URL.
const LISTENING: &str = "dq listening on ";
/// How long a stopping server may take before the process exits anyway.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(1);
/// How long `--detach` waits for a healthy server when `--timeout` does not say.
const DETACH_WAIT: Duration = Duration::from_secs(30);

/// `dq up`.
pub async fn run(args: UpArgs, ctx: &Ctx) -> Result<ExitStatus> {
    let up = UpSettings::resolve(&args, &ctx.settings)?;
    std::fs::create_dir_all(&up.data_dir).map_err(|e| {
        CliError::io(
            format!("creating the data dir {}", up.data_dir.display()),
            e,
        )
    })?;
    let marker = marker_file(&up.data_dir);
    if !marker.exists() {
        std::fs::write(
            &marker,
            "This directory is a dq data dir (runs, events, DLQ records); `dq down --wipe` may delete it.\n",
        )
        .map_err(|e| CliError::io(format!("writing {}", marker.display()), e))?;
    }
    if up.detach {
        return detach(&up, args.data.data_dir.is_some(), ctx).await;
    }
    let listener = TcpListener::bind(up.listen)
        .await
        .map_err(|e| CliError::io(format!("listening on {}", up.listen), e))?;
    let addr = listener
        .local_addr()
        .map_err(|e| CliError::io("reading the listening address", e))?;
    let (stop, stopped) = oneshot::channel::<()>();
    let (ready, opened) = oneshot::channel::<()>();
    let mut server = tokio::spawn(dq_server::serve_ready(
        listener,
        up.server,
        async move {
            let _ = stopped.await;
        },
        move || {
            let _ = ready.send(());
        },
    ));
    // Announced only once the store, the broker and the runs service are open: start-up can fail until then.
    tokio::select! {
        joined = &mut server => return server_result(joined).map_err(|e| in_use(e, &up.data_dir)),
        Ok(()) = opened => {}
    }
    // Taken before the announcement, so that a signal right after it stops the server gracefully.
    let shutdown = shutdown_signal();
    // Always printed, even with -q: `--detach` and scripts read it to learn the port.
    crate::output::stderr_line(&format!("{LISTENING}http://{addr}"));
    show_dashboard(&dashboard_url(addr), up.open, ctx);
    ctx.printer.note(&format!(
        "data in {} · Ctrl-C to stop",
        up.data_dir.display()
    ));
    tokio::select! {
        joined = &mut server => return server_result(joined),
        () = shutdown => {}
    }
    ctx.printer.note("dq shutting down");
    let _ = stop.send(());
    if let Ok(joined) = tokio::time::timeout(SHUTDOWN_GRACE, server).await {
        server_result(joined)
    } else {
        ctx.printer.warn(&format!(
            "the server did not stop within {}; exiting anyway",
            format_duration(SHUTDOWN_GRACE)
        ));
        Ok(ExitStatus::Success)
    }
}

fn server_result(
    joined: std::result::Result<
        std::result::Result<(), dq_server::ServerError>,
        tokio::task::JoinError,
    >,
) -> Result<ExitStatus> {
    match joined {
        Ok(Ok(())) => Ok(ExitStatus::Success),
        Ok(Err(err)) => Err(err.into()),
        Err(err) => Err(CliError::failed("the server stopped", err)),
    }
}

/// "data dir D is in use by another dq server (pid N)" when the store is locked, naming the pid of the
/// server's pid file when it has one.
fn in_use(err: CliError, data_dir: &Path) -> CliError {
    match &err {
        CliError::Server(server) if server.is_data_dir_in_use() => {
            let pid = daemon::running_pid(&pid_file(data_dir))
                .map(|pid| format!(" (pid {pid})"))
                .unwrap_or_default();
            CliError::Unexpected(format!(
                "data dir {} is in use by another dq server{pid}; stop it (dq down --data-dir {}) or pass another --data-dir",
                data_dir.display(),
                data_dir.display()
            ))
        }
        _ => err,
    }
}

/// Starts `dq up` (without `--detach`) in the background and waits until it is healthy.
async fn detach(up: &UpSettings, dir_given: bool, ctx: &Ctx) -> Result<ExitStatus> {
    let pid_path = pid_file(&up.data_dir);
    let down_hint = if dir_given {
        format!("dq down --data-dir {}", up.data_dir.display())
    } else {
        "dq down".to_owned()
    };
    if let Some(pid) = daemon::running_pid(&pid_path) {
        // The same data dir and address again (a CI re-run): that server is the answer.
        if let Some(url) = recorded_url(&up.data_dir)
            && same_address(&url, up.listen)
            && healthy(&url, ctx).await
        {
            ctx.printer.note(&format!(
                "dq is already running in the background (pid {pid}); stop it with `{down_hint}`"
            ));
            return print_detached(&url, pid.unsigned_abs(), up, ctx);
        }
        return Err(CliError::Unexpected(format!(
            "a detached dq server is already running from {} (pid {pid}{}); stop it with `{down_hint}`",
            up.data_dir.display(),
            recorded_url(&up.data_dir)
                .map(|url| format!(", {url}"))
                .unwrap_or_default()
        )));
    }
    let _ = std::fs::remove_file(url_file(&up.data_dir));
    let log_path = log_file(&up.data_dir);
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&log_path)
        .map_err(|e| CliError::io(format!("opening {}", log_path.display()), e))?;
    let log_start = log
        .metadata()
        .map_err(|e| CliError::io(format!("reading {}", log_path.display()), e))?
        .len();
    let err_log = log
        .try_clone()
        .map_err(|e| CliError::io(format!("opening {}", log_path.display()), e))?;
    let exe = std::env::current_exe().map_err(|e| CliError::io("finding the dq binary", e))?;
    // This process opens the browser (`--open`) once the server is healthy, also when one already runs.
    let args = std::env::args_os()
        .skip(1)
        .filter(|a| a != "--detach" && a != "--open");
    let mut command = std::process::Command::new(exe);
    command
        .args(args)
        .stdin(Stdio::null())
        .stdout(log)
        .stderr(err_log);
    // Its own process group: a Ctrl-C meant for this shell does not stop the server.
    std::os::unix::process::CommandExt::process_group(&mut command, 0);
    let mut child = command
        .spawn()
        .map_err(|e| CliError::io("starting the background server", e))?;
    std::fs::write(&pid_path, format!("{}\n", child.id()))
        .map_err(|e| CliError::io(format!("writing {}", pid_path.display()), e))?;

    let spinner = ctx.printer.spinner("starting dq in the background");
    let wait = ctx.settings.timeout.explicit().unwrap_or(DETACH_WAIT);
    let started = async {
        loop {
            if let Some(status) = child
                .try_wait()
                .map_err(|e| CliError::io("watching the background server", e))?
            {
                let _ = std::fs::remove_file(&pid_path);
                let tail = read_log_from(&log_path, log_start);
                return Err(CliError::Unexpected(format!(
                    "the background server exited ({status}); its log {} says:\n{}",
                    log_path.display(),
                    tail.trim_end()
                )));
            }
            if let Some(url) = listening_url(&read_log_from(&log_path, log_start))
                && healthy(&url, ctx).await
            {
                return Ok(url);
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    };
    let url = tokio::time::timeout(wait, started)
        .await
        .map_err(|_| CliError::Timeout {
            after: wait,
            what: "the background server to become healthy".into(),
        })??;
    drop(spinner);
    record_url(&up.data_dir, &url)?;
    ctx.printer.note(&format!(
        "dq is running in the background (pid {}, log {}); stop it with `{down_hint}`",
        child.id(),
        log_path.display()
    ));
    print_detached(&url, child.id(), up, ctx)
}

/// Writes `dq.url` in the data dir and the user-wide note of which data dir serves the URL (best effort).
fn record_url(data_dir: &Path, url: &str) -> Result<()> {
    let path = url_file(data_dir);
    std::fs::write(&path, format!("{url}\n"))
        .map_err(|e| CliError::io(format!("writing {}", path.display()), e))?;
    if let Ok(parsed) = url::Url::parse(url)
        && let Some(index) = url_index_file(&parsed)
        && let Some(parent) = index.parent()
        && std::fs::create_dir_all(parent).is_ok()
    {
        let dir = std::path::absolute(data_dir).unwrap_or_else(|_| data_dir.to_owned());
        let _ = std::fs::write(index, dir.as_os_str().as_encoded_bytes());
    }
    Ok(())
}

/// Whether a recorded URL is what `--listen` asks for (port 0: any port on that address).
fn same_address(url: &str, listen: std::net::SocketAddr) -> bool {
    let Ok(url) = url::Url::parse(url) else {
        return false;
    };
    let host_matches = match url.host() {
        Some(url::Host::Ipv4(ip)) => std::net::IpAddr::V4(ip) == listen.ip(),
        Some(url::Host::Ipv6(ip)) => std::net::IpAddr::V6(ip) == listen.ip(),
        _ => false,
    };
    host_matches && (listen.port() == 0 || url.port_or_known_default() == Some(listen.port()))
}

fn print_detached(url: &str, pid: u32, up: &UpSettings, ctx: &Ctx) -> Result<ExitStatus> {
    show_dashboard(&format!("{}/", url.trim_end_matches('/')), up.open, ctx);
    if ctx.printer.json() {
        ctx.printer.json_line(&serde_json::json!({
            "url": url,
            "pid": pid,
            "data_dir": up.data_dir,
            "log": log_file(&up.data_dir),
        }))?;
    } else {
        ctx.printer.line(url)?;
    }
    Ok(ExitStatus::Success)
}

/// The dashboard's address for a server listening on `addr`: a browser cannot go to an unspecified address
/// such as `0.0.0.0`, so that becomes loopback.
fn dashboard_url(addr: SocketAddr) -> String {
    let ip = match addr.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(ip) if ip.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
        ip => ip,
    };
    format!("http://{}/", SocketAddr::new(ip, addr.port()))
}

/// Says where the dashboard is and, with `--open`, opens it.
fn show_dashboard(url: &str, open: bool, ctx: &Ctx) {
    ctx.printer.note(&format!("dashboard {url}"));
    if open {
        open_browser(url, ctx);
    }
}

/// Opens `url` in the user's browser without waiting for it: the first command of `$BROWSER` when set (as
/// xdg-open and Python's webbrowser honour it), else the desktop's opener. A failure is only a warning: the
/// server is up either way.
fn open_browser(url: &str, ctx: &Ctx) {
    let opener = std::env::var("BROWSER")
        .ok()
        .and_then(|list| {
            list.split(':')
                .map(str::trim)
                .find(|b| !b.is_empty())
                .map(str::to_owned)
        })
        .unwrap_or_else(|| {
            if cfg!(target_os = "macos") {
                "open"
            } else {
                "xdg-open"
            }
            .to_owned()
        });
    let spawned = tokio::process::Command::new(&opener)
        .arg(url)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn();
    match spawned {
        // Reaped in the background, so that an opener that exits leaves no zombie behind a long-lived server.
        Ok(mut child) => {
            tokio::spawn(async move {
                let _ = child.wait().await;
            });
        }
        Err(e) => ctx.printer.warn(&format!(
            "could not open a browser ({opener}: {e}); open {url} yourself"
        )),
    }
}

async fn healthy(url: &str, ctx: &Ctx) -> bool {
    match url::Url::parse(url) {
        Ok(url) => match Client::new(url, ctx.settings.token.as_deref()) {
            Ok(client) => client.health().await.is_ok(),
            Err(_) => false,
        },
        Err(_) => false,
    }
}

fn read_log_from(path: &Path, offset: u64) -> String {
    std::fs::read(path)
        .map(|bytes| {
            let start = usize::try_from(offset).unwrap_or(0).min(bytes.len());
            String::from_utf8_lossy(&bytes[start..]).into_owned()
        })
        .unwrap_or_default()
}

fn listening_url(log: &str) -> Option<String> {
    log.lines()
        .find_map(|line| line.strip_prefix(LISTENING))
        .map(|url| url.trim().to_owned())
}

#[cfg(test)]
mod tests {
    use super::dashboard_url;

    #[test]
    fn the_dashboard_url_is_one_a_browser_can_open() {
        let url = |addr: &str| dashboard_url(addr.parse().unwrap());
        assert_eq!(url("127.0.0.1:8000"), "http://127.0.0.1:8000/");
        assert_eq!(url("0.0.0.0:8000"), "http://127.0.0.1:8000/");
        assert_eq!(url("[::]:8000"), "http://[::1]:8000/");
        assert_eq!(url("192.168.1.5:9"), "http://192.168.1.5:9/");
    }
}
