//! Several instances on one PostgreSQL database, and PostgreSQL outages.

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration as StdDuration, Instant};

use api_stub::config::SeedMode;
use chrono::{Duration, Utc};
use futures::future::join_all;
use gym_core::wire::{BookingResult, Role, Slot};
use reqwest::StatusCode;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

use crate::durability::stored_statuses;
use crate::helpers::{
    ChildServer, PgDatabase, StoreKind, client, error_of, pg_admin_url, sign_token as token, skip_postgres,
    slot_body, spawn_app_on,
};
use crate::sse::SseReader;

async fn three_instances(database: &PgDatabase) -> Vec<ChildServer> {
    // Started together on a fresh database: migrations and seeding race, on purpose.
    join_all((0..3).map(|_| ChildServer::start(&database.url))).await
}

async fn create_slot(http: &reqwest::Client, base: &str, capacity: u32) -> Slot {
    let response = http
        .post(format!("{base}/v1/gyms/gym_downtown/slots"))
        .bearer_auth(token("mbr_staff", Role::Operator))
        .json(&slot_body("Scale-out class", Utc::now() + Duration::hours(3), capacity))
        .send()
        .await
        .expect("sent");
    assert_eq!(response.status(), StatusCode::CREATED);
    response.json().await.expect("a slot")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_instances_rushed_by_three_thousand_members_hand_out_exactly_fifty_places() {
    if skip_postgres() {
        return;
    }
    crate::helpers::raise_fd_limit();
    let database = PgDatabase::create().await;
    let servers = three_instances(&database).await;
    let http = client();
    let slot = create_slot(&http, &servers[0].base, 50).await;

    let requests = (0..3_000).map(|n| {
        let http = http.clone();
        let url = format!("{}/v1/slots/{}/bookings", servers[n % 3].base, slot.id);
        tokio::spawn(async move {
            let response =
                http.post(url).bearer_auth(token(&format!("mbr_multi_{n}"), Role::Member)).send().await;
            match response {
                Ok(response) => error_of(response).await,
                Err(error) => panic!("request failed: {error}"),
            }
        })
    });
    let mut tally: HashMap<(u16, String), usize> = HashMap::new();
    for outcome in join_all(requests).await {
        let (status, code) = outcome.expect("the request task ran");
        *tally.entry((status.as_u16(), code)).or_default() += 1;
    }
    assert_eq!(tally.get(&(201, "<no error code>".into())), Some(&50), "{tally:?}");
    assert_eq!(tally.get(&(409, "slot_full".into())), Some(&2_950), "{tally:?}");

    let stored = stored_statuses(StoreKind::Postgres, &database.url, slot.id.as_str()).await;
    assert_eq!(stored.values().filter(|status| *status == "confirmed").count(), 50, "the database agrees");
    for server in &servers {
        let seen = server.slot(slot.id.as_str()).await;
        assert_eq!((seen.booked, seen.available), (50, 0));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_idempotency_key_sent_to_two_instances_at_once_takes_one_seat() {
    if skip_postgres() {
        return;
    }
    let database = PgDatabase::create().await;
    let servers = three_instances(&database).await;
    let http = client();
    let slot = create_slot(&http, &servers[0].base, 10).await;
    let member = token("mbr_double_tap", Role::Member);
    let attempts = (0..20).map(|n| {
        let http = http.clone();
        let url = format!("{}/v1/slots/{}/bookings", servers[n % 2].base, slot.id);
        let member = member.clone();
        async move {
            let response = http
                .post(url)
                .bearer_auth(member)
                .header("idempotency-key", "tap-across-instances")
                .send()
                .await
                .expect("sent");
            assert_eq!(response.status(), StatusCode::CREATED);
            let result: BookingResult = response.json().await.expect("a result");
            result.booking.id.to_string()
        }
    });
    let ids: HashSet<String> = join_all(attempts).await.into_iter().collect();
    assert_eq!(ids.len(), 1, "every answer names the same booking: {ids:?}");
    let seen = servers[2].slot(slot.id.as_str()).await;
    assert_eq!(seen.booked, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_booking_on_one_instance_reaches_live_subscribers_of_another_within_a_second() {
    if skip_postgres() {
        return;
    }
    let database = PgDatabase::create().await;
    let servers = three_instances(&database).await;
    let http = client();
    let slot = create_slot(&http, &servers[1].base, 8).await;
    let stream = http
        .get(format!("{}/v1/gyms/gym_downtown/capacity/stream", servers[0].base))
        .send()
        .await
        .expect("sent");
    let mut events = SseReader::new(stream);
    while events.next_capacity(StdDuration::from_millis(500)).await.is_some() {}

    let booked_at = Instant::now();
    let response = http
        .post(format!("{}/v1/slots/{}/bookings", servers[2].base, slot.id))
        .bearer_auth(token("mbr_far_away", Role::Member))
        .send()
        .await
        .expect("sent");
    assert_eq!(response.status(), StatusCode::CREATED);
    let event = loop {
        let event =
            events.next_capacity(StdDuration::from_secs(2)).await.expect("an event from the other instance");
        if event.slot_id == slot.id {
            break event;
        }
    };
    assert_eq!((event.booked, event.available), (1, 7));
    assert!(booked_at.elapsed() < StdDuration::from_secs(1), "took {:?}", booked_at.elapsed());
}

/// A TCP proxy in front of PostgreSQL that a test can cut and restore.
struct PgProxy {
    address: SocketAddr,
    up: watch::Sender<bool>,
}

impl PgProxy {
    async fn start(target: String) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind the proxy");
        let address = listener.local_addr().expect("an address");
        let (up, watcher) = watch::channel(true);
        tokio::spawn(async move {
            while let Ok((mut client, _)) = listener.accept().await {
                if !*watcher.borrow() {
                    continue; // Down: drop the connection at once.
                }
                let mut cut = watcher.clone();
                let target = target.clone();
                tokio::spawn(async move {
                    let Ok(mut server) = TcpStream::connect(&target).await else { return };
                    tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut client, &mut server) => {}
                        _ = cut.wait_for(|up| !*up) => {}
                    }
                });
            }
        });
        Self { address, up }
    }

    fn set_up(&self, up: bool) {
        self.up.send_replace(up);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_outage_gets_fast_503s_and_bookings_work_again_after_it_with_nothing_lost_or_doubled() {
    if skip_postgres() {
        return;
    }
    crate::helpers::raise_fd_limit();
    let admin = pg_admin_url();
    let target = admin
        .split('@')
        .nth(1)
        .and_then(|rest| rest.split('/').next())
        .unwrap_or("127.0.0.1:5432")
        .to_owned();
    let proxy = PgProxy::start(target).await;
    let database = PgDatabase::create().await;
    let direct_url = database.url.clone();
    let url = database.url_via(proxy.address);
    let app = Arc::new(
        spawn_app_on(&url, SeedMode::Demo, tempfile::tempdir().expect("a dir"), Some(database)).await,
    );
    let slot = app.create_slot(300, Duration::hours(3)).await;
    let mut acknowledged: Vec<String> = Vec::new();
    for n in 0..5 {
        acknowledged.push(
            app.book_ok(slot.id.as_str(), &app.token(&format!("mbr_before_{n}")))
                .await
                .booking
                .id
                .to_string(),
        );
    }

    // A burst in flight when the database goes away.
    let burst = (0..200).map(|n| {
        let app = Arc::clone(&app);
        let slot_id = slot.id.to_string();
        tokio::spawn(async move {
            let response = app.book(&slot_id, &app.token(&format!("mbr_burst_{n}"))).await;
            if response.status() == StatusCode::CREATED {
                let result: BookingResult = response.json().await.expect("a result");
                Some(result.booking.id.to_string())
            } else {
                let (status, code) = error_of(response).await;
                assert_eq!((status.as_u16(), code.as_str()), (503, "store_unavailable"));
                None
            }
        })
    });
    let burst = tokio::spawn(join_all(burst));
    tokio::time::sleep(StdDuration::from_millis(30)).await;
    proxy.set_up(false);
    for outcome in burst.await.expect("the burst ran") {
        acknowledged.extend(outcome.expect("a burst request ran"));
    }

    // While it is down: fast 503s, never a hang.
    let member = app.token("mbr_during_outage");
    for _ in 0..3 {
        let started = Instant::now();
        let response = app.book_with(slot.id.as_str(), &member, false, Some("outage-key")).await;
        let elapsed = started.elapsed();
        let (status, code) = error_of(response).await;
        assert_eq!((status.as_u16(), code.as_str()), (503, "store_unavailable"));
        assert!(elapsed < StdDuration::from_secs(2), "a 503 took {elapsed:?}");
    }
    let (status, _) = error_of(app.get("/health").await).await;
    assert_eq!(status.as_u16(), 503);

    // Back up: the server recovers by itself.
    proxy.set_up(true);
    let recovered = Instant::now();
    loop {
        if app.get("/health").await.status() == StatusCode::OK {
            break;
        }
        assert!(recovered.elapsed() < StdDuration::from_secs(15), "no recovery after 15 s");
        tokio::time::sleep(StdDuration::from_millis(100)).await;
    }
    // The retry of the failed booking, with its key, takes exactly one seat.
    let first: BookingResult = app
        .book_with(slot.id.as_str(), &member, false, Some("outage-key"))
        .await
        .json()
        .await
        .expect("a result");
    let again: BookingResult = app
        .book_with(slot.id.as_str(), &member, false, Some("outage-key"))
        .await
        .json()
        .await
        .expect("a result");
    assert_eq!(first.booking.id, again.booking.id);
    acknowledged.push(first.booking.id.to_string());

    let stored = stored_statuses(StoreKind::Postgres, &direct_url, slot.id.as_str()).await;
    for booking_id in &acknowledged {
        assert_eq!(stored.get(booking_id).map(String::as_str), Some("confirmed"), "{booking_id} survived");
    }
    let confirmed = stored.values().filter(|status| *status == "confirmed").count();
    let after = app.slot(slot.id.as_str()).await;
    assert_eq!(after.booked as usize, confirmed, "no half-done booking: the counter matches the rows");
    assert!(confirmed >= acknowledged.len());
}
