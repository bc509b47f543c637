//! Durability: a `kill -9` in the middle of a rush loses no acknowledged
//! booking, and neither does a SIGTERM, which also lets the rush's accepted
//! requests finish and exits cleanly.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration as StdDuration;

use chrono::{Duration, Utc};
use futures::StreamExt;
use gym_core::wire::{BookingResult, Role, Slot};
use reqwest::StatusCode;
use tokio::sync::Mutex;

use crate::helpers::{
    ChildServer, PgDatabase, StoreKind, client, fresh_database, sign_token as token, slot_body,
};
use crate::store_tests;

store_tests!(
    a_kill_during_a_rush_loses_no_acknowledged_booking,
    a_sigterm_during_a_rush_answers_cleanly_exits_and_keeps_every_booking
);

/// A child server on a fresh store with one slot open for booking.
struct Stage {
    database_url: String,
    server: ChildServer,
    slot: Slot,
    _database: Option<PgDatabase>,
    _dir: tempfile::TempDir,
}

async fn stage(kind: StoreKind, title: &str, capacity: u32) -> Stage {
    crate::helpers::raise_fd_limit();
    let dir = tempfile::tempdir().expect("a temp dir");
    let (database_url, database) = fresh_database(kind, dir.path()).await;
    let server = ChildServer::start(&database_url).await;
    let slot = create_slot(&server, title, capacity).await;
    Stage { database_url, server, slot, _database: database, _dir: dir }
}

/// A slot in three hours at the downtown gym, created by an operator.
async fn create_slot(server: &ChildServer, title: &str, capacity: u32) -> Slot {
    let created = client()
        .post(format!("{}/v1/gyms/gym_downtown/slots", server.base))
        .bearer_auth(token("mbr_staff", Role::Operator))
        .json(&slot_body(title, Utc::now() + Duration::hours(3), capacity))
        .send()
        .await
        .expect("sent");
    assert_eq!(created.status(), StatusCode::CREATED);
    created.json().await.expect("a slot")
}

/// A rush in the background: `members` distinct members book one slot, 200
/// in flight. Requests that fail to get an answer (the server went away) are
/// not counted.
struct Rush {
    acknowledged: Arc<Mutex<Vec<String>>>,
    answers: Arc<Mutex<HashMap<u16, usize>>>,
    task: tokio::task::JoinHandle<Vec<()>>,
}

