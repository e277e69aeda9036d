//! `dq emit RUN JSON`: pushes a debug event into a run's timeline (`POST /runs/{id}/emit`).

use dq_proto::runs::EmitRequest;
use serde::Serialize;

use crate::cli::EmitArgs;
use crate::commands::{Ctx, read_object};
use crate::error::{ExitStatus, Result};
use crate::output::{Render, Styles};

#[derive(Serialize)]
struct Emitted {
    ok: bool,
    run_id: String,
}

impl Render for Emitted {
    fn human(&self, styles: &Styles) -> String {
        format!(
            "{} event added to run {}",
            styles.ok("ok"),
            styles.accent(&self.run_id)
        )
    }
}

/// `dq emit`.
pub async fn run(args: EmitArgs, ctx: &Ctx) -> Result<ExitStatus> {
    let event = read_object(&args.event, "the event")?;
    let answer = ctx
        .client()?
        .emit(&args.run, &EmitRequest { event })
        .await?;
    ctx.printer.result(&Emitted {
        ok: answer.ok,
        run_id: args.run,
    })?;
    Ok(ExitStatus::Success)
}
