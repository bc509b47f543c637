//! The app's identity for the stores: `Dioxus.toml` names it and points at
//! icons that exist and are the size the stores ask for.

use std::path::{Path, PathBuf};

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn dioxus_toml() -> toml::Table {
    let text = std::fs::read_to_string(workspace().join("Dioxus.toml")).expect("Dioxus.toml is readable");
    text.parse().expect("Dioxus.toml is valid TOML")
}

fn text<'a>(table: &'a toml::Table, section: &str, key: &str) -> &'a str {
    table
        .get(section)
        .and_then(|section| section.get(key))
        .and_then(toml::Value::as_str)
        .unwrap_or_else(|| panic!("Dioxus.toml has no [{section}] {key}"))
}

fn icons<'a>(table: &'a toml::Table, section: &str) -> Vec<&'a str> {
    table
        .get(section)
        .and_then(|section| section.get("icon"))
        .and_then(toml::Value::as_array)
        .map(|icons| icons.iter().filter_map(toml::Value::as_str).collect())
        .unwrap_or_default()
}

/// Width and height from a PNG's header.
fn png_size(path: &Path) -> (u32, u32) {
    let bytes = std::fs::read(path).unwrap_or_else(|error| panic!("{}: {error}", path.display()));
    assert_eq!(bytes.get(..8), Some(&b"\x89PNG\r\n\x1a\n"[..]), "{} is a PNG", path.display());
    let number =
        |at: usize| bytes.get(at..at + 4).map_or(0, |b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]));
    (number(16), number(20))
}

#[test]
fn the_app_has_a_name_an_identifier_and_store_sized_icons_on_ios_and_android() {
    let config = dioxus_toml();
    assert_eq!(text(&config, "application", "name"), "Pulse");
    let identifier = text(&config, "bundle", "identifier");
    assert!(
        identifier.split('.').count() >= 3
            && identifier.chars().all(|c| c.is_ascii_alphanumeric() || c == '.')
            && !identifier.contains("example"),
        "a real reverse-DNS identifier: {identifier}"
    );
    for platform in ["ios", "android"] {
        assert_eq!(text(&config, platform, "identifier"), identifier, "[{platform}]");
        let platform_icons = icons(&config, platform);
        assert!(!platform_icons.is_empty(), "[{platform}] has an icon");
        for icon in platform_icons {
            assert_eq!(png_size(&workspace().join(icon)), (1024, 1024), "{icon} for {platform}");
        }
    }
    assert_eq!(text(&config, "ios", "deployment_target"), "15.0");
    for icon in icons(&config, "bundle") {
        let (width, height) = png_size(&workspace().join(icon));
        assert!(width == height && width >= 512, "{icon} is {width}×{height}");
    }
}
