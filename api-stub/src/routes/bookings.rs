//! Bookings: book a seat, cancel, list and read one's own.

use std::sync::Arc;

use axum::extract::{FromRequestParts, Path, State};
use axum::http::request::Parts;
use axum::http::{HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use chrono::{SubsecRound, Utc};
use gym_core::wire::{Booking, BookingResult};
use gym_core::{BookingId, DomainError, SlotId};
use serde::Deserialize;

use crate::auth::Caller;
use crate::error::{ApiError, ApiQuery};
use crate::state::AppState;
use crate::store::BookCommand;

/// The request header that makes booking retries safe.
pub const IDEMPOTENCY_KEY: HeaderName = HeaderName::from_static("idempotency-key");
/// Extension: set to `true` on an answer replayed for an idempotent retry.
pub const IDEMPOTENT_REPLAYED: HeaderName = HeaderName::from_static("idempotent-replayed");
/// Longest accepted `Idempotency-Key`.
const MAX_IDEMPOTENCY_KEY_LEN: usize = 255;

/// Routes of this module.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/slots/{slot_id}/bookings", post(bookings_create))
        .route("/v1/bookings/{booking_id}", get(bookings_show).delete(bookings_cancel))
        .route("/v1/me/bookings", get(bookings_list_mine))
}

/// Query of a booking request.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
pub struct BookQuery {
    /// Join the waitlist when the slot is full.
    #[serde(default)]
    pub waitlist: bool,
}

/// The request's `Idempotency-Key`, validated (1–255 visible ASCII characters).
/// Reads this one header instead of cloning every header as `HeaderMap` would.
pub struct IdempotencyKey(Option<Arc<str>>);

impl<S: Send + Sync> FromRequestParts<S> for IdempotencyKey {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let Some(value) = parts.headers.get(&IDEMPOTENCY_KEY) else { return Ok(Self(None)) };
        let key = value
            .to_str()
            .ok()
            .map(str::trim)
            .filter(|key| {
                !key.is_empty()
                    && key.len() <= MAX_IDEMPOTENCY_KEY_LEN
                    && key.bytes().all(|b| b.is_ascii_graphic())
            })
            .ok_or_else(|| {
                ApiError::InvalidRequest(format!(
                    "Idempotency-Key must be 1 to {MAX_IDEMPOTENCY_KEY_LEN} visible ASCII characters"
                ))
            })?;
        Ok(Self(Some(Arc::from(key))))
    }
}

/// Books a seat: `201` with the booking and the slot, once durable. With
/// `?waitlist=true` a full slot queues the member instead of refusing.
#[utoipa::path(post, path = "/v1/slots/{slot_id}/bookings", tag = "bookings",
    params(("slot_id" = String, Path), BookQuery, ("Idempotency-Key" = Option<String>, Header, description = "makes retries safe")),
    security(("bearer" = [])),
    responses((status = 201, body = BookingResult), (status = 401, body = gym_core::wire::ErrorBody),
        (status = 404, description = "slot_not_found", body = gym_core::wire::ErrorBody),
        (status = 409, description = "slot_full, already_booked, idempotency_key_reused", body = gym_core::wire::ErrorBody),
        (status = 422, description = "booking_closed", body = gym_core::wire::ErrorBody),
        (status = 503, description = "store_unavailable", body = gym_core::wire::ErrorBody)))]
pub async fn bookings_create(
    State(state): State<AppState>,
    caller: Caller,
    Path(slot_id): Path<String>,
    ApiQuery(query): ApiQuery<BookQuery>,
    IdempotencyKey(idempotency_key): IdempotencyKey,
) -> Result<Response, ApiError> {
    let command = BookCommand {
        slot_id: SlotId::new(slot_id),
        member_id: caller.member_id,
        waitlist: query.waitlist,
        idempotency_key,
        now: Utc::now().trunc_subsecs(3),
    };
    let booked = state.store.book(command).await?;
    let location = HeaderValue::from_str(&format!("/v1/bookings/{}", booked.result.booking.id))
        .map_err(|error| ApiError::Internal(error.into()))?;
    // Serialized at its full size at once: axum's `Json` starts at 128 bytes
    // and grows three times for a booking answer (~700 bytes).
    let mut body = Vec::with_capacity(1024);
    serde_json::to_writer(&mut body, &booked.result).map_err(|error| ApiError::Internal(error.into()))?;
    let mut response = (
        StatusCode::CREATED,
        [(header::LOCATION, location), (header::CONTENT_TYPE, HeaderValue::from_static("application/json"))],
        body,
    )
        .into_response();
    if booked.replayed {
        response.headers_mut().insert(IDEMPOTENT_REPLAYED, HeaderValue::from_static("true"));
    }
    Ok(response)
}

/// Extension: one of the caller's own bookings.
#[utoipa::path(get, path = "/v1/bookings/{booking_id}", tag = "bookings", params(("booking_id" = String, Path)),
    security(("bearer" = [])),
    responses((status = 200, body = Booking), (status = 401, body = gym_core::wire::ErrorBody),
        (status = 403, description = "forbidden", body = gym_core::wire::ErrorBody),
        (status = 404, description = "booking_not_found", body = gym_core::wire::ErrorBody)))]
pub async fn bookings_show(
    State(state): State<AppState>,
    caller: Caller,
    Path(booking_id): Path<String>,
) -> Result<Json<Booking>, ApiError> {
    let bookings = state.store.member_bookings(&caller.member_id).await?;
    if let Some(booking) = bookings.into_iter().find(|booking| booking.id.as_str() == booking_id) {
        return Ok(Json(booking));
    }
    Err(DomainError::BookingNotFound(booking_id).into())
}

/// Cancels a booking (its owner or an operator); a waitlisted member takes the seat.
#[utoipa::path(delete, path = "/v1/bookings/{booking_id}", tag = "bookings", params(("booking_id" = String, Path)),
    security(("bearer" = [])),
    responses((status = 200, body = BookingResult), (status = 401, body = gym_core::wire::ErrorBody),
        (status = 403, description = "forbidden", body = gym_core::wire::ErrorBody),
        (status = 404, description = "booking_not_found", body = gym_core::wire::ErrorBody),
        (status = 409, description = "already_cancelled", body = gym_core::wire::ErrorBody),
        (status = 422, description = "booking_closed: the slot has started", body = gym_core::wire::ErrorBody)))]
pub async fn bookings_cancel(
    State(state): State<AppState>,
    caller: Caller,
    Path(booking_id): Path<String>,
) -> Result<Json<BookingResult>, ApiError> {
    let now = Utc::now().trunc_subsecs(3);
    let result =
        state.store.cancel(&BookingId::new(booking_id), &caller.member_id, caller.is_operator(), now).await?;
    Ok(Json(result))
}

/// The caller's bookings, newest first.
#[utoipa::path(get, path = "/v1/me/bookings", tag = "bookings", security(("bearer" = [])),
    responses((status = 200, body = Vec<Booking>), (status = 401, body = gym_core::wire::ErrorBody)))]
pub async fn bookings_list_mine(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<Vec<Booking>>, ApiError> {
    Ok(Json(state.store.member_bookings(&caller.member_id).await?))
}
