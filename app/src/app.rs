//! The root: app-wide state, the shell (header, navigation, toasts) and the
//! live capacity connection.

use std::collections::HashMap;

use dioxus::prelude::*;
use futures::StreamExt;
use gym_core::SlotId;
use gym_core::wire::{CapacityEntry, Gym, Slot};

use crate::api::{ApiHandle, HttpApi};
use crate::components::{Toast, ToastKind, ToastMessage};
use crate::platform;
use crate::session::{self, Session};
use crate::views::{MyBookingsScreen, ScheduleScreen, SignInScreen, SlotDetailScreen};

/// The stylesheet, embedded so every platform gets it without a bundler.
pub const STYLESHEET: &str = include_str!("../../assets/app.css");

/// Which screen is showing.
#[derive(Clone, Debug, PartialEq)]
pub enum Screen {
    /// A gym's schedule.
    Schedule,
    /// One slot.
    Slot(SlotId),
    /// The member's bookings.
    MyBookings,
}

/// The state of the live capacity connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LiveStatus {
    /// Connecting for the first time.
    Connecting,
    /// Receiving changes.
    Live,
    /// Lost; trying again after a pause.
    Reconnecting,
}

/// App-wide state: cheap, copyable signal handles, shared as context.
#[derive(Clone, Copy)]
pub struct AppState {
    /// The signed-in member.
    pub session: Signal<Option<Session>>,
    /// A note for the sign-in screen.
    pub notice: Signal<Option<String>>,
    /// The current screen.
    pub screen: Signal<Screen>,
    /// The chosen gym.
    pub gym: Signal<Option<Gym>>,
    /// The chosen day of the schedule (0 = today), kept while a slot is open.
    pub day: Signal<usize>,
    /// Live figures from the capacity stream.
    pub live: Signal<HashMap<SlotId, CapacityEntry>>,
    /// The live connection's state.
    pub live_status: Signal<LiveStatus>,
    /// The toast showing, if any.
    pub toast: Signal<Option<ToastMessage>>,
}

impl AppState {
    /// Fresh state around a session (or none).
    pub fn new(session: Option<Session>) -> Self {
        Self {
            session: Signal::new(session),
            notice: Signal::new(None),
            screen: Signal::new(Screen::Schedule),
            gym: Signal::new(None),
            day: Signal::new(0),
            live: Signal::new(HashMap::new()),
            live_status: Signal::new(LiveStatus::Connecting),
            toast: Signal::new(None),
        }
    }

    /// Shows a toast.
    pub fn toast(&mut self, text: String, kind: ToastKind) {
        self.toast.set(Some(ToastMessage { text, kind }));
    }

    /// Takes a slot's figures from an answer of our own as the newest known,
    /// so the rings are right even while the live stream is down (the next
    /// stream event, if any, supersedes them).
    pub fn remember_figures(&mut self, slot: &Slot) {
        let entry = CapacityEntry::new(slot.id.clone(), slot.capacity, slot.booked);
        self.live.write().insert(slot.id.clone(), entry);
    }

    /// The token stopped working: back to sign-in, saying why.
    pub fn expire(&mut self) {
        session::save(None);
        self.session.set(None);
        self.notice.set(Some("Your session has expired. Please sign in again.".into()));
        self.screen.set(Screen::Schedule);
    }
}

/// The app state from context.
pub fn use_app() -> AppState {
    try_use_context::<AppState>().expect("AppState is provided by App (or by the test harness)")
}

/// The API client from context.
pub fn use_api() -> ApiHandle {
    try_use_context::<ApiHandle>().expect("ApiHandle is provided by App (or by the test harness)")
}

/// The app: provides the API and state, then shows sign-in or the shell.
#[component]
pub fn App() -> Element {
    use_context_provider(|| ApiHandle(std::rc::Rc::new(HttpApi::new(&crate::config::api_base_url()))));
    rsx! { Root {} }
}

/// Everything below the API context (tests mount this with a fake API).
#[component]
pub fn Root() -> Element {
    let app = use_context_provider(|| {
        let saved = session::load();
        let now = chrono::Utc::now().timestamp();
        let mut state = AppState::new(saved.clone().filter(|session| !session.is_expired(now)));
        if saved.is_some_and(|session| session.is_expired(now)) {
            session::save(None);
            state.notice = Signal::new(Some("Your session has expired. Please sign in again.".into()));
        }
        state
    });
    use_future(platform::learn_reduce_motion);
    rsx! {
        style { {STYLESHEET} }
        div { class: "app",
            if app.session.read().is_some() {
                Shell {}
            } else {
                SignInScreen {}
            }
        }
    }
}

