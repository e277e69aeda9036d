//! What a test sends its requests to: a [`crate::Server`] over its socket, or an [`crate::App`] without one.
//! A binary's own calls (create a run, produce) are written once over this trait and work on both.

use std::future::Future;

use bytes::Bytes;
use futures::StreamExt;
use futures::stream::BoxStream;
use reqwest::StatusCode;
use reqwest::header::HeaderMap;
use serde_json::Value;

use crate::http::Answer;

/// A response whose body is read as it comes (a consume stream): status, headers, and the body's chunks.
pub struct Streaming {
    /// Its status.
    pub status: StatusCode,
    /// Its headers.
    pub headers: HeaderMap,
    /// Its body, chunk by chunk; an error ends it.
    pub body: BoxStream<'static, Result<Bytes, String>>,
}

/// Answers requests, read whole.
pub trait Endpoint: Sync {
    /// `GET path`.
    fn get(&self, path: &str) -> impl Future<Output = Answer> + Send;
    /// `POST path` with a JSON body.
    fn post(&self, path: &str, body: Value) -> impl Future<Output = Answer> + Send;
    /// `POST path` with `body` sent as is, labelled JSON.
    fn post_raw(&self, path: &str, body: impl Into<Bytes>) -> impl Future<Output = Answer> + Send;
    /// `GET path`, answered as soon as the headers are in; the body is read by the caller.
    fn stream(&self, path: &str) -> impl Future<Output = Streaming> + Send;
}

impl Endpoint for crate::Server {
    fn get(&self, path: &str) -> impl Future<Output = Answer> + Send {
        crate::Server::get(self, path)
    }

    fn post(&self, path: &str, body: Value) -> impl Future<Output = Answer> + Send {
        crate::Server::post(self, path, body)
    }

    fn post_raw(&self, path: &str, body: impl Into<Bytes>) -> impl Future<Output = Answer> + Send {
        let body: Bytes = body.into();
        crate::Server::post_raw(self, path, body)
    }

    fn stream(&self, path: &str) -> impl Future<Output = Streaming> + Send {
        let request = crate::http::client().get(self.url(path));
        async move {
            let response = request.send().await.expect("the request is answered");
            Streaming {
                status: response.status(),
                headers: response.headers().clone(),
                body: response
                    .bytes_stream()
                    .map(|chunk| chunk.map_err(|e| e.to_string()))
                    .boxed(),
            }
        }
    }
}

/// A binary's own server type that wraps the kit's (with its defaults) answers as the kit's does.
impl<T> Endpoint for T
where
    T: std::ops::Deref<Target = crate::Server> + Sync,
{
    fn get(&self, path: &str) -> impl Future<Output = Answer> + Send {
        crate::Server::get(self, path)
    }

    fn post(&self, path: &str, body: Value) -> impl Future<Output = Answer> + Send {
        crate::Server::post(self, path, body)
    }

    fn post_raw(&self, path: &str, body: impl Into<Bytes>) -> impl Future<Output = Answer> + Send {
        let body: Bytes = body.into();
        crate::Server::post_raw(self, path, body)
    }

    fn stream(&self, path: &str) -> impl Future<Output = Streaming> + Send {
        Endpoint::stream(&**self, path)
    }
}

impl Endpoint for crate::App {
    fn get(&self, path: &str) -> impl Future<Output = Answer> + Send {
        crate::App::get(self, path)
    }

    fn post(&self, path: &str, body: Value) -> impl Future<Output = Answer> + Send {
        crate::App::post(self, path, body)
    }

    fn post_raw(&self, path: &str, body: impl Into<Bytes>) -> impl Future<Output = Answer> + Send {
        let body: Bytes = body.into();
        crate::App::post_raw(self, path, body)
    }

    fn stream(&self, path: &str) -> impl Future<Output = Streaming> + Send {
        crate::App::stream(self, path)
    }
}
