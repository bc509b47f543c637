//! Time rules: the booking window and the `from`/`to` range of a slot list.
//!
//! Every function takes "now" as a parameter; nothing here reads a clock.

use chrono::{DateTime, Duration, NaiveDate, NaiveTime, TimeZone, Utc};
use chrono_tz::Tz;

use crate::error::DomainError;

/// How long before a slot starts booking opens, unless a gym says otherwise.
pub const DEFAULT_BOOKING_WINDOW: Duration = Duration::days(7);

/// The widest range a slot list may ask for.
pub const MAX_LIST_RANGE: Duration = Duration::days(62);

/// Parses an IANA time zone name (`Europe/Berlin`).
pub fn parse_timezone(name: &str) -> Option<Tz> {
    name.parse().ok()
}

/// Whether a slot starting at `starts_at` can be booked at `now`, given how
/// long before the start booking opens.
pub fn check_bookable(
    now: DateTime<Utc>,
    starts_at: DateTime<Utc>,
    window: Duration,
) -> Result<(), DomainError> {
    if now >= starts_at {
        return Err(DomainError::BookingClosed("this slot has already started".into()));
    }
    let opens_at = starts_at - window;
    if now < opens_at {
        return Err(DomainError::BookingClosed(format!(
            "booking opens at {}",
            opens_at.format("%Y-%m-%dT%H:%M:%SZ")
        )));
    }
    Ok(())
}

/// Whether a booking for a slot starting at `starts_at` may still be cancelled at `now`.
pub fn check_cancellable(now: DateTime<Utc>, starts_at: DateTime<Utc>) -> Result<(), DomainError> {
    if now >= starts_at {
        return Err(DomainError::BookingClosed(
            "this slot has already started; it can no longer be cancelled".into(),
        ));
    }
    Ok(())
}

/// The start of the calendar day `date` in `tz`, as a UTC instant.
///
/// Days that begin inside a DST gap start at the first valid local time.
pub fn start_of_day(date: NaiveDate, tz: Tz) -> DateTime<Utc> {
    let mut local = date.and_time(NaiveTime::MIN);
    // A DST gap at midnight is at most a couple of hours: step until valid.
    for _ in 0..8 {
        if let Some(instant) = tz.from_local_datetime(&local).earliest() {
            return instant.with_timezone(&Utc);
        }
        local += Duration::minutes(30);
    }
    Utc.from_utc_datetime(&date.and_time(NaiveTime::MIN))
}

/// Today's date in `tz` at `now`.
pub fn local_date(now: DateTime<Utc>, tz: Tz) -> NaiveDate {
    now.with_timezone(&tz).date_naive()
}

enum Bound {
    Instant(DateTime<Utc>),
    Date(NaiveDate),
}

fn parse_bound(text: &str, name: &str) -> Result<Bound, DomainError> {
    if let Ok(instant) = DateTime::parse_from_rfc3339(text) {
        return Ok(Bound::Instant(instant.with_timezone(&Utc)));
    }
    if let Ok(date) = NaiveDate::parse_from_str(text, "%Y-%m-%d") {
        return Ok(Bound::Date(date));
    }
    Err(DomainError::InvalidRange(format!(
        "`{name}` must be an RFC 3339 instant or a YYYY-MM-DD date, got {text:?}"
    )))
}

/// Resolves the `from`/`to` query of a slot list into a half-open UTC range.
///
/// A date `from` means the start of that day in the gym's zone; a date `to`
/// means the end of that day (so `from=to=2026-11-24` is that whole day). The
/// default is from the start of today (gym time) to seven days later.
pub fn resolve_range(
    from: Option<&str>,
    to: Option<&str>,
    tz: Tz,
    now: DateTime<Utc>,
) -> Result<(DateTime<Utc>, DateTime<Utc>), DomainError> {
    let start = match from.map(|text| parse_bound(text, "from")).transpose()? {
        Some(Bound::Instant(instant)) => instant,
        Some(Bound::Date(date)) => start_of_day(date, tz),
        None => start_of_day(local_date(now, tz), tz),
    };
    let end = match to.map(|text| parse_bound(text, "to")).transpose()? {
        Some(Bound::Instant(instant)) => instant,
        Some(Bound::Date(date)) => {
            let next =
                date.succ_opt().ok_or_else(|| DomainError::InvalidRange("`to` is out of range".into()))?;
            start_of_day(next, tz)
        }
        None => {
            let first_day = local_date(start, tz);
            let last = first_day
                .checked_add_days(chrono::Days::new(7))
                .ok_or_else(|| DomainError::InvalidRange("`from` is out of range".into()))?;
            start_of_day(last, tz)
        }
    };
    if end <= start {
        return Err(DomainError::InvalidRange("`to` must be after `from`".into()));
    }
    if end - start > MAX_LIST_RANGE {
        return Err(DomainError::InvalidRange(format!(
            "a slot list covers at most {} days",
            MAX_LIST_RANGE.num_days()
        )));
    }
    Ok((start, end))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text).expect("valid instant").with_timezone(&Utc)
    }

    #[test]
    fn booking_is_open_from_seven_days_before_until_the_start() {
        let starts_at = at("2026-11-30T18:00:00Z");
        assert!(check_bookable(at("2026-11-23T18:00:00Z"), starts_at, DEFAULT_BOOKING_WINDOW).is_ok());
        assert!(check_bookable(at("2026-11-30T17:59:59Z"), starts_at, DEFAULT_BOOKING_WINDOW).is_ok());
        assert!(check_bookable(at("2026-11-23T17:59:59Z"), starts_at, DEFAULT_BOOKING_WINDOW).is_err());
        assert!(check_bookable(at("2026-11-30T18:00:00Z"), starts_at, DEFAULT_BOOKING_WINDOW).is_err());
    }

    #[test]
    fn the_default_range_is_today_and_six_more_days_in_gym_time() {
        let tz: Tz = "America/New_York".parse().expect("known zone");
        let (start, end) = resolve_range(None, None, tz, at("2026-11-24T03:00:00Z")).expect("valid");
        // 03:00 UTC is still the 23rd in New York (UTC-5).
        assert_eq!(start, at("2026-11-23T05:00:00Z"));
        assert_eq!(end, at("2026-11-30T05:00:00Z"));
    }

    #[test]
    fn a_date_to_includes_that_whole_day() {
        let tz: Tz = "Europe/Berlin".parse().expect("known zone");
        let now = at("2026-11-24T12:00:00Z");
        let (start, end) = resolve_range(Some("2026-11-24"), Some("2026-11-24"), tz, now).expect("valid");
        assert_eq!(start, at("2026-11-23T23:00:00Z"));
        assert_eq!(end, at("2026-11-24T23:00:00Z"));
    }

    #[test]
    fn inverted_unreadable_or_huge_ranges_are_refused() {
        let tz: Tz = "UTC".parse().expect("known zone");
        let now = at("2026-11-24T12:00:00Z");
        assert!(resolve_range(Some("2026-11-25"), Some("2026-11-24"), tz, now).is_err());
        assert!(resolve_range(Some("yesterday"), None, tz, now).is_err());
        assert!(resolve_range(Some("2026-01-01"), Some("2026-12-31"), tz, now).is_err());
        assert!(resolve_range(Some("2026-13-01"), None, tz, now).is_err());
    }
}
