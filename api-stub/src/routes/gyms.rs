//! Gyms: the list, a gym's schedule, its capacity, and creating slots.

use axum::extract::{FromRequestParts, Path, State};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use chrono::Utc;
use gym_core::time::resolve_range;
use gym_core::wire::{CapacitySnapshot, CreateSlot, Gym, Slot};
use gym_core::{DomainError, GymId};
use serde::Deserialize;

use crate::auth::Operator;
use crate::error::{ApiError, ApiJson, ApiQuery};
use crate::state::AppState;
use crate::store::RenderedCapacity;

/// Routes of this module.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/gyms", get(gyms_list))
        .route("/v1/gyms/{gym_id}/slots", get(slots_list).post(slots_create))
        .route("/v1/gyms/{gym_id}/capacity", get(capacity_show))
}

/// Every gym.
#[utoipa::path(get, path = "/v1/gyms", tag = "gyms", responses((status = 200, body = Vec<Gym>)))]
pub async fn gyms_list(State(state): State<AppState>) -> Result<Json<Vec<Gym>>, ApiError> {
    Ok(Json(state.store.gyms().await?))
}

/// `from`/`to` of a slot list: RFC 3339 instants or `YYYY-MM-DD` dates in the gym's zone.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct RangeQuery {
    /// Start (inclusive); default: start of today, gym time.
    pub from: Option<String>,
    /// End (exclusive; a date means the end of that day); default: 7 days after `from`.
    pub to: Option<String>,
}

/// A gym's slots in a time range, ordered by start.
#[utoipa::path(get, path = "/v1/gyms/{gym_id}/slots", tag = "gyms", params(("gym_id" = String, Path), RangeQuery),
    responses((status = 200, body = Vec<Slot>), (status = 404, description = "gym_not_found", body = gym_core::wire::ErrorBody),
        (status = 400, description = "invalid_range", body = gym_core::wire::ErrorBody)))]
pub async fn slots_list(
    State(state): State<AppState>,
    Path(gym_id): Path<String>,
    ApiQuery(range): ApiQuery<RangeQuery>,
) -> Result<Json<Vec<Slot>>, ApiError> {
    let gym = state.store.gym(&GymId::new(gym_id)).await?;
    let (from, to) = resolve_range(range.from.as_deref(), range.to.as_deref(), gym.tz, Utc::now())?;
    Ok(Json(state.store.slots_between(&gym.gym.id, from, to).await?))
}

/// Capacity of every current slot, with an `ETag`; `If-None-Match` → `304`.
#[utoipa::path(get, path = "/v1/gyms/{gym_id}/capacity", tag = "gyms", params(("gym_id" = String, Path)),
    responses((status = 200, body = CapacitySnapshot, headers(("etag" = String))), (status = 304, description = "not modified"),
        (status = 404, description = "gym_not_found", body = gym_core::wire::ErrorBody)))]
pub async fn capacity_show(
    State(state): State<AppState>,
    Path(gym_id): Path<String>,
    IfNoneMatch(if_none_match): IfNoneMatch,
) -> Result<Response, ApiError> {
    let rendered = state.store.capacity_rendered(&GymId::new(gym_id), Utc::now()).await?;
    Ok(capacity_answer(rendered, if_none_match.as_ref()))
}

/// The capacity answer for a rendering: `304` when `If-None-Match` names its
/// tag, else `200` with the body. Also used by [`crate::hot`].
pub fn capacity_answer(rendered: RenderedCapacity, if_none_match: Option<&HeaderValue>) -> Response {
    if let Some(etag) = rendered.headers.get(header::ETAG)
        && if_none_match.is_some_and(|value| matches_etag(value, etag.to_str().unwrap_or_default()))
    {
        return (StatusCode::NOT_MODIFIED, [(header::ETAG, etag.clone())]).into_response();
    }
    let mut response = Response::new(axum::body::Body::from(rendered.body));
    *response.headers_mut() = rendered.headers;
    response
}

/// The request's `If-None-Match`, read alone (the `HeaderMap` extractor would
/// clone every header on the hottest route).
pub struct IfNoneMatch(Option<HeaderValue>);

impl<S: Send + Sync> FromRequestParts<S> for IfNoneMatch {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        Ok(Self(parts.headers.get(header::IF_NONE_MATCH).cloned()))
    }
}

/// Whether an `If-None-Match` value names this (weak) tag or `*`.
fn matches_etag(value: &HeaderValue, etag: &str) -> bool {
    let Ok(value) = value.to_str() else { return false };
    let bare = etag.trim_start_matches("W/");
    value
        .split(',')
        .map(str::trim)
        .any(|candidate| candidate == "*" || candidate.trim_start_matches("W/") == bare)
}

/// Creates a slot (operators only).
#[utoipa::path(post, path = "/v1/gyms/{gym_id}/slots", tag = "operators", params(("gym_id" = String, Path)),
    request_body = CreateSlot, security(("bearer" = [])),
    responses((status = 201, body = Slot), (status = 400, description = "invalid_slot", body = gym_core::wire::ErrorBody),
        (status = 401, body = gym_core::wire::ErrorBody), (status = 403, description = "forbidden", body = gym_core::wire::ErrorBody),
        (status = 404, description = "gym_not_found", body = gym_core::wire::ErrorBody)))]
pub async fn slots_create(
    State(state): State<AppState>,
    _operator: Operator,
    Path(gym_id): Path<String>,
    ApiJson(body): ApiJson<serde_json::Value>,
) -> Result<(StatusCode, Json<Slot>), ApiError> {
    // Well-formed JSON with the wrong fields is an invalid slot, not a bad request.
    let draft: CreateSlot = serde_json::from_value(body)
        .map_err(|error| DomainError::InvalidSlot(format!("invalid slot: {error}")))?;
    let slot = state.store.create_slot(&GymId::new(gym_id), &draft).await?;
    Ok((StatusCode::CREATED, Json(slot)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn if_none_match_accepts_weak_strong_lists_and_star() {
        let etag = "W/\"7-3\"";
        assert!(matches_etag(&HeaderValue::from_static("\"1-1\", W/\"7-3\""), etag));
        assert!(matches_etag(&HeaderValue::from_static("\"7-3\""), etag));
        assert!(matches_etag(&HeaderValue::from_static("*"), etag));
        assert!(!matches_etag(&HeaderValue::from_static("W/\"8-3\""), etag));
    }
}
