//! Non-consuming reads of one subject from a stream sequence on: the registry's catch-up and timelines.
//!
//! A direct get is stateless and answered by any replica (streams are created with `allow_direct`), so reads
//! need no consumer (filtered consumers on large streams scan for their pending count). On nats-server ≥ 2.11
//! one batched request answers a whole page, ending with an `EOB` status; older servers answer one message per
//! request. async-nats has no helper for the batch, hence the request by hand, its replies routed from one
//! wildcard inbox subscription ([`Inboxes`]): a subscription per read would send interest to every server of
//! the cluster, twice per read.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use async_nats::HeaderMap;
use dq_proto::runs::ReadItem;
use futures::StreamExt;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use tokio::sync::mpsc;

use dq_runs::QueueError;

use crate::layout::Route;
use crate::publish::KEY_HEADER;

/// How long a read waits for each answer: above a leader election (4–9 s), after which any replica answers.
const READ_TIMEOUT: Duration = Duration::from_secs(15);

type Routes = Arc<parking_lot::Mutex<HashMap<u64, mpsc::UnboundedSender<async_nats::Message>>>>;

/// Reply subjects `<prefix>.<n>` under one subscription to `<prefix>.*`, each routed to its reader.
pub(crate) struct Inboxes {
    prefix: String,
    routes: Routes,
    next: AtomicU64,
}

/// One reader's reply subject; dropping it stops the routing.
struct Inbox {
    subject: String,
    token: u64,
    routes: Routes,
    replies: mpsc::UnboundedReceiver<async_nats::Message>,
}

impl Drop for Inbox {
    fn drop(&mut self) {
        self.routes.lock().remove(&self.token);
    }
}

impl Inboxes {
    /// Subscribes once; the routing task ends with the connection.
    pub async fn new(client: &async_nats::Client) -> Result<Self, QueueError> {
        let prefix = client.new_inbox();
        let mut replies = client
            .subscribe(format!("{prefix}.*"))
            .await
            .map_err(unavailable)?;
        let routes = Routes::default();
        let routing = Arc::clone(&routes);
        tokio::spawn(async move {
            while let Some(reply) = replies.next().await {
                let token = reply
                    .subject
                    .rsplit('.')
                    .next()
                    .and_then(|t| t.parse().ok());
                let to = token.and_then(|t| routing.lock().get(&t).cloned());
                if let Some(to) = to {
                    let _ = to.send(reply);
                }
            }
        });
        Ok(Self {
            prefix,
            routes,
            next: AtomicU64::new(0),
        })
    }

    fn open(&self) -> Inbox {
        let token = self.next.fetch_add(1, Ordering::Relaxed);
        let (tx, replies) = mpsc::unbounded_channel();
        self.routes.lock().insert(token, tx);
        Inbox {
            subject: format!("{}.{token}", self.prefix),
            token,
            routes: Arc::clone(&self.routes),
            replies,
        }
    }
}

/// Where a read starts and what it may be served from.
pub(crate) struct ReadAt {
    /// The first stream sequence.
    pub from: u64,
    /// The highest sequence of the subject this process saw acked (0: none known). A follower answers direct
    /// gets as soon as it has applied a message, which can be after the leader acked it: a read that ends
    /// below this sequence came from a lagging follower and is asked again. (The request also carries it as
    /// `min_last_seq`, which servers implementing that option honour; 2.15.1 ignores it.)
    pub min_last_seq: u64,
}

/// How long a read is asked again while it stays behind this process's own writes.
const STALE_GUARD: Duration = Duration::from_secs(2);

