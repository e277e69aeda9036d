//! A lean HTTP/1.1 keep-alive connection for the hot loops of the broker scenarios.
//!
//! The client shares the machine's two cores with the server under test, so every microsecond it spends per
//! request is taken from the server. A general-purpose client (reqwest: connection pool, tower stack, header
//! maps) costs about as much CPU per request as the server's whole produce. This one writes a request in one
//! `write` and parses the response head with `httparse`, as load generators such as `wrk` do. It speaks only what
//! the scenarios need: `GET`, `POST` with a JSON body, responses framed by `Content-Length` (every `/v1` answer but
//! the consume stream, which stays on reqwest).
//!
//! Measured against hyper's connection-level client (`hyper::client::conn::http1` over the same `TcpStream`, one
//! `SendRequest` per connection, bodies collected with `http-body-util`), alternating runs on the 2-core machine
//! at load average 9–10: hyper costs the server no CPU (server CPU per message 53–58 µs against 56–60 µs with
//! this client, `dq-bench broker --messages 50000`; per round trip 6.9–7.8 against 6.1–6.5 µs on the bare server,
//! 8.1–8.3 against 8.2–9.2 µs on `dq up`, `dq-bench floor --requests 100000`), but it costs the client more: the
//! bench process used 1.77–1.89 s of CPU instead of 1.52–1.60 s for the broker scenario (+6 µs per message, +19%)
//! and 1.59–1.63 s instead of 1.18–1.31 s for the floor (+1.8 µs per round trip, +29%). That CPU is taken from
//! the server it measures: the bare server's floor fell from 56–64k to 41–46k round trips/s. So this client
//! stays.

use std::net::SocketAddr;

use anyhow::{Context, bail};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// One keep-alive connection; requests on it go one at a time.
pub struct Conn {
    stream: TcpStream,
    /// Request bytes, reused across requests.
    out: Vec<u8>,
    /// Response bytes read but not yet consumed.
    input: Vec<u8>,
    have: usize,
}

/// A response: status and body.
pub struct Answer {
    pub status: u16,
    pub body: Vec<u8>,
}

impl Conn {
    /// Connects to `addr` with `TCP_NODELAY`, as the server sets on its side.
    pub async fn connect(addr: SocketAddr) -> anyhow::Result<Self> {
        let stream = TcpStream::connect(addr)
            .await
            .with_context(|| format!("connecting to {addr}"))?;
        stream.set_nodelay(true)?;
        Ok(Self {
            stream,
            out: Vec::with_capacity(512),
            input: vec![0; 16 * 1024],
            have: 0,
        })
    }

    /// `POST path` with `body` as JSON; waits for the whole response.
    pub async fn post_json(&mut self, path: &str, body: &[u8]) -> anyhow::Result<Answer> {
        self.out.clear();
        self.out.extend_from_slice(b"POST ");
        self.out.extend_from_slice(path.as_bytes());
        self.out.extend_from_slice(
            b" HTTP/1.1\r\nhost: localhost\r\ncontent-type: application/json\r\ncontent-length: ",
        );
        self.out
            .extend_from_slice(body.len().to_string().as_bytes());
        self.out.extend_from_slice(b"\r\n\r\n");
        self.out.extend_from_slice(body);
        self.stream.write_all(&self.out).await?;
        self.read_answer().await
    }

    /// `GET path`; waits for the whole response.
    pub async fn get(&mut self, path: &str) -> anyhow::Result<Answer> {
        self.out.clear();
        self.out.extend_from_slice(b"GET ");
        self.out.extend_from_slice(path.as_bytes());
        self.out
            .extend_from_slice(b" HTTP/1.1\r\nhost: localhost\r\n\r\n");
        self.stream.write_all(&self.out).await?;
        self.read_answer().await
    }

    async fn read_answer(&mut self) -> anyhow::Result<Answer> {
        loop {
            if let Some((head, status, length)) = self.parse_head()? {
                if self.have >= head + length {
                    let body = self.input[head..head + length].to_vec();
                    self.input.copy_within(head + length..self.have, 0);
                    self.have -= head + length;
                    return Ok(Answer { status, body });
                }
                if self.input.len() < head + length {
                    self.input.resize(head + length, 0);
                }
            }
            if self.have == self.input.len() {
                self.input.resize(self.input.len() * 2, 0);
            }
            let read = self.stream.read(&mut self.input[self.have..]).await?;
            if read == 0 {
                bail!("the server closed the connection mid-response");
            }
            self.have += read;
        }
    }

    /// The head's length, the status and the body's length, once the head is complete.
    fn parse_head(&self) -> anyhow::Result<Option<(usize, u16, usize)>> {
        let mut headers = [httparse::EMPTY_HEADER; 32];
        let mut response = httparse::Response::new(&mut headers);
        let httparse::Status::Complete(head) = response.parse(&self.input[..self.have])? else {
            return Ok(None);
        };
        let status = response.code.context("a response without a status")?;
        let mut length = 0;
        for header in response.headers.iter() {
            if header.name.eq_ignore_ascii_case("content-length") {
                length = std::str::from_utf8(header.value)?.trim().parse()?;
            } else if header.name.eq_ignore_ascii_case("transfer-encoding") {
                bail!("a chunked response where Content-Length was expected");
            }
        }
        Ok(Some((head, status, length)))
    }
}
