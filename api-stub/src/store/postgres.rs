//! The PostgreSQL adapter: several `api-stub` instances, one source of truth.
//!
//! Here no in-process lock can help (the instances share nothing but the
//! database), so every rule that must hold across instances is enforced by
//! PostgreSQL itself:
//!
//! - **Never over capacity.** A booking is one conditional update,
//!   `UPDATE slots SET booked = booked + 1 WHERE id = $1 AND booked < capacity
//!   AND <booking window open>`, in the same transaction as the booking insert.
//!   Concurrent bookings of a slot queue on its row lock; under READ COMMITTED
//!   each re-checks `booked < capacity` against the committed row when it gets
//!   the lock, so the last seat goes to exactly one of them. The `CHECK (booked
//!   <= capacity)` constraint backs this up.
//! - **One active booking per member per slot.** A unique partial index; a
//!   concurrent duplicate fails its insert and its whole transaction (seat
//!   included) rolls back.
//! - **Idempotency.** Keys are stored with the first answer in the booking's
//!   transaction; a concurrent retry blocks on the key (or the booking index),
//!   rolls back, and replays the stored answer.
//! - **Waitlists.** Every writer locks the slot row first, then bookings, so
//!   promotion in `seq` order is serialized per slot and deadlock-free.
//!
//! Live updates cross instances with `LISTEN`/`NOTIFY`: a change notifies in
//! its own transaction (delivered only on commit) and every instance's
//! listener forwards notifications to its SSE subscribers. When PostgreSQL is
//! unreachable, calls fail within [`ACQUIRE_TIMEOUT`] as `503
//! store_unavailable`; an uncommitted transaction is rolled back by the server,
//! so nothing is half-done, and the pool reconnects by itself.

use std::ops::{Deref, DerefMut};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration as StdDuration;

use anyhow::Context;
use chrono::{DateTime, Duration, Utc};
use gym_core::ledger::GymRecord;
use gym_core::time::{check_bookable, check_cancellable, parse_timezone};
use gym_core::wire::{
    Booking, BookingResult, BookingStatus, CapacityEntry, CreateSlot, Gym, Member, Role, Slot, UpdateSlot,
};
use gym_core::{BookingId, DomainError, GymId, MemberId, SlotId, validate};
use serde::{Deserialize, Serialize};
use sqlx::migrate::Migrator;
use sqlx::pool::PoolConnection;
use sqlx::postgres::{PgConnectOptions, PgListener, PgPoolOptions, PgRow};
use sqlx::{Connection, Executor, PgConnection, PgPool, Postgres, Row};
use tokio::sync::{Semaphore, SemaphorePermit};

use crate::events::EventHub;
use crate::store::{Account, BookCommand, Booked, CapacityView, StoreAdapter, StoreError, new_id};

/// How long opening a database connection may take before PostgreSQL counts
/// as unreachable (`503`).
pub const ACQUIRE_TIMEOUT: StdDuration = StdDuration::from_millis(1_000);
/// How long a fresh connection may take before a slow PostgreSQL counts as
/// down. Generous on purpose: an outage refuses or drops connections at once,
/// while a healthy server starved of CPU (a rush on a small machine) can take
/// seconds, and calling it down would turn a slow rush into a wave of `503`s.
const PROBE_TIMEOUT: StdDuration = StdDuration::from_secs(5);
/// How long a request may queue for a connection while the database is
/// healthy but busy (a rush) before `503`.
const QUEUE_TIMEOUT: StdDuration = StdDuration::from_secs(30);
/// Longest any statement may run (lock waits included) before it is cancelled.
const STATEMENT_TIMEOUT_MS: u32 = 10_000;
/// The `NOTIFY` channel capacity changes travel on.
const NOTIFY_CHANNEL: &str = "gym_capacity";

static MIGRATOR: Migrator = sqlx::migrate!("./migrations/postgres");

const SLOT_COLUMNS: &str =
    "s.id, s.gym_id, s.title, s.starts_at, s.ends_at, s.capacity, s.booked, s.waitlisted";
const BOOKING_COLUMNS: &str = "b.id, b.slot_id, b.member_id, b.status, b.created_at, \
     CASE WHEN b.status = 'waitlisted' THEN (SELECT count(*) FROM bookings w \
       WHERE w.slot_id = b.slot_id AND w.status = 'waitlisted' AND w.seq <= b.seq) END AS position";

/// What one `NOTIFY` carries: a slot's new figures and its gym.
#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Notice {
    gym_id: GymId,
    #[serde(flatten)]
    entry: CapacityEntry,
}

