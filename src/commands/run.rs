//! `dq run`: starts a run (`POST /runs`) and follows its timeline until it ends — exit 0 succeeded, 3
//! dead-lettered — or prints its id with `--detach`.

use dq_proto::runs::{CreateRun, CreateRunResponse};

use crate::cli::RunArgs;
use crate::commands::watch::watch;
use crate::commands::{Ctx, check_fail_step, fail_step, read_object};
use crate::error::{ExitStatus, Result};
use crate::output::{Render, Styles};

impl Render for CreateRunResponse {
    fn human(&self, _styles: &Styles) -> String {
        self.run_id.clone()
    }
}

/// `dq run`.
pub async fn run(args: RunArgs, ctx: &Ctx) -> Result<ExitStatus> {
    check_fail_step(&args.fail, &args.workflow)?;
    let input = match &args.input {
        Some(raw) => read_object(raw, "--input")?,
        None => serde_json::Map::new(),
    };
    let body = CreateRun {
        workflow: args.workflow,
        input,
        fail_at: fail_step(&args.fail),
        max_attempts: args.max_attempts,
    };
    let client = ctx.client()?;
    let created = client.create_run(&body).await?;
    if args.detach {
        ctx.printer.result(&created)?;
        return Ok(ExitStatus::Success);
    }
    ctx.following(Some(&created.run_id));
    let fail = body.fail_at.as_deref().unwrap_or("none");
    ctx.printer.note(&format!(
        "run {} started (workflow {}, fail at {fail})",
        created.run_id, body.workflow
    ));
    watch(&client, ctx, &created.run_id, 0).await
}
