//! The few things that differ between web and native builds: timers, the
//! clock, persistent storage, the "reduce motion" preference.

/// Waits `ms` milliseconds without blocking the UI.
pub async fn sleep_ms(ms: u64) {
    #[cfg(target_arch = "wasm32")]
    gloo_timers::future::TimeoutFuture::new(u32::try_from(ms).unwrap_or(u32::MAX)).await;
    #[cfg(not(target_arch = "wasm32"))]
    tokio::time::sleep(std::time::Duration::from_millis(ms)).await;
}

/// Milliseconds on a monotonic clock (for animations).
pub fn now_ms() -> f64 {
    static START: std::sync::OnceLock<web_time::Instant> = std::sync::OnceLock::new();
    START.get_or_init(web_time::Instant::now).elapsed().as_secs_f64() * 1000.0
}

/// The system's "reduce motion" setting as the desktop or mobile webview
/// reported it (see [`learn_reduce_motion`]).
static SYSTEM_REDUCE_MOTION: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Asks the webview that renders a desktop or mobile build for the system's
/// "reduce motion" setting (iOS and Android pass it to their webviews). The
/// web build asks the browser directly in [`reduce_motion`].
pub async fn learn_reduce_motion() {
    #[cfg(not(target_arch = "wasm32"))]
    {
        let script = "return window.matchMedia('(prefers-reduced-motion: reduce)').matches;";
        if let Ok(true) = dioxus::document::eval(script).join::<bool>().await {
            SYSTEM_REDUCE_MOTION.store(true, std::sync::atomic::Ordering::Relaxed);
        }
    }
}

/// Whether the person asked the system for less motion.
pub fn reduce_motion() -> bool {
    #[cfg(target_arch = "wasm32")]
    {
        web_sys::window()
            .and_then(|window| window.match_media("(prefers-reduced-motion: reduce)").ok().flatten())
            .is_some_and(|query| query.matches())
    }
    #[cfg(not(target_arch = "wasm32"))]
    {
        SYSTEM_REDUCE_MOTION.load(std::sync::atomic::Ordering::Relaxed)
            || std::env::var("GYM_REDUCE_MOTION").is_ok_and(|value| value == "1")
    }
}

/// A fresh random key for an `Idempotency-Key` header.
pub fn new_idempotency_key() -> String {
    use rand::Rng;
    let bytes: [u8; 16] = rand::thread_rng().r#gen();
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

/// Reads a small value kept across restarts.
pub fn load(name: &str) -> Option<String> {
    #[cfg(target_arch = "wasm32")]
    {
        web_sys::window()?.local_storage().ok()??.get_item(&format!("gym.{name}")).ok()?
    }
    #[cfg(not(target_arch = "wasm32"))]
    {
        std::fs::read_to_string(storage_dir()?.join(name)).ok()
    }
}

/// Keeps a small value across restarts (best effort: the app works without it).
pub fn store(name: &str, value: Option<&str>) {
    #[cfg(target_arch = "wasm32")]
    {
        if let Some(storage) = web_sys::window().and_then(|window| window.local_storage().ok().flatten()) {
            let key = format!("gym.{name}");
            let _ = match value {
                Some(value) => storage.set_item(&key, value),
                None => storage.remove_item(&key),
            };
        }
    }
    #[cfg(not(target_arch = "wasm32"))]
    {
        let Some(dir) = storage_dir() else { return };
        let path = dir.join(name);
        let _ = match value {
            Some(value) => std::fs::create_dir_all(&dir).and_then(|()| std::fs::write(path, value)),
            None => std::fs::remove_file(path),
        };
    }
}

#[cfg(not(target_arch = "wasm32"))]
fn storage_dir() -> Option<std::path::PathBuf> {
    // Tests and side-by-side runs point this elsewhere.
    if let Ok(dir) = std::env::var("GYM_APP_DATA_DIR") {
        return Some(dir.into());
    }
    Some(dirs::data_dir()?.join("gym-app"))
}
