//! Durability: a `kill -9` in the middle of a rush loses no acknowledged
//! booking, and neither does a SIGTERM, which also lets the rush's accepted
//! requests finish and exits cleanly.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration as StdDuration;

use chrono::{Duration, Utc};
use futures::StreamExt;
use gym_core::wire::{BookingResult, Slot};
use reqwest::StatusCode;
use tokio::sync::Mutex;

use crate::helpers::{ChildServer, StoreKind, client, fresh_database, sign_token as token, slot_body};
use crate::store_tests;

store_tests!(
    a_kill_during_a_rush_loses_no_acknowledged_booking,
    a_sigterm_during_a_rush_answers_cleanly_exits_and_keeps_every_booking
);

async fn a_kill_during_a_rush_loses_no_acknowledged_booking(kind: StoreKind) {
    crate::helpers::raise_fd_limit();
    let dir = tempfile::tempdir().expect("a temp dir");
    let (database_url, _database) = fresh_database(kind, dir.path()).await;
    let mut server = ChildServer::start(&database_url).await;
    let http = client();
    let created = http
        .post(format!("{}/v1/gyms/gym_downtown/slots", server.base))
        .bearer_auth(token("mbr_staff", gym_core::wire::Role::Operator))
        .json(&slot_body("Crash test", Utc::now() + Duration::hours(3), 400))
        .send()
        .await
        .expect("sent");
    assert_eq!(created.status(), StatusCode::CREATED);
    let slot: Slot = created.json().await.expect("a slot");

    // 3,000 members rush 400 places, 200 in flight; the server is killed once 150 are acknowledged.
    let acknowledged = Arc::new(Mutex::new(Vec::<String>::new()));
    let url = format!("{}/v1/slots/{}/bookings", server.base, slot.id);
    let (rush_http, rush_acknowledged) = (http.clone(), Arc::clone(&acknowledged));
    let rush = futures::stream::iter(0..3_000)
        .map(move |n| {
            let http = rush_http.clone();
            let url = url.clone();
            let acknowledged = Arc::clone(&rush_acknowledged);
            async move {
                let token = token(&format!("mbr_crash_{n}"), gym_core::wire::Role::Member);
                if let Ok(response) = http.post(url).bearer_auth(token).send().await
                    && response.status() == StatusCode::CREATED
                    && let Ok(result) = response.json::<BookingResult>().await
                {
                    acknowledged.lock().await.push(result.booking.id.to_string());
                }
            }
        })
        .buffer_unordered(200)
        .collect::<Vec<()>>();
    let rush = tokio::spawn(rush);
    for _ in 0..400 {
        if acknowledged.lock().await.len() >= 150 {
            break;
        }
        tokio::time::sleep(StdDuration::from_millis(5)).await;
    }
    server.kill_hard();
    rush.await.expect("the rush ends once the server is gone");
    let acknowledged = acknowledged.lock().await.clone();
    assert!(
        acknowledged.len() >= 150,
        "the rush was under way when the server died ({})",
        acknowledged.len()
    );

    // Restart on the same store: every acknowledged booking is there, nothing beyond capacity.
    let server = ChildServer::start(&database_url).await;
    let after: Slot = http
        .get(format!("{}/v1/slots/{}", server.base, slot.id))
        .send()
        .await
        .expect("sent")
        .json()
        .await
        .expect("a slot");
    assert!(after.booked <= after.capacity);
    assert!(
        after.booked as usize >= acknowledged.len(),
        "{} booked, {} acknowledged",
        after.booked,
        acknowledged.len()
    );
    let stored = stored_statuses(kind, &database_url, slot.id.as_str()).await;
    for booking_id in &acknowledged {
        assert_eq!(stored.get(booking_id).map(String::as_str), Some("confirmed"), "{booking_id} is stored");
    }
    let confirmed = stored.values().filter(|status| *status == "confirmed").count();
    assert_eq!(confirmed, after.booked as usize, "the counter agrees with the rows");
    // And it serves again.
    let response = http
        .post(format!("{}/v1/slots/{}/bookings", server.base, slot.id))
        .bearer_auth(token("mbr_after_the_crash", gym_core::wire::Role::Member))
        .send()
        .await
        .expect("sent");
    assert!(matches!(response.status().as_u16(), 201 | 409), "{}", response.status());
}

