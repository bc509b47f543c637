//! `Idempotency-Key`: retries return the first answer and never take a second seat.

use std::sync::Arc;

use chrono::Duration;
use futures::future::join_all;
use gym_core::wire::BookingResult;
use reqwest::StatusCode;

use crate::helpers::{StoreKind, assert_error, spawn_app};
use crate::store_tests;

store_tests!(
    fifty_concurrent_retries_with_one_key_take_one_seat,
    a_key_reused_for_another_slot_is_refused,
    keys_belong_to_their_member,
);

async fn fifty_concurrent_retries_with_one_key_take_one_seat(kind: StoreKind) {
    let app = Arc::new(spawn_app(kind).await);
    let slot = app.create_slot(10, Duration::hours(3)).await;
    let token = app.token("mbr_flaky_network");
    let retries = (0..50).map(|_| {
        let app = Arc::clone(&app);
        let token = token.clone();
        let slot_id = slot.id.to_string();
        tokio::spawn(async move {
            let response = app.book_with(&slot_id, &token, false, Some("tap-7f3a")).await;
            let status = response.status();
            let replayed = response.headers().contains_key("idempotent-replayed");
            let result: BookingResult = response.json().await.expect("a booking result");
            (status, replayed, result.booking.id)
        })
    });
    let answers: Vec<_> =
        join_all(retries).await.into_iter().map(|answer| answer.expect("task ran")).collect();
    assert!(
        answers.iter().all(|(status, _, _)| *status == StatusCode::CREATED),
        "same status code every time"
    );
    let first_id = &answers[0].2;
    assert!(answers.iter().all(|(_, _, id)| id == first_id), "same booking id every time");
    assert_eq!(answers.iter().filter(|(_, replayed, _)| !replayed).count(), 1, "one original, 49 replays");
    assert_eq!(app.slot(slot.id.as_str()).await.booked, 1);
}

async fn a_key_reused_for_another_slot_is_refused(kind: StoreKind) {
    let app = spawn_app(kind).await;
    let first = app.create_slot(10, Duration::hours(3)).await;
    let second = app.create_slot(10, Duration::hours(4)).await;
    let token = app.token("mbr_reuser");
    let response = app.book_with(first.id.as_str(), &token, false, Some("key-1")).await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let reused = app.book_with(second.id.as_str(), &token, false, Some("key-1")).await;
    assert_error(reused, 409, "idempotency_key_reused").await;
    assert_eq!(app.slot(second.id.as_str()).await.booked, 0);
}

async fn keys_belong_to_their_member(kind: StoreKind) {
    let app = spawn_app(kind).await;
    let slot = app.create_slot(10, Duration::hours(3)).await;
    for member in ["mbr_one", "mbr_two"] {
        let response = app.book_with(slot.id.as_str(), &app.token(member), false, Some("same-key")).await;
        assert_eq!(response.status(), StatusCode::CREATED);
        assert!(!response.headers().contains_key("idempotent-replayed"));
    }
    assert_eq!(app.slot(slot.id.as_str()).await.booked, 2);
}
