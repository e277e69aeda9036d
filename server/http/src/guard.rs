//! What a web page may not do through the user's browser: the checks `edge` makes on every request before
//! routing, from its headers alone.
//!
//! - **Host** (DNS rebinding). A page on `evil.example` whose name is made to resolve to 127.0.0.1 talks to
//!   this server with the page's own origin, so CORS never applies; only the `Host` header gives it away.
//!   A request is answered only when its `Host` (or, without one, the authority of its URI) names this server:
//!   `localhost`, a loopback address (`127.0.0.1`, `[::1]`, …), the address it listens on (any IP address when
//!   it listens on an unspecified one such as `0.0.0.0`: an IP literal cannot be rebound), or a name given with
//!   `--allowed-host` (`*` allows every name). The port is not compared: it tells nothing about the name the
//!   browser resolved, and a proxy may change it. A request with neither (HTTP/1.0) is answered. Refused: 421.
//! - **Origin** (cross-site writes). A state-changing request (any method but GET, HEAD, OPTIONS and TRACE)
//!   that carries an `Origin` is answered only when that origin is allowed: the server's own (the request's
//!   `Host` with `http` or `https`, `http://localhost:<port>`, `http://127.0.0.1:<port>`,
//!   `http://[::1]:<port>`, `http://<listen address>`) and those CORS allows (`origins::AllowedOrigins`:
//!   the original starter's UI, every `--cors-origin` and `--cors-origin-regex`). Browsers send `Origin` on
//!   every cross-origin write, "simple" requests (`text/plain` bodies, forms, query-string-only POSTs)
//!   included; the DriftQ clients, the starter's Python client and API, the worker and `dq` send none and are
//!   not affected. Refused: 403.
//!
//! Refusals carry the error body of their route family (DriftQ under `/v1`, FastAPI elsewhere), and nothing
//! behind them runs. The `Content-Type` of bodies is checked where bodies are read (`extract`, the runs
//! API's extractors), since only there is it known whether a body is empty.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use axum::Json;
use axum::extract::Request;
use axum::http::{HeaderMap, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use dq_proto::error::{DetailBody, ErrorCode};

use crate::error::ApiError;
use crate::origins::{AllowedOrigins, normalise_origin};

/// The allowed hosts and origins of one listening server.
#[derive(Debug, Clone)]
pub struct Guard {
    listen: SocketAddr,
    /// `--allowed-host` values, lowercased.
    hosts: Vec<String>,
    any_host: bool,
    /// The server's own origins, lowercased.
    own: Vec<String>,
    /// The origins CORS allows.
    origins: Arc<AllowedOrigins>,
}

impl Guard {
    /// The guard of a server listening on `listen`, with the `--allowed-host` values and the origins CORS
    /// allows.
    pub fn new(listen: SocketAddr, allowed_hosts: &[String], origins: Arc<AllowedOrigins>) -> Self {
        let hosts: Vec<String> = allowed_hosts
            .iter()
            .map(|host| host.trim().to_ascii_lowercase())
            .filter(|host| !host.is_empty())
            .collect();
        let port = listen.port();
        let own = [
            format!("http://{listen}"),
            format!("http://localhost:{port}"),
            format!("http://127.0.0.1:{port}"),
            format!("http://[::1]:{port}"),
        ];
        Self {
            listen,
            any_host: hosts.iter().any(|host| host == "*"),
            hosts,
            own: own.iter().map(|origin| normalise_origin(origin)).collect(),
            origins,
        }
    }

    /// The answer to a request this server must not serve, or `None` to let it through.
    pub fn refuse(&self, req: &Request) -> Option<Response> {
        let Ok(authority) = authority(req.headers(), req.uri()) else {
            return Some(refusal(req.uri(), Refusal::Host("(not text)".into())));
        };
        if let Some(authority) = authority
            && !self.host_allowed(authority)
        {
            return Some(refusal(req.uri(), Refusal::Host(authority.to_owned())));
        }
        if req.method().is_safe() {
            return None;
        }
        let origin = req.headers().get(header::ORIGIN)?;
        let allowed = origin
            .to_str()
            .is_ok_and(|origin| self.origin_allowed(origin, authority));
        if allowed {
            return None;
        }
        let origin = String::from_utf8_lossy(origin.as_bytes()).into_owned();
        Some(refusal(req.uri(), Refusal::Origin(origin)))
    }

    fn host_allowed(&self, authority: &str) -> bool {
        if self.any_host {
            return true;
        }
        let authority = authority.to_ascii_lowercase();
        let host = host_part(&authority);
        if host == "localhost" || self.hosts.iter().any(|h| *h == host || *h == authority) {
            return true;
        }
        let Ok(ip) = host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<IpAddr>()
        else {
            return false;
        };
        ip.is_loopback() || ip == self.listen.ip() || self.listen.ip().is_unspecified()
    }

    fn origin_allowed(&self, origin: &str, authority: Option<&str>) -> bool {
        if self.origins.allows(origin) {
            return true;
        }
        let origin = normalise_origin(origin);
        if self.own.contains(&origin) {
            return true;
        }
        // Same origin: the page was served by this server under the name the request uses (already checked).
        authority.is_some_and(|authority| {
            let authority = authority.to_ascii_lowercase();
            origin == format!("http://{authority}") || origin == format!("https://{authority}")
        })
    }
}

/// The `Host` header, else the authority of an absolute-form URI (HTTP/2's `:authority`); `Err` when the
/// header is not text.
fn authority<'a>(headers: &'a HeaderMap, uri: &'a Uri) -> Result<Option<&'a str>, ()> {
    match headers.get(header::HOST) {
        Some(host) => host.to_str().map(Some).map_err(|_| ()),
        None => Ok(uri.authority().map(axum::http::uri::Authority::as_str)),
    }
}

/// `name` of `name:port`, `[::1]` of `[::1]:port`.
fn host_part(authority: &str) -> &str {
    if authority.starts_with('[') {
        return authority
            .find(']')
            .map_or(authority, |end| &authority[..=end]);
    }
    authority.split(':').next().unwrap_or(authority)
}

enum Refusal {
    Host(String),
    Origin(String),
}

fn refusal(uri: &Uri, refusal: Refusal) -> Response {
    let (code, message) = match refusal {
        Refusal::Host(host) => (
            ErrorCode::MisdirectedRequest,
            format!(
                "host {host:?} is not a name of this server; allow it with --allowed-host (DQ_ALLOWED_HOSTS)"
            ),
        ),
        Refusal::Origin(origin) => (
            ErrorCode::PermissionDenied,
            format!(
                "origin {origin:?} may not change anything on this server; allow it with --cors-origin (DQ_CORS_ORIGINS)"
            ),
        ),
    };
    tracing::debug!(%message, "request refused");
    if crate::fallback::is_v1(uri) {
        ApiError::new(code, message).into_response()
    } else {
        let status = StatusCode::from_u16(code.status()).unwrap_or(StatusCode::FORBIDDEN);
        (status, Json(DetailBody::message(message))).into_response()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn guard(listen: &str, hosts: &[&str]) -> Guard {
        let hosts: Vec<String> = hosts.iter().map(|h| (*h).to_owned()).collect();
        let patterns = [r"https://[a-z]+-3000\.preview\.example".parse().unwrap()];
        let origins = AllowedOrigins::new(&["https://ui.example/".to_owned()], &patterns);
        Guard::new(listen.parse().unwrap(), &hosts, Arc::new(origins))
    }

    #[test]
    fn loopback_names_and_the_listen_address_are_hosts_of_a_loopback_server() {
        let g = guard("127.0.0.1:8000", &["dq.internal"]);
        for host in [
            "localhost",
            "localhost:8000",
            "LOCALHOST:1",
            "127.0.0.1:8000",
            "127.0.0.2",
            "[::1]:8000",
            "[::1]",
            "dq.internal",
            "DQ.internal:9",
        ] {
            assert!(g.host_allowed(host), "{host}");
        }
        for host in [
            "evil.example",
            "evil.example:8000",
            "localhost.evil.example",
            "10.0.0.1:8000",
            "",
        ] {
            assert!(!g.host_allowed(host), "{host}");
        }
    }

    #[test]
    fn a_public_server_answers_its_address_and_a_wildcard_answers_all() {
        assert!(guard("10.1.2.3:80", &[]).host_allowed("10.1.2.3"));
        assert!(!guard("10.1.2.3:80", &[]).host_allowed("10.1.2.4"));
        assert!(guard("0.0.0.0:80", &[]).host_allowed("192.168.1.9:80"));
        assert!(!guard("0.0.0.0:80", &[]).host_allowed("evil.example"));
        assert!(guard("127.0.0.1:80", &["*"]).host_allowed("evil.example"));
    }

    #[test]
    fn allowed_origins_are_the_server_the_ui_and_the_configured_ones() {
        let g = guard("127.0.0.1:8000", &[]);
        for origin in [
            "http://localhost:3000",
            "http://127.0.0.1:8000",
            "http://localhost:8000",
            "https://ui.example",
            "https://box-3000.preview.example",
            "HTTPS://Box-3000.Preview.Example/",
        ] {
            assert!(g.origin_allowed(origin, None), "{origin}");
        }
        assert!(g.origin_allowed("http://dq.internal:81", Some("dq.internal:81")));
        for origin in [
            "http://evil.example",
            "null",
            "http://localhost:3001",
            "http://127.0.0.1:8001",
            "https://box-3000.preview.example.evil.example",
            "https://evil.example/https://box-3000.preview.example",
            "http://box-3000.preview.example",
        ] {
            assert!(
                !g.origin_allowed(origin, Some("127.0.0.1:8000")),
                "{origin}"
            );
        }
    }
}
