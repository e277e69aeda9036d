//! `dq health`: asks the server's `/healthz` (server, broker, storage) and `/v1/version`, and prints a short
//! summary. A server that answers, but not as dq does (a 404, a body that is not dq's health document), is "not
//! a dq server" (exit 4).

use dq_proto::runs::HealthResponse;
use serde::Serialize;

use crate::commands::Ctx;
use crate::error::{ExitStatus, Result};
use crate::output::{Render, Styles};

#[derive(Serialize)]
struct Health {
    url: String,
    #[serde(flatten)]
    answer: HealthResponse,
    /// The server's version, when it says (`/v1/version`; the original starter has none).
    #[serde(skip_serializing_if = "Option::is_none")]
    version: Option<String>,
    /// Whether the server writes durably (fsync), when it says.
    #[serde(skip_serializing_if = "Option::is_none")]
    fsync: Option<bool>,
}

impl Render for Health {
    fn human(&self, styles: &Styles) -> String {
        let broker = match &self.answer.driftq {
            serde_json::Value::Object(map) => map
                .get("status")
                .and_then(|s| s.as_str())
                .map_or_else(|| self.answer.driftq.to_string(), str::to_owned),
            other => other.to_string(),
        };
        let storage = match self.fsync {
            Some(true) => "ok (fsync on)",
            Some(false) => "ok (fsync off: the last writes are lost on a crash)",
            None => "ok",
        };
        let version = self.version.as_deref().unwrap_or("unknown");
        [
            format!("{} {} is healthy", styles.ok("ok"), self.url),
            format!("{:<9}{}", "version", version),
            format!("{:<9}{}", "broker", broker),
            format!("{:<9}{}", "storage", storage),
        ]
        .join("\n")
    }
}

/// `dq health`.
pub async fn run(ctx: &Ctx) -> Result<ExitStatus> {
    let client = ctx.client()?;
    let answer = client.health().await?;
    let version = client.version().await.ok();
    ctx.printer.result(&Health {
        url: client.base().to_string(),
        answer,
        version: version.as_ref().map(|v| v.version.clone()),
        fsync: version.map(|v| v.wal_enabled),
    })?;
    Ok(ExitStatus::Success)
}
