//! The error vocabulary of the HTTP contract.
//!
//! Every failure a client can see has a stable, machine-readable [`ErrorCode`]
//! and an HTTP status. Codes are part of the contract: once published they are
//! never renamed. [`DomainError`] is what the booking rules in this crate
//! return; the backend turns it into `{"error":{"code","message"}}`.

use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::wire::Booking;

/// A stable error code, as sent in `error.code`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum ErrorCode {
    /// 400: malformed JSON, wrong types, a bad header or query.
    InvalidRequest,
    /// 404: no such route.
    NotFound,
    /// 405: the route exists but not with this method.
    MethodNotAllowed,
    /// 413: the request body is larger than the server accepts.
    PayloadTooLarge,
    /// 429: too many requests.
    RateLimited,
    /// 500: something unexpected; never carries details.
    Internal,
    /// 503: the store cannot be reached or refused the write; nothing was changed.
    StoreUnavailable,
    /// 401: missing, malformed, wrongly signed or expired token.
    Unauthorized,
    /// 401: login with an unknown email or a wrong password.
    InvalidCredentials,
    /// 403: the caller may not do this (not the owner, not an operator).
    Forbidden,
    /// 404: no gym with that id.
    GymNotFound,
    /// 400: the `from`/`to` range of a slot list is unreadable or inverted.
    InvalidRange,
    /// 404: no slot with that id.
    SlotNotFound,
    /// 409: every seat of the slot is taken.
    SlotFull,
    /// 409: the member already holds an active booking for the slot.
    AlreadyBooked,
    /// 422: the slot cannot be booked now (booking window not open, or it started).
    BookingClosed,
    /// 404: no booking with that id.
    BookingNotFound,
    /// 409: the booking was already cancelled.
    AlreadyCancelled,
    /// 400: a slot to create or change breaks a rule (title, times, capacity).
    InvalidSlot,
    /// 409: the new capacity is below the number of confirmed bookings.
    CapacityBelowBooked,
    /// 409: an `Idempotency-Key` was reused for a different request (extension).
    IdempotencyKeyReused,
}

impl ErrorCode {
    /// The HTTP status that goes with the code.
    pub fn status(self) -> u16 {
        match self {
            Self::InvalidRequest | Self::InvalidRange | Self::InvalidSlot => 400,
            Self::Unauthorized | Self::InvalidCredentials => 401,
            Self::Forbidden => 403,
            Self::NotFound | Self::GymNotFound | Self::SlotNotFound | Self::BookingNotFound => 404,
            Self::MethodNotAllowed => 405,
            Self::SlotFull
            | Self::AlreadyBooked
            | Self::AlreadyCancelled
            | Self::CapacityBelowBooked
            | Self::IdempotencyKeyReused => 409,
            Self::PayloadTooLarge => 413,
            Self::BookingClosed => 422,
            Self::RateLimited => 429,
            Self::Internal => 500,
            Self::StoreUnavailable => 503,
        }
    }

    /// The code as sent on the wire (`slot_full`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::InvalidRequest => "invalid_request",
            Self::NotFound => "not_found",
            Self::MethodNotAllowed => "method_not_allowed",
            Self::PayloadTooLarge => "payload_too_large",
            Self::RateLimited => "rate_limited",
            Self::Internal => "internal",
            Self::StoreUnavailable => "store_unavailable",
            Self::Unauthorized => "unauthorized",
            Self::InvalidCredentials => "invalid_credentials",
            Self::Forbidden => "forbidden",
            Self::GymNotFound => "gym_not_found",
            Self::InvalidRange => "invalid_range",
            Self::SlotNotFound => "slot_not_found",
            Self::SlotFull => "slot_full",
            Self::AlreadyBooked => "already_booked",
            Self::BookingClosed => "booking_closed",
            Self::BookingNotFound => "booking_not_found",
            Self::AlreadyCancelled => "already_cancelled",
            Self::InvalidSlot => "invalid_slot",
            Self::CapacityBelowBooked => "capacity_below_booked",
            Self::IdempotencyKeyReused => "idempotency_key_reused",
        }
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(self.as_str())
    }
}

/// Why a booking rule refused a request.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum DomainError {
    /// No gym with that id.
    #[error("no gym with id {0}")]
    GymNotFound(String),
    /// No slot with that id.
    #[error("no slot with id {0}")]
    SlotNotFound(String),
    /// No booking with that id.
    #[error("no booking with id {0}")]
    BookingNotFound(String),
    /// Every seat is taken.
    #[error("{title} {starts_at} is full ({booked}/{capacity})")]
    SlotFull {
        /// The slot's title.
        title: String,
        /// When the slot starts.
        starts_at: DateTime<Utc>,
        /// Confirmed bookings.
        booked: u32,
        /// Seats in all.
        capacity: u32,
    },
    /// The member already holds an active booking for the slot.
    #[error("you already hold a booking for this slot")]
    AlreadyBooked(Box<Booking>),
    /// The slot cannot be booked (or cancelled) at this moment.
    #[error("{0}")]
    BookingClosed(String),
    /// The booking is already cancelled.
    #[error("booking {0} is already cancelled")]
    AlreadyCancelled(String),
    /// The caller is not allowed to act on this.
    #[error("{0}")]
    Forbidden(String),
    /// A slot to create or change is invalid.
    #[error("{0}")]
    InvalidSlot(String),
    /// A date range is invalid.
    #[error("{0}")]
    InvalidRange(String),
    /// The new capacity is below the confirmed bookings.
    #[error("capacity {requested} is below the {booked} places already booked")]
    CapacityBelowBooked {
        /// The capacity asked for.
        requested: u32,
        /// Confirmed bookings now.
        booked: u32,
    },
    /// The idempotency key was first used for another slot.
    #[error("this Idempotency-Key was already used for another request")]
    IdempotencyKeyReused,
}

impl DomainError {
    /// The stable code of this error.
    pub fn code(&self) -> ErrorCode {
        match self {
            Self::GymNotFound(_) => ErrorCode::GymNotFound,
            Self::SlotNotFound(_) => ErrorCode::SlotNotFound,
            Self::BookingNotFound(_) => ErrorCode::BookingNotFound,
            Self::SlotFull { .. } => ErrorCode::SlotFull,
            Self::AlreadyBooked(_) => ErrorCode::AlreadyBooked,
            Self::BookingClosed(_) => ErrorCode::BookingClosed,
            Self::AlreadyCancelled(_) => ErrorCode::AlreadyCancelled,
            Self::Forbidden(_) => ErrorCode::Forbidden,
            Self::InvalidSlot(_) => ErrorCode::InvalidSlot,
            Self::InvalidRange(_) => ErrorCode::InvalidRange,
            Self::CapacityBelowBooked { .. } => ErrorCode::CapacityBelowBooked,
            Self::IdempotencyKeyReused => ErrorCode::IdempotencyKeyReused,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_serialize_as_their_wire_names() {
        for code in [ErrorCode::SlotFull, ErrorCode::CapacityBelowBooked, ErrorCode::InvalidRequest] {
            let json = serde_json::to_string(&code).expect("serializable");
            assert_eq!(json, format!("\"{}\"", code.as_str()));
        }
    }

    #[test]
    fn statuses_follow_the_contract() {
        assert_eq!(ErrorCode::SlotFull.status(), 409);
        assert_eq!(ErrorCode::BookingClosed.status(), 422);
        assert_eq!(ErrorCode::StoreUnavailable.status(), 503);
        assert_eq!(ErrorCode::InvalidCredentials.status(), 401);
    }
}
