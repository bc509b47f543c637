//! One slot: the big live ring and the booking actions.

use chrono::Utc;
use dioxus::prelude::*;
use gym_core::wire::{Booking, BookingResult, BookingStatus, Gym, Slot};
use gym_core::{BookingId, ErrorCode, Fullness, SlotId};

use crate::api::ApiError;
use crate::app::{Screen, use_api, use_app};
use crate::components::{CapacityRing, ErrorNotice, Loadable, Spinner, ToastKind};
use crate::format;
use crate::platform;

/// Where a booking action stands.
#[derive(Clone, Debug, PartialEq)]
pub enum ActionState {
    /// Nothing in progress.
    Idle,
    /// A request is on its way.
    Working(String),
    /// The outcome is unknown (the network failed): retrying is safe, it reuses the same key.
    Unconfirmed {
        /// What to say.
        message: String,
        /// Whether the failed request joined the waitlist.
        waitlist: bool,
    },
}

/// The `Idempotency-Key` for a booking attempt: a retry of the attempt still
/// unconfirmed (same slot screen, same kind of request) reuses its key, so
/// the server answers it with the first result instead of taking a second
/// place; anything else is a new intent and gets a fresh key.
pub fn attempt_key(
    pending: Option<(bool, String)>,
    waitlist: bool,
    fresh: impl FnOnce() -> String,
) -> String {
    match pending {
        Some((pending_waitlist, key)) if pending_waitlist == waitlist => key,
        _ => fresh(),
    }
}

/// The slot screen's content.
#[component]
pub fn SlotDetailView(
    slot: Loadable<Slot>,
    gym: Option<Gym>,
    /// The member's active booking of this slot, if any.
    booking: Option<Booking>,
    action: ActionState,
    on_book: EventHandler<bool>,
    on_cancel: EventHandler<BookingId>,
    on_back: EventHandler<()>,
    on_retry: EventHandler<()>,
) -> Element {
    let back = rsx! {
        button { class: "back", onclick: move |_| on_back.call(()), "aria-label": "Back to the schedule", "‹ Schedule" }
    };
    let slot = match slot {
        Loadable::Loading => {
            return rsx! {
                {back}
                div { class: "slot-detail slot-detail-loading", role: "status", "aria-busy": "true",
                    div { class: "skeleton-ring" }
                    div { class: "skeleton-line wide" }
                    span { class: "visually-hidden", "Loading the class…" }
                }
            };
        }
        Loadable::Failed(message) => return rsx! { {back} ErrorNotice { message, on_retry } },
        Loadable::Ready(slot) => slot,
    };
    let tz = format::zone(gym.as_ref().map_or("UTC", |gym| gym.timezone.as_str()));
    let started = slot.starts_at <= Utc::now();
    let fullness = slot.fullness();
    let when = format!(
        "{} · {}",
        format::day(slot.starts_at, tz),
        format::time_range(slot.starts_at, slot.ends_at, tz)
    );
    let busy = matches!(action, ActionState::Working(_));
    rsx! {
        {back}
        article { class: "slot-detail",
            header { class: "slot-header",
                h2 { "{slot.title}" }
                p { class: "slot-when", "{when}" }
                if let Some(gym) = &gym {
                    p { class: "slot-place", "{gym.name} · {gym.address}" }
                }
            }
            div { class: "ring-stage",
                CapacityRing { booked: slot.booked, capacity: slot.capacity, size: 220, large: true }
                p { class: "fullness fullness-{fullness.css_class()}", "{fullness.label()}" }
                if slot.waitlisted > 0 {
                    p { class: "waitlist-count", "{slot.waitlisted} on the waitlist" }
                }
            }
            div { class: "booking-panel",
                match (&booking, &action) {
                    (_, ActionState::Working(label)) => rsx! { Spinner { label: label.clone() } },
                    (_, ActionState::Unconfirmed { message, waitlist }) => {
                        let waitlist = *waitlist;
                        rsx! {
                            ErrorNotice {
                                message: message.clone(),
                                retry_label: "Try again safely",
                                on_retry: move |()| on_book.call(waitlist),
                            }
                        }
                    }
                    (Some(booking), _) if booking.status == BookingStatus::Confirmed => {
                        let id = booking.id.clone();
                        rsx! {
                            p { class: "badge badge-booked", "✓ You're booked" }
                            if !started {
                                button { id: "cancel-booking", class: "button button-secondary button-block", disabled: busy,
                                    onclick: move |_| on_cancel.call(id.clone()), "Cancel my booking" }
                            }
                        }
                    }
                    (Some(booking), _) => {
                        let id = booking.id.clone();
                        let place = booking.waitlist_position.map_or_else(String::new, |position| format!(" #{position}"));
                        rsx! {
                            p { class: "badge badge-waitlisted", "You're{place} on the waitlist" }
                            p { class: "hint", "We'll give you the place automatically if someone cancels." }
                            button { id: "leave-waitlist", class: "button button-secondary button-block", disabled: busy,
                                onclick: move |_| on_cancel.call(id.clone()), "Leave the waitlist" }
                        }
                    }
                    (None, _) if started => rsx! { p { class: "hint", "This class has started — booking is closed." } },
                    (None, _) if fullness == Fullness::Full => rsx! {
                        p { class: "hint", "This class is full." }
                        button { id: "join-waitlist", class: "button button-primary button-block", disabled: busy,
                            onclick: move |_| on_book.call(true), "Join the waitlist" }
                    },
                    (None, _) => rsx! {
                        button { id: "book", class: "button button-primary button-block", disabled: busy,
                            onclick: move |_| on_book.call(false), "Book a place" }
                    },
                }
            }
        }
    }
}

