//! End to end in a real browser: the web build of the app in headless
//! Chromium (driven over WebDriver), against a real backend.

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::ui::{Backend, artifacts, one_at_a_time, require, skip_ui_tests};

/// Builds the web version: wasm32 + wasm-bindgen + an index page.
fn build_web_bundle() -> PathBuf {
    let wasm_bindgen =
        require("wasm-bindgen", "cargo install wasm-bindgen-cli --version <the wasm-bindgen of Cargo.lock>");
    let target_dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("ui-wasm");
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let build = Command::new(env!("CARGO"))
        .args([
            "build",
            "--locked",
            "-p",
            "gym-app",
            "--target",
            "wasm32-unknown-unknown",
            "--no-default-features",
            "--features",
            "web",
        ])
        .env("CARGO_TARGET_DIR", &target_dir)
        .current_dir(&workspace)
        .spawn()
        .expect("cargo runs");
    // A cold web build takes a few minutes on two cores; a stuck one must not hang CI.
    let status = finish_within(build, Duration::from_secs(20 * 60), "the web build");
    assert!(status.success(), "the web build failed (rustup target add wasm32-unknown-unknown?)");
    let dist = target_dir.join("dist");
    let _ = std::fs::remove_dir_all(&dist);
    let status = Command::new(wasm_bindgen)
        .args(["--target", "web", "--no-typescript", "--out-dir"])
        .arg(&dist)
        .arg(target_dir.join("wasm32-unknown-unknown/debug/gym-app.wasm"))
        .status()
        .expect("wasm-bindgen runs");
    assert!(status.success(), "wasm-bindgen failed");
    std::fs::write(dist.join("index.html"), INDEX_HTML).expect("index.html written");
    dist
}

/// Waits for a child process, killing it after `limit`.
fn finish_within(mut child: Child, limit: Duration, what: &str) -> std::process::ExitStatus {
    let deadline = Instant::now() + limit;
    loop {
        match child.try_wait() {
            Ok(Some(status)) => return status,
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(200)),
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                panic!("{what} did not finish within {limit:?}");
            }
        }
    }
}

/// The page the web build is served with (also used by the README's web build).
const INDEX_HTML: &str = include_str!("../../web/index.html");

/// Serves a folder over HTTP on 127.0.0.1 (just enough for the bundle).
async fn serve_folder(root: PathBuf) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("a port");
    let base = format!("http://{}", listener.local_addr().expect("an address"));
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            let root = root.clone();
            tokio::spawn(async move {
                let mut request = vec![0_u8; 8192];
                let Ok(read) = socket.read(&mut request).await else { return };
                let head = String::from_utf8_lossy(&request[..read]);
                let path =
                    head.split_whitespace().nth(1).unwrap_or("/").split('?').next().unwrap_or("/").to_owned();
                let file = if path == "/" {
                    "index.html".to_owned()
                } else {
                    path.trim_start_matches('/').to_owned()
                };
                let (status, body) = match std::fs::read(root.join(&file)) {
                    Ok(body) if !file.contains("..") => ("200 OK", body),
                    _ => ("404 Not Found", b"not found".to_vec()),
                };
                let kind = match file.rsplit('.').next() {
                    Some("wasm") => "application/wasm",
                    Some("js") => "text/javascript",
                    Some("html") => "text/html; charset=utf-8",
                    _ => "application/octet-stream",
                };
                let head = format!(
                    "HTTP/1.1 {status}\r\nContent-Type: {kind}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                    body.len()
                );
                let _ = socket.write_all(head.as_bytes()).await;
                let _ = socket.write_all(&body).await;
            });
        }
    });
    base
}

/// A chromedriver process and one headless Chromium session.
///
/// chromedriver runs in a process group of its own, which the browser it
/// starts inherits: dropping this ends the session and then the whole group,
/// so no Chromium outlives the test, even when it fails half-way.
struct Browser {
    driver: Child,
    http: reqwest::Client,
    session: String,
    base: String,
    _profile: tempfile::TempDir,
}

/// How long any one wait in the browser may take.
const WAIT: Duration = Duration::from_secs(30);

