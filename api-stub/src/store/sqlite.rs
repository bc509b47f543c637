//! SQLite persistence for the embedded store: schema, loading, batch writes.
//!
//! The file is opened in WAL mode with `synchronous=FULL`: a commit returns
//! only after the WAL is fsynced, so a committed batch survives a process
//! crash *and* a power loss. All writes come from one writer thread, which
//! applies what the commit journal (`journal.rs`) has made durable; this
//! module is plain synchronous rusqlite and knows nothing of async.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use anyhow::Context;
use chrono::{DateTime, Duration, Utc};
use gym_core::ledger::{Change, GymRecord};
use gym_core::time::parse_timezone;
use gym_core::wire::{Booking, BookingResult, BookingStatus, Gym, Member, Role, Slot};
use gym_core::{BookingId, GymId, MemberId, SlotId};
use rusqlite::{Connection, params};

use crate::store::Account;

/// Schema migrations, applied in order; `PRAGMA user_version` counts those done.
const MIGRATIONS: &[&str] = &[
    r#"
CREATE TABLE gyms (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    timezone TEXT NOT NULL,
    address TEXT NOT NULL,
    booking_window_secs INTEGER NOT NULL
);
CREATE TABLE slots (
    id TEXT PRIMARY KEY,
    gym_id TEXT NOT NULL REFERENCES gyms(id),
    title TEXT NOT NULL,
    starts_at_ms INTEGER NOT NULL,
    ends_at_ms INTEGER NOT NULL,
    capacity INTEGER NOT NULL CHECK (capacity > 0),
    booked INTEGER NOT NULL CHECK (booked >= 0 AND booked <= capacity),
    waitlisted INTEGER NOT NULL CHECK (waitlisted >= 0)
);
CREATE INDEX slots_by_gym_start ON slots (gym_id, starts_at_ms);
-- Keyed by the ledger's sequence number: every insert appends to the end of
-- the table's B-tree, so a group commit of thousands of bookings dirties a
-- handful of pages. The ledger enforces one active booking per member per
-- slot and unique ids; this file is its durable log and needs no other index.
CREATE TABLE bookings (
    seq INTEGER PRIMARY KEY,
    id TEXT NOT NULL,
    slot_id TEXT NOT NULL REFERENCES slots(id),
    member_id TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('confirmed', 'waitlisted', 'cancelled')),
    created_at_ms INTEGER NOT NULL
);
CREATE TABLE idempotency_keys (
    member_id TEXT NOT NULL,
    key TEXT NOT NULL,
    response TEXT NOT NULL,
    PRIMARY KEY (member_id, key)
);
CREATE TABLE members (
    id TEXT PRIMARY KEY,
    email TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    password_hash TEXT NOT NULL,
    role TEXT NOT NULL CHECK (role IN ('member', 'operator'))
);
"#,
    // 2: the same bookings table with its status check spelled as comparisons.
    // SQLite evaluates `status IN ('confirmed', 'waitlisted', 'cancelled')` by
    // building a throw-away index of the three strings on every insert: about a
    // tenth of the writer thread's time under sustained bookings.
    r#"
CREATE TABLE bookings_v2 (
    seq INTEGER PRIMARY KEY,
    id TEXT NOT NULL,
    slot_id TEXT NOT NULL REFERENCES slots(id),
    member_id TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status = 'confirmed' OR status = 'waitlisted' OR status = 'cancelled'),
    created_at_ms INTEGER NOT NULL
);
INSERT INTO bookings_v2 (seq, id, slot_id, member_id, status, created_at_ms)
    SELECT seq, id, slot_id, member_id, status, created_at_ms FROM bookings;
DROP TABLE bookings;
ALTER TABLE bookings_v2 RENAME TO bookings;
"#,
    // 3: the commit journal in front of this file (see `journal.rs`): its id,
    // which ties a journal file to this database, and the last LSN whose
    // write is applied here. Written in the same transaction as the writes.
    r#"
CREATE TABLE journal (
    id INTEGER NOT NULL,
    applied_lsn INTEGER NOT NULL CHECK (applied_lsn >= 0)
);
INSERT INTO journal (id, applied_lsn) VALUES (random(), 0);
"#,
];

/// The commit journal's id and the last LSN applied to this file.
pub fn journal_state(conn: &Connection) -> anyhow::Result<(u64, u64)> {
    let (id, applied): (i64, i64) = conn
        .query_row("SELECT id, applied_lsn FROM journal", [], |row| Ok((row.get(0)?, row.get(1)?)))
        .context("reading the journal's state")?;
    Ok((id.cast_unsigned(), applied.cast_unsigned()))
}

