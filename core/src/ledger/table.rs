//! The ledger's bookings, in the order they were made.
//!
//! Bookings used to live in a hash map keyed by their random ids. Under
//! sustained booking that map held hundreds of thousands of ~100-byte
//! entries, and every booking inserted one at a random place in it: a cache
//! and TLB miss for the control bytes and another for the entry, ~6% of the
//! server's core (perf) and the largest single cost of a decision.
//!
//! Here bookings are appended to chunks of [`CHUNK`] records (a chunk never
//! moves, so growing the table copies nothing), and a booking id made by
//! [`BookingId::at_position`] names its record's position. Finding a booking
//! is reading the position out of its id and checking that the record there
//! has this id; appending one writes next to the previous one. Ids that name
//! no position or another one (made before ids carried positions, or chosen
//! by tests) are found through the `elsewhere` map, which is empty otherwise.

use super::{BookingRecord, HashMap};
use crate::ids::BookingId;

/// Records per chunk.
const CHUNK: usize = 4096;

/// Booking records by position, found by id.
#[derive(Clone, Debug, Default)]
pub(super) struct BookingTable {
    chunks: Vec<Vec<BookingRecord>>,
    len: usize,
    /// Positions of the bookings whose id does not name theirs.
    elsewhere: HashMap<BookingId, usize>,
}

impl BookingTable {
    /// Number of bookings: also the position the next new booking takes.
    pub(super) fn len(&self) -> usize {
        self.len
    }

    /// The record at `position`.
    pub(super) fn at(&self, position: usize) -> Option<&BookingRecord> {
        self.chunks.get(position / CHUNK)?.get(position % CHUNK)
    }

    /// The position of the booking with this id.
    pub(super) fn position(&self, id: &str) -> Option<usize> {
        self.find(id, named_position(id))
    }

    /// The position of the booking with this id, given the position the id
    /// names (if it names one).
    fn find(&self, id: &str, named: Option<usize>) -> Option<usize> {
        if let Some(position) = named
            && self.at(position).is_some_and(|record| record.booking.id.as_str() == id)
        {
            return Some(position);
        }
        self.elsewhere.get(id).copied()
    }

    /// The booking with this id.
    pub(super) fn get(&self, id: &str) -> Option<&BookingRecord> {
        self.at(self.position(id)?)
    }

    /// Stores `record` in place of the booking with the same id, or after the
    /// last one if there is none. Returns the record it replaced, if any, and
    /// the record's position.
    pub(super) fn put(&mut self, record: BookingRecord) -> (Option<BookingRecord>, usize) {
        let id = record.booking.id.as_str();
        let named = named_position(id);
        if let Some(position) = self.find(id, named)
            && let Some(stored) =
                self.chunks.get_mut(position / CHUNK).and_then(|chunk| chunk.get_mut(position % CHUNK))
        {
            return (Some(std::mem::replace(stored, record)), position);
        }
        let position = self.len;
        if named != Some(position) {
            self.elsewhere.insert(record.booking.id.clone(), position);
        }
        match self.chunks.last_mut() {
            Some(chunk) if chunk.len() < CHUNK => chunk.push(record),
            _ => {
                let mut chunk = Vec::with_capacity(CHUNK);
                chunk.push(record);
                self.chunks.push(chunk);
            }
        }
        self.len += 1;
        (None, position)
    }

    /// Every record, oldest first.
    #[cfg(test)]
    pub(super) fn values(&self) -> impl Iterator<Item = &BookingRecord> {
        self.chunks.iter().flatten()
    }
}

/// The position `id` names, if it names one (see [`BookingId::at_position`]).
fn named_position(id: &str) -> Option<usize> {
    BookingId::position_of(id).and_then(|position| usize::try_from(position).ok())
}

#[cfg(test)]
mod tests {
    use chrono::DateTime;

    use super::*;
    use crate::ids::{MemberId, SlotId};
    use crate::wire::{Booking, BookingStatus};

    fn record(id: BookingId, seq: u64) -> BookingRecord {
        let booking = Booking {
            id,
            slot_id: SlotId::new("slot_a"),
            member_id: MemberId::new("mbr_a"),
            status: BookingStatus::Confirmed,
            created_at: DateTime::UNIX_EPOCH,
            waitlist_position: None,
        };
        BookingRecord { booking, seq }
    }

    #[test]
    fn ids_that_name_their_position_and_ids_that_do_not_are_both_found_and_replaced() {
        let mut table = BookingTable::default();
        let mut ids = Vec::new();
        for n in 0..(2 * CHUNK + 5) {
            // Every third id is chosen freely; one names a position it is not at.
            let id = match n % 3 {
                0 => BookingId::new(format!("b{n}")),
                1 => BookingId::at_position(n as u64 + 1, n as u128),
                _ => BookingId::at_position(table.len() as u64, n as u128),
            };
            let (old, position) = table.put(record(id.clone(), n as u64));
            assert!(old.is_none());
            assert_eq!(position, n);
            ids.push(id);
        }
        assert_eq!(table.len(), 2 * CHUNK + 5);
        assert_eq!(table.chunks.len(), 3);
        assert_eq!(table.elsewhere.len(), (0..2 * CHUNK + 5).filter(|n| n % 3 != 2).count());
        for (n, id) in ids.iter().enumerate() {
            assert_eq!(table.position(id.as_str()), Some(n));
            assert_eq!(table.get(id.as_str()).map(|record| record.seq), Some(n as u64));
        }
        assert!(table.get("b1").is_none());
        assert!(table.get(BookingId::at_position(7, 0).as_str()).is_none());
        assert!(table.get(BookingId::at_position(1 << 40, 0).as_str()).is_none());

        let mut cancelled = record(ids[CHUNK + 2].clone(), 99);
        cancelled.booking.status = BookingStatus::Cancelled;
        let (old, position) = table.put(cancelled);
        assert_eq!((old.map(|record| record.seq), position), (Some(CHUNK as u64 + 2), CHUNK + 2));
        assert_eq!(table.len(), 2 * CHUNK + 5);
        assert_eq!(
            table.get(ids[CHUNK + 2].as_str()).map(|record| record.booking.status),
            Some(BookingStatus::Cancelled)
        );
        assert_eq!(table.values().count(), 2 * CHUNK + 5);
    }
}
