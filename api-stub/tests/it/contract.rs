//! Every row of API.md's endpoint table: the success and each error code.

use std::time::Duration as StdDuration;

use chrono::{Duration, Utc};
use gym_core::wire::{Booking, BookingResult, BookingStatus, CapacitySnapshot, Gym, LoginResponse, Slot};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{StoreKind, TestApp, assert_error, slot_body, spawn_app};
use crate::sse::SseReader;
use crate::store_tests;

store_tests!(
    health_reports_ok_and_the_store_kind,
    login_returns_a_token_that_works_and_refuses_wrong_credentials,
    gyms_are_listed,
    slots_are_listed_by_start_within_a_range_and_bad_ranges_are_refused,
    capacity_has_an_etag_that_changes_with_bookings,
    the_capacity_stream_sends_a_snapshot_then_every_change,
    a_slot_is_shown_or_not_found,
    booking_takes_a_seat_and_refuses_full_duplicate_closed_and_unknown,
    cancelling_frees_the_seat_and_refuses_strangers_repeats_and_unknown_ids,
    my_bookings_are_listed_newest_first,
    operators_create_slots_and_members_may_not,
    operators_change_capacity_and_title_but_not_below_booked,
    a_full_slot_can_be_waitlisted_and_cancellation_promotes_in_order,
    raising_capacity_promotes_waitlisted_members,
    shutdown_ends_live_streams_and_completes,
);

async fn health_reports_ok_and_the_store_kind(kind: StoreKind) {
    let app = spawn_app(kind).await;
    let body: Value = app.get("/health").await.json().await.expect("json");
    let store = match kind {
        StoreKind::Sqlite => "sqlite",
        StoreKind::Postgres => "postgres",
    };
    assert_eq!(body, json!({"status": "ok", "store": store}));
}

async fn login_returns_a_token_that_works_and_refuses_wrong_credentials(kind: StoreKind) {
    let app = spawn_app(kind).await;
    let response = app.login("alex@demo.gym", "demo1234").await;
    assert_eq!(response.status(), StatusCode::OK);
    let login: LoginResponse = response.json().await.expect("a login response");
    assert_eq!(login.member.id.as_str(), "mbr_alex");
    let mine = app.get_auth("/v1/me/bookings", &login.token).await;
    assert_eq!(mine.status(), StatusCode::OK, "the token is accepted");

    let capitalised = app.login("Alex@Demo.Gym", "demo1234").await;
    assert_eq!(capitalised.status(), StatusCode::OK, "emails are case-insensitive");
    assert_error(app.login("alex@demo.gym", "wrong").await, 401, "invalid_credentials").await;
    assert_error(app.login("nobody@demo.gym", "demo1234").await, 401, "invalid_credentials").await;
}

async fn gyms_are_listed(kind: StoreKind) {
    let app = spawn_app(kind).await;
    let gyms: Vec<Gym> = app.get("/v1/gyms").await.json().await.expect("gyms");
    let zones: Vec<&str> = gyms.iter().map(|gym| gym.timezone.as_str()).collect();
    assert_eq!(gyms.len(), 3);
    assert!(
        zones.contains(&"Europe/Berlin")
            && zones.contains(&"America/New_York")
            && zones.contains(&"Asia/Tokyo")
    );
}

async fn slots_are_listed_by_start_within_a_range_and_bad_ranges_are_refused(kind: StoreKind) {
    let app = spawn_app(kind).await;
    let slots: Vec<Slot> = app.get("/v1/gyms/gym_downtown/slots").await.json().await.expect("slots");
    assert!(slots.len() > 30, "a week of demo slots");
    assert!(slots.windows(2).all(|pair| pair[0].starts_at <= pair[1].starts_at), "ordered by startsAt");
    assert!(slots.iter().all(|slot| slot.available == slot.capacity - slot.booked));

    let tomorrow = (Utc::now() + Duration::days(1)).format("%Y-%m-%d").to_string();
    let one_day: Vec<Slot> = app
        .get(&format!("/v1/gyms/gym_downtown/slots?from={tomorrow}&to={tomorrow}"))
        .await
        .json()
        .await
        .expect("slots");
    assert!(!one_day.is_empty() && one_day.len() < slots.len());
    let from = Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let by_instant = app.get(&format!("/v1/gyms/gym_downtown/slots?from={from}")).await;
    assert_eq!(by_instant.status(), StatusCode::OK);

    assert_error(app.get("/v1/gyms/gym_nowhere/slots").await, 404, "gym_not_found").await;
    assert_error(app.get("/v1/gyms/gym_downtown/slots?from=soon").await, 400, "invalid_range").await;
    assert_error(
        app.get("/v1/gyms/gym_downtown/slots?from=2026-12-02&to=2026-12-01").await,
        400,
        "invalid_range",
    )
    .await;
    assert_error(
        app.get("/v1/gyms/gym_downtown/slots?from=2026-01-01&to=2026-12-31").await,
        400,
        "invalid_range",
    )
    .await;
}