/// PostgreSQL-backed store; any number of instances may share the database.
pub struct PgStore {
    pool: PgPool,
    /// Admission to the pool, one permit per connection. A busy database and
    /// an unreachable one need different answers: under a rush requests queue
    /// here fairly (backpressure), while after a failed connection attempt
    /// (`down`) only as many requests as there are connections probe the
    /// database and everyone else gets `503` at once.
    permits: Semaphore,
    down: AtomicBool,
    /// How to open a connection outside the pool (the reachability probe).
    options: PgConnectOptions,
    /// The last probe's time and answer.
    probe: tokio::sync::Mutex<Option<(std::time::Instant, bool)>>,
    events: EventHub,
    listener: Mutex<Option<tokio::task::JoinHandle<()>>>,
}

/// A pooled connection together with its admission permit.
struct Conn<'a> {
    conn: PoolConnection<Postgres>,
    _permit: SemaphorePermit<'a>,
}

impl Deref for Conn<'_> {
    type Target = PgConnection;

    fn deref(&self) -> &PgConnection {
        &self.conn
    }
}

impl DerefMut for Conn<'_> {
    fn deref_mut(&mut self) -> &mut PgConnection {
        &mut self.conn
    }
}

impl From<sqlx::Error> for StoreError {
    fn from(error: sqlx::Error) -> Self {
        let unavailable = match &error {
            sqlx::Error::PoolTimedOut
            | sqlx::Error::PoolClosed
            | sqlx::Error::Io(_)
            | sqlx::Error::Tls(_)
            | sqlx::Error::Protocol(_)
            | sqlx::Error::WorkerCrashed => true,
            // Connection exceptions, shutdown, "cannot connect now", too many
            // connections, and our statement timeout under a lock pile-up.
            sqlx::Error::Database(database) => database.code().is_some_and(|code| {
                code.starts_with("08") || ["57P01", "57P02", "57P03", "53300", "57014"].contains(&&*code)
            }),
            _ => false,
        };
        if unavailable {
            Self::Unavailable(error.to_string())
        } else {
            Self::Internal(anyhow::Error::new(error).context("postgres"))
        }
    }
}

fn is_unique_violation(error: &sqlx::Error) -> bool {
    matches!(error, sqlx::Error::Database(database) if database.code().as_deref() == Some("23505"))
}

fn to_u32(value: i32) -> u32 {
    u32::try_from(value).unwrap_or(0)
}

fn slot_from(row: &PgRow) -> Result<Slot, sqlx::Error> {
    let capacity = to_u32(row.try_get("capacity")?);
    let booked = to_u32(row.try_get("booked")?);
    Ok(Slot {
        id: SlotId::new(row.try_get::<String, _>("id")?),
        gym_id: GymId::new(row.try_get::<String, _>("gym_id")?),
        title: row.try_get("title")?,
        starts_at: row.try_get("starts_at")?,
        ends_at: row.try_get("ends_at")?,
        capacity,
        booked,
        available: capacity.saturating_sub(booked),
        waitlisted: to_u32(row.try_get("waitlisted")?),
    })
}

fn booking_from(row: &PgRow) -> Result<Booking, sqlx::Error> {
    let status: String = row.try_get("status")?;
    let status = BookingStatus::parse(&status)
        .ok_or_else(|| sqlx::Error::Decode(format!("unknown booking status {status:?}").into()))?;
    let position: Option<i64> = row.try_get("position")?;
    Ok(Booking {
        id: BookingId::new(row.try_get::<String, _>("id")?),
        slot_id: SlotId::new(row.try_get::<String, _>("slot_id")?),
        member_id: MemberId::new(row.try_get::<String, _>("member_id")?),
        status,
        created_at: row.try_get("created_at")?,
        waitlist_position: position.and_then(|position| u32::try_from(position).ok()),
    })
}

fn gym_from(row: &PgRow) -> Result<GymRecord, sqlx::Error> {
    let timezone: String = row.try_get("timezone")?;
    let tz = parse_timezone(&timezone)
        .ok_or_else(|| sqlx::Error::Decode(format!("unknown time zone {timezone}").into()))?;
    Ok(GymRecord {
        gym: Gym {
            id: GymId::new(row.try_get::<String, _>("id")?),
            name: row.try_get("name")?,
            timezone,
            address: row.try_get("address")?,
        },
        tz,
        booking_window: Duration::seconds(row.try_get("booking_window_secs")?),
    })
}

