//! Executing one attempt of one step: a command (`run`), an HTTP request (`http`) or a pause (`sleep`). Each
//! gives the step's output (a JSON value, or none) or a [`StepFailure`] that says whether a retry may help.
//!
//! A command runs in its own process group, without a shell unless asked; it gets the run's input as JSON
//! on stdin and in `DQ_INPUT`, the earlier steps' outputs in `DQ_STEPS`, `DQ_RUN_ID` and `DQ_ATTEMPT`. Its
//! stdout (JSON, else the text) is the output; a non-zero exit or a timeout fails the step with the last
//! lines of stderr. The whole group is killed when the attempt ends (a timeout, a shutdown, or leftovers of
//! a finished command), so nothing a step started outlives it.

use std::process::Stdio;
use std::time::Duration;

use dq_proto::workflow::Action;
use serde_json::{Map, Value};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::process::Command;

use super::attempt::{RetryRule, StepFailure, human, output};
use super::http::fill;

/// Most bytes of stdout kept as a step's output: outputs are stored in the run's timeline.
const MAX_OUTPUT: usize = 256 * 1024;
/// Lines of stderr quoted in a failure.
const STDERR_LINES: usize = 5;
/// Most bytes of stderr kept (its end).
const STDERR_KEEP: usize = 4096;

/// What an attempt of a step sees.
pub(crate) struct StepContext<'a> {
    pub run_id: &'a str,
    /// The step's attempt, from 1.
    pub attempt: u32,
    pub input: &'a Map<String, Value>,
    /// The outputs of the steps before it, by step name.
    pub steps: &'a Map<String, Value>,
}

impl StepContext<'_> {
    /// The context as one JSON object, for templates: `input`, `steps`, `run_id`, `attempt`.
    fn as_value(&self) -> Value {
        serde_json::json!({
            "input": self.input,
            "steps": self.steps,
            "run_id": self.run_id,
            "attempt": self.attempt,
        })
    }
}

/// Runs one attempt of a step's action within `timeout` (none for a sleep: its length bounds it).
pub(crate) async fn execute(
    action: &Action,
    context: &StepContext<'_>,
    timeout: Duration,
    rule: &RetryRule<'_>,
    step_delay: Duration,
    http: &reqwest::Client,
) -> Result<Option<Value>, StepFailure> {
    match action {
        Action::Sleep { ms } => {
            tokio::time::sleep(ms.map_or(step_delay, Duration::from_millis)).await;
            Ok(None)
        }
        Action::Run { argv, shell, env } => run(argv, *shell, env, context, timeout, rule)
            .await
            .map(Some),
        Action::Http {
            method,
            url,
            headers,
            body_template,
        } => {
            let values = context.as_value();
            let request = super::http::Request {
                method,
                url: &fill(url, &values),
                headers: headers
                    .iter()
                    .map(|(k, v)| (k.clone(), fill(v, &values)))
                    .collect(),
                body: body_template.as_ref().map(|b| fill(b, &values)),
            };
            super::http::send(http, &request, timeout, rule)
                .await
                .map(Some)
        }
    }
}

/// Kills a command's process group when dropped: on a timeout, a shutdown (the attempt's future dropped) or
/// after the command exited (leftover children).
struct Group(Option<nix::unistd::Pid>);

impl Drop for Group {
    fn drop(&mut self) {
        if let Some(pid) = self.0 {
            // ESRCH (the group is gone) is the usual case after a clean exit.
            let _ = nix::sys::signal::killpg(pid, nix::sys::signal::Signal::SIGKILL);
        }
    }
}

