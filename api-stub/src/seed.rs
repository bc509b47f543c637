//! The demo seed: three gyms in three time zones, a rolling week of classes
//! and open-gym hours, demo members, and some bookings so the rings look alive.
//!
//! Seeding is idempotent: ids are derived from gym, date and time, so a
//! restart adds only the days that came into range and changes nothing else.

use chrono::{DateTime, Datelike, Duration, NaiveTime, TimeZone, Utc, Weekday};
use chrono_tz::Tz;
use futures::future::join_all;
use gym_core::time::{DEFAULT_BOOKING_WINDOW, local_date};
use gym_core::wire::{CreateSlot, Gym, Member, Role};
use gym_core::{GymId, MemberId, SlotId};

use crate::store::{Account, BookCommand, Store};

/// A demo login, as documented in the README.
pub struct DemoLogin {
    /// Member id.
    pub id: &'static str,
    /// Display name.
    pub name: &'static str,
    /// Email to sign in with.
    pub email: &'static str,
    /// Argon2id hash of the documented demo password (made with
    /// `api-stub hash-password`), so seeding never hashes at start.
    pub password_hash: &'static str,
    /// Role.
    pub role: Role,
}

/// The demo accounts.
pub const DEMO_LOGINS: &[DemoLogin] = &[
    DemoLogin {
        id: "mbr_alex",
        name: "Alex Rivera",
        email: "alex@demo.gym",
        password_hash: "$argon2id$v=19$m=7168,t=5,p=1$D2gk1ddwP8tGgCE/7HRD7w$3RTVQytLey2Ar5C/+ixtIQIfafjiMzQX+4V3YC9IWEA",
        role: Role::Member,
    },
    DemoLogin {
        id: "mbr_sam",
        name: "Sam Okafor",
        email: "sam@demo.gym",
        password_hash: "$argon2id$v=19$m=7168,t=5,p=1$DiL0WTTSAxfRDuen4ts7vQ$OxdDxgYW6zkQxVxfMifo0nFsvuwl1oZON2dgV2+Mw4k",
        role: Role::Member,
    },
    DemoLogin {
        id: "mbr_riley",
        name: "Riley Chen",
        email: "riley@demo.gym",
        password_hash: "$argon2id$v=19$m=7168,t=5,p=1$zhSUc5QGBCA6qR6+PRBuVA$8G0x6EhuBetHl3T/NvKLc9gEh4plH9d+rMfUgmWmtHI",
        role: Role::Member,
    },
    DemoLogin {
        id: "mbr_operator",
        name: "Morgan (front desk)",
        email: "operator@demo.gym",
        password_hash: "$argon2id$v=19$m=7168,t=5,p=1$TNEsttuQDY/wiudDUnseug$LIHMP8M44CgEXsaULM3M3LyU2NaX4XDehfmnpR+46UY",
        role: Role::Operator,
    },
];

struct DemoGym {
    id: &'static str,
    short: &'static str,
    name: &'static str,
    timezone: &'static str,
    address: &'static str,
}

const DEMO_GYMS: &[DemoGym] = &[
    DemoGym {
        id: "gym_downtown",
        short: "downtown",
        name: "Downtown Loft",
        timezone: "Europe/Berlin",
        address: "Torstraße 118, 10119 Berlin",
    },
    DemoGym {
        id: "gym_harbour",
        short: "harbour",
        name: "Harbour Works",
        timezone: "America/New_York",
        address: "41 Water Street, Brooklyn, NY 11201",
    },
    DemoGym {
        id: "gym_summit",
        short: "summit",
        name: "Summit Climb & Fit",
        timezone: "Asia/Tokyo",
        address: "2-11-3 Jingumae, Shibuya, Tokyo",
    },
];

/// One entry of the weekly timetable: local start, minutes, title, capacity.
struct Session {
    start: (u32, u32),
    minutes: i64,
    title: &'static str,
    capacity: u32,
}

const fn session(hour: u32, minute: u32, minutes: i64, title: &'static str, capacity: u32) -> Session {
    Session { start: (hour, minute), minutes, title, capacity }
}

fn timetable(weekday: Weekday, gym_short: &str) -> Vec<Session> {
    let weekend = matches!(weekday, Weekday::Sat | Weekday::Sun);
    let mut day = if weekend {
        vec![
            session(8, 0, 120, "Open gym", 60),
            session(9, 0, 60, "Weekend Bootcamp", 24),
            session(10, 30, 60, "Slow Flow Yoga", 20),
            session(16, 0, 120, "Open gym", 50),
        ]
    } else {
        vec![
            session(6, 30, 90, "Open gym", 40),
            session(7, 0, 45, "Sunrise Yoga", 18),
            session(12, 15, 45, "HIIT Express", 16),
            session(17, 30, 45, "Spin", 30),
            session(18, 0, 90, "Open gym", 60),
            session(18, 30, 60, "Strength Club", 12),
        ]
    };
    if !weekend {
        day.push(match weekday {
            Weekday::Mon | Weekday::Wed | Weekday::Fri => session(19, 30, 60, "Boxing Basics", 14),
            _ => session(19, 30, 60, "Mobility & Stretch", 20),
        });
    }
    if gym_short == "summit" {
        day.push(session(18, 0, 90, "Bouldering Intro", 8));
    }
    day
}

