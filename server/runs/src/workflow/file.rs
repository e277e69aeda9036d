//! Loading a workflow file (TOML) into [`Workflow`]s, validated: unknown keys, bad durations, a step with no
//! or two actions, duplicate step names, a program not found, out-of-range policies. Every error names the file, the line and the key (`etl.toml:7: workflows.etl.steps[0].timeout: ...`).
//!
//! The shape (see the README):
//! ```toml
//! [workflows.etl]
//! max_attempts = 3
//! backoff = { initial = "100ms", max = "2s", multiplier = 2.0 }
//!
//! [[workflows.etl.steps]]
//! name = "fetch"
//! run = ["sh", "-c", "curl -fsS \"$SOURCE_URL\""]
//! timeout = "5s"
//! ```

use std::collections::{BTreeMap, HashSet};
use std::path::Path;

use dq_proto::runs::DEMO_WORKFLOW;
use dq_proto::workflow::{Action, Backoff, Policy, Step, Workflow};
use serde::Deserialize;
use toml::Spanned;

/// A workflow file that cannot be used; the message names the file, line and key.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct WorkflowFileError(String);

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    #[serde(default)]
    workflows: BTreeMap<String, Spanned<RawWorkflow>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawWorkflow {
    timeout: Option<Dur>,
    max_attempts: Option<u32>,
    backoff: Option<RawBackoff>,
    retry_on: Option<Vec<u16>>,
    non_retryable: Option<Vec<u16>>,
    #[serde(default)]
    steps: Vec<Spanned<RawStep>>,
}

/// The policy fields a workflow and a step share.
struct RawPolicy {
    timeout: Option<Dur>,
    max_attempts: Option<u32>,
    backoff: Option<RawBackoff>,
    retry_on: Option<Vec<u16>>,
    non_retryable: Option<Vec<u16>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawBackoff {
    initial: Dur,
    max: Option<Dur>,
    multiplier: Option<f64>,
    jitter: Option<f64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawStep {
    name: String,
    run: Option<Spanned<Command>>,
    shell: Option<bool>,
    env: Option<BTreeMap<String, String>>,
    http: Option<RawHttp>,
    sleep: Option<Dur>,
    timeout: Option<Dur>,
    max_attempts: Option<u32>,
    backoff: Option<RawBackoff>,
    retry_on: Option<Vec<u16>>,
    non_retryable: Option<Vec<u16>>,
}

/// `run = "prog arg"` (split on whitespace, or a script with `shell = true`) or `run = ["prog", "arg"]`.
#[derive(Deserialize)]
#[serde(untagged)]
enum Command {
    Line(String),
    Argv(Vec<String>),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawHttp {
    #[serde(default = "get")]
    method: String,
    url: String,
    #[serde(default)]
    headers: BTreeMap<String, String>,
    body_template: Option<String>,
}

fn get() -> String {
    "GET".to_owned()
}

/// A duration written `"200ms"`, `"5s"`, `"1.5m"` or `"1h"`, in milliseconds.
#[derive(Clone, Copy)]
struct Dur(u64);

impl<'de> Deserialize<'de> for Dur {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        parse_duration_ms(&text)
            .map(Dur)
            .map_err(serde::de::Error::custom)
    }
}

/// Parses `"200ms"`, `"5s"`, `"1.5m"`, `"1h"` into milliseconds.
pub fn parse_duration_ms(text: &str) -> Result<u64, String> {
    let bad = || {
        format!("bad duration {text:?}: expected a number and a unit (ms, s, m, h), e.g. \"200ms\"")
    };
    let t = text.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .ok_or_else(bad)?;
    let (number, unit) = t.split_at(split);
    let number: f64 = number.parse().map_err(|_| bad())?;
    let scale = match unit.trim() {
        "ms" => 1.0,
        "s" => 1000.0,
        "m" => 60_000.0,
        "h" => 3_600_000.0,
        _ => return Err(bad()),
    };
    let ms = number * scale;
    if !ms.is_finite() || ms > 86_400_000.0 * 7.0 {
        return Err(format!("bad duration {text:?}: longer than a week"));
    }
    // Saturating float-to-int cast of a finite non-negative value.
    Ok(ms.round() as u64)
}

/// Loads and validates the workflow file at `path`.
pub fn load(path: &Path) -> Result<Vec<Workflow>, WorkflowFileError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| WorkflowFileError(format!("{}: cannot read: {e}", path.display())))?;
    parse(&text, &path.display().to_string())
}

