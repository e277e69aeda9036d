//! Starts and stops the `dq up` process under test, and reads its memory use.

use std::collections::BTreeMap;
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use procfs::process::Process;

/// A running `dq up` with its own temporary data dir; killed on drop.
pub struct Server {
    child: Child,
    /// Base URL, e.g. `http://127.0.0.1:40123`.
    pub url: String,
    /// The address it listens on.
    pub addr: SocketAddr,
    data: tempfile::TempDir,
    extra: Vec<String>,
}

/// A stopped server's data dir and flags.
pub struct Stopped {
    data: tempfile::TempDir,
    extra: Vec<String>,
}

impl Stopped {
    /// The data dir, as the stopped server left it.
    pub fn data_dir(&self) -> &Path {
        self.data.path()
    }

    /// Starts `dq up` again on the same data dir with the same flags, and waits until it is healthy.
    pub async fn start(self, dq: &Path) -> anyhow::Result<Server> {
        Server::start_in(dq, self.data, self.extra).await
    }
}

/// The `dq` binary built next to this one (`cargo build --release -p dq -p dq-bench` puts both in one folder).
pub fn sibling_dq() -> anyhow::Result<PathBuf> {
    let me = std::env::current_exe()?;
    let dq = me.with_file_name("dq");
    if !dq.exists() {
        bail!(
            "no dq binary at {}: build it with `cargo build --release -p dq` or pass --dq",
            dq.display()
        );
    }
    Ok(dq)
}

impl Server {
    /// Starts `dq up` on a free loopback port with `extra` flags and waits until `/v1/healthz` answers.
    pub async fn start(dq: &Path, extra: &[&str]) -> anyhow::Result<Server> {
        let extra: Vec<String> = extra.iter().map(|s| (*s).to_owned()).collect();
        Self::start_in(dq, tempfile::tempdir()?, extra).await
    }

    /// Stops the server with SIGTERM (a graceful shutdown) or SIGKILL (a crash) and waits for it to exit,
    /// keeping its data dir and flags for [`Stopped::start`].
    pub fn stop(mut self, crash: bool) -> anyhow::Result<Stopped> {
        let signal = if crash {
            Signal::SIGKILL
        } else {
            Signal::SIGTERM
        };
        let pid = Pid::from_raw(i32::try_from(self.child.id())?);
        kill(pid, signal).with_context(|| format!("sending {signal} to dq up"))?;
        self.child.wait()?;
        Ok(Stopped {
            data: std::mem::replace(&mut self.data, tempfile::tempdir()?),
            extra: std::mem::take(&mut self.extra),
        })
    }

