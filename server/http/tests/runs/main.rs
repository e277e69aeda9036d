//! Integration tests of the runs API over real HTTP against a real dq server (embedded broker, in-process
//! worker) on 127.0.0.1:0 with a temporary data dir: the original starter's behavioural tests, rewritten
//! against the real thing, plus dq's additions, SSE resume and restarts.

// Tests may unwrap: a panic is the failure report.
#![allow(clippy::unwrap_used)]

mod admission;
mod api;
mod archive_topic;
mod bad_input;
mod cors;
mod dashboard;
mod docs;
mod driftqd;
mod durability;
mod external;
mod forged;
mod race;
mod retention;
mod sse;
mod stored_events;
mod util;
