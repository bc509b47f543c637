//! Where the API is: baked in at build time, overridable at run time on
//! desktop (`GYM_API_URL`) and on the web (`?api=` in the page address).

/// The API base URL this build was made for (`PUBLIC_API_URL`, see build.rs).
pub const BUILD_API_URL: &str = env!("PUBLIC_API_URL");

/// The API base URL to use now.
pub fn api_base_url() -> String {
    #[cfg(target_arch = "wasm32")]
    {
        let from_query =
            web_sys::window().and_then(|window| window.location().search().ok()).and_then(|search| {
                search
                    .trim_start_matches('?')
                    .split('&')
                    .find_map(|pair| pair.strip_prefix("api=").map(str::to_owned))
            });
        if let Some(url) = from_query.filter(|url| url.starts_with("http")) {
            return url.replace("%3A", ":").replace("%2F", "/").trim_end_matches('/').to_owned();
        }
    }
    #[cfg(not(target_arch = "wasm32"))]
    {
        if let Ok(url) = std::env::var("GYM_API_URL")
            && url.starts_with("http")
        {
            return url.trim_end_matches('/').to_owned();
        }
    }
    BUILD_API_URL.to_owned()
}
