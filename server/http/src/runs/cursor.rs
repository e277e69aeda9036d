//! The resume points of `GET /runs/{id}/events?client_id=…`: one per (run, client id), as the original's
//! consumer group `web-<run>-<client_id>` is. A browser tab keeps one `client_id` for its session, so a second
//! "Connect SSE" resumes after the last event the tab was sent instead of sending the whole history again, and
//! two connections open at once with the same id share the events (each goes to one of them), as members of
//! one consumer group do.
//!
//! A frame counts as sent when the response body takes it to write (see `sse`), not when the follower reads
//! it: a frame still queued when the client leaves is sent to its next connection. Nothing confirms that a
//! client received a frame, so one taken just before the connection broke is lost to that client id; an
//! `EventSource` that reconnects by itself sends `Last-Event-ID`, which moves the point back.
//!
//! Memory is bounded: at most `capacity` points, and a point without an open connection expires after `ttl`
//! (it is then as if the client id were new). When full, the least recently used idle point makes room; when
//! every point has an open connection, a new client id streams without one (the whole history, as before).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;

/// Longest client id kept; longer ones are cut, so that a client cannot make the map's keys large.
const MAX_CLIENT_ID_CHARS: usize = 64;

/// Points kept at most by default: about 2 MB.
pub const DEFAULT_CAPACITY: usize = 10_000;

/// How long a point without an open connection is kept by default.
pub const DEFAULT_TTL: Duration = Duration::from_secs(15 * 60);

/// Every resume point of the server.
pub struct Cursors {
    points: Mutex<HashMap<Key, Point>>,
    capacity: usize,
    ttl: Duration,
}

type Key = (String, String);

struct Point {
    /// The last timeline seq sent to this client id.
    sent: Option<u64>,
    /// Open connections using the point; it does not expire while there is one.
    open: usize,
    touched: Instant,
}

impl Point {
    fn expired(&self, ttl: Duration) -> bool {
        self.open == 0 && self.touched.elapsed() >= ttl
    }
}

impl Default for Cursors {
    fn default() -> Self {
        Self::new(DEFAULT_CAPACITY, DEFAULT_TTL)
    }
}

impl Cursors {
    /// At most `capacity` points, each forgotten `ttl` after its last connection closed.
    pub fn new(capacity: usize, ttl: Duration) -> Self {
        Self {
            points: Mutex::new(HashMap::new()),
            capacity,
            ttl,
        }
    }

    /// The point of (`run_id`, `client_id`) for one connection, moved to `resume` when the client said where
    /// it stopped (`Last-Event-ID`, `?since=`). `None` when there is no room (every point has a connection).
    pub fn open(
        self: &Arc<Self>,
        run_id: &str,
        client_id: &str,
        resume: Option<u64>,
    ) -> Option<Cursor> {
        let client_id: String = client_id.chars().take(MAX_CLIENT_ID_CHARS).collect();
        let key = (run_id.to_owned(), client_id);
        let mut points = self.points.lock();
        if !points.contains_key(&key) && points.len() >= self.capacity {
            points.retain(|_, point| !point.expired(self.ttl));
            if points.len() >= self.capacity {
                let idle = points
                    .iter()
                    .filter(|(_, point)| point.open == 0)
                    .min_by_key(|(_, point)| point.touched)
                    .map(|(key, _)| key.clone());
                if let Some(oldest) = idle {
                    points.remove(&oldest);
                } else {
                    tracing::warn!(
                        run_id,
                        "{} SSE client ids are streaming; this one streams without a resume point",
                        points.len()
                    );
                    return None;
                }
            }
        }
        let ttl = self.ttl;
        let point = points.entry(key.clone()).or_insert(Point {
            sent: None,
            open: 0,
            touched: Instant::now(),
        });
        if point.expired(ttl) {
            point.sent = None;
        }
        if resume.is_some() {
            point.sent = resume;
        }
        point.open += 1;
        point.touched = Instant::now();
        Some(Cursor {
            cursors: Arc::clone(self),
            key,
        })
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.points.lock().len()
    }
}