/// One write the writer thread commits.
pub enum Write {
    /// Rows a ledger decision changed.
    Changes(Vec<Change>),
    /// A new member account.
    Account(Account),
}

/// How long a starting server waits for another one to let go of the file.
const FILE_WAIT: std::time::Duration = std::time::Duration::from_secs(10);

/// Opens (creating if needed) and migrates the database file.
pub fn open(path: &Path) -> anyhow::Result<Connection> {
    open_waiting(path, FILE_WAIT)
}

/// [`open`], waiting at most `wait` for another server to let go of the file.
fn open_waiting(path: &Path, wait: std::time::Duration) -> anyhow::Result<Connection> {
    if let Some(parent) = path.parent()
        && !parent.as_os_str().is_empty()
    {
        std::fs::create_dir_all(parent).with_context(|| format!("creating {}", parent.display()))?;
    }
    let mut conn = Connection::open(path).with_context(|| format!("opening {}", path.display()))?;
    // One server per file. Each embedded server decides bookings from its
    // own in-memory ledger, so two of them on one file would each hand out
    // the same last place. In exclusive locking mode the first access takes
    // a lock on the file that is held until the connection closes; a second
    // server waits a little (an old one may still be draining after SIGTERM)
    // and then refuses to start. It also spares every commit the lock calls.
    conn.pragma_update(None, "locking_mode", "EXCLUSIVE").context("setting exclusive locking")?;
    conn.busy_timeout(std::time::Duration::ZERO).context("setting busy timeout")?;
    if let Err(error) = conn.pragma_update(None, "journal_mode", "WAL") {
        if !is_busy(&error) {
            return Err(error).context("enabling WAL");
        }
        tracing::warn!(path = %path.display(), ?wait, "the database file is in use by another server; waiting for it to exit");
        conn.busy_timeout(wait).context("setting busy timeout")?;
        conn.pragma_update(None, "journal_mode", "WAL").map_err(|error| {
            if is_busy(&error) {
                anyhow::anyhow!(
                    "{} is in use by another server: the embedded store serves one server per file \
                     (stop the other one, or use DATABASE_URL=postgres://… for several instances)",
                    path.display()
                )
            } else {
                anyhow::Error::new(error).context("enabling WAL")
            }
        })?;
    }
    conn.pragma_update(None, "synchronous", "FULL").context("setting synchronous=FULL")?;
    conn.pragma_update(None, "foreign_keys", "ON").context("enabling foreign keys")?;
    // Checkpoint (copy the WAL into the main file) every ~8 MB of WAL. Every
    // ~4 MB, when the writer applied in line with its commits, checkpoints
    // took a large share of its time; ~64 MB suited that. Now the applier
    // applies off the commit path, but a checkpoint still runs inside an
    // apply, and under sustained load the applier gets the core mostly
    // while the writer waits for it to catch up (`embedded/applier.rs`): a
    // 64 MB checkpoint there held every request for ~90 ms; 8 MB, ~25 ms.
    conn.pragma_update(None, "wal_autocheckpoint", 2_048).context("setting the checkpoint interval")?;
    conn.busy_timeout(std::time::Duration::from_secs(5)).context("setting busy timeout")?;
    migrate(&mut conn)?;
    Ok(conn)
}

fn is_busy(error: &rusqlite::Error) -> bool {
    error.sqlite_error_code() == Some(rusqlite::ErrorCode::DatabaseBusy)
}

fn migrate(conn: &mut Connection) -> anyhow::Result<()> {
    let done: usize =
        conn.pragma_query_value(None, "user_version", |row| row.get(0)).context("reading user_version")?;
    for (index, migration) in MIGRATIONS.iter().enumerate().skip(done) {
        let tx = conn.transaction().context("starting migration")?;
        tx.execute_batch(migration).with_context(|| format!("applying migration {}", index + 1))?;
        tx.pragma_update(None, "user_version", index + 1).context("recording migration")?;
        tx.commit().context("committing migration")?;
    }
    Ok(())
}

/// Rows per booking statement, largest first: a batch is written with as
/// few statements as these sizes allow (28 bookings: 16 + 4 + 4 + 4), because
/// SQLite's fixed cost per statement run was a third of a single-row insert.
const BOOKING_ROWS: [usize; 3] = [16, 4, 1];

