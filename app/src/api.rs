//! The app's view of the backend: an API trait (so tests can inject a fake)
//! and its HTTP implementation, including the live capacity stream (SSE).

use std::rc::Rc;

use futures::future::LocalBoxFuture;
use futures::stream::LocalBoxStream;
use futures::{FutureExt, StreamExt};
use gym_core::wire::{
    Booking, BookingResult, CapacityEntry, ErrorBody, Gym, LoginRequest, LoginResponse, Slot,
};
use gym_core::{BookingId, ErrorCode, GymId, SlotId};
use serde::de::DeserializeOwned;

/// Why a call failed, in terms the screens can explain.
#[derive(Clone, Debug, PartialEq)]
pub enum ApiError {
    /// The server could not be reached (or the answer was cut off).
    Network(String),
    /// The token is missing, invalid or expired: sign in again.
    Unauthorized,
    /// The server refused with a documented error.
    Refused {
        /// HTTP status.
        status: u16,
        /// Stable code.
        code: ErrorCode,
        /// The server's message.
        message: String,
        /// With `already_booked`: the existing booking.
        booking: Option<Booking>,
    },
    /// Something unexpected (an answer we could not read).
    Unexpected(String),
}

impl ApiError {
    /// What to tell the member, in plain words.
    pub fn human(&self) -> String {
        match self {
            Self::Network(_) => {
                "We can't reach the gym right now. Check your connection and try again.".into()
            }
            Self::Unauthorized => "Your session has expired. Please sign in again.".into(),
            Self::Refused { code, message, .. } => match code {
                ErrorCode::SlotFull => "Sorry, that class just filled up.".into(),
                ErrorCode::AlreadyBooked => "You already have a place in this class.".into(),
                ErrorCode::BookingClosed => "Booking for this class is closed.".into(),
                ErrorCode::InvalidCredentials => {
                    "That email and password don't match. Please try again.".into()
                }
                ErrorCode::StoreUnavailable => {
                    "Bookings are paused for a moment. Nothing was changed; please try again.".into()
                }
                ErrorCode::SlotNotFound | ErrorCode::GymNotFound => "This class no longer exists.".into(),
                ErrorCode::AlreadyCancelled => "This booking was already cancelled.".into(),
                _ => format!("Something went wrong: {message}"),
            },
            Self::Unexpected(_) => "Something went wrong on our side. Please try again.".into(),
        }
    }

    /// The error code, if the server sent one.
    pub fn code(&self) -> Option<ErrorCode> {
        match self {
            Self::Refused { code, .. } => Some(*code),
            _ => None,
        }
    }
}

/// A call's future (not `Send`: the web has one thread).
pub type ApiFuture<T> = LocalBoxFuture<'static, Result<T, ApiError>>;

/// Everything the app asks of the backend.
pub trait GymApi {
    /// `POST /v1/auth/login`.
    fn login(&self, email: String, password: String) -> ApiFuture<LoginResponse>;
    /// `GET /v1/gyms`.
    fn gyms(&self) -> ApiFuture<Vec<Gym>>;
    /// `GET /v1/gyms/{gym}/slots?from=day&to=day` (a day in the gym's zone).
    fn slots(&self, gym: GymId, day: String) -> ApiFuture<Vec<Slot>>;
    /// `GET /v1/slots/{slot}`.
    fn slot(&self, slot: SlotId) -> ApiFuture<Slot>;
    /// `POST /v1/slots/{slot}/bookings` with an `Idempotency-Key`.
    fn book(
        &self,
        token: String,
        slot: SlotId,
        waitlist: bool,
        idempotency_key: String,
    ) -> ApiFuture<BookingResult>;
    /// `DELETE /v1/bookings/{booking}`.
    fn cancel(&self, token: String, booking: BookingId) -> ApiFuture<BookingResult>;
    /// `GET /v1/me/bookings`.
    fn my_bookings(&self, token: String) -> ApiFuture<Vec<Booking>>;
    /// `GET /v1/gyms/{gym}/capacity/stream`: a snapshot, then every change. Ends when the connection drops.
    fn capacity_stream(&self, gym: GymId) -> LocalBoxStream<'static, Result<CapacityEntry, ApiError>>;
}

/// A shared handle to the API, provided as context.
#[derive(Clone)]
pub struct ApiHandle(pub Rc<dyn GymApi>);

