//! A loopback proxy in front of a dq server that records, per request to one path, how many items the body's
//! array field carried (1 for a body without it); with `as_original`, its `/v1/version` answers without
//! `features`, as the original broker does. Tests of dq's HTTP queue use it to count the requests a call sends.

use std::sync::{Arc, Mutex};

use serde_json::Value;

use crate::util::client;

pub struct CountingProxy {
    pub url: String,
    /// Items per request to the counted path, in order.
    pub items_per_request: Arc<Mutex<Vec<usize>>>,
    pub task: tokio::task::JoinHandle<()>,
}

impl CountingProxy {
    /// Forwards everything to `upstream`, counting the items of `field` in each request to `path`.
    pub async fn start(
        upstream: String,
        path: &'static str,
        field: &'static str,
        as_original: bool,
    ) -> Self {
        let items_per_request: Arc<Mutex<Vec<usize>>> = Arc::default();
        let seen = Arc::clone(&items_per_request);
        let app = axum::Router::new().fallback(move |req: axum::extract::Request| {
            let (upstream, seen) = (upstream.clone(), Arc::clone(&seen));
            async move {
                let (parts, body) = req.into_parts();
                let body = axum::body::to_bytes(body, usize::MAX).await.unwrap();
                if parts.uri.path() == path {
                    let json: Value = serde_json::from_slice(&body).unwrap();
                    let n = json[field].as_array().map_or(1, Vec::len);
                    seen.lock().unwrap().push(n);
                }
                let answer = client()
                    .request(parts.method, format!("{upstream}{}", parts.uri))
                    .header("content-type", "application/json")
                    .body(body)
                    .send()
                    .await
                    .unwrap();
                let status = answer.status();
                let mut bytes = answer.bytes().await.unwrap().to_vec();
                if as_original && parts.uri.path() == "/v1/version" {
                    let mut version: Value = serde_json::from_slice(&bytes).unwrap();
                    version.as_object_mut().unwrap().remove("features");
                    bytes = serde_json::to_vec(&version).unwrap();
                }
                (status, bytes)
            }
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let task = tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        Self {
            url,
            items_per_request,
            task,
        }
    }
}
