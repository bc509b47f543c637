//! The store seam: every handler talks to [`Store`], never to a database.
//!
//! Two adapters sit behind it. [`embedded::EmbeddedStore`] (the default) keeps
//! the [`Ledger`](gym_core::ledger::Ledger) in memory under one mutex and makes
//! every decision durable in SQLite with group commit before it is answered.
//! [`postgres::PgStore`] (for several instances on one database) lets the
//! database decide. Both implement [`StoreAdapter`]; [`Store`] is an enum of
//! the two rather than a trait object, so async methods stay plain `async fn`
//! and dispatch is a predictable match.

pub mod embedded;
pub mod idle;
mod journal;
pub mod postgres;
mod sqlite;

use std::sync::Arc;

use chrono::{DateTime, Utc};
use gym_core::ledger::GymRecord;
use gym_core::wire::{
    Booking, BookingResult, CapacityEntry, CapacitySnapshot, CreateSlot, Gym, Member, Role, Slot, UpdateSlot,
};
use gym_core::{BookingId, DomainError, GymId, MemberId, SlotId};
use tokio::sync::broadcast;

use crate::events::EventHub;

/// Why a store call failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A booking rule refused the request.
    #[error(transparent)]
    Domain(#[from] DomainError),
    /// The store cannot take writes or be reached now; nothing was changed.
    #[error("store unavailable: {0}")]
    Unavailable(String),
    /// Something unexpected; the cause is logged once where it is turned into a response.
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

/// A member account as stored (for login).
#[derive(Clone, Debug)]
pub struct Account {
    /// The public profile.
    pub member: Member,
    /// Argon2 PHC string.
    pub password_hash: String,
    /// Member or operator.
    pub role: Role,
}

/// A booking request as the store receives it.
#[derive(Clone, Debug)]
pub struct BookCommand {
    /// Slot to book.
    pub slot_id: SlotId,
    /// Who books.
    pub member_id: MemberId,
    /// Join the waitlist when full.
    pub waitlist: bool,
    /// `Idempotency-Key`, if sent.
    pub idempotency_key: Option<Arc<str>>,
    /// Now.
    pub now: DateTime<Utc>,
}

/// What a booking request produced.
#[derive(Clone, Debug)]
pub struct Booked {
    /// Booking and slot after the decision.
    pub result: BookingResult,
    /// True when answered from the idempotency record.
    pub replayed: bool,
}

/// The capacity of a gym's current slots with a version for `ETag`.
#[derive(Clone, Debug)]
pub struct CapacityView {
    /// Changes whenever any slot of the gym changes.
    pub version: u64,
    /// Current slots' figures by start.
    pub slots: Vec<CapacityEntry>,
}

/// The capacity endpoint's answer, ready to send: an `ETag` and a JSON body.
#[derive(Clone, Debug)]
pub struct RenderedCapacity {
    /// The serialized `CapacitySnapshot`.
    pub body: bytes::Bytes,
    /// The `200` answer's headers, built once per rendering: a copy of a
    /// finished map per answer costs less than hashing four names into a new
    /// one. `ETag` is a weak tag of the gym's version and the number of slots
    /// (cloning it is a reference count, not a copy); then `Cache-Control`,
    /// `Content-Type` and `Content-Length`.
    pub headers: axum::http::HeaderMap,
}

impl RenderedCapacity {
    /// Serializes a capacity view. `asOf` is when the figures were read; a
    /// cached rendering is only served while they are unchanged.
    pub fn render(gym_id: &GymId, view: CapacityView, now: DateTime<Utc>) -> Self {
        use axum::http::{HeaderMap, HeaderValue, header};
        use chrono::SubsecRound;
        let etag = HeaderValue::from_str(&format!("W/\"{:x}-{}\"", view.version, view.slots.len()))
            .expect("hex digits, a dash and quotes make a valid header value");
        let snapshot =
            CapacitySnapshot { gym_id: gym_id.clone(), as_of: now.trunc_subsecs(3), slots: view.slots };
        // Serializing our own plain struct cannot fail.
        let body: bytes::Bytes = serde_json::to_vec(&snapshot).unwrap_or_default().into();
        // Room for the request id and CORS headers the edge adds, so the copy
        // never grows on the way out.
        let mut headers = HeaderMap::with_capacity(8);
        headers.insert(header::ETAG, etag);
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
        headers.insert(header::CONTENT_LENGTH, HeaderValue::from(body.len()));
        Self { body, headers }
    }
}

/// What every storage adapter provides: the seam between handlers and data.
///
/// Both adapters implement exactly this, so handlers never know which one
/// runs. Decisions that change data must be durable before they return.
#[allow(async_fn_in_trait, reason = "used only through the `Store` enum, never as `dyn`")]
pub trait StoreAdapter: Send + Sync {
    /// `sqlite` or `postgres`, as `/health` reports it.
    fn kind(&self) -> &'static str;
    /// The hub live capacity changes are published to.
    fn events(&self) -> &EventHub;
    /// Whether the store can take writes now.
    async fn check_health(&self) -> Result<(), StoreError>;
    /// Every gym, by id.
    async fn gyms(&self) -> Result<Vec<Gym>, StoreError>;
    /// One gym with its settings.
    async fn gym(&self, gym_id: &GymId) -> Result<GymRecord, StoreError>;
    /// A gym's slots starting in `[from, to)`, by start.
    async fn slots_between(
        &self,
        gym_id: &GymId,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<Slot>, StoreError>;
    /// Capacity of a gym's current slots, with a version for `ETag`.
    async fn capacity(&self, gym_id: &GymId, now: DateTime<Utc>) -> Result<CapacityView, StoreError>;
    /// The same, rendered for the capacity endpoint (cached where the adapter can).
    async fn capacity_rendered(
        &self,
        gym_id: &GymId,
        now: DateTime<Utc>,
    ) -> Result<RenderedCapacity, StoreError> {
        let view = self.capacity(gym_id, now).await?;
        Ok(RenderedCapacity::render(gym_id, view, now))
    }
    /// One slot.
    async fn slot(&self, slot_id: &SlotId) -> Result<Slot, StoreError>;
    /// A member's bookings, newest first.
    async fn member_bookings(&self, member_id: &MemberId) -> Result<Vec<Booking>, StoreError>;
    /// Books a seat (or a waitlist place); returns once durable.
    async fn book(&self, command: BookCommand) -> Result<Booked, StoreError>;
    /// Cancels a booking, promoting the oldest waitlisted one; returns once durable.
    async fn cancel(
        &self,
        booking_id: &BookingId,
        actor: &MemberId,
        actor_is_operator: bool,
        now: DateTime<Utc>,
    ) -> Result<BookingResult, StoreError>;
    /// Creates a slot.
    async fn create_slot(&self, gym_id: &GymId, draft: &CreateSlot) -> Result<Slot, StoreError>;
    /// Changes a slot's title and/or capacity.
    async fn update_slot(&self, slot_id: &SlotId, update: &UpdateSlot) -> Result<Slot, StoreError>;
    /// Adds a gym unless one with that id exists; true when added.
    async fn ensure_gym(&self, gym: Gym, booking_window: chrono::Duration) -> Result<bool, StoreError>;
    /// Adds a slot unless one with that id exists; true when added.
    async fn ensure_slot(
        &self,
        slot_id: SlotId,
        gym_id: &GymId,
        draft: &CreateSlot,
    ) -> Result<bool, StoreError>;
    /// The account with this email (case-insensitive).
    async fn account_by_email(&self, email: &str) -> Result<Option<Account>, StoreError>;
    /// Adds an account unless its email is taken; true when added.
    async fn ensure_account(&self, account: Account) -> Result<bool, StoreError>;
    /// Finishes pending writes and stops background work.
    async fn close(&self);
}

/// The storage seam handlers use: one of the adapters.
#[derive(Clone)]
pub enum Store {
    /// In-memory ledger + SQLite with group commit (one instance).
    Embedded(Arc<embedded::EmbeddedStore>),
    /// PostgreSQL decides (several instances on one database).
    Postgres(Arc<postgres::PgStore>),
}

/// Calls the same `StoreAdapter` method on whichever adapter this is.
macro_rules! dispatch {
    ($self:ident, $store:ident => $call:expr) => {
        match $self {
            Store::Embedded($store) => $call,
            Store::Postgres($store) => $call,
        }
    };
}

impl Store {
    /// Opens the store named by a `DATABASE_URL`. `apply_interval`: see
    /// [`embedded::EmbeddedStore::open`].
    pub async fn open(
        database_url: &str,
        pg_pool_size: u32,
        apply_interval: std::time::Duration,
    ) -> anyhow::Result<Self> {
        if let Some(path) = sqlite_path(database_url) {
            let store = embedded::EmbeddedStore::open(&path, EventHub::new(), apply_interval)?;
            return Ok(Self::Embedded(Arc::new(store)));
        }
        if database_url.starts_with("postgres://") || database_url.starts_with("postgresql://") {
            let store = postgres::PgStore::open(database_url, pg_pool_size, EventHub::new()).await?;
            return Ok(Self::Postgres(Arc::new(store)));
        }
        anyhow::bail!("unsupported DATABASE_URL {database_url:?}: use sqlite://PATH or postgres://…")
    }

    /// `sqlite` or `postgres`.
    pub fn kind(&self) -> &'static str {
        dispatch!(self, store => store.kind())
    }

    /// Live capacity changes of a gym.
    pub fn subscribe(&self, gym_id: &GymId) -> broadcast::Receiver<CapacityEntry> {
        dispatch!(self, store => store.events().subscribe(gym_id))
    }

    /// The live-event hub.
    pub fn events(&self) -> &EventHub {
        dispatch!(self, store => store.events())
    }

    /// See [`StoreAdapter::check_health`].
    pub async fn check_health(&self) -> Result<(), StoreError> {
        dispatch!(self, store => store.check_health().await)
    }

    /// See [`StoreAdapter::gyms`].
    pub async fn gyms(&self) -> Result<Vec<Gym>, StoreError> {
        dispatch!(self, store => store.gyms().await)
    }

    /// See [`StoreAdapter::gym`].
    pub async fn gym(&self, gym_id: &GymId) -> Result<GymRecord, StoreError> {
        dispatch!(self, store => store.gym(gym_id).await)
    }

    /// See [`StoreAdapter::slots_between`].
    pub async fn slots_between(
        &self,
        gym_id: &GymId,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<Slot>, StoreError> {
        dispatch!(self, store => store.slots_between(gym_id, from, to).await)
    }

    /// See [`StoreAdapter::capacity`].
    pub async fn capacity(&self, gym_id: &GymId, now: DateTime<Utc>) -> Result<CapacityView, StoreError> {
        dispatch!(self, store => store.capacity(gym_id, now).await)
    }

    /// See [`StoreAdapter::capacity_rendered`].
    pub async fn capacity_rendered(
        &self,
        gym_id: &GymId,
        now: DateTime<Utc>,
    ) -> Result<RenderedCapacity, StoreError> {
        dispatch!(self, store => store.capacity_rendered(gym_id, now).await)
    }

    /// A gym's capacity answer if a current rendering is cached in memory
    /// (the embedded store; PostgreSQL has none): served without routing.
    pub fn capacity_cached(&self, gym_id: &str, now: DateTime<Utc>) -> Option<RenderedCapacity> {
        match self {
            Store::Embedded(store) => store.capacity_cached(gym_id, now),
            Store::Postgres(_) => None,
        }
    }

    /// See [`StoreAdapter::slot`].
    pub async fn slot(&self, slot_id: &SlotId) -> Result<Slot, StoreError> {
        dispatch!(self, store => store.slot(slot_id).await)
    }

    /// See [`StoreAdapter::book`].
    pub async fn book(&self, command: BookCommand) -> Result<Booked, StoreError> {
        dispatch!(self, store => store.book(command).await)
    }

    /// See [`StoreAdapter::cancel`].
    pub async fn cancel(
        &self,
        booking_id: &BookingId,
        actor: &MemberId,
        actor_is_operator: bool,
        now: DateTime<Utc>,
    ) -> Result<BookingResult, StoreError> {
        dispatch!(self, store => store.cancel(booking_id, actor, actor_is_operator, now).await)
    }

    /// See [`StoreAdapter::member_bookings`].
    pub async fn member_bookings(&self, member_id: &MemberId) -> Result<Vec<Booking>, StoreError> {
        dispatch!(self, store => store.member_bookings(member_id).await)
    }

    /// See [`StoreAdapter::create_slot`].
    pub async fn create_slot(&self, gym_id: &GymId, draft: &CreateSlot) -> Result<Slot, StoreError> {
        dispatch!(self, store => store.create_slot(gym_id, draft).await)
    }

    /// See [`StoreAdapter::update_slot`].
    pub async fn update_slot(&self, slot_id: &SlotId, update: &UpdateSlot) -> Result<Slot, StoreError> {
        dispatch!(self, store => store.update_slot(slot_id, update).await)
    }

    /// See [`StoreAdapter::ensure_gym`].
    pub async fn ensure_gym(&self, gym: Gym, booking_window: chrono::Duration) -> Result<bool, StoreError> {
        dispatch!(self, store => store.ensure_gym(gym, booking_window).await)
    }

    /// See [`StoreAdapter::ensure_slot`].
    pub async fn ensure_slot(
        &self,
        slot_id: SlotId,
        gym_id: &GymId,
        draft: &CreateSlot,
    ) -> Result<bool, StoreError> {
        dispatch!(self, store => store.ensure_slot(slot_id, gym_id, draft).await)
    }

    /// See [`StoreAdapter::account_by_email`].
    pub async fn account_by_email(&self, email: &str) -> Result<Option<Account>, StoreError> {
        dispatch!(self, store => store.account_by_email(email).await)
    }

    /// See [`StoreAdapter::ensure_account`].
    pub async fn ensure_account(&self, account: Account) -> Result<bool, StoreError> {
        dispatch!(self, store => store.ensure_account(account).await)
    }

    /// See [`StoreAdapter::close`].
    pub async fn close(&self) {
        dispatch!(self, store => store.close().await)
    }
}

/// The file path of a `sqlite://PATH` or `sqlite:PATH` URL.
fn sqlite_path(database_url: &str) -> Option<std::path::PathBuf> {
    let rest = database_url.strip_prefix("sqlite://").or_else(|| database_url.strip_prefix("sqlite:"))?;
    let rest = rest.split('?').next().unwrap_or(rest);
    if rest.is_empty() {
        return None;
    }
    Some(std::path::PathBuf::from(rest))
}

/// A fresh random id with the given prefix: 20 characters of base-32.
pub fn new_id(prefix: &str) -> String {
    // 20 letters are 100 random bits of one 128-bit draw.
    let mut id = String::with_capacity(prefix.len() + 20);
    id.push_str(prefix);
    gym_core::ids::push_random_letters(&mut id, rand::random(), 20);
    id
}

/// Rows the store's unit tests share.
#[cfg(test)]
pub(crate) mod fixtures {
    use chrono::{DateTime, Duration};
    use gym_core::ledger::GymRecord;
    use gym_core::wire::{Gym, Slot};
    use gym_core::{GymId, SlotId};

    /// `gym_a`, in UTC, booking 14 days ahead.
    pub fn gym() -> GymRecord {
        GymRecord {
            gym: Gym {
                id: GymId::new("gym_a"),
                name: "A".into(),
                timezone: "UTC".into(),
                address: "Street 1".into(),
            },
            tz: chrono_tz::UTC,
            booking_window: Duration::days(14),
        }
    }

    /// `slot_a` of `gym_a`: a one-hour spin class of 10 places in 2030,
    /// `booked` of them taken.
    pub fn slot(booked: u32) -> Slot {
        let starts_at = DateTime::from_timestamp(1_893_520_800, 0).unwrap_or_default();
        Slot {
            id: SlotId::new("slot_a"),
            gym_id: GymId::new("gym_a"),
            title: "Spin".into(),
            starts_at,
            ends_at: starts_at + Duration::hours(1),
            capacity: 10,
            booked,
            available: 10_u32.saturating_sub(booked),
            waitlisted: 0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlite_urls_name_a_file() {
        assert_eq!(sqlite_path("sqlite://data/gym.sqlite"), Some("data/gym.sqlite".into()));
        assert_eq!(sqlite_path("sqlite:///tmp/x.sqlite?mode=rwc"), Some("/tmp/x.sqlite".into()));
        assert_eq!(sqlite_path("sqlite:gym.db"), Some("gym.db".into()));
        assert_eq!(sqlite_path("postgres://x"), None);
        assert_eq!(sqlite_path("sqlite://"), None);
    }

    #[test]
    fn new_ids_carry_their_prefix_and_differ() {
        let first = new_id("bkg_");
        assert!(first.starts_with("bkg_"));
        assert_eq!(first.len(), 24);
        assert_ne!(first, new_id("bkg_"));
    }
}