/// Parses and validates a workflow file's text; `file` names it in errors and in each workflow's `source`.
pub fn parse(text: &str, file: &str) -> Result<Vec<Workflow>, WorkflowFileError> {
    let fail = |offset: usize, key: &str, message: &str| {
        let line = text[..offset.min(text.len())].matches('\n').count() + 1;
        WorkflowFileError(format!("{file}:{line}: {key}: {message}"))
    };
    let deserializer = toml::Deserializer::new(text);
    let raw: RawFile = serde_path_to_error::deserialize(deserializer).map_err(|e| {
        // Spanned wrappers show up in the path as private fields: leave them out.
        let key = e
            .path()
            .to_string()
            .split('.')
            .filter(|part| !part.starts_with("$__serde_spanned"))
            .collect::<Vec<_>>()
            .join(".");
        let inner = e.into_inner();
        let offset = inner.span().map_or(0, |s| s.start);
        fail(offset, &key, inner.message().trim())
    })?;
    let mut workflows = Vec::new();
    for (name, spanned) in raw.workflows {
        let offset = spanned.span().start;
        let raw = spanned.into_inner();
        let key = format!("workflows.{name}");
        if name == DEMO_WORKFLOW {
            return Err(fail(
                offset,
                &key,
                "`demo` is the built-in workflow; choose another name",
            ));
        }
        if raw.steps.is_empty() {
            return Err(fail(
                offset,
                &format!("{key}.steps"),
                "a workflow needs at least one step",
            ));
        }
        let defaults = policy(RawPolicy {
            timeout: raw.timeout,
            max_attempts: raw.max_attempts,
            backoff: raw.backoff,
            retry_on: raw.retry_on,
            non_retryable: raw.non_retryable,
        });
        check_policy(&defaults).map_err(|(k, m)| fail(offset, &format!("{key}.{k}"), &m))?;
        let mut names = HashSet::new();
        let mut steps = Vec::new();
        for (i, spanned) in raw.steps.into_iter().enumerate() {
            let offset = spanned.span().start;
            let key = format!("{key}.steps[{i}]");
            let step = step(spanned.into_inner())
                .map_err(|(k, m, at)| fail(at.unwrap_or(offset), &format!("{key}.{k}"), &m))?;
            if !names.insert(step.name.clone()) {
                return Err(fail(
                    offset,
                    &format!("{key}.name"),
                    &format!("duplicate step name {:?}", step.name),
                ));
            }
            steps.push(step);
        }
        workflows.push(Workflow {
            name,
            source: file.to_owned(),
            defaults,
            steps,
        });
    }
    Ok(workflows)
}