async fn capacity_has_an_etag_that_changes_with_bookings(kind: StoreKind) {
    let app = spawn_app(kind).await;
    let slot = app.create_slot(10, Duration::hours(3)).await;
    let response = app.get("/v1/gyms/gym_downtown/capacity").await;
    assert_eq!(response.status(), StatusCode::OK);
    let etag = response.headers().get("etag").and_then(|v| v.to_str().ok()).expect("an etag").to_owned();
    let first_headers = response.headers().clone();
    let first_body = response.bytes().await.expect("a body");
    let snapshot: CapacitySnapshot = serde_json::from_slice(&first_body).expect("a snapshot");
    assert!(snapshot.slots.iter().any(|entry| entry.slot_id == slot.id && entry.available == 10));

    // Nothing changed: the same answer again. The embedded store serves it
    // from the cached rendering before routing, to the byte; PostgreSQL
    // renders it afresh (a new `asOf`).
    let again = app.get("/v1/gyms/gym_downtown/capacity").await;
    assert_eq!(again.status(), StatusCode::OK);
    for name in ["etag", "cache-control", "content-type"] {
        assert_eq!(again.headers().get(name), first_headers.get(name), "{name}");
    }
    assert!(again.headers().contains_key("x-request-id"));
    let again_body = again.bytes().await.expect("a body");
    let again_snapshot: CapacitySnapshot = serde_json::from_slice(&again_body).expect("a snapshot");
    assert_eq!(again_snapshot.slots, snapshot.slots);
    if kind == StoreKind::Sqlite {
        assert_eq!(again_body, first_body);
    }

    let unchanged =
        app.client.get(app.url("/v1/gyms/gym_downtown/capacity")).header("if-none-match", &etag).send().await;
    assert_eq!(unchanged.expect("sent").status(), StatusCode::NOT_MODIFIED);

    app.book_ok(slot.id.as_str(), &app.token("mbr_etag")).await;
    let changed =
        app.client.get(app.url("/v1/gyms/gym_downtown/capacity")).header("if-none-match", &etag).send().await;
    let changed = changed.expect("sent");
    assert_eq!(changed.status(), StatusCode::OK);
    assert_ne!(changed.headers().get("etag").and_then(|v| v.to_str().ok()), Some(etag.as_str()));
    assert_error(app.get("/v1/gyms/gym_nowhere/capacity").await, 404, "gym_not_found").await;
}

async fn the_capacity_stream_sends_a_snapshot_then_every_change(kind: StoreKind) {
    let app = spawn_app(kind).await;
    let slot = app.create_slot_in("gym_summit", 5, Duration::hours(2)).await;
    let response = app.get("/v1/gyms/gym_summit/capacity/stream").await;
    assert_eq!(response.status(), StatusCode::OK);
    let content_type =
        response.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or_default();
    assert!(content_type.starts_with("text/event-stream"), "{content_type}");
    let mut events = SseReader::new(response);
    let mut saw_slot = false;
    while let Some(entry) = events.next_capacity(StdDuration::from_millis(500)).await {
        saw_slot |= entry.slot_id == slot.id;
    }
    assert!(saw_slot, "the snapshot includes the new slot");

    app.book_ok(slot.id.as_str(), &app.token("mbr_live")).await;
    let change = events.next_capacity(StdDuration::from_secs(5)).await.expect("a live event");
    assert_eq!((change.slot_id, change.booked, change.available), (slot.id, 1, 4));
    assert_error(app.get("/v1/gyms/gym_nowhere/capacity/stream").await, 404, "gym_not_found").await;
}

async fn a_slot_is_shown_or_not_found(kind: StoreKind) {
    let app = spawn_app(kind).await;
    let created = app.create_slot(12, Duration::hours(5)).await;
    let shown = app.slot(created.id.as_str()).await;
    assert_eq!(shown, created);
    assert_error(app.get("/v1/slots/slot_nope").await, 404, "slot_not_found").await;
}

