//! What every answer carries, whatever the route: CORS for the web app and a request id.

use reqwest::{Method, StatusCode};

use crate::helpers::{StoreKind, error_of, spawn_app};

const ORIGIN: &str = "http://localhost:8080";

fn header<'a>(response: &'a reqwest::Response, name: &str) -> &'a str {
    response.headers().get(name).and_then(|value| value.to_str().ok()).unwrap_or_default()
}

#[tokio::test]
async fn a_browser_preflight_for_a_booking_is_allowed_with_the_headers_the_app_sends() {
    let app = spawn_app(StoreKind::Sqlite).await;
    let response = app
        .client
        .request(Method::OPTIONS, app.url("/v1/slots/slot_anything/bookings"))
        .header("origin", ORIGIN)
        .header("access-control-request-method", "POST")
        .header("access-control-request-headers", "authorization, content-type, idempotency-key")
        .send()
        .await
        .expect("the preflight is answered");
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(header(&response, "access-control-allow-origin"), "*");
    for method in ["GET", "POST", "PATCH", "DELETE"] {
        assert!(header(&response, "access-control-allow-methods").contains(method), "{method} allowed");
    }
    let allowed = header(&response, "access-control-allow-headers");
    for name in ["authorization", "content-type", "if-none-match", "idempotency-key"] {
        assert!(allowed.contains(name), "{name} allowed in {allowed:?}");
    }
    assert_eq!(header(&response, "access-control-max-age"), "3600");
}

#[tokio::test]
async fn cross_origin_answers_and_errors_let_the_web_app_read_them() {
    let app = spawn_app(StoreKind::Sqlite).await;
    let capacity = app
        .client
        .get(app.url("/v1/gyms/gym_downtown/capacity"))
        .header("origin", ORIGIN)
        .send()
        .await
        .expect("answered");
    assert_eq!(capacity.status(), StatusCode::OK);
    assert_eq!(header(&capacity, "access-control-allow-origin"), "*");
    let exposed = header(&capacity, "access-control-expose-headers");
    for name in ["etag", "location", "x-request-id", "idempotent-replayed"] {
        assert!(exposed.contains(name), "{name} exposed in {exposed:?}");
    }

    let missing =
        app.client.get(app.url("/v1/nowhere")).header("origin", ORIGIN).send().await.expect("answered");
    assert_eq!(header(&missing, "access-control-allow-origin"), "*");
    assert_eq!(error_of(missing).await, (StatusCode::NOT_FOUND, "not_found".to_owned()));
}

#[tokio::test]
async fn every_answer_has_a_request_id_and_a_client_supplied_one_is_kept() {
    let app = spawn_app(StoreKind::Sqlite).await;
    let first = app.get("/health").await;
    let second = app.get("/v1/nowhere").await;
    let (first_id, second_id) = (header(&first, "x-request-id"), header(&second, "x-request-id"));
    assert!(!first_id.is_empty() && !second_id.is_empty(), "ids: {first_id:?}, {second_id:?}");
    assert_ne!(first_id, second_id);

    let traced = app
        .client
        .get(app.url("/health"))
        .header("x-request-id", "trace-from-the-app-42")
        .send()
        .await
        .expect("answered");
    assert_eq!(header(&traced, "x-request-id"), "trace-from-the-app-42");
}
