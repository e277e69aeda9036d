//! Integration tests of the DriftQ v1 edges over real HTTP: a dq server bound to 127.0.0.1:0 with a temporary
//! data dir, driven with reqwest. Each module is one area of the protocol.

// Tests may unwrap: a panic is the failure report.
#![allow(clippy::unwrap_used)]

mod auth;
mod bad_input;
mod batch;
mod browser;
mod connections;
mod counting_proxy;
mod delete_topics;
mod delivery;
mod http_queue;
mod limits;
mod python_client;
mod routes;
mod storage;
mod util;
