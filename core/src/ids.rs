//! Opaque identifiers.
//!
//! The contract says ids are opaque strings with a readable prefix (`gym_…`,
//! `slot_…`, `bkg_…`). Each kind of id is its own type so a slot id can never be
//! passed where a booking id is expected. Ids are not validated beyond length:
//! an unknown id is simply not found.

use std::fmt;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

/// The longest id we accept from the outside world, in bytes.
pub const MAX_ID_LEN: usize = 128;

/// The letters of generated ids: lower-case letters and digits without the
/// look-alikes `l`, `o`, `0` and `1`. 32 of them, five bits each.
pub const ID_ALPHABET: &[u8; 32] = b"abcdefghijkmnpqrstuvwxyz23456789";

/// Appends `count` (at most 25) letters of [`ID_ALPHABET`] to `id`, five
/// bits of `random` each, lowest first: uniform, as 32 is a power of two.
pub fn push_random_letters(id: &mut String, mut random: u128, count: usize) {
    for _ in 0..count {
        id.push(char::from(ID_ALPHABET[(random & 31) as usize]));
        random >>= 5;
    }
}

/// The value of each byte as a letter of [`ID_ALPHABET`], 32 for any other.
const LETTER_VALUES: [u8; 256] = {
    let mut values = [32_u8; 256];
    let mut value = 0;
    while value < ID_ALPHABET.len() {
        values[ID_ALPHABET[value] as usize] = value as u8;
        value += 1;
    }
    values
};

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident, $prefix:literal) => {
        $(#[$doc])*
        ///
        /// Cloning is cheap: the text is shared, not copied.
        #[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        #[cfg_attr(feature = "openapi", derive(utoipa::ToSchema), schema(value_type = String))]
        pub struct $name(Arc<str>);

        impl $name {
            /// The prefix newly generated ids of this kind carry.
            pub const PREFIX: &'static str = $prefix;

            /// Wraps an id as found in a path, token or row.
            pub fn new(text: impl Into<Arc<str>>) -> Self {
                Self(text.into())
            }

            /// The id as text.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        // Hash and equality are those of the text, so maps keyed by ids can be
        // searched with a `&str` from a request path without building an id.
        impl std::borrow::Borrow<str> for $name {
            fn borrow(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
                formatter.write_str(&self.0)
            }
        }

        impl From<&str> for $name {
            fn from(text: &str) -> Self {
                Self::new(text)
            }
        }

        impl From<String> for $name {
            fn from(text: String) -> Self {
                Self::new(text)
            }
        }
    };
}

id_type!(
    /// Identifies a gym (`gym_…`).
    GymId,
    "gym_"
);
id_type!(
    /// Identifies a bookable slot or class (`slot_…`).
    SlotId,
    "slot_"
);
id_type!(
    /// Identifies a booking (`bkg_…`).
    BookingId,
    "bkg_"
);
id_type!(
    /// Identifies a member: the `sub` claim of their token (`mbr_…` for seeded members).
    MemberId,
    "mbr_"
);

/// Random letters at the end of a generated booking id: 80 bits, so ids
/// cannot be guessed from one another.
const BOOKING_ID_RANDOM: usize = 16;

/// The value of one letter of [`ID_ALPHABET`].
fn letter_value(letter: u8) -> Option<u64> {
    let value = LETTER_VALUES[usize::from(letter)];
    (value < 32).then_some(u64::from(value))
}

impl BookingId {
    /// A new booking id that names the booking's position in the ledger's
    /// table of bookings, so the ledger finds it by index instead of by hash
    /// (see `ledger/table.rs`): `bkg_`, one letter giving how many letters
    /// the position takes, the position in base 32 (most significant letter
    /// first), then 16 random letters (80 bits of `random`).
    ///
    /// Ids stay opaque to clients; what they reveal is roughly how many
    /// bookings the server has taken, as an order number does.
    pub fn at_position(position: u64, random: u128) -> Self {
        let mut digits = [0_u8; 13];
        let mut rest = position;
        let mut count = 0;
        loop {
            digits[count] = ID_ALPHABET[(rest & 31) as usize];
            count += 1;
            rest >>= 5;
            if rest == 0 {
                break;
            }
        }
        let mut id = String::with_capacity(Self::PREFIX.len() + 1 + count + BOOKING_ID_RANDOM);
        id.push_str(Self::PREFIX);
        id.push(char::from(ID_ALPHABET[count]));
        id.extend(digits[..count].iter().rev().map(|&letter| char::from(letter)));
        push_random_letters(&mut id, random, BOOKING_ID_RANDOM);
        Self::new(id)
    }

    /// The position an id made by [`BookingId::at_position`] names; `None`
    /// for any other text. Only a hint: the ledger checks that the booking
    /// at that position has this id.
    pub fn position_of(id: &str) -> Option<u64> {
        let rest = id.strip_prefix(Self::PREFIX)?.as_bytes();
        let (&count, rest) = rest.split_first()?;
        let count = usize::try_from(letter_value(count)?).ok()?;
        if !(1..=13).contains(&count) || rest.len() != count + BOOKING_ID_RANDOM {
            return None;
        }
        let (digits, random) = rest.split_at(count);
        if !random.iter().all(|&letter| letter_value(letter).is_some()) {
            return None;
        }
        digits
            .iter()
            .try_fold(0_u64, |position, &letter| position.checked_mul(32)?.checked_add(letter_value(letter)?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn a_booking_id_names_its_position_and_other_text_names_none() {
        let id = BookingId::at_position(0, 0);
        assert_eq!(id.as_str(), "bkg_baaaaaaaaaaaaaaaaa");
        assert_eq!(BookingId::position_of(id.as_str()), Some(0));
        let id = BookingId::at_position(33, u128::MAX);
        assert_eq!(id.as_str(), "bkg_cbb9999999999999999");
        assert_eq!(BookingId::position_of(id.as_str()), Some(33));
        for other in [
            "",
            "bkg_",
            "bkg_b",
            "slot_baaaaaaaaaaaaaaaaa",
            "bkg_baaaaaaaaaaaaaaaa",
            "bkg_baaaaaaaaaaaaaaaaaa",
        ] {
            assert_eq!(BookingId::position_of(other), None, "{other:?}");
        }
        // A letter outside the alphabet, in the position or in the random part.
        assert_eq!(BookingId::position_of("bkg_b0aaaaaaaaaaaaaaaa"), None);
        assert_eq!(BookingId::position_of("bkg_baaaaaaaaaaaaaaaaL"), None);
        // Thirteen letters that overflow 64 bits, and a length letter beyond 13.
        assert_eq!(BookingId::position_of(&format!("bkg_p{}{}", "9".repeat(13), "a".repeat(16))), None);
        assert_eq!(BookingId::position_of(&format!("bkg_q{}{}", "a".repeat(14), "a".repeat(16))), None);
    }

    proptest! {
        #[test]
        fn every_position_comes_back_from_its_id(position in any::<u64>(), random in any::<u128>()) {
            let id = BookingId::at_position(position, random);
            prop_assert!(id.as_str().len() <= MAX_ID_LEN);
            prop_assert!(id.as_str()[BookingId::PREFIX.len()..].bytes().all(|letter| letter_value(letter).is_some()));
            prop_assert_eq!(BookingId::position_of(id.as_str()), Some(position));
        }
    }

    #[test]
    fn ids_serialize_as_plain_strings() {
        let id = SlotId::new("slot_abc");
        assert_eq!(serde_json::to_string(&id).ok(), Some("\"slot_abc\"".to_owned()));
        let back: SlotId = serde_json::from_str("\"slot_abc\"").expect("valid json");
        assert_eq!(back, id);
    }
}
