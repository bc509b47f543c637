//! A minimal HTTP/1.1 keep-alive client over a raw TCP stream.
//!
//! The load generator must not be the bottleneck: with one core for the load
//! and one for the server, a general-purpose client would measure itself. This
//! one writes a request in one call and parses just the status line and
//! `Content-Length` of the answer.

use std::net::SocketAddr;

use anyhow::{Context, bail};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// One keep-alive connection.
pub struct Connection {
    stream: TcpStream,
    buffer: Vec<u8>,
    request: Vec<u8>,
}

/// An answer: status and body.
pub struct Answer {
    /// HTTP status.
    pub status: u16,
    /// The body bytes.
    pub body: Vec<u8>,
}

impl Connection {
    /// Connects to a server on this machine.
    pub async fn open(address: SocketAddr) -> anyhow::Result<Self> {
        let stream = TcpStream::connect(address).await.with_context(|| format!("connecting to {address}"))?;
        stream.set_nodelay(true)?;
        Ok(Self { stream, buffer: Vec::with_capacity(16 * 1024), request: Vec::with_capacity(1024) })
    }

    /// Sends one request and reads its answer.
    pub async fn send(
        &mut self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<&str>,
    ) -> anyhow::Result<Answer> {
        self.request.clear();
        self.request.extend_from_slice(method.as_bytes());
        self.request.push(b' ');
        self.request.extend_from_slice(path.as_bytes());
        self.request.extend_from_slice(b" HTTP/1.1\r\nHost: 127.0.0.1\r\n");
        if let Some(token) = token {
            self.request.extend_from_slice(b"Authorization: Bearer ");
            self.request.extend_from_slice(token.as_bytes());
            self.request.extend_from_slice(b"\r\n");
        }
        match body {
            Some(body) => {
                self.request.extend_from_slice(b"Content-Type: application/json\r\nContent-Length: ");
                self.request.extend_from_slice(body.len().to_string().as_bytes());
                self.request.extend_from_slice(b"\r\n\r\n");
                self.request.extend_from_slice(body.as_bytes());
            }
            None if method == "GET" => self.request.extend_from_slice(b"\r\n"),
            None => self.request.extend_from_slice(b"Content-Length: 0\r\n\r\n"),
        }
        self.stream.write_all(&self.request).await?;
        self.read_answer().await
    }

    async fn read_answer(&mut self) -> anyhow::Result<Answer> {
        let header_end = loop {
            if let Some(end) = find(&self.buffer, b"\r\n\r\n") {
                break end;
            }
            self.fill().await?;
        };
        let head = std::str::from_utf8(&self.buffer[..header_end]).context("non-UTF-8 response head")?;
        let status: u16 = head.get(9..12).and_then(|code| code.parse().ok()).context("no status code")?;
        let mut length = None;
        for line in head.split("\r\n").skip(1) {
            if let Some((name, value)) = line.split_once(':')
                && name.eq_ignore_ascii_case("content-length")
            {
                length = value.trim().parse::<usize>().ok();
            }
        }
        let Some(length) = length else {
            bail!("responses without Content-Length are not supported (status {status})");
        };
        let total = header_end + 4 + length;
        while self.buffer.len() < total {
            self.fill().await?;
        }
        let body = self.buffer[header_end + 4..total].to_vec();
        self.buffer.drain(..total);
        Ok(Answer { status, body })
    }

    async fn fill(&mut self) -> anyhow::Result<()> {
        let mut chunk = [0_u8; 16 * 1024];
        let read = self.stream.read(&mut chunk).await?;
        if read == 0 {
            bail!("the server closed the connection");
        }
        self.buffer.extend_from_slice(&chunk[..read]);
        Ok(())
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|window| window == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_end_of_the_head() {
        assert_eq!(find(b"HTTP/1.1 200 OK\r\n\r\nbody", b"\r\n\r\n"), Some(15));
        assert_eq!(find(b"partial\r\n", b"\r\n\r\n"), None);
    }
}
