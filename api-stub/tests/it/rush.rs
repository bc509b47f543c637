//! The rush: thousands of members booking one small slot at the same moment.

use std::collections::HashMap;
use std::sync::Arc;

use chrono::Duration;
use futures::future::join_all;
use gym_core::wire::{Booking, BookingResult, BookingStatus};
use reqwest::StatusCode;

use crate::helpers::{StoreKind, TestApp, error_of, spawn_app};
use crate::store_tests;

store_tests!(
    two_thousand_members_rushing_thirty_places_get_exactly_thirty,
    a_storm_of_bookings_cancels_and_rebooks_never_breaks_the_counters,
);

async fn two_thousand_members_rushing_thirty_places_get_exactly_thirty(kind: StoreKind) {
    let app = Arc::new(spawn_app(kind).await);
    let slot = app.create_slot(30, Duration::hours(3)).await;
    let tokens: Vec<String> = (0..2_000).map(|n| app.token(&format!("mbr_rush_{n}"))).collect();

    let requests = tokens.into_iter().map(|token| {
        let app = Arc::clone(&app);
        let slot_id = slot.id.to_string();
        tokio::spawn(async move { error_of(app.book(&slot_id, &token).await).await })
    });
    let outcomes = join_all(requests).await;

    let mut tally: HashMap<(u16, String), usize> = HashMap::new();
    for outcome in outcomes {
        let (status, code) = outcome.expect("the request task ran");
        *tally.entry((status.as_u16(), code)).or_default() += 1;
    }
    assert_eq!(tally.get(&(201, "<no error code>".into())), Some(&30), "{tally:?}");
    assert_eq!(tally.get(&(409, "slot_full".into())), Some(&1_970), "{tally:?}");
    assert_eq!(tally.len(), 2, "nothing but 201 and 409 slot_full: {tally:?}");
    let after = app.slot(slot.id.as_str()).await;
    assert_eq!((after.booked, after.available), (30, 0));
}

async fn a_storm_of_bookings_cancels_and_rebooks_never_breaks_the_counters(kind: StoreKind) {
    let app = Arc::new(spawn_app(kind).await);
    let slot = app.create_slot(30, Duration::hours(3)).await;
    let members: Vec<String> = (0..400).map(|n| format!("mbr_storm_{n}")).collect();

    let storms = members.iter().enumerate().map(|(n, member)| {
        let app = Arc::clone(&app);
        let slot_id = slot.id.to_string();
        let token = app.token(member);
        tokio::spawn(async move {
            // Every member tries to book; a third cancel and book again, a third join the waitlist.
            let response = app.book_with(&slot_id, &token, n % 3 == 2, None).await;
            if response.status() != StatusCode::CREATED {
                return;
            }
            let booked: BookingResult = response.json().await.expect("a result");
            if n % 3 == 0 {
                let cancelled = app.cancel(booked.booking.id.as_str(), &token).await;
                assert_eq!(cancelled.status(), StatusCode::OK);
                let _ = app.book(&slot_id, &token).await;
            }
        })
    });
    for storm in join_all(storms).await {
        storm.expect("the storm task ran");
    }

    let after = app.slot(slot.id.as_str()).await;
    assert!(after.booked <= after.capacity, "over capacity: {after:?}");
    let confirmed = count_statuses(&app, &members, slot.id.as_str()).await;
    assert_eq!(confirmed.get(&BookingStatus::Confirmed).copied().unwrap_or(0), after.booked as usize);
    assert_eq!(confirmed.get(&BookingStatus::Waitlisted).copied().unwrap_or(0), after.waitlisted as usize);
    if after.waitlisted > 0 {
        assert_eq!(after.available, 0, "nobody waits while a seat is free");
    }
}

/// Counts the members' bookings of a slot by status, through the API.
async fn count_statuses(
    app: &Arc<TestApp>,
    members: &[String],
    slot_id: &str,
) -> HashMap<BookingStatus, usize> {
    let lists = join_all(members.iter().map(|member| {
        let app = Arc::clone(app);
        let token = app.token(member);
        async move {
            let bookings: Vec<Booking> =
                app.get_auth("/v1/me/bookings", &token).await.json().await.expect("bookings");
            bookings
        }
    }))
    .await;
    let mut counts = HashMap::new();
    for booking in lists.into_iter().flatten().filter(|booking| booking.slot_id.as_str() == slot_id) {
        *counts.entry(booking.status).or_default() += 1;
    }
    counts
}
