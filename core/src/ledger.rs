//! The ledger: the pure state machine that decides every booking.
//!
//! A [`Ledger`] holds gyms, slots, bookings, waitlists and idempotency records
//! in memory and applies the booking rules of the contract to them. Each
//! decision returns the [`Change`]s it made, in order, so a store can persist
//! exactly those rows (and a crashed process can be rebuilt by replaying the
//! stored rows through [`Ledger::restore`]). Decisions and recovery share one
//! mechanism, `put_booking`, so counters can never disagree with bookings.
//!
//! The ledger does no I/O and takes "now" and new ids as parameters, so it is
//! deterministic and property-tested. Callers that share one ledger between
//! threads must hold a lock around each decision: a decision is one critical
//! section (check seats left and take one, never read, release, then write).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use chrono_tz::Tz;

use crate::error::DomainError;
use crate::ids::{BookingId, GymId, MemberId, SlotId};
use crate::time::{check_bookable, check_cancellable, parse_timezone};
use crate::validate::{self, ValidSlot};
use crate::wire::{Booking, BookingResult, BookingStatus, CapacityEntry, Gym, Slot, UpdateSlot};
use sharded::ShardedMap;
use table::BookingTable;

/// The ledger's hash maps (and the shards of the larger ones, see
/// `ledger/sharded.rs`). Every booking touches several; foldhash is
/// several times faster than the standard SipHash on short ids. Its seed
/// differs per process (address-space layout, the clock), so the few keys a
/// client chooses (idempotency keys, scoped to its own member id) cannot be
/// lined up against one bucket ahead of time.
type HashMap<K, V> = std::collections::HashMap<K, V, foldhash::fast::RandomState>;

/// A gym with the settings the rules need.
#[derive(Clone, Debug, PartialEq)]
pub struct GymRecord {
    /// The gym as sent on the wire.
    pub gym: Gym,
    /// The gym's time zone, parsed.
    pub tz: Tz,
    /// How long before a slot's start booking opens.
    pub booking_window: Duration,
}

/// A slot's definition, without its counters.
#[derive(Clone, Debug, PartialEq)]
pub struct SlotDef {
    /// Id.
    pub id: SlotId,
    /// Gym.
    pub gym_id: GymId,
    /// Title.
    pub title: String,
    /// Start.
    pub starts_at: DateTime<Utc>,
    /// End.
    pub ends_at: DateTime<Utc>,
    /// Seats.
    pub capacity: u32,
}

/// One row-level change a decision made, in the order it was made.
#[derive(Clone, Debug, PartialEq)]
pub enum Change {
    /// A gym was added or changed.
    Gym(GymRecord),
    /// A slot was created, or its definition or counters changed. Carries the
    /// slot as it is after the change, so the store can persist it and tell
    /// live subscribers the new figures.
    Slot(Slot),
    /// A booking was created or changed status. `seq` orders bookings by
    /// creation; waitlists are served in `seq` order.
    Booking {
        /// The booking after the change (without a waitlist position).
        booking: Booking,
        /// Creation order.
        seq: u64,
    },
    /// A successful booking request was recorded under its idempotency key.
    Idempotency {
        /// Who sent it.
        member_id: MemberId,
        /// The `Idempotency-Key`.
        key: Arc<str>,
        /// The first answer, replayed to every retry.
        result: Box<BookingResult>,
    },
}

/// The answer to a booking request.
#[derive(Clone, Debug, PartialEq)]
pub struct BookOutcome {
    /// The booking and the slot after the decision.
    pub result: BookingResult,
    /// True when this was a retry answered from the idempotency record.
    pub replayed: bool,
    /// What changed (empty for a replay).
    pub changes: Vec<Change>,
}

/// A booking request, with everything the decision needs.
#[derive(Clone, Debug)]
pub struct BookRequest {
    /// The slot to book.
    pub slot_id: SlotId,
    /// Who books.
    pub member_id: MemberId,
    /// Join the waitlist when the slot is full (`?waitlist=true`).
    pub waitlist: bool,
    /// The `Idempotency-Key` header, if sent.
    pub idempotency_key: Option<Arc<str>>,
    /// The id the booking gets if one is made.
    pub new_booking_id: BookingId,
    /// Now.
    pub now: DateTime<Utc>,
}

#[derive(Clone, Debug)]
struct SlotRecord {
    def: SlotDef,
    booked: u32,
    /// Waitlisted bookings by creation order: the first entry is promoted first.
    waitlist: BTreeMap<u64, BookingId>,
}

