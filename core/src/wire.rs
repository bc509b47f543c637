//! The JSON wire types of the HTTP contract (`shared/API.md`).
//!
//! Field names are camelCase and times are RFC 3339 in UTC, exactly as the
//! contract says. The backend serializes these and the app deserializes the
//! very same structs, so the two can never drift apart.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::capacity::{Fullness, available};
use crate::error::ErrorCode;
use crate::ids::{BookingId, GymId, MemberId, SlotId};

/// A gym of the chain.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Gym {
    /// Opaque id (`gym_…`).
    pub id: GymId,
    /// Display name.
    pub name: String,
    /// IANA time zone the gym's times are shown in (`Europe/Berlin`).
    pub timezone: String,
    /// Street address.
    pub address: String,
}

/// A bookable time window: an open-gym hour or a class.
///
/// `0 <= booked <= capacity` and `available = capacity - booked` always hold.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Slot {
    /// Opaque id (`slot_…`).
    pub id: SlotId,
    /// The gym the slot is held in.
    pub gym_id: GymId,
    /// What it is ("Spin", "Open gym").
    pub title: String,
    /// Start, UTC.
    #[serde(serialize_with = "rfc3339")]
    pub starts_at: DateTime<Utc>,
    /// End, UTC; always after `starts_at`.
    #[serde(serialize_with = "rfc3339")]
    pub ends_at: DateTime<Utc>,
    /// Seats in all.
    pub capacity: u32,
    /// Confirmed bookings.
    pub booked: u32,
    /// Seats left: `capacity - booked`.
    pub available: u32,
    /// Members queued on the waitlist.
    pub waitlisted: u32,
}

impl Slot {
    /// This slot's capacity figures, as sent on the capacity endpoint and stream.
    pub fn capacity_entry(&self) -> CapacityEntry {
        CapacityEntry::new(self.id.clone(), self.capacity, self.booked)
    }

    /// How full the slot looks.
    pub fn fullness(&self) -> Fullness {
        Fullness::of(self.capacity, self.booked)
    }
}

/// The state of a booking.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum BookingStatus {
    /// Holds a seat.
    Confirmed,
    /// Queued for a seat; promoted in order when one frees up.
    Waitlisted,
    /// Given up; holds nothing.
    Cancelled,
}

impl BookingStatus {
    /// The status as stored and sent (`confirmed`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Confirmed => "confirmed",
            Self::Waitlisted => "waitlisted",
            Self::Cancelled => "cancelled",
        }
    }

    /// Reads a stored status.
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "confirmed" => Some(Self::Confirmed),
            "waitlisted" => Some(Self::Waitlisted),
            "cancelled" => Some(Self::Cancelled),
            _ => None,
        }
    }

    /// Whether the booking still holds or waits for a seat.
    pub fn is_active(self) -> bool {
        !matches!(self, Self::Cancelled)
    }
}

/// A member's booking of a slot.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Booking {
    /// Opaque id (`bkg_…`).
    pub id: BookingId,
    /// The slot booked.
    pub slot_id: SlotId,
    /// Who booked it.
    pub member_id: MemberId,
    /// Confirmed, waitlisted or cancelled.
    pub status: BookingStatus,
    /// When it was made, UTC.
    #[serde(serialize_with = "rfc3339")]
    pub created_at: DateTime<Utc>,
    /// Extension: the 1-based place in the waitlist while `status` is `waitlisted`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub waitlist_position: Option<u32>,
}

/// `201`/`200` body of booking and cancelling: the booking and the slot after the change.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct BookingResult {
    /// The booking as it is now.
    pub booking: Booking,
    /// The slot as it is now.
    pub slot: Slot,
}

/// One slot's capacity figures (capacity endpoint and SSE `capacity` events).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CapacityEntry {
    /// The slot.
    pub slot_id: SlotId,
    /// Seats in all.
    pub capacity: u32,
    /// Confirmed bookings.
    pub booked: u32,
    /// Seats left.
    pub available: u32,
}

