//! A run's timeline as the JSON each event was stored with, for the SSE stream: an event dq wrote is already
//! the JSON that decoding and encoding it again would give, so it goes out as stored, without building the
//! event (a map of values per event) and writing it again, which was most of the runs layer's CPU per frame.
//! An event that lacks one of the three fields every stored event has (written by someone else straight to
//! the topic) is decoded and encoded as before, which fills them in; one whose fields have the wrong types is
//! skipped as before. Such an event otherwise keeps its own key order and spacing.
//!
//! While a run is followed, the events this process has just written to it are taken from the emitter's copy
//! (see `emitter::Followed`) instead of being read back: a follower woken by a write gets it without a read.

use std::borrow::Cow;

use serde::Deserialize;

use super::{Event, RunsError, RunsService};
use crate::QueueError;

/// The fields checked before an event is sent as stored; everything else in it is skipped unparsed.
#[derive(Deserialize)]
struct Fields<'a> {
    ts: Option<u64>,
    #[serde(rename = "type", borrow)]
    kind: Option<Cow<'a, str>>,
    #[serde(borrow)]
    run_id: Option<Cow<'a, str>>,
}

/// The event's JSON as stored when it has `ts`, `type` and `run_id` of their types (what decoding and encoding
/// it would give, up to key order and spacing), otherwise as decoded and encoded again; `None` for a message
/// that is not an event.
fn event_json(value: String) -> Option<String> {
    let complete = serde_json::from_str::<Fields<'_>>(&value)
        .is_ok_and(|f| f.ts.is_some() && f.kind.is_some() && f.run_id.is_some());
    if complete {
        return Some(value);
    }
    let event = serde_json::from_str::<Event>(&value).ok()?;
    serde_json::to_string(&event).ok()
}

impl RunsService {
    /// [`Self::timeline`] as `(seq, the event's JSON)`, the JSON as stored where it can be (see the module).
    pub async fn timeline_json(
        &self,
        run_id: &str,
        after: Option<u64>,
    ) -> Result<Vec<(u64, String)>, RunsError> {
        self.known(run_id).await?;
        let from = after.map_or(0, |seq| seq + 1);
        // Serialised events, so sent as they are. What anyone wrote after them, a follower finds with its next
        // call, which reads.
        if let Some(written) = self.emitter().hub.written(run_id, from) {
            return Ok(written);
        }
        let items = match self.archive.timeline(&self.registry, run_id, from).await {
            Err(QueueError::UnknownTopic(_)) => Vec::new(),
            other => other?,
        };
        Ok(items
            .into_iter()
            .filter_map(|item| {
                let offset = item.offset;
                let json = event_json(item.value);
                if json.is_none() {
                    tracing::debug!(run_id, offset, "skipping non-event");
                }
                json.map(|json| (offset, json))
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_complete_event_is_sent_as_stored_and_others_as_decoded_or_not_at_all() {
        let stored = r#"{"type":"note","run_id":"r","ts":5,"zeta":1,"alpha":{"b":2,"a":1}}"#;
        assert_eq!(event_json(stored.to_owned()).as_deref(), Some(stored));
        assert_eq!(
            event_json(r#"{"type":"note","run_id":"r"}"#.to_owned()).as_deref(),
            Some(r#"{"ts":0,"type":"note","run_id":"r"}"#)
        );
        assert_eq!(event_json(r#"{"ts":"soon","type":"x"}"#.to_owned()), None);
        assert_eq!(
            event_json(r#"{"ts":1,"type":7,"run_id":"r"}"#.to_owned()),
            None
        );
        assert_eq!(event_json("not json".to_owned()), None);
        assert_eq!(event_json("[1,2]".to_owned()), None);
    }

    #[test]
    fn what_dq_writes_is_sent_exactly_as_decoding_and_encoding_would_give() {
        let event = Event::new(7, "custom", "r")
            .with("replay_seq", 2)
            .with("source", "user")
            .with("x", serde_json::json!({"b": [1, 2], "a": "é\n\"q\""}));
        let stored = serde_json::to_string(&event).unwrap();
        let decoded: Event = serde_json::from_str(&stored).unwrap();
        let again = serde_json::to_string(&decoded).unwrap();
        assert_eq!(event_json(stored), Some(again));
    }
}
