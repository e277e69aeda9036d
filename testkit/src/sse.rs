//! Server-sent events as a test reads them: frames with data (comments and keep-alives skipped), each with its
//! id and when it was read, framed by `eventsource-stream`.

use std::pin::Pin;
use std::time::{Duration, Instant};

use eventsource_stream::Eventsource;
use futures::{Stream, StreamExt};
use reqwest::StatusCode;
use serde_json::Value;

/// One SSE frame.
#[derive(Debug, Clone)]
pub struct Frame {
    /// Its id, if it carried one (or one came before it in the stream, as the SSE spec carries it over).
    pub id: Option<u64>,
    /// Its data, parsed as JSON.
    pub data: Value,
    /// When the client had read the frame.
    pub received: Instant,
}

type Events = Pin<Box<dyn Stream<Item = Result<eventsource_stream::Event, String>> + Send>>;

/// An open event stream, read one frame at a time.
pub struct SseStream {
    events: Events,
}

impl SseStream {
    /// Opens `url` with `headers`; asserts a 200 event stream.
    pub async fn open(url: &str, headers: &[(&str, &str)]) -> Self {
        let mut request = crate::http::client().get(url);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        // The client's 30 s guard would end a long stream: this request has none, callers bound their reads.
        let request = request.timeout(Duration::from_secs(3600));
        let response = request.send().await.expect("sse");
        assert_eq!(response.status(), StatusCode::OK);
        assert!(
            response.headers()["content-type"]
                .to_str()
                .expect("a text content type")
                .starts_with("text/event-stream")
        );
        let events = response
            .bytes_stream()
            .eventsource()
            .map(|event| event.map_err(|e| e.to_string()));
        Self {
            events: Box::pin(events),
        }
    }

    /// The next frame with data. Unbounded: callers bound the wait. Cancel-safe: what was read stays buffered.
    pub async fn next(&mut self) -> Frame {
        let event = self
            .events
            .next()
            .await
            .expect("sse stream ended early")
            .expect("an sse frame");
        Frame {
            id: (!event.id.is_empty()).then(|| event.id.parse().expect("numeric id")),
            data: serde_json::from_str(&event.data).expect("json data"),
            received: Instant::now(),
        }
    }

    /// Reads frames until `done` holds for one (that one included); panics after `timeout` with what it read.
    pub async fn until(&mut self, timeout: Duration, done: impl Fn(&Frame) -> bool) -> Vec<Frame> {
        let mut frames = Vec::new();
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let frame = tokio::time::timeout_at(deadline, self.next())
                .await
                .unwrap_or_else(|_| panic!("sse frames never satisfied the wait: {frames:?}"));
            let finished = done(&frame);
            frames.push(frame);
            if finished {
                return frames;
            }
        }
    }
}

/// Opens `url` with `headers` and reads frames until `done` holds for one; see [`SseStream::until`].
pub async fn until(
    url: &str,
    headers: &[(&str, &str)],
    timeout: Duration,
    done: impl Fn(&Frame) -> bool,
) -> Vec<Frame> {
    SseStream::open(url, headers)
        .await
        .until(timeout, done)
        .await
}
