//! A minimal Server-Sent Events reader for tests.

use futures::StreamExt;
use gym_core::wire::CapacityEntry;

/// Reads `capacity` events from a streaming response.
pub struct SseReader {
    stream: futures::stream::BoxStream<'static, reqwest::Result<bytes::Bytes>>,
    buffer: String,
}

impl SseReader {
    /// Wraps a `text/event-stream` response.
    pub fn new(response: reqwest::Response) -> Self {
        Self { stream: response.bytes_stream().boxed(), buffer: String::new() }
    }

    /// The next `capacity` event, or `None` if the stream ended or `timeout` passed.
    pub async fn next_capacity(&mut self, timeout: std::time::Duration) -> Option<CapacityEntry> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            while let Some(end) = self.buffer.find("\n\n") {
                let frame: String = self.buffer.drain(..end + 2).collect();
                let is_capacity = frame.lines().any(|line| line == "event: capacity");
                let data = frame.lines().find_map(|line| line.strip_prefix("data: "));
                if is_capacity && let Some(data) = data {
                    return serde_json::from_str(data).ok();
                }
            }
            let chunk = tokio::time::timeout_at(deadline, self.stream.next()).await.ok()??;
            self.buffer.push_str(&String::from_utf8_lossy(&chunk.ok()?));
        }
    }

    /// Whether the stream ends (the server closed it) within `timeout`.
    pub async fn ends_within(&mut self, timeout: std::time::Duration) -> bool {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            match tokio::time::timeout_at(deadline, self.stream.next()).await {
                Err(_) => return false,
                Ok(None) | Ok(Some(Err(_))) => return true,
                Ok(Some(Ok(_))) => {}
            }
        }
    }
}
