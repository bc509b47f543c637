//! Shared set-up of the real-UI tests: the backend, tools, artefacts.

use std::path::{Path, PathBuf};

use api_stub::auth::JwtKeys;
use api_stub::config::{Config, Secret, SeedMode};
use chrono::{DateTime, Duration, Utc};
use gym_core::wire::{Claims, Role, Slot};

/// The secret the test backend signs with.
pub const SECRET: &str = "ui-test-secret";

/// Whether the real-UI tests are switched off (`GYM_SKIP_UI_TESTS=1`).
pub fn skip_ui_tests() -> bool {
    std::env::var("GYM_SKIP_UI_TESTS").is_ok_and(|value| value == "1")
}

/// Runs the heavy real-UI tests one at a time: on a small machine the web
/// build, a browser and a desktop webview at once starve each other into
/// timeouts, and the waits inside the tests are meant for one app at a time.
pub async fn one_at_a_time() -> tokio::sync::MutexGuard<'static, ()> {
    static UI_TESTS: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
    UI_TESTS.lock().await
}

/// The path of a required tool, or a failure saying how to install it.
pub fn require(tool: &str, install: &str) -> PathBuf {
    let found = std::env::var_os("PATH").and_then(|path| {
        std::env::split_paths(&path).map(|dir| dir.join(tool)).find(|candidate| candidate.is_file())
    });
    found.unwrap_or_else(|| panic!("{tool} is needed for this test: {install} (or set GYM_SKIP_UI_TESTS=1)"))
}

/// Where screenshots go (git-ignored).
pub fn artifacts() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../artifacts");
    let _ = std::fs::create_dir_all(&dir);
    dir
}

/// A real backend on a temporary SQLite file, on a random port.
pub struct Backend {
    /// `http://127.0.0.1:PORT`.
    pub base: String,
    address: std::net::SocketAddr,
    database_url: String,
    _dir: tempfile::TempDir,
    running: Option<(tokio::sync::oneshot::Sender<()>, tokio::task::JoinHandle<()>)>,
}

impl Backend {
    /// Starts the server in this process (the same `build_state` and
    /// `serve` the binary runs).
    pub async fn start() -> Self {
        let dir = tempfile::tempdir().expect("a temp dir");
        let database_url = format!("sqlite://{}", dir.path().join("gym.sqlite").display());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("a port");
        let address = listener.local_addr().expect("an address");
        let running = Some(launch(listener, &database_url).await);
        Self { base: format!("http://{address}"), address, database_url, _dir: dir, running }
    }

    /// Stops the server as a deploy or a crash looks to the app: live
    /// streams end and the port stops answering.
    pub async fn stop(&mut self) {
        if let Some((stop, task)) = self.running.take() {
            let _ = stop.send(());
            let _ = tokio::time::timeout(std::time::Duration::from_secs(10), task).await;
        }
    }

    /// Starts the server again on the same port and database.
    pub async fn restart(&mut self) {
        self.stop().await;
        let listener = tokio::net::TcpListener::bind(self.address).await.expect("the same port again");
        self.running = Some(launch(listener, &self.database_url).await);
    }

    /// A token for a member or operator.
    pub fn token(&self, member: &str, role: Role) -> String {
        let claims = Claims {
            sub: member.into(),
            exp: (Utc::now() + Duration::hours(2)).timestamp(),
            role,
            name: None,
        };
        JwtKeys::new(SECRET.as_bytes()).sign(&claims)
    }

    /// Creates a slot in gym_downtown (Berlin) starting in a day and a bit;
    /// returns it with the index of its day tab (0 = today, Berlin time).
    pub async fn create_upcoming_slot(&self, title: &str, capacity: u32) -> (Slot, i64) {
        let now = Utc::now();
        let starts_at = now + Duration::hours(26);
        let berlin: chrono_tz::Tz = "Europe/Berlin".parse().expect("a known zone");
        let tab = (starts_at.with_timezone(&berlin).date_naive() - now.with_timezone(&berlin).date_naive())
            .num_days();
        (self.create_slot("gym_downtown", title, capacity, starts_at).await, tab)
    }

    /// Creates a one-hour slot as an operator.
    pub async fn create_slot(&self, gym: &str, title: &str, capacity: u32, starts_at: DateTime<Utc>) -> Slot {
        let body = serde_json::json!({
            "title": title,
            "startsAt": starts_at.to_rfc3339(),
            "endsAt": (starts_at + Duration::hours(1)).to_rfc3339(),
            "capacity": capacity,
        });
        let response = reqwest::Client::new()
            .post(format!("{}/v1/gyms/{gym}/slots", self.base))
            .bearer_auth(self.token("mbr_staff", Role::Operator))
            .json(&body)
            .send()
            .await
            .expect("sent");
        assert_eq!(response.status().as_u16(), 201);
        response.json().await.expect("a slot")
    }

    /// Books a slot for another member, straight through the API.
    pub async fn book_as(&self, member: &str, slot_id: &str) {
        let response = reqwest::Client::new()
            .post(format!("{}/v1/slots/{slot_id}/bookings", self.base))
            .bearer_auth(self.token(member, Role::Member))
            .send()
            .await
            .expect("sent");
        assert_eq!(response.status().as_u16(), 201);
    }
}

/// Runs the backend on `listener` until told to stop.
async fn launch(
    listener: tokio::net::TcpListener,
    database_url: &str,
) -> (tokio::sync::oneshot::Sender<()>, tokio::task::JoinHandle<()>) {
    let config = Config {
        database_url: database_url.to_owned(),
        jwt_secret: Some(Secret::new(SECRET)),
        seed: SeedMode::Demo,
        ..Config::default()
    };
    let state = api_stub::build_state(config).await.expect("the backend starts");
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        let _ = api_stub::serve(listener, state, async move {
            let _ = stopped.await;
        })
        .await;
    });
    (stop, task)
}