/// A slot row with its gym's window; with `lock`, locked for the rest of the transaction.
async fn read_slot(
    conn: &mut PgConnection,
    slot_id: &str,
    lock: bool,
) -> Result<Option<(Slot, Duration)>, StoreError> {
    let lock = if lock { " FOR UPDATE OF s" } else { "" };
    let row = sqlx::query(&format!(
        "SELECT {SLOT_COLUMNS}, g.booking_window_secs FROM slots s JOIN gyms g ON g.id = s.gym_id \
         WHERE s.id = $1{lock}"
    ))
    .bind(slot_id)
    .fetch_optional(&mut *conn)
    .await?;
    Ok(match row {
        Some(row) => Some((slot_from(&row)?, Duration::seconds(row.try_get("booking_window_secs")?))),
        None => None,
    })
}

async fn booking_by_id(
    conn: &mut PgConnection,
    booking_id: &str,
    lock: bool,
) -> Result<Option<Booking>, StoreError> {
    let lock = if lock { " FOR UPDATE OF b" } else { "" };
    let row = sqlx::query(&format!("SELECT {BOOKING_COLUMNS} FROM bookings b WHERE b.id = $1{lock}"))
        .bind(booking_id)
        .fetch_optional(&mut *conn)
        .await?;
    Ok(row.as_ref().map(booking_from).transpose()?)
}

async fn active_booking(
    conn: &mut PgConnection,
    slot_id: &str,
    member_id: &str,
) -> Result<Option<Booking>, StoreError> {
    let row = sqlx::query(&format!(
        "SELECT {BOOKING_COLUMNS} FROM bookings b WHERE b.slot_id = $1 AND b.member_id = $2 AND b.status <> 'cancelled'"
    ))
    .bind(slot_id)
    .bind(member_id)
    .fetch_optional(&mut *conn)
    .await?;
    Ok(row.as_ref().map(booking_from).transpose()?)
}

/// The stored answer for an idempotency key, if this member used it before.
async fn replay(
    conn: &mut PgConnection,
    member_id: &str,
    key: &str,
    slot_id: &str,
) -> Result<Option<Booked>, StoreError> {
    let row = sqlx::query("SELECT slot_id, response FROM idempotency_keys WHERE member_id = $1 AND key = $2")
        .bind(member_id)
        .bind(key)
        .fetch_optional(&mut *conn)
        .await?;
    let Some(row) = row else { return Ok(None) };
    let stored_slot: String = row.try_get("slot_id")?;
    if stored_slot != slot_id {
        return Err(DomainError::IdempotencyKeyReused.into());
    }
    let response: String = row.try_get("response")?;
    let result: BookingResult =
        serde_json::from_str(&response).context("reading a stored idempotent answer")?;
    Ok(Some(Booked { result, replayed: true }))
}

/// Queues a capacity notice; PostgreSQL delivers it only if the transaction commits.
async fn notify(conn: &mut PgConnection, slot: &Slot) -> Result<(), StoreError> {
    let notice = Notice { gym_id: slot.gym_id.clone(), entry: slot.capacity_entry() };
    let payload = serde_json::to_string(&notice).context("encoding a capacity notice")?;
    sqlx::query("SELECT pg_notify($1, $2)").bind(NOTIFY_CHANNEL).bind(payload).execute(&mut *conn).await?;
    Ok(())
}

async fn capacity_rows(
    conn: &mut PgConnection,
    gym_id: &str,
    now: DateTime<Utc>,
) -> Result<Vec<CapacityEntry>, StoreError> {
    let rows = sqlx::query(
        "SELECT id, capacity, booked FROM slots WHERE gym_id = $1 AND ends_at > $2 \
         AND starts_at > $2 - interval '24 hours' ORDER BY starts_at, id",
    )
    .bind(gym_id)
    .bind(now)
    .fetch_all(&mut *conn)
    .await?;
    rows.iter()
        .map(|row| {
            Ok(CapacityEntry::new(
                SlotId::new(row.try_get::<String, _>("id")?),
                to_u32(row.try_get("capacity")?),
                to_u32(row.try_get("booked")?),
            ))
        })
        .collect::<Result<Vec<_>, sqlx::Error>>()
        .map_err(StoreError::from)
}

