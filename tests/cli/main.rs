//! The CLI's integration tests: the real `dq` binary against a real server bound to port 0.
//!
//! Each module reads as a spec of one area; `util` has the [`util::TestServer`] and the preset [`util::dq`]
//! command (no colour, no `DQ_*` variable leaking in from the environment).

mod basics;
mod broker_kill;
mod demo;
mod disk_full;
mod errors;
mod hostile;
mod kill_storm;
mod logs;
mod nats;
mod original;
mod polish;
mod processes;
mod pty;
mod runs;
mod sigkill;
mod util;
