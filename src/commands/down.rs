//! `dq down`: stops the server started by `dq up --detach` (SIGTERM, then SIGKILL if it lingers) and, with
//! `--wipe`, deletes the data dir after a confirmation on a terminal (skipped with `-y`, in CI or without a
//! terminal on stdin). Only a directory that `dq up` marked as a data dir ([`daemon::MARKER`]), and in it only the
//! files dq writes: a typo (`--data-dir .`, `DQ_DATA_DIR=$HOME`) deletes nothing and exits 2; anything else
//! in a real data dir is kept, and so is the directory then.

use std::path::{Path, PathBuf};

use crate::cli::DownArgs;
use crate::commands::Ctx;
use crate::daemon::{self, pid_file, recorded_url, running_pid, stop, url_file, url_index_file};
use crate::error::{CliError, ExitStatus, Result};
use crate::settings::resolve_data_dir;

/// `dq down`.
pub async fn run(args: DownArgs, ctx: &Ctx) -> Result<ExitStatus> {
    let data_dir = find_data_dir(&args, ctx)?;
    if args.wipe && data_dir.exists() && !daemon::marker_file(&data_dir).is_file() {
        return Err(CliError::Usage(format!(
            "{} is not a dq data dir (no {} file, which `dq up` writes): nothing deleted",
            data_dir.display(),
            daemon::MARKER
        )));
    }
    let pid_path = pid_file(&data_dir);
    let url = recorded_url(&data_dir);
    let pid = running_pid(&pid_path);
    match pid {
        Some(pid) => {
            stop(pid).await?;
            ctx.printer.note(&format!("stopped dq (pid {pid})"));
        }
        None => ctx.printer.note(&format!(
            "no detached dq server is running from {}",
            data_dir.display()
        )),
    }
    let _ = std::fs::remove_file(&pid_path);
    let _ = std::fs::remove_file(url_file(&data_dir));
    if let Some(index) = url
        .as_deref()
        .and_then(|u| url::Url::parse(u).ok())
        .and_then(|u| url_index_file(&u))
    {
        let _ = std::fs::remove_file(index);
    }
    let status = down_wipe(&args, &data_dir, ctx)?;
    if ctx.printer.json() {
        ctx.printer.json_line(&serde_json::json!({
            "stopped": pid.is_some(),
            "pid": pid,
            "url": url,
            "data_dir": data_dir,
            "wiped": args.wipe && !data_dir.exists(),
        }))?;
    }
    Ok(status)
}

/// The data dir of the server to stop: `--data-dir` / `DQ_DATA_DIR`; else, with `--url` / `DQ_URL`, the data
/// dir whose detached server recorded that URL; else the default data dir.
fn find_data_dir(args: &DownArgs, ctx: &Ctx) -> Result<PathBuf> {
    if args.data.data_dir.is_none() && ctx.settings.url_given {
        let wanted = &ctx.settings.url;
        let serves = |dir: &Path| {
            recorded_url(dir)
                .and_then(|u| url::Url::parse(&u).ok())
                .is_some_and(|u| {
                    u.host() == wanted.host()
                        && u.port_or_known_default() == wanted.port_or_known_default()
                })
        };
        if let Some(dir) = url_index_file(wanted)
            .and_then(|index| std::fs::read(index).ok())
            .map(|bytes| PathBuf::from(String::from_utf8_lossy(&bytes).into_owned()))
            .filter(|dir| serves(dir))
        {
            return Ok(dir);
        }
        let default = resolve_data_dir(&args.data)?;
        if !serves(&default) {
            ctx.printer.note(&format!(
                "no detached dq server is known to listen on {wanted}; looking in {}",
                default.display()
            ));
        }
        return Ok(default);
    }
    resolve_data_dir(&args.data)
}

fn down_wipe(args: &DownArgs, data_dir: &Path, ctx: &Ctx) -> Result<ExitStatus> {
    let data_dir = data_dir.to_owned();
    if args.wipe && data_dir.exists() {
        if !ctx.settings.yes {
            if !ctx.settings.terminal.interactive() {
                return Err(CliError::Usage(
                    "--wipe needs a confirmation and stderr is not a terminal: pass -y".into(),
                ));
            }
            if !confirm_wipe(&data_dir)? {
                ctx.printer.note("nothing deleted");
                return Ok(ExitStatus::Success);
            }
        }
        let kept = wipe(&data_dir)?;
        if kept.is_empty() {
            ctx.printer.note(&format!("deleted {}", data_dir.display()));
        } else {
            ctx.printer.note(&format!(
                "deleted dq's files in {}; kept the directory and what dq did not write there: {}",
                data_dir.display(),
                kept.join(", ")
            ));
        }
    }
    Ok(ExitStatus::Success)
}

/// Whether `name` is a file or directory that dq (its store, pid, log, marker) writes in a data dir.
fn is_dq_file(name: &str) -> bool {
    // fjall: `lock`, `version`, `keyspaces/`, journals `<n>.jnl` (and repaired copies `<n>.jnl.corrupt-<ms>`).
    let journal = name.split_once(".jnl").is_some_and(|(n, rest)| {
        !n.is_empty()
            && n.bytes().all(|b| b.is_ascii_digit())
            && (rest.is_empty() || rest.starts_with(".corrupt-"))
    });
    journal
        || matches!(name, "lock" | "version" | "keyspaces" | daemon::MARKER)
        || name.starts_with("dq.")
}

/// Deletes dq's files in `data_dir`, then the directory if nothing else is left; returns the names kept.
fn wipe(data_dir: &Path) -> Result<Vec<String>> {
    let io = |e| CliError::io(format!("deleting {}", data_dir.display()), e);
    let mut kept = Vec::new();
    let mut marker = None;
    for entry in std::fs::read_dir(data_dir).map_err(io)? {
        let entry = entry.map_err(io)?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if !is_dq_file(&name) {
            kept.push(name);
            continue;
        }
        if name == daemon::MARKER {
            // Last: an interrupted wipe can be run again.
            marker = Some(entry.path());
            continue;
        }
        let path = entry.path();
        if entry.file_type().map_err(io)?.is_dir() {
            std::fs::remove_dir_all(&path).map_err(io)?;
        } else {
            std::fs::remove_file(&path).map_err(io)?;
        }
    }
    if kept.is_empty() {
        std::fs::remove_dir_all(data_dir).map_err(io)?;
    } else if let Some(marker) = marker {
        std::fs::remove_file(marker).map_err(io)?;
    }
    kept.sort();
    Ok(kept)
}

fn confirm_wipe(data_dir: &Path) -> Result<bool> {
    dialoguer::Confirm::new()
        .with_prompt(format!(
            "delete {} and everything in it (runs, events, DLQ records)?",
            data_dir.display()
        ))
        .default(false)
        .interact()
        .map_err(|e| CliError::failed("asking for confirmation", e))
}

#[cfg(test)]
mod tests {
    use super::is_dq_file;

    #[test]
    fn only_dq_files_are_dq_files() {
        for name in [
            "lock",
            "version",
            "keyspaces",
            "0.jnl",
            "12.jnl.corrupt-1700000000000",
        ] {
            assert!(is_dq_file(name), "{name}");
        }
        for name in ["dq.pid", "dq.log", "dq-data-dir"] {
            assert!(is_dq_file(name), "{name}");
        }
        for name in [
            ".bashrc",
            "notes.txt",
            "a.jnl",
            "1.jnl.bak",
            "Documents",
            "dq",
        ] {
            assert!(!is_dq_file(name), "{name}");
        }
    }
}
