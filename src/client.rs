//! The typed HTTP client of the runs API. It owns requests, the bearer token, the event stream (its SSE framing
//! by eventsource-stream) and the mapping of HTTP failures to [`CliError`]: 4xx → `Rejected` (exit 4), 5xx and
//! connection failures → exit 5. It prints nothing.
//!
//! The original starter's routes (`POST /runs`, replay, events, DLQ of a run, emit, peek, healthz) are all a
//! command needs to work against the original FastAPI API; a call to one of dq's additions that the server
//! lacks fails with a message saying so.

use std::pin::Pin;

use dq_proto::error::{DetailBody, ErrorBody};
use dq_proto::runs::{
    CreateRun, CreateRunResponse, DlqList, DlqRecord, EmitRequest, Event, HealthResponse,
    OkResponse, ReplayRequest, ReplayResponse, RunDetail, RunList, Timeline,
};
use eventsource_stream::{EventStreamError, Eventsource};
use futures::{Stream, StreamExt};
use reqwest::header::{ACCEPT, AUTHORIZATION, HeaderMap, HeaderValue};
use reqwest::{Method, RequestBuilder, Response, StatusCode};
use serde::Serialize;
use serde::de::DeserializeOwned;
use url::Url;

use crate::error::{CliError, Result};

/// A client of one dq (or original starter) server.
#[derive(Debug, Clone)]
pub struct Client {
    http: reqwest::Client,
    base: Url,
}

/// Whether a route belongs to the original starter's API or is a dq addition (for error messages).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Route {
    Original,
    Addition,
}

