//! Signing in.

use dioxus::prelude::*;

use crate::api::ApiError;
use crate::app::{use_api, use_app};
use crate::session::{self, Session};

/// The sign-in form.
#[component]
pub fn SignInView(
    /// A request is on its way.
    busy: bool,
    /// Why the last try failed.
    error: Option<String>,
    /// A note before signing in (e.g. "your session expired").
    notice: Option<String>,
    on_submit: EventHandler<(String, String)>,
) -> Element {
    let mut email = use_signal(String::new);
    let mut password = use_signal(String::new);
    rsx! {
        main { class: "sign-in",
            div { class: "brand",
                div { class: "brand-mark", "aria-hidden": "true", "◔" }
                h1 { "Pulse" }
                p { class: "brand-tagline", "Live gym capacity. Book your place in a tap." }
            }
            if let Some(notice) = notice {
                p { class: "notice notice-info", role: "status", "{notice}" }
            }
            form {
                class: "card sign-in-form",
                onsubmit: move |event| {
                    event.prevent_default();
                    on_submit.call((email.peek().trim().to_owned(), password.peek().clone()));
                },
                label { r#for: "email", "Email" }
                input {
                    id: "email",
                    r#type: "email",
                    autocomplete: "username",
                    placeholder: "you@example.com",
                    value: "{email}",
                    oninput: move |event| email.set(event.value()),
                }
                label { r#for: "password", "Password" }
                input {
                    id: "password",
                    r#type: "password",
                    autocomplete: "current-password",
                    value: "{password}",
                    oninput: move |event| password.set(event.value()),
                }
                if let Some(error) = error {
                    p { class: "form-error", role: "alert", "{error}" }
                }
                button { id: "sign-in", class: "button button-primary button-block", r#type: "submit", disabled: busy,
                    if busy { "Signing in…" } else { "Sign in" }
                }
            }
            p { class: "demo-hint", "Demo: alex@demo.gym · demo1234" }
        }
    }
}

/// The sign-in screen: calls the API and stores the session.
#[component]
pub fn SignInScreen() -> Element {
    let api = use_api();
    let mut app = use_app();
    let mut busy = use_signal(|| false);
    let mut error = use_signal(|| None::<String>);
    let on_submit = move |(email, password): (String, String)| {
        if email.is_empty() || password.is_empty() {
            error.set(Some("Enter your email and password.".into()));
            return;
        }
        busy.set(true);
        error.set(None);
        let api = api.clone();
        spawn(async move {
            match api.0.login(email, password).await {
                Ok(login) => {
                    let signed_in = Session::from_login(login);
                    session::save(Some(&signed_in));
                    app.notice.set(None);
                    app.session.set(Some(signed_in));
                }
                Err(
                    failure @ (ApiError::Refused { .. } | ApiError::Network(_) | ApiError::Unexpected(_)),
                ) => {
                    error.set(Some(failure.human()));
                }
                Err(ApiError::Unauthorized) => error.set(Some("That email and password don't match.".into())),
            }
            busy.set(false);
        });
    };
    rsx! {
        SignInView { busy: busy(), error: error(), notice: app.notice.read().clone(), on_submit }
    }
}
