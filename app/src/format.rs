//! Times and days in a gym's own time zone, for display.

use chrono::{DateTime, Datelike, Days, Utc};
use chrono_tz::Tz;

/// The gym's zone, or UTC when its name is unknown.
pub fn zone(name: &str) -> Tz {
    name.parse().unwrap_or(chrono_tz::UTC)
}

/// `18:00`.
pub fn clock(instant: DateTime<Utc>, tz: Tz) -> String {
    instant.with_timezone(&tz).format("%H:%M").to_string()
}

/// `18:00–19:00`.
pub fn time_range(starts_at: DateTime<Utc>, ends_at: DateTime<Utc>, tz: Tz) -> String {
    format!("{}–{}", clock(starts_at, tz), clock(ends_at, tz))
}

/// `Tue 25 Nov`.
pub fn day(instant: DateTime<Utc>, tz: Tz) -> String {
    instant.with_timezone(&tz).format("%a %-d %b").to_string()
}

/// One tab of the schedule: a label and the date to ask the API for.
#[derive(Clone, Debug, PartialEq)]
pub struct DayTab {
    /// `Today`, `Tomorrow`, `Thu 27`.
    pub label: String,
    /// `2026-11-27`.
    pub date: String,
}

/// Today and the next six days in the gym's zone.
pub fn week(now: DateTime<Utc>, tz: Tz) -> Vec<DayTab> {
    let today = now.with_timezone(&tz).date_naive();
    (0..7)
        .filter_map(|offset| today.checked_add_days(Days::new(offset)).map(|date| (offset, date)))
        .map(|(offset, date)| DayTab {
            label: match offset {
                0 => "Today".into(),
                1 => "Tomorrow".into(),
                _ => format!("{} {}", date.weekday(), date.day()),
            },
            date: date.format("%Y-%m-%d").to_string(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    #[test]
    fn times_and_days_are_shown_in_the_gym_zone() {
        let instant = Utc.with_ymd_and_hms(2026, 11, 24, 23, 30, 0).single().expect("valid");
        let tokyo = zone("Asia/Tokyo");
        assert_eq!(clock(instant, tokyo), "08:30");
        assert_eq!(day(instant, tokyo), "Wed 25 Nov");
        let week = week(instant, tokyo);
        assert_eq!(week.len(), 7);
        assert_eq!((week[0].label.as_str(), week[0].date.as_str()), ("Today", "2026-11-25"));
        assert_eq!(week[2].label, "Fri 27");
        assert_eq!(zone("Not/AZone"), chrono_tz::UTC);
    }
}