impl PgStore {
    /// Connects, runs the migrations and starts listening for other instances' changes.
    pub async fn open(database_url: &str, pool_size: u32, events: EventHub) -> anyhow::Result<Self> {
        let options: PgConnectOptions = database_url.parse().context("reading DATABASE_URL")?;
        let probe_options = options.clone();
        // The whole pool is opened now and kept open: a connection opened in
        // the middle of a rush is slow, and would look like an outage.
        let pool = PgPoolOptions::new()
            .max_connections(pool_size.max(1))
            .min_connections(pool_size.max(1))
            // The gate decides when to give up (see `connection`); the pool waits.
            .acquire_timeout(QUEUE_TIMEOUT)
            .after_connect(|conn, _meta| {
                Box::pin(async move {
                    conn.execute(format!("SET statement_timeout = {STATEMENT_TIMEOUT_MS}").as_str()).await?;
                    Ok(())
                })
            })
            .connect_with(options)
            .await
            .context("connecting to PostgreSQL")?;
        MIGRATOR.run(&pool).await.context("migrating the PostgreSQL schema")?;
        let warm = futures::future::join_all((0..pool_size.max(1)).map(|_| pool.acquire())).await;
        for connection in warm {
            connection.context("opening the connection pool")?;
        }
        let mut listener = PgListener::connect_with(&pool).await.context("connecting the change listener")?;
        listener.listen(NOTIFY_CHANNEL).await.context("listening for changes")?;
        let task = tokio::spawn(forward_changes(listener, pool.clone(), events.clone()));
        tracing::info!(pool_size, "opened the postgres store");
        let permits = Semaphore::new(usize::try_from(pool_size.max(1)).unwrap_or(1));
        Ok(Self {
            pool,
            permits,
            down: AtomicBool::new(false),
            options: probe_options,
            probe: tokio::sync::Mutex::new(None),
            events,
            listener: Mutex::new(Some(task)),
        })
    }

    /// A connection, through the admission gate.
    async fn connection(&self) -> Result<Conn<'_>, StoreError> {
        let permit = if self.down.load(Ordering::Relaxed) {
            self.permits
                .try_acquire()
                .map_err(|_| StoreError::Unavailable("the database is unreachable".into()))?
        } else {
            tokio::time::timeout(QUEUE_TIMEOUT, self.permits.acquire())
                .await
                .map_err(|_| StoreError::Unavailable("the database is overloaded; please retry".into()))?
                .map_err(|_| StoreError::Unavailable("the store is closed".into()))?
        };
        let acquire = self.pool.acquire();
        tokio::pin!(acquire);
        let acquired = match tokio::time::timeout(ACQUIRE_TIMEOUT, &mut acquire).await {
            Ok(acquired) => acquired,
            // Slow. Busy (a rush: a connection is on its way back to the pool)
            // and down (nothing answers) look the same from here, so ask
            // PostgreSQL directly: keep waiting if it answers, give up if not.
            Err(_) if self.reachable().await => match tokio::time::timeout(QUEUE_TIMEOUT, acquire).await {
                Ok(acquired) => acquired,
                Err(_) => {
                    return Err(StoreError::Unavailable("the database is overloaded; please retry".into()));
                }
            },
            Err(_) => {
                self.down.store(true, Ordering::Relaxed);
                return Err(StoreError::Unavailable("the database is unreachable".into()));
            }
        };
        match acquired {
            Ok(conn) => {
                self.down.store(false, Ordering::Relaxed);
                Ok(Conn { conn, _permit: permit })
            }
            Err(error) => {
                let error = StoreError::from(error);
                if matches!(error, StoreError::Unavailable(_)) && !self.reachable().await {
                    self.down.store(true, Ordering::Relaxed);
                }
                Err(error)
            }
        }
    }

    /// Whether PostgreSQL accepts a new connection within [`PROBE_TIMEOUT`].
    /// One probe at a time; its answer is reused for half a second.
    async fn reachable(&self) -> bool {
        let mut last = self.probe.lock().await;
        if let Some((at, answer)) = *last
            && at.elapsed() < StdDuration::from_millis(500)
        {
            return answer;
        }
        let answer = matches!(
            tokio::time::timeout(PROBE_TIMEOUT, PgConnection::connect_with(&self.options)).await,
            Ok(Ok(_))
        );
        *last = Some((std::time::Instant::now(), answer));
        answer
    }
}

/// Forwards every instance's capacity notices to this instance's subscribers.
/// After a lost connection, notices may have been missed, so subscribed gyms
/// get a fresh snapshot.
async fn forward_changes(mut listener: PgListener, pool: PgPool, events: EventHub) {
    loop {
        match listener.try_recv().await {
            Ok(Some(notification)) => match serde_json::from_str::<Notice>(notification.payload()) {
                Ok(notice) => events.publish(&notice.gym_id, notice.entry),
                Err(error) => tracing::warn!(%error, "ignoring an unreadable capacity notice"),
            },
            Ok(None) => {
                tracing::warn!("the change listener reconnected; resending capacity to live subscribers");
                let Ok(mut conn) = pool.acquire().await else { continue };
                for gym_id in events.subscribed_gyms() {
                    if let Ok(entries) = capacity_rows(&mut conn, gym_id.as_str(), Utc::now()).await {
                        for entry in entries {
                            events.publish(&gym_id, entry);
                        }
                    }
                }
            }
            Err(error) => {
                tracing::warn!(%error, "the change listener lost PostgreSQL; retrying");
                tokio::time::sleep(StdDuration::from_millis(500)).await;
            }
        }
    }
}