/// The real backend over HTTP.
pub struct HttpApi {
    client: reqwest::Client,
    base: Rc<str>,
}

impl HttpApi {
    /// A client for the API at `base` (`http://127.0.0.1:3000`).
    pub fn new(base: &str) -> Self {
        Self { client: reqwest::Client::new(), base: Rc::from(base.trim_end_matches('/')) }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }
}

fn network(error: &reqwest::Error) -> ApiError {
    ApiError::Network(error.to_string())
}

async fn answer<T: DeserializeOwned>(
    response: Result<reqwest::Response, reqwest::Error>,
) -> Result<T, ApiError> {
    let response = response.map_err(|error| network(&error))?;
    let status = response.status().as_u16();
    let bytes = response.bytes().await.map_err(|error| network(&error))?;
    if (200..300).contains(&status) {
        return serde_json::from_slice(&bytes).map_err(|error| ApiError::Unexpected(error.to_string()));
    }
    match serde_json::from_slice::<ErrorBody>(&bytes) {
        Ok(body) if body.error.code == ErrorCode::Unauthorized => Err(ApiError::Unauthorized),
        Ok(body) => Err(ApiError::Refused {
            status,
            code: body.error.code,
            message: body.error.message,
            booking: body.error.booking,
        }),
        Err(_) if status == 401 => Err(ApiError::Unauthorized),
        Err(_) => Err(ApiError::Unexpected(format!("HTTP {status}"))),
    }
}

impl GymApi for HttpApi {
    fn login(&self, email: String, password: String) -> ApiFuture<LoginResponse> {
        let request = self.client.post(self.url("/v1/auth/login")).json(&LoginRequest { email, password });
        async move { answer(request.send().await).await }.boxed_local()
    }

    fn gyms(&self) -> ApiFuture<Vec<Gym>> {
        let request = self.client.get(self.url("/v1/gyms"));
        async move { answer(request.send().await).await }.boxed_local()
    }

    fn slots(&self, gym: GymId, day: String) -> ApiFuture<Vec<Slot>> {
        let request = self.client.get(self.url(&format!("/v1/gyms/{gym}/slots?from={day}&to={day}")));
        async move { answer(request.send().await).await }.boxed_local()
    }

    fn slot(&self, slot: SlotId) -> ApiFuture<Slot> {
        let request = self.client.get(self.url(&format!("/v1/slots/{slot}")));
        async move { answer(request.send().await).await }.boxed_local()
    }

    fn book(
        &self,
        token: String,
        slot: SlotId,
        waitlist: bool,
        idempotency_key: String,
    ) -> ApiFuture<BookingResult> {
        let query = if waitlist { "?waitlist=true" } else { "" };
        let request = self
            .client
            .post(self.url(&format!("/v1/slots/{slot}/bookings{query}")))
            .bearer_auth(token)
            .header("idempotency-key", idempotency_key);
        async move { answer(request.send().await).await }.boxed_local()
    }

    fn cancel(&self, token: String, booking: BookingId) -> ApiFuture<BookingResult> {
        let request = self.client.delete(self.url(&format!("/v1/bookings/{booking}"))).bearer_auth(token);
        async move { answer(request.send().await).await }.boxed_local()
    }

    fn my_bookings(&self, token: String) -> ApiFuture<Vec<Booking>> {
        let request = self.client.get(self.url("/v1/me/bookings")).bearer_auth(token);
        async move { answer(request.send().await).await }.boxed_local()
    }

    fn capacity_stream(&self, gym: GymId) -> LocalBoxStream<'static, Result<CapacityEntry, ApiError>> {
        let request = self
            .client
            .get(self.url(&format!("/v1/gyms/{gym}/capacity/stream")))
            .header("accept", "text/event-stream");
        let opened = async move {
            let response = request.send().await.map_err(|error| network(&error))?;
            if !response.status().is_success() {
                return Err(ApiError::Unexpected(format!(
                    "the live stream answered HTTP {}",
                    response.status()
                )));
            }
            Ok(response.bytes_stream())
        };
        futures::stream::once(opened)
            .map(|opened| match opened {
                Ok(bytes) => {
                    let mut parser = SseParser::default();
                    bytes
                        .map(move |chunk| match chunk {
                            Ok(chunk) => {
                                futures::stream::iter(parser.feed(&chunk).into_iter().map(Ok)).left_stream()
                            }
                            Err(error) => futures::stream::iter(vec![Err(network(&error))]).right_stream(),
                        })
                        .flatten()
                        .left_stream()
                }
                Err(error) => futures::stream::iter(vec![Err(error)]).right_stream(),
            })
            .flatten()
            .boxed_local()
    }
}

