//! The HTTP floor of the machine: how many request/response round trips per second loopback HTTP/1.1 allows
//! at all, with the same lean client and connection count as the broker scenario.
//!
//! Two servers answer `GET /v1/healthz` in turn: a bare hyper server that does nothing else (this benchmark's
//! own executable, started as a separate process with the hidden `floor-server` subcommand, so that client and
//! server are two processes as with `dq up`), then `dq up` itself. The first figure bounds every HTTP server on
//! this machine; the second is what dq's HTTP stack (axum, its layers, the request id) leaves of it. A message
//! of the broker scenario costs two round trips (produce, ack), so half the first figure bounds the end-to-end
//! messages per second that any broker speaking one request per produce and per ack could reach here.
//!
//! Then the `/v1` floor: the broker scenario's own load (the same code, the same flags) against a bare hyper
//! server that serves its three `/v1` endpoints from memory and syncs each produce and ack to a file with a
//! group commit before answering ([`crate::floor_broker`], another child process). Its server CPU per message
//! is what dq would cost with routing, layers and storage reduced to nothing but that sync.

use std::net::{SocketAddr, TcpListener};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;

use crate::broker::{Target, ThroughputArgs, drive};
use crate::http1::Conn;
use crate::report::micros_each;
use crate::server::{Server, cpu_time};

/// Flags of the floor scenario.
#[derive(Debug, clap::Args)]
pub struct FloorArgs {
    /// Round trips per server.
    #[arg(long, default_value_t = 200_000)]
    requests: u64,
    /// Concurrent keep-alive connections, one request outstanding on each.
    #[arg(long, default_value_t = 32)]
    connections: usize,
    /// The load of the `/v1` floor, as `dq-bench broker` takes it (`--server-arg` goes to the `dq up` of the
    /// health round trips).
    #[command(flatten)]
    broker: ThroughputArgs,
}

/// Runs the floor scenario and prints its figures.
pub async fn floor(dq: &Path, args: FloorArgs) -> anyhow::Result<()> {
    let bare = BareServer::start(&["floor-server"])?;
    let cpu_before = cpu_time(bare.child.id())?;
    let bare_rate = round_trips(bare.addr, &args).await?;
    let bare_cpu = micros_each(
        cpu_time(bare.child.id())?.saturating_sub(cpu_before),
        args.requests,
    );
    drop(bare);
    println!(
        "bare hyper server: {bare_rate:.0} round trips/s, server CPU {bare_cpu:.1} µs per round trip ({} GET over \
         {} connections)",
        args.requests, args.connections
    );
    println!(
        "  at two round trips per message (produce, ack): at most {:.0} messages/s end to end",
        bare_rate / 2.0
    );

    let extra: Vec<&str> = ["--workers", "0"]
        .into_iter()
        .chain(args.broker.server_args.iter().map(String::as_str))
        .collect();
    let server = Server::start(dq, &extra).await?;
    let cpu_before = server.cpu_time()?;
    let dq_rate = round_trips(server.addr, &args).await?;
    let dq_cpu = micros_each(server.cpu_time()?.saturating_sub(cpu_before), args.requests);
    println!(
        "dq up, GET /v1/healthz: {dq_rate:.0} round trips/s ({:.0}% of the bare server), server CPU {dq_cpu:.1} µs \
         per round trip",
        100.0 * dq_rate / bare_rate
    );
    drop(server);

    let data = tempfile::tempdir()?;
    let data_dir = data
        .path()
        .to_str()
        .context("a temporary dir that is not UTF-8")?;
    let v1 = BareServer::start(&["floor-broker-server", "--data-dir", data_dir])?;
    println!(
        "/v1 floor (a bare hyper server, topics in memory, a group-committed fdatasync per produce and ack):"
    );
    drive(
        &Target {
            addr: v1.addr,
            url: format!("http://{}", v1.addr),
            pid: v1.child.id(),
        },
        &args.broker,
    )
    .await
}

/// `GET /v1/healthz` `requests` times over `connections` closed-loop connections; returns round trips per second.
async fn round_trips(addr: SocketAddr, args: &FloorArgs) -> anyhow::Result<f64> {
    let next = Arc::new(AtomicU64::new(0));
    let total = args.requests;
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..args.connections {
        let next = next.clone();
        tasks.push(tokio::spawn(async move {
            let mut conn = Conn::connect(addr).await?;
            while next.fetch_add(1, Ordering::Relaxed) < total {
                let answer = conn.get("/v1/healthz").await?;
                if answer.status != 200 {
                    bail!("GET /v1/healthz answered {}", answer.status);
                }
            }
            anyhow::Ok(())
        }));
    }
    for task in tasks {
        task.await??;
    }
    Ok(total as f64 / started.elapsed().as_secs_f64())
}

/// A server of this executable as a child process; killed on drop.
struct BareServer {
    child: Child,
    addr: SocketAddr,
}

impl BareServer {
    /// Starts this executable with `args` (a hidden server subcommand and its flags) plus `--listen`.
    fn start(args: &[&str]) -> anyhow::Result<Self> {
        let addr: SocketAddr = TcpListener::bind("127.0.0.1:0")?.local_addr()?;
        let child = Command::new(std::env::current_exe()?)
            .args(args)
            .arg("--listen")
            .arg(addr.to_string())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .context("starting the bare floor server")?;
        let server = Self { child, addr };
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(addr).is_err() {
            if Instant::now() > deadline {
                bail!("the bare floor server did not listen within 10 s");
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        Ok(server)
    }
}

impl Drop for BareServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The bare server: hyper's HTTP/1.1 connection loop answering every request with `{"status":"ok"}`, nothing
/// else (no routing, no layers), with `TCP_NODELAY` as `dq up` sets it.
pub async fn serve_bare(listen: SocketAddr) -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind(listen).await?;
    loop {
        let (stream, _) = listener.accept().await?;
        stream.set_nodelay(true)?;
        tokio::spawn(async move {
            let answer = service_fn(|_request| async {
                Ok::<_, std::convert::Infallible>(hyper::Response::new(
                    r#"{"status":"ok"}"#.to_owned(),
                ))
            });
            // A client hanging up is the end of its connection, not an error of the benchmark.
            let _ = http1::Builder::new()
                .serve_connection(TokioIo::new(stream), answer)
                .await;
        });
    }
}
