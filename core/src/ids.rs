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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_serialize_as_plain_strings() {
        let id = SlotId::new("slot_abc");
        assert_eq!(serde_json::to_string(&id).ok(), Some("\"slot_abc\"".to_owned()));
        let back: SlotId = serde_json::from_str("\"slot_abc\"").expect("valid json");
        assert_eq!(back, id);
    }
}
