//! What dq's integration tests share (`publish = false`; every test binary takes it as a dev-dependency):
//!
//! - `Server`: a real dq server on its own runtime thread, bound to 127.0.0.1:0 over a temporary data dir,
//!   that a test can stop and restart on the same data; `App`: the same service without a socket, for
//!   `tower::ServiceExt::oneshot`; `Process`: `dq` (e.g. `dq up`) as a real process that can be signalled.
//! - `http`: one way to send a request and read the answer whole (`Answer`: status, headers, body, JSON);
//!   `Endpoint`: the calls a `Server` and an `App` both answer, for a binary's helpers to use either.
//! - [`eventually`]: the one bounded poll; it says what it waited for when it gives up.
//! - `sse`: server-sent events read with `eventsource-stream`.
//! - `driftqd`: a stand-in for the original DriftQ broker; [`full_disk`]: a small disk that can be filled.
//!
//! Everything but the waits and the disk is behind the `server` feature (the broker's tests go without it),
//! which is why the items above are named, not linked: `cargo doc` builds the kit without it.
//! Helpers here panic with a message instead of returning errors: a panic is a test's failure report.

#![allow(
    clippy::missing_panics_doc,
    reason = "test helpers fail the test by panicking"
)]

#[cfg(feature = "server")]
mod app;
#[cfg(feature = "server")]
pub mod driftqd;
#[cfg(feature = "server")]
mod endpoint;
mod eventually;
pub mod full_disk;
#[cfg(feature = "server")]
pub mod http;
#[cfg(feature = "server")]
mod process;
#[cfg(feature = "server")]
mod server;
#[cfg(feature = "server")]
pub mod sse;

#[cfg(feature = "server")]
pub use app::{App, LOCAL, request};
#[cfg(feature = "server")]
pub use endpoint::{Endpoint, Streaming};
pub use eventually::{POLL, eventually, eventually_blocking, within};
#[cfg(feature = "server")]
pub use http::Answer;
#[cfg(feature = "server")]
pub use process::{LEAKY, Process, dq};
#[cfg(feature = "server")]
pub use server::Server;
