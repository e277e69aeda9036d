//! Wire types shared by the dq server and the dq CLI.
//!
//! This crate owns the JSON shapes only: the DriftQ v1 broker bodies ([`broker`]), the runs API bodies, events
//! and DLQ records ([`runs`]) and the error bodies ([`error`]). It must stay free of I/O: no tokio, axum or
//! reqwest here, so that every other crate can depend on it cheaply.

pub mod broker;
pub mod error;
pub mod runs;
