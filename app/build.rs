//! Bakes the API base URL into the app at build time, the way Expo's
//! `EXPO_PUBLIC_API_URL` works: `PUBLIC_API_URL` from the environment wins,
//! then `app/.env`, then the local default.

use std::path::PathBuf;

const DEFAULT_API_URL: &str = "http://127.0.0.1:3000";

fn main() {
    let manifest_dir = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap_or_else(|_| ".".into()));
    let env_file = manifest_dir.join(".env");
    println!("cargo:rerun-if-env-changed=PUBLIC_API_URL");
    // Watching a missing file would make every build dirty: watch the folder
    // (so a new .env is noticed) until the file exists.
    if env_file.exists() {
        println!("cargo:rerun-if-changed={}", env_file.display());
    } else {
        println!("cargo:rerun-if-changed={}", manifest_dir.display());
    }
    let from_file = dotenvy::from_path_iter(&env_file).ok().and_then(|entries| {
        entries.flatten().find(|(key, _)| key == "PUBLIC_API_URL").map(|(_, value)| value)
    });
    let url = std::env::var("PUBLIC_API_URL").ok().filter(|url| !url.trim().is_empty()).or(from_file);
    let url = url.unwrap_or_else(|| DEFAULT_API_URL.to_owned());
    println!("cargo:rustc-env=PUBLIC_API_URL={}", url.trim().trim_end_matches('/'));
}