impl Rush {
    fn start(server: &ChildServer, slot: &Slot, members: usize, member_prefix: &str) -> Self {
        let acknowledged: Arc<Mutex<Vec<String>>> = Arc::default();
        let answers: Arc<Mutex<HashMap<u16, usize>>> = Arc::default();
        let (http, url) = (client(), format!("{}/v1/slots/{}/bookings", server.base, slot.id));
        let (rush_acknowledged, rush_answers) = (Arc::clone(&acknowledged), Arc::clone(&answers));
        let member_prefix = member_prefix.to_owned();
        let rush = futures::stream::iter(0..members)
            .map(move |n| {
                let (http, url) = (http.clone(), url.clone());
                let (acknowledged, answers) = (Arc::clone(&rush_acknowledged), Arc::clone(&rush_answers));
                let token = token(&format!("{member_prefix}{n}"), Role::Member);
                async move {
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
        Self { acknowledged, answers, task: tokio::spawn(rush) }
    }

    /// Waits (at most ~2 s) until `count` bookings have been acknowledged.
    async fn until_acknowledged(&self, count: usize) {
        for _ in 0..400 {
            if self.acknowledged.lock().await.len() >= count {
                return;
            }
            tokio::time::sleep(StdDuration::from_millis(5)).await;
        }
    }

    /// Waits for the rush to end; the acknowledged booking ids and the tally of answers.
    async fn finish(self) -> (Vec<String>, HashMap<u16, usize>) {
        self.task.await.expect("the rush ends once the server is gone");
        let acknowledged = self.acknowledged.lock().await.clone();
        let answers = self.answers.lock().await.clone();
        (acknowledged, answers)
    }
}

/// After a restart on the same store: every acknowledged booking is stored
/// as confirmed, nothing is beyond capacity, and the slot's counter agrees
/// with the rows. The rows are read from the database once the restarted
/// server has stopped: an embedded server holds its file exclusively.
async fn assert_kept(kind: StoreKind, stage: &Stage, mut server: ChildServer, acknowledged: &[String]) {
    let after = server.slot(stage.slot.id.as_str()).await;
    assert!(after.booked <= after.capacity);
    assert!(
        after.booked as usize >= acknowledged.len(),
        "{} booked, {} acknowledged",
        after.booked,
        acknowledged.len()
    );
    let exit = tokio::task::block_in_place(|| server.terminate(StdDuration::from_secs(30)));
    assert!(exit.is_some_and(|status| status.success()), "the restarted server stops cleanly: {exit:?}");
    let stored = stored_statuses(kind, &stage.database_url, stage.slot.id.as_str()).await;
    for booking_id in acknowledged {
        assert_eq!(stored.get(booking_id).map(String::as_str), Some("confirmed"), "{booking_id} is stored");
    }
    let confirmed = stored.values().filter(|status| *status == "confirmed").count();
    assert_eq!(confirmed, after.booked as usize, "the counter agrees with the rows");
}

async fn a_kill_during_a_rush_loses_no_acknowledged_booking(kind: StoreKind) {
    let mut stage = stage(kind, "Crash test", 400).await;

    // 3,000 members rush 400 places, 200 in flight; the server is killed once 150 are acknowledged.
    let rush = Rush::start(&stage.server, &stage.slot, 3_000, "mbr_crash_");
    rush.until_acknowledged(150).await;
    stage.server.kill_hard();
    let (acknowledged, _) = rush.finish().await;
    assert!(
        acknowledged.len() >= 150,
        "the rush was under way when the server died ({})",
        acknowledged.len()
    );

    // Restart on the same store: it serves again, every acknowledged booking
    // is there, nothing beyond capacity.
    let server = ChildServer::start(&stage.database_url).await;
    let response = client()
        .post(format!("{}/v1/slots/{}/bookings", server.base, stage.slot.id))
        .bearer_auth(token("mbr_after_the_crash", Role::Member))
        .send()
        .await
        .expect("sent");
    assert!(matches!(response.status().as_u16(), 201 | 409), "{}", response.status());
    assert_kept(kind, &stage, server, &acknowledged).await;
}

async fn a_sigterm_during_a_rush_answers_cleanly_exits_and_keeps_every_booking(kind: StoreKind) {
    let mut stage = stage(kind, "Deploy during a rush", 300).await;

    // 2,000 members rush 300 places, 200 in flight; SIGTERM once 100 are acknowledged.
    // Requests that reach the closed listener fail to connect, and one sent on
    // a keep-alive connection the server closes before reading it fails too
    // (HTTP/1.1's close race; the app retries those with the same
    // Idempotency-Key). Every request the server read is answered.
    let rush = Rush::start(&stage.server, &stage.slot, 2_000, "mbr_deploy_");
    rush.until_acknowledged(100).await;
    let exit = tokio::task::block_in_place(|| stage.server.terminate(StdDuration::from_secs(30)));
    let (acknowledged, answers) = rush.finish().await;
    assert!(exit.is_some_and(|status| status.success()), "the server exits cleanly on SIGTERM: {exit:?}");
    assert!(
        answers.keys().all(|status| matches!(status, 201 | 409)),
        "every answer is a booking or slot_full, never an error: {answers:?}"
    );
    assert!(acknowledged.len() >= 100, "the rush was under way at SIGTERM ({})", acknowledged.len());

    // Restart: every acknowledged booking is stored, and the counter agrees.
    let server = ChildServer::start(&stage.database_url).await;
    assert_kept(kind, &stage, server, &acknowledged).await;
}

/// Two embedded servers on one file would each decide from their own ledger
/// and hand out the same last place: the second one refuses to start, says
/// why, and the first keeps serving.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_server_on_the_same_sqlite_file_refuses_to_start() {
    let stage = stage(StoreKind::Sqlite, "One file, one server", 10).await;
    let second = tokio::task::spawn_blocking({
        let database_url = stage.database_url.clone();
        move || {
            std::process::Command::new(env!("CARGO_BIN_EXE_api-stub"))
                .arg("serve")
                .env("PORT", "0")
                .env("BIND_ADDR", "127.0.0.1")
                .env("DATABASE_URL", database_url)
                .env("GYM_JWT_SECRET", crate::helpers::SECRET)
                .env("RUST_LOG", "warn")
                .output()
                .expect("api-stub runs")
        }
    });
    let second = tokio::time::timeout(StdDuration::from_secs(60), second)
        .await
        .expect("the second server gives up within a minute")
        .expect("joined");
    let said = String::from_utf8_lossy(&second.stderr);
    assert!(!second.status.success(), "the second server must not start: {said}");
    assert!(said.contains("is in use by another server"), "it says why: {said}");

    let response = client()
        .post(format!("{}/v1/slots/{}/bookings", stage.server.base, stage.slot.id))
        .bearer_auth(token("mbr_first_server_member", Role::Member))
        .send()
        .await
        .expect("sent");
    assert_eq!(response.status(), StatusCode::CREATED, "the first server still books");
}

/// A server allowed one core runs a single-threaded runtime (forced here
/// with `GYM_WORKER_THREADS=1`, as `taskset -c 0` would choose it): a rush
/// still gets exactly the places, and SIGTERM still drains it cleanly.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_single_threaded_server_hands_out_exactly_the_places_and_stops_cleanly() {
    crate::helpers::raise_fd_limit();
    let dir = tempfile::tempdir().expect("a temp dir");
    let database_url = format!("sqlite://{}", dir.path().join("gym.sqlite").display());
    let mut server = ChildServer::start_with(&database_url, &[("GYM_WORKER_THREADS", "1")]).await;
    let threads = server.thread_names();
    assert!(!threads.iter().any(|name| name == "tokio-rt-worker"), "no worker pool: {threads:?}");
    let slot = create_slot(&server, "One core", 30).await;

    let (acknowledged, answers) = Rush::start(&server, &slot, 600, "mbr_one_core_").finish().await;
    assert_eq!(acknowledged.len(), 30, "exactly the places: {answers:?}");
    assert_eq!(answers.get(&409), Some(&570), "everyone else is told the slot is full: {answers:?}");
    assert_eq!(server.slot(slot.id.as_str()).await.booked, 30);

    let exit = tokio::task::block_in_place(|| server.terminate(StdDuration::from_secs(30)));
    assert!(exit.is_some_and(|status| status.success()), "stops cleanly on SIGTERM: {exit:?}");
}

/// Applies to SQLite held back for a day: everything the server acknowledged
/// lives only in its commit journal when it is killed. The restarted server
/// replays the journal into SQLite and has every booking.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bookings_only_in_the_commit_journal_survive_a_kill_and_reach_sqlite() {
    crate::helpers::raise_fd_limit();
    let dir = tempfile::tempdir().expect("a temp dir");
    let database_url = format!("sqlite://{}", dir.path().join("gym.sqlite").display());
    let mut server = ChildServer::start_with(&database_url, &[("GYM_APPLY_INTERVAL_MS", "86400000")]).await;
    let slot = create_slot(&server, "Journal only", 100).await;
    let (acknowledged, answers) = Rush::start(&server, &slot, 150, "mbr_journal_").finish().await;
    assert_eq!(acknowledged.len(), 100, "{answers:?}");

