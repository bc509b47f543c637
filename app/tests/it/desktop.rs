//! Desktop smoke test: the real desktop build in a real window under Xvfb,
//! against a real backend; a screenshot must show the schedule.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use gym_core::MemberId;
use gym_core::wire::{Member, Role};

use crate::ui::{Backend, artifacts, require, skip_ui_tests};

struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_desktop_app_opens_a_window_showing_the_schedule() {
    if skip_ui_tests() {
        return;
    }
    let xvfb = require("Xvfb", "apt-get install xvfb");
    let xdotool = require("xdotool", "apt-get install xdotool");
    let import = require("import", "apt-get install imagemagick");
    let identify = require("identify", "apt-get install imagemagick");
    let backend = Backend::start().await;
    // Signed in already, as a returning member would be.
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

    let display = format!(":{}", 70 + std::process::id() % 20);
    let _xvfb = Killed(
        Command::new(xvfb)
            .args([display.as_str(), "-screen", "0", "1024x900x24", "-nolisten", "tcp"])
            .stderr(Stdio::null())
            .spawn()
            .expect("Xvfb starts"),
    );
    tokio::time::sleep(Duration::from_millis(800)).await;
    let _app = Killed(
        Command::new(env!("CARGO_BIN_EXE_gym-app"))
            .env("DISPLAY", &display)
            .env("GYM_API_URL", &backend.base)
            .env("GYM_APP_DATA_DIR", data.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("the app starts"),
    );

    // The window appears with its title…
    let deadline = Instant::now() + Duration::from_secs(40);
    loop {
        let found = Command::new(&xdotool)
            .args(["search", "--name", "Pulse"])
            .env("DISPLAY", &display)
            .output()
            .expect("xdotool runs");
        if found.status.success() && !found.stdout.is_empty() {
            break;
        }
        assert!(Instant::now() < deadline, "no window titled Pulse within 40 s");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    // …and shows the schedule: the gym chips and slot cards paint many colours.
    let shot = artifacts().join("desktop-schedule.png");
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        tokio::time::sleep(Duration::from_millis(1000)).await;
        let status = Command::new(&import)
            .args(["-window", "root"])
            .arg(&shot)
            .env("DISPLAY", &display)
            .status()
            .expect("import runs");
        assert!(status.success(), "the screenshot failed");
        let colours =
            Command::new(&identify).args(["-format", "%k"]).arg(&shot).output().expect("identify runs");
        let colours: u32 = String::from_utf8_lossy(&colours.stdout).trim().parse().unwrap_or(0);
        if colours > 400 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the window stayed (nearly) blank: {colours} colours in {}",
            shot.display()
        );
    }
}
