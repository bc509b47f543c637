//! `CapacityRing`: how full a slot is, as an animated SVG ring.

use std::cell::Cell;
use std::rc::Rc;

use dioxus::prelude::*;
use futures::StreamExt;
use futures::channel::mpsc;
use gym_core::{Fullness, available, fraction};

use crate::platform;
use crate::ring::{self, Tween};

/// A ring showing `booked` of `capacity`, eased to each new value. The
/// fullness band colours it and is also said in words (colour is never the
/// only signal); the whole ring reads as "18 of 30 places booked".
#[component]
pub fn CapacityRing(
    booked: u32,
    capacity: u32,
    /// Width and height in pixels.
    #[props(default = 52)]
    size: u32,
    /// The big ring of the slot screen (thicker, more words).
    #[props(default = false)]
    large: bool,
) -> Element {
    let target = fraction(capacity, booked);
    let tween = use_hook(|| Rc::new(Cell::new(Tween::settled(target))));
    // Wakes the animation loop when the target moves; a ring at rest costs nothing.
    let (wake, wakeups) = use_hook(|| {
        let (sender, receiver) = mpsc::unbounded::<()>();
        (sender, Rc::new(Cell::new(Some(receiver))))
    });
    let mut frame = use_signal(|| 0_u64);
    let now = platform::now_ms();
    if tween.get().to != target {
        let duration = if platform::reduce_motion() { 0.0 } else { ring::ANIMATION_MS };
        tween.set(tween.get().retarget(target, now, duration));
        let _ = wake.unbounded_send(());
    }
    // The one animation loop: while the ring moves it asks for a frame every
    // 16 ms, then one last frame so it always comes to rest on the target.
    let ticker = tween.clone();
    use_future(move || {
        let ticker = ticker.clone();
        let wakeups = wakeups.take();
        async move {
            let Some(mut wakeups) = wakeups else { return };
            while wakeups.next().await.is_some() {
                while ticker.get().is_running(platform::now_ms()) {
                    platform::sleep_ms(16).await;
                    frame += 1;
                }
                frame += 1;
            }
        }
    });
    let _ = frame();

    let shown = tween.get().value_at(now);
    let stroke = if large { 14.0 } else { 6.0 };
    let side = f64::from(size);
    let geometry = ring::geometry(side, stroke, shown);
    let fullness = Fullness::of(capacity, booked);
    let left = available(capacity, booked);
    let label = format!("{booked} of {capacity} places booked");
    let class =
        format!("ring ring-{} {}", fullness.css_class(), if large { "ring-large" } else { "ring-small" });
    let (center, radius) = (geometry.center, geometry.radius);
    rsx! {
        div {
            class: "{class}",
            role: "img",
            "aria-label": "{label}",
            style: "width: {size}px; height: {size}px;",
            svg {
                "aria-hidden": "true",
                width: "{size}",
                height: "{size}",
                "viewBox": "0 0 {size} {size}",
                circle { class: "ring-track", cx: "{center}", cy: "{center}", r: "{radius}", fill: "none", "stroke-width": "{stroke}" }
                circle {
                    class: "ring-fill",
                    cx: "{center}",
                    cy: "{center}",
                    r: "{radius}",
                    fill: "none",
                    "stroke-width": "{stroke}",
                    "stroke-linecap": "round",
                    "stroke-dasharray": "{geometry.circumference:.2}",
                    "stroke-dashoffset": "{geometry.dash_offset:.2}",
                    transform: "rotate(-90 {center} {center})",
                }
            }
            div { class: "ring-center", "aria-hidden": "true",
                if fullness == Fullness::Full {
                    span { class: "ring-number ring-full-word", "Full" }
                } else {
                    span { class: "ring-number", "{left}" }
                    span { class: "ring-caption", if large { "places left" } else { "left" } }
                }
                if large {
                    span { class: "ring-sub", "{booked} / {capacity} booked" }
                }
            }
        }
    }
}
