//! `gym-app`: the member app. One Rust codebase for iOS, Android, desktop
//! (the development preview) and the web, built with Dioxus.
//!
//! Screens (`views`) own the hooks and fetch through the [`api::GymApi`]
//! trait; pure components (`components`) take data as props, so every state
//! renders in a test without a window. Ring geometry and easing are pure
//! functions in [`ring`].

pub mod api;
pub mod app;
pub mod components;
pub mod config;
pub mod format;
pub mod platform;
pub mod ring;
pub mod session;
pub mod views;

pub use app::App;