    server.kill_hard();
    let applied = stored_statuses(StoreKind::Sqlite, &database_url, slot.id.as_str()).await;
    assert!(applied.is_empty(), "nothing was applied to SQLite before the kill: {} rows", applied.len());

    let mut server = ChildServer::start(&database_url).await;
    assert_eq!(server.slot(slot.id.as_str()).await.booked, 100);
    let exit = tokio::task::block_in_place(|| server.terminate(StdDuration::from_secs(30)));
    assert!(exit.is_some_and(|status| status.success()), "stops cleanly: {exit:?}");
    let stored = stored_statuses(StoreKind::Sqlite, &database_url, slot.id.as_str()).await;
    assert_eq!(stored.len(), 100, "every acknowledged booking is in SQLite now");
    for booking_id in &acknowledged {
        assert_eq!(stored.get(booking_id).map(String::as_str), Some("confirmed"), "{booking_id}");
    }
}

/// A booking's id names its place in the server's ledger. After a restart,
/// every booking is found by its id again and can be cancelled, including
/// one stored before ids named a place (an id of 20 random letters).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_booking_is_found_by_its_id_after_a_restart_also_one_stored_before_ids_named_a_place() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let path = dir.path().join("gym.sqlite");
    let database_url = format!("sqlite://{}", path.display());
    let mut server = ChildServer::start(&database_url).await;
    let slot = create_slot(&server, "Ids", 10).await;
    let mut ids = Vec::new();
    for member in ["mbr_id_0", "mbr_id_1", "mbr_id_2"] {
        let response = client()
            .post(format!("{}/v1/slots/{}/bookings", server.base, slot.id))
            .bearer_auth(token(member, Role::Member))
            .send()
            .await
            .expect("sent");
        assert_eq!(response.status(), StatusCode::CREATED);
        let booked: BookingResult = response.json().await.expect("a booking");
        ids.push((member, booked.booking.id));
    }
    let positions: Vec<Option<u64>> =
        ids.iter().map(|(_, id)| gym_core::BookingId::position_of(id.as_str())).collect();
    assert!(
        positions.windows(2).all(|pair| matches!(pair, [Some(a), Some(b)] if b == &(a + 1))),
        "{positions:?}"
    );
    let exit = tokio::task::block_in_place(|| server.terminate(StdDuration::from_secs(30)));
    assert!(exit.is_some_and(|status| status.success()), "stops cleanly: {exit:?}");

    let old_id = "bkg_k3xq7mzt9w2rhv5npa4c";
    rusqlite::Connection::open(&path)
        .expect("the file opens")
        .execute(
            "INSERT INTO bookings (seq, id, slot_id, member_id, status, created_at_ms)
             SELECT MAX(seq) + 1, ?1, ?2, 'mbr_id_old', 'confirmed', 1 FROM bookings",
            [old_id, slot.id.as_str()],
        )
        .expect("an old booking is stored");
    ids.push(("mbr_id_old", gym_core::BookingId::new(old_id)));

    let mut server = ChildServer::start(&database_url).await;
    assert_eq!(server.slot(slot.id.as_str()).await.booked, 4);
    for (member, id) in &ids {
        let found = client()
            .get(format!("{}/v1/bookings/{id}", server.base))
            .bearer_auth(token(member, Role::Member))
            .send()
            .await
            .expect("sent");
        assert_eq!(found.status(), StatusCode::OK, "{id}");
        let cancelled = client()
            .delete(format!("{}/v1/bookings/{id}", server.base))
            .bearer_auth(token(member, Role::Member))
            .send()
            .await
            .expect("sent");
        assert_eq!(cancelled.status(), StatusCode::OK, "{id}");
    }
    assert_eq!(server.slot(slot.id.as_str()).await.booked, 0);
    let exit = tokio::task::block_in_place(|| server.terminate(StdDuration::from_secs(30)));
    assert!(exit.is_some_and(|status| status.success()), "stops cleanly: {exit:?}");
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