impl Browser {
    async fn start() -> Self {
        let chromedriver = require("chromedriver", "apt-get install chromium chromium-driver");
        let chromium = ["chromium", "chromium-browser", "google-chrome"]
            .iter()
            .find_map(|name| {
                std::env::var_os("PATH").and_then(|path| {
                    std::env::split_paths(&path).map(|dir| dir.join(name)).find(|p| p.is_file())
                })
            })
            .unwrap_or_else(|| {
                panic!("chromium is needed: apt-get install chromium (or set GYM_SKIP_UI_TESTS=1)")
            });
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|probe| probe.local_addr())
            .expect("a port")
            .port();
        let driver = Command::new(chromedriver)
            .arg(format!("--port={port}"))
            .process_group(0)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver starts");
        let base = format!("http://127.0.0.1:{port}");
        let http = reqwest::Client::builder().timeout(WAIT).build().expect("an HTTP client");
        let profile = tempfile::tempdir().expect("a profile dir");
        let capabilities = json!({"capabilities": {"alwaysMatch": {"browserName": "chrome", "goog:chromeOptions": {
            "binary": chromium,
            "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-dev-shm-usage",
                     "--no-first-run", "--disable-component-update", "--disable-sync", "--disable-crash-reporter",
                     "--disable-breakpad", "--window-size=430,900", "--force-device-scale-factor=1",
                     format!("--user-data-dir={}", profile.path().display())]
        }}}});
        let deadline = Instant::now() + Duration::from_secs(20);
        let session = loop {
            if let Ok(response) = http.post(format!("{base}/session")).json(&capabilities).send().await
                && let Ok(body) = response.json::<Value>().await
                && let Some(id) = body["value"]["sessionId"].as_str()
            {
                break id.to_owned();
            }
            assert!(Instant::now() < deadline, "no browser session within 20 s");
            tokio::time::sleep(Duration::from_millis(200)).await;
        };
        Self { driver, http, session, base, _profile: profile }
    }

    /// One WebDriver command; a WebDriver error comes back as `Err` with its words.
    async fn call(&self, method: reqwest::Method, path: &str, body: Value) -> Result<Value, String> {
        let url = format!("{}/session/{}{path}", self.base, self.session);
        let request = self.http.request(method.clone(), url);
        let request = if method == reqwest::Method::GET { request } else { request.json(&body) };
        let response = request.send().await.map_err(|error| format!("webdriver unreachable: {error}"))?;
        let value = response
            .json::<Value>()
            .await
            .map_err(|error| format!("webdriver answer unreadable: {error}"))?["value"]
            .clone();
        match value.get("error").and_then(Value::as_str) {
            Some(error) => Err(format!("{error}: {}", value["message"].as_str().unwrap_or_default())),
            None => Ok(value),
        }
    }

    async fn open(&self, url: &str) {
        self.call(reqwest::Method::POST, "/url", json!({ "url": url })).await.expect("the page opens");
    }

    async fn script(&self, script: &str) -> Value {
        self.call(reqwest::Method::POST, "/execute/sync", json!({ "script": script, "args": [] }))
            .await
            .unwrap_or_else(|error| panic!("the script {script:?} failed: {error}"))
    }

    async fn element(&self, css: &str) -> Option<String> {
        let found = self
            .call(reqwest::Method::POST, "/element", json!({ "using": "css selector", "value": css }))
            .await
            .ok()?;
        found.as_object().and_then(|object| object.values().next()).and_then(Value::as_str).map(str::to_owned)
    }

    /// Clicks an element as soon as it can be clicked. Dioxus may replace
    /// the node between finding and clicking it, and a toast may cover it
    /// for a moment: both are retried until the deadline, never ignored.
    async fn click(&self, css: &str) {
        let deadline = Instant::now() + WAIT;
        loop {
            let outcome = match self.element(css).await {
                Some(element) => {
                    self.call(reqwest::Method::POST, &format!("/element/{element}/click"), json!({})).await
                }
                None => Err("no such element".to_owned()),
            };
            match outcome {
                Ok(_) => return,
                Err(error) => assert!(
                    Instant::now() < deadline,
                    "could not click {css} within {WAIT:?} ({error}); the page says: {}",
                    self.text().await
                ),
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    async fn type_into(&self, css: &str, text: &str) {
        let element = self.wait_element(css).await;
        self.call(reqwest::Method::POST, &format!("/element/{element}/value"), json!({ "text": text }))
            .await
            .unwrap_or_else(|error| panic!("could not type into {css}: {error}"));
    }

    async fn wait_element(&self, css: &str) -> String {
        let deadline = Instant::now() + WAIT;
        loop {
            if let Some(element) = self.element(css).await {
                return element;
            }
            assert!(
                Instant::now() < deadline,
                "no element {css} within {WAIT:?}; page: {}",
                self.text().await
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    async fn text(&self) -> String {
        self.call(
            reqwest::Method::POST,
            "/execute/sync",
            json!({ "script": "return document.body.innerText", "args": [] }),
        )
        .await
        .ok()
        .and_then(|text| text.as_str().map(str::to_owned))
        .unwrap_or_default()
    }

    /// Waits until the HTML of the first element matching `css` contains `expected`.
    async fn wait_for_in(&self, css: &str, expected: &str) {
        let deadline = Instant::now() + WAIT;
        let script = format!("const e = document.querySelector({css:?}); return e ? e.outerHTML : ''");
        loop {
            let html = self.script(&script).await;
            if html.as_str().is_some_and(|html| html.contains(expected)) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "{css} never showed {expected:?}; the page says: {}",
                self.text().await
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Waits until the page's HTML contains `expected`.
    async fn wait_for(&self, expected: &str) {
        self.wait_for_in("body", expected).await;
    }

    /// Waits until the big ring is drawn at rest showing `booked` of `capacity`.
    async fn wait_ring_settled(&self, booked: u32, capacity: u32) {
        let geometry = gym_app::ring::geometry(220.0, 14.0, gym_core::fraction(capacity, booked));
        let expected = format!("{:.2}", geometry.dash_offset);
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let drawn = self.script("const e = document.querySelector('.ring-large .ring-fill'); return e ? e.getAttribute('stroke-dashoffset') : null").await;
            if drawn.as_str() == Some(expected.as_str()) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "the ring never came to rest at {booked}/{capacity}: offset {drawn}, expected {expected}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Fills in and sends the sign-in form; retries if the app was not yet
    /// listening to the inputs when the keys arrived (wasm still starting).
    async fn sign_in(&self, email: &str, password: &str) {
        self.wait_for("Demo:").await;
        for attempt in 0..5 {
            self.script(
                "document.querySelector('#email').value=''; document.querySelector('#password').value='';",
            )
            .await;
            self.type_into("#email", email).await;
            self.type_into("#password", password).await;
            if attempt == 0 {
                self.screenshot("1-sign-in").await;
            }
            self.click("#sign-in").await;
            let deadline = Instant::now() + Duration::from_secs(5);
            while Instant::now() < deadline {
                if self.text().await.contains("Hi, Alex") {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
        panic!("could not sign in; the page says: {}", self.text().await);
    }

    async fn screenshot(&self, name: &str) {
        let shot = self.call(reqwest::Method::GET, "/screenshot", Value::Null).await;
        if let Some(png) = shot.ok().and_then(|data| {
            data.as_str().and_then(|data| base64::engine::general_purpose::STANDARD.decode(data).ok())
        }) {
            let _ = std::fs::write(artifacts().join(format!("web-{name}.png")), png);
        }
    }

    /// Ends the browser session properly (Chromium closes itself).
    async fn quit(&self) {
        let _ = self.http.delete(format!("{}/session/{}", self.base, self.session)).send().await;
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        // Whatever is left of the group (the browser, if the test failed
        // before `quit`) goes with chromedriver.
        let _ = Command::new("kill").args(["-KILL", "--", &format!("-{}", self.driver.id())]).status();
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_signs_in_books_sees_live_changes_and_cancels_in_a_real_browser() {
    if skip_ui_tests() {
        return;
    }
    let _turn = one_at_a_time().await;
    let dist = build_web_bundle();
    let mut backend = Backend::start().await;
    let (slot, tab) = backend.create_upcoming_slot("E2E Spin", 10).await;
    let site = serve_folder(dist).await;
    let browser = Browser::start().await;

    browser.open(&format!("{site}/index.html?api={}", backend.base)).await;
    browser.sign_in("alex@demo.gym", "demo1234").await;
    browser.wait_element(".live-on").await;
    browser.screenshot("2-schedule").await;

    // The slot's day, then the slot.
    browser.click(&format!(".day-tabs button:nth-child({})", tab + 1)).await;
    browser.click("button[aria-label^='E2E Spin']").await;
    browser.wait_for_in(".slot-detail", "0 of 10 places booked").await;
    browser.wait_element("#book").await;
    browser.screenshot("3-slot").await;

    browser.click("#book").await;
    browser.wait_for_in(".toast", "Booked — see you at").await;
    browser.wait_for_in(".slot-detail", "You're booked").await;
    browser.wait_for_in(".slot-detail", "1 of 10 places booked").await;
    browser.wait_ring_settled(1, 10).await;
    browser.screenshot("4-booked").await;

    // Another member books through the API: the ring follows live, over SSE.
    backend.book_as("mbr_sam", slot.id.as_str()).await;
    browser.wait_for_in(".slot-detail", "2 of 10 places booked").await;
    browser.wait_ring_settled(2, 10).await;
    browser.screenshot("5-live-update").await;

    // The booking is listed under My bookings, and opens the slot again.
    browser.click("#nav-bookings").await;
    browser.wait_for_in(".booking-list", "E2E Spin").await;
    browser.screenshot("6-my-bookings").await;
    browser.click(".booking-open").await;

    browser.click("#cancel-booking").await;
    browser.wait_for_in(".toast", "Cancelled").await;
    browser.wait_for_in(".slot-detail", "Book a place").await;
    browser.wait_for_in(".slot-detail", "1 of 10 places booked").await;
    browser.wait_ring_settled(1, 10).await;
    browser.screenshot("7-cancelled").await;

    // Back on the schedule the slot's card shows the same live figures.
    browser.click(".back").await;
    browser.wait_for_in("button[aria-label^='E2E Spin']", "9 left").await;

    // The backend goes away (a deploy, a crash): the badge says so, and when
    // it is back the app reconnects by itself and follows changes again.
    backend.stop().await;
    browser.wait_element(".live-off").await;
    browser.wait_for_in(".live", "Reconnecting").await;
    browser.screenshot("8-reconnecting").await;
    backend.restart().await;
    browser.wait_element(".live-on").await;
    backend.book_as("mbr_kim", slot.id.as_str()).await;
    browser.wait_for_in("button[aria-label^='E2E Spin']", "8 left").await;

    // With no backend to reach at all, the signed-in member is told so in
    // plain words and offered a retry.
    browser.open(&format!("{site}/index.html?api=http://127.0.0.1:9")).await;
    browser.wait_for_in("[role=alert]", "reach the gym").await;
    browser.wait_for_in("[role=alert]", "Try again").await;
    browser.screenshot("9-offline").await;
    browser.quit().await;
}
