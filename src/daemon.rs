//! The files and processes of a detached `dq up`: where a data dir keeps its pid, log, URL and marker, a
//! user-wide index from URL to data dir, whether a recorded pid is still a live dq server, stopping it, and the
//! signals that end a foreground server or worker. `dq up`, `dq down` and `dq worker` share these; none of them
//! depends on another command.

use std::path::{Path, PathBuf};
use std::time::Duration;

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

use crate::error::{CliError, Result};

/// How long a stopped server may take to exit before it is killed.
const STOP_GRACE: Duration = Duration::from_secs(5);

/// The pid file of a detached server.
pub fn pid_file(data_dir: &Path) -> PathBuf {
    data_dir.join("dq.pid")
}

/// The marker that says a directory is a dq data dir: `dq up` writes it, `dq down --wipe` requires it.
pub fn marker_file(data_dir: &Path) -> PathBuf {
    data_dir.join(MARKER)
}

/// The marker's file name.
pub const MARKER: &str = "dq-data-dir";

/// Where a detached server listens (its URL), written once it answers: `dq down` and a second `dq up --detach`
/// read it.
pub fn url_file(data_dir: &Path) -> PathBuf {
    data_dir.join("dq.url")
}

/// The URL a detached server of `data_dir` recorded, if any.
pub fn recorded_url(data_dir: &Path) -> Option<String> {
    let url = std::fs::read_to_string(url_file(data_dir)).ok()?;
    let url = url.trim();
    (!url.is_empty()).then(|| url.to_owned())
}

/// A user-wide note of which data dir serves a URL, so that `dq down --url U` finds its server: one file per
/// host and port under the platform cache dir.
pub fn url_index_file(url: &url::Url) -> Option<PathBuf> {
    let host = url.host_str()?;
    let port = url.port_or_known_default()?;
    let name: String = format!("{host}_{port}")
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' {
                c
            } else {
                '_'
            }
        })
        .collect();
    dirs::cache_dir().map(|d| d.join("dq").join("detached").join(name))
}

/// The log of a detached server.
pub fn log_file(data_dir: &Path) -> PathBuf {
    data_dir.join("dq.log")
}

/// The pid in `pid_path` if that process is alive and is a dq server.
pub fn running_pid(pid_path: &Path) -> Option<i32> {
    let pid: i32 = std::fs::read_to_string(pid_path)
        .ok()?
        .trim()
        .parse()
        .ok()?;
    let alive = kill(Pid::from_raw(pid), None).is_ok();
    // A stale pid file may name a recycled pid: make sure it is still `dq … up`.
    let is_dq = std::fs::read(format!("/proc/{pid}/cmdline"))
        .map_or(true, |cmd| cmd.split(|&b| b == 0).any(|arg| arg == b"up"));
    (alive && is_dq).then_some(pid)
}

/// Stops the server `pid`: SIGTERM, then SIGKILL once [`STOP_GRACE`] has passed.
pub async fn stop(pid: i32) -> Result<()> {
    let pid = Pid::from_raw(pid);
    kill(pid, Signal::SIGTERM)
        .map_err(|e| CliError::failed(format!("stopping dq (pid {pid})"), e))?;
    let deadline = tokio::time::Instant::now() + STOP_GRACE;
    while kill(pid, None).is_ok() && !is_zombie(pid) {
        if tokio::time::Instant::now() >= deadline {
            let _ = kill(pid, Signal::SIGKILL);
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    Ok(())
}

/// A child of ours that exited but was not reaped still answers `kill(pid, 0)`.
fn is_zombie(pid: Pid) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|stat| {
            stat.rsplit_once(") ")
                .map(|(_, rest)| rest.starts_with('Z'))
        })
        .unwrap_or(false)
}

/// Ctrl-C or SIGTERM. The handlers are installed when this is called, not when the future is first polled: a
/// caller that takes it before announcing itself stops gracefully on a signal sent right after the announcement
/// (before, such a SIGTERM met the default action and killed the process).
pub fn shutdown_signal() -> impl Future<Output = ()> {
    use tokio::signal::unix::{SignalKind, signal};
    let interrupt = signal(SignalKind::interrupt()).ok();
    let terminate = signal(SignalKind::terminate()).ok();
    async move {
        let received = |handler: Option<tokio::signal::unix::Signal>| async move {
            match handler {
                Some(mut handler) => {
                    handler.recv().await;
                }
                None => std::future::pending::<()>().await,
            }
        };
        tokio::select! {
            () = received(interrupt) => {}
            () = received(terminate) => {}
        }
    }
}