impl Client {
    /// A client of the server at `base`, sending `Authorization: Bearer <token>` when a token is set.
    pub fn new(base: Url, token: Option<&str>) -> Result<Self> {
        let mut headers = HeaderMap::new();
        if let Some(token) = token {
            let value = HeaderValue::from_str(&format!("Bearer {token}"))
                .map_err(|_| CliError::Usage("the token contains invalid characters".into()))?;
            headers.insert(AUTHORIZATION, value);
        }
        let http = reqwest::Client::builder()
            .default_headers(headers)
            .connect_timeout(std::time::Duration::from_secs(5))
            // Under the server's idle timeout (30 s by default), so that the client drops an idle connection
            // before the server closes it, instead of sending a request down one being closed.
            .pool_idle_timeout(std::time::Duration::from_secs(15))
            .user_agent(concat!("dq/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| CliError::failed("building the http client", e))?;
        Ok(Self { http, base })
    }

    /// The server's base URL.
    pub fn base(&self) -> &Url {
        &self.base
    }

    /// `GET /healthz`. An answer that is not dq's (a 404, a body that is not its health document) is
    /// [`CliError::NotDq`].
    pub async fn health(&self) -> Result<HealthResponse> {
        match self.get("/healthz", Route::Original).await {
            Err(undecodable @ CliError::Failed { .. }) => Err(self.not_dq(undecodable.to_string())),
            Err(CliError::Rejected {
                status: status @ (404 | 405),
                ..
            }) => Err(self.not_dq(format!("GET /healthz answered {status}"))),
            other => other,
        }
    }

    /// `GET /v1/version` (the broker protocol's version route): the server's version.
    pub async fn version(&self) -> Result<dq_proto::broker::Version> {
        self.get("/v1/version", Route::Addition).await
    }

    fn not_dq(&self, why: String) -> CliError {
        CliError::NotDq {
            url: self.base.to_string(),
            why,
        }
    }

    /// `POST /runs`.
    pub async fn create_run(&self, body: &CreateRun) -> Result<CreateRunResponse> {
        self.send(Method::POST, "/runs", Some(body), Route::Original)
            .await
    }

    /// `POST /runs/{id}/replay`.
    pub async fn replay(&self, run: &str, body: &ReplayRequest) -> Result<ReplayResponse> {
        let path = format!("/runs/{}/replay", segment(run));
        self.send(Method::POST, &path, Some(body), Route::Original)
            .await
    }

    /// `GET /runs/{id}/dlq`: the run's latest DLQ record.
    pub async fn dlq(&self, run: &str) -> Result<DlqRecord> {
        self.get(&format!("/runs/{}/dlq", segment(run)), Route::Original)
            .await
    }

    /// `POST /runs/{id}/emit`.
    pub async fn emit(&self, run: &str, body: &EmitRequest) -> Result<OkResponse> {
        let path = format!("/runs/{}/emit", segment(run));
        self.send(Method::POST, &path, Some(body), Route::Original)
            .await
    }

    /// `GET /debug/dlq/peek?limit=N` (oldest first).
    pub async fn dlq_peek(&self, limit: usize) -> Result<DlqList> {
        self.get(&format!("/debug/dlq/peek?limit={limit}"), Route::Original)
            .await
    }

    /// `GET /runs` (dq addition): newest first.
    pub async fn runs(
        &self,
        status: Option<&str>,
        limit: usize,
        after: Option<&str>,
    ) -> Result<RunList> {
        let mut url = self.url("/runs");
        url.query_pairs_mut()
            .append_pair("limit", &limit.to_string());
        if let Some(after) = after {
            url.query_pairs_mut().append_pair("after", after);
        }
        if let Some(status) = status {
            url.query_pairs_mut().append_pair("status", status);
        }
        self.request(Method::GET, url, None::<&()>, Route::Addition)
            .await
    }

    /// `GET /workflows` (dq addition).
    pub async fn workflows(&self) -> Result<dq_proto::workflow::WorkflowList> {
        self.get("/workflows", Route::Addition).await
    }

    /// `GET /runs/{id}` (dq addition).
    pub async fn run(&self, run: &str) -> Result<RunDetail> {
        self.get(&format!("/runs/{}", segment(run)), Route::Addition)
            .await
    }

    /// `GET /dlq?limit=N[&run_id=R]` (dq addition): newest first.
    pub async fn dlq_list(
        &self,
        limit: usize,
        run: Option<&str>,
        after: Option<&str>,
    ) -> Result<DlqList> {
        let mut url = self.url("/dlq");
        url.query_pairs_mut()
            .append_pair("limit", &limit.to_string());
        if let Some(after) = after {
            url.query_pairs_mut().append_pair("after", after);
        }
        if let Some(run) = run {
            url.query_pairs_mut().append_pair("run_id", run);
        }
        self.request(Method::GET, url, None::<&()>, Route::Addition)
            .await
    }

    /// `GET /dlq` with dq's filters (dq addition): the runs dead-lettered now, newest first.
    pub async fn dlq_search(&self, query: &DlqQuery<'_>) -> Result<DlqList> {
        let mut url = self.url("/dlq");
        {
            let mut pairs = url.query_pairs_mut();
            pairs.append_pair("limit", &query.limit.to_string());
            if let Some(error) = query.error {
                pairs.append_pair("error", error);
            }
            if let Some(workflow) = query.workflow {
                pairs.append_pair("workflow", workflow);
            }
            if let Some(since) = query.since_ms {
                pairs.append_pair("since", &since.to_string());
            }
        }
        self.request(Method::GET, url, None::<&()>, Route::Addition)
            .await
    }

    /// `GET /dlq/latest` (dq addition).
    pub async fn dlq_latest(&self) -> Result<DlqRecord> {
        self.get("/dlq/latest", Route::Addition).await
    }

    /// `GET /runs/{id}/timeline?since=N` (dq addition): the events so far, without streaming.
    pub async fn timeline(&self, run: &str, since: Option<u64>) -> Result<Timeline> {
        let mut path = format!("/runs/{}/timeline", segment(run));
        if let Some(since) = since {
            path.push_str(&format!("?since={since}"));
        }
        self.get(&path, Route::Addition).await
    }

    /// `GET /runs/{id}/events` (SSE), resuming after `last_event_id` when given.
    ///
    /// Each stream has a `client_id` of its own. Streams open with one id share its events, each event going
    /// to one of them (the original UI's tabs), and a server notices a stream the client dropped only when a
    /// write to it fails: a second stream with the first one's id, opened right after dropping the first (as
    /// `dq demo` follows the replay after the failure), lost the events the dead stream took.
    pub async fn events(&self, run: &str, last_event_id: Option<u64>) -> Result<EventStream> {
        let mut url = self.url(&format!("/runs/{}/events", segment(run)));
        url.query_pairs_mut().append_pair(
            "client_id",
            &format!("dq-{}", uuid::Uuid::new_v4().simple()),
        );
        let mut request = self.http.get(url).header(ACCEPT, "text/event-stream");
        if let Some(id) = last_event_id {
            request = request.header("Last-Event-ID", id.to_string());
        }
        let response = self.execute(request, Route::Original).await?;
        Ok(EventStream::new(
            response.bytes_stream(),
            self.base.to_string(),
        ))
    }

    async fn get<T: DeserializeOwned>(&self, path: &str, route: Route) -> Result<T> {
        self.send(Method::GET, path, None::<&()>, route).await
    }

    async fn send<T: DeserializeOwned, B: Serialize>(
        &self,
        method: Method,
        path: &str,
        body: Option<&B>,
        route: Route,
    ) -> Result<T> {
        self.request(method, self.url(path), body, route).await
    }

    async fn request<T: DeserializeOwned, B: Serialize>(
        &self,
        method: Method,
        url: Url,
        body: Option<&B>,
        route: Route,
    ) -> Result<T> {
        let what = format!("{method} {}", url.path());
        let mut request = self.http.request(method, url);
        if let Some(body) = body {
            request = request.json(body);
        }
        let response = self.execute(request, route).await?;
        let bytes = response.bytes().await.map_err(|e| self.unreachable(&e))?;
        serde_json::from_slice(&bytes)
            .map_err(|e| CliError::failed(format!("unexpected answer to {what}"), e))
    }

    async fn execute(&self, request: RequestBuilder, route: Route) -> Result<Response> {
        let request = request
            .build()
            .map_err(|e| CliError::failed("building a request", e))?;
        let what = format!("{} {}", request.method(), request.url().path());
        let response = self
            .http
            .execute(request)
            .await
            .map_err(|e| self.unreachable(&e))?;
        let status = response.status();
        if status.is_success() {
            return Ok(response);
        }
        let text = response.text().await.unwrap_or_default();
        Err(self.http_error(status, &what, &text, route))
    }

    fn http_error(&self, status: StatusCode, what: &str, body: &str, route: Route) -> CliError {
        let message = error_message(body).unwrap_or_else(|| {
            status
                .canonical_reason()
                .unwrap_or("no reason given")
                .to_lowercase()
        });
        // FastAPI's answers for a path it lacks (404) or has for another method only (`GET /runs`: 405).
        let no_route = (status == StatusCode::NOT_FOUND
            && message.eq_ignore_ascii_case("not found"))
            || status == StatusCode::METHOD_NOT_ALLOWED;
        if route == Route::Addition && no_route {
            return CliError::MissingRoute {
                url: self.base.to_string(),
                route: what.to_owned(),
            };
        }
        if status == StatusCode::CONFLICT {
            // A conflict's detail says it all ("run R is still running (attempt 2/3)"): the caller adds what
            // to do about it.
            return CliError::Rejected {
                status: status.as_u16(),
                message,
            };
        }
        // The one line people see is the server's message with what to do about it; method, route and status
        // are for `DQ_LOG=debug`.
        tracing::debug!(status = status.as_u16(), request = what, %message, "the server refused");
        if status.is_server_error() {
            CliError::ServerFailed {
                status: status.as_u16(),
                message,
            }
        } else {
            CliError::Rejected {
                status: status.as_u16(),
                message: format!("{message}{}", hint(status, what)),
            }
        }
    }

    fn unreachable(&self, error: &reqwest::Error) -> CliError {
        CliError::Unreachable {
            url: self.base.to_string(),
            reason: root_cause(error),
        }
    }

    fn url(&self, path_and_query: &str) -> Url {
        let mut url = self.base.clone();
        let (path, query) = path_and_query
            .split_once('?')
            .map_or((path_and_query, None), |(p, q)| (p, Some(q)));
        let joined = format!("{}{}", self.base.path().trim_end_matches('/'), path);
        url.set_path(&joined);
        url.set_query(query);
        url
    }
}

/// The filters of `GET /dlq` (see [`Client::dlq_search`]).
#[derive(Debug, Clone, Default)]
pub struct DlqQuery<'a> {
    /// Text the record's error contains (case-insensitive).
    pub error: Option<&'a str>,
    /// The workflow.
    pub workflow: Option<&'a str>,
    /// Records written at or after this time (unix ms).
    pub since_ms: Option<u64>,
    /// At most this many.
    pub limit: usize,
}

/// What to do about a 4xx answer to `what` (`METHOD /path`), as a sentence after the message.
fn hint(status: StatusCode, what: &str) -> &'static str {
    match status {
        StatusCode::UNAUTHORIZED => ": pass `--token` / `DQ_TOKEN`",
        StatusCode::NOT_FOUND if what.contains(" /runs/") || what.contains(" /dlq") => {
            "; list runs with `dq runs list`"
        }
        _ => "",
    }
}