impl CapacityEntry {
    /// Figures for `booked` of `capacity`, with `available` derived.
    pub fn new(slot_id: SlotId, capacity: u32, booked: u32) -> Self {
        Self { slot_id, capacity, booked, available: available(capacity, booked) }
    }
}

/// `GET /v1/gyms/{gymId}/capacity`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CapacitySnapshot {
    /// The gym.
    pub gym_id: GymId,
    /// When the figures were read.
    #[serde(serialize_with = "rfc3339")]
    pub as_of: DateTime<Utc>,
    /// Every slot that has not ended yet, ordered by start.
    pub slots: Vec<CapacityEntry>,
}

/// `POST /v1/auth/login` body.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct LoginRequest {
    /// The member's email.
    pub email: String,
    /// The member's password.
    pub password: String,
}

/// A member's public profile.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Member {
    /// Opaque id (`mbr_…`), the `sub` of their tokens.
    pub id: MemberId,
    /// Display name.
    pub name: String,
    /// Email.
    pub email: String,
}

/// `POST /v1/auth/login` answer.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct LoginResponse {
    /// A bearer JWT for the member.
    pub token: String,
    /// Who signed in.
    pub member: Member,
}

/// `POST /v1/gyms/{gymId}/slots` body (operators).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CreateSlot {
    /// What it is.
    pub title: String,
    /// Start, RFC 3339.
    pub starts_at: DateTime<Utc>,
    /// End, RFC 3339; after `startsAt`.
    pub ends_at: DateTime<Utc>,
    /// Seats, 1 to 1000.
    pub capacity: u32,
}

/// `PATCH /v1/slots/{slotId}` body (operators).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct UpdateSlot {
    /// New capacity; raising it promotes waitlisted members in order.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub capacity: Option<u32>,
    /// New title.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
}

/// The role a token grants.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum Role {
    /// A gym member: books and cancels their own places.
    #[default]
    Member,
    /// Staff: creates slots, changes capacity, may cancel any booking.
    Operator,
}

/// The claims of a member's JWT.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Claims {
    /// The member id.
    pub sub: String,
    /// Expiry, seconds since the Unix epoch.
    pub exp: i64,
    /// Member or operator; member when absent.
    #[serde(default)]
    pub role: Role,
    /// Display name, if known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

/// `GET /health`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Health {
    /// `ok`.
    pub status: String,
    /// `sqlite` or `postgres`.
    pub store: String,
}

/// Every error body: `{"error":{"code","message"}}`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ErrorBody {
    /// What went wrong.
    pub error: ErrorDetail,
}

/// The inside of an error body.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ErrorDetail {
    /// Stable machine-readable code.
    pub code: ErrorCode,
    /// Human-readable explanation; may change between versions.
    pub message: String,
    /// With `already_booked`: the existing booking.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub booking: Option<Booking>,
}

/// Writes a UTC instant exactly as chrono's `Serialize` does
/// (`2030-01-01T18:00:00Z`, `…:00.123Z` with milliseconds, 6 or 9 digits when
/// finer), but straight into a byte buffer: chrono goes through `fmt`, which
/// was a third of serializing a booking answer. Years chrono writes with a
/// sign (before 0 or after 9999) and leap seconds are left to chrono.
fn rfc3339<S: serde::Serializer>(at: &DateTime<Utc>, serializer: S) -> Result<S::Ok, S::Error> {
    use chrono::{Datelike, Timelike};
    let nanos = at.nanosecond();
    let Ok(year) = u32::try_from(at.year()) else { return at.serialize(serializer) };
    if year > 9999 || nanos >= 1_000_000_000 {
        return at.serialize(serializer);
    }
    let mut text = Digits::default();
    text.number(year, 4);
    for (separator, value) in
        [(b'-', at.month()), (b'-', at.day()), (b'T', at.hour()), (b':', at.minute()), (b':', at.second())]
    {
        text.byte(separator);
        text.number(value, 2);
    }
    let fraction = match nanos {
        0 => None,
        n if n % 1_000_000 == 0 => Some((n / 1_000_000, 3)),
        n if n % 1_000 == 0 => Some((n / 1_000, 6)),
        n => Some((n, 9)),
    };
    if let Some((value, width)) = fraction {
        text.byte(b'.');
        text.number(value, width);
    }
    text.byte(b'Z');
    serializer.serialize_str(text.as_str())
}