/// `INSERT … VALUES (…), (…) …` of `rows` bookings. A booking written twice in
/// one batch (booked, then cancelled) keeps its last status: SQLite applies
/// the rows in order, and a later row updates the earlier one.
fn booking_insert(rows: usize) -> String {
    let values: Vec<String> = (0..rows)
        .map(|row| {
            let first = row * 6 + 1;
            let params: Vec<String> = (first..first + 6).map(|n| format!("?{n}")).collect();
            format!("({})", params.join(", "))
        })
        .collect();
    format!(
        "INSERT INTO bookings (id, seq, slot_id, member_id, status, created_at_ms) VALUES {}
         ON CONFLICT (seq) DO UPDATE SET status = excluded.status",
        values.join(", ")
    )
}

fn put_bookings(tx: &rusqlite::Transaction<'_>, bookings: &[(&Booking, u64)]) -> rusqlite::Result<()> {
    static STATEMENTS: std::sync::OnceLock<Vec<(usize, String)>> = std::sync::OnceLock::new();
    let statements =
        STATEMENTS.get_or_init(|| BOOKING_ROWS.iter().map(|&rows| (rows, booking_insert(rows))).collect());
    let mut rest = bookings;
    for (rows, sql) in statements {
        if rest.len() < *rows {
            continue;
        }
        let mut put = tx.prepare_cached(sql)?;
        while rest.len() >= *rows {
            let (chunk, tail) = rest.split_at(*rows);
            for (row, (booking, seq)) in chunk.iter().enumerate() {
                let first = row * 6 + 1;
                put.raw_bind_parameter(first, booking.id.as_str())?;
                put.raw_bind_parameter(first + 1, i64::try_from(*seq).unwrap_or(i64::MAX))?;
                put.raw_bind_parameter(first + 2, booking.slot_id.as_str())?;
                put.raw_bind_parameter(first + 3, booking.member_id.as_str())?;
                put.raw_bind_parameter(first + 4, booking.status.as_str())?;
                put.raw_bind_parameter(first + 5, to_ms(booking.created_at))?;
            }
            put.raw_execute()?;
            rest = tail;
        }
    }
    Ok(())
}

fn to_ms(instant: DateTime<Utc>) -> i64 {
    instant.timestamp_millis()
}

fn from_ms(ms: i64) -> rusqlite::Result<DateTime<Utc>> {
    DateTime::from_timestamp_millis(ms).ok_or(rusqlite::Error::IntegralValueOutOfRange(0, ms))
}

fn bad_column(index: usize, message: String) -> rusqlite::Error {
    rusqlite::Error::FromSqlConversionFailure(index, rusqlite::types::Type::Text, message.into())
}

