//! `SlotCard`: one slot in the schedule, with its small ring.

use dioxus::prelude::*;
use gym_core::{Fullness, available};

use crate::components::CapacityRing;

/// A tappable row: ring, title, time and seats left.
#[component]
pub fn SlotCard(
    title: String,
    time: String,
    booked: u32,
    capacity: u32,
    /// The slot has started: it can no longer be booked.
    started: bool,
    on_open: EventHandler<()>,
) -> Element {
    let left = available(capacity, booked);
    let fullness = Fullness::of(capacity, booked);
    let status = if started {
        "Started".to_string()
    } else if fullness == Fullness::Full {
        "Full · join the waitlist".to_string()
    } else {
        format!("{left} left")
    };
    let status_class =
        format!("slot-status status-{}", if started { "started" } else { fullness.css_class() });
    rsx! {
        button {
            class: if started { "slot-card slot-card-past" } else { "slot-card" },
            "aria-label": "{title}, {time}, {status}",
            onclick: move |_| on_open.call(()),
            CapacityRing { booked, capacity, size: 52 }
            div { class: "slot-main",
                span { class: "slot-title", "{title}" }
                span { class: "slot-time", "{time}" }
            }
            span { class: "{status_class}", "{status}" }
            span { class: "chevron", "aria-hidden": "true", "›" }
        }
    }
}