/// A fixed buffer for [`rfc3339`]: 30 bytes hold the longest form.
#[derive(Default)]
struct Digits {
    bytes: [u8; 30],
    len: usize,
}

impl Digits {
    fn byte(&mut self, byte: u8) {
        if let Some(slot) = self.bytes.get_mut(self.len) {
            *slot = byte;
            self.len += 1;
        }
    }

    /// `value` with leading zeros to `width` digits.
    fn number(&mut self, value: u32, width: u32) {
        for place in (0..width).rev() {
            let digit = value / 10_u32.pow(place) % 10;
            self.byte(b'0' + u8::try_from(digit).unwrap_or(0));
        }
    }

    fn as_str(&self) -> &str {
        // Only ASCII digits and separators are ever written.
        std::str::from_utf8(&self.bytes[..self.len]).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    #[test]
    fn a_slot_serializes_with_the_contract_field_names() {
        let starts_at = Utc.with_ymd_and_hms(2026, 11, 24, 18, 0, 0).single().expect("valid date");
        let slot = Slot {
            id: SlotId::new("slot_1"),
            gym_id: GymId::new("gym_1"),
            title: "Spin".into(),
            starts_at,
            ends_at: starts_at + chrono::Duration::hours(1),
            capacity: 30,
            booked: 12,
            available: 18,
            waitlisted: 0,
        };
        let json = serde_json::to_value(&slot).expect("serializable");
        assert_eq!(json["gymId"], "gym_1");
        assert_eq!(json["startsAt"], "2026-11-24T18:00:00Z");
        assert_eq!(json["available"], 18);
    }

    #[test]
    fn a_waitlist_position_is_only_sent_when_there_is_one() {
        let booking = Booking {
            id: BookingId::new("bkg_1"),
            slot_id: SlotId::new("slot_1"),
            member_id: MemberId::new("mbr_1"),
            status: BookingStatus::Confirmed,
            created_at: Utc.timestamp_opt(0, 0).single().expect("epoch"),
            waitlist_position: None,
        };
        let json = serde_json::to_value(&booking).expect("serializable");
        assert!(json.get("waitlistPosition").is_none());
        assert_eq!(json["status"], "confirmed");
    }

    mod instants {
        use proptest::prelude::*;

        use super::*;

        fn nanos() -> impl Strategy<Value = u32> {
            prop_oneof![
                Just(0_u32),
                (0_u32..1000).prop_map(|ms| ms * 1_000_000),
                (0_u32..1_000_000).prop_map(|us| us * 1_000),
                0_u32..1_000_000_000
            ]
        }

        proptest! {
            #[test]
            fn serialize_exactly_as_chrono_writes_them(seconds in -70_000_000_000_i64..300_000_000_000, nanos in nanos()) {
                let Some(at) = DateTime::<Utc>::from_timestamp(seconds, nanos) else { return Ok(()) };
                let mut ours = serde_json::Serializer::new(Vec::new());
                rfc3339(&at, &mut ours).map_err(|error| TestCaseError::fail(error.to_string()))?;
                let chrono = serde_json::to_vec(&at).map_err(|error| TestCaseError::fail(error.to_string()))?;
                let ours = ours.into_inner();
                prop_assert_eq!(String::from_utf8_lossy(&ours), String::from_utf8_lossy(&chrono));
            }
        }
    }
}
