//! [`JsonOrQuery`]: the request extractor of the DriftQ v1 routes. A request with a body is read as JSON, one
//! without as query parameters (DriftQ clients use both forms). Every rejection is an [`ApiError`] in the DriftQ
//! shape with a message naming the problem (and the field, when serde knows it), never axum's plain-text
//! rejections; a body over [`crate::ServerConfig::max_body_bytes`] is a 413. Field presence and ranges are the
//! handlers' business; this module only decodes.
//!
//! Also the rules both route families share (the runs API's extractors use them with their own error shape):
//! - [`read_limited`]: a body is read up to the limit, and an oversized one drained (boundedly) before the 413.
//! - [`json_content_type`]: a non-empty body is JSON only if its `Content-Type` is absent, `application/json`
//!   or a `+json` type; any other type (`text/plain`, forms: what a cross-site "simple" request from a web
//!   page sends) is a 415. An absent type stays accepted, as older clients send raw bytes; `curl -d` sends a
//!   form type, so it needs `--json` or `-H 'content-type: application/json'`. The starter's Python client and
//!   `dq` send `application/json`.
//! - [`query_utf8`]: a query string whose names or values do not decode to UTF-8 is a 400, rather than being
//!   stored with U+FFFD in place of the bytes.

use axum::extract::{FromRequest, Request};
use axum::http::{HeaderMap, header};
use bytes::{Bytes, BytesMut};
use dq_proto::error::ErrorCode;
use futures::StreamExt;
use serde::de::DeserializeOwned;

use crate::AppState;
use crate::error::ApiError;

/// How far past the limit an oversized body is read (and discarded) so that its sender sees the 413.
const DRAIN_FACTOR: usize = 8;

/// A body decoded from JSON when the request has one, else from the query string.
#[derive(Debug, Clone)]
pub struct JsonOrQuery<T>(pub T);

impl<T> FromRequest<AppState> for JsonOrQuery<T>
where
    T: DeserializeOwned,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, ApiError> {
        let limit = state.config.max_body_bytes();
        let query = req.uri().query().unwrap_or_default().to_owned();
        let content_type = json_content_type(req.headers());
        let body = read_limited(req, limit).await.map_err(|err| match err {
            BodyError::TooLarge(_) => ApiError::new(ErrorCode::PayloadTooLarge, err.to_string()),
            BodyError::Read(_) => ApiError::invalid(err.to_string()),
        })?;
        if body.iter().all(u8::is_ascii_whitespace) {
            query_utf8(&query).map_err(ApiError::invalid)?;
            from_query(&query).map(Self)
        } else {
            content_type
                .map_err(|message| ApiError::new(ErrorCode::UnsupportedMediaType, message))?;
            from_json(&body).map(Self)
        }
    }
}

/// Why a body could not be read.
#[derive(Debug, thiserror::Error)]
pub enum BodyError {
    /// Over the limit (and drained as far as `DRAIN_FACTOR` allows).
    #[error("request body is over the size limit of {0} bytes")]
    TooLarge(usize),
    /// The connection failed while the body was being read.
    #[error("could not read the request body: {0}")]
    Read(String),
}

/// Reads at most `limit` bytes of body. An oversized body is read on and discarded up to `DRAIN_FACTOR`
/// times the limit before the 413 is sent: a server that answers and closes while the client is still
/// uploading makes the client see a broken pipe instead of the answer.
pub async fn read_limited(req: Request, limit: usize) -> Result<Bytes, BodyError> {
    let drain_limit = limit.saturating_mul(DRAIN_FACTOR);
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok()?.parse::<usize>().ok());
    if declared.is_some_and(|len| len > drain_limit) {
        return Err(BodyError::TooLarge(limit));
    }
    let mut stream = req.into_body().into_data_stream();
    // A body that comes in one chunk (the usual small request) is that chunk, not a copy of it.
    let mut only: Option<Bytes> = None;
    let mut body = BytesMut::new();
    let mut seen = 0usize;
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|err| BodyError::Read(err.to_string()))?;
        seen = seen.saturating_add(chunk.len());
        if seen <= limit {
            match only.take() {
                None if seen == chunk.len() => only = Some(chunk),
                Some(first) => {
                    body.extend_from_slice(&first);
                    body.extend_from_slice(&chunk);
                }
                None => body.extend_from_slice(&chunk),
            }
        } else if seen > drain_limit {
            break;
        }
    }
    if seen > limit {
        return Err(BodyError::TooLarge(limit));
    }
    Ok(only.unwrap_or_else(|| body.freeze()))
}

