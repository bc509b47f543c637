//! The shared domain of the gym booking system.
//!
//! `gym-core` is used by both the backend (`api-stub`) and the member app
//! (`gym-app`). It holds the nouns (gyms, slots, bookings), the capacity maths,
//! input validation, the stable error codes of the HTTP contract, the serde wire
//! types, and [`ledger::Ledger`]: the pure state machine that decides every
//! booking. It performs no I/O and knows nothing of HTTP servers, databases,
//! async runtimes or UI toolkits, so both sides can trust the same rules and the
//! rules can be tested exhaustively without any of them.
#![deny(missing_docs)]

pub mod capacity;
pub mod error;
pub mod ids;
pub mod ledger;
pub mod time;
pub mod validate;
pub mod wire;

pub use capacity::{Fullness, available, fraction};
pub use error::{DomainError, ErrorCode};
pub use ids::{BookingId, GymId, MemberId, SlotId};
pub use wire::{Booking, BookingStatus, Gym, Slot};
