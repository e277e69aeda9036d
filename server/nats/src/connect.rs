//! Connecting to a JetStream cluster: the `nats://` URLs and credentials, the four streams (created when
//! missing, with three replicas where the cluster has room), and the durability check at connect.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use async_nats::jetstream;
use dq_runs::QueueError;

use crate::layout;

/// How to reach the cluster.
#[derive(Debug, Clone, Default)]
pub struct NatsOptions {
    /// One or more comma-separated server URLs (`nats://h1:4222,nats://h2:4222`; `tls://` requires TLS). A
    /// user and password or a token may be in the URL (`nats://user:pass@host`, `nats://token@host`).
    pub urls: String,
    /// A NATS credentials file (JWT + nkey seed), as `nats` tools take it.
    pub creds_file: Option<PathBuf>,
    /// Commands a consumer pulls at a time: a worker's concurrency, so that it holds no more leases than it
    /// can run. 0 means 16.
    pub pull_batch: usize,
}

/// Whether `--broker` names a NATS cluster (`nats://…` or `tls://…`, comma-separated) rather than a DriftQ v1
/// broker.
pub fn is_nats_url(url: &str) -> bool {
    url.starts_with("nats://") || url.starts_with("tls://")
}

/// How long connecting keeps retrying the stream set-up: a cluster that was just started, or that lost a
/// node, has no JetStream meta leader for a few seconds.
const SETUP_DEADLINE: Duration = Duration::from_secs(30);
/// How long a JetStream API request or a publish ack may take: above a leader election (4–9 s measured).
pub(crate) const API_TIMEOUT: Duration = Duration::from_secs(15);

/// The connection and the JetStream context, the streams ready.
pub(crate) struct Connected {
    pub client: async_nats::Client,
    pub js: jetstream::Context,
    /// The server answers batched direct gets (≥ 2.11).
    pub batched_reads: bool,
}

pub(crate) async fn connect(options: &NatsOptions) -> Result<Connected, QueueError> {
    let urls: Vec<async_nats::ServerAddr> = options
        .urls
        .split(',')
        .map(str::trim)
        .filter(|u| !u.is_empty())
        .map(|u| {
            u.parse()
                .map_err(|e| QueueError::Rejected(format!("invalid NATS URL {u:?}: {e}")))
        })
        .collect::<Result<_, _>>()?;
    if urls.is_empty() {
        return Err(QueueError::Rejected("no NATS URL given".into()));
    }
    let mut connect = async_nats::ConnectOptions::new()
        .name("dq")
        .connection_timeout(Duration::from_secs(10))
        .request_timeout(Some(API_TIMEOUT));
    if let Some(path) = &options.creds_file {
        connect = connect.credentials_file(path).await.map_err(|e| {
            QueueError::Rejected(format!(
                "cannot read NATS credentials {}: {e}",
                path.display()
            ))
        })?;
    }
    let client = connect
        .connect(urls)
        .await
        .map_err(|e| QueueError::Unavailable(format!("cannot connect to NATS: {e}")))?;
    let js = jetstream::ContextBuilder::new()
        .timeout(API_TIMEOUT)
        .ack_timeout(API_TIMEOUT)
        .build(client.clone());
    let info = client.server_info();
    let batched_reads = version_at_least(&info.version, 2, 11);
    if !version_at_least(&info.version, 2, 10) {
        return Err(QueueError::Rejected(format!(
            "nats-server {} is too old: dq needs 2.10 or later",
            info.version
        )));
    }
    if !info.jetstream {
        return Err(QueueError::Rejected(
            "JetStream is not enabled on this NATS server".into(),
        ));
    }
    let replicas = if info.cluster.is_some() { 3 } else { 1 };
    let replicas = create_streams(&js, replicas).await?;
    check_durability(&client, replicas).await;
    Ok(Connected {
        client,
        js,
        batched_reads,
    })
}

/// Creates the four streams unless they exist; returns their replica count. Retries while the cluster has no
/// meta leader yet; a cluster too small for three replicas gets one.
async fn create_streams(js: &jetstream::Context, replicas: usize) -> Result<usize, QueueError> {
    let started = Instant::now();
    let mut replicas = replicas;
    loop {
        let mut created = Ok(replicas);
        for config in layout::streams(replicas) {
            match js.get_or_create_stream(config).await {
                Ok(stream) => created = Ok(stream.cached_info().config.num_replicas),
                Err(e) => {
                    created = Err(e.to_string());
                    break;
                }
            }
        }
        match created {
            Ok(n) => return Ok(n),
            Err(e) if e.contains("insufficient resources") && replicas > 1 => {
                tracing::warn!("the NATS cluster has no room for 3 replicas ({e}); using 1");
                replicas = 1;
            }
            Err(e) if started.elapsed() < SETUP_DEADLINE => {
                tracing::debug!("JetStream not ready yet: {e}");
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
            Err(e) => {
                return Err(QueueError::Unavailable(format!(
                    "cannot create the JetStream streams: {e}"
                )));
            }
        }
    }
}

/// dq promises "an answered write is on disk". On JetStream that holds with three replicas and every server
/// fsyncing each write (`jetstream { sync_interval: always }`). The sync setting is visible only to the system
/// account, so it is checked where this connection may ask, and otherwise the operator is reminded once.
async fn check_durability(client: &async_nats::Client, replicas: usize) {
    if replicas < 3 {
        tracing::warn!(
            replicas,
            "JetStream streams have fewer than 3 replicas: losing that server loses answered writes"
        );
    }
    let asked = tokio::time::timeout(
        Duration::from_secs(2),
        client.request("$SYS.REQ.SERVER.PING.VARZ", "".into()),
    )
    .await;
    let sync_always = match asked {
        Ok(Ok(reply)) => serde_json::from_slice::<serde_json::Value>(&reply.payload)
            .ok()
            .and_then(|v| v.pointer("/data/jetstream/config/sync_always")?.as_bool()),
        _ => None,
    };
    match sync_always {
        Some(true) => {}
        Some(false) => tracing::warn!(
            "the NATS servers do not fsync each write (set `jetstream {{ sync_interval: always }}`): an \
             answered write may be lost if servers lose power together"
        ),
        None => tracing::warn!(
            "cannot check the NATS servers' sync setting from this account: answered writes are on disk only \
             if every server runs with `jetstream {{ sync_interval: always }}`"
        ),
    }
}

/// Whether a `major.minor.patch[-suffix]` version is at least `major.minor`.
fn version_at_least(version: &str, major: u64, minor: u64) -> bool {
    let mut parts = version
        .trim_start_matches('v')
        .split(['.', '-'])
        .map(|p| p.parse::<u64>().unwrap_or(0));
    let found = (parts.next().unwrap_or(0), parts.next().unwrap_or(0));
    found >= (major, minor)
}

#[cfg(test)]
mod tests {
    use super::version_at_least;

    #[test]
    fn versions_compare_by_major_then_minor() {
        assert!(version_at_least("2.15.1", 2, 11));
        assert!(version_at_least("2.11.0-RC.1", 2, 11));
        assert!(!version_at_least("2.10.26", 2, 11));
        assert!(!version_at_least("2.9.10", 2, 10));
        assert!(version_at_least("3.0.0", 2, 10));
    }
}
