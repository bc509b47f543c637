//! `GET /v1/gyms/{gymId}/capacity/stream`: live capacity over Server-Sent Events.
//!
//! A subscriber first gets one `capacity` event per current slot (the
//! snapshot), then one event whenever a slot's figures change. The
//! subscription is taken *before* the snapshot is read, so no change can fall
//! between the two. A subscriber too slow to keep up gets a fresh snapshot
//! instead of the events it missed. Streams end when the server shuts down.

use std::convert::Infallible;
use std::time::Duration;

use axum::Router;
use axum::extract::{Path, State};
use axum::http::HeaderValue;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use chrono::Utc;
use futures::{Stream, StreamExt, stream};
use gym_core::GymId;
use gym_core::wire::CapacityEntry;
use tokio::sync::broadcast::error::RecvError;

use crate::error::ApiError;
use crate::state::AppState;

/// Interval of the keep-alive comment the contract asks for.
const KEEP_ALIVE: Duration = Duration::from_secs(15);
/// Reconnection delay suggested to `EventSource` clients, milliseconds.
const RETRY_MS: u64 = 2_000;

/// Routes of this module.
pub fn router() -> Router<AppState> {
    Router::new().route("/v1/gyms/{gym_id}/capacity/stream", get(capacity_stream))
}

fn capacity_event(entry: &CapacityEntry) -> Event {
    // Serializing our own plain struct cannot fail.
    Event::default().event("capacity").data(serde_json::to_string(entry).unwrap_or_default())
}

/// Live capacity of a gym's slots as `text/event-stream`.
#[utoipa::path(get, path = "/v1/gyms/{gym_id}/capacity/stream", tag = "gyms", params(("gym_id" = String, Path)),
    responses((status = 200, description = "`event: capacity` frames, each `data` a CapacityEntry", content_type = "text/event-stream", body = CapacityEntry),
        (status = 404, description = "gym_not_found", body = gym_core::wire::ErrorBody)))]
pub async fn capacity_stream(
    State(state): State<AppState>,
    Path(gym_id): Path<String>,
) -> Result<Response, ApiError> {
    let gym_id = GymId::new(gym_id);
    let receiver = state.store.subscribe(&gym_id);
    let snapshot = state.store.capacity(&gym_id, Utc::now()).await?.slots;
    let mut shutdown = state.shutdown.subscribe();

    let first = stream::iter(snapshot).map(|entry| capacity_event(&entry));
    let live = stream::unfold((receiver, state, gym_id), |(mut receiver, state, gym_id)| async move {
        let batch = match receiver.recv().await {
            Ok(entry) => vec![entry],
            Err(RecvError::Lagged(missed)) => {
                tracing::debug!(missed, "sse subscriber lagged; sending a fresh snapshot");
                state.store.capacity(&gym_id, Utc::now()).await.map(|view| view.slots).unwrap_or_default()
            }
            Err(RecvError::Closed) => return None,
        };
        Some((batch, (receiver, state, gym_id)))
    })
    .flat_map(stream::iter)
    .map(|entry| capacity_event(&entry));

    let retry_hint = stream::once(async { Event::default().retry(Duration::from_millis(RETRY_MS)) });
    let events: std::pin::Pin<Box<dyn Stream<Item = Result<Event, Infallible>> + Send>> =
        Box::pin(retry_hint.chain(first).chain(live).map(Ok).take_until(async move {
            // Ends the stream when the server starts shutting down.
            let _ = shutdown.wait_for(|stopping| *stopping).await;
        }));
    let mut response =
        Sse::new(events).keep_alive(KeepAlive::new().interval(KEEP_ALIVE).text("keep-alive")).into_response();
    // Tell reverse proxies not to buffer the stream.
    response.headers_mut().insert("x-accel-buffering", HeaderValue::from_static("no"));
    Ok(response)
}