async fn booking_takes_a_seat_and_refuses_full_duplicate_closed_and_unknown(kind: StoreKind) {
    let app = spawn_app(kind).await;
    let slot = app.create_slot(1, Duration::hours(4)).await;
    let alex = app.token("mbr_alex");
    let response = app.book(slot.id.as_str(), &alex).await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let booked: BookingResult = response.json().await.expect("a result");
    assert_eq!(booked.booking.status, BookingStatus::Confirmed);
    assert_eq!((booked.slot.booked, booked.slot.available), (1, 0));

    let again = app.book(slot.id.as_str(), &alex).await;
    assert_eq!(again.status(), StatusCode::CONFLICT);
    let body: Value = again.json().await.expect("json");
    assert_eq!(body["error"]["code"], "already_booked");
    assert_eq!(
        body["error"]["booking"]["id"],
        booked.booking.id.as_str(),
        "the existing booking is returned"
    );

    assert_error(app.book(slot.id.as_str(), &app.token("mbr_sam")).await, 409, "slot_full").await;
    let started = app.create_slot(5, -Duration::minutes(10)).await;
    assert_error(app.book(started.id.as_str(), &alex).await, 422, "booking_closed").await;
    let far = app.create_slot(5, Duration::days(8)).await;
    assert_error(app.book(far.id.as_str(), &alex).await, 422, "booking_closed").await;
    assert_error(app.book("slot_nope", &alex).await, 404, "slot_not_found").await;
    let anonymous = app.client.post(app.url(&format!("/v1/slots/{}/bookings", slot.id))).send().await;
    assert_error(anonymous.expect("sent"), 401, "unauthorized").await;
    assert_eq!(app.slot(slot.id.as_str()).await.booked, 1, "no refusal took a seat");
}

async fn cancelling_frees_the_seat_and_refuses_strangers_repeats_and_unknown_ids(kind: StoreKind) {
    let app = spawn_app(kind).await;
    let slot = app.create_slot(3, Duration::hours(4)).await;
    let alex = app.token("mbr_alex");
    let booked = app.book_ok(slot.id.as_str(), &alex).await;
    let booking_id = booked.booking.id.as_str();

    assert_error(app.cancel(booking_id, &app.token("mbr_sam")).await, 403, "forbidden").await;
    let response = app.cancel(booking_id, &alex).await;
    assert_eq!(response.status(), StatusCode::OK);
    let cancelled: BookingResult = response.json().await.expect("a result");
    assert_eq!(cancelled.booking.status, BookingStatus::Cancelled);
    assert_eq!((cancelled.slot.booked, cancelled.slot.available), (0, 3));
    assert_error(app.cancel(booking_id, &alex).await, 409, "already_cancelled").await;
    assert_error(app.cancel("bkg_nope", &alex).await, 404, "booking_not_found").await;
    let anonymous = app.client.delete(app.url(&format!("/v1/bookings/{booking_id}"))).send().await;
    assert_error(anonymous.expect("sent"), 401, "unauthorized").await;
    // After cancelling, the member may book again.
    app.book_ok(slot.id.as_str(), &alex).await;
}

async fn my_bookings_are_listed_newest_first(kind: StoreKind) {
    let app = spawn_app(kind).await;
    let first = app.create_slot(5, Duration::hours(2)).await;
    let second = app.create_slot(5, Duration::hours(3)).await;
    let riley = app.token("mbr_riley");
    app.book_ok(first.id.as_str(), &riley).await;
    tokio::time::sleep(StdDuration::from_millis(5)).await;
    app.book_ok(second.id.as_str(), &riley).await;
    let mine: Vec<Booking> = app.get_auth("/v1/me/bookings", &riley).await.json().await.expect("bookings");
    let slots: Vec<&str> = mine.iter().map(|booking| booking.slot_id.as_str()).collect();
    assert_eq!(slots, vec![second.id.as_str(), first.id.as_str()]);
    let others: Vec<Booking> =
        app.get_auth("/v1/me/bookings", &app.token("mbr_other")).await.json().await.expect("json");
    assert!(others.is_empty());
    assert_error(app.get("/v1/me/bookings").await, 401, "unauthorized").await;
}

async fn operators_create_slots_and_members_may_not(kind: StoreKind) {
    let app = spawn_app(kind).await;
    let starts_at = Utc::now() + Duration::hours(30);
    let response = app
        .post_slot("gym_harbour", &slot_body("  Kettlebells ", starts_at, 14), &app.operator_token())
        .await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let slot: Slot = response.json().await.expect("a slot");
    assert_eq!((slot.title.as_str(), slot.capacity, slot.booked, slot.available), ("Kettlebells", 14, 0, 14));
    assert!(slot.id.as_str().starts_with("slot_"));

    let as_member =
        app.post_slot("gym_harbour", &slot_body("Mine", starts_at, 5), &app.token("mbr_alex")).await;
    assert_error(as_member, 403, "forbidden").await;
    let inverted = json!({"title": "Backwards", "startsAt": starts_at.to_rfc3339(), "endsAt": (starts_at - Duration::hours(1)).to_rfc3339(), "capacity": 5});
    assert_error(app.post_slot("gym_harbour", &inverted, &app.operator_token()).await, 400, "invalid_slot")
        .await;
    let zero = slot_body("Empty", starts_at, 0);
    assert_error(app.post_slot("gym_harbour", &zero, &app.operator_token()).await, 400, "invalid_slot").await;
    let missing = json!({"title": "No times", "capacity": 5});
    assert_error(app.post_slot("gym_harbour", &missing, &app.operator_token()).await, 400, "invalid_slot")
        .await;
    let nowhere =
        app.post_slot("gym_nowhere", &slot_body("Ghost", starts_at, 5), &app.operator_token()).await;
    assert_error(nowhere, 404, "gym_not_found").await;
}

