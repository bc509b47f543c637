//! Bad input of every kind gets a clear 4xx with a stable code: never a 500.

use chrono::{Duration, Utc};
use reqwest::Method;

use crate::helpers::{StoreKind, TestApp, error_of, spawn_app};
use crate::store_tests;

store_tests!(every_malformed_request_gets_its_documented_error);

/// One malformed request and what it must get.
struct Case {
    why: &'static str,
    method: Method,
    path: String,
    headers: Vec<(&'static str, String)>,
    body: Option<String>,
    status: u16,
    code: &'static str,
}

fn case(why: &'static str, method: Method, path: impl Into<String>, status: u16, code: &'static str) -> Case {
    Case { why, method, path: path.into(), headers: Vec::new(), body: None, status, code }
}

impl Case {
    fn json(mut self, body: impl Into<String>) -> Self {
        self.headers.push(("content-type", "application/json".into()));
        self.body = Some(body.into());
        self
    }

    fn raw(mut self, content_type: &'static str, body: impl Into<String>) -> Self {
        self.headers.push(("content-type", content_type.into()));
        self.body = Some(body.into());
        self
    }

    fn header(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.headers.push((name, value.into()));
        self
    }

    fn auth(self, token: &str) -> Self {
        self.header("authorization", format!("Bearer {token}"))
    }
}

async fn check(app: &TestApp, case: Case) {
    let mut request = app.client.request(case.method.clone(), app.url(&case.path));
    for (name, value) in &case.headers {
        request = request.header(*name, value.as_str());
    }
    if let Some(body) = case.body {
        request = request.body(body);
    }
    let response = request.send().await.expect("sent");
    let (status, code) = error_of(response).await;
    assert_eq!(
        (status.as_u16(), code.as_str()),
        (case.status, case.code),
        "{}: {} {}",
        case.why,
        case.method,
        case.path
    );
}

async fn every_malformed_request_gets_its_documented_error(kind: StoreKind) {
    let app = spawn_app(kind).await;
    let slot = app.create_slot(10, Duration::hours(3)).await;
    let slot_path = format!("/v1/slots/{}", slot.id);
    let bookings_path = format!("{slot_path}/bookings");
    let member = app.token("mbr_alex");
    let operator = app.operator_token();
    let starts = (Utc::now() + Duration::hours(5)).to_rfc3339();
    let ends = (Utc::now() + Duration::hours(6)).to_rfc3339();
    let slot_json = |title: &str, starts: &str, ends: &str, capacity: &str| {
        format!(r#"{{"title":{title},"startsAt":"{starts}","endsAt":"{ends}","capacity":{capacity}}}"#)
    };
    let create = "/v1/gyms/gym_downtown/slots";

    let cases = vec![
        case("login: malformed JSON", Method::POST, "/v1/auth/login", 400, "invalid_request")
            .json(r#"{"email":"#),
        case("login: wrong types", Method::POST, "/v1/auth/login", 400, "invalid_request")
            .json(r#"{"email":1,"password":2}"#),
        case("login: missing field", Method::POST, "/v1/auth/login", 400, "invalid_request")
            .json(r#"{"email":"a@b.c"}"#),
        case("login: empty body", Method::POST, "/v1/auth/login", 400, "invalid_request").json(""),
        case("login: a JSON array", Method::POST, "/v1/auth/login", 400, "invalid_request").json("[]"),
        case("login: no content type", Method::POST, "/v1/auth/login", 400, "invalid_request")
            .raw("text/plain", r#"{"email":"a","password":"b"}"#),
        case("login: body over the limit", Method::POST, "/v1/auth/login", 413, "payload_too_large")
            .json(format!(r#"{{"email":"a@b.c","password":"{}"}}"#, "x".repeat(40_000))),
        case("login: absurd password", Method::POST, "/v1/auth/login", 401, "invalid_credentials")
            .json(format!(r#"{{"email":"alex@demo.gym","password":"{}"}}"#, "x".repeat(2_000))),
        case("create: malformed JSON", Method::POST, create, 400, "invalid_request")
            .auth(&operator)
            .json("{"),
        case("create: capacity is text", Method::POST, create, 400, "invalid_slot")
            .auth(&operator)
            .json(slot_json("\"Spin\"", &starts, &ends, "\"ten\"")),
        case("create: negative capacity", Method::POST, create, 400, "invalid_slot")
            .auth(&operator)
            .json(slot_json("\"Spin\"", &starts, &ends, "-1")),
        case("create: capacity too large", Method::POST, create, 400, "invalid_slot")
            .auth(&operator)
            .json(slot_json("\"Spin\"", &starts, &ends, "1001")),
        case("create: fractional capacity", Method::POST, create, 400, "invalid_slot")
            .auth(&operator)
            .json(slot_json("\"Spin\"", &starts, &ends, "2.5")),
        case("create: unreadable date", Method::POST, create, 400, "invalid_slot")
            .auth(&operator)
            .json(slot_json("\"Spin\"", "tomorrow", &ends, "10")),
        case("create: empty title", Method::POST, create, 400, "invalid_slot")
            .auth(&operator)
            .json(slot_json("\"   \"", &starts, &ends, "10")),
        case("create: title too long", Method::POST, create, 400, "invalid_slot")
            .auth(&operator)
            .json(slot_json(&format!("\"{}\"", "t".repeat(200)), &starts, &ends, "10")),
        case("create: longer than a day", Method::POST, create, 400, "invalid_slot")
            .auth(&operator)
            .json(slot_json("\"Marathon\"", &starts, &(Utc::now() + Duration::hours(40)).to_rfc3339(), "10")),
        case("patch: capacity is text", Method::PATCH, slot_path.clone(), 400, "invalid_slot")
            .auth(&operator)
            .json(r#"{"capacity":"ten"}"#),
        case("patch: unknown field", Method::PATCH, slot_path.clone(), 400, "invalid_slot")
            .auth(&operator)
            .json(r#"{"colour":"red"}"#),
        case("patch: zero capacity", Method::PATCH, slot_path.clone(), 400, "invalid_slot")
            .auth(&operator)
            .json(r#"{"capacity":0}"#),
        case(
            "book: waitlist is not a boolean",
            Method::POST,
            format!("{bookings_path}?waitlist=maybe"),
            400,
            "invalid_request",
        )
        .auth(&member),
        case("book: empty Idempotency-Key", Method::POST, bookings_path.clone(), 400, "invalid_request")
            .auth(&member)
            .header("idempotency-key", ""),
        case("book: huge Idempotency-Key", Method::POST, bookings_path.clone(), 400, "invalid_request")
            .auth(&member)
            .header("idempotency-key", "k".repeat(300)),
        case(
            "book: Idempotency-Key with spaces",
            Method::POST,
            bookings_path.clone(),
            400,
            "invalid_request",
        )
        .auth(&member)
        .header("idempotency-key", "two words"),
        case(
            "slots: impossible date",
            Method::GET,
            "/v1/gyms/gym_downtown/slots?from=2026-02-30",
            400,
            "invalid_range",
        ),
        case(
            "slots: unreadable to",
            Method::GET,
            "/v1/gyms/gym_downtown/slots?to=later",
            400,
            "invalid_range",
        ),
        case(
            "slots: bad percent-encoding in the path",
            Method::GET,
            "/v1/gyms/%FF%FE/slots",
            400,
            "invalid_request",
        ),
        case("unknown route", Method::GET, "/v1/nothing-here", 404, "not_found"),
        case("unknown version", Method::GET, "/v2/gyms", 404, "not_found"),
        case("wrong method on a collection", Method::PUT, "/v1/gyms", 405, "method_not_allowed"),
        case("wrong method on a slot", Method::DELETE, slot_path.clone(), 405, "method_not_allowed"),
        case(
            "very long slot id",
            Method::GET,
            format!("/v1/slots/slot_{}", "z".repeat(300)),
            404,
            "slot_not_found",
        ),
        case("bearer with garbage", Method::GET, "/v1/me/bookings", 401, "unauthorized")
            .header("authorization", "Bearer ☃"),
        case("token too long", Method::GET, "/v1/me/bookings", 401, "unauthorized")
            .header("authorization", format!("Bearer {}", "a".repeat(5_000))),
    ];
    assert!(cases.len() >= 25);
    for case in cases {
        check(&app, case).await;
    }
    // Nothing above changed anything.
    assert_eq!(app.slot(slot.id.as_str()).await.booked, 0);
}