    async fn start_in(
        dq: &Path,
        data: tempfile::TempDir,
        extra: Vec<String>,
    ) -> anyhow::Result<Server> {
        let addr = TcpListener::bind("127.0.0.1:0")?.local_addr()?;
        let listen = addr.to_string();
        let child = Command::new(dq)
            .arg("up")
            .arg("--listen")
            .arg(&listen)
            .arg("--data-dir")
            .arg(data.path())
            .args(&extra)
            .env_remove("DQ_TOKEN")
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .with_context(|| format!("starting {}", dq.display()))?;
        let server = Server {
            child,
            url: format!("http://{listen}"),
            addr,
            data,
            extra,
        };
        let client = reqwest::Client::new();
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(r) = client
                .get(format!("{}/v1/healthz", server.url))
                .send()
                .await
                && r.status().is_success()
            {
                return Ok(server);
            }
            if Instant::now() > deadline {
                bail!("dq up did not become healthy within 30 s");
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// CPU time (user + system) the server has used so far.
    pub fn cpu_time(&self) -> anyhow::Result<Duration> {
        cpu_time(self.child.id())
    }

    /// The server's current and peak resident memory, in MiB.
    pub fn memory_mib(&self) -> anyhow::Result<(f64, f64)> {
        memory_mib(self.child.id())
    }

    /// The server's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

/// Process `pid`'s current and peak resident memory, in MiB, from `/proc/<pid>/status`.
pub fn memory_mib(pid: u32) -> anyhow::Result<(f64, f64)> {
    let status = Process::new(i32::try_from(pid)?)?.status()?;
    let mib = |kib: Option<u64>, name: &str| -> anyhow::Result<f64> {
        Ok(kib.with_context(|| format!("{name} missing from /proc status"))? as f64 / 1024.0)
    };
    Ok((mib(status.vmrss, "VmRSS")?, mib(status.vmhwm, "VmHWM")?))
}

/// CPU time (user + system) used so far by process `pid`, from `/proc/<pid>/stat`.
pub fn cpu_time(pid: u32) -> anyhow::Result<Duration> {
    let stat = Process::new(i32::try_from(pid)?)?.stat()?;
    // The kernel counts both in clock ticks (USER_HZ), which procfs reads from sysconf.
    let ticks = stat.utime + stat.stime;
    Ok(Duration::from_secs_f64(
        ticks as f64 / procfs::ticks_per_second() as f64,
    ))
}

/// CPU time (user + system) used so far by each kind of thread of process `pid`, by thread name (the runtime's
/// workers share one name, and so do fjall's): where a scenario's CPU goes without a profiler. A thread that
/// ended before the call is not counted, so compare snapshots of a server whose threads live for the whole
/// phase.
pub fn cpu_by_thread(pid: u32) -> anyhow::Result<BTreeMap<String, Duration>> {
    let per_tick = 1.0 / procfs::ticks_per_second() as f64;
    let mut by_name = BTreeMap::new();
    for task in Process::new(i32::try_from(pid)?)?.tasks()? {
        // A thread may end between the listing and the read: it is left out.
        let Ok(stat) = task.and_then(|task| task.stat()) else {
            continue;
        };
        *by_name.entry(stat.comm).or_insert(Duration::ZERO) +=
            Duration::from_secs_f64((stat.utime + stat.stime) as f64 * per_tick);
    }
    Ok(by_name)
}

/// What each kind of thread used between two [`cpu_by_thread`] snapshots, per `units` units of work, in µs,
/// largest first: "tokio-rt-worker 180, fjall:worker 12, …".
pub fn cpu_by_thread_line(
    before: &BTreeMap<String, Duration>,
    after: &BTreeMap<String, Duration>,
    units: u64,
) -> String {
    let mut used: Vec<(&String, f64)> = after
        .iter()
        .map(|(name, &total)| {
            let start = before.get(name).copied().unwrap_or_default();
            let micros = total.saturating_sub(start).as_secs_f64() * 1e6 / units.max(1) as f64;
            (name, micros)
        })
        .filter(|&(_, micros)| micros >= 0.5)
        .collect();
    used.sort_by(|a, b| b.1.total_cmp(&a.1));
    used.iter()
        .map(|(name, micros)| format!("{name} {micros:.0}"))
        .collect::<Vec<_>>()
        .join(", ")
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A named thread's CPU shows under its name while it lives.
    #[test]
    fn a_living_threads_cpu_is_counted_under_its_name() {
        let (done, wait) = std::sync::mpsc::channel::<()>();
        let (spun, spinning) = std::sync::mpsc::channel::<()>();
        let busy = std::thread::Builder::new()
            .name("bench-busy".into())
            .spawn(move || {
                let start = Instant::now();
                let mut x = 0u64;
                while start.elapsed() < Duration::from_millis(200) {
                    x = std::hint::black_box(x.wrapping_add(1));
                }
                spun.send(()).unwrap();
                wait.recv().ok();
            })
            .unwrap();
        spinning.recv().unwrap();
        let threads = cpu_by_thread(std::process::id()).unwrap();
        done.send(()).unwrap();
        busy.join().unwrap();
        let used = threads.get("bench-busy").copied().unwrap_or_default();
        assert!(used >= Duration::from_millis(10), "{threads:?}");
    }

    #[test]
    fn the_line_gives_each_kind_of_threads_share_per_unit_largest_first() {
        let ms = Duration::from_millis;
        let before = BTreeMap::from([("a".to_owned(), ms(10)), ("b".to_owned(), ms(0))]);
        let after = BTreeMap::from([
            ("a".to_owned(), ms(30)),
            ("b".to_owned(), ms(50)),
            ("c".to_owned(), ms(0)),
        ]);
        // Per 1,000 units: a used 20 ms (20 µs each), b 50 ms (50 µs), c nothing (left out).
        assert_eq!(cpu_by_thread_line(&before, &after, 1000), "b 50, a 20");
    }
}
