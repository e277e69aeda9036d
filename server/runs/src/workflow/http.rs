//! The `http` step: one request with a timeout. 2xx succeeds (the body, JSON or text, is the output); 429,
//! 5xx, a timeout and network errors are retryable; other statuses are not (a step's `retry_on` and
//! `non_retryable` change that). Also the `{{…}}` placeholders of its URL, headers and body.

use std::time::Duration;

use serde_json::Value;

use super::attempt::{RetryRule, StepFailure, human, output};

/// Most bytes of a response body kept as the step's output.
const MAX_BODY: usize = 256 * 1024;

/// A request with its placeholders filled in.
pub(crate) struct Request<'a> {
    pub method: &'a str,
    pub url: &'a str,
    pub headers: Vec<(String, String)>,
    pub body: Option<String>,
}

/// Sends `request`; see the module doc for what fails and what is retried.
pub(crate) async fn send(
    client: &reqwest::Client,
    request: &Request<'_>,
    timeout: Duration,
    rule: &RetryRule<'_>,
) -> Result<Value, StepFailure> {
    let method =
        reqwest::Method::from_bytes(request.method.as_bytes()).map_err(|_| StepFailure {
            error: format!("bad method {:?}", request.method),
            retryable: false,
        })?;
    let mut builder = client.request(method, request.url).timeout(timeout);
    for (name, value) in &request.headers {
        builder = builder.header(name, value);
    }
    if let Some(body) = &request.body {
        builder = builder.body(body.clone());
    }
    let network = |e: reqwest::Error| StepFailure {
        error: if e.is_timeout() {
            format!("timed out after {}", human(timeout))
        } else {
            format!("request to {} failed: {e}", request.url)
        },
        retryable: true,
    };
    let response = builder.send().await.map_err(network)?;
    let status = response.status();
    let body = response.bytes().await.map_err(network)?;
    if status.is_success() {
        if body.len() > MAX_BODY {
            return Err(StepFailure {
                error: format!("response body over {MAX_BODY} bytes"),
                retryable: false,
            });
        }
        return Ok(output(&body));
    }
    let code = status.as_u16();
    let default = code == 429 || status.is_server_error();
    let text = String::from_utf8_lossy(&body[..body.len().min(200)])
        .trim()
        .to_owned();
    Err(StepFailure {
        error: if text.is_empty() {
            format!("HTTP {status}")
        } else {
            format!("HTTP {status}: {text}")
        },
        retryable: rule.allows(code, default),
    })
}

/// Fills the `{{path}}` placeholders of `template` from `values` (`input.key`, `steps.fetch`, `run_id`,
/// `attempt`, dotted into objects): a string as itself, anything else as JSON, a missing path as nothing.
pub(crate) fn fill(template: &str, values: &Value) -> String {
    let mut out = String::with_capacity(template.len());
    let mut rest = template;
    while let Some(open) = rest.find("{{") {
        let Some(close) = rest[open + 2..].find("}}") else {
            break;
        };
        out.push_str(&rest[..open]);
        let path = rest[open + 2..open + 2 + close].trim();
        let found = path
            .split('.')
            .try_fold(values, |value, key| value.get(key));
        match found {
            Some(Value::String(s)) => out.push_str(s),
            Some(other) => out.push_str(&other.to_string()),
            None => {}
        }
        rest = &rest[open + 2 + close + 2..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_take_strings_as_is_and_the_rest_as_json() {
        let values =
            serde_json::json!({"input": {"q": "x y"}, "steps": {"a": {"n": 1}}, "run_id": "r"});
        assert_eq!(
            fill("{{ input.q }}/{{steps.a}}/{{run_id}}/{{nope}}/{{", &values),
            r#"x y/{"n":1}/r//{{"#
        );
    }
}
