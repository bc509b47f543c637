//! Unit and property tests of the booking rules.

use chrono::TimeZone;
use proptest::prelude::*;

use super::*;
use crate::wire::CreateSlot;

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 24, 12, 0, 0).single().expect("valid instant")
}

fn ledger_with_slot(capacity: u32) -> (Ledger, SlotId) {
    let mut ledger = Ledger::new();
    let gym = Gym {
        id: GymId::new("gym_test"),
        name: "Test".into(),
        timezone: "Europe/Berlin".into(),
        address: "Somewhere 1".into(),
    };
    ledger.upsert_gym(gym, crate::time::DEFAULT_BOOKING_WINDOW).expect("known zone");
    let draft = CreateSlot {
        title: "Spin".into(),
        starts_at: now() + Duration::hours(6),
        ends_at: now() + Duration::hours(7),
        capacity,
    };
    let valid = validate::new_slot(&draft).expect("valid slot");
    let slot_id = SlotId::new("slot_test");
    ledger.create_slot(slot_id.clone(), &GymId::new("gym_test"), valid).expect("gym exists");
    (ledger, slot_id)
}

fn request(slot_id: &SlotId, member: &str, booking: &str, waitlist: bool) -> BookRequest {
    BookRequest {
        slot_id: slot_id.clone(),
        member_id: MemberId::new(member),
        waitlist,
        idempotency_key: None,
        new_booking_id: BookingId::new(booking),
        now: now(),
    }
}

#[test]
fn booking_takes_a_seat_until_the_slot_is_full() {
    let (mut ledger, slot_id) = ledger_with_slot(2);
    let first = ledger.book(request(&slot_id, "m1", "b1", false)).expect("seat free");
    assert_eq!(first.result.booking.status, BookingStatus::Confirmed);
    assert_eq!(first.result.slot.available, 1);
    ledger.book(request(&slot_id, "m2", "b2", false)).expect("seat free");
    let third = ledger.book(request(&slot_id, "m3", "b3", false));
    assert!(matches!(third, Err(DomainError::SlotFull { booked: 2, capacity: 2, .. })));
}

#[test]
fn a_member_cannot_hold_two_active_bookings_for_one_slot() {
    let (mut ledger, slot_id) = ledger_with_slot(5);
    ledger.book(request(&slot_id, "m1", "b1", false)).expect("seat free");
    let again = ledger.book(request(&slot_id, "m1", "b2", false));
    match again {
        Err(DomainError::AlreadyBooked(existing)) => assert_eq!(existing.id.as_str(), "b1"),
        other => panic!("expected already booked, got {other:?}"),
    }
}

#[test]
fn a_cancellation_promotes_the_oldest_waitlisted_booking() {
    let (mut ledger, slot_id) = ledger_with_slot(1);
    ledger.book(request(&slot_id, "m1", "b1", false)).expect("seat free");
    let second = ledger.book(request(&slot_id, "m2", "b2", true)).expect("waitlist");
    assert_eq!(second.result.booking.status, BookingStatus::Waitlisted);
    assert_eq!(second.result.booking.waitlist_position, Some(1));
    let third = ledger.book(request(&slot_id, "m3", "b3", true)).expect("waitlist");
    assert_eq!(third.result.booking.waitlist_position, Some(2));

    let (result, _) =
        ledger.cancel(&BookingId::new("b1"), &MemberId::new("m1"), false, now()).expect("own booking");
    assert_eq!(result.booking.status, BookingStatus::Cancelled);
    assert_eq!(result.slot.booked, 1);
    assert_eq!(result.slot.waitlisted, 1);
    let promoted = ledger.booking(&BookingId::new("b2")).expect("exists");
    assert_eq!(promoted.status, BookingStatus::Confirmed);
    let still_waiting = ledger.booking(&BookingId::new("b3")).expect("exists");
    assert_eq!(still_waiting.waitlist_position, Some(1));
}

