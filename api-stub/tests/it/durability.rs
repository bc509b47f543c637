//! Durability: a `kill -9` in the middle of a rush loses no acknowledged booking.

use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration as StdDuration;

use chrono::{Duration, Utc};
use futures::StreamExt;
use gym_core::wire::{BookingResult, Slot};
use reqwest::StatusCode;
use tokio::sync::Mutex;

use crate::helpers::{SECRET, StoreKind, client, slot_body};
use crate::store_tests;

store_tests!(a_kill_during_a_rush_loses_no_acknowledged_booking);

/// The real `api-stub` binary, started as a child process.
struct ChildServer {
    child: Child,
    base: String,
}

impl ChildServer {
    async fn start(database_url: &str) -> Self {
        let port = {
            let probe = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port");
            probe.local_addr().expect("an address").port()
        };
        let child = Command::new(env!("CARGO_BIN_EXE_api-stub"))
            .arg("serve")
            .env("PORT", port.to_string())
            .env("BIND_ADDR", "127.0.0.1")
            .env("DATABASE_URL", database_url)
            .env("GYM_JWT_SECRET", SECRET)
            .env("GYM_SEED", "demo")
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("api-stub starts");
        let server = Self { child, base: format!("http://127.0.0.1:{port}") };
        server.wait_healthy().await;
        server
    }

    async fn wait_healthy(&self) {
        let client = client();
        for _ in 0..200 {
            if let Ok(response) = client.get(format!("{}/health", self.base)).send().await
                && response.status() == StatusCode::OK
            {
                return;
            }
            tokio::time::sleep(StdDuration::from_millis(50)).await;
        }
        panic!("the server did not become healthy in 10 s");
    }

    fn kill_hard(&mut self) {
        // SIGKILL: no graceful shutdown, no flush, exactly like a crash.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for ChildServer {
    fn drop(&mut self) {
        self.kill_hard();
    }
}

fn token(member: &str, role: gym_core::wire::Role) -> String {
    let claims = gym_core::wire::Claims {
        sub: member.into(),
        exp: (Utc::now() + Duration::hours(1)).timestamp(),
        role,
        name: None,
    };
    api_stub::auth::JwtKeys::new(SECRET.as_bytes()).sign(&claims)
}

async fn a_kill_during_a_rush_loses_no_acknowledged_booking(kind: StoreKind) {
    crate::helpers::raise_fd_limit();
    let dir = tempfile::tempdir().expect("a temp dir");
    let database_url = match kind {
        StoreKind::Sqlite => format!("sqlite://{}", dir.path().join("gym.sqlite").display()),
    };
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
    #[allow(irrefutable_let_patterns, reason = "the PostgreSQL store joins this enum later")]
    if let StoreKind::Sqlite = kind {
        let conn = rusqlite::Connection::open(dir.path().join("gym.sqlite")).expect("the file opens");
        let mut statement = conn.prepare("SELECT status FROM bookings WHERE id = ?1").expect("a statement");
        for booking_id in &acknowledged {
            let status: String =
                statement.query_row([booking_id], |row| row.get(0)).expect("the booking is stored");
            assert_eq!(status, "confirmed", "{booking_id}");
        }
        let confirmed: u32 = conn
            .query_row(
                "SELECT count(*) FROM bookings WHERE slot_id = ?1 AND status = 'confirmed'",
                [slot.id.as_str()],
                |row| row.get(0),
            )
            .expect("a count");
        assert_eq!(confirmed, after.booked, "the counter agrees with the rows");
    }
    // And it serves again.
    let response = http
        .post(format!("{}/v1/slots/{}/bookings", server.base, slot.id))
        .bearer_auth(token("mbr_after_the_crash", gym_core::wire::Role::Member))
        .send()
        .await
        .expect("sent");
    assert!(matches!(response.status().as_u16(), 201 | 409), "{}", response.status());
}