/// A run id as one URL path segment (ids are hex; anything else is escaped, never interpreted).
fn segment(run: &str) -> String {
    url::form_urlencoded::byte_serialize(run.as_bytes())
        .collect::<String>()
        .replace('+', "%20")
}

/// The message of a FastAPI (`{"detail": ...}`) or DriftQ (`{"error", "message"}`) error body.
fn error_message(body: &str) -> Option<String> {
    if let Ok(detail) = serde_json::from_str::<DetailBody>(body) {
        return Some(match detail.detail {
            serde_json::Value::String(text) => text,
            // A 422 list of problems: `loc: msg` each.
            serde_json::Value::Array(items) => items
                .iter()
                .map(|item| {
                    let msg = item
                        .get("msg")
                        .and_then(|m| m.as_str())
                        .unwrap_or("invalid");
                    match item.get("loc").and_then(|l| l.as_array()) {
                        Some(loc) => {
                            let loc: Vec<String> = loc
                                .iter()
                                .map(|p| p.as_str().map_or_else(|| p.to_string(), str::to_owned))
                                .collect();
                            format!("{}: {msg}", loc.join("."))
                        }
                        None => msg.to_owned(),
                    }
                })
                .collect::<Vec<_>>()
                .join("; "),
            other => other.to_string(),
        });
    }
    serde_json::from_str::<ErrorBody>(body)
        .ok()
        .map(|e| e.message)
}

