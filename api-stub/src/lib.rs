//! `api-stub`: the gym booking backend.
//!
//! An axum server implementing `shared/API.md` over a [`store::Store`]. The
//! binary is a thin `main.rs`; tests and `main` share [`router`], [`build_state`]
//! and [`serve`], so what is tested is what runs.

pub mod auth;
pub mod config;
pub mod error;
pub mod events;
pub mod openapi;
pub mod routes;
pub mod seed;
pub mod server;
pub mod state;
pub mod store;

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};

use anyhow::Context;
use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderName, HeaderValue, Method, Request, header};
use tower_http::cors::{Any, CorsLayer};
use tower_http::request_id::{MakeRequestId, PropagateRequestIdLayer, RequestId, SetRequestIdLayer};
use tower_http::trace::{DefaultOnFailure, DefaultOnResponse, TraceLayer};
use tracing::Level;

use crate::auth::JwtKeys;
use crate::config::{Config, SeedMode};
use crate::state::AppState;
use crate::store::Store;

/// The request id header, set on every request and echoed on every response.
pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Request ids: a per-process random prefix and a counter (cheap and unique).
#[derive(Clone)]
struct RequestIds {
    prefix: std::sync::Arc<str>,
    counter: std::sync::Arc<AtomicU64>,
}

impl MakeRequestId for RequestIds {
    fn make_request_id<B>(&mut self, _request: &Request<B>) -> Option<RequestId> {
        let n = self.counter.fetch_add(1, Ordering::Relaxed);
        HeaderValue::from_str(&format!("{}-{n}", self.prefix)).ok().map(RequestId::new)
    }
}

/// The routes and their fallbacks, with the request body limit.
pub fn router(state: AppState) -> Router {
    let body_limit = state.config.body_limit;
    routes::api()
        .fallback(error::route_not_found)
        .method_not_allowed_fallback(error::method_not_allowed)
        .layer(DefaultBodyLimit::max(body_limit))
        .with_state(state)
}

/// The whole HTTP application: the router inside the middleware every request
/// goes through (request id, tracing, CORS, one error shape).
///
/// The middleware wraps the finished router once instead of being added with
/// `Router::layer`, which would wrap every route and clone the whole stack
/// into a fresh box on every request.
pub fn app<B>(
    state: AppState,
) -> impl tower::Service<
    Request<B>,
    Response = axum::http::Response<
        impl axum::body::HttpBody<Data = bytes::Bytes, Error = axum::Error> + Send + 'static,
    >,
    Error = std::convert::Infallible,
    Future = impl Send + 'static,
> + Clone
+ Send
+ 'static
where
    B: axum::body::HttpBody<Data = bytes::Bytes> + Send + 'static,
    B::Error: Into<axum::BoxError>,
{
    let request_ids = RequestIds {
        prefix: store::new_id("").chars().take(8).collect::<String>().into(),
        counter: std::sync::Arc::new(AtomicU64::new(1)),
    };
    let cors = CorsLayer::new()
        .allow_origin(Any)
        .allow_methods([Method::GET, Method::POST, Method::PATCH, Method::DELETE, Method::OPTIONS])
        .allow_headers([
            header::AUTHORIZATION,
            header::CONTENT_TYPE,
            header::IF_NONE_MATCH,
            routes::bookings::IDEMPOTENCY_KEY,
        ])
        .expose_headers([header::ETAG, header::LOCATION, REQUEST_ID, routes::bookings::IDEMPOTENT_REPLAYED])
        .max_age(std::time::Duration::from_secs(3600));
    let trace = TraceLayer::new_for_http()
        .make_span_with(|request: &Request<B>| {
            let request_id = request.headers().get(&REQUEST_ID).and_then(|value| value.to_str().ok()).unwrap_or("-");
            tracing::info_span!("request", method = %request.method(), path = %request.uri().path(), request_id)
        })
        .on_request(())
        .on_response(DefaultOnResponse::new().level(Level::DEBUG))
        .on_failure(DefaultOnFailure::new().level(Level::WARN));

    tower::ServiceBuilder::new()
        .layer(SetRequestIdLayer::new(REQUEST_ID, request_ids))
        .layer(trace)
        .layer(PropagateRequestIdLayer::new(REQUEST_ID))
        .layer(cors)
        .map_response(error::normalize_errors)
        .service(router(state))
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
    let store = Store::open(&config.database_url, config.pg_pool_size).await.context("opening the store")?;
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
