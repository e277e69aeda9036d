//! One way to send a request and read its answer: [`Answer`] (status, headers, body, and the body as JSON),
//! from a fresh client each time, so that no pooled connection outlives its server or counts against a
//! connection limit.

use std::time::Duration;

use bytes::Bytes;
use reqwest::StatusCode;
use reqwest::header::HeaderMap;
use serde_json::Value;

/// A fresh HTTP client (no pooled connections shared between requests or servers), with a 30 s guard.
pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .expect("http client")
}

/// A response read whole.
#[derive(Debug, Clone)]
pub struct Answer {
    /// Its status.
    pub status: StatusCode,
    /// Its headers.
    pub headers: HeaderMap,
    /// Its body, as sent.
    pub body: Bytes,
    /// The body parsed as JSON (`Value::Null` when it is empty or not JSON).
    pub json: Value,
}

impl Answer {
    /// Reads `response` whole.
    pub async fn read(response: reqwest::Response) -> Self {
        let status = response.status();
        let headers = response.headers().clone();
        let body = response.bytes().await.expect("response body");
        Self::new(status, headers, body)
    }

    /// An answer from its parts (e.g. from a `oneshot` response).
    pub fn new(status: StatusCode, headers: HeaderMap, body: Bytes) -> Self {
        let json = serde_json::from_slice(&body).unwrap_or(Value::Null);
        Self {
            status,
            headers,
            body,
            json,
        }
    }

    /// The body as text.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// A header's value as text (`""` when absent).
    pub fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .map_or("", |value| value.to_str().expect("a text header"))
    }

    /// Asserts a DriftQ error body with this status and code, and returns its message.
    #[track_caller]
    pub fn error(&self, status: u16, code: &str) -> String {
        assert_eq!(self.status.as_u16(), status, "body: {}", self.json);
        assert_eq!(self.json["error"], code, "body: {}", self.json);
        let message = self.json["message"].as_str().expect("message is a string");
        assert!(!message.is_empty());
        message.to_owned()
    }
}

/// Sends `request` and reads the answer whole.
pub async fn send(request: reqwest::RequestBuilder) -> Answer {
    Answer::read(request.send().await.expect("the request is answered")).await
}

/// `GET url`.
pub async fn get(url: &str) -> Answer {
    send(client().get(url)).await
}

/// `POST url` with a JSON body.
pub async fn post(url: &str, body: &Value) -> Answer {
    send(client().post(url).json(body)).await
}

/// `POST url` with `body` sent as is, labelled JSON.
pub async fn post_raw(url: &str, body: impl Into<Bytes>) -> Answer {
    send(
        client()
            .post(url)
            .header("content-type", "application/json")
            .body(body.into()),
    )
    .await
}

/// `DELETE url`.
pub async fn delete(url: &str) -> Answer {
    send(client().delete(url)).await
}
