//! The schedule: pick a gym and a day, see every slot with its live ring.

use std::collections::HashMap;

use chrono::Utc;
use dioxus::prelude::*;
use gym_core::wire::{CapacityEntry, Gym, Slot};
use gym_core::{GymId, SlotId};

use crate::app::{Screen, use_api, use_app};
use crate::components::{EmptyState, ErrorNotice, Loadable, SkeletonList, SlotCard};
use crate::format::{self, DayTab};

/// The schedule of one gym and day.
#[component]
pub fn ScheduleView(
    gyms: Loadable<Vec<Gym>>,
    selected_gym: Option<GymId>,
    days: Vec<DayTab>,
    selected_day: usize,
    slots: Loadable<Vec<Slot>>,
    /// Live figures from the capacity stream, newer than `slots`.
    live: HashMap<SlotId, CapacityEntry>,
    on_pick_gym: EventHandler<GymId>,
    on_pick_day: EventHandler<usize>,
    on_open_slot: EventHandler<SlotId>,
    on_retry: EventHandler<()>,
) -> Element {
    let gym_list = match &gyms {
        Loadable::Loading => return rsx! { SkeletonList { rows: 5, label: "Loading gyms…" } },
        Loadable::Failed(message) => return rsx! { ErrorNotice { message: message.clone(), on_retry } },
        Loadable::Ready(list) if list.is_empty() => {
            return rsx! { EmptyState { title: "No gyms yet", detail: "Your gym chain hasn't opened any locations in the app." } };
        }
        Loadable::Ready(list) => list.clone(),
    };
    let gym = selected_gym
        .as_ref()
        .and_then(|id| gym_list.iter().find(|gym| &gym.id == id))
        .or(gym_list.first())
        .cloned();
    let tz = format::zone(gym.as_ref().map_or("UTC", |gym| gym.timezone.as_str()));
    let now = Utc::now();
    rsx! {
        section { class: "schedule",
            div { class: "gym-picker", role: "tablist", "aria-label": "Gyms",
                for choice in gym_list.iter().cloned() {
                    button {
                        key: "{choice.id}",
                        role: "tab",
                        class: if gym.as_ref().is_some_and(|gym| gym.id == choice.id) { "chip chip-active" } else { "chip" },
                        "aria-selected": if gym.as_ref().is_some_and(|gym| gym.id == choice.id) { "true" } else { "false" },
                        onclick: move |_| on_pick_gym.call(choice.id.clone()),
                        "{choice.name}"
                    }
                }
            }
            if let Some(gym) = &gym {
                p { class: "gym-address", "{gym.address} · times in {gym.timezone}" }
            }
            div { class: "day-tabs", role: "tablist", "aria-label": "Days",
                for (index, tab) in days.iter().cloned().enumerate() {
                    button {
                        key: "{tab.date}",
                        role: "tab",
                        class: if index == selected_day { "day-tab day-tab-active" } else { "day-tab" },
                        "aria-selected": if index == selected_day { "true" } else { "false" },
                        onclick: move |_| on_pick_day.call(index),
                        "{tab.label}"
                    }
                }
            }
            match slots {
                Loadable::Loading => rsx! { SkeletonList { rows: 6, label: "Loading the schedule…" } },
                Loadable::Failed(message) => rsx! { ErrorNotice { message, on_retry } },
                Loadable::Ready(list) if list.is_empty() => rsx! {
                    EmptyState { title: "Nothing on this day", detail: "No classes or open-gym hours are scheduled. Try another day." }
                },
                Loadable::Ready(list) => rsx! {
                    ul { class: "slot-list", "aria-label": "Classes and open-gym hours",
                        for slot in list {
                            li { key: "{slot.id}",
                                SlotCard {
                                    title: slot.title.clone(),
                                    time: format::time_range(slot.starts_at, slot.ends_at, tz),
                                    booked: live.get(&slot.id).map_or(slot.booked, |entry| entry.booked),
                                    capacity: live.get(&slot.id).map_or(slot.capacity, |entry| entry.capacity),
                                    started: slot.starts_at <= now,
                                    on_open: {
                                        let id = slot.id.clone();
                                        move |()| on_open_slot.call(id.clone())
                                    },
                                }
                            }
                        }
                    }
                },
            }
        }
    }
}

fn loadable<T: Clone>(state: Option<&Result<T, crate::api::ApiError>>) -> Loadable<T> {
    match state {
        None => Loadable::Loading,
        Some(Ok(value)) => Loadable::Ready(value.clone()),
        Some(Err(error)) => Loadable::Failed(error.human()),
    }
}

/// The schedule screen: fetches gyms and the chosen day's slots.
#[component]
pub fn ScheduleScreen() -> Element {
    let api = use_api();
    let mut app = use_app();
    let mut day = app.day;
    let gyms_api = api.clone();
    let mut gyms = use_resource(move || {
        let api = gyms_api.clone();
        async move { api.0.gyms().await }
    });
    // Start on the gym chosen last time, else the first one.
    use_effect(move || {
        if let Some(Ok(list)) = &*gyms.read()
            && app.gym.peek().is_none()
        {
            let remembered = crate::platform::load("gym");
            let choice =
                list.iter().find(|gym| Some(gym.id.as_str()) == remembered.as_deref()).or(list.first());
            app.gym.set(choice.cloned());
        }
    });
    let days = use_memo(move || {
        let tz = format::zone(app.gym.read().as_ref().map_or("UTC", |gym| gym.timezone.as_str()));
        format::week(Utc::now(), tz)
    });
    let slots_api = api.clone();
    let mut slots = use_resource(move || {
        let api = slots_api.clone();
        let gym = app.gym.read().clone();
        let date = days.read().get(day()).map(|tab| tab.date.clone());
        async move {
            match (gym, date) {
                (Some(gym), Some(date)) => api.0.slots(gym.id, date).await.map(Some),
                _ => Ok(None),
            }
        }
    });
    let gyms_state = loadable(gyms.read().as_ref());
    let slots_state = match &*slots.read() {
        None | Some(Ok(None)) => Loadable::Loading,
        Some(Ok(Some(list))) => Loadable::Ready(list.clone()),
        Some(Err(error)) => Loadable::Failed(error.human()),
    };
    use_effect(move || {
        if let Some(Err(crate::api::ApiError::Unauthorized)) = &*slots.read() {
            app.expire();
        }
    });
    rsx! {
        ScheduleView {
            gyms: gyms_state,
            selected_gym: app.gym.read().as_ref().map(|gym| gym.id.clone()),
            days: days(),
            selected_day: day(),
            slots: slots_state,
            live: app.live.read().clone(),
            on_pick_gym: move |gym_id: GymId| {
                if let Some(Ok(list)) = &*gyms.peek() {
                    let choice = list.iter().find(|gym| gym.id == gym_id).cloned();
                    crate::platform::store("gym", choice.as_ref().map(|gym| gym.id.as_str()));
                    app.gym.set(choice);
                    day.set(0);
                }
            },
            on_pick_day: move |index| day.set(index),
            on_open_slot: move |slot_id| app.screen.set(Screen::Slot(slot_id)),
            on_retry: move |()| {
                gyms.restart();
                slots.restart();
            },
        }
    }
}