impl StoreAdapter for PgStore {
    fn kind(&self) -> &'static str {
        "postgres"
    }

    fn events(&self) -> &EventHub {
        &self.events
    }

    async fn check_health(&self) -> Result<(), StoreError> {
        let mut conn = self.connection().await?;
        sqlx::query("SELECT 1").execute(&mut *conn).await?;
        Ok(())
    }

    async fn gyms(&self) -> Result<Vec<Gym>, StoreError> {
        let mut conn = self.connection().await?;
        let rows = sqlx::query("SELECT * FROM gyms ORDER BY id").fetch_all(&mut *conn).await?;
        Ok(rows.iter().map(|row| gym_from(row).map(|record| record.gym)).collect::<Result<_, _>>()?)
    }

    async fn gym(&self, gym_id: &GymId) -> Result<GymRecord, StoreError> {
        let mut conn = self.connection().await?;
        let row = sqlx::query("SELECT * FROM gyms WHERE id = $1")
            .bind(gym_id.as_str())
            .fetch_optional(&mut *conn)
            .await?;
        match row {
            Some(row) => Ok(gym_from(&row)?),
            None => Err(DomainError::GymNotFound(gym_id.to_string()).into()),
        }
    }

    async fn slots_between(
        &self,
        gym_id: &GymId,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<Slot>, StoreError> {
        let mut conn = self.connection().await?;
        let rows = sqlx::query(&format!(
            "SELECT {SLOT_COLUMNS} FROM slots s WHERE s.gym_id = $1 AND s.starts_at >= $2 AND s.starts_at < $3 \
             ORDER BY s.starts_at, s.id"
        ))
        .bind(gym_id.as_str())
        .bind(from)
        .bind(to)
        .fetch_all(&mut *conn)
        .await?;
        Ok(rows.iter().map(slot_from).collect::<Result<_, _>>()?)
    }

    async fn capacity(&self, gym_id: &GymId, now: DateTime<Utc>) -> Result<CapacityView, StoreError> {
        let mut conn = self.connection().await?;
        let gym = sqlx::query("SELECT 1 FROM gyms WHERE id = $1")
            .bind(gym_id.as_str())
            .fetch_optional(&mut *conn)
            .await?;
        if gym.is_none() {
            return Err(DomainError::GymNotFound(gym_id.to_string()).into());
        }
        let slots = capacity_rows(&mut conn, gym_id.as_str(), now).await?;
        // No per-gym counter row (it would serialize every booking of a gym):
        // the version is a hash of exactly what is sent.
        let version = slots.iter().fold(0xcbf2_9ce4_8422_2325_u64, |hash, entry| {
            let mixed = entry
                .slot_id
                .as_str()
                .bytes()
                .fold(hash, |h, byte| (h ^ u64::from(byte)).wrapping_mul(0x100_0000_01b3));
            (mixed ^ (u64::from(entry.capacity) << 32 | u64::from(entry.booked)))
                .wrapping_mul(0x100_0000_01b3)
        });
        Ok(CapacityView { version, slots })
    }

    async fn slot(&self, slot_id: &SlotId) -> Result<Slot, StoreError> {
        let mut conn = self.connection().await?;
        let row = sqlx::query(&format!("SELECT {SLOT_COLUMNS} FROM slots s WHERE s.id = $1"))
            .bind(slot_id.as_str())
            .fetch_optional(&mut *conn)
            .await?;
        match row {
            Some(row) => Ok(slot_from(&row)?),
            None => Err(DomainError::SlotNotFound(slot_id.to_string()).into()),
        }
    }

    async fn member_bookings(&self, member_id: &MemberId) -> Result<Vec<Booking>, StoreError> {
        let mut conn = self.connection().await?;
        let rows = sqlx::query(&format!(
            "SELECT {BOOKING_COLUMNS} FROM bookings b WHERE b.member_id = $1 ORDER BY b.created_at DESC, b.seq DESC"
        ))
        .bind(member_id.as_str())
        .fetch_all(&mut *conn)
        .await?;
        Ok(rows.iter().map(booking_from).collect::<Result<_, _>>()?)
    }

    async fn book(&self, command: BookCommand) -> Result<Booked, StoreError> {
        let slot_id = command.slot_id.as_str();
        let member_id = command.member_id.as_str();
        let mut conn = self.connection().await?;
        let mut tx = conn.begin().await?;
        if let Some(key) = &command.idempotency_key
            && let Some(replayed) = replay(&mut tx, member_id, key, slot_id).await?
        {
            return Ok(replayed);
        }
        // The atomic take. Concurrent bookings of this slot queue on its row
        // lock and re-check `booked < capacity` against the committed row.
        let taken = sqlx::query(&format!(
            "UPDATE slots s SET booked = s.booked + 1 FROM gyms g \
             WHERE s.id = $1 AND g.id = s.gym_id AND s.booked < s.capacity \
               AND $2 < s.starts_at AND $2 >= s.starts_at - make_interval(secs => g.booking_window_secs) \
             RETURNING {SLOT_COLUMNS}"
        ))
        .bind(slot_id)
        .bind(command.now)
        .fetch_optional(&mut *tx)
        .await?;
        let (status, slot) = match taken {
            Some(row) => (BookingStatus::Confirmed, slot_from(&row)?),
            None => {
                // Not taken: find out why, in the ledger's order of rules.
                // Refusals read without locking, so a rush's thousands of
                // "full" answers do not queue on the slot's row lock.
                let (slot, window) = read_slot(&mut tx, slot_id, false)
                    .await?
                    .ok_or_else(|| DomainError::SlotNotFound(slot_id.to_owned()))?;
                check_bookable(command.now, slot.starts_at, window)?;
                if let Some(existing) = active_booking(&mut tx, slot_id, member_id).await? {
                    return Err(DomainError::AlreadyBooked(Box::new(existing)).into());
                }
                if slot.booked >= slot.capacity && !command.waitlist {
                    return Err(DomainError::SlotFull {
                        title: slot.title,
                        starts_at: slot.starts_at,
                        booked: slot.booked,
                        capacity: slot.capacity,
                    }
                    .into());
                }
                // About to write (a seat freed up meanwhile, or the waitlist):
                // lock the row and decide again on what is committed.
                let (slot, _) = read_slot(&mut tx, slot_id, true)
                    .await?
                    .ok_or_else(|| DomainError::SlotNotFound(slot_id.to_owned()))?;
                let (column, status) = if slot.booked < slot.capacity {
                    ("booked", BookingStatus::Confirmed)
                } else if command.waitlist {
                    ("waitlisted", BookingStatus::Waitlisted)
                } else {
                    return Err(DomainError::SlotFull {
                        title: slot.title,
                        starts_at: slot.starts_at,
                        booked: slot.booked,
                        capacity: slot.capacity,
                    }
                    .into());
                };
                let row = sqlx::query(&format!(
                    "UPDATE slots s SET {column} = s.{column} + 1 WHERE s.id = $1 RETURNING {SLOT_COLUMNS}"
                ))
                .bind(slot_id)
                .fetch_one(&mut *tx)
                .await?;
                (status, slot_from(&row)?)
            }
        };
        let booking_id = new_id(BookingId::PREFIX);
        let inserted = sqlx::query(
            "INSERT INTO bookings (id, slot_id, member_id, status, created_at) VALUES ($1, $2, $3, $4, $5) RETURNING seq",
        )
        .bind(&booking_id)
        .bind(slot_id)
        .bind(member_id)
        .bind(status.as_str())
        .bind(command.now)
        .fetch_one(&mut *tx)
        .await;
        if let Err(error) = inserted {
            if !is_unique_violation(&error) {
                return Err(error.into());
            }
            // A concurrent request of this member won the slot: roll back our seat.
            tx.rollback().await?;
            return explain_duplicate(&mut conn, &command).await;
        }
        let booking = booking_by_id(&mut tx, &booking_id, false)
            .await?
            .ok_or_else(|| anyhow::anyhow!("booking {booking_id} vanished inside its own transaction"))?;
        let result = BookingResult { booking, slot };
        if let Some(key) = &command.idempotency_key {
            let response = serde_json::to_string(&result).context("encoding an idempotent answer")?;
            let recorded = sqlx::query(
                "INSERT INTO idempotency_keys (member_id, key, slot_id, response) VALUES ($1, $2, $3, $4) \
                 ON CONFLICT DO NOTHING RETURNING 1",
            )
            .bind(member_id)
            .bind(key.as_ref())
            .bind(slot_id)
            .bind(response)
            .fetch_optional(&mut *tx)
            .await?;
            if recorded.is_none() {
                tx.rollback().await?;
                return explain_duplicate(&mut conn, &command).await;
            }
        }
        notify(&mut tx, &result.slot).await?;
        tx.commit().await?;
        Ok(Booked { result, replayed: false })
    }

    async fn cancel(
        &self,
        booking_id: &BookingId,
        actor: &MemberId,
        actor_is_operator: bool,
        now: DateTime<Utc>,
    ) -> Result<BookingResult, StoreError> {
        let mut conn = self.connection().await?;
        let mut tx = conn.begin().await?;
        let not_found = || StoreError::from(DomainError::BookingNotFound(booking_id.to_string()));
        let slot_id =
            booking_by_id(&mut tx, booking_id.as_str(), false).await?.ok_or_else(not_found)?.slot_id;
        // Lock order everywhere: the slot row, then its bookings.
        let (slot, _) = read_slot(&mut tx, slot_id.as_str(), true).await?.ok_or_else(not_found)?;
        let booking = booking_by_id(&mut tx, booking_id.as_str(), true).await?.ok_or_else(not_found)?;
        if &booking.member_id != actor && !actor_is_operator {
            return Err(DomainError::Forbidden("this booking belongs to another member".into()).into());
        }
        if booking.status == BookingStatus::Cancelled {
            return Err(DomainError::AlreadyCancelled(booking_id.to_string()).into());
        }
        check_cancellable(now, slot.starts_at)?;
        sqlx::query("UPDATE bookings SET status = 'cancelled' WHERE id = $1")
            .bind(booking_id.as_str())
            .execute(&mut *tx)
            .await?;
        let (booked_delta, waitlisted_delta) = match booking.status {
            BookingStatus::Confirmed => {
                let promoted = sqlx::query(
                    "UPDATE bookings SET status = 'confirmed' WHERE id = (SELECT id FROM bookings \
                     WHERE slot_id = $1 AND status = 'waitlisted' ORDER BY seq LIMIT 1) RETURNING id",
                )
                .bind(slot_id.as_str())
                .fetch_optional(&mut *tx)
                .await?;
                if promoted.is_some() { (0, 1) } else { (1, 0) }
            }
            BookingStatus::Waitlisted => (0, 1),
            BookingStatus::Cancelled => (0, 0),
        };
        let row = sqlx::query(&format!(
            "UPDATE slots s SET booked = s.booked - $2, waitlisted = s.waitlisted - $3 WHERE s.id = $1 RETURNING {SLOT_COLUMNS}"
        ))
        .bind(slot_id.as_str())
        .bind(booked_delta)
        .bind(waitlisted_delta)
        .fetch_one(&mut *tx)
        .await?;
        let slot = slot_from(&row)?;
        let booking = Booking { status: BookingStatus::Cancelled, waitlist_position: None, ..booking };
        notify(&mut tx, &slot).await?;
        tx.commit().await?;
        Ok(BookingResult { booking, slot })
    }

    async fn create_slot(&self, gym_id: &GymId, draft: &CreateSlot) -> Result<Slot, StoreError> {
        let valid = validate::new_slot(draft)?;
        let mut conn = self.connection().await?;
        let mut tx = conn.begin().await?;
        let row = sqlx::query(&format!(
            "INSERT INTO slots AS s (id, gym_id, title, starts_at, ends_at, capacity) \
             SELECT $1, g.id, $3, $4, $5, $6 FROM gyms g WHERE g.id = $2 RETURNING {SLOT_COLUMNS}"
        ))
        .bind(new_id(SlotId::PREFIX))
        .bind(gym_id.as_str())
        .bind(&valid.title)
        .bind(valid.starts_at)
        .bind(valid.ends_at)
        .bind(i64::from(valid.capacity))
        .fetch_optional(&mut *tx)
        .await?;
        let slot = slot_from(&row.ok_or_else(|| DomainError::GymNotFound(gym_id.to_string()))?)?;
        notify(&mut tx, &slot).await?;
        tx.commit().await?;
        Ok(slot)
    }

    async fn update_slot(&self, slot_id: &SlotId, update: &UpdateSlot) -> Result<Slot, StoreError> {
        let mut conn = self.connection().await?;
        let mut tx = conn.begin().await?;
        let (slot, _) = read_slot(&mut tx, slot_id.as_str(), true)
            .await?
            .ok_or_else(|| DomainError::SlotNotFound(slot_id.to_string()))?;
        let title = update.title.as_deref().map(validate::title).transpose()?.unwrap_or(slot.title);
        let capacity = update.capacity.map(validate::capacity).transpose()?.unwrap_or(slot.capacity);
        if capacity < slot.booked {
            return Err(DomainError::CapacityBelowBooked { requested: capacity, booked: slot.booked }.into());
        }
        let promoted = sqlx::query(
            "UPDATE bookings SET status = 'confirmed' WHERE id IN (SELECT id FROM bookings \
             WHERE slot_id = $1 AND status = 'waitlisted' ORDER BY seq LIMIT $2) RETURNING id",
        )
        .bind(slot_id.as_str())
        .bind(i64::from(capacity - slot.booked))
        .fetch_all(&mut *tx)
        .await?
        .len();
        let promoted = i32::try_from(promoted).unwrap_or(i32::MAX);
        let row = sqlx::query(&format!(
            "UPDATE slots s SET title = $2, capacity = $3, booked = s.booked + $4, waitlisted = s.waitlisted - $4 \
             WHERE s.id = $1 RETURNING {SLOT_COLUMNS}"
        ))
        .bind(slot_id.as_str())
        .bind(title)
        .bind(i64::from(capacity))
        .bind(promoted)
        .fetch_one(&mut *tx)
        .await?;
        let slot = slot_from(&row)?;
        notify(&mut tx, &slot).await?;
        tx.commit().await?;
        Ok(slot)
    }

    async fn ensure_gym(&self, gym: Gym, booking_window: Duration) -> Result<bool, StoreError> {
        let mut conn = self.connection().await?;
        if parse_timezone(&gym.timezone).is_none() {
            return Err(DomainError::InvalidSlot(format!("unknown time zone {:?}", gym.timezone)).into());
        }
        let added = sqlx::query(
            "INSERT INTO gyms (id, name, timezone, address, booking_window_secs) VALUES ($1, $2, $3, $4, $5) \
             ON CONFLICT DO NOTHING RETURNING id",
        )
        .bind(gym.id.as_str())
        .bind(&gym.name)
        .bind(&gym.timezone)
        .bind(&gym.address)
        .bind(booking_window.num_seconds())
        .fetch_optional(&mut *conn)
        .await?;
        Ok(added.is_some())
    }

    async fn ensure_slot(
        &self,
        slot_id: SlotId,
        gym_id: &GymId,
        draft: &CreateSlot,
    ) -> Result<bool, StoreError> {
        let valid = validate::new_slot(draft)?;
        let mut conn = self.connection().await?;
        let added = sqlx::query(
            "INSERT INTO slots (id, gym_id, title, starts_at, ends_at, capacity) \
             SELECT $1, g.id, $3, $4, $5, $6 FROM gyms g WHERE g.id = $2 ON CONFLICT DO NOTHING RETURNING id",
        )
        .bind(slot_id.as_str())
        .bind(gym_id.as_str())
        .bind(&valid.title)
        .bind(valid.starts_at)
        .bind(valid.ends_at)
        .bind(i64::from(valid.capacity))
        .fetch_optional(&mut *conn)
        .await?;
        Ok(added.is_some())
    }

    async fn account_by_email(&self, email: &str) -> Result<Option<Account>, StoreError> {
        let mut conn = self.connection().await?;
        let row = sqlx::query(
            "SELECT id, email, name, password_hash, role FROM members WHERE lower(email) = lower($1)",
        )
        .bind(email)
        .fetch_optional(&mut *conn)
        .await?;
        let Some(row) = row else { return Ok(None) };
        let role: String = row.try_get("role")?;
        Ok(Some(Account {
            member: Member {
                id: MemberId::new(row.try_get::<String, _>("id")?),
                name: row.try_get("name")?,
                email: row.try_get("email")?,
            },
            password_hash: row.try_get("password_hash")?,
            role: if role == "operator" { Role::Operator } else { Role::Member },
        }))
    }

    async fn ensure_account(&self, account: Account) -> Result<bool, StoreError> {
        let mut conn = self.connection().await?;
        let added = sqlx::query(
            "INSERT INTO members (id, email, name, password_hash, role) VALUES ($1, $2, $3, $4, $5) \
             ON CONFLICT DO NOTHING RETURNING id",
        )
        .bind(account.member.id.as_str())
        .bind(&account.member.email)
        .bind(&account.member.name)
        .bind(&account.password_hash)
        .bind(match account.role {
            Role::Member => "member",
            Role::Operator => "operator",
        })
        .fetch_optional(&mut *conn)
        .await?;
        Ok(added.is_some())
    }

    async fn close(&self) {
        if let Some(listener) = self.listener.lock().unwrap_or_else(std::sync::PoisonError::into_inner).take()
        {
            listener.abort();
        }
        self.pool.close().await;
    }
}

/// After a rolled-back duplicate: replay the winner's answer if it was an
/// idempotent retry, otherwise report the member's existing booking.
async fn explain_duplicate(conn: &mut PgConnection, command: &BookCommand) -> Result<Booked, StoreError> {
    if let Some(key) = &command.idempotency_key
        && let Some(replayed) =
            replay(conn, command.member_id.as_str(), key, command.slot_id.as_str()).await?
    {
        return Ok(replayed);
    }
    match active_booking(conn, command.slot_id.as_str(), command.member_id.as_str()).await? {
        Some(existing) => Err(DomainError::AlreadyBooked(Box::new(existing)).into()),
        None => Err(StoreError::Unavailable("a concurrent change got in the way; please retry".into())),
    }
}