/// `Ok` when a body sent with these headers may be read as JSON (see the module doc); else the message of the
/// 415.
pub fn json_content_type(headers: &HeaderMap) -> Result<(), String> {
    let Some(value) = headers.get(header::CONTENT_TYPE) else {
        return Ok(());
    };
    // Compared without case, in place: a lowercased copy was an allocation per request.
    let essence = value
        .to_str()
        .unwrap_or_default()
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .as_bytes();
    let suffix = essence.len().checked_sub(5).map(|at| &essence[at..]);
    if essence.eq_ignore_ascii_case(b"application/json")
        || (essence.contains(&b'/') && suffix.is_some_and(|s| s.eq_ignore_ascii_case(b"+json")))
    {
        return Ok(());
    }
    Err(format!(
        "unsupported content-type {:?}: the body must be json (content-type: application/json)",
        String::from_utf8_lossy(value.as_bytes())
    ))
}

/// `Ok` when every name and value of `query` percent-decodes to UTF-8; else the message of the 400, naming
/// the first parameter that does not.
pub fn query_utf8(query: &str) -> Result<(), String> {
    for pair in query.split('&') {
        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
        let name = decode(name);
        let name_ok = std::str::from_utf8(&name).is_ok();
        if !name_ok || std::str::from_utf8(&decode(value)).is_err() {
            let what = if name_ok { "value" } else { "name" };
            return Err(format!(
                "query parameter {:?}: the {what} is not valid utf-8",
                String::from_utf8_lossy(&name)
            ));
        }
    }
    Ok(())
}

/// `application/x-www-form-urlencoded` decoding of one name or value, to bytes: `+` is a space, `%XX` a byte,
/// anything else itself (as `form_urlencoded` reads it, but without replacing invalid UTF-8).
fn decode(raw: &str) -> Vec<u8> {
    let bytes = raw.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| char::from(b).to_digit(16);
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' => match (
                bytes.get(i + 1).copied().and_then(hex),
                bytes.get(i + 2).copied().and_then(hex),
            ) {
                (Some(high), Some(low)) => {
                    // Two hex digits make one byte: at most 0xFF.
                    out.push(u8::try_from(high * 16 + low).unwrap_or(u8::MAX));
                    i += 2;
                }
                _ => out.push(b'%'),
            },
            other => out.push(other),
        }
        i += 1;
    }
    out
}

fn from_json<T: DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    // serde would also read a struct from a JSON array, by position; DriftQ bodies are objects only.
    if body.trim_ascii_start().first() != Some(&b'{') {
        return Err(ApiError::invalid(
            "invalid json body: expected a json object",
        ));
    }
    // Trailing garbage after a valid document is a malformed body too (`from_slice` checks).
    if let Ok(value) = serde_json::from_slice(body) {
        return Ok(value);
    }
    // Tracking the path costs an allocation per key: only for the error message, on a second pass.
    let mut de = serde_json::Deserializer::from_slice(body);
    let value = serde_path_to_error::deserialize(&mut de)
        .map_err(|err| ApiError::invalid(format!("invalid json body: {}", describe(&err))))?;
    de.end()
        .map_err(|err| ApiError::invalid(format!("invalid json body: {err}")))?;
    Ok(value)
}

fn from_query<T: DeserializeOwned>(query: &str) -> Result<T, ApiError> {
    if let Ok(value) = serde_urlencoded::from_str(query) {
        return Ok(value);
    }
    let de = serde_urlencoded::Deserializer::new(form_urlencoded::parse(query.as_bytes()));
    serde_path_to_error::deserialize(de)
        .map_err(|err| ApiError::invalid(format!("invalid query parameters: {}", describe(&err))))
}

