//! Test data, a fake API and rendering helpers.

use std::cell::RefCell;
use std::rc::Rc;

use chrono::{Duration, Utc};
use std::any::Any;

use dioxus::dioxus_core::{ElementId, Mutation, Mutations, NoOpMutations};
use dioxus::html::{
    PlatformEventData, SerializedHtmlEventConverter, SerializedMouseData, set_event_converter,
};
use dioxus::prelude::*;
use futures::{FutureExt, StreamExt};
use gym_app::api::{ApiError, ApiFuture, GymApi};
use gym_core::wire::{
    Booking, BookingResult, BookingStatus, CapacityEntry, Gym, LoginResponse, Member, Slot,
};
use gym_core::{BookingId, GymId, MemberId, SlotId};

/// Renders a component tree once, synchronously.
pub fn render(root: fn() -> Element) -> String {
    let mut dom = VirtualDom::new(root);
    dom.rebuild_in_place();
    readable(dioxus_ssr::render(&dom))
}

/// HTML with the entities the assertions care about decoded.
pub fn readable(html: String) -> String {
    html.replace("&#39;", "'").replace("&quot;", "\"").replace("&amp;", "&")
}

/// Lets a tree's tasks and resources run until its HTML contains `expected`.
pub async fn settle(dom: &mut VirtualDom, expected: &str) -> String {
    dom.rebuild_in_place();
    for _ in 0..100 {
        let html = readable(dioxus_ssr::render(dom));
        if html.contains(expected) {
            return html;
        }
        let _ = tokio::time::timeout(std::time::Duration::from_millis(50), dom.wait_for_work()).await;
        dom.render_immediate(&mut NoOpMutations);
    }
    panic!("never rendered {expected:?}; last HTML:\n{}", dioxus_ssr::render(dom));
}

/// A screen a test can click through: the DOM plus every mutation so far,
/// from which the elements listening for clicks are known.
pub struct Clickable {
    dom: VirtualDom,
    edits: Mutations,
}

impl Clickable {
    /// Builds the tree once.
    pub fn new(mut dom: VirtualDom) -> Self {
        let mut edits = Mutations::default();
        dom.rebuild(&mut edits);
        Self { dom, edits }
    }

    /// Lets tasks and resources run until the HTML contains `expected`;
    /// returns the HTML and the newest element listening for clicks (the
    /// button that appeared last).
    pub async fn settle(&mut self, expected: &str) -> (String, ElementId) {
        for _ in 0..100 {
            let html = readable(dioxus_ssr::render(&self.dom));
            let newest_button = self.edits.edits.iter().rev().find_map(|edit| match edit {
                Mutation::NewEventListener { name, id } if name == "click" => Some(*id),
                _ => None,
            });
            if html.contains(expected)
                && let Some(button) = newest_button
            {
                return (html, button);
            }
            let _ =
                tokio::time::timeout(std::time::Duration::from_millis(50), self.dom.wait_for_work()).await;
            self.dom.render_immediate(&mut self.edits);
        }
        panic!("never rendered {expected:?} with a button; last HTML:\n{}", dioxus_ssr::render(&self.dom));
    }

    /// Clicks an element the way a renderer delivers the event.
    pub fn click(&self, element: ElementId) {
        set_event_converter(Box::new(SerializedHtmlEventConverter));
        let data = PlatformEventData::new(Box::new(SerializedMouseData::default()));
        self.dom.runtime().handle_event("click", Event::new(Rc::new(data) as Rc<dyn Any>, true), element);
    }
}

pub fn gym() -> Gym {
    Gym {
        id: GymId::new("gym_downtown"),
        name: "Downtown Loft".into(),
        timezone: "Europe/Berlin".into(),
        address: "Torstraße 118, Berlin".into(),
    }
}

pub fn slot(id: &str, title: &str, booked: u32, capacity: u32, starts_in_hours: i64) -> Slot {
    let starts_at = Utc::now() + Duration::hours(starts_in_hours);
    Slot {
        id: SlotId::new(id),
        gym_id: GymId::new("gym_downtown"),
        title: title.into(),
        starts_at,
        ends_at: starts_at + Duration::hours(1),
        capacity,
        booked,
        available: capacity.saturating_sub(booked),
        waitlisted: 0,
    }
}

pub fn booking(slot_id: &str, status: BookingStatus, position: Option<u32>) -> Booking {
    Booking {
        id: BookingId::new(format!("bkg_{slot_id}")),
        slot_id: SlotId::new(slot_id),
        member_id: MemberId::new("mbr_alex"),
        status,
        created_at: Utc::now(),
        waitlist_position: position,
    }
}

pub fn session() -> gym_app::session::Session {
    gym_app::session::Session {
        token: "token".into(),
        member: Member {
            id: MemberId::new("mbr_alex"),
            name: "Alex Rivera".into(),
            email: "alex@demo.gym".into(),
        },
        expires_at: i64::MAX,
    }
}

/// A scripted backend: each call answers from the script (or never, to show loading).
#[derive(Clone, Default)]
pub struct FakeApi {
    pub gyms: Option<Result<Vec<Gym>, ApiError>>,
    pub slots: Option<Result<Vec<Slot>, ApiError>>,
    pub slot: Option<Result<Slot, ApiError>>,
    pub bookings: Option<Result<Vec<Booking>, ApiError>>,
    pub book_answers: Rc<RefCell<Vec<Result<BookingResult, ApiError>>>>,
    pub book_keys: Rc<RefCell<Vec<String>>>,
}

fn answer<T: Clone + 'static>(scripted: &Option<Result<T, ApiError>>) -> ApiFuture<T> {
    match scripted.clone() {
        Some(result) => async move { result }.boxed_local(),
        None => futures::future::pending().boxed_local(),
    }
}

impl GymApi for FakeApi {
    fn login(&self, _email: String, _password: String) -> ApiFuture<LoginResponse> {
        futures::future::pending().boxed_local()
    }
    fn gyms(&self) -> ApiFuture<Vec<Gym>> {
        answer(&self.gyms)
    }
    fn slots(&self, _gym: GymId, _day: String) -> ApiFuture<Vec<Slot>> {
        answer(&self.slots)
    }
    fn slot(&self, _slot: SlotId) -> ApiFuture<Slot> {
        answer(&self.slot)
    }
    fn book(&self, _token: String, _slot: SlotId, _waitlist: bool, key: String) -> ApiFuture<BookingResult> {
        self.book_keys.borrow_mut().push(key);
        let next = if self.book_answers.borrow().is_empty() {
            None
        } else {
            Some(self.book_answers.borrow_mut().remove(0))
        };
        answer(&next)
    }
    fn cancel(&self, _token: String, _booking: BookingId) -> ApiFuture<BookingResult> {
        futures::future::pending().boxed_local()
    }
    fn my_bookings(&self, _token: String) -> ApiFuture<Vec<Booking>> {
        answer(&self.bookings)
    }
    fn capacity_stream(
        &self,
        _gym: GymId,
    ) -> futures::stream::LocalBoxStream<'static, Result<CapacityEntry, ApiError>> {
        futures::stream::pending().boxed_local()
    }
}
