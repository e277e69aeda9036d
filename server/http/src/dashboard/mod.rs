//! dq's own dashboard: web pages at `/` (Runs) and under `/ui/` (Run, Start a run, DLQ, Demo, login), served
//! from the binary with nothing fetched at build or run time. The pages are rendered on the server (maud) with
//! labelled controls and text statuses; `app.js`, hand-written, keeps them live: the Run and Demo pages follow
//! `GET /runs/{id}/events` with `EventSource`, the Runs and DLQ pages follow this module's snapshot streams
//! (`/ui/live/runs`, `/ui/live/dlq`), and every action calls the runs API as any client does.
//!
//! Layout: `pages` holds the templates, `live` the snapshot streams, `login` the token form and its cookie
//! (see [`crate::auth`] for what the cookie is worth).

mod live;
mod login;
mod pages;

use std::sync::Arc;

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use dq_proto::runs::validate_run_id;
use dq_runs::RunsError;

use crate::auth::{self, Credentials};
use crate::runs::RunsState;

/// The script and the style sheet, embedded.
const APP_JS: &str = include_str!("app.js");
const APP_CSS: &str = include_str!("app.css");

/// Where the login form lives.
const LOGIN_PATH: &str = "/ui/login";

/// What the dashboard's handlers reach.
#[derive(Clone)]
struct Dashboard {
    runs: RunsState,
    /// Set when the server has a token: the pages then offer to log out.
    credentials: Option<Arc<Credentials>>,
}

/// The dashboard's routes, over the runs service.
pub fn routes<S>(runs: RunsState, credentials: Option<Arc<Credentials>>) -> Router<S>
where
    S: Clone + Send + Sync + 'static,
{
    Router::new()
        .route("/", get(runs_page))
        .route("/ui/runs/{run_id}", get(run_page))
        .route("/ui/start", get(start_page))
        .route("/ui/dlq", get(dlq_page))
        .route("/ui/demo", get(demo_page))
        .route(LOGIN_PATH, get(login::form).post(login::submit))
        .route("/ui/logout", axum::routing::post(login::logout))
        .route("/ui/app.js", get(script))
        .route("/ui/app.css", get(style))
        .route("/ui/live/runs", get(live::runs))
        .route("/ui/live/dlq", get(live::dlq))
        .with_state(Dashboard { runs, credentials })
}

/// What the token check needs to know of the dashboard.
pub const PAGES: auth::Pages = auth::Pages {
    is_open,
    is_page,
    login: login_location,
};

/// Whether the token check lets `method path` through without credentials: the login form and the assets,
/// which hold nothing secret and which the login page itself needs.
fn is_open(method: &Method, path: &str) -> bool {
    let reading = matches!(*method, Method::GET | Method::HEAD);
    (path == LOGIN_PATH && (reading || method == Method::POST))
        || (reading && matches!(path, "/ui/app.js" | "/ui/app.css"))
}

/// Whether `path` is a page a browser navigates to (answered with a redirect to the login form, not a 401,
/// when the request has no credentials). The snapshot streams are not: `EventSource` wants a status.
fn is_page(path: &str) -> bool {
    path == "/" || (path.starts_with("/ui/") && !path.starts_with("/ui/live/"))
}

/// The login form's address, returning to `uri` once logged in.
fn login_location(uri: &Uri) -> String {
    let back = uri
        .path_and_query()
        .map_or("/", axum::http::uri::PathAndQuery::as_str);
    let query: String = form_urlencoded::Serializer::new(String::new())
        .append_pair("next", back)
        .finish();
    format!("{LOGIN_PATH}?{query}")
}

async fn runs_page(State(dash): State<Dashboard>) -> Html<String> {
    Html(pages::runs(dash.logout()).into_string())
}

async fn run_page(State(dash): State<Dashboard>, Path(run_id): Path<String>) -> Response {
    if validate_run_id(&run_id).is_err() {
        return not_found(&dash, "That is not a run id.");
    }
    match dash.runs.service.run(&run_id).await {
        Ok(detail) => {
            let workflows = dash.runs.service.workflows();
            Html(pages::run(&detail, &workflows, dash.logout()).into_string()).into_response()
        }
        Err(RunsError::RunNotFound) => not_found(&dash, "No run has this id."),
        Err(e) => {
            let page = pages::message(
                "Run",
                &format!("Could not read the run: {e}"),
                dash.logout(),
            );
            (StatusCode::SERVICE_UNAVAILABLE, Html(page.into_string())).into_response()
        }
    }
}

fn not_found(dash: &Dashboard, text: &str) -> Response {
    let page = pages::message("Run not found", text, dash.logout());
    (StatusCode::NOT_FOUND, Html(page.into_string())).into_response()
}

async fn start_page(State(dash): State<Dashboard>) -> Html<String> {
    Html(pages::start(&dash.runs.service.workflows(), dash.logout()).into_string())
}

async fn dlq_page(State(dash): State<Dashboard>) -> Html<String> {
    Html(pages::dlq(dash.logout()).into_string())
}

async fn demo_page(State(dash): State<Dashboard>) -> Html<String> {
    Html(pages::demo(dash.logout()).into_string())
}

async fn script() -> impl IntoResponse {
    asset("text/javascript; charset=utf-8", APP_JS)
}

async fn style() -> impl IntoResponse {
    asset("text/css; charset=utf-8", APP_CSS)
}

fn asset(content_type: &'static str, body: &'static str) -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, HeaderValue::from_static(content_type)),
            // The assets change only with the binary; a short cache keeps an upgrade visible.
            (
                header::CACHE_CONTROL,
                HeaderValue::from_static("max-age=60"),
            ),
        ],
        body,
    )
}

impl Dashboard {
    /// Whether the pages show "Log out".
    fn logout(&self) -> bool {
        self.credentials.is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_and_streams_are_told_apart() {
        assert!(is_page("/"));
        assert!(is_page("/ui/runs/abc"));
        assert!(!is_page("/ui/live/runs"));
        assert!(!is_page("/runs"));
        assert!(is_open(&Method::POST, LOGIN_PATH));
        assert!(is_open(&Method::GET, "/ui/app.css"));
        assert!(!is_open(&Method::POST, "/ui/app.css"));
        assert!(!is_open(&Method::GET, "/ui/dlq"));
    }

    #[test]
    fn the_login_location_returns_to_the_page() {
        let uri: Uri = "/ui/runs/abc?x=1".parse().unwrap();
        assert_eq!(
            login_location(&uri),
            "/ui/login?next=%2Fui%2Fruns%2Fabc%3Fx%3D1"
        );
    }
}
