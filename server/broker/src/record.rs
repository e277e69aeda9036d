//! The stored message record ([`MessageRecord`], the value of a `msgs` key) and its encoding.
//!
//! A record is written in a compact binary form: the tag byte [`BINARY`], then the produce time, the key and the
//! value as length-prefixed raw bytes, then the envelope and the dead-letter origin as length-prefixed JSON
//! (empty when absent; both are rare and small). The value, the bulk of a record, is copied as it is: no JSON
//! escaping on produce and no unescaping on delivery, which is what the JSON form cost per message.
//!
//! Data dirs written before this form hold JSON records (`{"t":…,"k":…,"v":…}`). A JSON record starts with
//! `{` (or whitespace), never with the tag byte, so [`MessageRecord::decode`] reads both; nothing rewrites the
//! old ones.

use dq_proto::broker::{DlqInfo, Envelope};
use serde::{Deserialize, Serialize};

use crate::Error;

/// The first byte of a binary record: a control character, which no JSON text starts with.
const BINARY: u8 = 0x01;

/// A stored message.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct MessageRecord {
    #[serde(rename = "t")]
    pub(crate) produced_at_ms: u64,
    #[serde(rename = "k", default)]
    pub(crate) key: String,
    #[serde(rename = "v")]
    pub(crate) value: String,
    #[serde(rename = "e", default, skip_serializing_if = "Option::is_none")]
    pub(crate) envelope: Option<Envelope>,
    #[serde(rename = "d", default, skip_serializing_if = "Option::is_none")]
    pub(crate) dlq: Option<DlqInfo>,
}

impl MessageRecord {
    /// The record in its binary form.
    pub(crate) fn encode(&self) -> Vec<u8> {
        // Serialising these plain structs to a Vec cannot fail (no maps with non-string keys, no I/O).
        let envelope = self
            .envelope
            .as_ref()
            .map(|e| serde_json::to_vec(e).unwrap_or_default())
            .unwrap_or_default();
        let dlq = self
            .dlq
            .as_ref()
            .map(|d| serde_json::to_vec(d).unwrap_or_default())
            .unwrap_or_default();
        let mut out = Vec::with_capacity(
            1 + 8 + 4 * 4 + self.key.len() + self.value.len() + envelope.len() + dlq.len(),
        );
        out.push(BINARY);
        out.extend_from_slice(&self.produced_at_ms.to_be_bytes());
        for field in [
            self.key.as_bytes(),
            self.value.as_bytes(),
            &envelope[..],
            &dlq[..],
        ] {
            // Values are bounded by `max_value_bytes` and keys by the request size, far below 4 GiB.
            out.extend_from_slice(&u32::try_from(field.len()).unwrap_or(u32::MAX).to_be_bytes());
            out.extend_from_slice(field);
        }
        out
    }

    /// Reads a record in either form; one that reads in neither is corrupt.
    pub(crate) fn decode(bytes: &[u8]) -> Result<Self, Error> {
        match bytes.split_first() {
            Some((&BINARY, rest)) => {
                Self::decode_binary(rest).ok_or_else(|| corrupt("truncated or not UTF-8".into()))
            }
            _ => serde_json::from_slice(bytes).map_err(|e| corrupt(e.to_string())),
        }
    }

    fn decode_binary(bytes: &[u8]) -> Option<Self> {
        let mut reader = Reader(bytes);
        let produced_at_ms = u64::from_be_bytes(reader.take(8)?.try_into().ok()?);
        let key = String::from_utf8(reader.field()?.to_vec()).ok()?;
        let value = String::from_utf8(reader.field()?.to_vec()).ok()?;
        let envelope = reader.json()?;
        let dlq = reader.json()?;
        Some(Self {
            produced_at_ms,
            key,
            value,
            envelope,
            dlq,
        })
    }
}

fn corrupt(what: String) -> Error {
    Error::Storage(fjall::Error::Io(std::io::Error::new(
        std::io::ErrorKind::InvalidData,
        format!("corrupt message record: {what}"),
    )))
}

/// The unread rest of a binary record.
struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        if self.0.len() < n {
            return None;
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Some(head)
    }

    /// A length-prefixed field.
    fn field(&mut self) -> Option<&'a [u8]> {
        let len = u32::from_be_bytes(self.take(4)?.try_into().ok()?);
        self.take(usize::try_from(len).ok()?)
    }

    /// A length-prefixed JSON field: `Some(None)` when empty, `None` when it does not read.
    fn json<T: Deserialize<'a>>(&mut self) -> Option<Option<T>> {
        let field = self.field()?;
        if field.is_empty() {
            return Some(None);
        }
        serde_json::from_slice(field).ok().map(Some)
    }
}

#[cfg(test)]
mod tests {
    use dq_proto::broker::{DlqInfo, Envelope};

    use super::MessageRecord;

    fn full() -> MessageRecord {
        MessageRecord {
            produced_at_ms: 1_700_000_000_123,
            key: "k\u{e9}\"y".into(),
            value: r#"{"a":"b\n","c":[1,2]}"#.into(),
            envelope: Some(Envelope {
                run_id: Some("r1".into()),
                idempotency_key: Some("i".into()),
                ..Envelope::default()
            }),
            dlq: Some(DlqInfo {
                topic: "t".into(),
                partition: 2,
                offset: 7,
                attempts: 3,
                last_error: "boom".into(),
                dead_lettered_at_ms: 5,
            }),
        }
    }

    fn same(a: &MessageRecord, b: &MessageRecord) {
        assert_eq!(a.produced_at_ms, b.produced_at_ms);
        assert_eq!(a.key, b.key);
        assert_eq!(a.value, b.value);
        assert_eq!(a.envelope, b.envelope);
        assert_eq!(a.dlq, b.dlq);
    }

    #[test]
    fn a_binary_record_reads_back_with_and_without_envelope_and_dlq() {
        let record = full();
        let bytes = record.encode();
        assert_eq!(bytes[0], 0x01, "binary records start with their tag");
        same(&MessageRecord::decode(&bytes).unwrap(), &record);
        let bare = MessageRecord {
            envelope: None,
            dlq: None,
            key: String::new(),
            ..full()
        };
        same(&MessageRecord::decode(&bare.encode()).unwrap(), &bare);
    }

    /// Records written before the binary form, by the JSON encoding of the same struct, still read.
    #[test]
    fn a_json_record_of_an_older_data_dir_still_reads() {
        let record = full();
        let json = serde_json::to_vec(&record).unwrap();
        same(&MessageRecord::decode(&json).unwrap(), &record);
        let old = br#"{"t":42,"k":"","v":"hello \"x\""}"#;
        let read = MessageRecord::decode(old).unwrap();
        assert_eq!(
            (read.produced_at_ms, read.value.as_str()),
            (42, "hello \"x\"")
        );
        assert!(read.envelope.is_none() && read.dlq.is_none());
    }

    #[test]
    fn a_truncated_binary_record_is_corrupt_not_a_panic() {
        let bytes = full().encode();
        for cut in 1..bytes.len() {
            let err = MessageRecord::decode(&bytes[..cut]).expect_err("a truncated record");
            assert!(err.to_string().contains("corrupt message record"), "{err}");
        }
    }
}
