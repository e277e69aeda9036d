//! `dq workflows list` and `dq workflows show NAME`: the workflows the server runs (`GET /workflows`), their
//! steps and the retry policy of each step. An unknown NAME is a rejection naming the known ones (exit 4).

use dq_proto::workflow::{Action, Policy, Step, Workflow, WorkflowList};

use crate::cli::{WorkflowsCommand, WorkflowsShowArgs};
use crate::commands::Ctx;
use crate::error::{CliError, ExitStatus, Result};
use crate::output::{Render, Styles};

/// `dq workflows …`.
pub async fn run(command: WorkflowsCommand, ctx: &Ctx) -> Result<ExitStatus> {
    let list = ctx.client()?.workflows().await?;
    match command {
        WorkflowsCommand::List => ctx.printer.result(&Listed::new(&list))?,
        WorkflowsCommand::Show(WorkflowsShowArgs { name }) => {
            let Some(workflow) = list.workflows.iter().find(|w| w.name == name) else {
                let known: Vec<&str> = list.workflows.iter().map(|w| w.name.as_str()).collect();
                return Err(CliError::Rejected {
                    status: 404,
                    message: format!(
                        "the server runs no workflow {name}; it runs {}",
                        known.join(", ")
                    ),
                });
            };
            ctx.printer.result(&Shown(workflow))?;
        }
    }
    Ok(ExitStatus::Success)
}

/// `dq workflows list`: `{"count", "items"}` as every dq list document.
#[derive(serde::Serialize)]
struct Listed<'a> {
    count: usize,
    #[serde(rename = "items")]
    workflows: &'a [Workflow],
}

impl<'a> Listed<'a> {
    fn new(list: &'a WorkflowList) -> Self {
        Self {
            count: list.workflows.len(),
            workflows: &list.workflows,
        }
    }
}

impl Render for Listed<'_> {
    fn human(&self, styles: &Styles) -> String {
        let mut table = styles.table(&["workflow", "from", "steps"]);
        for workflow in self.workflows {
            table.add_row(vec![
                workflow.name.clone(),
                workflow.source.clone(),
                workflow.step_names().join(" → "),
            ]);
        }
        Styles::render(&table)
    }
}

/// `dq workflows show`: the workflow as the server sends it.
#[derive(serde::Serialize)]
#[serde(transparent)]
struct Shown<'a>(&'a Workflow);

impl Render for Shown<'_> {
    fn human(&self, styles: &Styles) -> String {
        let workflow = self.0;
        let mut lines = vec![format!(
            "{} ({})",
            styles.accent(&workflow.name),
            workflow.source
        )];
        let defaults = policy(&workflow.defaults);
        if !defaults.is_empty() {
            lines.push(format!("defaults: {defaults}"));
        }
        let mut table = styles.table(&["step", "does", "policy"]);
        for step in &workflow.steps {
            table.add_row(vec![step.name.clone(), action(step), policy(&step.policy)]);
        }
        lines.push(Styles::render(&table));
        lines.join("\n")
    }
}

/// What a step does, in one line.
fn action(step: &Step) -> String {
    match &step.action {
        Action::Run { argv, shell, .. } if *shell => format!("sh -c {:?}", argv.join(" ")),
        Action::Run { argv, .. } => format!("run {}", argv.join(" ")),
        Action::Http { method, url, .. } => format!("{method} {url}"),
        Action::Sleep { ms: Some(ms) } => format!("sleep {ms}ms"),
        Action::Sleep { ms: None } => "sleep (the server's step delay)".to_owned(),
    }
}

/// The set fields of a policy, e.g. `timeout 5000ms, max_attempts 5, backoff 100ms×2 ≤ 2000ms`.
fn policy(policy: &Policy) -> String {
    let codes = |codes: &[u16]| {
        codes
            .iter()
            .map(u16::to_string)
            .collect::<Vec<_>>()
            .join(" ")
    };
    let mut parts = Vec::new();
    if let Some(ms) = policy.timeout_ms {
        parts.push(format!("timeout {ms}ms"));
    }
    if let Some(n) = policy.max_attempts {
        parts.push(format!("max_attempts {n}"));
    }
    if let Some(b) = &policy.backoff {
        let jitter = if b.jitter > 0.0 {
            format!(" jitter {}", b.jitter)
        } else {
            String::new()
        };
        parts.push(format!(
            "backoff {}ms×{} ≤ {}ms{jitter}",
            b.initial_ms, b.multiplier, b.max_ms
        ));
    }
    if let Some(codes_) = &policy.retry_on {
        parts.push(format!("retry_on {}", codes(codes_)));
    }
    if let Some(codes_) = &policy.non_retryable {
        parts.push(format!("non_retryable {}", codes(codes_)));
    }
    parts.join(", ")
}
