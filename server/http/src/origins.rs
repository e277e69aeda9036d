//! Which web origins may call the server from a browser, besides its own: the original starter's UI
//! (`http://localhost:3000`), the `--cors-origin` values and the `--cors-origin-regex` patterns. `edge`'s CORS
//! answers them and `guard` lets them write; both ask [`AllowedOrigins`], so the two never disagree.

use std::str::FromStr;

/// The origin of the original starter's UI, always allowed.
pub(crate) const UI_ORIGIN: &str = "http://localhost:3000";

/// The origins the original starter allows by default (its `CORS_ALLOW_ORIGIN_REGEX`): pages forwarded by
/// GitHub Codespaces, its `.*` narrowed to a host name. `dq up` adds it when it runs in a Codespace;
/// elsewhere it would let any Codespace's public page call a local server.
pub const CODESPACES_ORIGIN_PATTERN: &str =
    r"https://[a-z0-9.-]+\.(app\.github\.dev|githubpreview\.dev)";

/// The GitHub Codespace `dq up` runs in, from the variables GitHub sets there: the original starter's UI is
/// then served from a forwarded `https://<codespace>-3000.<domain>` page and reaches dq through
/// `https://<codespace>-<port>.<domain>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Codespace {
    name: String,
    domain: String,
}

impl Codespace {
    /// The Codespace, when `var` (the environment) says this is one (`CODESPACES=true`, `CODESPACE_NAME`).
    pub fn detect(var: impl Fn(&str) -> Option<String>) -> Option<Self> {
        if var("CODESPACES").as_deref() != Some("true") {
            return None;
        }
        let name = var("CODESPACE_NAME").filter(|name| !name.is_empty())?;
        let domain = var("GITHUB_CODESPACES_PORT_FORWARDING_DOMAIN")
            .filter(|domain| !domain.is_empty())
            .unwrap_or_else(|| "app.github.dev".to_owned());
        Some(Self { name, domain })
    }

    /// The name browsers use for `port` of this Codespace: a `Host` to answer (in case GitHub's proxy passes
    /// it on), which no one else can make resolve to this server.
    pub fn forwarded_host(&self, port: u16) -> String {
        format!("{}-{port}.{}", self.name, self.domain)
    }
}

/// A `--cors-origin-regex`: a regular expression matched against a whole origin (`scheme://host[:port]`),
/// ignoring case.
#[derive(Debug, Clone)]
pub struct OriginPattern(regex::Regex);

impl FromStr for OriginPattern {
    type Err = regex::Error;

    fn from_str(pattern: &str) -> Result<Self, Self::Err> {
        // Checked alone first, so that an error shows the pattern as given.
        regex::Regex::new(pattern)?;
        // Anchored, so that `https://ui\.example` does not also allow `https://ui.example.evil.test`.
        regex::RegexBuilder::new(&format!("^(?:{pattern})$"))
            .case_insensitive(true)
            .build()
            .map(Self)
    }
}

/// The origins that may call the server from a browser besides its own: the original starter's UI
/// (`http://localhost:3000`), the `--cors-origin` values and the `--cors-origin-regex` patterns. Compared
/// without case and without a trailing `/`.
#[derive(Debug, Clone)]
pub struct AllowedOrigins {
    exact: Vec<String>,
    patterns: Vec<OriginPattern>,
}

impl AllowedOrigins {
    /// The UI's origin, `origins` and `patterns`.
    pub fn new(origins: &[String], patterns: &[OriginPattern]) -> Self {
        let exact = std::iter::once(UI_ORIGIN)
            .chain(origins.iter().map(String::as_str))
            .map(normalise_origin)
            .filter(|origin| !origin.is_empty())
            .collect();
        Self {
            exact,
            patterns: patterns.to_vec(),
        }
    }

    /// Whether `origin` is one of them.
    pub fn allows(&self, origin: &str) -> bool {
        let origin = normalise_origin(origin);
        self.exact.contains(&origin) || self.patterns.iter().any(|p| p.0.is_match(&origin))
    }
}

/// An origin as compared: trimmed, lowercased, without a trailing `/`.
pub(crate) fn normalise_origin(origin: &str) -> String {
    origin.trim().trim_end_matches('/').to_ascii_lowercase()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins_are_the_ui_the_listed_ones_and_whole_matches_of_the_patterns() {
        let pattern: OriginPattern = CODESPACES_ORIGIN_PATTERN.parse().unwrap();
        let origins = AllowedOrigins::new(&["https://ui.example/".into()], &[pattern]);
        for origin in [
            "http://localhost:3000",
            "https://UI.example",
            "https://fluffy-space-guide-x5v-3000.app.github.dev",
            "https://old-box-3000.githubpreview.dev/",
        ] {
            assert!(origins.allows(origin), "{origin}");
        }
        for origin in [
            "http://localhost:3001",
            "https://ui.example.evil.test",
            "http://box-3000.app.github.dev",
            "https://box-3000.app.github.dev.evil.test",
            "https://app.github.dev",
            "https://evil.test/?https://box.app.github.dev",
        ] {
            assert!(!origins.allows(origin), "{origin}");
        }
        assert!("(unclosed".parse::<OriginPattern>().is_err());
    }

    #[test]
    fn a_codespace_is_detected_from_its_variables() {
        let env = |vars: &'static [(&'static str, &'static str)]| {
            move |name: &str| {
                vars.iter()
                    .find(|(key, _)| *key == name)
                    .map(|(_, value)| (*value).to_owned())
            }
        };
        let codespace = Codespace::detect(env(&[
            ("CODESPACES", "true"),
            ("CODESPACE_NAME", "fluffy-x5v"),
        ]));
        assert_eq!(
            codespace.unwrap().forwarded_host(8000),
            "fluffy-x5v-8000.app.github.dev"
        );
        let other = Codespace::detect(env(&[
            ("CODESPACES", "true"),
            ("CODESPACE_NAME", "box"),
            (
                "GITHUB_CODESPACES_PORT_FORWARDING_DOMAIN",
                "preview.app.github.dev",
            ),
        ]));
        assert_eq!(
            other.unwrap().forwarded_host(80),
            "box-80.preview.app.github.dev"
        );
        assert_eq!(Codespace::detect(env(&[("CODESPACE_NAME", "box")])), None);
        assert_eq!(Codespace::detect(env(&[("CODESPACES", "true")])), None);
    }
}
