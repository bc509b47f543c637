//! The HTTP ceiling: a do-nothing axum server answering the benchmark's
//! routes with canned JSON. Whatever it reaches on one core is the most any
//! server built on axum could.

use axum::Router;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::{get, post};

const GYMS: &str = r#"[{"id":"gym_ceiling","name":"Ceiling","timezone":"UTC","address":"-"}]"#;
const SLOT: &str = r#"{"id":"slot_ceiling","gymId":"gym_ceiling","title":"Canned","startsAt":"2030-01-01T18:00:00Z","endsAt":"2030-01-01T19:00:00Z","capacity":1000000,"booked":0,"available":1000000,"waitlisted":0}"#;
const BOOKING: &str = r#"{"booking":{"id":"bkg_ceiling","slotId":"slot_ceiling","memberId":"mbr_x","status":"confirmed","createdAt":"2030-01-01T00:00:00Z"},"slot":{"id":"slot_ceiling","gymId":"gym_ceiling","title":"Canned","startsAt":"2030-01-01T18:00:00Z","endsAt":"2030-01-01T19:00:00Z","capacity":1000000,"booked":0,"available":1000000,"waitlisted":0}}"#;

/// A capacity body the size of a busy gym's (50 slots), so reads compare fairly.
fn capacity_body() -> String {
    let entries: Vec<String> = (0..50)
        .map(|n| format!(r#"{{"slotId":"slot_ceiling_{n:03}","capacity":30,"booked":12,"available":18}}"#))
        .collect();
    format!(r#"{{"gymId":"gym_ceiling","asOf":"2030-01-01T00:00:00Z","slots":[{}]}}"#, entries.join(","))
}

fn json(body: &'static str) -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "application/json")], body)
}

/// The canned router.
pub fn router() -> Router {
    let capacity: &'static str = Box::leak(capacity_body().into_boxed_str());
    Router::new()
        .route("/health", get(|| async { json(r#"{"status":"ok","store":"none"}"#) }))
        .route("/v1/gyms", get(|| async { json(GYMS) }))
        .route("/v1/gyms/{gym}/capacity", get(move || async move { json(capacity) }))
        .route("/v1/gyms/{gym}/slots", post(|| async { (StatusCode::CREATED, json(SLOT)) }))
        .route("/v1/slots/{slot}", get(|| async { json(SLOT) }))
        .route("/v1/slots/{slot}/bookings", post(|| async { (StatusCode::CREATED, json(BOOKING)) }))
}

/// Serves the canned router on a port of 127.0.0.1 until killed.
pub async fn serve(port: u16) -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
    axum::serve(listener, router()).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_canned_capacity_body_is_valid_json_of_fifty_slots() {
        let body: serde_json::Value = serde_json::from_str(&capacity_body()).expect("valid json");
        assert_eq!(body["slots"].as_array().map(Vec::len), Some(50));
    }
}
