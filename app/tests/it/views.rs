//! Every state of every view, rendered to HTML without a window.

use std::collections::HashMap;

use dioxus::prelude::*;
use gym_app::components::{CapacityRing, Loadable, Toast, ToastKind, ToastMessage};
use gym_app::format::DayTab;
use gym_app::views::{
    ActionState, MyBookingsView, ScheduleView, SignInView, SlotDetailView, UpcomingBooking,
};
use gym_core::wire::{BookingStatus, CapacityEntry};
use gym_core::{GymId, SlotId};

use crate::fixtures::{booking, gym, render, slot};

fn days() -> Vec<DayTab> {
    vec![
        DayTab { label: "Today".into(), date: "2026-11-24".into() },
        DayTab { label: "Tomorrow".into(), date: "2026-11-25".into() },
    ]
}

#[test]
fn the_ring_says_how_full_a_slot_is_in_words_and_numbers() {
    let html = render(|| rsx! { CapacityRing { booked: 18, capacity: 30 } });
    assert!(html.contains(r#"aria-label="18 of 30 places booked""#), "{html}");
    assert!(html.contains(">12<") && html.contains("ring-busy"), "18 of 30 is busy: {html}");
    let calm = render(|| rsx! { CapacityRing { booked: 3, capacity: 30 } });
    assert!(calm.contains("ring-calm") && calm.contains(">27<"), "{calm}");
    let full = render(|| rsx! { CapacityRing { booked: 30, capacity: 30, large: true, size: 220 } });
    assert!(full.contains("Full") && full.contains("ring-full") && full.contains("30 / 30 booked"), "{full}");
    let busy = render(|| rsx! { CapacityRing { booked: 28, capacity: 30, large: true, size: 220 } });
    assert!(busy.contains("places left") && busy.contains("ring-almost-full"), "{busy}");
}

#[test]
fn an_over_capacity_ring_is_drawn_full_not_beyond() {
    let html = render(|| rsx! { CapacityRing { booked: 45, capacity: 30 } });
    assert!(html.contains(r#"stroke-dashoffset="0.00""#), "{html}");
}

#[test]
fn the_schedule_shows_skeletons_while_gyms_load() {
    let html = render(|| {
        rsx! {
            ScheduleView { gyms: Loadable::Loading, selected_gym: None, days: days(), selected_day: 0, slots: Loadable::Loading,
                live: HashMap::new(), on_pick_gym: |_| {}, on_pick_day: |_| {}, on_open_slot: |_| {}, on_retry: |_| {} }
        }
    });
    assert!(html.contains("aria-busy") && html.contains("Loading gyms"), "{html}");
}

#[test]
fn the_schedule_explains_a_failure_and_offers_retry() {
    let html = render(|| {
        rsx! {
            ScheduleView { gyms: Loadable::Failed("We can't reach the gym right now.".into()), selected_gym: None, days: days(), selected_day: 0,
                slots: Loadable::Loading, live: HashMap::new(), on_pick_gym: |_| {}, on_pick_day: |_| {}, on_open_slot: |_| {}, on_retry: |_| {} }
        }
    });
    assert!(
        html.contains(r#"role="alert""#)
            && html.contains("We can't reach the gym")
            && html.contains("Try again"),
        "{html}"
    );
}

#[test]
fn the_schedule_says_when_there_are_no_gyms_or_no_classes() {
    let no_gyms = render(|| {
        rsx! {
            ScheduleView { gyms: Loadable::Ready(vec![]), selected_gym: None, days: days(), selected_day: 0, slots: Loadable::Loading,
                live: HashMap::new(), on_pick_gym: |_| {}, on_pick_day: |_| {}, on_open_slot: |_| {}, on_retry: |_| {} }
        }
    });
    assert!(no_gyms.contains("No gyms yet"), "{no_gyms}");
    let no_slots = render(|| {
        rsx! {
            ScheduleView { gyms: Loadable::Ready(vec![gym()]), selected_gym: None, days: days(), selected_day: 1, slots: Loadable::Ready(vec![]),
                live: HashMap::new(), on_pick_gym: |_| {}, on_pick_day: |_| {}, on_open_slot: |_| {}, on_retry: |_| {} }
        }
    });
    assert!(no_slots.contains("Nothing on this day") && no_slots.contains("Downtown Loft"), "{no_slots}");
}

#[test]
fn the_schedule_lists_slots_with_seats_left_full_and_started() {
    let html = render(|| {
        rsx! {
            ScheduleView { gyms: Loadable::Ready(vec![gym()]), selected_gym: Some(GymId::new("gym_downtown")), days: days(), selected_day: 0,
                slots: Loadable::Ready(vec![slot("slot_a", "Spin", 18, 30, 3), slot("slot_b", "Boxing", 14, 14, 4), slot("slot_c", "Yoga", 2, 20, -1)]),
                live: HashMap::new(), on_pick_gym: |_| {}, on_pick_day: |_| {}, on_open_slot: |_| {}, on_retry: |_| {} }
        }
    });
    assert!(html.contains("Spin") && html.contains("12 left"), "{html}");
    assert!(html.contains("Full · join the waitlist"), "{html}");
    assert!(html.contains("Started") && html.contains("slot-card-past"), "{html}");
    assert!(html.contains(r#"aria-selected="true""#), "the chosen day and gym are marked: {html}");
}

#[test]
fn live_figures_override_the_fetched_ones() {
    let html = render(|| {
        let mut live = HashMap::new();
        live.insert(SlotId::new("slot_a"), CapacityEntry::new(SlotId::new("slot_a"), 30, 29));
        rsx! {
            ScheduleView { gyms: Loadable::Ready(vec![gym()]), selected_gym: None, days: days(), selected_day: 0,
                slots: Loadable::Ready(vec![slot("slot_a", "Spin", 18, 30, 3)]), live,
                on_pick_gym: |_| {}, on_pick_day: |_| {}, on_open_slot: |_| {}, on_retry: |_| {} }
        }
    });
    assert!(html.contains("1 left") && html.contains("29 of 30 places booked"), "{html}");
}

fn detail(
    slot: Loadable<gym_core::wire::Slot>,
    booking: Option<gym_core::wire::Booking>,
    action: ActionState,
) -> Element {
    rsx! { SlotDetailView { slot, gym: Some(gym()), booking, action, on_book: |_| {}, on_cancel: |_| {}, on_back: |_| {}, on_retry: |_| {} } }
}

#[test]
fn the_slot_screen_has_loading_and_error_states() {
    let loading = render(|| detail(Loadable::Loading, None, ActionState::Idle));
    assert!(loading.contains("aria-busy") && loading.contains("Loading the class"), "{loading}");
    let failed =
        render(|| detail(Loadable::Failed("This class no longer exists.".into()), None, ActionState::Idle));
    assert!(failed.contains("This class no longer exists.") && failed.contains("Try again"), "{failed}");
}

#[test]
fn an_open_slot_offers_booking_and_a_full_one_the_waitlist() {
    let open = render(|| detail(Loadable::Ready(slot("slot_a", "Spin", 12, 30, 5)), None, ActionState::Idle));
    assert!(open.contains("Book a place") && open.contains("Spin") && open.contains("Calm"), "{open}");
    let full = render(|| detail(Loadable::Ready(slot("slot_a", "Spin", 30, 30, 5)), None, ActionState::Idle));
    assert!(full.contains("Join the waitlist") && full.contains("This class is full"), "{full}");
}

#[test]
fn the_slot_screen_shows_a_booked_or_waitlisted_member_where_they_stand() {
    let booked = render(|| {
        detail(
            Loadable::Ready(slot("slot_a", "Spin", 12, 30, 5)),
            Some(booking("slot_a", BookingStatus::Confirmed, None)),
            ActionState::Idle,
        )
    });
    assert!(booked.contains("You're booked") && booked.contains("Cancel my booking"), "{booked}");
    let waiting = render(|| {
        detail(
            Loadable::Ready(slot("slot_a", "Spin", 30, 30, 5)),
            Some(booking("slot_a", BookingStatus::Waitlisted, Some(3))),
            ActionState::Idle,
        )
    });
    assert!(
        waiting.contains("You're #3 on the waitlist") && waiting.contains("Leave the waitlist"),
        "{waiting}"
    );
}

#[test]
fn a_started_slot_cannot_be_booked() {
    let html = render(|| detail(Loadable::Ready(slot("slot_a", "Spin", 3, 30, -1)), None, ActionState::Idle));
    assert!(html.contains("booking is closed") && !html.contains("Book a place"), "{html}");
}

#[test]
fn a_booking_in_flight_and_an_unconfirmed_one_are_never_ambiguous() {
    let working = render(|| {
        detail(
            Loadable::Ready(slot("slot_a", "Spin", 3, 30, 5)),
            None,
            ActionState::Working("Booking your place…".into()),
        )
    });
    assert!(working.contains("Booking your place…") && !working.contains("Book a place"), "{working}");
    let unsure = render(|| {
        detail(
            Loadable::Ready(slot("slot_a", "Spin", 3, 30, 5)),
            None,
            ActionState::Unconfirmed { message: "We couldn't confirm your booking".into(), waitlist: false },
        )
    });
    assert!(
        unsure.contains("We couldn't confirm your booking") && unsure.contains("Try again safely"),
        "{unsure}"
    );
}

#[test]
fn my_bookings_has_loading_error_empty_and_list_states() {
    let loading = render(
        || rsx! { MyBookingsView { bookings: Loadable::Loading, gyms: vec![], cancelling: None, on_cancel: |_| {}, on_open: |_| {}, on_retry: |_| {} } },
    );
    assert!(loading.contains("Loading your bookings"), "{loading}");
    let failed = render(
        || rsx! { MyBookingsView { bookings: Loadable::Failed("offline".into()), gyms: vec![], cancelling: None, on_cancel: |_| {}, on_open: |_| {}, on_retry: |_| {} } },
    );
    assert!(failed.contains("offline") && failed.contains("Try again"), "{failed}");
    let empty = render(
        || rsx! { MyBookingsView { bookings: Loadable::Ready(vec![]), gyms: vec![], cancelling: None, on_cancel: |_| {}, on_open: |_| {}, on_retry: |_| {} } },
    );
    assert!(empty.contains("No upcoming bookings"), "{empty}");
    let list = render(|| {
        let items = vec![
            UpcomingBooking {
                booking: booking("slot_a", BookingStatus::Confirmed, None),
                slot: slot("slot_a", "Spin", 3, 30, 5),
            },
            UpcomingBooking {
                booking: booking("slot_b", BookingStatus::Waitlisted, Some(2)),
                slot: slot("slot_b", "Boxing", 14, 14, 6),
            },
        ];
        rsx! { MyBookingsView { bookings: Loadable::Ready(items), gyms: vec![gym()], cancelling: Some(gym_core::BookingId::new("bkg_slot_b")),
        on_cancel: |_| {}, on_open: |_| {}, on_retry: |_| {} } }
    });
    assert!(
        list.contains("Spin")
            && list.contains("Booked")
            && list.contains("Waitlist #2")
            && list.contains("Cancelling…"),
        "{list}"
    );
    assert!(list.contains("Downtown Loft"), "{list}");
}

#[test]
fn sign_in_has_idle_busy_error_and_expired_states() {
    let idle = render(|| rsx! { SignInView { busy: false, error: None, notice: None, on_submit: |_| {} } });
    assert!(
        idle.contains("Sign in") && idle.contains(r#"type="email""#) && idle.contains("alex@demo.gym"),
        "{idle}"
    );
    let busy = render(|| rsx! { SignInView { busy: true, error: None, notice: None, on_submit: |_| {} } });
    assert!(busy.contains("Signing in…"), "{busy}");
    let error = render(
        || rsx! { SignInView { busy: false, error: Some("That email and password don't match.".into()), notice: None, on_submit: |_| {} } },
    );
    assert!(error.contains(r#"role="alert""#) && error.contains("don't match"), "{error}");
    let expired = render(
        || rsx! { SignInView { busy: false, error: None, notice: Some("Your session has expired. Please sign in again.".into()), on_submit: |_| {} } },
    );
    assert!(expired.contains("Your session has expired"), "{expired}");
}

#[test]
fn a_toast_is_announced_politely() {
    let html = render(
        || rsx! { Toast { message: ToastMessage { text: "Booked — see you at 18:00".into(), kind: ToastKind::Success }, on_dismiss: |_| {} } },
    );
    assert!(html.contains(r#"aria-live="polite""#) && html.contains("Booked — see you at 18:00"), "{html}");
}
