//! `dq health`: asks the server's `/healthz` (server and broker).

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
}

impl Render for Health {
    fn human(&self, styles: &Styles) -> String {
        format!(
            "{} {} is healthy · broker {}",
            styles.ok("ok"),
            self.url,
            styles.dim(&self.answer.driftq)
        )
    }
}

/// `dq health`.
pub async fn run(ctx: &Ctx) -> Result<ExitStatus> {
    let client = ctx.client()?;
    let answer = client.health().await?;
    ctx.printer.result(&Health {
        url: client.base().to_string(),
        answer,
    })?;
    Ok(ExitStatus::Success)
}