/// Reads up to `limit` messages of `route.subject` from `at.from` on.
pub(crate) async fn read(
    client: &async_nats::Client,
    inboxes: &Inboxes,
    route: &Route,
    at: ReadAt,
    limit: usize,
    batched: bool,
) -> Result<Vec<ReadItem>, QueueError> {
    let started = std::time::Instant::now();
    loop {
        let out = read_once(client, inboxes, route, &at, limit, batched).await?;
        let reached = out.last().map_or(0, |item| item.offset);
        let stale = out.len() < limit && at.min_last_seq >= at.from && reached < at.min_last_seq;
        if !stale {
            return Ok(out);
        }
        if started.elapsed() >= STALE_GUARD {
            tracing::debug!(subject = %route.subject, "a follower stayed behind this process's writes");
            return Ok(out);
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

/// [`read`] from whichever replica answers.
async fn read_once(
    client: &async_nats::Client,
    inboxes: &Inboxes,
    route: &Route,
    at: &ReadAt,
    limit: usize,
    batched: bool,
) -> Result<Vec<ReadItem>, QueueError> {
    let started = std::time::Instant::now();
    let mut out = Vec::new();
    let mut next = at.from.max(1);
    while out.len() < limit {
        let want = if batched { limit - out.len() } else { 1 };
        let request = Request {
            seq: next,
            min_last_seq: at.min_last_seq,
            want,
            batched,
        };
        let (page, more) = match get(client, inboxes, route, &request).await? {
            Page::Got(page, more) => (page, more),
            Page::NotYet if started.elapsed() < READ_TIMEOUT => {
                tokio::time::sleep(Duration::from_millis(5)).await;
                continue;
            }
            Page::NotYet => {
                return Err(QueueError::Unavailable(format!(
                    "no server of {} answered a read within {READ_TIMEOUT:?}",
                    route.stream
                )));
            }
        };
        let Some(last) = page.last() else { break };
        next = last.offset + 1;
        out.extend(page);
        if !more {
            break;
        }
    }
    Ok(out)
}

/// One direct-get request's answer.
enum Page {
    /// Up to `want` messages, and whether more may follow.
    Got(Vec<ReadItem>, bool),
    /// Nobody can answer yet: no replica has the stream up to `min_last_seq` (412), or no server answers
    /// direct gets on the stream yet (503: just created, or its servers are electing a leader).
    NotYet,
}

/// One direct-get request.
struct Request {
    seq: u64,
    min_last_seq: u64,
    /// Messages wanted (one unless `batched`).
    want: usize,
    batched: bool,
}

/// One direct-get request. A batch ends with an `EOB` status whose `Nats-Num-Pending` counts the subject's
/// messages after it; without that count (a single get), only an empty answer ends the read.
async fn get(
    client: &async_nats::Client,
    inboxes: &Inboxes,
    route: &Route,
    ask: &Request,
) -> Result<Page, QueueError> {
    let mut request = serde_json::json!({"seq": ask.seq, "next_by_subj": route.subject});
    if ask.batched {
        request["batch"] = ask.want.into();
    }
    if ask.min_last_seq > 0 {
        request["min_last_seq"] = ask.min_last_seq.into();
    }
    let mut inbox = inboxes.open();
    client
        .publish_with_reply(
            format!("$JS.API.DIRECT.GET.{}", route.stream),
            inbox.subject.clone(),
            request.to_string().into(),
        )
        .await
        .map_err(unavailable)?;
    let mut out = Vec::new();
    loop {
        let reply = match tokio::time::timeout(READ_TIMEOUT, inbox.replies.recv()).await {
            Ok(Some(reply)) => reply,
            Ok(None) => return Err(QueueError::Unavailable("the connection closed".into())),
            Err(_) => {
                return Err(QueueError::Unavailable(format!(
                    "no answer to a read of {} within {READ_TIMEOUT:?}",
                    route.subject
                )));
            }
        };
        match reply.status.map(|s| s.as_u16()) {
            Some(204) => {
                let pending = reply
                    .headers
                    .as_ref()
                    .and_then(|h| header(h, "Nats-Num-Pending"));
                return Ok(Page::Got(out, pending.is_none_or(|n| n != "0")));
            }
            // Nothing (more) at or after `seq`.
            Some(404) => return Ok(Page::Got(out, false)),
            Some(412 | 503) => return Ok(Page::NotYet),
            Some(status) if status != 200 => {
                return Err(QueueError::Protocol(format!(
                    "direct get on {}: status {status} {}",
                    route.stream,
                    reply.description.unwrap_or_default()
                )));
            }
            _ => {}
        }
        let headers = reply.headers.unwrap_or_default();
        let offset = header(&headers, "Nats-Sequence")
            .and_then(|s| s.parse::<u64>().ok())
            .ok_or_else(|| {
                QueueError::Protocol("direct get answer without Nats-Sequence".into())
            })?;
        let produced_at_ms = header(&headers, "Nats-Time-Stamp")
            .and_then(|s| OffsetDateTime::parse(s, &Rfc3339).ok())
            .map_or(0, |t| {
                u64::try_from(t.unix_timestamp_nanos() / 1_000_000).unwrap_or(0)
            });
        out.push(ReadItem {
            partition: 0,
            offset,
            key: header(&headers, KEY_HEADER).unwrap_or_default().to_owned(),
            value: String::from_utf8_lossy(&reply.payload).into_owned(),
            produced_at_ms,
        });
        if !ask.batched {
            // A single get: more may follow until one answers 404.
            return Ok(Page::Got(out, true));
        }
    }
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).map(async_nats::HeaderValue::as_str)
}

fn unavailable(error: impl std::fmt::Display) -> QueueError {
    QueueError::Unavailable(format!("nats: {error}"))
}
