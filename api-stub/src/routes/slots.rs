//! Slots: reading one and changing one (operators).

use axum::extract::{Path, State};
use axum::routing::get;
use axum::{Json, Router};
use gym_core::wire::{Slot, UpdateSlot};
use gym_core::{DomainError, SlotId};

use crate::auth::Operator;
use crate::error::{ApiError, ApiJson};
use crate::state::AppState;

/// Routes of this module.
pub fn router() -> Router<AppState> {
    Router::new().route("/v1/slots/{slot_id}", get(slots_show).patch(slots_update))
}

/// One slot with its live counters.
#[utoipa::path(get, path = "/v1/slots/{slot_id}", tag = "slots", params(("slot_id" = String, Path)),
    responses((status = 200, body = Slot), (status = 404, description = "slot_not_found", body = gym_core::wire::ErrorBody)))]
pub async fn slots_show(
    State(state): State<AppState>,
    Path(slot_id): Path<String>,
) -> Result<Json<Slot>, ApiError> {
    Ok(Json(state.store.slot(&SlotId::new(slot_id)).await?))
}

/// Changes a slot's capacity and/or title (operators only). Raising the
/// capacity promotes waitlisted members in order.
#[utoipa::path(patch, path = "/v1/slots/{slot_id}", tag = "operators", params(("slot_id" = String, Path)),
    request_body = UpdateSlot, security(("bearer" = [])),
    responses((status = 200, body = Slot), (status = 400, description = "invalid_slot", body = gym_core::wire::ErrorBody),
        (status = 401, body = gym_core::wire::ErrorBody), (status = 403, description = "forbidden", body = gym_core::wire::ErrorBody),
        (status = 404, description = "slot_not_found", body = gym_core::wire::ErrorBody),
        (status = 409, description = "capacity_below_booked", body = gym_core::wire::ErrorBody)))]
pub async fn slots_update(
    State(state): State<AppState>,
    _operator: Operator,
    Path(slot_id): Path<String>,
    ApiJson(body): ApiJson<serde_json::Value>,
) -> Result<Json<Slot>, ApiError> {
    let update: UpdateSlot = serde_json::from_value(body)
        .map_err(|error| DomainError::InvalidSlot(format!("invalid change: {error}")))?;
    if update.capacity.is_none() && update.title.is_none() {
        return Err(DomainError::InvalidSlot("send `capacity` and/or `title` to change".into()).into());
    }
    Ok(Json(state.store.update_slot(&SlotId::new(slot_id), &update).await?))
}