async fn operators_change_capacity_and_title_but_not_below_booked(kind: StoreKind) {
    let app = spawn_app(kind).await;
    let slot = app.create_slot(4, Duration::hours(6)).await;
    for member in ["mbr_a", "mbr_b", "mbr_c"] {
        app.book_ok(slot.id.as_str(), &app.token(member)).await;
    }
    let operator = app.operator_token();
    let response = app
        .patch_slot(slot.id.as_str(), &json!({"capacity": 8, "title": "Spin (big room)"}), &operator)
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let changed: Slot = response.json().await.expect("a slot");
    assert_eq!(
        (changed.capacity, changed.booked, changed.available, changed.title.as_str()),
        (8, 3, 5, "Spin (big room)")
    );
    assert_error(
        app.patch_slot(slot.id.as_str(), &json!({"capacity": 2}), &operator).await,
        409,
        "capacity_below_booked",
    )
    .await;
    assert_error(
        app.patch_slot(slot.id.as_str(), &json!({"capacity": 5}), &app.token("mbr_a")).await,
        403,
        "forbidden",
    )
    .await;
    assert_error(
        app.patch_slot("slot_nope", &json!({"capacity": 5}), &operator).await,
        404,
        "slot_not_found",
    )
    .await;
    assert_error(app.patch_slot(slot.id.as_str(), &json!({}), &operator).await, 400, "invalid_slot").await;
    assert_eq!(app.slot(slot.id.as_str()).await.capacity, 8);
}

async fn a_full_slot_can_be_waitlisted_and_cancellation_promotes_in_order(kind: StoreKind) {
    let app = spawn_app(kind).await;
    let slot = app.create_slot(1, Duration::hours(2)).await;
    let holder = app.token("mbr_holder");
    let held = app.book_ok(slot.id.as_str(), &holder).await;
    let first: BookingResult = app
        .book_with(slot.id.as_str(), &app.token("mbr_w1"), true, None)
        .await
        .json()
        .await
        .expect("a result");
    let second: BookingResult = app
        .book_with(slot.id.as_str(), &app.token("mbr_w2"), true, None)
        .await
        .json()
        .await
        .expect("a result");
    assert_eq!(first.booking.status, BookingStatus::Waitlisted);
    assert_eq!((first.booking.waitlist_position, second.booking.waitlist_position), (Some(1), Some(2)));
    assert_eq!(second.slot.waitlisted, 2);

    let after: BookingResult =
        app.cancel(held.booking.id.as_str(), &holder).await.json().await.expect("a result");
    assert_eq!((after.slot.booked, after.slot.waitlisted), (1, 1), "the seat went straight to the waitlist");
    let w1: Vec<Booking> =
        app.get_auth("/v1/me/bookings", &app.token("mbr_w1")).await.json().await.expect("json");
    assert_eq!(w1[0].status, BookingStatus::Confirmed, "the oldest waitlisted member was promoted");
    let w2: Vec<Booking> =
        app.get_auth("/v1/me/bookings", &app.token("mbr_w2")).await.json().await.expect("json");
    assert_eq!((w2[0].status, w2[0].waitlist_position), (BookingStatus::Waitlisted, Some(1)));
}

async fn raising_capacity_promotes_waitlisted_members(kind: StoreKind) {
    let app = spawn_app(kind).await;
    let slot = app.create_slot(1, Duration::hours(2)).await;
    app.book_ok(slot.id.as_str(), &app.token("mbr_one")).await;
    for member in ["mbr_two", "mbr_three"] {
        let response = app.book_with(slot.id.as_str(), &app.token(member), true, None).await;
        assert_eq!(response.status(), StatusCode::CREATED);
    }
    let raised: Slot = app
        .patch_slot(slot.id.as_str(), &json!({"capacity": 2}), &app.operator_token())
        .await
        .json()
        .await
        .expect("slot");
    assert_eq!((raised.booked, raised.waitlisted), (2, 1));
}

async fn shutdown_ends_live_streams_and_completes(kind: StoreKind) {
    let app: TestApp = spawn_app(kind).await;
    let response = app.get("/v1/gyms/gym_downtown/capacity/stream").await;
    let mut events = SseReader::new(response);
    assert!(events.next_capacity(StdDuration::from_secs(5)).await.is_some(), "the snapshot arrives");
    let stopping = tokio::spawn(app.stop());
    assert!(events.ends_within(StdDuration::from_secs(10)).await, "the stream is closed by the server");
    stopping.await.expect("the server stopped cleanly");
}