/// The slot screen: fetches the slot and the member's bookings, books and cancels.
#[component]
pub fn SlotDetailScreen(slot_id: SlotId) -> Element {
    let api = use_api();
    let mut app = use_app();
    let mut action = use_signal(|| ActionState::Idle);
    // The key of the booking attempt in flight or unconfirmed: a retry reuses
    // it, so a flaky network can never take two places.
    let mut pending_key = use_signal(|| None::<(bool, String)>);
    let mut latest = use_signal(|| None::<Slot>);
    let id_for_slot = slot_id.clone();
    let slot_api = api.clone();
    let mut slot = use_resource(move || {
        let (api, id) = (slot_api.clone(), id_for_slot.clone());
        async move { api.0.slot(id).await }
    });
    let mine_api = api.clone();
    let mut mine = use_resource(move || {
        let api = mine_api.clone();
        let token = app.session.read().as_ref().map(|session| session.token.clone()).unwrap_or_default();
        async move { api.0.my_bookings(token).await }
    });

    let fetched = match &*slot.read() {
        None => Loadable::Loading,
        Some(Ok(slot)) => Loadable::Ready(slot.clone()),
        Some(Err(error)) => Loadable::Failed(error.human()),
    };
    // The freshest figures win: live stream, then our own last answer, then the fetch.
    let shown = match fetched {
        Loadable::Ready(mut slot) => {
            if let Some(newer) = latest.read().as_ref() {
                slot = newer.clone();
            }
            if let Some(entry) = app.live.read().get(&slot.id) {
                slot.booked = entry.booked;
                slot.capacity = entry.capacity;
                slot.available = entry.available;
            }
            Loadable::Ready(slot)
        }
        other => other,
    };
    let booking = match &*mine.read() {
        Some(Ok(bookings)) => {
            bookings.iter().find(|booking| booking.slot_id == slot_id && booking.status.is_active()).cloned()
        }
        _ => None,
    };
    let gym = app.gym.read().clone();
    let tz = format::zone(gym.as_ref().map_or("UTC", |gym| gym.timezone.as_str()));

    let book_api = api.clone();
    let book_slot = slot_id.clone();
    let on_book = move |waitlist: bool| {
        let key = attempt_key(pending_key.peek().clone(), waitlist, platform::new_idempotency_key);
        pending_key.set(Some((waitlist, key.clone())));
        action.set(ActionState::Working(if waitlist {
            "Joining the waitlist…".into()
        } else {
            "Booking your place…".into()
        }));
        let (api, slot_id) = (book_api.clone(), book_slot.clone());
        let token = app.session.peek().as_ref().map(|session| session.token.clone()).unwrap_or_default();
        spawn(async move {
            match api.0.book(token, slot_id, waitlist, key).await {
                Ok(BookingResult { booking, slot: updated }) => {
                    pending_key.set(None);
                    action.set(ActionState::Idle);
                    let text = match (booking.status, booking.waitlist_position) {
                        (BookingStatus::Waitlisted, Some(position)) => format!("You're #{position} on the waitlist"),
                        (BookingStatus::Waitlisted, None) => "You're on the waitlist".into(),
                        _ => format!("Booked — see you at {}", format::clock(updated.starts_at, tz)),
                    };
                    app.toast(text, ToastKind::Success);
                    app.remember_figures(&updated);
                    latest.set(Some(updated));
                    mine.restart();
                }
                Err(ApiError::Network(_)) => action.set(ActionState::Unconfirmed {
                    message: "We couldn't confirm your booking — the connection dropped. Try again: you'll never be booked twice.".into(),
                    waitlist,
                }),
                Err(ApiError::Unauthorized) => app.expire(),
                Err(error) => {
                    pending_key.set(None);
                    action.set(ActionState::Idle);
                    let kind = if error.code() == Some(ErrorCode::AlreadyBooked) { ToastKind::Info } else { ToastKind::Error };
                    app.toast(error.human(), kind);
                    slot.restart();
                    mine.restart();
                }
            }
        });
    };
    let cancel_api = api.clone();
    let on_cancel = move |booking_id: BookingId| {
        action.set(ActionState::Working("Cancelling…".into()));
        let api = cancel_api.clone();
        let token = app.session.peek().as_ref().map(|session| session.token.clone()).unwrap_or_default();
        spawn(async move {
            match api.0.cancel(token, booking_id).await {
                Ok(result) => {
                    app.toast("Cancelled — your place is free for someone else.".into(), ToastKind::Info);
                    app.remember_figures(&result.slot);
                    latest.set(Some(result.slot));
                }
                Err(ApiError::Unauthorized) => app.expire(),
                Err(error) => app.toast(error.human(), ToastKind::Error),
            }
            action.set(ActionState::Idle);
            mine.restart();
        });
    };
    rsx! {
        SlotDetailView {
            slot: shown,
            gym,
            booking,
            action: action(),
            on_book,
            on_cancel,
            on_back: move |()| app.screen.set(Screen::Schedule),
            on_retry: move |()| {
                slot.restart();
                mine.restart();
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_retry_reuses_the_key_of_the_unconfirmed_attempt() {
        let first = attempt_key(None, false, || "k1".into());
        assert_eq!(first, "k1");
        let retry = attempt_key(Some((false, first.clone())), false, || "k2".into());
        assert_eq!(retry, "k1", "the same booking, retried, keeps its key");
        let waitlist_instead = attempt_key(Some((false, first)), true, || "k3".into());
        assert_eq!(waitlist_instead, "k3", "joining the waitlist is another request");
    }

    #[test]
    fn fresh_keys_differ() {
        assert_ne!(crate::platform::new_idempotency_key(), crate::platform::new_idempotency_key());
        assert_eq!(crate::platform::new_idempotency_key().len(), 32);
    }
}
