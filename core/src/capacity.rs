//! Capacity maths: seats left, how full a slot is, and how full it looks.

use serde::{Deserialize, Serialize};

/// The smallest capacity a slot may have.
pub const MIN_CAPACITY: u32 = 1;
/// The largest capacity a slot may have (a whole gym floor, not a stadium).
pub const MAX_CAPACITY: u32 = 1_000;

/// Seats left. Never underflows, even for inconsistent input.
pub fn available(capacity: u32, booked: u32) -> u32 {
    capacity.saturating_sub(booked)
}

/// How full a slot is, from 0.0 (empty) to 1.0 (full), clamped.
///
/// A zero capacity counts as full: there is nothing left to book.
pub fn fraction(capacity: u32, booked: u32) -> f64 {
    if capacity == 0 {
        return 1.0;
    }
    (f64::from(booked) / f64::from(capacity)).clamp(0.0, 1.0)
}

/// How full a slot looks to a member: the colour band of the capacity ring.
///
/// The bands are named, not just coloured, so the app can always say them in
/// words too (colour is never the only signal).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Fullness {
    /// Under 60% booked: plenty of room.
    Calm,
    /// 60% to under 90% booked: filling up.
    Busy,
    /// 90% or more booked but at least one seat left.
    AlmostFull,
    /// No seat left.
    Full,
}

impl Fullness {
    /// The band for a slot with `booked` of `capacity` seats taken.
    pub fn of(capacity: u32, booked: u32) -> Self {
        if available(capacity, booked) == 0 {
            return Self::Full;
        }
        let ratio = fraction(capacity, booked);
        if ratio >= 0.9 {
            Self::AlmostFull
        } else if ratio >= 0.6 {
            Self::Busy
        } else {
            Self::Calm
        }
    }

    /// A short human label ("Calm", "Busy", "Almost full", "Full").
    pub fn label(self) -> &'static str {
        match self {
            Self::Calm => "Calm",
            Self::Busy => "Busy",
            Self::AlmostFull => "Almost full",
            Self::Full => "Full",
        }
    }

    /// A stable lowercase name, handy for CSS classes (`calm`, `busy`, `almost-full`, `full`).
    pub fn css_class(self) -> &'static str {
        match self {
            Self::Calm => "calm",
            Self::Busy => "busy",
            Self::AlmostFull => "almost-full",
            Self::Full => "full",
        }
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn an_empty_slot_is_calm_and_a_full_one_is_full() {
        assert_eq!(Fullness::of(30, 0), Fullness::Calm);
        assert_eq!(Fullness::of(30, 18), Fullness::Busy);
        assert_eq!(Fullness::of(30, 28), Fullness::AlmostFull);
        assert_eq!(Fullness::of(30, 30), Fullness::Full);
        assert_eq!(Fullness::of(0, 0), Fullness::Full);
    }

    #[test]
    fn over_capacity_input_is_clamped() {
        assert_eq!(available(10, 12), 0);
        assert!((fraction(10, 12) - 1.0).abs() < f64::EPSILON);
        assert_eq!(Fullness::of(10, 12), Fullness::Full);
    }

    proptest! {
        #[test]
        fn taken_plus_free_is_capacity(capacity in 0u32..5_000, booked in 0u32..5_000) {
            let booked = booked.min(capacity);
            prop_assert_eq!(booked + available(capacity, booked), capacity);
        }

        #[test]
        fn fraction_stays_between_zero_and_one(capacity in 0u32..5_000, booked in 0u32..10_000) {
            let ratio = fraction(capacity, booked);
            prop_assert!((0.0..=1.0).contains(&ratio));
        }

        #[test]
        fn fullness_is_full_exactly_when_nothing_is_left(capacity in 0u32..5_000, booked in 0u32..10_000) {
            prop_assert_eq!(Fullness::of(capacity, booked) == Fullness::Full, available(capacity, booked) == 0);
        }
    }
}