/// Everything stored, as ledger changes in replay order.
pub fn load(conn: &Connection) -> anyhow::Result<(Vec<Change>, Vec<Account>)> {
    let mut changes = Vec::new();
    let mut statement =
        conn.prepare("SELECT id, name, timezone, address, booking_window_secs FROM gyms ORDER BY id")?;
    let gyms = statement.query_map([], |row| {
        let timezone: String = row.get(2)?;
        let tz = parse_timezone(&timezone)
            .ok_or_else(|| bad_column(2, format!("unknown time zone {timezone}")))?;
        Ok(Change::Gym(GymRecord {
            gym: Gym {
                id: GymId::new(row.get::<_, String>(0)?),
                name: row.get(1)?,
                timezone,
                address: row.get(3)?,
            },
            tz,
            booking_window: Duration::seconds(row.get(4)?),
        }))
    })?;
    for gym in gyms {
        changes.push(gym.context("reading a gym")?);
    }
    let mut statement = conn.prepare(
        "SELECT id, gym_id, title, starts_at_ms, ends_at_ms, capacity, booked, waitlisted FROM slots ORDER BY id",
    )?;
    let slots = statement.query_map([], |row| {
        let capacity: u32 = row.get(5)?;
        let booked: u32 = row.get(6)?;
        Ok(Change::Slot(Slot {
            id: SlotId::new(row.get::<_, String>(0)?),
            gym_id: GymId::new(row.get::<_, String>(1)?),
            title: row.get(2)?,
            starts_at: from_ms(row.get(3)?)?,
            ends_at: from_ms(row.get(4)?)?,
            capacity,
            booked,
            available: capacity.saturating_sub(booked),
            waitlisted: row.get(7)?,
        }))
    })?;
    for slot in slots {
        changes.push(slot.context("reading a slot")?);
    }
    let mut statement =
        conn.prepare("SELECT id, seq, slot_id, member_id, status, created_at_ms FROM bookings ORDER BY seq")?;
    let bookings = statement.query_map([], |row| {
        let status: String = row.get(4)?;
        let seq: i64 = row.get(1)?;
        Ok(Change::Booking {
            booking: Booking {
                id: BookingId::new(row.get::<_, String>(0)?),
                slot_id: SlotId::new(row.get::<_, String>(2)?),
                member_id: MemberId::new(row.get::<_, String>(3)?),
                status: BookingStatus::parse(&status)
                    .ok_or_else(|| bad_column(4, format!("unknown status {status}")))?,
                created_at: from_ms(row.get(5)?)?,
                waitlist_position: None,
            },
            seq: u64::try_from(seq).map_err(|_| rusqlite::Error::IntegralValueOutOfRange(1, seq))?,
        })
    })?;
    for booking in bookings {
        changes.push(booking.context("reading a booking")?);
    }
    let mut statement = conn.prepare("SELECT member_id, key, response FROM idempotency_keys")?;
    let keys = statement.query_map([], |row| {
        let response: String = row.get(2)?;
        let result: BookingResult =
            serde_json::from_str(&response).map_err(|error| bad_column(2, error.to_string()))?;
        Ok(Change::Idempotency {
            member_id: MemberId::new(row.get::<_, String>(0)?),
            key: Arc::from(row.get::<_, String>(1)?),
            result: Box::new(result),
        })
    })?;
    for key in keys {
        changes.push(key.context("reading an idempotency key")?);
    }
    let mut statement = conn.prepare("SELECT id, email, name, password_hash, role FROM members")?;
    let accounts = statement
        .query_map([], |row| {
            let role: String = row.get(4)?;
            Ok(Account {
                member: Member {
                    id: MemberId::new(row.get::<_, String>(0)?),
                    email: row.get(1)?,
                    name: row.get(2)?,
                },
                password_hash: row.get(3)?,
                role: if role == "operator" { Role::Operator } else { Role::Member },
            })
        })?
        .collect::<rusqlite::Result<Vec<_>>>()
        .context("reading members")?;
    Ok((changes, accounts))
}