fn root_cause(error: &(dyn std::error::Error + 'static)) -> String {
    let mut cause = error;
    while let Some(next) = cause.source() {
        cause = next;
    }
    let text = cause.to_string();
    if error.to_string() == text || text.is_empty() {
        error.to_string()
    } else {
        text
    }
}

/// One frame of an SSE stream.
#[derive(Debug, Clone, PartialEq)]
pub struct Frame {
    /// The stream's last event id (the `id:` field, which carries over to frames without one, as the SSE spec
    /// says): the event's sequence in the run's timeline (dq sends it with every frame; the original never).
    pub id: Option<u64>,
    /// The event, parsed.
    pub event: Event,
    /// The `data:` text exactly as received.
    pub raw: String,
}

type Events = Pin<
    Box<
        dyn Stream<
                Item = std::result::Result<
                    eventsource_stream::Event,
                    EventStreamError<reqwest::Error>,
                >,
            > + Send,
    >,
>;

/// A live `GET /runs/{id}/events` stream, framed by eventsource-stream (the SSE spec's line and field rules).
pub struct EventStream {
    events: Events,
    base: String,
}

impl EventStream {
    fn new(
        body: impl Stream<Item = reqwest::Result<bytes::Bytes>> + Send + 'static,
        base: String,
    ) -> Self {
        Self {
            events: Box::pin(body.eventsource()),
            base,
        }
    }

    /// The next event frame; `None` when the server closed the stream. Comments (keep-alives) and frames
    /// without data are skipped.
    pub async fn next(&mut self) -> Result<Option<Frame>> {
        loop {
            let sse = match self.events.next().await {
                Some(Ok(sse)) => sse,
                Some(Err(EventStreamError::Transport(e))) => {
                    return Err(CliError::Unreachable {
                        url: self.base.clone(),
                        reason: format!("event stream broke: {}", root_cause(&e)),
                    });
                }
                Some(Err(e)) => {
                    return Err(CliError::failed("unreadable event stream", e));
                }
                None => return Ok(None),
            };
            if sse.data.is_empty() {
                continue;
            }
            let event = serde_json::from_str(&sse.data).map_err(|e| {
                CliError::Unexpected(format!("unexpected event on the stream: {e}: {}", sse.data))
            })?;
            return Ok(Some(Frame {
                id: sse.id.trim().parse().ok(),
                event,
                raw: sse.data,
            }));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fastapi_and_driftq_error_bodies_give_their_message() {
        assert_eq!(
            error_message(r#"{"detail":"run not found"}"#).as_deref(),
            Some("run not found")
        );
        assert_eq!(
            error_message(r#"{"detail":[{"loc":["body","fail_at"],"msg":"bad step"}]}"#).as_deref(),
            Some("body.fail_at: bad step")
        );
        assert_eq!(
            error_message(r#"{"error":"NOT_FOUND","message":"no route"}"#).as_deref(),
            Some("no route")
        );
        assert_eq!(error_message("<html>"), None);
    }

    #[tokio::test]
    async fn frames_are_read_across_chunks_with_their_ids_and_keep_alives_skipped() {
        let event = r#"{"type":"run.created","ts":1,"run_id":"r"}"#;
        let wire = format!(": keep-alive\n\nid: 7\r\ndata: {event}\r\n\r\ndata: {event}\n\n");
        // Split the wire bytes at every third byte, as a slow network might deliver them.
        let chunks: Vec<reqwest::Result<bytes::Bytes>> = wire
            .as_bytes()
            .chunks(3)
            .map(|c| Ok(bytes::Bytes::copy_from_slice(c)))
            .collect();
        let mut stream = EventStream::new(futures::stream::iter(chunks), "http://x/".into());
        let first = stream.next().await.unwrap().expect("a first frame");
        assert_eq!(first.id, Some(7));
        assert_eq!(first.raw, event);
        assert_eq!(first.event.kind(), "run.created");
        let second = stream.next().await.unwrap().expect("a second frame");
        assert_eq!(
            second.id,
            Some(7),
            "the last event id carries over, as the SSE spec says"
        );
        assert!(stream.next().await.unwrap().is_none(), "the stream ended");
    }

    /// A stream the client dropped looks open to the server until a write to it fails. Two streams of one run
    /// from one client, the first held and never read: every event still reaches the second, because each
    /// stream has a client id of its own (with one id the two shared the events, and the held one took some).
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_held_stream_takes_no_events_from_the_next_stream_of_the_same_client() {
        let server = dq_testkit::Server::over_a_temp_dir(|_| {});
        let client = Client::new(Url::parse(&server.base()).unwrap(), None).unwrap();
        let run_id = client
            .create_run(&CreateRun::default())
            .await
            .unwrap()
            .run_id;
        let _held = client.events(&run_id, None).await.unwrap();
        let mut second = client.events(&run_id, None).await.unwrap();
        for n in 0..3 {
            let answer = server
                .post(
                    &format!("/runs/{run_id}/emit"),
                    serde_json::json!({"event": {"type": "note", "n": n}}),
                )
                .await;
            assert_eq!(answer.status, 200, "{}", answer.text());
        }
        let notes = tokio::time::timeout(std::time::Duration::from_secs(20), async {
            let mut notes = 0;
            while notes < 3 {
                let frame = second.next().await.unwrap().expect("the stream goes on");
                if frame.event.kind() == "note" {
                    notes += 1;
                }
            }
            notes
        })
        .await;
        assert_eq!(notes, Ok(3), "the second stream missed notes");
    }
}
