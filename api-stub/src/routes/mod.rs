//! HTTP routes, one module per resource, merged into one router here.

pub mod auth;
pub mod bookings;
pub mod gyms;
pub mod health;
pub mod slots;
pub mod stream;

use axum::Router;

use crate::state::AppState;

/// Every API route (without middleware).
pub fn api() -> Router<AppState> {
    Router::new()
        .merge(health::router())
        .merge(auth::router())
        .merge(gyms::router())
        .merge(stream::router())
        .merge(slots::router())
        .merge(bookings::router())
        .merge(crate::openapi::router())
}
