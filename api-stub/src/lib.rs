//! `api-stub`: the gym booking backend.
//!
//! An axum server implementing `shared/API.md` over a [`store::Store`]. The
//! binary is a thin `main.rs`; tests and `main` share [`app`], [`build_state`]
//! and [`serve`], so what is tested is what runs.

pub mod auth;
pub mod config;
pub mod edge;
pub mod error;
pub mod events;
pub mod hot;
pub mod openapi;
pub mod routes;
pub mod seed;
pub mod server;
pub mod state;
pub mod store;

use std::future::Future;

use anyhow::Context;
use axum::Router;
use axum::extract::DefaultBodyLimit;

use crate::auth::JwtKeys;
use crate::config::{Config, SeedMode};
use crate::state::AppState;
use crate::store::Store;

pub use edge::REQUEST_ID;

/// The routes and their fallbacks, with the request body limit.
pub fn router(state: AppState) -> Router {
    let body_limit = state.config.body_limit;
    routes::api()
        .fallback(error::route_not_found)
        .method_not_allowed_fallback(error::method_not_allowed)
        .layer(DefaultBodyLimit::max(body_limit))
        .with_state(state)
}

/// The whole HTTP application: the router, with the two hottest routes
/// dispatched before it ([`hot`]), inside the [`edge`] every request passes
/// (request id, tracing span, CORS, one error shape).
pub fn app(state: AppState) -> edge::Edge<hot::Hot<Router>> {
    edge::layer(hot::Hot::new(router(state.clone()), state))
}

/// Opens the store, seeds it as configured and builds the state.
pub async fn build_state(config: Config) -> anyhow::Result<AppState> {
    let secret = match &config.jwt_secret {
        Some(secret) => secret.expose().as_bytes().to_vec(),
        None => {
            tracing::warn!(
                "GYM_JWT_SECRET is not set: signing tokens with a random secret (dev mode; tokens die with the process)"
            );
            let mut bytes = [0_u8; 32];
            rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut bytes);
            bytes.to_vec()
        }
    };
    let store = Store::open(&config.database_url, config.pg_pool_size, config.apply_interval)
        .await
        .context("opening the store")?;
    if config.seed != SeedMode::None {
        let timetable = config.seed == SeedMode::Demo;
        let report =
            seed::seed_demo(&store, chrono::Utc::now(), timetable).await.context("seeding demo data")?;
        tracing::info!(
            gyms = report.gyms,
            slots = report.slots,
            accounts = report.accounts,
            bookings = report.bookings,
            "seeded demo data"
        );
    }
    Ok(AppState::new(store, JwtKeys::new(&secret), config))
}

/// Serves until `shutdown` resolves, then ends live streams, drains in-flight
/// requests and flushes the store.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let stopping = state.shutdown.clone();
    let store = state.store.clone();
    server::run(listener, app(state), async move {
        shutdown.await;
        tracing::info!("shutting down: closing live streams and draining requests");
        stopping.send_replace(true);
    })
    .await;
    store.close().await;
    tracing::info!("stopped");
    Ok(())
}