/// `field: problem`, or just the problem when it concerns the whole document.
fn describe<E: std::fmt::Display>(err: &serde_path_to_error::Error<E>) -> String {
    let path = err.path().to_string();
    if path == "." || path.is_empty() {
        err.inner().to_string()
    } else {
        format!("{path}: {}", err.inner())
    }
}

#[cfg(test)]
mod tests {
    use dq_proto::broker::{CreateTopic, ProduceRequest};

    use super::*;

    #[test]
    fn json_type_errors_name_the_field() {
        let err = from_json::<CreateTopic>(br#"{"name":"t","partitions":"two"}"#).unwrap_err();
        assert_eq!(err.code(), ErrorCode::InvalidArgument);
        assert!(err.to_string().contains("partitions"), "{err}");
    }

    #[test]
    fn json_unknown_fields_are_rejected() {
        let err =
            from_json::<ProduceRequest>(br#"{"topic":"t","value":"v","bogus":1}"#).unwrap_err();
        assert!(err.to_string().contains("unknown field `bogus`"), "{err}");
    }

    #[test]
    fn json_trailing_garbage_and_non_objects_are_rejected() {
        assert!(from_json::<CreateTopic>(br#"{"name":"t"} x"#).is_err());
        let err = from_json::<CreateTopic>(br#"["t", 2]"#).unwrap_err();
        assert!(err.to_string().contains("expected a json object"), "{err}");
    }

    #[test]
    fn query_strings_must_decode_to_utf8() {
        assert!(query_utf8("").is_ok());
        assert!(query_utf8("topic=t&value=caf%C3%A9+au+lait&flag&x=%").is_ok());
        let err = query_utf8("topic=t&value=%FF").unwrap_err();
        assert!(err.contains("\"value\"") && err.contains("utf-8"), "{err}");
        let err = query_utf8("%C3=v").unwrap_err();
        assert!(err.contains("name"), "{err}");
    }

    #[test]
    fn only_json_content_types_or_none_are_json() {
        let with = |value: &str| {
            let mut headers = HeaderMap::new();
            headers.insert(header::CONTENT_TYPE, value.parse().unwrap());
            json_content_type(&headers)
        };
        assert!(json_content_type(&HeaderMap::new()).is_ok());
        for ok in [
            "application/json",
            "Application/JSON; charset=utf-8",
            "application/merge-patch+json",
        ] {
            assert!(with(ok).is_ok(), "{ok}");
        }
        for refused in [
            "text/plain",
            "text/plain;charset=UTF-8",
            "application/x-www-form-urlencoded",
            "multipart/form-data; boundary=x",
            "+json",
            "",
        ] {
            assert!(with(refused).is_err(), "{refused}");
        }
    }

    /// A body in one chunk, in several (an empty one among them) or over the limit.
    #[tokio::test]
    async fn a_body_is_read_whole_however_it_is_chunked() {
        let read = |chunks: &[&'static str], limit: usize| {
            let chunks: Vec<Result<Bytes, std::io::Error>> = chunks
                .iter()
                .map(|c| Ok(Bytes::from_static(c.as_bytes())))
                .collect();
            let req = Request::new(axum::body::Body::from_stream(futures::stream::iter(chunks)));
            read_limited(req, limit)
        };
        assert_eq!(read(&[r#"{"a":1}"#], 64).await.unwrap(), r#"{"a":1}"#);
        assert_eq!(read(&[r#"{"a""#, ":1}"], 64).await.unwrap(), r#"{"a":1}"#);
        assert_eq!(
            read(&["", r#"{"a""#, "", ":1", "}"], 64).await.unwrap(),
            r#"{"a":1}"#
        );
        assert_eq!(read(&[], 64).await.unwrap(), "");
        assert!(matches!(
            read(&[r#"{"a""#, ":1}"], 5).await,
            Err(BodyError::TooLarge(5))
        ));
    }

    #[test]
    fn query_numbers_are_parsed_and_checked() {
        let ok: CreateTopic = from_query("name=t&partitions=3").unwrap();
        assert_eq!(ok.partitions, Some(3));
        let err = from_query::<CreateTopic>("name=t&partitions=x").unwrap_err();
        assert!(err.to_string().contains("partitions"), "{err}");
        assert!(from_query::<CreateTopic>("name=t&color=red").is_err());
    }
}
