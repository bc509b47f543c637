//! Test harness: a real server on 127.0.0.1:0 over a fresh store, and one
//! request helper per endpoint.

use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration as StdDuration;

use api_stub::auth::JwtKeys;
use api_stub::config::{Config, Secret, SeedMode};
use chrono::{DateTime, Duration, Utc};
use gym_core::wire::{BookingResult, Claims, Role, Slot};
use reqwest::{Response, StatusCode};
use serde_json::{Value, json};
use tokio::sync::oneshot;

/// The secret every test server signs with.
pub const SECRET: &str = "test-secret-please-ignore";

/// Which store a test runs against.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StoreKind {
    /// The embedded default.
    Sqlite,
    /// PostgreSQL, each test on its own fresh database.
    Postgres,
}

/// The PostgreSQL server tests create their databases on.
pub fn pg_admin_url() -> String {
    std::env::var("GYM_TEST_PG_URL").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

/// A fresh PostgreSQL database, dropped (with its connections) when this is dropped.
pub struct PgDatabase {
    /// Its name.
    pub name: String,
    /// A URL for it.
    pub url: String,
}

impl PgDatabase {
    /// Creates a database with a random name.
    pub async fn create() -> Self {
        use sqlx::Connection;
        let admin = pg_admin_url();
        let name = format!("gym_test_{}", api_stub::store::new_id("").to_lowercase());
        let mut conn = sqlx::PgConnection::connect(&admin).await.unwrap_or_else(|error| {
            panic!("PostgreSQL at {admin} is needed for the postgres tests: {error}")
        });
        sqlx::query(&format!("CREATE DATABASE {name}"))
            .execute(&mut conn)
            .await
            .expect("create a test database");
        let base = admin.rsplit_once('/').map_or(admin.as_str(), |(base, _)| base);
        Self { url: format!("{base}/{name}"), name }
    }

    /// The same database reached through another host and port (e.g. a proxy).
    pub fn url_via(&self, address: SocketAddr) -> String {
        format!("postgres://postgres@{address}/{}", self.name)
    }
}

impl Drop for PgDatabase {
    fn drop(&mut self) {
        let name = self.name.clone();
        // Drop runs inside a runtime; do the async clean-up on a thread of its own.
        let _ = std::thread::spawn(move || {
            use sqlx::Connection;
            let Ok(runtime) = tokio::runtime::Builder::new_current_thread().enable_all().build() else {
                return;
            };
            runtime.block_on(async move {
                if let Ok(mut conn) = sqlx::PgConnection::connect(&pg_admin_url()).await {
                    let _ = sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                        .execute(&mut conn)
                        .await;
                }
            });
        })
        .join();
    }
}

/// A fresh, empty database of the given kind, and the URL to reach it.
pub async fn fresh_database(kind: StoreKind, dir: &std::path::Path) -> (String, Option<PgDatabase>) {
    match kind {
        StoreKind::Sqlite => (format!("sqlite://{}", dir.join("gym.sqlite").display()), None),
        StoreKind::Postgres => {
            let database = PgDatabase::create().await;
            (database.url.clone(), Some(database))
        }
    }
}

/// A running server and what a test needs to talk to it.
pub struct TestApp {
    /// `http://127.0.0.1:PORT`.
    pub base: String,
    /// A client with a big connection pool.
    pub client: reqwest::Client,
    keys: Arc<JwtKeys>,
    stop: Option<oneshot::Sender<()>>,
    server: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
    _dir: tempfile::TempDir,
    /// The PostgreSQL database; held so it is dropped after the server.
    _database: Option<PgDatabase>,
}

/// Raises this process's open-file limit: a rush opens thousands of sockets.
pub fn raise_fd_limit() {
    let _ = rlimit::increase_nofile_limit(65_536);
}

/// A client that never reuses a broken connection for long and allows many in flight.
pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .pool_max_idle_per_host(4096)
        .timeout(std::time::Duration::from_secs(60))
        .build()
        .expect("a reqwest client builds")
}

/// Starts a server over a fresh store with the demo seed.
pub async fn spawn_app(kind: StoreKind) -> TestApp {
    spawn_app_with(kind, SeedMode::Demo).await
}

/// Starts a server over a fresh store.
pub async fn spawn_app_with(kind: StoreKind, seed: SeedMode) -> TestApp {
    let dir = tempfile::tempdir().expect("a temp dir");
    let (database_url, database) = fresh_database(kind, dir.path()).await;
    spawn_app_on(&database_url, seed, dir, database).await
}