#[derive(Clone, Debug)]
struct BookingRecord {
    booking: Booking,
    seq: u64,
}

#[derive(Clone, Debug)]
struct IdempotencyRecord {
    slot_id: SlotId,
    result: BookingResult,
}

/// Gyms, slots and bookings in memory, with the booking rules.
#[derive(Clone, Debug, Default)]
pub struct Ledger {
    gyms: BTreeMap<GymId, GymRecord>,
    /// Bumped on every change to a gym's slots; the capacity endpoint's ETag.
    gym_versions: HashMap<GymId, u64>,
    slots: HashMap<SlotId, SlotRecord>,
    /// Each gym's slots ordered by start, for range queries.
    schedule: HashMap<GymId, BTreeSet<(DateTime<Utc>, SlotId)>>,
    /// Every booking, in the order made (see `ledger/table.rs`).
    bookings: BookingTable,
    /// The positions of each member's bookings in `bookings`, oldest first.
    /// The one-active-booking-per-slot rule scans them (a member has few
    /// bookings, and rarely two for one slot) instead of keeping a map keyed
    /// by slot and member: under sustained booking that map held hundreds of
    /// thousands of entries and cost a probe and an insert, each a cache
    /// miss, on every booking.
    by_member: ShardedMap<MemberId, Vec<usize>>,
    idempotency: ShardedMap<(MemberId, Arc<str>), IdempotencyRecord>,
    next_seq: u64,
}

impl Ledger {
    /// An empty ledger.
    pub fn new() -> Self {
        Self::default()
    }