async fn run(
    argv: &[String],
    shell: bool,
    env: &std::collections::BTreeMap<String, String>,
    context: &StepContext<'_>,
    timeout: Duration,
    rule: &RetryRule<'_>,
) -> Result<Value, StepFailure> {
    let fatal = |error: String| StepFailure {
        error,
        retryable: false,
    };
    let (program, args) = if shell {
        ("sh", vec!["-c".to_owned(), argv.join(" ")])
    } else {
        let (program, args) = argv
            .split_first()
            .ok_or_else(|| fatal("missing command".to_owned()))?;
        (program.as_str(), args.to_vec())
    };
    let input = Value::Object(context.input.clone()).to_string();
    let mut command = Command::new(program);
    command
        .args(&args)
        .envs(env)
        .env("DQ_INPUT", &input)
        .env("DQ_STEPS", Value::Object(context.steps.clone()).to_string())
        .env("DQ_RUN_ID", context.run_id)
        .env("DQ_ATTEMPT", context.attempt.to_string())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .kill_on_drop(true);
    let mut child = command
        .spawn()
        .map_err(|e| fatal(format!("cannot start {program}: {e}")))?;
    let _group = Group(
        child
            .id()
            .and_then(|id| i32::try_from(id).ok())
            .map(nix::unistd::Pid::from_raw),
    );
    let stdin = child.stdin.take();
    let stdout = child.stdout.take();
    let stderr = child.stderr.take();
    let feed = async move {
        if let Some(mut stdin) = stdin {
            // A command that does not read its stdin closes it: that is not a failure.
            let _ = stdin.write_all(input.as_bytes()).await;
        }
    };
    let finished = async {
        let ((), out, err, status) =
            tokio::join!(feed, read_capped(stdout), read_capped(stderr), child.wait());
        (out, err, status)
    };
    let Ok((out, err, status)) = tokio::time::timeout(timeout, finished).await else {
        return Err(StepFailure::retryable(format!(
            "timed out after {}",
            human(timeout)
        )));
    };
    let tail = stderr_tail(&err.0);
    let status =
        status.map_err(|e| StepFailure::retryable(format!("waiting for {program}: {e}")))?;
    if !status.success() {
        let (what, code) = match status.code() {
            Some(code) => (format!("exit code {code}"), u16::try_from(code).ok()),
            None => ("killed by a signal".to_owned(), None),
        };
        let retryable = code.is_none_or(|c| rule.allows(c, true));
        let error = if tail.is_empty() {
            what
        } else {
            format!("{what}: {tail}")
        };
        return Err(StepFailure { error, retryable });
    }
    if out.1 {
        return Err(fatal(format!("output over {MAX_OUTPUT} bytes")));
    }
    Ok(output(&out.0))
}

/// Reads a pipe to its end, keeping up to [`MAX_OUTPUT`] bytes; true when there was more.
async fn read_capped(pipe: Option<impl AsyncRead + Unpin>) -> (Vec<u8>, bool) {
    let Some(mut pipe) = pipe else {
        return (Vec::new(), false);
    };
    let mut kept = Vec::new();
    let mut over = false;
    // On the heap: on the stack the buffer would make every future awaiting a step 8 KiB larger.
    let mut buf = vec![0u8; 8192];
    loop {
        match pipe.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) if kept.len() + n <= MAX_OUTPUT => kept.extend_from_slice(&buf[..n]),
            Ok(_) => over = true,
        }
    }
    (kept, over)
}

/// The last lines of stderr, joined with ` | `.
fn stderr_tail(bytes: &[u8]) -> String {
    let start = bytes.len().saturating_sub(STDERR_KEEP);
    let text = String::from_utf8_lossy(&bytes[start..]);
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    lines[lines.len().saturating_sub(STDERR_LINES)..].join(" | ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stdout_is_json_or_text_and_stderr_keeps_its_last_lines() {
        assert_eq!(output(b"{\"a\":1}\n"), serde_json::json!({"a": 1}));
        assert_eq!(output(b"hello\n"), Value::String("hello".into()));
        let err = (1..=8)
            .map(|n| format!("line {n}\n"))
            .collect::<Vec<_>>()
            .concat();
        assert_eq!(
            stderr_tail(err.as_bytes()),
            "line 4 | line 5 | line 6 | line 7 | line 8"
        );
    }

    #[test]
    fn non_retryable_wins_then_retry_on_then_the_default() {
        let rule = RetryRule {
            retry_on: Some(&[503]),
            non_retryable: &[2],
        };
        assert!(!rule.allows(2, true));
        assert!(rule.allows(503, false));
        assert!(!rule.allows(500, true));
        let open = RetryRule {
            retry_on: None,
            non_retryable: &[],
        };
        assert!(open.allows(1, true) && !open.allows(404, false));
    }
}
