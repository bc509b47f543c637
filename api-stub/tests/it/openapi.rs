//! `/openapi.json` describes every route, and every route it describes exists.

use serde_json::Value;

use crate::helpers::{StoreKind, spawn_app};
use crate::store_tests;

store_tests!(the_openapi_document_matches_the_routes);

/// The endpoints of API.md plus our documented extensions.
const ROUTES: &[(&str, &str)] = &[
    ("get", "/health"),
    ("post", "/v1/auth/login"),
    ("get", "/v1/gyms"),
    ("get", "/v1/gyms/{gym_id}/slots"),
    ("post", "/v1/gyms/{gym_id}/slots"),
    ("get", "/v1/gyms/{gym_id}/capacity"),
    ("get", "/v1/gyms/{gym_id}/capacity/stream"),
    ("get", "/v1/slots/{slot_id}"),
    ("patch", "/v1/slots/{slot_id}"),
    ("post", "/v1/slots/{slot_id}/bookings"),
    ("get", "/v1/bookings/{booking_id}"),
    ("delete", "/v1/bookings/{booking_id}"),
    ("get", "/v1/me/bookings"),
    ("get", "/openapi.json"),
];

async fn the_openapi_document_matches_the_routes(kind: StoreKind) {
    let app = spawn_app(kind).await;
    let document: Value = app.get("/openapi.json").await.json().await.expect("json");
    let paths = document["paths"].as_object().expect("paths");
    let mut documented: Vec<(String, String)> = paths
        .iter()
        .flat_map(|(path, item)| {
            item.as_object()
                .into_iter()
                .flat_map(move |methods| methods.keys().map(move |method| (method.clone(), path.clone())))
        })
        .filter(|(method, _)| ["get", "post", "patch", "delete", "put"].contains(&method.as_str()))
        .collect();
    documented.sort();
    let mut expected: Vec<(String, String)> =
        ROUTES.iter().map(|(m, p)| ((*m).to_owned(), (*p).to_owned())).collect();
    expected.sort();
    assert_eq!(documented, expected, "the document lists exactly the routes");

    for schema in ["Slot", "Booking", "Gym", "BookingResult", "CapacitySnapshot", "ErrorBody", "ErrorCode"] {
        assert!(document["components"]["schemas"][schema].is_object(), "schema {schema} is described");
    }

    // Every documented route is served: never the router's own 404 or 405.
    for (method, path) in &documented {
        let concrete = path
            .replace("{gym_id}", "gym_downtown")
            .replace("{slot_id}", "slot_x")
            .replace("{booking_id}", "bkg_x");
        let method = reqwest::Method::from_bytes(method.to_uppercase().as_bytes()).expect("a method");
        let response = app
            .client
            .request(method.clone(), app.url(&concrete))
            .timeout(std::time::Duration::from_secs(2))
            .send()
            .await
            .expect("sent");
        let status = response.status().as_u16();
        if path.ends_with("/stream") {
            assert_eq!(status, 200);
            continue;
        }
        let body: Value = response.json().await.unwrap_or(Value::Null);
        let code = body["error"]["code"].as_str().unwrap_or_default().to_owned();
        assert!(
            code != "not_found" && code != "method_not_allowed",
            "{method} {concrete} is routed ({status} {code})"
        );
    }
}