async fn a_sigterm_during_a_rush_answers_cleanly_exits_and_keeps_every_booking(kind: StoreKind) {
    crate::helpers::raise_fd_limit();
    let dir = tempfile::tempdir().expect("a temp dir");
    let (database_url, _database) = fresh_database(kind, dir.path()).await;
    let mut server = ChildServer::start(&database_url).await;
    let http = client();
    let created = http
        .post(format!("{}/v1/gyms/gym_downtown/slots", server.base))
        .bearer_auth(token("mbr_staff", gym_core::wire::Role::Operator))
        .json(&slot_body("Deploy during a rush", Utc::now() + Duration::hours(3), 300))
        .send()
        .await
        .expect("sent");
    assert_eq!(created.status(), StatusCode::CREATED);
    let slot: Slot = created.json().await.expect("a slot");

    // 2,000 members rush 300 places, 200 in flight; SIGTERM once 100 are acknowledged.
    let acknowledged = Arc::new(Mutex::new(Vec::<String>::new()));
    let answers = Arc::new(Mutex::new(HashMap::<u16, usize>::new()));
    let url = format!("{}/v1/slots/{}/bookings", server.base, slot.id);
    let (rush_http, rush_acknowledged, rush_answers) =
        (http.clone(), Arc::clone(&acknowledged), Arc::clone(&answers));
    let rush = futures::stream::iter(0..2_000)
        .map(move |n| {
            let (http, url) = (rush_http.clone(), url.clone());
            let (acknowledged, answers) = (Arc::clone(&rush_acknowledged), Arc::clone(&rush_answers));
            async move {
                let token = token(&format!("mbr_deploy_{n}"), gym_core::wire::Role::Member);
                // Requests that reach the closed listener fail to connect, and one
                // sent on a keep-alive connection the server closes before reading
                // it fails too (HTTP/1.1's close race; the app retries those with
                // the same Idempotency-Key). Every request the server read is answered.
                let Ok(response) = http.post(url).bearer_auth(token).send().await else { return };
                let status = response.status();
                if status == StatusCode::CREATED
                    && let Ok(result) = response.json::<BookingResult>().await
                {
                    acknowledged.lock().await.push(result.booking.id.to_string());
                }
                *answers.lock().await.entry(status.as_u16()).or_default() += 1;
            }
        })
        .buffer_unordered(200)
        .collect::<Vec<()>>();
    let rush = tokio::spawn(rush);
    for _ in 0..400 {
        if acknowledged.lock().await.len() >= 100 {
            break;
        }
        tokio::time::sleep(StdDuration::from_millis(5)).await;
    }
    let exit = tokio::task::block_in_place(|| server.terminate(StdDuration::from_secs(30)));
    rush.await.expect("the rush ends once the server is gone");
    assert!(exit.is_some_and(|status| status.success()), "the server exits cleanly on SIGTERM: {exit:?}");
    let answers = answers.lock().await.clone();
    assert!(
        answers.keys().all(|status| matches!(status, 201 | 409)),
        "every answer is a booking or slot_full, never an error: {answers:?}"
    );
    let acknowledged = acknowledged.lock().await.clone();
    assert!(acknowledged.len() >= 100, "the rush was under way at SIGTERM ({})", acknowledged.len());

    // Restart: every acknowledged booking is stored, and the counter agrees.
    let server = ChildServer::start(&database_url).await;
    let after: Slot = http
        .get(format!("{}/v1/slots/{}", server.base, slot.id))
        .send()
        .await
        .expect("sent")
        .json()
        .await
        .expect("a slot");
    assert!(after.booked <= after.capacity);
    let stored = stored_statuses(kind, &database_url, slot.id.as_str()).await;
    for booking_id in &acknowledged {
        assert_eq!(stored.get(booking_id).map(String::as_str), Some("confirmed"), "{booking_id} is stored");
    }
    let confirmed = stored.values().filter(|status| *status == "confirmed").count();
    assert_eq!(confirmed, after.booked as usize, "the counter agrees with the rows");
}

/// Every booking of a slot and its status, read from the database itself.
pub async fn stored_statuses(kind: StoreKind, database_url: &str, slot_id: &str) -> HashMap<String, String> {
    match kind {
        StoreKind::Sqlite => {
            let path = database_url.trim_start_matches("sqlite://");
            let conn = rusqlite::Connection::open(path).expect("the file opens");
            let mut statement =
                conn.prepare("SELECT id, status FROM bookings WHERE slot_id = ?1").expect("a statement");
            let rows = statement.query_map([slot_id], |row| Ok((row.get(0)?, row.get(1)?))).expect("a query");
            rows.collect::<Result<_, _>>().expect("rows")
        }
        StoreKind::Postgres => {
            let pool = sqlx::PgPool::connect(database_url).await.expect("the database opens");
            let rows: Vec<(String, String)> =
                sqlx::query_as("SELECT id, status FROM bookings WHERE slot_id = $1")
                    .bind(slot_id)
                    .fetch_all(&pool)
                    .await
                    .expect("a query");
            pool.close().await;
            rows.into_iter().collect()
        }
    }
}
