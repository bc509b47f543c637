//! My bookings: upcoming confirmed and waitlisted places, with cancel.

use chrono::Utc;
use dioxus::prelude::*;
use gym_core::wire::{Booking, BookingStatus, Gym, Slot};
use gym_core::{BookingId, SlotId};

use crate::api::ApiError;
use crate::app::{Screen, use_api, use_app};
use crate::components::{EmptyState, ErrorNotice, Loadable, SkeletonList, ToastKind};
use crate::format;

/// A booking with its slot.
#[derive(Clone, Debug, PartialEq)]
pub struct UpcomingBooking {
    /// The booking.
    pub booking: Booking,
    /// Its slot.
    pub slot: Slot,
}

/// The list of upcoming bookings.
#[component]
pub fn MyBookingsView(
    bookings: Loadable<Vec<UpcomingBooking>>,
    gyms: Vec<Gym>,
    /// The booking being cancelled right now, if any.
    cancelling: Option<BookingId>,
    on_cancel: EventHandler<BookingId>,
    on_open: EventHandler<SlotId>,
    on_retry: EventHandler<()>,
) -> Element {
    let list = match bookings {
        Loadable::Loading => return rsx! { SkeletonList { rows: 3, label: "Loading your bookings…" } },
        Loadable::Failed(message) => return rsx! { ErrorNotice { message, on_retry } },
        Loadable::Ready(list) if list.is_empty() => {
            return rsx! { EmptyState { title: "No upcoming bookings", detail: "Pick a class on the schedule and book your place." } };
        }
        Loadable::Ready(list) => list,
    };
    rsx! {
        section { class: "my-bookings",
            h2 { class: "section-title", "Upcoming" }
            ul { class: "booking-list",
                for item in list {
                    {
                        let gym = gyms.iter().find(|gym| gym.id == item.slot.gym_id);
                        let tz = format::zone(gym.map_or("UTC", |gym| gym.timezone.as_str()));
                        let when = format!("{} · {}", format::day(item.slot.starts_at, tz), format::time_range(item.slot.starts_at, item.slot.ends_at, tz));
                        let place = gym.map_or_else(String::new, |gym| gym.name.clone());
                        let (badge_class, badge) = match (item.booking.status, item.booking.waitlist_position) {
                            (BookingStatus::Waitlisted, Some(position)) => ("badge badge-waitlisted", format!("Waitlist #{position}")),
                            (BookingStatus::Waitlisted, None) => ("badge badge-waitlisted", "Waitlisted".to_string()),
                            _ => ("badge badge-booked", "Booked".to_string()),
                        };
                        let booking_id = item.booking.id.clone();
                        let slot_id = item.slot.id.clone();
                        let is_cancelling = cancelling.as_ref() == Some(&item.booking.id);
                        rsx! {
                            li { key: "{item.booking.id}", class: "booking-card",
                                button { class: "booking-open", onclick: move |_| on_open.call(slot_id.clone()),
                                    span { class: "booking-title", "{item.slot.title}" }
                                    span { class: "booking-when", "{when}" }
                                    span { class: "booking-place", "{place}" }
                                }
                                span { class: "{badge_class}", "{badge}" }
                                button {
                                    class: "button button-ghost",
                                    disabled: is_cancelling,
                                    "aria-label": "Cancel {item.slot.title}",
                                    onclick: move |_| on_cancel.call(booking_id.clone()),
                                    if is_cancelling { "Cancelling…" } else { "Cancel" }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// The bookings screen: fetches the member's bookings and their slots.
#[component]
pub fn MyBookingsScreen() -> Element {
    let api = use_api();
    let mut app = use_app();
    let mut cancelling = use_signal(|| None::<BookingId>);
    let list_api = api.clone();
    let mut bookings = use_resource(move || {
        let api = list_api.clone();
        let token = app.session.read().as_ref().map(|session| session.token.clone()).unwrap_or_default();
        async move {
            let bookings = api.0.my_bookings(token).await?;
            let active: Vec<Booking> =
                bookings.into_iter().filter(|booking| booking.status.is_active()).collect();
            let slots =
                futures::future::join_all(active.iter().map(|booking| api.0.slot(booking.slot_id.clone())))
                    .await;
            let now = Utc::now();
            let mut upcoming: Vec<UpcomingBooking> = active
                .into_iter()
                .zip(slots)
                .filter_map(|(booking, slot)| slot.ok().map(|slot| UpcomingBooking { booking, slot }))
                .filter(|item| item.slot.ends_at > now)
                .collect();
            upcoming.sort_by_key(|item| item.slot.starts_at);
            Ok::<_, ApiError>(upcoming)
        }
    });
    let gyms_api = api.clone();
    let gyms = use_resource(move || {
        let api = gyms_api.clone();
        async move { api.0.gyms().await }
    });
    use_effect(move || {
        if let Some(Err(ApiError::Unauthorized)) = &*bookings.read() {
            app.expire();
        }
    });
    let state = match &*bookings.read() {
        None => Loadable::Loading,
        Some(Ok(list)) => Loadable::Ready(list.clone()),
        Some(Err(error)) => Loadable::Failed(error.human()),
    };
    let gym_list = match &*gyms.read() {
        Some(Ok(list)) => list.clone(),
        _ => Vec::new(),
    };
    let cancel_api = api.clone();
    rsx! {
        MyBookingsView {
            bookings: state,
            gyms: gym_list,
            cancelling: cancelling(),
            on_cancel: move |booking_id: BookingId| {
                cancelling.set(Some(booking_id.clone()));
                let api = cancel_api.clone();
                let token = app.session.peek().as_ref().map(|session| session.token.clone()).unwrap_or_default();
                spawn(async move {
                    match api.0.cancel(token, booking_id).await {
                        Ok(result) => {
                            app.remember_figures(&result.slot);
                            app.toast("Cancelled — your place is free for someone else.".into(), ToastKind::Info);
                        }
                        Err(ApiError::Unauthorized) => app.expire(),
                        Err(error) => app.toast(error.human(), ToastKind::Error),
                    }
                    cancelling.set(None);
                    bookings.restart();
                });
            },
            on_open: move |slot_id| app.screen.set(Screen::Slot(slot_id)),
            on_retry: move |()| bookings.restart(),
        }
    }
}
