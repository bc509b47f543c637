//! `GET /health`.

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use gym_core::wire::Health;

use crate::error::ApiError;
use crate::state::AppState;

/// Routes of this module.
pub fn router() -> Router<AppState> {
    Router::new().route("/health", get(health_show))
}

/// Liveness and store readiness: `200 {"status":"ok","store":"sqlite"}`, or
/// `503 store_unavailable` when the store cannot take writes.
#[utoipa::path(get, path = "/health", tag = "health",
    responses((status = 200, body = Health), (status = 503, body = gym_core::wire::ErrorBody)))]
pub async fn health_show(State(state): State<AppState>) -> Result<Json<Health>, ApiError> {
    state.store.check_health().await?;
    Ok(Json(Health { status: "ok".into(), store: state.store.kind().into() }))
}
