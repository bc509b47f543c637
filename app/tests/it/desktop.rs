//! Desktop smoke test: the real desktop build in a real window under Xvfb,
//! against a real backend; a screenshot must show the schedule.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::Instant;

use chrono::{Duration, Timelike, Utc};
use gym_core::MemberId;
use gym_core::wire::{Member, Role};

use crate::ui::{Backend, artifacts, one_at_a_time, require, skip_ui_tests};

/// A child process ended on drop: asked politely first (Xvfb then removes
/// its lock file, so the display number is free again), killed if it lingers.
struct Stopped(Child);

impl Drop for Stopped {
    fn drop(&mut self) {
        let _ = Command::new("kill").args(["-TERM", &self.0.id().to_string()]).status();
        let deadline = Instant::now() + std::time::Duration::from_secs(3);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.0.try_wait() {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_desktop_app_opens_a_window_showing_the_schedule() {
    if skip_ui_tests() {
        return;
    }
    let _turn = one_at_a_time().await;
    let xvfb = require("Xvfb", "apt-get install xvfb");
    let xdotool = require("xdotool", "apt-get install xdotool");
    let import = require("import", "apt-get install imagemagick");
    let convert = require("convert", "apt-get install imagemagick");
    let backend = Backend::start().await;
    // A slot of our own, three places out of four taken, today in a gym
    // where "today" has hours left, so its ring is drawn in colour whatever
    // the time of day the test runs at.
    let gym = gym_with_most_day_left();
    let slot = backend.create_slot(gym, "Smoke Spin", 4, Utc::now() + Duration::minutes(30)).await;
    for member in ["mbr_smoke_1", "mbr_smoke_2", "mbr_smoke_3"] {
        backend.book_as(member, slot.id.as_str()).await;
    }
    // Signed in already, as a returning member would be, with that gym chosen.
    let data = tempfile::tempdir().expect("a data dir");
    let session = gym_app::session::Session {
        token: backend.token("mbr_alex", Role::Member),
        member: Member {
            id: MemberId::new("mbr_alex"),
            name: "Alex Rivera".into(),
            email: "alex@demo.gym".into(),
        },
        expires_at: i64::MAX,
    };
    std::fs::write(data.path().join("session.json"), serde_json::to_string(&session).expect("json"))
        .expect("session written");
    std::fs::write(data.path().join("gym"), gym).expect("gym written");

    // Xvfb picks a free display itself and prints its number once it is ready.
    let mut xvfb = Command::new(xvfb)
        .args(["-displayfd", "1", "-screen", "0", "1024x900x24", "-nolisten", "tcp"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("Xvfb starts");
    let mut number = String::new();
    if let Some(stdout) = xvfb.stdout.take() {
        let _ = BufReader::new(stdout).read_line(&mut number);
    }
    let _xvfb = Stopped(xvfb);
    assert!(!number.trim().is_empty(), "Xvfb did not start a display");
    let display = format!(":{}", number.trim());
    let app_log = data.path().join("app.log");
    let _app = Stopped(
        Command::new(env!("CARGO_BIN_EXE_gym-app"))
            .env("DISPLAY", &display)
            .env("GYM_API_URL", &backend.base)
            .env("GYM_APP_DATA_DIR", data.path())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&app_log).expect("a log file"))
            .spawn()
            .expect("the app starts"),
    );
    let app_said = || std::fs::read_to_string(&app_log).unwrap_or_default();

    // The window appears with its title…
    let deadline = Instant::now() + std::time::Duration::from_secs(40);
    loop {
        let found = Command::new(&xdotool)
            .args(["search", "--name", "Pulse"])
            .env("DISPLAY", &display)
            .output()
            .expect("xdotool runs");
        if found.status.success() && !found.stdout.is_empty() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no window titled Pulse within 40 s; the app said:\n{}",
            app_said()
        );
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
    }
    // …and paints the schedule: the slot cards' rings are the only large
    // green, amber or red areas (loading skeletons are grey, the brand is
    // violet), so enough of those pixels means the rings are on screen.
    let shot = artifacts().join("desktop-schedule.png");
    let deadline = Instant::now() + std::time::Duration::from_secs(30);
    loop {
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
        let status = Command::new(&import)
            .args(["-window", "root"])
            .arg(&shot)
            .env("DISPLAY", &display)
            .status()
            .expect("import runs");
        assert!(status.success(), "the screenshot failed");
        let ppm = Command::new(&convert).arg(&shot).arg("ppm:-").output().expect("convert runs");
        let ring_pixels = ring_coloured_pixels(&ppm.stdout);
        if ring_pixels > 400 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the window never showed the schedule's rings ({ring_pixels} ring-coloured pixels) in {}; the app said:\n{}",
            shot.display(),
            app_said()
        );
    }
}

/// The demo gym whose local day has the most hours left (so a slot starting
/// soon is still today there).
fn gym_with_most_day_left() -> &'static str {
    let now = Utc::now();
    [("gym_downtown", "Europe/Berlin"), ("gym_harbour", "America/New_York"), ("gym_summit", "Asia/Tokyo")]
        .into_iter()
        .min_by_key(|(_, zone)| {
            let zone: chrono_tz::Tz = zone.parse().expect("a known zone");
            now.with_timezone(&zone).num_seconds_from_midnight()
        })
        .map_or("gym_downtown", |(gym, _)| gym)
}

/// Counts the clearly green, amber or red pixels of a binary PPM (P6) image.
fn ring_coloured_pixels(ppm: &[u8]) -> usize {
    // Header: "P6", width, height, maximum value, each followed by whitespace.
    let mut fields = Vec::new();
    let mut position = 0;
    while fields.len() < 4 && position < ppm.len() {
        while position < ppm.len() && ppm[position].is_ascii_whitespace() {
            position += 1;
        }
        let start = position;
        while position < ppm.len() && !ppm[position].is_ascii_whitespace() {
            position += 1;
        }
        fields.push(String::from_utf8_lossy(&ppm[start..position]).into_owned());
    }
    if fields.first().map(String::as_str) != Some("P6") || fields.get(3).map(String::as_str) != Some("255") {
        return 0;
    }
    let pixels = ppm.get(position + 1..).unwrap_or_default();
    pixels
        .chunks_exact(3)
        .filter(|rgb| {
            let (red, green, blue) = (i32::from(rgb[0]), i32::from(rgb[1]), i32::from(rgb[2]));
            red.max(green) - blue > 70 && red.max(green) > 120
        })
        .count()
}
