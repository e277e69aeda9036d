//! What a test sends its requests to: a [`crate::Server`] over its socket, or an [`crate::App`] without one.
//! A binary's own calls (create a run, produce) are written once over this trait and work on both.

use std::future::Future;

use bytes::Bytes;
use serde_json::Value;

use crate::http::Answer;

/// Answers requests, read whole.
pub trait Endpoint: Sync {
    /// `GET path`.
    fn get(&self, path: &str) -> impl Future<Output = Answer> + Send;
    /// `POST path` with a JSON body.
    fn post(&self, path: &str, body: Value) -> impl Future<Output = Answer> + Send;
    /// `POST path` with `body` sent as is, labelled JSON.
    fn post_raw(&self, path: &str, body: impl Into<Bytes>) -> impl Future<Output = Answer> + Send;
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
}
