//! Validation of what operators send: slot titles, times and capacities.
//!
//! Validated values are built only through these functions, so a
//! [`ValidSlot`] in hand is a slot that obeys every rule.

use chrono::{DateTime, Duration, Utc};

use crate::capacity::{MAX_CAPACITY, MIN_CAPACITY};
use crate::error::DomainError;
use crate::wire::CreateSlot;

/// The longest title, in characters.
pub const MAX_TITLE_CHARS: usize = 80;
/// The longest a slot may last.
pub const MAX_SLOT_LENGTH: Duration = Duration::hours(24);

/// A slot definition that obeys every rule.
#[derive(Clone, Debug, PartialEq)]
pub struct ValidSlot {
    /// Trimmed, non-empty title.
    pub title: String,
    /// Start.
    pub starts_at: DateTime<Utc>,
    /// End, after the start.
    pub ends_at: DateTime<Utc>,
    /// Capacity within range.
    pub capacity: u32,
}

/// Checks a title: trimmed, 1 to 80 characters, no control characters.
pub fn title(raw: &str) -> Result<String, DomainError> {
    let trimmed = raw.trim();
    if trimmed.is_empty() {
        return Err(DomainError::InvalidSlot("title must not be empty".into()));
    }
    if trimmed.chars().count() > MAX_TITLE_CHARS {
        return Err(DomainError::InvalidSlot(format!("title is longer than {MAX_TITLE_CHARS} characters")));
    }
    if trimmed.chars().any(char::is_control) {
        return Err(DomainError::InvalidSlot("title must not contain control characters".into()));
    }
    Ok(trimmed.to_owned())
}

/// Checks a capacity: 1 to 1000.
pub fn capacity(value: u32) -> Result<u32, DomainError> {
    if !(MIN_CAPACITY..=MAX_CAPACITY).contains(&value) {
        return Err(DomainError::InvalidSlot(format!(
            "capacity must be between {MIN_CAPACITY} and {MAX_CAPACITY}, got {value}"
        )));
    }
    Ok(value)
}

/// Checks a whole new slot: title, `startsAt < endsAt`, at most 24 hours long,
/// capacity in range. Slots may be created in the past (for back-filling a
/// schedule); they simply cannot be booked.
pub fn new_slot(draft: &CreateSlot) -> Result<ValidSlot, DomainError> {
    let title = title(&draft.title)?;
    if draft.ends_at <= draft.starts_at {
        return Err(DomainError::InvalidSlot("startsAt must be before endsAt".into()));
    }
    if draft.ends_at - draft.starts_at > MAX_SLOT_LENGTH {
        return Err(DomainError::InvalidSlot("a slot lasts at most 24 hours".into()));
    }
    let capacity = capacity(draft.capacity)?;
    Ok(ValidSlot { title, starts_at: draft.starts_at, ends_at: draft.ends_at, capacity })
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    fn draft(title: &str, hours: i64, capacity: u32) -> CreateSlot {
        let starts_at = Utc.with_ymd_and_hms(2026, 11, 24, 18, 0, 0).single().expect("valid");
        CreateSlot { title: title.into(), starts_at, ends_at: starts_at + Duration::hours(hours), capacity }
    }

    #[test]
    fn a_sound_slot_is_accepted_with_its_title_trimmed() {
        let slot = new_slot(&draft("  Spin  ", 1, 30)).expect("valid");
        assert_eq!(slot.title, "Spin");
    }

    #[test]
    fn broken_slots_are_refused_with_a_reason() {
        let cases = [
            (draft("", 1, 30), "empty title"),
            (draft("Spin", 0, 30), "no length"),
            (draft("Spin", -1, 30), "ends before it starts"),
            (draft("Spin", 25, 30), "longer than a day"),
            (draft("Spin", 1, 0), "zero capacity"),
            (draft("Spin", 1, 1_001), "capacity too large"),
            (draft(&"x".repeat(81), 1, 30), "title too long"),
            (draft("Spin\u{7}", 1, 30), "control character"),
        ];
        for (case, why) in cases {
            assert!(new_slot(&case).is_err(), "should refuse: {why}");
        }
    }
}
