//! Wire types shared by the dq server and the dq CLI.
//!
//! This crate owns the JSON shapes and the run model: the DriftQ v1 broker bodies ([`broker`]), the runs API
//! bodies and DLQ records ([`runs`]), the typed event vocabulary ([`event`]), the one status fold shared by
//! the server and the CLI ([`fold`]) and the error bodies ([`error`]) and the workflow model ([`workflow`]). It must stay free of I/O: no tokio,
//! axum or reqwest here, so that every other crate can depend on it cheaply.

pub mod broker;
pub mod error;
pub mod event;
pub mod fold;
pub mod runs;
pub mod workflow;