    /// Rebuilds state from stored rows, in the order given (gyms, then slots,
    /// then bookings by `seq`, then idempotency records).
    pub fn restore<'a>(&mut self, changes: impl IntoIterator<Item = &'a Change>) {
        for change in changes {
            match change {
                Change::Gym(record) => self.put_gym(record.clone()),
                Change::Slot(slot) => self.put_slot_def(SlotDef {
                    id: slot.id.clone(),
                    gym_id: slot.gym_id.clone(),
                    title: slot.title.clone(),
                    starts_at: slot.starts_at,
                    ends_at: slot.ends_at,
                    capacity: slot.capacity,
                }),
                Change::Booking { booking, seq } => {
                    self.next_seq = self.next_seq.max(seq + 1);
                    self.put_booking(booking.clone(), *seq);
                }
                Change::Idempotency { member_id, key, result } => {
                    self.idempotency.insert(
                        (member_id.clone(), key.clone()),
                        IdempotencyRecord { slot_id: result.slot.id.clone(), result: (**result).clone() },
                    );
                }
            }
        }
    }

    // ---- queries ---------------------------------------------------------

    /// Every gym, ordered by id.
    pub fn gyms(&self) -> impl Iterator<Item = &GymRecord> {
        self.gyms.values()
    }

    /// One gym.
    pub fn gym(&self, gym_id: &GymId) -> Option<&GymRecord> {
        self.gyms.get(gym_id)
    }

    /// A counter that changes whenever any slot of the gym changes.
    pub fn gym_version<Q>(&self, gym_id: &Q) -> u64
    where
        GymId: std::borrow::Borrow<Q>,
        Q: std::hash::Hash + Eq + ?Sized,
    {
        self.gym_versions.get(gym_id).copied().unwrap_or(0)
    }

    /// One slot with its counters.
    pub fn slot(&self, slot_id: &SlotId) -> Option<Slot> {
        self.slots.get(slot_id).map(slot_view)
    }

    /// The gym's slots starting in `[from, to)`, ordered by start.
    pub fn slots_between(&self, gym_id: &GymId, from: DateTime<Utc>, to: DateTime<Utc>) -> Vec<Slot> {
        let Some(schedule) = self.schedule.get(gym_id) else {
            return Vec::new();
        };
        let lower = (from, SlotId::new(""));
        schedule
            .range(lower..)
            .take_while(|(starts_at, _)| *starts_at < to)
            .filter_map(|(_, slot_id)| self.slot(slot_id))
            .collect()
    }

    /// Capacity figures of every slot of the gym that has not ended at `now`, by start.
    pub fn capacity(&self, gym_id: &GymId, now: DateTime<Utc>) -> Vec<CapacityEntry> {
        let Some(schedule) = self.schedule.get(gym_id) else {
            return Vec::new();
        };
        // A slot lasts at most a day, so nothing starting earlier is still running.
        let lower = (now - validate::MAX_SLOT_LENGTH, SlotId::new(""));
        schedule
            .range(lower..)
            .filter_map(|(_, slot_id)| self.slots.get(slot_id))
            .filter(|record| record.def.ends_at > now)
            .map(|record| CapacityEntry::new(record.def.id.clone(), record.def.capacity, record.booked))
            .collect()
    }

    /// When the gym's capacity list changes by itself (without a decision):
    /// the earliest end among its current slots, when that slot drops out.
    pub fn capacity_expires_at(&self, gym_id: &GymId, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let schedule = self.schedule.get(gym_id)?;
        let lower = (now - validate::MAX_SLOT_LENGTH, SlotId::new(""));
        schedule
            .range(lower..)
            .filter_map(|(_, slot_id)| self.slots.get(slot_id))
            .map(|record| record.def.ends_at)
            .filter(|ends_at| *ends_at > now)
            .min()
    }

    /// One booking, with its waitlist position when waitlisted.
    pub fn booking(&self, booking_id: &BookingId) -> Option<Booking> {
        self.bookings.get(booking_id.as_str()).map(|record| self.booking_view(record))
    }

    /// The id the next booking made should get: it names the booking's place
    /// in the ledger, so the ledger finds it without a hash map (see
    /// `ledger/table.rs`). `random` supplies its unguessable part.
    pub fn next_booking_id(&self, random: u128) -> BookingId {
        BookingId::at_position(self.bookings.len() as u64, random)
    }

    /// A member's bookings, newest first.
    pub fn member_bookings(&self, member_id: &MemberId) -> Vec<Booking> {
        let Some(ids) = self.by_member.get(member_id) else {
            return Vec::new();
        };
        let mut records: Vec<&BookingRecord> =
            ids.iter().filter_map(|&position| self.bookings.at(position)).collect();
        records.sort_by(|a, b| b.booking.created_at.cmp(&a.booking.created_at).then(b.seq.cmp(&a.seq)));
        records.into_iter().map(|record| self.booking_view(record)).collect()
    }

    /// Number of bookings ever made.
    pub fn booking_count(&self) -> usize {
        self.bookings.len()
    }

    // ---- decisions -------------------------------------------------------

    /// Adds or replaces a gym. Fails when its time zone is unknown.
    pub fn upsert_gym(&mut self, gym: Gym, booking_window: Duration) -> Result<Vec<Change>, DomainError> {
        let tz = parse_timezone(&gym.timezone)
            .ok_or_else(|| DomainError::InvalidSlot(format!("unknown time zone {:?}", gym.timezone)))?;
        let record = GymRecord { gym, tz, booking_window };
        self.put_gym(record.clone());
        Ok(vec![Change::Gym(record)])
    }

    /// Creates a slot in a gym.
    pub fn create_slot(
        &mut self,
        slot_id: SlotId,
        gym_id: &GymId,
        valid: ValidSlot,
    ) -> Result<(Slot, Vec<Change>), DomainError> {
        if !self.gyms.contains_key(gym_id) {
            return Err(DomainError::GymNotFound(gym_id.to_string()));
        }
        if self.slots.contains_key(&slot_id) {
            return Err(DomainError::InvalidSlot(format!("slot {slot_id} already exists")));
        }
        self.put_slot_def(SlotDef {
            id: slot_id.clone(),
            gym_id: gym_id.clone(),
            title: valid.title,
            starts_at: valid.starts_at,
            ends_at: valid.ends_at,
            capacity: valid.capacity,
        });
        let slot = self.slot_or_err(&slot_id)?;
        Ok((slot.clone(), vec![Change::Slot(slot)]))
    }

    /// Changes a slot's title and/or capacity. Raising the capacity promotes
    /// waitlisted bookings in order; lowering it below the confirmed bookings
    /// is refused.
    pub fn update_slot(
        &mut self,
        slot_id: &SlotId,
        update: &UpdateSlot,
    ) -> Result<(Slot, Vec<Change>), DomainError> {
        let record = self.slots.get(slot_id).ok_or_else(|| DomainError::SlotNotFound(slot_id.to_string()))?;
        let title = update.title.as_deref().map(validate::title).transpose()?;
        let capacity = update.capacity.map(validate::capacity).transpose()?;
        if let Some(capacity) = capacity
            && capacity < record.booked
        {
            return Err(DomainError::CapacityBelowBooked { requested: capacity, booked: record.booked });
        }
        let mut def = record.def.clone();
        if let Some(title) = title {
            def.title = title;
        }
        if let Some(capacity) = capacity {
            def.capacity = capacity;
        }
        self.put_slot_def(def);
        let mut changes = Vec::new();
        self.promote_waitlisted(slot_id, &mut changes);
        let slot = self.slot_or_err(slot_id)?;
        changes.push(Change::Slot(slot.clone()));
        Ok((slot, changes))
    }

    /// Books a seat: the atomic "check seats left and take one".
    pub fn book(&mut self, request: BookRequest) -> Result<BookOutcome, DomainError> {
        if let Some(key) = &request.idempotency_key
            && let Some(record) = self.idempotency.get(&(request.member_id.clone(), key.clone()))
        {
            if record.slot_id != request.slot_id {
                return Err(DomainError::IdempotencyKeyReused);
            }
            return Ok(BookOutcome { result: record.result.clone(), replayed: true, changes: Vec::new() });
        }
        let record = self
            .slots
            .get(&request.slot_id)
            .ok_or_else(|| DomainError::SlotNotFound(request.slot_id.to_string()))?;
        let window = self
            .gyms
            .get(&record.def.gym_id)
            .map_or(crate::time::DEFAULT_BOOKING_WINDOW, |gym| gym.booking_window);
        check_bookable(request.now, record.def.starts_at, window)?;
        if let Some(existing) = self.active_booking(&request.slot_id, &request.member_id) {
            return Err(DomainError::AlreadyBooked(Box::new(self.booking_view(existing))));
        }
        let status = if record.booked < record.def.capacity {
            BookingStatus::Confirmed
        } else if request.waitlist {
            BookingStatus::Waitlisted
        } else {
            return Err(DomainError::SlotFull {
                title: record.def.title.clone(),
                starts_at: record.def.starts_at,
                booked: record.booked,
                capacity: record.def.capacity,
            });
        };
        let booking = Booking {
            id: request.new_booking_id,
            slot_id: request.slot_id.clone(),
            member_id: request.member_id.clone(),
            status,
            created_at: request.now,
            waitlist_position: None,
        };
        let seq = self.next_seq;
        self.next_seq += 1;
        self.put_booking(booking.clone(), seq);
        let slot = self.slot_or_err(&request.slot_id)?;
        let result = BookingResult { booking: self.booking_view_of(&booking, seq), slot: slot.clone() };
        let mut changes = vec![Change::Booking { booking, seq }, Change::Slot(slot)];
        if let Some(key) = request.idempotency_key {
            self.idempotency.insert(
                (request.member_id.clone(), key.clone()),
                IdempotencyRecord { slot_id: request.slot_id, result: result.clone() },
            );
            changes.push(Change::Idempotency {
                member_id: request.member_id,
                key,
                result: Box::new(result.clone()),
            });
        }
        Ok(BookOutcome { result, replayed: false, changes })
    }

    /// Cancels a booking. Members may cancel their own; operators any. A
    /// freed seat goes to the oldest waitlisted booking in the same step.
    pub fn cancel(
        &mut self,
        booking_id: &BookingId,
        actor: &MemberId,
        actor_is_operator: bool,
        now: DateTime<Utc>,
    ) -> Result<(BookingResult, Vec<Change>), DomainError> {
        let record = self
            .bookings
            .get(booking_id.as_str())
            .ok_or_else(|| DomainError::BookingNotFound(booking_id.to_string()))?;
        if &record.booking.member_id != actor && !actor_is_operator {
            return Err(DomainError::Forbidden("this booking belongs to another member".into()));
        }
        if record.booking.status == BookingStatus::Cancelled {
            return Err(DomainError::AlreadyCancelled(booking_id.to_string()));
        }
        let slot_id = record.booking.slot_id.clone();
        let starts_at = self.slots.get(&slot_id).map(|slot| slot.def.starts_at);
        if let Some(starts_at) = starts_at {
            check_cancellable(now, starts_at)?;
        }
        let mut cancelled = record.booking.clone();
        let seq = record.seq;
        cancelled.status = BookingStatus::Cancelled;
        self.put_booking(cancelled.clone(), seq);
        let mut changes = vec![Change::Booking { booking: cancelled.clone(), seq }];
        self.promote_waitlisted(&slot_id, &mut changes);
        let slot = self.slot_or_err(&slot_id)?;
        changes.push(Change::Slot(slot.clone()));
        Ok((BookingResult { booking: cancelled, slot }, changes))
    }

    // ---- the one mechanism behind decisions and recovery -------------------

    fn put_gym(&mut self, record: GymRecord) {
        self.gym_versions.entry(record.gym.id.clone()).or_insert(0);
        self.gyms.insert(record.gym.id.clone(), record);
    }

    fn put_slot_def(&mut self, def: SlotDef) {
        *self.gym_versions.entry(def.gym_id.clone()).or_insert(0) += 1;
        let schedule = self.schedule.entry(def.gym_id.clone()).or_default();
        match self.slots.get_mut(&def.id) {
            Some(record) => {
                schedule.remove(&(record.def.starts_at, def.id.clone()));
                schedule.insert((def.starts_at, def.id.clone()));
                record.def = def;
            }
            None => {
                schedule.insert((def.starts_at, def.id.clone()));
                self.slots.insert(
                    def.id.clone(),
                    SlotRecord { def: def.clone(), booked: 0, waitlist: BTreeMap::new() },
                );
            }
        }
    }

    /// Stores a booking in its new state, undoing the effects of its old state
    /// on the counters, waitlist and indexes first.
    ///
    /// The member map is probed once: under sustained bookings it holds
    /// hundreds of thousands of entries and every probe is a cache miss.
    fn put_booking(&mut self, booking: Booking, seq: u64) {
        let (old, position) = self.bookings.put(BookingRecord { booking, seq });
        let Some(new) = self.bookings.at(position).map(|record| &record.booking) else {
            return;
        };
        if let Some(old) = &old {
            if let Some(slot) = self.slots.get_mut(&old.booking.slot_id) {
                match old.booking.status {
                    BookingStatus::Confirmed => slot.booked = slot.booked.saturating_sub(1),
                    BookingStatus::Waitlisted => {
                        slot.waitlist.remove(&old.seq);
                    }
                    BookingStatus::Cancelled => {}
                }
            }
        } else {
            self.by_member.entry(new.member_id.clone()).or_default().push(position);
        }
        if let Some(slot) = self.slots.get_mut(&new.slot_id) {
            match new.status {
                BookingStatus::Confirmed => slot.booked += 1,
                BookingStatus::Waitlisted => {
                    slot.waitlist.insert(seq, new.id.clone());
                }
                BookingStatus::Cancelled => {}
            }
            *self.gym_versions.entry(slot.def.gym_id.clone()).or_insert(0) += 1;
        }
    }

    /// The member's active (confirmed or waitlisted) booking for the slot.
    fn active_booking(&self, slot_id: &SlotId, member_id: &MemberId) -> Option<&BookingRecord> {
        self.by_member
            .get(member_id)?
            .iter()
            .filter_map(|&position| self.bookings.at(position))
            .find(|record| &record.booking.slot_id == slot_id && record.booking.status.is_active())
    }

    /// Moves waitlisted bookings into free seats, oldest first.
    fn promote_waitlisted(&mut self, slot_id: &SlotId, changes: &mut Vec<Change>) {
        loop {
            let Some(slot) = self.slots.get(slot_id) else {
                return;
            };
            if slot.booked >= slot.def.capacity {
                return;
            }
            let Some((_, next)) = slot.waitlist.first_key_value() else {
                return;
            };
            let Some(record) = self.bookings.get(next.as_str()) else {
                return;
            };
            let mut promoted = record.booking.clone();
            let seq = record.seq;
            promoted.status = BookingStatus::Confirmed;
            self.put_booking(promoted.clone(), seq);
            changes.push(Change::Booking { booking: promoted, seq });
        }
    }

    fn slot_or_err(&self, slot_id: &SlotId) -> Result<Slot, DomainError> {
        self.slot(slot_id).ok_or_else(|| DomainError::SlotNotFound(slot_id.to_string()))
    }

    fn booking_view(&self, record: &BookingRecord) -> Booking {
        self.booking_view_of(&record.booking, record.seq)
    }

    fn booking_view_of(&self, booking: &Booking, seq: u64) -> Booking {
        let mut view = booking.clone();
        if booking.status == BookingStatus::Waitlisted
            && let Some(slot) = self.slots.get(&booking.slot_id)
        {
            let ahead = slot.waitlist.range(..seq).count();
            view.waitlist_position = u32::try_from(ahead + 1).ok();
        }
        view
    }
}

fn slot_view(record: &SlotRecord) -> Slot {
    let def = &record.def;
    Slot {
        id: def.id.clone(),
        gym_id: def.gym_id.clone(),
        title: def.title.clone(),
        starts_at: def.starts_at,
        ends_at: def.ends_at,
        capacity: def.capacity,
        booked: record.booked,
        available: crate::capacity::available(def.capacity, record.booked),
        waitlisted: u32::try_from(record.waitlist.len()).unwrap_or(u32::MAX),
    }
}

mod sharded;
mod table;
#[cfg(test)]
mod tests;
