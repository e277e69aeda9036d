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

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;

/// Longest client id kept; longer ones are cut, so that a client cannot make the map's keys large.
const MAX_CLIENT_ID_CHARS: usize = 64;

/// Points kept at most by default: about 3 MB.
pub const DEFAULT_CAPACITY: usize = 10_000;

/// How long a point without an open connection is kept by default.
pub const DEFAULT_TTL: Duration = Duration::from_secs(15 * 60);

/// Every resume point of the server.
pub struct Cursors {
    points: Mutex<Points>,
    capacity: usize,
    ttl: Duration,
}

type Key = (String, String);

/// The points, and the idle ones (no open connection) in the order they went idle: a full map expires and
/// evicts from the front of that order, so a new client id costs a few map operations, not a look at every
/// point (with 10,000 points, that look took a fifth of the server's CPU under `dq bench runs`).
#[derive(Default)]
struct Points {
    by_key: HashMap<Key, Point>,
    idle: BTreeMap<IdleSince, Key>,
    /// Tells apart points that went idle in the same instant.
    went_idle: u64,
}

/// When a point went idle, and a tiebreak.
type IdleSince = (Instant, u64);

struct Point {
    /// The last timeline seq sent to this client id.
    sent: Option<u64>,
    /// Open connections using the point; it does not expire while there is one.
    open: usize,
    /// Its place in [`Points::idle`] while `open` is 0.
    idle_since: Option<IdleSince>,
}

impl Points {
    /// Whether the idle point that went idle at `since` has expired by `now`.
    fn expired(since: Option<IdleSince>, ttl: Duration, now: Instant) -> bool {
        since.is_some_and(|(at, _)| now.saturating_duration_since(at) >= ttl)
    }

    /// Forgets the idle points that expired by `now`, oldest first.
    fn expire(&mut self, ttl: Duration, now: Instant) {
        while let Some(entry) = self.idle.first_entry() {
            if !Self::expired(Some(*entry.key()), ttl, now) {
                break;
            }
            self.by_key.remove(&entry.remove());
        }
    }

    /// Forgets the point that has been idle longest; false when every point has an open connection.
    fn evict_oldest_idle(&mut self) -> bool {
        match self.idle.pop_first() {
            Some((_, key)) => {
                self.by_key.remove(&key);
                true
            }
            None => false,
        }
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
            points: Mutex::new(Points::default()),
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
        let now = Instant::now();
        let mut points = self.points.lock();
        if !points.by_key.contains_key(&key) && points.by_key.len() >= self.capacity {
            points.expire(self.ttl, now);
            if points.by_key.len() >= self.capacity && !points.evict_oldest_idle() {
                tracing::warn!(
                    run_id,
                    "{} SSE client ids are streaming; this one streams without a resume point",
                    points.by_key.len()
                );
                return None;
            }
        }
        let ttl = self.ttl;
        let Points { by_key, idle, .. } = &mut *points;
        let point = by_key.entry(key.clone()).or_insert(Point {
            sent: None,
            open: 0,
            idle_since: None,
        });
        if Points::expired(point.idle_since, ttl, now) {
            point.sent = None;
        }
        if let Some(since) = point.idle_since.take() {
            idle.remove(&since);
        }
        if resume.is_some() {
            point.sent = resume;
        }
        point.open += 1;
        Some(Cursor {
            cursors: Arc::clone(self),
            key,
        })
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.points.lock().by_key.len()
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
            .by_key
            .get(&self.key)
            .and_then(|point| point.sent)
    }

    /// Whether the frame of `seq` is this connection's to send: `false` when it was sent to the client id
    /// already (by another connection with the same id). Moves the point past `seq` when it is.
    pub fn take(&self, seq: u64) -> bool {
        let mut points = self.cursors.points.lock();
        let Some(point) = points.by_key.get_mut(&self.key) else {
            return true;
        };
        if point.sent.is_some_and(|sent| sent >= seq) {
            return false;
        }
        point.sent = Some(seq);
        true
    }
}

impl Drop for Cursor {
    fn drop(&mut self) {
        let mut points = self.cursors.points.lock();
        let Points {
            by_key,
            idle,
            went_idle,
        } = &mut *points;
        if let Some(point) = by_key.get_mut(&self.key) {
            point.open = point.open.saturating_sub(1);
            if point.open == 0 && point.idle_since.is_none() {
                *went_idle += 1;
                let since = (Instant::now(), *went_idle);
                point.idle_since = Some(since);
                idle.insert(since, self.key.clone());
            }
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

    /// Points go in the order they went idle: a point opened again and closed goes to the back, and each new
    /// client id in a full map takes the place of the one idle longest.
    #[test]
    fn a_full_map_evicts_the_points_in_the_order_they_went_idle() {
        let cursors = Arc::new(Cursors::new(3, Duration::from_secs(3600)));
        for id in ["a", "b", "c"] {
            assert!(cursors.open("r", id, None).unwrap().take(1));
        }
        // "a" is used again: "b" is now the one idle longest.
        drop(cursors.open("r", "a", None).unwrap());
        // "c" is open while "d" comes: it cannot go, "b" does.
        let c = cursors.open("r", "c", None).unwrap();
        assert!(cursors.open("r", "d", None).unwrap().take(1));
        assert_eq!(cursors.len(), 3);
        drop(c);
        // Then "a" (idle before "d" and "c"), then "d".
        assert!(cursors.open("r", "e", None).unwrap().take(1));
        assert!(cursors.open("r", "f", None).unwrap().take(1));
        let kept: Vec<Option<u64>> = ["a", "b", "c", "d", "e", "f"]
            .iter()
            .map(|id| {
                let points = cursors.points.lock();
                points
                    .by_key
                    .get(&("r".to_owned(), (*id).to_owned()))
                    .map(|p| p.sent.unwrap_or(0))
            })
            .collect();
        assert_eq!(kept, [None, None, Some(1), None, Some(1), Some(1)]);
        assert_eq!(cursors.points.lock().idle.len(), 3);
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