/// Commits a batch of writes in one transaction (one fsync for all of them)
/// and records `applied_lsn`, the LSN of the batch's last write, with them.
///
/// Rows are written by kind, parents first (gyms, slots, bookings, keys), so
/// foreign keys hold at every statement. A slot changed by many bookings in
/// the batch is written once, in its last state: under load that halves the
/// statements per booking. Each statement is looked up once per batch, not
/// once per row.
pub fn commit(conn: &mut Connection, batch: &[&Write], applied_lsn: u64) -> rusqlite::Result<()> {
    let mut gyms = Vec::new();
    let mut slots: HashMap<&str, &Slot> = HashMap::new();
    let mut slot_order = Vec::new();
    let mut bookings = Vec::new();
    let mut keys = Vec::new();
    let mut accounts = Vec::new();
    for write in batch {
        match write {
            Write::Changes(changes) => {
                for change in changes {
                    match change {
                        Change::Gym(record) => gyms.push(record),
                        Change::Slot(slot) => {
                            if slots.insert(slot.id.as_str(), slot).is_none() {
                                slot_order.push(slot.id.as_str());
                            }
                        }
                        Change::Booking { booking, seq } => bookings.push((booking, *seq)),
                        Change::Idempotency { member_id, key, result } => keys.push((member_id, key, result)),
                    }
                }
            }
            Write::Account(account) => accounts.push(account),
        }
    }
    let tx = conn.transaction()?;
    if !gyms.is_empty() {
        let mut put = tx.prepare_cached(
            "INSERT INTO gyms (id, name, timezone, address, booking_window_secs) VALUES (?1, ?2, ?3, ?4, ?5)
             ON CONFLICT (id) DO UPDATE SET name = excluded.name, timezone = excluded.timezone,
               address = excluded.address, booking_window_secs = excluded.booking_window_secs",
        )?;
        for record in gyms {
            put.execute(params![
                record.gym.id.as_str(),
                record.gym.name,
                record.gym.timezone,
                record.gym.address,
                record.booking_window.num_seconds()
            ])?;
        }
    }
    if !slot_order.is_empty() {
        // Almost every slot change is a booking moving an existing slot's
        // counters: try the update first, insert only a slot it did not find.
        let mut update = tx.prepare_cached(
            "UPDATE slots SET title = ?2, capacity = ?3, booked = ?4, waitlisted = ?5 WHERE id = ?1",
        )?;
        for slot_id in slot_order {
            let Some(slot) = slots.get(slot_id) else { continue };
            let updated = update.execute(params![
                slot.id.as_str(),
                slot.title,
                slot.capacity,
                slot.booked,
                slot.waitlisted
            ])?;
            if updated == 0 {
                tx.prepare_cached(
                    "INSERT INTO slots (id, gym_id, title, starts_at_ms, ends_at_ms, capacity, booked, waitlisted)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                )?
                .execute(params![
                    slot.id.as_str(),
                    slot.gym_id.as_str(),
                    slot.title,
                    to_ms(slot.starts_at),
                    to_ms(slot.ends_at),
                    slot.capacity,
                    slot.booked,
                    slot.waitlisted
                ])?;
            }
        }
    }
    // Bookings before the keys that point at their answers.
    put_bookings(&tx, &bookings)?;
    if !keys.is_empty() {
        let mut put = tx.prepare_cached(
            "INSERT INTO idempotency_keys (member_id, key, response) VALUES (?1, ?2, ?3)
             ON CONFLICT (member_id, key) DO NOTHING",
        )?;
        for (member_id, key, result) in keys {
            let response = serde_json::to_string(result)
                .map_err(|error| rusqlite::Error::ToSqlConversionFailure(Box::new(error)))?;
            put.execute(params![member_id.as_str(), key.as_ref(), response])?;
        }
    }
    for account in accounts {
        tx.prepare_cached(
            "INSERT INTO members (id, email, name, password_hash, role) VALUES (?1, ?2, ?3, ?4, ?5)
             ON CONFLICT (id) DO NOTHING",
        )?
        .execute(params![
            account.member.id.as_str(),
            account.member.email,
            account.member.name,
            account.password_hash,
            match account.role {
                Role::Member => "member",
                Role::Operator => "operator",
            }
        ])?;
    }
    tx.prepare_cached("UPDATE journal SET applied_lsn = ?1")?.execute([applied_lsn.cast_signed()])?;
    tx.commit()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A file as the first release wrote it: schema version 1, one gym, one
    /// slot, a confirmed and a cancelled booking.
    fn version_one_file(path: &Path) -> rusqlite::Result<()> {
        let conn = Connection::open(path)?;
        conn.execute_batch(MIGRATIONS[0])?;
        conn.execute_batch(
            "INSERT INTO gyms VALUES ('gym_a', 'A', 'Europe/Berlin', 'Street 1', 1209600);
             INSERT INTO slots VALUES ('slot_a', 'gym_a', 'Spin', 1893520800000, 1893524400000, 10, 1, 0);
             INSERT INTO bookings VALUES (1, 'bkg_1', 'slot_a', 'mbr_x', 'confirmed', 1893400000000);
             INSERT INTO bookings VALUES (2, 'bkg_2', 'slot_a', 'mbr_y', 'cancelled', 1893400000001);
             PRAGMA user_version = 1;",
        )
    }

    #[test]
    fn a_file_opened_by_one_server_is_refused_to_a_second_until_the_first_lets_go() -> anyhow::Result<()> {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("gym.sqlite");
        let first = open(&path)?;

        let refused =
            open_waiting(&path, std::time::Duration::from_millis(50)).err().map(|error| format!("{error:#}"));
        assert!(
            refused.as_deref().is_some_and(|message| message.contains("in use by another server")),
            "{refused:?}"
        );

        drop(first);
        let second = open_waiting(&path, std::time::Duration::from_millis(50))?;
        let version: usize = second.pragma_query_value(None, "user_version", |row| row.get(0))?;
        assert_eq!(version, MIGRATIONS.len());
        Ok(())
    }

    #[test]
    fn opening_a_version_one_file_keeps_every_booking_and_still_checks_statuses() -> anyhow::Result<()> {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("gym.sqlite");
        version_one_file(&path)?;

        let conn = open(&path)?;
        let version: usize = conn.pragma_query_value(None, "user_version", |row| row.get(0))?;
        assert_eq!(version, MIGRATIONS.len());
        let (changes, _) = load(&conn)?;
        let bookings: Vec<(u64, &str, BookingStatus)> = changes
            .iter()
            .filter_map(|change| match change {
                Change::Booking { booking, seq } => Some((*seq, booking.id.as_str(), booking.status)),
                _ => None,
            })
            .collect();
        assert_eq!(
            bookings,
            [(1, "bkg_1", BookingStatus::Confirmed), (2, "bkg_2", BookingStatus::Cancelled)]
        );

        let bad_status = conn.execute(
            "INSERT INTO bookings VALUES (3, 'bkg_3', 'slot_a', 'mbr_z', 'maybe', 1893400000002)",
            [],
        );
        assert!(bad_status.is_err(), "an unknown status is refused");
        let unknown_slot = conn.execute(
            "INSERT INTO bookings VALUES (3, 'bkg_3', 'slot_nope', 'mbr_z', 'confirmed', 1893400000002)",
            [],
        );
        assert!(unknown_slot.is_err(), "bookings still reference slots");
        Ok(())
    }

    #[test]
    fn a_batch_updates_known_slots_inserts_new_ones_and_writes_each_slot_once() -> anyhow::Result<()> {
        let dir = tempfile::tempdir()?;
        let mut conn = open(&dir.path().join("gym.sqlite"))?;
        let gym = crate::store::fixtures::gym();
        let slot = crate::store::fixtures::slot;
        let starts_at = slot(0).starts_at;
        let booking = |n: u64| Change::Booking {
            booking: Booking {
                id: BookingId::new(format!("bkg_{n}")),
                slot_id: SlotId::new("slot_a"),
                member_id: MemberId::new(format!("mbr_{n}")),
                status: BookingStatus::Confirmed,
                created_at: starts_at - Duration::days(1),
                waitlist_position: None,
            },
            seq: n,
        };
        let first = Write::Changes(vec![Change::Gym(gym), Change::Slot(slot(0))]);
        commit(&mut conn, &[&first], 1)?;
        let second = Write::Changes(vec![booking(1), Change::Slot(slot(1))]);
        let third = Write::Changes(vec![booking(2), Change::Slot(slot(2))]);
        commit(&mut conn, &[&second, &third], 3)?;

        let (booked, rows): (u32, u32) = conn.query_row(
            "SELECT booked, (SELECT count(*) FROM bookings WHERE slot_id = 'slot_a') FROM slots WHERE id = 'slot_a'",
            [],
            |row| Ok((row.get(0)?, row.get(1)?)),
        )?;
        assert_eq!((booked, rows), (2, 2), "the slot holds its last state and both bookings are stored");
        Ok(())
    }

    #[test]
    fn a_batch_of_any_size_stores_every_booking_in_its_last_state() -> anyhow::Result<()> {
        let dir = tempfile::tempdir()?;
        let mut conn = open(&dir.path().join("gym.sqlite"))?;
        conn.execute_batch(
            "INSERT INTO gyms VALUES ('gym_a', 'A', 'UTC', 'Street 1', 1209600);
             INSERT INTO slots VALUES ('slot_a', 'gym_a', 'Spin', 1893520800000, 1893524400000, 100, 0, 0);",
        )?;
        let created_at = DateTime::from_timestamp(1_893_400_000, 0).unwrap_or_default();
        let booking = |seq: u64, status: BookingStatus| Change::Booking {
            booking: Booking {
                id: BookingId::new(format!("bkg_{seq}")),
                slot_id: SlotId::new("slot_a"),
                member_id: MemberId::new(format!("mbr_{seq}")),
                status,
                created_at,
                waitlist_position: None,
            },
            seq,
        };
        // 23 rows: one statement of 16, one of 4 and three single rows; the
        // 5th booking is made and cancelled within the same batch.
        let mut changes: Vec<Change> = (1..=22).map(|seq| booking(seq, BookingStatus::Confirmed)).collect();
        changes.push(booking(5, BookingStatus::Cancelled));
        commit(&mut conn, &[&Write::Changes(changes)], 1)?;

        let (rows, confirmed): (u32, u32) = conn.query_row(
            "SELECT count(*), count(*) FILTER (WHERE status = 'confirmed') FROM bookings",
            [],
            |row| Ok((row.get(0)?, row.get(1)?)),
        )?;
        assert_eq!((rows, confirmed), (22, 21));
        let fifth: String =
            conn.query_row("SELECT status FROM bookings WHERE seq = 5", [], |row| row.get(0))?;
        assert_eq!(fifth, "cancelled");
        Ok(())
    }
}