/// Header, current screen, bottom navigation, toast and live connection.
#[component]
fn Shell() -> Element {
    let mut app = use_app();
    let api = use_api();
    // Follow the chosen gym's capacity stream; reconnect with backoff.
    use_future(move || {
        let api = api.clone();
        async move {
            let mut failures: u32 = 0;
            loop {
                let Some(gym) = app.gym.peek().clone() else {
                    platform::sleep_ms(200).await;
                    continue;
                };
                app.live_status.set(if failures == 0 {
                    LiveStatus::Connecting
                } else {
                    LiveStatus::Reconnecting
                });
                let mut stream = api.0.capacity_stream(gym.id.clone());
                loop {
                    let next = stream.next();
                    let tick = Box::pin(platform::sleep_ms(500));
                    match futures::future::select(next, tick).await {
                        futures::future::Either::Left((Some(Ok(entry)), _)) => {
                            failures = 0;
                            app.live_status.set(LiveStatus::Live);
                            app.live.write().insert(entry.slot_id.clone(), entry);
                        }
                        futures::future::Either::Left((_, _)) => break,
                        futures::future::Either::Right(_) => {
                            if app.gym.peek().as_ref().map(|current| &current.id) != Some(&gym.id) {
                                failures = 0;
                                break;
                            }
                        }
                    }
                }
                if app.gym.peek().as_ref().map(|current| &current.id) == Some(&gym.id) {
                    failures = failures.saturating_add(1);
                    app.live_status.set(LiveStatus::Reconnecting);
                    platform::sleep_ms(backoff_ms(failures)).await;
                }
            }
        }
    });
    // Toasts leave by themselves.
    use_effect(move || {
        if app.toast.read().is_some() {
            spawn(async move {
                platform::sleep_ms(4_000).await;
                app.toast.set(None);
            });
        }
    });
    let name = app.session.read().as_ref().map(|session| session.first_name().to_owned()).unwrap_or_default();
    let screen = app.screen.read().clone();
    let status = *app.live_status.read();
    rsx! {
        header { class: "top-bar",
            div { class: "top-title",
                span { class: "brand-mark small", "aria-hidden": "true", "◔" }
                span { "Pulse" }
            }
            // Live figures come per gym: before one is chosen there is nothing to follow.
            if app.gym.read().is_some() {
                span { class: "live live-{status_class(status)}", role: "status", title: "Live capacity",
                    span { class: "live-dot", "aria-hidden": "true" }
                    "{status_label(status)}"
                }
            }
            div { class: "top-member",
                span { class: "member-name", "Hi, {name}" }
                button {
                    class: "button button-ghost small",
                    onclick: move |_| {
                        session::save(None);
                        app.session.set(None);
                        app.notice.set(Some("You're signed out.".into()));
                    },
                    "Sign out"
                }
            }
        }
        main { class: "content",
            match screen {
                Screen::Schedule => rsx! { ScheduleScreen {} },
                Screen::Slot(slot_id) => rsx! { SlotDetailScreen { key: "{slot_id}", slot_id } },
                Screen::MyBookings => rsx! { MyBookingsScreen {} },
            }
        }
        if let Some(message) = app.toast.read().clone() {
            Toast { message, on_dismiss: move |()| app.toast.set(None) }
        }
        nav { class: "bottom-nav", "aria-label": "Main",
            button {
                class: if matches!(*app.screen.read(), Screen::MyBookings) { "nav-item" } else { "nav-item nav-active" },
                onclick: move |_| app.screen.set(Screen::Schedule),
                span { class: "nav-icon", "aria-hidden": "true", "▦" }
                "Schedule"
            }
            button {
                id: "nav-bookings",
                class: if matches!(*app.screen.read(), Screen::MyBookings) { "nav-item nav-active" } else { "nav-item" },
                onclick: move |_| app.screen.set(Screen::MyBookings),
                span { class: "nav-icon", "aria-hidden": "true", "✓" }
                "My bookings"
            }
        }
    }
}

/// Reconnection delay after `failures` failed attempts: 1 s, 2 s, 4 s … at most 15 s.
pub fn backoff_ms(failures: u32) -> u64 {
    (1_000_u64 << failures.saturating_sub(1).min(4)).min(15_000)
}

fn status_class(status: LiveStatus) -> &'static str {
    match status {
        LiveStatus::Connecting => "connecting",
        LiveStatus::Live => "on",
        LiveStatus::Reconnecting => "off",
    }
}

fn status_label(status: LiveStatus) -> &'static str {
    match status {
        LiveStatus::Connecting => "Connecting…",
        LiveStatus::Live => "Live",
        LiveStatus::Reconnecting => "Reconnecting…",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reconnection_backs_off_up_to_fifteen_seconds() {
        assert_eq!(backoff_ms(1), 1_000);
        assert_eq!(backoff_ms(2), 2_000);
        assert_eq!(backoff_ms(3), 4_000);
        assert_eq!(backoff_ms(5), 15_000);
        assert_eq!(backoff_ms(40), 15_000);
    }
}
