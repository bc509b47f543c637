//! Screens with their hooks, over a fake API injected as context.

use std::cell::RefCell;
use std::rc::Rc;

use dioxus::prelude::*;
use gym_app::api::{ApiError, ApiHandle};
use gym_app::app::AppState;
use gym_app::views::{MyBookingsScreen, ScheduleScreen, SlotDetailScreen};
use gym_core::SlotId;
use gym_core::wire::{BookingResult, BookingStatus};

use crate::fixtures::{Clickable, FakeApi, booking, gym, session, settle, slot};

#[component]
fn ScheduleHarness() -> Element {
    use_context_provider(|| AppState::new(Some(session())));
    rsx! { ScheduleScreen {} }
}

#[component]
fn SlotHarness() -> Element {
    let mut app = use_context_provider(|| AppState::new(Some(session())));
    use_hook(move || app.gym.set(Some(gym())));
    rsx! { SlotDetailScreen { slot_id: SlotId::new("slot_a") } }
}

#[component]
fn BookingsHarness() -> Element {
    use_context_provider(|| AppState::new(Some(session())));
    rsx! { MyBookingsScreen {} }
}

fn dom(root: fn() -> Element, api: FakeApi) -> VirtualDom {
    VirtualDom::new(root).with_root_context(ApiHandle(Rc::new(api)))
}

#[tokio::test]
async fn the_schedule_loads_gyms_then_the_day_and_shows_the_slots() {
    let api = FakeApi {
        gyms: Some(Ok(vec![gym()])),
        slots: Some(Ok(vec![slot("slot_a", "Spin", 18, 30, 3)])),
        ..FakeApi::default()
    };
    let mut dom = dom(ScheduleHarness, api);
    let html = settle(&mut dom, "12 left").await;
    assert!(html.contains("Downtown Loft") && html.contains("Spin"), "{html}");
}

#[tokio::test]
async fn the_schedule_stays_in_a_loading_state_while_the_network_is_slow() {
    let api = FakeApi { gyms: Some(Ok(vec![gym()])), slots: None, ..FakeApi::default() };
    let mut dom = dom(ScheduleHarness, api);
    let html = settle(&mut dom, "Loading the schedule").await;
    assert!(html.contains("aria-busy"), "{html}");
}

#[tokio::test]
async fn the_schedule_shows_a_network_failure_in_plain_words() {
    let api =
        FakeApi { gyms: Some(Err(ApiError::Network("connection refused".into()))), ..FakeApi::default() };
    let mut dom = dom(ScheduleHarness, api);
    let html = settle(&mut dom, "Check your connection").await;
    assert!(html.contains("Try again"), "{html}");
}

#[tokio::test]
async fn the_slot_screen_shows_the_members_own_booking() {
    let api = FakeApi {
        slot: Some(Ok(slot("slot_a", "Spin", 12, 30, 5))),
        bookings: Some(Ok(vec![booking("slot_a", BookingStatus::Confirmed, None)])),
        ..FakeApi::default()
    };
    let mut dom = dom(SlotHarness, api);
    let html = settle(&mut dom, "You're booked").await;
    assert!(html.contains("18 places left") || html.contains("places left"), "{html}");
}

#[tokio::test]
async fn my_bookings_lists_upcoming_places_with_their_slots() {
    let api = FakeApi {
        gyms: Some(Ok(vec![gym()])),
        slot: Some(Ok(slot("slot_a", "Spin", 12, 30, 5))),
        bookings: Some(Ok(vec![booking("slot_a", BookingStatus::Waitlisted, Some(4))])),
        ..FakeApi::default()
    };
    let mut dom = dom(BookingsHarness, api);
    let html = settle(&mut dom, "Waitlist #4").await;
    assert!(html.contains("Spin"), "{html}");
}

#[tokio::test]
async fn a_booking_retried_after_a_network_failure_reuses_its_idempotency_key() {
    let booked = BookingResult {
        booking: booking("slot_a", BookingStatus::Confirmed, None),
        slot: slot("slot_a", "Spin", 13, 30, 5),
    };
    let api = FakeApi {
        slot: Some(Ok(slot("slot_a", "Spin", 12, 30, 5))),
        bookings: Some(Ok(vec![])),
        book_answers: Rc::new(RefCell::new(vec![
            Err(ApiError::Network("connection reset".into())),
            Ok(booked),
        ])),
        ..FakeApi::default()
    };
    let keys = api.book_keys.clone();
    let mut screen = Clickable::new(dom(SlotHarness, api));

    // The first try is lost on the way: the member is told so, and offered a safe retry.
    let (_, book) = screen.settle("Book a place").await;
    screen.click(book);
    let (html, retry) = screen.settle("Try again safely").await;
    assert!(html.contains("never be booked twice"), "{html}");
    screen.click(retry);
    // The retry succeeds; a booking made afterwards is a new intent.
    let (_, book_again) = screen.settle("Book a place").await;
    screen.click(book_again);
    screen.settle("Booking your place…").await;

    let keys = keys.borrow();
    assert_eq!(keys.len(), 3, "{keys:?}");
    assert_eq!(keys[0], keys[1], "the retry must reuse the first attempt's key");
    assert_ne!(keys[1], keys[2], "a new booking after a confirmed one gets a fresh key");
}
