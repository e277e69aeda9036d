//! What one attempt of a step gives back, whatever its kind: the step's output made from the bytes it wrote,
//! or a [`StepFailure`] that says whether another attempt may help, decided for exit codes and HTTP statuses
//! by the step's [`RetryRule`]. Shared by the `run` executor (`exec`) and the `http` one.

use std::time::Duration;

use serde_json::Value;

/// Why an attempt of a step failed.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct StepFailure {
    pub error: String,
    /// Whether another attempt may succeed (else the run is dead-lettered at once).
    pub retryable: bool,
}

impl StepFailure {
    pub(crate) fn retryable(error: String) -> Self {
        Self {
            error,
            retryable: true,
        }
    }
}

/// The retry rule of a step for a code (exit code or HTTP status): `non_retryable` wins, then `retry_on`
/// when set, then the kind's default.
pub(crate) struct RetryRule<'a> {
    pub retry_on: Option<&'a [u16]>,
    pub non_retryable: &'a [u16],
}

impl RetryRule<'_> {
    pub fn allows(&self, code: u16, default: bool) -> bool {
        if self.non_retryable.contains(&code) {
            false
        } else if let Some(retry_on) = self.retry_on {
            retry_on.contains(&code)
        } else {
            default
        }
    }
}

/// A step's output from the bytes it wrote: JSON when they parse, else the text without its last newline.
pub(crate) fn output(bytes: &[u8]) -> Value {
    serde_json::from_slice(bytes).unwrap_or_else(|_| {
        let text = String::from_utf8_lossy(bytes);
        Value::String(text.strip_suffix('\n').unwrap_or(&text).to_owned())
    })
}

/// `5s`, `200ms`.
pub(crate) fn human(d: Duration) -> String {
    if d.subsec_millis() == 0 && d.as_secs() > 0 {
        format!("{}s", d.as_secs())
    } else {
        format!("{}ms", d.as_millis())
    }
}
