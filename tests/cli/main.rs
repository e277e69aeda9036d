//! The CLI's integration tests: the real `dq` binary against a real server bound to port 0.
//!
//! Each module reads as a spec of one area; `util` has the [`util::TestServer`] and the preset [`util::dq`]
//! command (no colour, no `DQ_*` variable leaking in from the environment).

// Tests may unwrap: a panic is the failure report.
#![allow(clippy::unwrap_used)]

mod basics;
mod bench;
mod broker_kill;
mod dashboard;
mod demo;
mod disk_full;
mod driftqd;
mod errors;
mod hostile;
mod kill_storm;
mod logs;
mod memory;
mod nats;
mod original;
mod polish;
mod processes;
mod pty;
mod runs;
mod sigkill;
mod threads;
mod util;
mod workflows;
