//! The store seam: every handler talks to [`Store`], never to a database.
//!
//! Two adapters sit behind it. [`embedded::EmbeddedStore`] (the default) keeps
//! the [`Ledger`](gym_core::ledger::Ledger) in memory under one mutex and makes
//! every decision durable in SQLite with group commit before it is answered.
//! The PostgreSQL adapter (for several instances) lets the database decide.
//! `Store` is an enum of adapters rather than a trait object: async methods
//! stay plain `async fn`, and dispatch is a predictable match.

pub mod embedded;
mod sqlite;

use std::sync::Arc;

use chrono::{DateTime, Utc};
use gym_core::ledger::GymRecord;
use gym_core::wire::{
    Booking, BookingResult, CapacityEntry, CreateSlot, Gym, Member, Role, Slot, UpdateSlot,
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

/// The one storage seam handlers use.
#[derive(Clone)]
pub enum Store {
    /// In-memory ledger + SQLite with group commit (single instance).
    Embedded(Arc<embedded::EmbeddedStore>),
}

/// Dispatches a method call to whichever adapter this store is.
macro_rules! dispatch {
    ($self:ident, $store:ident => $call:expr) => {
        match $self {
            Store::Embedded($store) => $call,
        }
    };
}

impl Store {
    /// Opens the store named by a `DATABASE_URL`.
    pub async fn open(database_url: &str) -> anyhow::Result<Self> {
        if let Some(path) = sqlite_path(database_url) {
            let store = embedded::EmbeddedStore::open(&path, EventHub::new())?;
            return Ok(Self::Embedded(Arc::new(store)));
        }
        anyhow::bail!("unsupported DATABASE_URL {database_url:?}: use sqlite://PATH")
    }

    /// `sqlite` or `postgres`, as `/health` reports it.
    pub fn kind(&self) -> &'static str {
        dispatch!(self, _store => "sqlite")
    }

    /// Live capacity changes of a gym.
    pub fn subscribe(&self, gym_id: &GymId) -> broadcast::Receiver<CapacityEntry> {
        dispatch!(self, store => store.events().subscribe(gym_id))
    }

    /// The live-event hub (for subscriber counts).
    pub fn events(&self) -> &EventHub {
        dispatch!(self, store => store.events())
    }

    /// Whether the store can take writes now.
    pub async fn check_health(&self) -> Result<(), StoreError> {
        dispatch!(self, store => store.check_health())
    }

    /// Every gym.
    pub async fn gyms(&self) -> Result<Vec<Gym>, StoreError> {
        dispatch!(self, store => Ok(store.gyms()))
    }

    /// One gym with its settings.
    pub async fn gym(&self, gym_id: &GymId) -> Result<GymRecord, StoreError> {
        dispatch!(self, store => store.gym(gym_id))
    }

    /// A gym's slots starting in `[from, to)`.
    pub async fn slots_between(
        &self,
        gym_id: &GymId,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<Slot>, StoreError> {
        dispatch!(self, store => Ok(store.slots_between(gym_id, from, to)))
    }

    /// Current capacity of a gym's slots.
    pub async fn capacity(&self, gym_id: &GymId, now: DateTime<Utc>) -> Result<CapacityView, StoreError> {
        dispatch!(self, store => store.capacity(gym_id, now))
    }

    /// One slot.
    pub async fn slot(&self, slot_id: &SlotId) -> Result<Slot, StoreError> {
        dispatch!(self, store => store.slot(slot_id))
    }

    /// Books a seat (or a waitlist place); answered once durable.
    pub async fn book(&self, command: BookCommand) -> Result<Booked, StoreError> {
        dispatch!(self, store => store.book(command).await)
    }

    /// Cancels a booking; answered once durable.
    pub async fn cancel(
        &self,
        booking_id: &BookingId,
        actor: &MemberId,
        actor_is_operator: bool,
        now: DateTime<Utc>,
    ) -> Result<BookingResult, StoreError> {
        dispatch!(self, store => store.cancel(booking_id, actor, actor_is_operator, now).await)
    }

    /// A member's bookings, newest first.
    pub async fn member_bookings(&self, member_id: &MemberId) -> Result<Vec<Booking>, StoreError> {
        dispatch!(self, store => Ok(store.member_bookings(member_id)))
    }

    /// Creates a slot (operators).
    pub async fn create_slot(&self, gym_id: &GymId, draft: &CreateSlot) -> Result<Slot, StoreError> {
        dispatch!(self, store => store.create_slot(gym_id, draft).await)
    }

    /// Changes a slot (operators).
    pub async fn update_slot(&self, slot_id: &SlotId, update: &UpdateSlot) -> Result<Slot, StoreError> {
        dispatch!(self, store => store.update_slot(slot_id, update).await)
    }

    /// Adds a gym unless one with that id exists; true when added.
    pub async fn ensure_gym(&self, gym: Gym, booking_window: chrono::Duration) -> Result<bool, StoreError> {
        dispatch!(self, store => store.ensure_gym(gym, booking_window).await)
    }

    /// Adds a slot unless one with that id exists; true when added.
    pub async fn ensure_slot(
        &self,
        slot_id: SlotId,
        gym_id: &GymId,
        draft: &CreateSlot,
    ) -> Result<bool, StoreError> {
        dispatch!(self, store => store.ensure_slot(slot_id, gym_id, draft).await)
    }

    /// The account with this email (case-insensitive), if any.
    pub async fn account_by_email(&self, email: &str) -> Result<Option<Account>, StoreError> {
        dispatch!(self, store => Ok(store.account_by_email(email)))
    }

    /// Adds an account unless one with that email exists; true when added.
    pub async fn ensure_account(&self, account: Account) -> Result<bool, StoreError> {
        dispatch!(self, store => store.ensure_account(account).await)
    }

    /// Flushes pending writes and stops background work.
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
    use rand::Rng;
    const ALPHABET: &[u8] = b"abcdefghijkmnpqrstuvwxyz23456789";
    let mut rng = rand::thread_rng();
    let mut id = String::with_capacity(prefix.len() + 20);
    id.push_str(prefix);
    for _ in 0..20 {
        id.push(char::from(ALPHABET[rng.gen_range(0..ALPHABET.len())]));
    }
    id
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
