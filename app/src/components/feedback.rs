//! Loading, empty, error and toast states shared by every screen.

use dioxus::prelude::*;

/// Data a screen is waiting for.
#[derive(Clone, Debug, PartialEq)]
pub enum Loadable<T> {
    /// Still on its way.
    Loading,
    /// Failed, with words for the member.
    Failed(String),
    /// Here.
    Ready(T),
}

/// A few grey placeholder rows while a list loads.
#[component]
pub fn SkeletonList(#[props(default = 4)] rows: usize, label: String) -> Element {
    rsx! {
        div { class: "skeleton-list", role: "status", "aria-busy": "true", "aria-label": "{label}",
            for index in 0..rows {
                div { key: "{index}", class: "skeleton-row",
                    div { class: "skeleton-circle" }
                    div { class: "skeleton-lines",
                        div { class: "skeleton-line wide" }
                        div { class: "skeleton-line" }
                    }
                }
            }
            span { class: "visually-hidden", "{label}" }
        }
    }
}

/// A spinner with words, for actions in progress.
#[component]
pub fn Spinner(label: String) -> Element {
    rsx! {
        span { class: "spinner-wrap", role: "status",
            span { class: "spinner", "aria-hidden": "true" }
            span { class: "spinner-label", "{label}" }
        }
    }
}

/// What went wrong, and a way to try again.
#[component]
pub fn ErrorNotice(
    message: String,
    on_retry: EventHandler<()>,
    #[props(default = "Try again".to_string())] retry_label: String,
) -> Element {
    rsx! {
        div { class: "notice notice-error", role: "alert",
            p { class: "notice-text", "{message}" }
            button { class: "button button-secondary", onclick: move |_| on_retry.call(()), "{retry_label}" }
        }
    }
}

/// Nothing to show, said kindly.
#[component]
pub fn EmptyState(title: String, detail: String) -> Element {
    rsx! {
        div { class: "empty", role: "status",
            div { class: "empty-art", "aria-hidden": "true", "◌" }
            p { class: "empty-title", "{title}" }
            p { class: "empty-detail", "{detail}" }
        }
    }
}

/// How a toast looks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ToastKind {
    /// Good news.
    Success,
    /// Neutral news.
    Info,
    /// Bad news.
    Error,
}

/// A short message shown over the screen.
#[derive(Clone, Debug, PartialEq)]
pub struct ToastMessage {
    /// The words.
    pub text: String,
    /// The look.
    pub kind: ToastKind,
}

/// The outcome of an action, announced to screen readers too.
#[component]
pub fn Toast(message: ToastMessage, on_dismiss: EventHandler<()>) -> Element {
    let class = match message.kind {
        ToastKind::Success => "toast toast-success",
        ToastKind::Info => "toast toast-info",
        ToastKind::Error => "toast toast-error",
    };
    let icon = match message.kind {
        ToastKind::Success => "✓",
        ToastKind::Info => "i",
        ToastKind::Error => "!",
    };
    rsx! {
        div { class: "{class}", role: "status", "aria-live": "polite",
            span { class: "toast-icon", "aria-hidden": "true", "{icon}" }
            span { class: "toast-text", "{message.text}" }
            button { class: "toast-close", "aria-label": "Dismiss", onclick: move |_| on_dismiss.call(()), "×" }
        }
    }
}