/// One connection's hold on a resume point; the point may expire once every hold is dropped.
pub struct Cursor {
    cursors: Arc<Cursors>,
    key: Key,
}

impl Cursor {
    /// The last seq sent to this client id: the connection streams what follows it.
    pub fn sent(&self) -> Option<u64> {
        self.cursors
            .points
            .lock()
            .get(&self.key)
            .and_then(|point| point.sent)
    }

    /// Whether the frame of `seq` is this connection's to send: `false` when it was sent to the client id
    /// already (by another connection with the same id). Moves the point past `seq` when it is.
    pub fn take(&self, seq: u64) -> bool {
        let mut points = self.cursors.points.lock();
        let Some(point) = points.get_mut(&self.key) else {
            return true;
        };
        point.touched = Instant::now();
        if point.sent.is_some_and(|sent| sent >= seq) {
            return false;
        }
        point.sent = Some(seq);
        true
    }
}

impl Drop for Cursor {
    fn drop(&mut self) {
        if let Some(point) = self.cursors.points.lock().get_mut(&self.key) {
            point.open = point.open.saturating_sub(1);
            point.touched = Instant::now();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_frame_goes_to_one_connection_of_a_client_id_and_a_new_one_resumes_after_it() {
        let cursors = Arc::new(Cursors::default());
        let a = cursors.open("r", "tab", None).unwrap();
        let b = cursors.open("r", "tab", None).unwrap();
        assert!(a.take(0));
        assert!(!b.take(0));
        assert!(b.take(1));
        assert!(!a.take(1));
        drop((a, b));
        let c = cursors.open("r", "tab", None).unwrap();
        assert_eq!(c.sent(), Some(1));
        // Another client id, or another run, starts from the beginning.
        assert_eq!(cursors.open("r", "other", None).unwrap().sent(), None);
        assert_eq!(cursors.open("r2", "tab", None).unwrap().sent(), None);
        // `Last-Event-ID` moves the point back.
        drop(c);
        assert_eq!(cursors.open("r", "tab", Some(0)).unwrap().sent(), Some(0));
    }

    #[test]
    fn an_idle_point_expires_and_the_oldest_idle_one_makes_room() {
        let cursors = Arc::new(Cursors::new(2, Duration::ZERO));
        let a = cursors.open("r", "a", None).unwrap();
        assert!(a.take(3));
        // Open: kept even with a zero ttl.
        assert_eq!(cursors.open("r", "a", None).unwrap().sent(), Some(3));
        drop(a);
        assert_eq!(cursors.open("r", "a", None).unwrap().sent(), None);

        let cursors = Arc::new(Cursors::new(2, Duration::from_secs(3600)));
        let held = cursors.open("r", "held", None).unwrap();
        assert!(cursors.open("r", "old", None).unwrap().take(1));
        assert!(cursors.open("r", "new", None).unwrap().take(2));
        assert_eq!(cursors.len(), 2);
        assert_eq!(cursors.open("r", "old", None).unwrap().sent(), None);
        drop(held);
        assert_eq!(cursors.len(), 2);
    }

    #[test]
    fn with_every_point_open_a_new_client_id_gets_none_and_ids_are_cut() {
        let cursors = Arc::new(Cursors::new(1, Duration::from_secs(3600)));
        let _open = cursors.open("r", "a", None).unwrap();
        assert!(cursors.open("r", "b", None).is_none());
        let long = "x".repeat(1000);
        let cursors = Arc::new(Cursors::default());
        assert!(cursors.open("r", &long, None).unwrap().take(0));
        let cut = "x".repeat(MAX_CLIENT_ID_CHARS);
        assert_eq!(cursors.open("r", &cut, None).unwrap().sent(), Some(0));
    }
}