/// Starts a server over a given database URL.
pub async fn spawn_app_on(
    database_url: &str,
    seed: SeedMode,
    dir: tempfile::TempDir,
    database: Option<PgDatabase>,
) -> TestApp {
    raise_fd_limit();
    // `TEST_LOG=warn cargo test …` shows the servers' logs.
    if let Ok(filter) = std::env::var("TEST_LOG") {
        let _ = tracing_subscriber::fmt().with_env_filter(filter).with_test_writer().try_init();
    }
    let database_url = database_url.to_owned();
    let config = Config { database_url, jwt_secret: Some(Secret::new(SECRET)), seed, ..Config::default() };
    let state = api_stub::build_state(config).await.expect("the server state builds");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind a random port");
    let address = listener.local_addr().expect("a local address");
    let (stop, stopped) = oneshot::channel::<()>();
    let server = tokio::spawn(api_stub::serve(listener, state, async move {
        let _ = stopped.await;
    }));
    TestApp {
        base: format!("http://{address}"),
        client: client(),
        keys: Arc::new(JwtKeys::new(SECRET.as_bytes())),
        stop: Some(stop),
        server: Some(server),
        _dir: dir,
        _database: database,
    }
}

impl TestApp {
    /// A URL on this server.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// A valid member token.
    pub fn token(&self, member: &str) -> String {
        self.token_with(member, Role::Member, Duration::hours(1))
    }

    /// A valid operator token.
    pub fn operator_token(&self) -> String {
        self.token_with("mbr_staff", Role::Operator, Duration::hours(1))
    }

    /// A token with any role and lifetime (negative for expired ones).
    pub fn token_with(&self, member: &str, role: Role, ttl: Duration) -> String {
        let claims = Claims { sub: member.into(), exp: (Utc::now() + ttl).timestamp(), role, name: None };
        self.keys.sign(&claims)
    }

    /// Creates a slot as an operator, starting `starts_in` from now, lasting an hour.
    pub async fn create_slot(&self, capacity: u32, starts_in: Duration) -> Slot {
        self.create_slot_in("gym_downtown", capacity, starts_in).await
    }

    /// Creates a slot in a given gym.
    pub async fn create_slot_in(&self, gym: &str, capacity: u32, starts_in: Duration) -> Slot {
        let starts_at = Utc::now() + starts_in;
        let response =
            self.post_slot(gym, &slot_body("Test class", starts_at, capacity), &self.operator_token()).await;
        assert_eq!(response.status(), StatusCode::CREATED, "creating a slot");
        response.json().await.expect("a slot")
    }

    /// `POST /v1/gyms/{gym}/slots`.
    pub async fn post_slot(&self, gym: &str, body: &Value, token: &str) -> Response {
        self.client
            .post(self.url(&format!("/v1/gyms/{gym}/slots")))
            .bearer_auth(token)
            .json(body)
            .send()
            .await
            .expect("request sent")
    }

    /// `POST /v1/slots/{slot}/bookings`.
    pub async fn book(&self, slot_id: &str, token: &str) -> Response {
        self.book_with(slot_id, token, false, None).await
    }

    /// `POST /v1/slots/{slot}/bookings` with waitlist and idempotency options.
    pub async fn book_with(&self, slot_id: &str, token: &str, waitlist: bool, key: Option<&str>) -> Response {
        let mut request = self
            .client
            .post(self.url(&format!(
                "/v1/slots/{slot_id}/bookings{}",
                if waitlist { "?waitlist=true" } else { "" }
            )))
            .bearer_auth(token);
        if let Some(key) = key {
            request = request.header("idempotency-key", key);
        }
        request.send().await.expect("request sent")
    }

    /// Books and expects `201`.
    pub async fn book_ok(&self, slot_id: &str, token: &str) -> BookingResult {
        let response = self.book(slot_id, token).await;
        assert_eq!(response.status(), StatusCode::CREATED, "booking {slot_id}");
        response.json().await.expect("a booking result")
    }

    /// `DELETE /v1/bookings/{id}`.
    pub async fn cancel(&self, booking_id: &str, token: &str) -> Response {
        self.client
            .delete(self.url(&format!("/v1/bookings/{booking_id}")))
            .bearer_auth(token)
            .send()
            .await
            .expect("request sent")
    }

    /// `PATCH /v1/slots/{id}`.
    pub async fn patch_slot(&self, slot_id: &str, body: &Value, token: &str) -> Response {
        self.client
            .patch(self.url(&format!("/v1/slots/{slot_id}")))
            .bearer_auth(token)
            .json(body)
            .send()
            .await
            .expect("request sent")
    }

    /// `GET` a path.
    pub async fn get(&self, path: &str) -> Response {
        self.client.get(self.url(path)).send().await.expect("request sent")
    }

    /// `GET` a path with a token.
    pub async fn get_auth(&self, path: &str, token: &str) -> Response {
        self.client.get(self.url(path)).bearer_auth(token).send().await.expect("request sent")
    }

    /// `GET /v1/slots/{id}` as a slot.
    pub async fn slot(&self, slot_id: &str) -> Slot {
        let response = self.get(&format!("/v1/slots/{slot_id}")).await;
        assert_eq!(response.status(), StatusCode::OK);
        response.json().await.expect("a slot")
    }

    /// `POST /v1/auth/login`.
    pub async fn login(&self, email: &str, password: &str) -> Response {
        self.client
            .post(self.url("/v1/auth/login"))
            .json(&json!({ "email": email, "password": password }))
            .send()
            .await
            .expect("request sent")
    }