/// Splits a `text/event-stream` into `capacity` events.
///
/// Follows the format's rules that matter here: bytes are buffered until a
/// frame is complete (a chunk may end inside a UTF-8 character), lines may
/// end in LF, CRLF or CR, one space after the colon is optional, comment
/// lines (keep-alives) and other events are skipped.
#[derive(Default)]
pub struct SseParser {
    buffer: Vec<u8>,
}

impl SseParser {
    /// Takes the next chunk of bytes; returns the complete `capacity` events in it.
    pub fn feed(&mut self, chunk: &[u8]) -> Vec<CapacityEntry> {
        self.buffer.extend_from_slice(chunk);
        let mut events = Vec::new();
        while let Some((end, separator)) = frame_end(&self.buffer) {
            let frame: Vec<u8> = self.buffer.drain(..end + separator).collect();
            let frame = String::from_utf8_lossy(&frame[..end]);
            let mut event = "message";
            let mut data = String::new();
            for line in frame.split(['\n', '\r']).filter(|line| !line.is_empty()) {
                let (field, value) = line.split_once(':').unwrap_or((line, ""));
                let value = value.strip_prefix(' ').unwrap_or(value);
                match field {
                    "event" => event = value,
                    "data" => {
                        if !data.is_empty() {
                            data.push('\n');
                        }
                        data.push_str(value);
                    }
                    _ => {}
                }
            }
            if event == "capacity"
                && let Ok(entry) = serde_json::from_str(&data)
            {
                events.push(entry);
            }
        }
        events
    }
}

/// Where the first complete frame ends (a blank line) and how long the
/// separator is: `\n\n`, `\r\n\r\n` or `\r\r`.
fn frame_end(buffer: &[u8]) -> Option<(usize, usize)> {
    (0..buffer.len()).find_map(|index| {
        let rest = &buffer[index..];
        [&b"\r\n\r\n"[..], b"\n\n", b"\r\r"]
            .into_iter()
            .find(|separator| rest.starts_with(separator))
            .map(|separator| (index, separator.len()))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_parser_reads_capacity_events_split_across_chunks_and_skips_the_rest() {
        let mut parser = SseParser::default();
        assert!(parser.feed(b"retry: 2000\n\n:keep-alive\n\nevent: capa").is_empty());
        let events = parser
            .feed(b"city\ndata: {\"slotId\":\"slot_1\",\"capacity\":30,\"booked\":12,\"available\":18}\n\n");
        assert_eq!(events.len(), 1);
        assert_eq!((events[0].slot_id.as_str(), events[0].booked), ("slot_1", 12));
    }

    #[test]
    fn the_parser_accepts_crlf_lines_no_space_after_the_colon_and_split_characters() {
        let mut parser = SseParser::default();
        let frame = "event:capacity\r\ndata:{\"slotId\":\"slot_ü\",\"capacity\":5,\"booked\":5,\"available\":0}\r\n\r\n";
        let bytes = frame.as_bytes();
        let split = frame.find('ü').expect("in the frame") + 1; // inside the two bytes of ü
        assert!(parser.feed(&bytes[..split]).is_empty());
        let events = parser.feed(&bytes[split..]);
        assert_eq!(events.len(), 1);
        assert_eq!((events[0].slot_id.as_str(), events[0].available), ("slot_ü", 0));
        assert!(parser.feed(b"event: other\ndata: {}\n\n: keep-alive\n\n").is_empty());
    }

    #[test]
    fn errors_are_told_in_plain_words() {
        let full =
            ApiError::Refused { status: 409, code: ErrorCode::SlotFull, message: "x".into(), booking: None };
        assert_eq!(full.human(), "Sorry, that class just filled up.");
        assert!(ApiError::Network("refused".into()).human().contains("connection"));
        assert!(ApiError::Unauthorized.human().contains("sign in"));
    }
}