#[test]
fn only_the_owner_or_an_operator_may_cancel_and_only_once() {
    let (mut ledger, slot_id) = ledger_with_slot(3);
    ledger.book(request(&slot_id, "m1", "b1", false)).expect("seat free");
    let stranger = ledger.cancel(&BookingId::new("b1"), &MemberId::new("m2"), false, now());
    assert!(matches!(stranger, Err(DomainError::Forbidden(_))));
    ledger.cancel(&BookingId::new("b1"), &MemberId::new("staff"), true, now()).expect("operator");
    let twice = ledger.cancel(&BookingId::new("b1"), &MemberId::new("m1"), false, now());
    assert!(matches!(twice, Err(DomainError::AlreadyCancelled(_))));
}

#[test]
fn raising_capacity_promotes_and_lowering_below_booked_is_refused() {
    let (mut ledger, slot_id) = ledger_with_slot(1);
    ledger.book(request(&slot_id, "m1", "b1", false)).expect("seat free");
    ledger.book(request(&slot_id, "m2", "b2", true)).expect("waitlist");
    ledger.book(request(&slot_id, "m3", "b3", true)).expect("waitlist");
    let (slot, _) =
        ledger.update_slot(&slot_id, &UpdateSlot { capacity: Some(2), title: None }).expect("raise");
    assert_eq!((slot.booked, slot.waitlisted), (2, 1));
    let lower = ledger.update_slot(&slot_id, &UpdateSlot { capacity: Some(1), title: None });
    assert!(matches!(lower, Err(DomainError::CapacityBelowBooked { requested: 1, booked: 2 })));
}

#[test]
fn an_idempotent_retry_replays_the_first_answer_and_takes_no_seat() {
    let (mut ledger, slot_id) = ledger_with_slot(5);
    let mut first = request(&slot_id, "m1", "b1", false);
    first.idempotency_key = Some("key-1".into());
    let answer = ledger.book(first.clone()).expect("seat free");
    let mut retry = first.clone();
    retry.new_booking_id = BookingId::new("b2");
    let replay = ledger.book(retry).expect("replayed");
    assert!(replay.replayed);
    assert_eq!(replay.result, answer.result);
    assert_eq!(ledger.slot(&slot_id).map(|slot| slot.booked), Some(1));
}

#[test]
fn booking_outside_the_window_is_closed() {
    let (mut ledger, slot_id) = ledger_with_slot(5);
    let mut late = request(&slot_id, "m1", "b1", false);
    late.now = now() + Duration::hours(6);
    assert!(matches!(ledger.book(late), Err(DomainError::BookingClosed(_))));
    let mut early = request(&slot_id, "m1", "b1", false);
    early.now = now() - Duration::days(7);
    assert!(matches!(ledger.book(early), Err(DomainError::BookingClosed(_))));
}

#[derive(Clone, Debug)]
enum Op {
    Book { slot: usize, member: usize, waitlist: bool },
    Cancel { nth: usize, by_owner: bool },
    Resize { slot: usize, capacity: u32 },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (0..3usize, 0..12usize, any::<bool>()).prop_map(|(slot, member, waitlist)| Op::Book { slot, member, waitlist }),
        2 => (0..64usize, any::<bool>()).prop_map(|(nth, by_owner)| Op::Cancel { nth, by_owner }),
        1 => (0..3usize, 1..8u32).prop_map(|(slot, capacity)| Op::Resize { slot, capacity }),
    ]
}

fn three_slot_ledger() -> (Ledger, Vec<SlotId>, Vec<Change>) {
    let mut ledger = Ledger::new();
    let mut log = Vec::new();
    let gym = Gym { id: GymId::new("gym_p"), name: "P".into(), timezone: "UTC".into(), address: "-".into() };
    log.extend(ledger.upsert_gym(gym, crate::time::DEFAULT_BOOKING_WINDOW).expect("zone"));
    let mut slots = Vec::new();
    for index in 0..3 {
        let draft = CreateSlot {
            title: format!("Class {index}"),
            starts_at: now() + Duration::hours(2 + index),
            ends_at: now() + Duration::hours(3 + index),
            capacity: 3,
        };
        let slot_id = SlotId::new(format!("slot_{index}"));
        let (_, changes) = ledger
            .create_slot(slot_id.clone(), &GymId::new("gym_p"), validate::new_slot(&draft).expect("valid"))
            .expect("created");
        log.extend(changes);
        slots.push(slot_id);
    }
    (ledger, slots, log)
}