/// How full a demo slot starts out, from its id: a stable spread from empty to
/// full, so the demo shows every state of the ring.
fn demo_fill(slot_id: &str, capacity: u32) -> u32 {
    let hash = slot_id
        .bytes()
        .fold(2_166_136_261_u32, |hash, byte| (hash ^ u32::from(byte)).wrapping_mul(16_777_619));
    let percent = match hash % 10 {
        0 => 100,
        1 | 2 => 85,
        3..=5 => 55,
        _ => 20,
    };
    capacity * percent / 100
}

/// What a seeding run added.
#[derive(Debug, Default)]
pub struct SeedReport {
    /// Gyms added.
    pub gyms: usize,
    /// Slots added.
    pub slots: usize,
    /// Accounts added.
    pub accounts: usize,
    /// Demo bookings made.
    pub bookings: usize,
}

/// Seeds the demo gyms and logins and, `with_timetable`, the week starting
/// today as of `now`.
pub async fn seed_demo(
    store: &Store,
    now: DateTime<Utc>,
    with_timetable: bool,
) -> anyhow::Result<SeedReport> {
    let mut report = SeedReport::default();
    for login in DEMO_LOGINS {
        if store.account_by_email(login.email).await?.is_some() {
            continue;
        }
        let account = Account {
            member: Member {
                id: MemberId::new(login.id),
                name: login.name.into(),
                email: login.email.into(),
            },
            password_hash: login.password_hash.into(),
            role: login.role,
        };
        report.accounts += usize::from(store.ensure_account(account).await?);
    }

    let mut fills = Vec::new();
    for demo in DEMO_GYMS {
        let gym = Gym {
            id: GymId::new(demo.id),
            name: demo.name.into(),
            timezone: demo.timezone.into(),
            address: demo.address.into(),
        };
        report.gyms += usize::from(store.ensure_gym(gym, DEFAULT_BOOKING_WINDOW).await?);
        if !with_timetable {
            continue;
        }
        let tz: Tz =
            demo.timezone.parse().map_err(|_| anyhow::anyhow!("bad demo time zone {}", demo.timezone))?;
        let today = local_date(now, tz);
        for offset in 0..8 {
            let Some(date) = today.checked_add_days(chrono::Days::new(offset)) else { continue };
            for session in timetable(date.weekday(), demo.short) {
                let (hour, minute) = session.start;
                let Some(time) = NaiveTime::from_hms_opt(hour, minute, 0) else { continue };
                let Some(starts_at) = tz.from_local_datetime(&date.and_time(time)).earliest() else {
                    continue;
                };
                let starts_at = starts_at.with_timezone(&Utc);
                let slug: String = session
                    .title
                    .chars()
                    .filter(char::is_ascii_alphanumeric)
                    .map(|c| c.to_ascii_lowercase())
                    .collect();
                let slot_id = SlotId::new(format!(
                    "slot_{}_{}_{:02}{:02}_{}",
                    demo.short,
                    date.format("%Y%m%d"),
                    hour,
                    minute,
                    slug
                ));
                let draft = CreateSlot {
                    title: session.title.into(),
                    starts_at,
                    ends_at: starts_at + Duration::minutes(session.minutes),
                    capacity: session.capacity,
                };
                if store.ensure_slot(slot_id.clone(), &GymId::new(demo.id), &draft).await? {
                    report.slots += 1;
                    if starts_at > now {
                        fills.push((slot_id.clone(), demo_fill(slot_id.as_str(), session.capacity)));
                    }
                }
            }
        }
    }

    // Book the demo fill concurrently: group commit makes it one fsync, not thousands.
    let bookings = fills.into_iter().flat_map(|(slot_id, fill)| {
        (0..fill).map(move |guest| BookCommand {
            slot_id: slot_id.clone(),
            member_id: MemberId::new(format!("mbr_guest_{guest:03}")),
            waitlist: false,
            idempotency_key: None,
            now,
        })
    });
    let outcomes = join_all(bookings.map(|command| store.book(command))).await;
    report.bookings = outcomes.iter().filter(|outcome| outcome.is_ok()).count();
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_demo_session_fits_the_capacity_rules() {
        for weekday in [Weekday::Mon, Weekday::Tue, Weekday::Sat] {
            for session in timetable(weekday, "summit") {
                assert!((8..=60).contains(&session.capacity), "{}", session.title);
                assert!(session.minutes > 0 && session.minutes <= 24 * 60);
            }
        }
    }

    #[test]
    fn the_demo_hashes_match_the_passwords_in_the_readme() {
        for login in DEMO_LOGINS {
            let password = if login.role == Role::Operator { "operator1234" } else { "demo1234" };
            assert!(crate::auth::verify_password(password, login.password_hash), "{}", login.email);
        }
    }

    #[test]
    fn demo_fill_never_exceeds_capacity_and_varies() {
        let fills: Vec<u32> = (0..50).map(|n| demo_fill(&format!("slot_{n}"), 30)).collect();
        assert!(fills.iter().all(|fill| *fill <= 30));
        assert!(fills.contains(&30) && fills.iter().any(|fill| *fill < 10));
    }
}