    /// Stops the server gracefully and waits until the store is flushed.
    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(server) = self.server.take() {
            let outcome = tokio::time::timeout(std::time::Duration::from_secs(20), server).await;
            assert!(matches!(outcome, Ok(Ok(Ok(())))), "the server stops cleanly: {outcome:?}");
        }
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// The real `api-stub` binary, started as a child process.
pub struct ChildServer {
    child: Child,
    /// `http://127.0.0.1:PORT`.
    pub base: String,
}

impl ChildServer {
    /// Starts the binary on a free port and waits until it is healthy.
    pub async fn start(database_url: &str) -> Self {
        Self::start_with(database_url, &[]).await
    }

    /// [`ChildServer::start`] with extra environment variables.
    pub async fn start_with(database_url: &str, env: &[(&str, &str)]) -> Self {
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
            .envs(env.iter().copied())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("api-stub starts");
        let server = Self { child, base: format!("http://127.0.0.1:{port}") };
        server.wait_healthy().await;
        server
    }

    async fn wait_healthy(&self) {
        // Generous: three instances migrating and seeding one PostgreSQL
        // database at once on a busy 2-core machine can take over 10 s.
        const START_LIMIT: StdDuration = StdDuration::from_secs(30);
        let client = client();
        let deadline = std::time::Instant::now() + START_LIMIT;
        while std::time::Instant::now() < deadline {
            if let Ok(response) = client.get(format!("{}/health", self.base)).send().await
                && response.status() == StatusCode::OK
            {
                return;
            }
            tokio::time::sleep(StdDuration::from_millis(50)).await;
        }
        panic!("the server did not become healthy in {START_LIMIT:?}");
    }

    /// The names of the process's threads (Linux), e.g. `tokio-rt-worker`.
    pub fn thread_names(&self) -> Vec<String> {
        let tasks =
            std::fs::read_dir(format!("/proc/{}/task", self.child.id())).expect("the process is alive");
        tasks
            .filter_map(|task| std::fs::read_to_string(task.ok()?.path().join("comm")).ok())
            .map(|name| name.trim().to_owned())
            .collect()
    }

    /// `GET /v1/slots/{id}` on this server.
    pub async fn slot(&self, slot_id: &str) -> Slot {
        let response =
            client().get(format!("{}/v1/slots/{slot_id}", self.base)).send().await.expect("request sent");
        assert_eq!(response.status(), StatusCode::OK);
        response.json().await.expect("a slot")
    }

    /// Sends SIGTERM, as a process manager does, and waits up to `limit` for
    /// the process to exit; its exit status, or `None` if it did not exit.
    pub fn terminate(&mut self, limit: StdDuration) -> Option<std::process::ExitStatus> {
        let sent = Command::new("kill").arg("-TERM").arg(self.child.id().to_string()).status();
        assert!(sent.is_ok_and(|status| status.success()), "SIGTERM sent");
        let deadline = std::time::Instant::now() + limit;
        while std::time::Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status);
            }
            std::thread::sleep(StdDuration::from_millis(20));
        }
        None
    }

    /// Kills the process with SIGKILL, like a crash.
    pub fn kill_hard(&mut self) {
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

/// A token signed with the test secret, valid for an hour (for servers
/// started as child processes, which have no `TestApp`).
pub fn sign_token(member: &str, role: Role) -> String {
    let claims =
        Claims { sub: member.into(), exp: (Utc::now() + Duration::hours(1)).timestamp(), role, name: None };
    JwtKeys::new(SECRET.as_bytes()).sign(&claims)
}

/// A create-slot body.
pub fn slot_body(title: &str, starts_at: DateTime<Utc>, capacity: u32) -> Value {
    json!({
        "title": title,
        "startsAt": starts_at.to_rfc3339(),
        "endsAt": (starts_at + Duration::hours(1)).to_rfc3339(),
        "capacity": capacity,
    })
}

/// Reads an error response: `(status, code)`.
pub async fn error_of(response: Response) -> (StatusCode, String) {
    let status = response.status();
    let body: Value = response.json().await.unwrap_or(Value::Null);
    let code = body["error"]["code"].as_str().unwrap_or("<no error code>").to_owned();
    (status, code)
}

/// Asserts a response is the expected error.
pub async fn assert_error(response: Response, status: u16, code: &str) {
    let (actual_status, actual_code) = error_of(response).await;
    assert_eq!((actual_status.as_u16(), actual_code.as_str()), (status, code));
}

/// Whether PostgreSQL tests are switched off (`GYM_SKIP_PG_TESTS=1`), for
/// machines without a database server. They run (and fail loudly without a
/// server) otherwise.
pub fn skip_postgres() -> bool {
    std::env::var("GYM_SKIP_PG_TESTS").is_ok_and(|value| value == "1")
}

/// Runs a test once per store, as its own `#[tokio::test]` in a module per store.
#[macro_export]
macro_rules! store_tests {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name($crate::helpers::StoreKind::Sqlite).await
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    if $crate::helpers::skip_postgres() {
                        return;
                    }
                    super::$name($crate::helpers::StoreKind::Postgres).await
                }
            )*
        }
    };
}
