//! `GET /openapi.json` and `GET /docs`, which the original starter's README links as "API docs": an OpenAPI
//! 3.1 document of the runs API, hand-written beside the routes it describes (`openapi.json`; a test checks
//! it against the router, route for route), and a page that renders it (`docs.html`, plain HTML and a small
//! script, embedded: no CDN, nothing fetched but the document). Both are open without the token: they tell
//! nothing a server's routes do not.

use axum::http::{HeaderValue, header};
use axum::response::IntoResponse;

/// The document, as served.
const OPENAPI: &str = include_str!("openapi.json");

/// The page.
const PAGE: &str = include_str!("docs.html");

/// What the page may load: its own inline script and style, and the document from this server.
const PAGE_POLICY: &str = "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; \
                           connect-src 'self'; img-src 'self'; base-uri 'none'; form-action 'none'";

/// `GET /openapi.json`.
pub async fn openapi() -> impl IntoResponse {
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        OPENAPI,
    )
}

/// `GET /docs`.
pub async fn page() -> impl IntoResponse {
    (
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/html; charset=utf-8"),
            ),
            (
                header::CONTENT_SECURITY_POLICY,
                HeaderValue::from_static(PAGE_POLICY),
            ),
        ],
        PAGE,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_document_is_json_and_the_page_loads_nothing_from_elsewhere() {
        let doc: serde_json::Value = serde_json::from_str(OPENAPI).unwrap();
        assert_eq!(doc["openapi"], "3.1.0");
        for needle in ["src=\"http", "href=\"http", "@import", "//cdn"] {
            assert!(!PAGE.contains(needle), "{needle}");
        }
        assert!(PAGE.contains("fetch(\"openapi.json\")"));
    }
}
