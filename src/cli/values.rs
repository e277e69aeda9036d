//! Value parsers shared by the argument types: suggestions for completions that still accept any value (the
//! server knows the workflows), and the ranges of attempt counts.

/// The demo workflow's steps, offered by the completions of `--fail`.
pub(super) const STEPS: [&str; 4] = ["fetch_input", "transform", "tool_call", "finalize"];
/// A run's states, offered by the completions of `--status`.
pub(super) const STATUSES: [&str; 5] = [
    "queued",
    "running",
    "retrying",
    "succeeded",
    "dead_lettered",
];

/// A value parser that accepts any text but offers `values` to the shell completions: `--fail` takes a custom
/// workflow's step names too, and the server validates `--status`. (clap_complete's per-argument candidates,
/// `ArgValueCandidates`, are only in its unstable dynamic API.)
#[derive(Debug, Clone, Copy)]
pub(super) struct Suggest(pub(super) &'static [&'static str]);

impl clap::builder::TypedValueParser for Suggest {
    type Value = String;

    fn parse_ref(
        &self,
        cmd: &clap::Command,
        arg: Option<&clap::Arg>,
        value: &std::ffi::OsStr,
    ) -> Result<String, clap::Error> {
        clap::builder::StringValueParser::new().parse_ref(cmd, arg, value)
    }

    fn possible_values(
        &self,
    ) -> Option<Box<dyn Iterator<Item = clap::builder::PossibleValue> + '_>> {
        Some(Box::new(
            self.0.iter().map(|v| clap::builder::PossibleValue::new(*v)),
        ))
    }
}

/// `--max-abandoned`: 1..=1000.
pub(super) fn max_abandoned_parser() -> clap::builder::RangedI64ValueParser<u32> {
    clap::value_parser!(u32).range(1..=1000)
}

/// `--max-attempts`: 1..=100 (the runs API's bound), refused as a usage error otherwise.
pub(super) fn max_attempts_parser() -> clap::builder::RangedI64ValueParser<u32> {
    clap::value_parser!(u32).range(1..=i64::from(dq_proto::runs::MAX_ATTEMPTS_LIMIT))
}
