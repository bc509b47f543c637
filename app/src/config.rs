//! Where the API is: baked in at build time, overridable at run time on
//! desktop (`GYM_API_URL`) and on the web (`?api=` in the page address, for
//! a backend on this machine only).

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
        let from_query = from_query.map(|url| url.replace("%3A", ":").replace("%2F", "/"));
        if let Some(url) = from_query.filter(|url| is_local_backend(url)) {
            return url.trim_end_matches('/').to_owned();
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

/// Whether `url` is an HTTP(S) address on this machine. Only such an address
/// may come from the page address: a link could otherwise point the web app
/// at someone else's server and have members type their passwords into it.
pub fn is_local_backend(url: &str) -> bool {
    let Some(rest) = url.strip_prefix("http://").or_else(|| url.strip_prefix("https://")) else {
        return false;
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    if authority.contains('@') {
        return false;
    }
    let host = match authority.strip_prefix('[') {
        Some(bracketed) => bracketed.split(']').next().unwrap_or_default(),
        None => authority.split(':').next().unwrap_or_default(),
    };
    matches!(host, "127.0.0.1" | "localhost" | "::1")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_backend_on_this_machine_may_come_from_the_page_address() {
        for (url, local) in [
            ("http://127.0.0.1:3000", true),
            ("http://localhost:3000/", true),
            ("https://[::1]:8443", true),
            ("http://127.0.0.1", true),
            ("https://api.example.com", false),
            ("http://127.0.0.1.evil.example:3000", false),
            ("http://127.0.0.1@evil.example", false),
            ("http://localhost.evil.example", false),
            ("javascript:alert(1)", false),
            ("127.0.0.1:3000", false),
        ] {
            assert_eq!(is_local_backend(url), local, "{url}");
        }
    }
}
