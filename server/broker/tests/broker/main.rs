//! Broker behaviour against a real fjall store in a temp dir: produce, consume, settle, retry, dead-letter,
//! restart and recovery. Paused-time tests drive leases and backoff deterministically.

#![allow(missing_docs)]
// Tests may unwrap: a panic is the failure report.
#![allow(clippy::unwrap_used)]

mod batch;
mod bounds;
mod chunk;
mod common;
mod consume;
mod delivered_mark;
mod journal_bound;
mod limits;
mod produce;
mod read_ahead;
mod recovery;
mod storage;
mod timing;
