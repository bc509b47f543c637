//! Authentication and authorisation failures.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::Duration;
use gym_core::wire::Role;

use crate::helpers::{StoreKind, assert_error, spawn_app};
use crate::store_tests;

store_tests!(bad_tokens_are_unauthorized, members_are_forbidden_from_operator_routes_and_others_bookings);

async fn bad_tokens_are_unauthorized(kind: StoreKind) {
    let app = spawn_app(kind).await;
    let good = app.token("mbr_alex");
    let payload = good.split('.').nth(1).unwrap_or_default().to_owned();
    let none_header = URL_SAFE_NO_PAD.encode(r#"{"alg":"none","typ":"JWT"}"#);
    let hs512_header = URL_SAFE_NO_PAD.encode(r#"{"alg":"HS512","typ":"JWT"}"#);
    let foreign = {
        let keys = api_stub::auth::JwtKeys::new(b"someone else's secret");
        let claims = gym_core::wire::Claims {
            sub: "mbr_alex".into(),
            exp: chrono::Utc::now().timestamp() + 600,
            role: Role::Operator,
            name: None,
        };
        keys.sign(&claims)
    };
    let mut tampered = good.clone();
    tampered.push('A');
    let cases: Vec<(&str, Option<String>)> = vec![
        ("no Authorization header", None),
        ("not a bearer scheme", Some(format!("Basic {good}"))),
        ("bearer without a token", Some("Bearer ".into())),
        ("malformed token", Some("Bearer not.a.jwt".into())),
        ("two parts", Some("Bearer abc.def".into())),
        ("wrong signature", Some(format!("Bearer {foreign}"))),
        ("tampered signature", Some(format!("Bearer {tampered}"))),
        ("alg none", Some(format!("Bearer {none_header}.{payload}."))),
        ("alg HS512", Some(format!("Bearer {hs512_header}.{payload}.c2ln"))),
        (
            "expired",
            Some(format!("Bearer {}", app.token_with("mbr_alex", Role::Member, -Duration::minutes(5)))),
        ),
        ("empty subject", Some(format!("Bearer {}", app.token_with("", Role::Member, Duration::hours(1))))),
    ];
    for (why, header) in cases {
        let mut request = app.client.get(app.url("/v1/me/bookings"));
        if let Some(header) = header {
            request = request.header("authorization", header);
        }
        let response = request.send().await.expect("sent");
        assert_eq!(response.status().as_u16(), 401, "{why}");
        assert!(response.headers().contains_key("www-authenticate"), "{why}");
        assert_error(response, 401, "unauthorized").await;
    }
}

async fn members_are_forbidden_from_operator_routes_and_others_bookings(kind: StoreKind) {
    let app = spawn_app(kind).await;
    let slot = app.create_slot(5, Duration::hours(3)).await;
    let member = app.token("mbr_alex");
    let body = crate::helpers::slot_body("Sneaky", chrono::Utc::now() + Duration::hours(2), 5);
    assert_error(app.post_slot("gym_downtown", &body, &member).await, 403, "forbidden").await;
    assert_error(
        app.patch_slot(slot.id.as_str(), &serde_json::json!({"capacity": 50}), &member).await,
        403,
        "forbidden",
    )
    .await;

    let booked = app.book_ok(slot.id.as_str(), &member).await;
    assert_error(app.cancel(booked.booking.id.as_str(), &app.token("mbr_sam")).await, 403, "forbidden").await;
    // Operators may cancel any booking (front desk).
    let by_staff = app.cancel(booked.booking.id.as_str(), &app.operator_token()).await;
    assert_eq!(by_staff.status().as_u16(), 200);
}