/// A step error: the key under the step, the message, and where in the text when more precise than the step.
type StepError = (&'static str, String, Option<usize>);

fn step(raw: RawStep) -> Result<Step, StepError> {
    if raw.name.is_empty()
        || raw
            .name
            .chars()
            .any(|c| !(c.is_ascii_alphanumeric() || matches!(c, '_' | '-')))
    {
        return Err((
            "name",
            format!(
                "step name {:?} must be letters, digits, '_' or '-'",
                raw.name
            ),
            None,
        ));
    }
    let kinds = [raw.run.is_some(), raw.http.is_some(), raw.sleep.is_some()];
    if kinds.iter().filter(|k| **k).count() != 1 {
        return Err((
            "run",
            "a step needs exactly one of run, http or sleep".to_owned(),
            None,
        ));
    }
    let shell = raw.shell.unwrap_or(false);
    if (raw.shell.is_some() || raw.env.is_some()) && raw.run.is_none() {
        return Err(("shell", "shell and env go with run".to_owned(), None));
    }
    let action = if let Some(run) = raw.run {
        let at = run.span().start;
        let argv = match (run.into_inner(), shell) {
            (Command::Line(script), true) => vec![script],
            (Command::Line(line), false) => line.split_whitespace().map(str::to_owned).collect(),
            (Command::Argv(_), true) => {
                return Err((
                    "run",
                    "with shell = true, run is one string (the script)".to_owned(),
                    Some(at),
                ));
            }
            (Command::Argv(argv), false) => argv,
        };
        let program = if shell {
            Some("sh")
        } else {
            argv.first().map(String::as_str)
        };
        match program {
            None | Some("") => return Err(("run", "missing command".to_owned(), Some(at))),
            Some(program) if !program_exists(program) => {
                return Err(("run", format!("command {program:?} not found"), Some(at)));
            }
            Some(_) => {}
        }
        Action::Run {
            argv,
            shell,
            env: raw.env.unwrap_or_default(),
        }
    } else if let Some(http) = raw.http {
        let method = http.method.to_ascii_uppercase();
        if reqwest::Method::from_bytes(method.as_bytes()).is_err() {
            return Err(("http.method", format!("bad method {:?}", http.method), None));
        }
        // This build's HTTP client has no TLS: an https step could never succeed, so it is refused here.
        if !http.url.starts_with("http://") {
            return Err((
                "http.url",
                format!(
                    "url {:?} must start with http:// (no TLS in this build)",
                    http.url
                ),
                None,
            ));
        }
        Action::Http {
            method,
            url: http.url,
            headers: http.headers,
            body_template: http.body_template,
        }
    } else {
        Action::Sleep {
            ms: raw.sleep.map(|d| d.0),
        }
    };
    let policy = policy(RawPolicy {
        timeout: raw.timeout,
        max_attempts: raw.max_attempts,
        backoff: raw.backoff,
        retry_on: raw.retry_on,
        non_retryable: raw.non_retryable,
    });
    check_policy(&policy).map_err(|(k, m)| (k, m, None))?;
    Ok(Step {
        name: raw.name,
        action,
        policy,
    })
}

fn policy(raw: RawPolicy) -> Policy {
    Policy {
        timeout_ms: raw.timeout.map(|d| d.0),
        max_attempts: raw.max_attempts,
        backoff: raw.backoff.map(|b| Backoff {
            initial_ms: b.initial.0,
            max_ms: b.max.map_or(b.initial.0.saturating_mul(64), |d| d.0),
            multiplier: b.multiplier.unwrap_or(2.0),
            jitter: b.jitter.unwrap_or(0.0),
        }),
        retry_on: raw.retry_on,
        non_retryable: raw.non_retryable,
    }
}

fn check_policy(policy: &Policy) -> Result<(), (&'static str, String)> {
    if let Some(n) = policy.max_attempts {
        dq_proto::runs::validate_max_attempts(n).map_err(|m| ("max_attempts", m))?;
    }
    if policy.timeout_ms == Some(0) {
        return Err(("timeout", "must be more than 0".to_owned()));
    }
    if let Some(b) = &policy.backoff {
        if !(b.multiplier.is_finite() && b.multiplier >= 1.0) {
            return Err((
                "backoff.multiplier",
                format!("must be at least 1, got {}", b.multiplier),
            ));
        }
        if !(0.0..=1.0).contains(&b.jitter) {
            return Err((
                "backoff.jitter",
                format!("must be between 0 and 1, got {}", b.jitter),
            ));
        }
        if b.max_ms < b.initial_ms {
            return Err(("backoff.max", "must not be shorter than initial".to_owned()));
        }
    }
    Ok(())
}

/// Whether `program` can be run: a path to a file, or a name found on `PATH`.
fn program_exists(program: &str) -> bool {
    if program.contains('/') {
        return Path::new(program).is_file();
    }
    std::env::var_os("PATH")
        .is_some_and(|paths| std::env::split_paths(&paths).any(|dir| dir.join(program).is_file()))
}

#[cfg(test)]
mod tests {
    use super::*;

    const ETL: &str = r#"
[workflows.etl]
max_attempts = 3
backoff = { initial = "100ms", max = "2s", multiplier = 2.0 }

[[workflows.etl.steps]]
name = "fetch"
run = ["sh", "-c", "curl -fsS \"$SOURCE_URL\""]
timeout = "5s"
max_attempts = 5

[[workflows.etl.steps]]
name = "load"
http = { method = "post", url = "http://127.0.0.1:9/x", body_template = "{{steps.fetch}}" }
retry_on = [503]

[[workflows.etl.steps]]
name = "rest"
sleep = "1.5s"
"#;

    #[test]
    fn the_issue_example_loads_with_its_policies() {
        let workflows = parse(ETL, "etl.toml").unwrap();
        assert_eq!(workflows.len(), 1);
        let etl = &workflows[0];
        assert_eq!(
            (etl.name.as_str(), etl.source.as_str()),
            ("etl", "etl.toml")
        );
        assert_eq!(etl.step_names(), ["fetch", "load", "rest"]);
        assert_eq!(etl.defaults.max_attempts, Some(3));
        let backoff = etl.defaults.backoff.as_ref().unwrap();
        assert_eq!((backoff.initial_ms, backoff.max_ms), (100, 2000));
        let fetch = &etl.steps[0];
        assert_eq!(
            (fetch.policy.timeout_ms, fetch.policy.max_attempts),
            (Some(5000), Some(5))
        );
        assert!(matches!(&fetch.action, Action::Run { argv, shell: false, .. } if argv[0] == "sh"));
        assert!(matches!(&etl.steps[1].action, Action::Http { method, .. } if method == "POST"));
        assert_eq!(etl.steps[1].policy.retry_on, Some(vec![503]));
        assert_eq!(etl.steps[2].action, Action::Sleep { ms: Some(1500) });
    }

    fn error(text: &str) -> String {
        parse(text, "w.toml").unwrap_err().to_string()
    }

    #[test]
    fn errors_name_the_file_the_line_and_the_key() {
        let unknown = error(
            "[workflows.a]\n[[workflows.a.steps]]\nname = \"s\"\nsleep = \"1s\"\nretries = 3\n",
        );
        assert!(
            unknown.starts_with("w.toml:5: workflows.a.steps[0]"),
            "{unknown}"
        );
        assert!(unknown.contains("unknown field `retries`"), "{unknown}");
        let duration =
            error("[workflows.a]\n[[workflows.a.steps]]\nname = \"s\"\nsleep = \"5 parsecs\"\n");
        assert!(
            duration.starts_with("w.toml:4: workflows.a.steps[0].sleep: bad duration"),
            "{duration}"
        );
        let missing = error(
            "[workflows.a]\n[[workflows.a.steps]]\nname = \"s\"\nrun = \"no-such-program-dq --x\"\n",
        );
        assert!(
            missing.starts_with(
                "w.toml:4: workflows.a.steps[0].run: command \"no-such-program-dq\" not found"
            ),
            "{missing}"
        );
        let empty = error("[workflows.a]\n[[workflows.a.steps]]\nname = \"s\"\nrun = []\n");
        assert!(empty.contains("steps[0].run: missing command"), "{empty}");
        let none = error("[workflows.a]\n\n[[workflows.a.steps]]\nname = \"s\"\n");
        assert!(
            none.starts_with("w.toml:3: workflows.a.steps[0].run: a step needs exactly one of"),
            "{none}"
        );
        let dup = error(
            "[workflows.a]\n[[workflows.a.steps]]\nname = \"s\"\nsleep = \"1s\"\n[[workflows.a.steps]]\nname = \"s\"\nsleep = \"1s\"\n",
        );
        assert!(
            dup.starts_with("w.toml:5: workflows.a.steps[1].name: duplicate"),
            "{dup}"
        );
        let jitter = error(
            "[workflows.a]\nbackoff = { initial = \"1s\", jitter = 2.0 }\n[[workflows.a.steps]]\nname = \"s\"\nsleep = \"1s\"\n",
        );
        assert!(
            jitter.contains("workflows.a.backoff.jitter: must be between 0 and 1"),
            "{jitter}"
        );
        assert!(
            error("[workflows.demo]\n[[workflows.demo.steps]]\nname = \"s\"\nsleep = \"1s\"\n")
                .contains("built-in")
        );
        assert!(error("[workflow.a]\n").contains("unknown field `workflow`"));
        let tls = error(
            "[workflows.a]\n[[workflows.a.steps]]\nname = \"s\"\nhttp = { url = \"https://x\" }\n",
        );
        assert!(
            tls.contains(
                "workflows.a.steps[0].http.url: url \"https://x\" must start with http://"
            ),
            "{tls}"
        );
        let top = error(
            "[workflows.a]\nretries = 1\n[[workflows.a.steps]]\nname = \"s\"\nsleep = \"1s\"\n",
        );
        assert!(
            top.starts_with("w.toml:2: workflows.a.retries: unknown field `retries`"),
            "{top}"
        );
    }

    #[test]
    fn durations_take_a_unit() {
        assert_eq!(parse_duration_ms("200ms"), Ok(200));
        assert_eq!(parse_duration_ms("1.5s"), Ok(1500));
        assert_eq!(parse_duration_ms("2m"), Ok(120_000));
        for bad in ["", "5", "ms", "1 fortnight", "-1s"] {
            assert!(parse_duration_ms(bad).is_err(), "{bad}");
        }
    }
}