fn check_invariants(ledger: &Ledger, slots: &[SlotId]) -> Result<(), TestCaseError> {
    for slot_id in slots {
        let slot = ledger.slot(slot_id).expect("slot exists");
        prop_assert!(slot.booked <= slot.capacity, "over capacity: {slot:?}");
        prop_assert_eq!(slot.booked + slot.available, slot.capacity);
        let of_slot: Vec<&BookingRecord> =
            ledger.bookings.values().filter(|record| &record.booking.slot_id == slot_id).collect();
        let confirmed =
            of_slot.iter().filter(|record| record.booking.status == BookingStatus::Confirmed).count();
        let waiting =
            of_slot.iter().filter(|record| record.booking.status == BookingStatus::Waitlisted).count();
        prop_assert_eq!(slot.booked as usize, confirmed);
        prop_assert_eq!(slot.waitlisted as usize, waiting);
        if waiting > 0 {
            prop_assert_eq!(slot.available, 0, "someone waits while a seat is free");
        }
        let mut members: Vec<&MemberId> = of_slot
            .iter()
            .filter(|record| record.booking.status.is_active())
            .map(|record| &record.booking.member_id)
            .collect();
        let active = members.len();
        members.sort();
        members.dedup();
        prop_assert_eq!(members.len(), active, "a member holds two active bookings");
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn no_sequence_of_requests_breaks_the_capacity_invariants(ops in prop::collection::vec(op(), 1..120)) {
        let (mut ledger, slots, mut log) = three_slot_ledger();
        let mut made: Vec<(BookingId, MemberId)> = Vec::new();
        for (step, op) in ops.into_iter().enumerate() {
            match op {
                Op::Book { slot, member, waitlist } => {
                    let member_id = MemberId::new(format!("m{member}"));
                    let booking_id = BookingId::new(format!("b{step}"));
                    let outcome = ledger.book(BookRequest {
                        slot_id: slots[slot].clone(),
                        member_id: member_id.clone(),
                        waitlist,
                        idempotency_key: None,
                        new_booking_id: booking_id.clone(),
                        now: now(),
                    });
                    if let Ok(outcome) = outcome {
                        made.push((booking_id, member_id));
                        log.extend(outcome.changes);
                    }
                }
                Op::Cancel { nth, by_owner } => {
                    if made.is_empty() { continue; }
                    let (booking_id, owner) = &made[nth % made.len()];
                    let actor = if by_owner { owner.clone() } else { MemberId::new("intruder") };
                    match ledger.cancel(booking_id, &actor, false, now()) {
                        Ok((_, changes)) => log.extend(changes),
                        Err(error) => prop_assert!(matches!(error, DomainError::Forbidden(_) | DomainError::AlreadyCancelled(_))),
                    }
                }
                Op::Resize { slot, capacity } => {
                    if let Ok((_, changes)) = ledger.update_slot(&slots[slot], &UpdateSlot { capacity: Some(capacity), title: None }) {
                        log.extend(changes);
                    }
                }
            }
            check_invariants(&ledger, &slots)?;
        }

        // Recovery: replaying the persisted rows rebuilds exactly the same state.
        let mut rebuilt = Ledger::new();
        rebuilt.restore(&log);
        for slot_id in &slots {
            prop_assert_eq!(rebuilt.slot(slot_id), ledger.slot(slot_id));
        }
        for (booking_id, _) in &made {
            prop_assert_eq!(rebuilt.booking(booking_id), ledger.booking(booking_id));
        }
    }
}
